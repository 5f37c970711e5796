"""ASR-ALERTS: a Site Recovery vault whose built-in Azure Monitor alerts for replication or failover
issues are turned off; the vault GET's monitoringSettings, parsed strictly."""

from __future__ import annotations

from typing import Any

import pytest
from builders import a2a_item, analyzed, context, gap, inventory, network_mapping, run, vault, vm_with_nic

from asr_audit.collect.fields import Malformed
from asr_audit.collect.recovery import parse_vault
from asr_audit.findings import FindingStatus, Severity
from asr_audit.inventory import Vault

VAULT_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-dr/providers/"
    "Microsoft.RecoveryServices/vaults/rsv-dr"
)


def findings(owner: Vault, *, used: bool = True) -> list[Any]:
    vm, nic = vm_with_nic("vm1", "eastus")
    objects: list[Any] = [owner, vm, nic]
    if used:
        objects.append(a2a_item(owner, vm))
    return run("ASR-ALERTS", context(inventory(*objects)))


@pytest.mark.parametrize(
    ("settings", "silenced"),
    [
        ({"alerts_for_replication_issues": "Disabled"}, ["alertsForAllReplicationIssues"]),
        ({"alerts_for_failover_issues": "disabled"}, ["alertsForAllFailoverIssues"]),
        (
            {"alerts_for_replication_issues": "Disabled", "alerts_for_failover_issues": "Disabled"},
            ["alertsForAllReplicationIssues", "alertsForAllFailoverIssues"],
        ),
    ],
)
def test_alerts_fire_on_a_setting_turned_off(settings: dict[str, str], silenced: list[str]) -> None:
    [finding] = findings(vault("rsv-dr", "westus2", **settings))
    assert finding.rule_id == "ASR-ALERTS"
    assert finding.severity is Severity.LOW
    assert finding.evidence["disabled"] == silenced
    assert "turned off" in finding.message
    assert finding.region == "westus2"


def test_alerts_mention_the_classic_emails_still_on_without_counting_them() -> None:
    owner = vault(
        "rsv-dr",
        "westus2",
        alerts_for_failover_issues="Disabled",
        site_recovery_email_notifications="Enabled",
    )
    [finding] = findings(owner)
    assert "classic Site Recovery e-mail notifications are still on" in finding.message


@pytest.mark.parametrize(
    "settings",
    [
        {},  # nothing set: the service default, on
        {"alerts_for_replication_issues": "Enabled", "alerts_for_failover_issues": "Enabled"},
        {"site_recovery_email_notifications": "Disabled"},  # the legacy e-mails alone are not judged
    ],
)
def test_alerts_silent_when_on_or_left_at_the_default(settings: dict[str, str]) -> None:
    assert findings(vault("rsv-dr", "westus2", **settings)) == []


def test_alerts_ignore_a_vault_without_site_recovery_content() -> None:
    backup_only = vault("rsv-backup", "eastus", alerts_for_replication_issues="Disabled")
    assert findings(backup_only, used=False) == []


def test_alerts_judge_a_vault_holding_only_network_mappings() -> None:
    owner = vault("rsv-dr", "westus2", alerts_for_failover_issues="Disabled")
    found = run("ASR-ALERTS", context(inventory(owner, network_mapping(owner, "map-1"))))
    assert [f.resource_id for f in found] == [owner.id]


@pytest.mark.parametrize("status", ["forbidden", "error"])
def test_alerts_unknown_when_the_vault_get_failed(status: str) -> None:
    """A 403 on the vault GET leaves the listed view, which carries no monitoring settings: the gap
    speaks for the vault, and the rule does not judge the listed view as 'default, on'."""
    owner = vault("rsv-dr", "westus2")
    vm, nic = vm_with_nic("vm1", "eastus")
    inv = inventory(owner, vm, nic, a2a_item(owner, vm), gap("vault:rsv-dr", status, object_id=owner.id))
    ctx = context(inv)
    [finding] = analyzed("ASR-ALERTS", ctx)
    assert finding.status is FindingStatus.UNKNOWN
    assert finding.resource_id == owner.id
    assert finding.severity is Severity.LOW
    assert not [c for c in ctx.checks if c.rule_id == "ASR-ALERTS"]


def _vault_body(monitoring: Any) -> dict[str, Any]:
    return {"id": VAULT_ID, "location": "westus2", "properties": {"monitoringSettings": monitoring}}


def test_vault_monitoring_settings_as_the_vault_get_returns_them() -> None:
    parsed = parse_vault(
        _vault_body(
            {
                "azureMonitorAlertSettings": {
                    "alertsForAllJobFailures": "Enabled",
                    "alertsForAllReplicationIssues": "Enabled",
                    "alertsForAllFailoverIssues": "Disabled",
                },
                "classicAlertSettings": {"emailNotificationsForSiteRecovery": "Enabled"},
            }
        )
    )
    assert parsed.alerts_for_replication_issues == "Enabled"
    assert parsed.alerts_for_failover_issues == "Disabled"
    assert parsed.site_recovery_email_notifications == "Enabled"
    absent = parse_vault({"id": VAULT_ID, "location": "westus2", "properties": {}})
    assert absent.alerts_for_replication_issues is absent.alerts_for_failover_issues is None


@pytest.mark.parametrize(
    "monitoring",
    [
        "Disabled",
        {"azureMonitorAlertSettings": ["Disabled"]},
        {"azureMonitorAlertSettings": {"alertsForAllFailoverIssues": False}},
        {"azureMonitorAlertSettings": {"alertsForAllReplicationIssues": "Off"}},
    ],
)
def test_vault_monitoring_settings_of_another_shape_are_unreadable(monitoring: Any) -> None:
    with pytest.raises(Malformed):
        parse_vault(_vault_body(monitoring))
