"""ASR-AGENT: Mobility agent update flags and expiry dates on A2A items, judged as of collection."""

from __future__ import annotations

from typing import Any

import pytest
from builders import a2a_item, analyzed, context, gap, inventory, onprem_item, run, vault, vm_with_nic

from asr_audit.findings import Severity
from asr_audit.inventory import ProtectedItem

SCANNED = "2026-12-06T12:00:00Z"
OWNER = vault("rsv-dr", "westus2")


def item(**fields: Any) -> ProtectedItem:
    vm, _ = vm_with_nic("vm1", "eastus")
    fields.setdefault("agent_expiry_date", "2027-08-14T00:00:00")
    return a2a_item(OWNER, vm, **fields)


def findings(*items: ProtectedItem, **thresholds: int) -> list[Any]:
    inv = inventory(OWNER, *items)
    inv.collected_at = SCANNED
    return run("ASR-AGENT", context(inv, thresholds=thresholds))


@pytest.mark.parametrize(
    ("fields", "severity", "reason"),
    [
        ({"agent_update_required": True}, Severity.HIGH, "needs an update"),
        ({"agent_certificate_update_required": True}, Severity.HIGH, "certificate needs renewing"),
        ({"agent_expiry_date": "2026-12-01T00:00:00"}, Severity.HIGH, "agent expired on 2026-12-01"),
        ({"agent_certificate_expiry_date": "2026-12-06T11:59:59Z"}, Severity.HIGH, "certificate expired"),
        ({"agent_certificate_expiry_date": "2026-12-20T10:11:06Z"}, Severity.MEDIUM, "expires on 2026-12-20"),
    ],
)
def test_agent_fires_on_updates_and_expiry(fields: dict[str, Any], severity: Severity, reason: str) -> None:
    [finding] = findings(item(**fields))
    assert finding.rule_id == "ASR-AGENT"
    assert finding.severity is severity
    assert reason in finding.message
    assert finding.region == "westus2"


def test_agent_reports_the_worst_of_several_problems_in_one_finding() -> None:
    [finding] = findings(
        item(agent_update_required=True, agent_certificate_expiry_date="2026-12-20T00:00:00Z")
    )
    assert finding.severity is Severity.HIGH
    assert len(finding.evidence["reasons"]) == 2


def test_agent_silent_outside_the_notice_and_on_unreadable_dates() -> None:
    outside = item(agent_certificate_expiry_date="2027-01-06T12:00:01Z")  # 30 days and a second
    junk = item(agent_expiry_date="soon")
    assert run_ids(outside, junk) == []


def run_ids(*items: ProtectedItem) -> list[str]:
    return [f.rule_id for f in findings(*items)]


def test_agent_notice_period_comes_from_the_config() -> None:
    soon = item(agent_certificate_expiry_date="2027-01-20T00:00:00Z")
    assert findings(soon) == []
    [finding] = findings(soon, agent_expiry_warning_days=60)
    assert finding.severity is Severity.MEDIUM


def test_agent_ignores_on_premises_items_whose_agents_it_cannot_see() -> None:
    hyperv = onprem_item(OWNER, "hv-1", agent_update_required=True)
    assert "ASR-AGENT" not in run_ids(hyperv)


def test_agent_is_unknown_when_the_items_could_not_be_read() -> None:
    [finding] = analyzed(
        "ASR-AGENT", context(inventory(OWNER, gap("protected_items:rsv-dr", object_id=OWNER.id)))
    )
    assert (finding.status, finding.severity, finding.resource_id) == ("unknown", Severity.HIGH, OWNER.id)


def test_agent_records_the_a2a_items_it_judges_only() -> None:
    a2a, hyperv = item(), onprem_item(OWNER, "hv-1")
    ctx = context(inventory(OWNER, a2a, hyperv))
    ctx.inventory.collected_at = SCANNED
    assert run("ASR-AGENT", ctx) == []
    assert [c.resource_id for c in ctx.checks] == [a2a.id]
