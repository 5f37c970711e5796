"""ASR-HEALTH beyond replicationHealth: failoverHealth, a failed protectionState and an RPO older than
the rpo_max_seconds threshold, one finding per item at the worst of its severities."""

from __future__ import annotations

from typing import Any

import pytest
from demo_report import demo_report
from test_rule_asr import VAULT_ID, item

from asr_audit.findings import Finding, Severity
from asr_audit.inventory import Inventory, Vault
from asr_audit.rules import passed
from asr_audit.rules.base import Context
from asr_audit.rules.catalog import default_catalog


def health(*items: Any, **thresholds: int) -> tuple[Context, list[Finding]]:
    ctx = Context(
        Inventory(vaults=[Vault(VAULT_ID, "v1", "westus")], protected_items=list(items)),
        thresholds=thresholds,
    )
    return ctx, list(default_catalog()["ASR-HEALTH"].check(ctx))


@pytest.mark.parametrize(
    ("kwargs", "severity", "says"),
    [
        ({"failover_health": "Warning"}, Severity.MEDIUM, "failover health Warning"),
        ({"failover_health": "Critical"}, Severity.HIGH, "failover health Critical"),
        ({"protection_state": "ProtectionFailed"}, Severity.HIGH, "protection state ProtectionFailed"),
        ({"rpo_seconds": 3601}, Severity.MEDIUM, "RPO 60 min, over the 60 min threshold"),
    ],
)
def test_each_new_signal_fires_on_an_item_whose_replication_is_normal(
    kwargs: dict[str, Any], severity: Severity, says: str
) -> None:
    _, [finding] = health(item("Normal", **kwargs))
    assert finding.severity is severity
    assert says in finding.message


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failover_health": "Normal", "rpo_seconds": 3600},  # at the threshold
        {"protection_state": "Protected"},
        {"protection_state": "EnablingProtection"},  # transitional, not a fault
        {"protection_state": "UnplannedFailoverInitiated"},
        {"rpo_seconds": None},
    ],
)
def test_healthy_and_transitional_items_pass(kwargs: dict[str, Any]) -> None:
    ctx, findings = health(item("Normal", **kwargs))
    assert findings == []
    assert len(passed(ctx, findings)) == 1


def test_the_rpo_threshold_comes_from_the_config() -> None:
    _, [finding] = health(item("Normal", rpo_seconds=900), rpo_max_seconds=600)
    assert finding.evidence["rpo_max_seconds"] == 600
    assert health(item("Normal", rpo_seconds=900))[1] == []


def test_one_finding_per_item_at_its_worst_severity() -> None:
    _, [finding] = health(item("Warning", failover_health="Critical", rpo_seconds=7200))
    assert finding.severity is Severity.HIGH
    assert "replication health Warning, failover health Critical, RPO 120 min" in finding.message


def test_the_demo_shows_an_item_unhealthy_for_failover_alone() -> None:
    """The demo must show the new signal on its own: an item whose replication is Normal, reported
    only because Site Recovery rates its failover health, so a reader sees what it looks like."""
    findings = [
        f
        for f in demo_report().findings
        if f.rule_id == "ASR-HEALTH"
        and f.evidence["replication_health"] == "Normal"
        and f.evidence["failover_health"] in ("Warning", "Critical")
    ]
    assert findings
    for finding in findings:
        assert f"failover health {finding.evidence['failover_health']}" in finding.message
