"""PLC-* rules on small inventories: each fires where it must and stays quiet on near misses."""

from __future__ import annotations

import dataclasses

import pytest
from builders import (
    OTHER_SUBSCRIPTION,
    a2a_item,
    asr_case,
    assert_catalogued,
    assert_reportable,
    context,
    inventory,
    network_mapping,
    onprem_item,
    resource_id,
    run,
    storage_account,
    subnet_id,
    vault,
    virtual_network,
    vm_with_nic,
)

from asr_audit import ids
from asr_audit.access.clouds import CLOUDS
from asr_audit.app import runner
from asr_audit.app.replay import DEMO_CASSETTE, replay_scan
from asr_audit.collect import ScanRequest
from asr_audit.findings import Finding, Severity
from asr_audit.inventory import Inventory
from asr_audit.rules.base import Context
from asr_audit.rules.catalog import default_catalog


def _vm(name: str = "vm1", location: str = "eastus"):
    vnet = virtual_network(f"vnet-{name}", location)
    vm, nic = vm_with_nic(name, location, subnet_id(vnet))
    return vm, nic, vnet


# --- PLC-VAULT-IN-SOURCE -----------------------------------------------------------------------


def test_vault_in_source_region_is_reported_once_with_its_items() -> None:
    rsv = vault("rsv", "East US")  # display name, as some APIs return it
    vm1, nic1, vnet1 = _vm("vm1")
    vm2, nic2, vnet2 = _vm("vm2")
    items = [a2a_item(rsv, vm1), a2a_item(rsv, vm2)]
    found = run("PLC-VAULT-IN-SOURCE", context(inventory(rsv, vm1, nic1, vnet1, vm2, nic2, vnet2, *items)))
    assert len(found) == 1
    (f,) = found
    assert f.resource_id == rsv.id and f.status == "fail" and f.severity is Severity.HIGH
    assert f.region == "eastus"
    assert {i["id"] for i in f.evidence["protected_items"]} == {i.id for i in items}


def test_vault_in_target_region_is_fine() -> None:
    rsv = vault("rsv", "westus")
    vm, nic, vnet = _vm()
    assert run("PLC-VAULT-IN-SOURCE", context(inventory(rsv, vm, nic, vnet, a2a_item(rsv, vm)))) == []


def test_zone_to_zone_item_is_exempt_but_one_zone_is_not_enough() -> None:
    rsv = vault("rsv", "eastus")
    vm, nic, vnet = _vm()
    zonal = a2a_item(
        rsv, vm, recovery="eastus", primary_availability_zone="1", recovery_availability_zone="2"
    )
    assert run("PLC-VAULT-IN-SOURCE", context(inventory(rsv, vm, nic, vnet, zonal))) == []

    half = a2a_item(rsv, vm, recovery="eastus", primary_availability_zone="1")
    assert len(run("PLC-VAULT-IN-SOURCE", context(inventory(rsv, vm, nic, vnet, half)))) == 1


def test_source_region_falls_back_to_the_vm_location() -> None:
    rsv = vault("rsv", "eastus")
    vm, nic, vnet = _vm(location="eastus")
    item = a2a_item(rsv, vm, primary=None)
    found = run("PLC-VAULT-IN-SOURCE", context(inventory(rsv, vm, nic, vnet, item)))
    assert [f.resource_id for f in found] == [rsv.id]


@pytest.mark.parametrize("named", ["RSV-EAST", "rsv-west", "<id>"])
def test_readiness_mode_reports_the_named_vaults_in_the_source_region(named: str) -> None:
    east, west = vault("rsv-east", "eastus"), vault("rsv-west", "westus")
    inv = inventory(east, west)
    wanted = [asr_case(east.id) if named == "<id>" else named]
    found = run("PLC-VAULT-IN-SOURCE", context(inv, source_region="East US", vaults=wanted))
    assert [f.resource_id for f in found] == ([] if named == "rsv-west" else [east.id])
    if found:
        assert found[0].evidence["mode"] == "readiness" and found[0].severity is Severity.HIGH
    assert run("PLC-VAULT-IN-SOURCE", context(inv, vaults=wanted)) == []  # no --source-region


def test_readiness_does_not_flag_vaults_nobody_named() -> None:
    """Azure Backup needs its vault in the VM's region: a vault there is no finding by itself."""
    backup = vault("rsv-backup", "eastus")
    assert run("PLC-VAULT-IN-SOURCE", context(inventory(backup), source_region="eastus")) == []


