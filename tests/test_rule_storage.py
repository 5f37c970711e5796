"""STG-* rules on small inventories: each fires where it must and stays quiet on near misses."""

from __future__ import annotations

from typing import Any

import pytest
from builders import (
    OTHER_SUBSCRIPTION,
    a2a_item,
    asr_case,
    assert_catalogued,
    assert_reportable,
    context,
    inventory,
    onprem_item,
    resource_id,
    run,
    storage_account,
    subnet_id,
    vault,
    virtual_network,
    vm_with_nic,
)

from asr_audit.findings import Severity
from asr_audit.inventory import Inventory, StorageAccount
from asr_audit.rules.catalog import default_catalog

RSV = vault("rsv", "westus")


def _a2a(cache: StorageAccount | str, *names: str, **item_kw: Any) -> tuple[Inventory, list[Any]]:
    """An inventory where VMs `names` (one VNet each) replicate through `cache`."""
    objects: list[Any] = [RSV]
    if isinstance(cache, StorageAccount):
        objects.append(cache)
    items = []
    for name in names or ("vm1",):
        vnet = virtual_network(f"vnet-{name}", "eastus")
        vm, nic = vm_with_nic(name, "eastus", subnet_id(vnet))
        cache_id = cache.id if isinstance(cache, StorageAccount) else cache
        items.append(a2a_item(RSV, vm, cache=[cache_id], **item_kw))
        objects += [vnet, vm, nic]
    return inventory(*objects, *items), items


# --- STG-LOG-PAIRING ----------------------------------------------------------------------------


def test_premium_replica_without_log_account_reports_the_item() -> None:
    premium = storage_account("premrep", "westus", sku="Premium_LRS")
    item = onprem_item(
        RSV, "vm-a", instance_type="InMageAzureV2", recovery_storage_account_id=asr_case(premium.id)
    )
    (f,) = run("STG-LOG-PAIRING", context(inventory(RSV, premium, item)))
    assert f.resource_id == item.id and f.status == "fail" and f.severity is Severity.HIGH


def test_premium_detected_from_sku_name_when_tier_is_missing() -> None:
    premium = storage_account("premrep", "westus", sku="Premium_LRS", sku_tier=None)
    item = onprem_item(RSV, "vm-a", recovery_storage_account_id=premium.id)
    assert len(run("STG-LOG-PAIRING", context(inventory(RSV, premium, item)))) == 1


def test_premium_replica_with_standard_log_account_is_fine() -> None:
    premium = storage_account("premrep", "westus", sku="Premium_LRS")
    log = storage_account("logs", "westus", sku="Standard_LRS")
    item = onprem_item(
        RSV, "vm-a", recovery_storage_account_id=premium.id, recovery_log_storage_account_id=log.id
    )
    assert run("STG-LOG-PAIRING", context(inventory(RSV, premium, log, item))) == []


def test_standard_replica_needs_no_log_account() -> None:
    standard = storage_account("stdrep", "westus", sku="Standard_GRS")
    item = onprem_item(RSV, "vm-a", recovery_storage_account_id=standard.id)
    assert run("STG-LOG-PAIRING", context(inventory(RSV, standard, item))) == []


def test_premium_log_account_is_reported_once_for_all_items() -> None:
    premium = storage_account("premrep", "westus", sku="Premium_LRS")
    premium_log = storage_account("premlog", "westus", sku="Premium_LRS", kind="BlockBlobStorage")
    items = [
        onprem_item(
            RSV,
            n,
            recovery_storage_account_id=premium.id,
            recovery_log_storage_account_id=asr_case(premium_log.id),
        )
        for n in ("vm-a", "vm-b")
    ]
    (f,) = run("STG-LOG-PAIRING", context(inventory(RSV, premium, premium_log, *items)))
    assert f.resource_id == premium_log.id
    assert len(f.evidence["protected_items"]) == 2


def test_replica_account_not_in_inventory_is_unknown() -> None:
    elsewhere = resource_id("Microsoft.Storage/storageAccounts", "rep", subscription=OTHER_SUBSCRIPTION)
    item = onprem_item(RSV, "vm-a", recovery_storage_account_id=asr_case(elsewhere))
    (f,) = run("STG-LOG-PAIRING", context(inventory(RSV, item)))
    assert f.status == "unknown" and OTHER_SUBSCRIPTION in f.message


def test_replica_given_by_bare_name_is_resolved() -> None:
    premium = storage_account("premrep", "westus", sku="Premium_LRS")
    item = onprem_item(RSV, "vm-a", recovery_storage_account_id="PremRep")
    (f,) = run("STG-LOG-PAIRING", context(inventory(RSV, premium, item)))
    assert f.status == "fail" and f.resource_id == item.id


# --- STG-CACHE-KIND ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sku", "kind", "churn", "fires"),
    [
        ("Standard_LRS", "StorageV2", None, False),
        ("Standard_LRS", "StorageV2", "Normal", False),
        ("Premium_LRS", "BlockBlobStorage", None, True),
        ("Standard_ZRS", "StorageV2", "High", True),
        ("Premium_LRS", "BlockBlobStorage", "high", False),
        ("Premium_LRS", "StorageV2", "High", True),  # premium page blobs are not Block Blob
    ],
)
def test_cache_kind_matches_churn(sku: str, kind: str, churn: str | None, fires: bool) -> None:
    cache = storage_account("cache", "eastus", sku=sku, kind=kind)
    inv, _ = _a2a(cache, churn_option=churn)
    found = run("STG-CACHE-KIND", context(inv))
    assert [(f.resource_id, f.key, f.severity) for f in found] == (
        [(cache.id, "churn", Severity.HIGH)] if fires else []
    )


