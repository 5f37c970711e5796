"""PLC-ZONE: zone-to-zone items in one zone, outside the listed regions, or with ZRS or Ultra disks."""

from __future__ import annotations

from typing import Any

import pytest
from builders import OTHER_SUBSCRIPTION, a2a_item, analyzed, context, gap, inventory, resource_id, run, vault

from asr_audit.findings import Finding, Severity
from asr_audit.inventory import Disk, ProtectedDisk, ProtectedItem

OWNER = vault("rsv-z2z", "westus2")
VM = resource_id("Microsoft.Compute/virtualMachines", "vm1")


def disk(name: str, sku: str, subscription: str | None = None) -> Disk:
    kw = {"subscription": subscription} if subscription else {}
    return Disk(
        id=resource_id("Microsoft.Compute/disks", name, **kw), name=name, location="eastus", sku_name=sku
    )


def item(
    *disks: Disk, region: str = "eastus", zones: tuple[str | None, str | None] = ("1", "2"), **kw: Any
) -> ProtectedItem:
    protected = a2a_item(
        OWNER,
        VM,
        primary=region,
        recovery=kw.pop("recovery", region),
        primary_availability_zone=zones[0],
        recovery_availability_zone=zones[1],
        **kw,
    )
    protected.protected_disks = [ProtectedDisk(disk_id=d.id.upper()) for d in disks]
    return protected


def findings(*objects: object) -> list[Finding]:
    return run("PLC-ZONE", context(inventory(OWNER, *objects)))


@pytest.mark.parametrize(
    ("region", "zones", "sku", "reason"),
    [
        ("eastus", ("2", "2"), "Premium_LRS", "zone are both 2"),
        ("westus", ("1", "2"), "Premium_LRS", "westus is not among the regions"),
        ("eastus", ("1", "2"), "Premium_ZRS", "ZRS) disk(s) data-0"),
        ("eastus", ("1", "2"), "UltraSSD_LRS", "Ultra disk(s) data-0"),
    ],
)
def test_zone_fires_on_each_unsupported_form(
    region: str, zones: tuple[str, str], sku: str, reason: str
) -> None:
    data = disk("data-0", sku)
    [finding] = findings(data, item(data, region=region, zones=zones))
    assert (finding.rule_id, finding.severity, finding.status) == ("PLC-ZONE", Severity.HIGH, "fail")
    assert reason in finding.message


def test_zone_silent_on_two_zones_of_a_listed_region_with_lrs_and_premium_v2_disks() -> None:
    lrs, v2 = disk("os", "Premium_LRS"), disk("data-0", "PremiumV2_LRS")
    assert "PLC-ZONE" not in [f.rule_id for f in findings(lrs, v2, item(lrs, v2))]


def test_zone_leaves_cross_region_and_zoneless_items_to_other_rules() -> None:
    zrs = disk("data-0", "Premium_ZRS")
    cross_region = item(zrs, recovery="westus2")
    one_zone_given = item(zrs, zones=("1", None), name="item-2")
    ctx = context(inventory(OWNER, zrs, cross_region, one_zone_given))
    assert run("PLC-ZONE", ctx) == [] and ctx.checks == []


def test_zone_is_unknown_for_disks_in_a_subscription_not_scanned() -> None:
    elsewhere = disk("data-0", "Premium_ZRS", subscription=OTHER_SUBSCRIPTION)
    [finding] = findings(item(elsewhere))
    assert (finding.status, finding.evidence["unread_disks"]) == ("unknown", [elsewhere.id.upper()])


def test_zone_is_unknown_when_the_disks_could_not_be_read() -> None:
    [finding] = analyzed("PLC-ZONE", context(inventory(OWNER, gap("disks"))))
    assert (finding.status, finding.severity, finding.key) == ("unknown", Severity.HIGH, "disks")