def test_readiness_with_a_named_vault_the_scan_did_not_read_is_unknown() -> None:
    found = run("PLC-VAULT-IN-SOURCE", context(inventory(), source_region="eastus", vaults=["rsv-new"]))
    assert [(f.status, f.key) for f in found] == [("unknown", "vault:rsv-new")]
    assert "rsv-new" in found[0].message
    assert_reportable(found)


def test_readiness_mode_is_off_when_a2a_items_exist() -> None:
    spare, used = vault("rsv-spare", "eastus"), vault("rsv-used", "westus")
    vm, nic, vnet = _vm()
    inv = inventory(spare, used, vm, nic, vnet, a2a_item(used, vm))
    assert run("PLC-VAULT-IN-SOURCE", context(inv, source_region="eastus")) == []
    # a named vault is judged by its items where it has some, by its region where it has none
    assert run("PLC-VAULT-IN-SOURCE", context(inv, source_region="eastus", vaults=["rsv-used"])) == []
    found = run("PLC-VAULT-IN-SOURCE", context(inv, source_region="eastus", vaults=["rsv-spare"]))
    assert [f.resource_id for f in found] == [spare.id]


def test_item_whose_vault_is_not_in_the_inventory_is_unknown() -> None:
    ghost = vault("rsv-ghost", "eastus")
    vm, nic, vnet = _vm()
    found = run("PLC-VAULT-IN-SOURCE", context(inventory(vm, nic, vnet, a2a_item(ghost, vm))))
    assert [(f.status, f.resource_id) for f in found] == [("unknown", asr_case(ghost.id))]


# --- PLC-VAULT-NOT-TARGET -------------------------------------------------------------------------


def test_vault_in_a_third_region_is_reported_with_the_item_count() -> None:
    rsv = vault("rsv", "centralus")
    vm1, nic1, vnet1 = _vm("vm1")
    vm2, nic2, vnet2 = _vm("vm2")
    ok = vault("rsv-ok", "westus")
    vm3, nic3, vnet3 = _vm("vm3")
    inv = inventory(
        rsv,
        ok,
        vm1,
        nic1,
        vnet1,
        vm2,
        nic2,
        vnet2,
        vm3,
        nic3,
        vnet3,
        a2a_item(rsv, vm1),
        a2a_item(rsv, vm2, primary="East US", recovery="West US"),
        a2a_item(ok, vm3),
    )
    found = run("PLC-VAULT-NOT-TARGET", context(inv))
    assert [f.resource_id for f in found] == [rsv.id]
    assert found[0].severity is Severity.LOW
    assert found[0].evidence["item_count"] == 2


def test_vault_in_source_or_target_is_not_a_third_region() -> None:
    vm, nic, vnet = _vm()
    for region in ("eastus", "westus"):
        rsv = vault("rsv", region)
        assert run("PLC-VAULT-NOT-TARGET", context(inventory(rsv, vm, nic, vnet, a2a_item(rsv, vm)))) == []


def test_only_the_items_in_other_regions_are_counted() -> None:
    rsv = vault("rsv", "westus")
    vm1, nic1, vnet1 = _vm("vm1")
    vm2, nic2, vnet2 = _vm("vm2", "northeurope")
    far = a2a_item(rsv, vm2, primary="northeurope", recovery="westeurope")
    inv = inventory(rsv, vm1, nic1, vnet1, vm2, nic2, vnet2, a2a_item(rsv, vm1), far)
    (f,) = run("PLC-VAULT-NOT-TARGET", context(inv))
    assert f.evidence["item_count"] == 1
    assert [i["id"] for i in f.evidence["protected_items"]] == [far.id]


# --- PLC-SAME-REGION ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zones", "fires"),
    [((None, None), True), (("1", None), True), ((None, "2"), True), (("1", "2"), False)],
)
def test_same_region_needs_both_zones(zones: tuple[str | None, str | None], fires: bool) -> None:
    rsv = vault("rsv", "westus")
    vm, nic, vnet = _vm()
    item = a2a_item(
        rsv,
        vm,
        primary="East US",
        recovery="eastus",
        primary_availability_zone=zones[0],
        recovery_availability_zone=zones[1],
    )
    found = run("PLC-SAME-REGION", context(inventory(rsv, vm, nic, vnet, item)))
    assert [f.resource_id for f in found] == ([item.id] if fires else [])


