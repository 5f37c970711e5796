"""The reads PLC-TARGET-SKU rests on: the sizes (`Microsoft.Compute/skus`) and vCPU usages of
each region VMs would fail over to. Which (subscription, region) pairs are read, once each and only
in scanned subscriptions, and how strictly their items are parsed: an entry that cannot be read
must make the list partial, never read as "offered" or as "quota left"."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from asr_audit.collect import endpoints
from asr_audit.collect.compute import parse_compute_usage, parse_vm_sku
from asr_audit.collect.fields import Malformed, parse_items
from asr_audit.collect.plan import Job, Planner
from asr_audit.collect.urls import RefusedUrl
from asr_audit.inventory import ProtectedItem, VirtualMachine

SUB = "11111111-2222-4333-8444-000000000001"
DR_SUB = "11111111-2222-4333-8444-000000000002"
UNSCANNED = "11111111-2222-4333-8444-000000000009"
VM = f"/subscriptions/{SUB}/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/v"

# ListAvailableResourceSkusForARegion.json (ResourceSkus_List, 2021-07-01, Azure/azure-rest-api-specs
# specification/compute/resource-manager/Microsoft.Compute/Skus/stable/2021-07-01/examples/skus,
# commit dd68c545): its first item, capabilities shortened to the ones read and two others.
UPSTREAM_SKU: dict[str, Any] = {
    "resourceType": "virtualMachines",
    "locations": ["westus"],
    "capabilities": [
        {"name": "MaxResourceVolumeMB", "value": "20480"},
        {"name": "vCPUs", "value": "1"},
        {"name": "MemoryGB", "value": "0.75"},
    ],
    "locationInfo": [
        {
            "location": "westus",
            "zones": ["2", "1"],
            "zoneDetails": [
                {"name": ["2"], "capabilities": [{"name": "UltraSSDAvailable", "value": "True"}]}
            ],
        }
    ],
    "name": "Standard_A0",
    "tier": "Standard",
    "size": "A0",
    "family": "standardA0_A7Family",
}
# A restriction as "Resolve errors for SKU not available" shows it (the upstream example has none).
ZONE_RESTRICTION = {
    "type": "Zone",
    "values": ["westus"],
    "restrictionInfo": {"locations": ["westus"], "zones": ["2"]},
    "reasonCode": "NotAvailableForSubscription",
}
# Usage_List_MaximumSet_Gen.json (Usage_List, 2023-09-01, Microsoft.Compute/ComputeRP/stable/2023-09-01/
# examples/computeRPCommonExamples): its one item (the generator's junk name kept).
UPSTREAM_USAGE: dict[str, Any] = {
    "unit": "Count",
    "currentValue": 17,
    "limit": 19,
    "name": {"value": "aaaaaaaaaaaaaaaaaa", "localizedValue": "aaaaaaaaaaaaaa"},
}


# --- parsers ---------------------------------------------------------------------------------------


def test_the_upstream_sku_example_parses_with_its_family_vcpus_and_zones() -> None:
    sku = parse_vm_sku(SUB, "westus", UPSTREAM_SKU)
    assert sku is not None
    assert (sku.name, sku.subscription_id, sku.region) == ("Standard_A0", SUB, "westus")
    assert (sku.family, sku.vcpus, sku.cpu_architecture) == ("standardA0_A7Family", 1, None)
    assert sku.zones == ["1", "2"]
    assert sku.restrictions == []  # ARM omits `restrictions` when there are none


def test_a_restriction_keeps_its_type_reason_and_zones() -> None:
    sku = parse_vm_sku(SUB, "westus", {**UPSTREAM_SKU, "restrictions": [ZONE_RESTRICTION]})
    assert sku is not None
    [restriction] = sku.restrictions
    assert (restriction.type, restriction.reason_code, restriction.zones) == (
        "Zone",
        "NotAvailableForSubscription",
        ["2"],
    )


def test_entries_of_other_resource_types_are_dropped_not_unread() -> None:
    """The skus list holds disks, availability sets... beside VM sizes: they are not VM sizes,
    and must not make the list partial (that would turn every region `unknown`)."""
    disk = {"resourceType": "disks", "name": "Premium_LRS", "locations": ["westus"], "tier": "Premium"}
    found, unread = parse_items([disk, UPSTREAM_SKU], lambda item: parse_vm_sku(SUB, "westus", item))
    assert [s.name for s in found] == ["Standard_A0"]
    assert unread.count == 0


def test_only_the_zones_of_the_region_read_count() -> None:
    body = copy.deepcopy(UPSTREAM_SKU)
    body["locationInfo"].append({"location": "eastus", "zones": ["3"]})
    sku = parse_vm_sku(SUB, "westus", body)
    assert sku is not None and sku.zones == ["1", "2"]


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda b: b.pop("name"), "without a name"),
        (lambda b: b.update(restrictions=[{**ZONE_RESTRICTION, "type": None}]), "restriction without a type"),
        (lambda b: b.update(restrictions="Zone"), "not a list"),
        (lambda b: b.update(capabilities=[["vCPUs", "1"]]), "not an object"),
    ],
    ids=["no-name", "untyped-restriction", "restrictions-not-list", "capability-not-object"],
)
def test_an_unreadable_sku_is_malformed_never_unrestricted(edit: Any, problem: str) -> None:
    body = copy.deepcopy(UPSTREAM_SKU)
    edit(body)
    with pytest.raises(Malformed, match=problem):
        parse_vm_sku(SUB, "westus", body)


def test_the_upstream_usage_example_parses_and_minus_one_stays_unlimited() -> None:
    usage = parse_compute_usage(SUB, "westus", UPSTREAM_USAGE)
    assert (usage.name, usage.current_value, usage.limit) == ("aaaaaaaaaaaaaaaaaa", 17, 19)
    assert parse_compute_usage(SUB, "westus", {**UPSTREAM_USAGE, "limit": -1}).limit == -1


@pytest.mark.parametrize(
    "edit",
    [
        lambda u: u.pop("limit"),
        lambda u: u.update(currentValue=None),
        lambda u: u.update(limit=2.5),
        lambda u: u.update(limit=True),
        lambda u: u.update(name={"localizedValue": "Total Regional vCPUs"}),
    ],
    ids=["no-limit", "null-current", "fractional-limit", "boolean-limit", "no-name-value"],
)
def test_a_usage_without_a_whole_current_value_limit_and_name_is_malformed(edit: Any) -> None:
    """A missing limit read as 0 would fail every VM, read as unlimited would pass them all."""
    usage = copy.deepcopy(UPSTREAM_USAGE)
    edit(usage)
    with pytest.raises(Malformed, match="usage without"):
        parse_compute_usage(SUB, "westus", usage)


# --- URLs ------------------------------------------------------------------------------------------


def test_the_sku_list_is_filtered_to_the_region_and_the_usages_are_the_regions() -> None:
    assert endpoints.vm_skus(SUB, "westus2") == (
        f"/subscriptions/{SUB}/providers/Microsoft.Compute/skus"
        "?$filter=location%20eq%20'westus2'&api-version=2021-07-01"
    )
    assert endpoints.compute_usages(SUB, "westus2") == (
        f"/subscriptions/{SUB}/providers/Microsoft.Compute/locations/westus2/usages?api-version=2023-09-01"
    )


def test_a_region_that_could_break_out_of_the_odata_literal_is_refused() -> None:
    with pytest.raises(RefusedUrl, match="not a region name"):
        endpoints.vm_skus(SUB, "westus2' or location eq 'x")


# --- which (subscription, region) pairs are read --------------------------------------------------


def _vault(sub: str) -> str:
    return f"/Subscriptions/{sub}/resourceGroups/rg-asr/providers/Microsoft.RecoveryServices/vaults/rsv"


def _item(name: str, recovery: str | None, rg_sub: str | None, instance_type: str = "A2A") -> ProtectedItem:
    vault = _vault(SUB)
    return ProtectedItem(
        id=f"{vault}/replicationFabrics/f/replicationProtectionContainers/c/replicationProtectedItems/{name}",
        name=name,
        vault_id=vault,
        instance_type=instance_type,
        recovery_location=recovery,
        recovery_resource_group_id=f"/subscriptions/{rg_sub}/resourceGroups/rg-dr" if rg_sub else None,
    )


def _items_job(planner: Planner) -> Job:
    [vaults] = [j for j in planner.first() if j.collector == "vaults" and j.subscription_id == SUB]
    listed = vaults.parse({"id": _vault(SUB), "name": "rsv", "location": "westus2"})
    return next(j for j in planner.after(vaults, [listed]) if j.collector.startswith("protected_items:"))


def _reads(jobs: list[Job]) -> list[tuple[str, str]]:
    return sorted(
        (j.subscription_id, j.collector)
        for j in jobs
        if j.collector.partition(":")[0] in endpoints.REGION_READS
    )


def test_each_recovery_region_is_read_once_in_the_subscription_failover_creates_the_vms_in() -> None:
    planner = Planner([SUB, DR_SUB], None)
    job = _items_job(planner)
    items = [
        _item("a", "West US 2", DR_SUB),  # the recovery resource group's subscription, not the vault's
        _item("b", "westus2", DR_SUB.upper()),  # the same pair, spelt otherwise: read once
        _item("c", "centralus", None),  # no recovery resource group: the vault's subscription
        _item("d", "eastus", UNSCANNED),  # a subscription not scanned is not read
        _item("e", None, SUB),  # no recovery region: nothing to read
        _item("f", "northeurope", SUB, "HyperVReplicaAzure"),  # not A2A
    ]
    jobs = planner.after(job, items)
    assert _reads(jobs) == [
        (SUB, "compute_usages:centralus"),
        (SUB, "vm_skus:centralus"),
        (DR_SUB, "compute_usages:westus2"),
        (DR_SUB, "vm_skus:westus2"),
    ]
    [skus] = [j for j in jobs if j.collector == "vm_skus:westus2"]
    assert skus.url() == endpoints.vm_skus(DR_SUB, "westus2")
    assert skus.object_id == f"/subscriptions/{DR_SUB}/locations/westus2"
    assert planner.after(job, items) == []  # another vault failing over there reads nothing again


def _vms_job(planner: Planner, sub: str) -> Job:
    return next(j for j in planner.first() if j.collector == "virtual_machines" and j.subscription_id == sub)


def test_readiness_reads_the_target_region_in_each_subscription_holding_vms() -> None:
    """A VM not yet protected has no recovery subscription: its own is assumed (the portal's
    default), so each subscription with VMs has the target region read, once."""
    planner = Planner([SUB, DR_SUB], None, ("westus2",))
    vm = VirtualMachine(id=VM, name="v", location="eastus")
    assert _reads(planner.after(_vms_job(planner, SUB), [vm])) == [
        (SUB, "compute_usages:westus2"),
        (SUB, "vm_skus:westus2"),
    ]
    assert _reads(planner.after(_vms_job(planner, DR_SUB), [])) == []  # no VM there: nothing to place
    assert _reads(planner.after(_items_job(planner), [_item("a", "westus2", SUB)])) == []  # already read


def test_without_a_target_region_a_vm_list_plans_no_capacity_read() -> None:
    planner = Planner([SUB], None)
    vm = VirtualMachine(id=VM, name="v", location="eastus")
    assert _reads(planner.after(_vms_job(planner, SUB), [vm])) == []


def _from(name: str, source_sub: str | None, source: str | None, recovery: str, rg_sub: str) -> ProtectedItem:
    """An item whose source VM runs in `source` in `source_sub`."""
    found = _item(name, recovery, rg_sub)
    found.primary_location = source
    if source_sub:
        found.source_vm_id = VM.replace(SUB, source_sub).replace("/v", f"/{name}")
    return found


def test_each_source_region_has_its_sizes_read_once_without_quota() -> None:
    """VM-UNSUPPORTED reads a size's vCPUs where the VM runs; one (subscription, region) pair
    read for either side is never read again, and the source side asks for no usages."""
    planner = Planner([SUB, DR_SUB], None)
    job = _items_job(planner)
    items = [
        _from("a", SUB, "East US", "westus2", DR_SUB),
        _from("b", SUB, "eastus", "westus2", DR_SUB),  # the same source pair: read once
        _from("c", DR_SUB, "westus2", "eastus", SUB),  # source pair already read as a recovery one
        _from("d", UNSCANNED, "centralus", "westus2", DR_SUB),  # source subscription not scanned
        _from("e", SUB, None, "westus2", DR_SUB),  # no source region: nothing to read there
    ]
    assert _reads(planner.after(job, items)) == [
        (SUB, "compute_usages:eastus"),
        (SUB, "vm_skus:eastus"),
        (DR_SUB, "compute_usages:westus2"),
        (DR_SUB, "vm_skus:westus2"),
    ]
    later = Planner([SUB, DR_SUB], None)
    first = _items_job(later)
    assert _reads(later.after(first, [_from("a", SUB, "eastus", "westus2", DR_SUB)])) == [
        (SUB, "vm_skus:eastus"),
        (DR_SUB, "compute_usages:westus2"),
        (DR_SUB, "vm_skus:westus2"),
    ]
    # eastus becomes a recovery region afterwards: only its quota is still to read
    assert _reads(later.after(first, [_item("z", "eastus", SUB)])) == [(SUB, "compute_usages:eastus")]


def test_readiness_reads_the_source_region_sizes_where_the_subscription_has_vms_there() -> None:
    planner = Planner([SUB, DR_SUB], None, ("westus2",), ("eastus",))
    here = VirtualMachine(id=VM, name="v", location="East US")
    elsewhere = VirtualMachine(id=VM.replace(SUB, DR_SUB), name="w", location="centralus")
    assert _reads(planner.after(_vms_job(planner, SUB), [here])) == [
        (SUB, "compute_usages:westus2"),
        (SUB, "vm_skus:eastus"),
        (SUB, "vm_skus:westus2"),
    ]
    assert _reads(planner.after(_vms_job(planner, DR_SUB), [elsewhere])) == [
        (DR_SUB, "compute_usages:westus2"),
        (DR_SUB, "vm_skus:westus2"),
    ]
