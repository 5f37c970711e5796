"""PLC-REGION-SUPPORT: source-only targets, target-only sources and restricted regions on A2A items."""

from __future__ import annotations

import pytest
from builders import a2a_item, analyzed, context, gap, inventory, resource_id, run, vault

from asr_audit.findings import Finding, Severity

OWNER = vault("rsv-dr", "westus2")
VM = resource_id("Microsoft.Compute/virtualMachines", "vm1")


def findings(primary: str | None, recovery: str | None) -> list[Finding]:
    return run(
        "PLC-REGION-SUPPORT",
        context(inventory(OWNER, a2a_item(OWNER, VM, primary=primary, recovery=recovery))),
    )


@pytest.mark.parametrize(
    ("primary", "recovery", "reason"),
    [
        ("eastus", "brazilsouth", "brazilsouth can only be a source region"),
        ("brazilsoutheast", "eastus", "brazilsoutheast can only be a target region"),
        ("francecentral", "francesouth", "francesouth is a restricted region reserved for francecentral"),
        ("Switzerland West", "westeurope", "switzerlandwest is a restricted region"),
    ],
)
def test_region_support_fires_on_one_way_and_restricted_regions(
    primary: str, recovery: str, reason: str
) -> None:
    [finding] = findings(primary, recovery)
    assert (finding.rule_id, finding.severity) == ("PLC-REGION-SUPPORT", Severity.MEDIUM)
    assert reason in finding.message


def test_region_support_silent_on_brazil_south_as_a_source_and_on_open_regions() -> None:
    assert "PLC-REGION-SUPPORT" not in [f.rule_id for f in findings("brazilsouth", "southcentralus")]
    assert findings("eastus", "westus2") == []


def test_region_support_does_not_record_items_whose_regions_are_unknown() -> None:
    ctx = context(inventory(OWNER, a2a_item(OWNER, VM, primary=None, recovery="brazilsouth")))
    assert run("PLC-REGION-SUPPORT", ctx) == [] and ctx.checks == []


def test_region_support_is_unknown_when_the_items_could_not_be_read() -> None:
    ctx = context(inventory(OWNER, gap("protected_items:rsv-dr", object_id=OWNER.id)))
    [finding] = analyzed("PLC-REGION-SUPPORT", ctx)
    assert (finding.status, finding.resource_id) == ("unknown", OWNER.id)