def test_cross_region_item_is_not_same_region() -> None:
    rsv = vault("rsv", "westus")
    vm, nic, vnet = _vm()
    assert run("PLC-SAME-REGION", context(inventory(rsv, vm, nic, vnet, a2a_item(rsv, vm)))) == []


# --- PLC-CACHE-REGION ------------------------------------------------------------------------------------


def test_cache_outside_source_region_is_one_finding_per_account() -> None:
    rsv = vault("rsv", "westus")
    cache = storage_account("cachewest", "westus")
    vm1, nic1, vnet1 = _vm("vm1")
    vm2, nic2, vnet2 = _vm("vm2")
    items = [a2a_item(rsv, vm, cache=[cache.id, cache.id]) for vm in (vm1, vm2)]  # two disks each
    found = run(
        "PLC-CACHE-REGION", context(inventory(rsv, cache, vm1, nic1, vnet1, vm2, nic2, vnet2, *items))
    )
    assert len(found) == 1
    (f,) = found
    assert f.resource_id == cache.id and f.status == "fail"
    assert f.evidence["resource_region"] == "westus"
    assert f.evidence["expected_regions"] == ["eastus"]
    assert len(f.evidence["referrers"]) == 2


def test_cache_in_source_region_given_as_display_name_is_fine() -> None:
    rsv = vault("rsv", "westus")
    cache = storage_account("cacheeast", "East US")
    vm, nic, vnet = _vm()
    item = a2a_item(rsv, vm, cache=[cache.id])
    assert run("PLC-CACHE-REGION", context(inventory(rsv, cache, vm, nic, vnet, item))) == []


def test_cache_region_uses_vm_location_when_primary_location_is_missing() -> None:
    rsv = vault("rsv", "westus")
    cache = storage_account("cacheeast", "eastus")
    vm, nic, vnet = _vm(location="northeurope")
    item = a2a_item(rsv, vm, primary=None, cache=[cache.id])
    (f,) = run("PLC-CACHE-REGION", context(inventory(rsv, cache, vm, nic, vnet, item)))
    assert f.evidence["expected_regions"] == ["northeurope"]


def test_cache_in_an_unscanned_subscription_is_unknown_not_a_pass() -> None:
    rsv = vault("rsv", "westus")
    vm, nic, vnet = _vm()
    elsewhere = resource_id(
        "Microsoft.Storage/storageAccounts", "cacheother", subscription=OTHER_SUBSCRIPTION
    )
    item = a2a_item(rsv, vm, cache=[elsewhere])
    (f,) = run("PLC-CACHE-REGION", context(inventory(rsv, vm, nic, vnet, item)))
    assert f.status == "unknown"
    assert OTHER_SUBSCRIPTION in f.message and "not scanned" in f.message
    assert f.subscription_id == OTHER_SUBSCRIPTION


def test_cache_missing_from_a_scanned_subscription_is_unknown() -> None:
    rsv = vault("rsv", "westus")
    vm, nic, vnet = _vm()
    gone = resource_id("Microsoft.Storage/storageAccounts", "cachegone")
    (f,) = run("PLC-CACHE-REGION", context(inventory(rsv, vm, nic, vnet, a2a_item(rsv, vm, cache=[gone]))))
    assert f.status == "unknown" and "not found" in f.message


def test_cache_region_unknown_when_the_source_region_cannot_be_told() -> None:
    rsv = vault("rsv", "westus")
    cache = storage_account("cacheeast", "eastus")
    orphan = a2a_item(
        rsv, resource_id("Microsoft.Compute/virtualMachines", "gone"), primary=None, cache=[cache.id]
    )
    (f,) = run("PLC-CACHE-REGION", context(inventory(rsv, cache, orphan)))
    assert f.status == "unknown" and f.resource_id == cache.id


# --- PLC-TARGET-VNET-REGION ---------------------------------------------------------------------------------


def test_item_recovery_vnet_outside_recovery_region() -> None:
    rsv = vault("rsv", "westus")
    vm, nic, vnet = _vm()
    wrong = virtual_network("vnet-dr", "centralus", prefixes=["10.1.0.0/16"])
    item = a2a_item(rsv, vm, recovery_network_id=asr_case(wrong.id))
    (f,) = run("PLC-TARGET-VNET-REGION", context(inventory(rsv, vm, nic, vnet, wrong, item)))
    assert f.resource_id == wrong.id and f.resource_type == "Microsoft.Network/virtualNetworks"
    assert f.evidence["expected_regions"] == ["westus"]


