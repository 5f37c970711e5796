"""ASR-TEST-FAILOVER: a recent successful test failover per protected item, into an isolated network."""

from __future__ import annotations

from typing import Any

from builders import (
    a2a_item,
    analyzed,
    asr_case,
    context,
    gap,
    inventory,
    network_mapping,
    onprem_item,
    run,
    vault,
    virtual_network,
    vm_with_nic,
)

from asr_audit.findings import Finding, Severity
from asr_audit.inventory import ProtectedItem

SCANNED = "2026-12-06T12:00:00Z"
OWNER = vault("rsv-dr", "westus2")
RECOVERY = virtual_network("vnet-dr", "westus2")
DRILL = virtual_network("vnet-drill", "westus2", prefixes=("10.99.0.0/16",))


def item(name: str = "vm1", **fields: Any) -> ProtectedItem:
    vm, _ = vm_with_nic(name, "eastus")
    fields.setdefault("protection_state", "Protected")
    fields.setdefault("last_successful_test_failover_time", "2026-10-01T08:00:00Z")
    fields.setdefault("recovery_network_id", asr_case(RECOVERY.id))
    fields.setdefault("test_failover_network_id", DRILL.id)
    return a2a_item(OWNER, vm, **fields)


def findings(*objects: Any, **thresholds: int) -> list[Finding]:
    inv = inventory(OWNER, *objects)
    inv.collected_at = SCANNED
    return run("ASR-TEST-FAILOVER", context(inv, thresholds=thresholds))


def test_test_failover_fires_when_none_is_recorded() -> None:
    [finding] = findings(item(last_successful_test_failover_time=None))
    assert (finding.rule_id, finding.key, finding.severity) == ("ASR-TEST-FAILOVER", "drill", Severity.MEDIUM)
    assert "no successful test failover" in finding.message


def test_test_failover_fires_past_180_days_and_not_at_179() -> None:
    old = item("vm-old", last_successful_test_failover_time="2026-06-01T00:00:00Z")
    recent = item("vm-recent", last_successful_test_failover_time="2026-06-10T09:30:00Z")
    found = findings(old, recent)
    assert [f.resource_id for f in found] == [old.id]
    assert "188 days ago" in found[0].message


def test_test_failover_age_comes_from_the_config() -> None:
    tested = item(last_successful_test_failover_time="2026-10-01T08:00:00Z")
    assert findings(tested) == []
    assert len(findings(tested, test_failover_max_age_days=30)) == 1


def test_test_failover_does_not_judge_items_still_replicating_initially() -> None:
    assert (
        findings(
            item(protection_state="InitialReplicationInProgress", last_successful_test_failover_time=None)
        )
        == []
    )


def test_test_failover_fires_when_the_test_network_is_the_recovery_network() -> None:
    same = item(test_failover_network_id=RECOVERY.id.upper())
    [finding] = findings(same)
    assert (finding.key, finding.evidence["test_failover_network_id"]) == ("network", RECOVERY.id.upper())


def test_test_failover_fires_when_the_test_network_is_a_mapped_recovery_network() -> None:
    mapping = network_mapping(OWNER, "east-to-west", primary_network_id="x", recovery_network_id=DRILL.id)
    [finding] = findings(item(), mapping)
    assert finding.key == "network"


def test_test_failover_silent_with_an_isolated_network_and_a_recent_drill() -> None:
    other_vault = vault("rsv-other", "westus2")
    elsewhere = network_mapping(other_vault, "m", primary_network_id="x", recovery_network_id=DRILL.id)
    assert "ASR-TEST-FAILOVER" not in [f.rule_id for f in findings(item(), elsewhere)]


def test_test_failover_judges_on_premises_items_on_their_drill_only() -> None:
    hyperv = onprem_item(OWNER, "hv-1", protection_state="Protected", test_failover_network_id=RECOVERY.id)
    hyperv.recovery_network_id = RECOVERY.id
    [finding] = findings(hyperv)
    assert finding.key == "drill"


def test_test_failover_is_unknown_when_the_mappings_could_not_be_read() -> None:
    ctx = context(inventory(OWNER, gap("network_mappings:rsv-dr", "throttled", object_id=OWNER.id)))
    [finding] = analyzed("ASR-TEST-FAILOVER", ctx)
    assert (finding.status, finding.key) == ("unknown", "network_mappings:rsv-dr")


def test_test_failover_records_only_items_it_can_judge() -> None:
    established = item("vm-done")
    initial = item("vm-new", protection_state="InitialReplicationInProgress", test_failover_network_id=None)
    ctx = context(inventory(OWNER, established, initial))
    ctx.inventory.collected_at = SCANNED
    assert run("ASR-TEST-FAILOVER", ctx) == []
    assert [c.resource_id for c in ctx.checks] == [established.id]