def test_cache_shared_by_normal_and_high_churn_items_is_one_finding() -> None:
    cache = storage_account("cache", "eastus")
    inv, items = _a2a(cache, "vm1", "vm2")
    items[1].churn_option = "High"
    (f,) = run("STG-CACHE-KIND", context(inv))
    assert [i["id"] for i in f.evidence["protected_items"]] == [items[1].id]
    assert "High churn" in f.message


def test_general_purpose_v1_cache_is_low() -> None:
    cache = storage_account("cache", "eastus", kind="Storage")
    inv, _ = _a2a(cache, "vm1", "vm2")
    (f,) = run("STG-CACHE-KIND", context(inv))
    assert (f.severity, f.key, f.status) == (Severity.LOW, "gpv1", "fail")
    assert "kind=StorageV2" in f.remediation


def test_cache_kind_unknown_when_account_is_missing_or_sku_unreported() -> None:
    gone = resource_id("Microsoft.Storage/storageAccounts", "gone")
    inv, _ = _a2a(gone)
    assert [f.status for f in run("STG-CACHE-KIND", context(inv))] == ["unknown"]

    blank = storage_account("cache", "eastus", sku=None)
    inv, _ = _a2a(blank)
    assert [f.status for f in run("STG-CACHE-KIND", context(inv))] == ["unknown"]


# --- STG-CACHE-REDUNDANCY -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sku", "fires"),
    [
        ("Standard_GRS", True),
        ("Standard_RAGRS", True),
        ("Standard_GZRS", True),
        ("Standard_RAGZRS", True),
        ("Standard_LRS", False),
        ("Standard_ZRS", False),
        ("Premium_ZRS", False),
    ],
)
def test_geo_redundant_cache(sku: str, fires: bool) -> None:
    cache = storage_account("cache", "eastus", sku=sku)
    inv, _ = _a2a(cache, "vm1", "vm2")
    found = run("STG-CACHE-REDUNDANCY", context(inv))
    assert [(f.resource_id, f.severity) for f in found] == ([(cache.id, Severity.LOW)] if fires else [])


def test_cache_redundancy_remediation_keeps_zones_of_gzrs() -> None:
    gzrs = storage_account("cache", "eastus", sku="Standard_RAGZRS")
    (f,) = run("STG-CACHE-REDUNDANCY", context(_a2a(gzrs)[0]))
    assert "--sku Standard_ZRS" in f.remediation and "-n cache" in f.remediation
    grs = storage_account("cache", "eastus", sku="Standard_GRS")
    (f,) = run("STG-CACHE-REDUNDANCY", context(_a2a(grs)[0]))
    assert "--sku Standard_LRS" in f.remediation


# --- STG-REPLICA-REDUNDANCY ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sku", "fires"),
    [("Standard_LRS", True), ("Standard_ZRS", True), ("Standard_GRS", False), ("Premium_LRS", False)],
)
def test_onprem_replica_redundancy(sku: str, fires: bool) -> None:
    replica = storage_account("replica", "westus", sku=sku)
    items = [onprem_item(RSV, n, recovery_storage_account_id=asr_case(replica.id)) for n in ("hv1", "hv2")]
    found = run("STG-REPLICA-REDUNDANCY", context(inventory(RSV, replica, *items)))
    assert [(f.resource_id, f.severity) for f in found] == ([(replica.id, Severity.LOW)] if fires else [])


def test_replica_redundancy_ignores_a2a_cache_accounts() -> None:
    inv, _ = _a2a(storage_account("cache", "eastus", sku="Standard_LRS"))
    assert run("STG-REPLICA-REDUNDANCY", context(inv)) == []


# --- contract -------------------------------------------------------------------------------------


def test_storage_catalog_entries_are_complete() -> None:
    assert_catalogued("STG-", "storage")
    assert {r for r in default_catalog().ids() if r.startswith("STG-")} == {
        "STG-LOG-PAIRING",
        "STG-CACHE-KIND",
        "STG-CACHE-REDUNDANCY",
        "STG-REPLICA-REDUNDANCY",
        "STG-CACHE-FIREWALL",
        "STG-CACHE-SOFT-DELETE",
        "STG-CACHE-KEY-ACCESS",
    }


def test_everything_wrong_gives_reportable_findings_without_duplicates() -> None:
    cache = storage_account("cache", "eastus", sku="Standard_GRS", kind="Storage", default_action="Deny")
    inv, _ = _a2a(cache, "vm1", "vm2", "vm3", churn_option="High")
    premium = storage_account("premrep", "westus", sku="Premium_LRS")
    standard = storage_account("stdrep", "westus", sku="Standard_LRS")
    inv.storage_accounts += [premium, standard]
    inv.protected_items += [
        onprem_item(RSV, "hv1", recovery_storage_account_id=premium.id),
        onprem_item(RSV, "hv2", recovery_storage_account_id=standard.id),
        onprem_item(
            RSV, "hv3", recovery_storage_account_id=resource_id("Microsoft.Storage/storageAccounts", "x")
        ),
    ]
    findings = [
        f
        for rule_id in default_catalog().ids()
        if rule_id.startswith("STG-")
        for f in run(rule_id, context(inv))
    ]
    assert_reportable(findings)
    assert {f.rule_id for f in findings if f.status == "fail"} == {
        "STG-LOG-PAIRING",
        "STG-CACHE-KIND",
        "STG-CACHE-REDUNDANCY",
        "STG-REPLICA-REDUNDANCY",
        "STG-CACHE-FIREWALL",
    }