def test_network_mapping_to_a_vnet_outside_its_recovery_region() -> None:
    rsv = vault("rsv", "westus")
    wrong = virtual_network("vnet-dr", "eastus2")
    right = virtual_network("vnet-dr2", "West US")
    maps = [
        network_mapping(rsv, "map1", recovery_network_id=wrong.id, recovery_location="westus"),
        network_mapping(rsv, "map2", recovery_network_id=right.id, recovery_location="westus"),
        network_mapping(rsv, "vmm", instance_type="VmmToAzure", recovery_network_id=wrong.id),
    ]
    found = run("PLC-TARGET-VNET-REGION", context(inventory(rsv, wrong, right, *maps)))
    assert [f.resource_id for f in found] == [wrong.id]
    assert [r["id"] for r in found[0].evidence["referrers"]] == [maps[0].id]


def test_recovery_vnet_in_recovery_region_is_fine_and_flag_fills_a_missing_region() -> None:
    rsv = vault("rsv", "westus")
    vm, nic, vnet = _vm()
    dr = virtual_network("vnet-dr", "westus")
    item = a2a_item(rsv, vm, recovery=None, recovery_network_id=dr.id)
    inv = inventory(rsv, vm, nic, vnet, dr, item)
    assert run("PLC-TARGET-VNET-REGION", context(inv, target_region="West US")) == []
    assert [f.status for f in run("PLC-TARGET-VNET-REGION", context(inv, target_region="eastus2"))] == [
        "fail"
    ]
    assert [f.status for f in run("PLC-TARGET-VNET-REGION", context(inv))] == ["unknown"]


def test_recovery_vnet_not_in_inventory_is_unknown() -> None:
    rsv = vault("rsv", "westus")
    vm, nic, vnet = _vm()
    other = resource_id("Microsoft.Network/virtualNetworks", "vnet-dr", subscription=OTHER_SUBSCRIPTION)
    (f,) = run(
        "PLC-TARGET-VNET-REGION",
        context(inventory(rsv, vm, nic, vnet, a2a_item(rsv, vm, recovery_network_id=other))),
    )
    assert f.status == "unknown" and f.resource_id == other


# --- PLC-H2A-* ----------------------------------------------------------------------------------------------


def test_h2a_replica_and_log_accounts_outside_vault_region() -> None:
    rsv = vault("rsv", "westeurope")
    replica = storage_account("replica", "northeurope", sku="Standard_GRS")
    log = storage_account("logs", "West Europe")
    both = storage_account("both", "eastus")
    items = [
        onprem_item(
            rsv,
            "hv1",
            recovery_storage_account_id=asr_case(replica.id),
            recovery_log_storage_account_id=log.id,
        ),
        onprem_item(
            rsv,
            "hv2",
            instance_type="InMageAzureV2",
            recovery_storage_account_id=both.id,
            recovery_log_storage_account_id=asr_case(both.id),
        ),
    ]
    found = run("PLC-H2A-STORAGE-REGION", context(inventory(rsv, replica, log, both, *items)))
    assert sorted(f.resource_id for f in found) == sorted([replica.id, both.id])
    assert all(f.evidence["expected_regions"] == ["westeurope"] for f in found)


def test_h2a_rules_ignore_a2a_items() -> None:
    rsv = vault("rsv", "westus")
    vm, nic, vnet = _vm()
    cache = storage_account("cache", "eastus")
    inv = inventory(
        rsv, vm, nic, vnet, cache, a2a_item(rsv, vm, cache=[cache.id], recovery_network_id=vnet.id)
    )
    assert run("PLC-H2A-STORAGE-REGION", context(inv)) == []
    assert run("PLC-H2A-NETWORK-REGION", context(inv)) == []


def test_h2a_storage_region_unknown_without_the_vault() -> None:
    ghost = vault("rsv", "westus")
    replica = storage_account("replica", "westus")
    item = onprem_item(ghost, "hv1", recovery_storage_account_id=replica.id)
    (f,) = run("PLC-H2A-STORAGE-REGION", context(inventory(replica, item)))
    assert f.status == "unknown" and f.resource_id == replica.id


def test_h2a_network_outside_vault_region() -> None:
    rsv = vault("rsv", "westus")
    right = virtual_network("vnet-right", "westus")
    wrong = virtual_network("vnet-wrong", "eastus")
    items = [
        onprem_item(rsv, "hv1", recovery_network_id=asr_case(wrong.id)),
        onprem_item(rsv, "hv2", instance_type="InMageRcm", recovery_network_id=right.id),
        onprem_item(rsv, "hv3"),  # no network chosen yet
    ]
    found = run("PLC-H2A-NETWORK-REGION", context(inventory(rsv, right, wrong, *items)))
    assert [(f.resource_id, f.severity) for f in found] == [(wrong.id, Severity.MEDIUM)]


# --- contract -------------------------------------------------------------------------------------


def test_placement_catalog_entries_are_complete() -> None:
    assert_catalogued("PLC-", "placement")
    assert {r for r in default_catalog().ids() if r.startswith("PLC-")} == {
        "PLC-VAULT-IN-SOURCE",
        "PLC-VAULT-NOT-TARGET",
        "PLC-SAME-REGION",
        "PLC-CACHE-REGION",
        "PLC-TARGET-VNET-REGION",
        "PLC-H2A-STORAGE-REGION",
        "PLC-H2A-NETWORK-REGION",
        "PLC-ZONE",
        "PLC-REGION-SUPPORT",
        "PLC-TARGET-SKU",
    }


def test_everything_misplaced_gives_reportable_findings_without_duplicates() -> None:
    rsv = vault("rsv", "eastus")
    cache = storage_account("cache", "westus")
    dr = virtual_network("vnet-dr", "centralus")
    vm1, nic1, vnet1 = _vm("vm1")
    vm2, nic2, vnet2 = _vm("vm2")
    items = [
        a2a_item(rsv, vm, cache=[cache.id, asr_case(cache.id)], recovery_network_id=dr.id, recovery=region)
        for vm, region in ((vm1, "westus"), (vm2, "eastus"))
    ]
    onprem = onprem_item(
        rsv, "hv1", recovery_storage_account_id=cache.id, recovery_network_id=asr_case(dr.id)
    )
    mapping = network_mapping(rsv, "map1", recovery_network_id=asr_case(dr.id), recovery_location="westus")
    ctx = context(inventory(rsv, cache, dr, vm1, nic1, vnet1, vm2, nic2, vnet2, *items, onprem, mapping))
    findings = [
        f for rule_id in default_catalog().ids() if rule_id.startswith("PLC-") for f in run(rule_id, ctx)
    ]
    assert_reportable(findings)
    assert {f.rule_id for f in findings} == {
        "PLC-VAULT-IN-SOURCE",
        "PLC-SAME-REGION",
        "PLC-CACHE-REGION",
        "PLC-TARGET-VNET-REGION",
        "PLC-H2A-STORAGE-REGION",
        "PLC-H2A-NETWORK-REGION",
    }


# --- the demo estate in readiness mode --------------------------------------------------------------


@pytest.fixture(scope="module")
def demo() -> Inventory:
    return replay_scan(DEMO_CASSETTE, ScanRequest(subscriptions=[], cloud=CLOUDS["AzureCloud"]))


def _vault_findings(findings: list[Finding]) -> list[tuple[str, str]]:
    return sorted(
        (f.evidence.get("mode", "items"), ids.name_of(f.resource_id))
        for f in findings
        if f.rule_id == "PLC-VAULT-IN-SOURCE"
    )


def test_the_demo_with_a_source_region_and_no_vault_flags_only_what_its_items_show(demo: Inventory) -> None:
    """`asr-audit demo --source-region eastus`: readiness adds no vault finding of its own."""
    report = runner.audit(demo, cloud=CLOUDS["AzureCloud"], source_region="eastus", target_region="westus2")
    assert _vault_findings(report.findings) == [("items", "rsv-fabrikam-eus")]


def test_the_demo_vaults_before_any_replication_are_judged_only_when_named(demo: Inventory) -> None:
    bare = dataclasses.replace(demo, protected_items=[], network_mappings=[])
    quiet = Context(bare, source_region="eastus", target_region="westus2", cloud=CLOUDS["AzureCloud"])
    assert run("PLC-VAULT-IN-SOURCE", quiet) == []
    named = Context(bare, source_region="eastus", vaults=["RSV-FABRIKAM-EUS", "rsv-fabrikam-cus"])
    assert _vault_findings(run("PLC-VAULT-IN-SOURCE", named)) == [("readiness", "rsv-fabrikam-eus")]
