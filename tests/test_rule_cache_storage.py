"""STG-CACHE-* rules on the settings read per A2A cache account: each fires where it must, stays
quiet on near misses, and says `unknown` where the settings could not be read."""

from __future__ import annotations

from typing import Any

from builders import (
    OTHER_SUBSCRIPTION,
    SUBSCRIPTION,
    a2a_item,
    analyzed,
    assert_reportable,
    context,
    gap,
    inventory,
    run,
    storage_account,
    vault,
    vm_with_nic,
)

from asr_audit.findings import Severity
from asr_audit.inventory import BlobService, Inventory, StorageAccount

RSV = vault("rsv", "westus")


def blob_service(
    account: StorageAccount | str, *, soft_delete: bool = False, days: int | None = None
) -> BlobService:
    account_id = account if isinstance(account, str) else account.id
    return BlobService(
        id=f"{account_id}/blobServices/default",
        account_id=account_id,
        delete_retention_enabled=soft_delete,
        delete_retention_days=days,
    )


def _cache_estate(account: StorageAccount, *extra: Any) -> Inventory:
    vm, nic = vm_with_nic("vm1", "eastus")
    return inventory(RSV, account, vm, nic, a2a_item(RSV, vm, cache=[account.id]), *extra)


# --- STG-CACHE-SOFT-DELETE --------------------------------------------------------------------------


def test_blob_soft_delete_on_a_cache_account_fires() -> None:
    cache = storage_account("stcache", "eastus")
    ctx = context(_cache_estate(cache, blob_service(cache, soft_delete=True, days=14)))
    [finding] = run("STG-CACHE-SOFT-DELETE", ctx)
    assert (finding.resource_id, finding.status, finding.severity) == (cache.id, "fail", Severity.MEDIUM)
    assert "for 14 days" in finding.message and finding.evidence["delete_retention_days"] == 14
    assert_reportable([finding])


def test_soft_delete_off_passes_and_is_listed_as_examined() -> None:
    cache = storage_account("stcache", "eastus")
    ctx = context(_cache_estate(cache, blob_service(cache)))
    assert run("STG-CACHE-SOFT-DELETE", ctx) == []
    assert [c.resource_id for c in ctx.checks] == [cache.id]


def test_soft_delete_on_an_account_that_is_no_cache_is_not_judged() -> None:
    cache = storage_account("stcache", "eastus")
    data = storage_account("stappdata", "eastus")
    ctx = context(_cache_estate(cache, data, blob_service(cache), blob_service(data, soft_delete=True)))
    assert run("STG-CACHE-SOFT-DELETE", ctx) == []


def test_a_refused_read_is_one_unknown_on_that_account() -> None:
    cache = storage_account("stcache", "eastus")
    refused = gap("blob_services:stcache", "forbidden", object_id=cache.id)
    [finding] = analyzed("STG-CACHE-SOFT-DELETE", context(_cache_estate(cache, refused)))
    assert (finding.status, finding.resource_id, finding.key) == (
        "unknown",
        cache.id,
        "blob_services:stcache",
    )
    assert finding.severity is Severity.MEDIUM


def test_a_snapshot_without_blob_services_is_unknown_on_the_subscription_only() -> None:
    cache = storage_account("stcache", "eastus")
    missing = gap(
        "blob_services", "not_collected", detail="section blob_services is absent from the snapshot"
    )
    [finding] = analyzed("STG-CACHE-SOFT-DELETE", context(_cache_estate(cache, missing)))
    assert (finding.status, finding.resource_id) == ("unknown", f"/subscriptions/{SUBSCRIPTION}")


def test_a_cache_account_in_an_unscanned_subscription_is_unknown() -> None:
    far = storage_account("stfar", "eastus", subscription=OTHER_SUBSCRIPTION)
    vm, nic = vm_with_nic("vm1", "eastus")
    ctx = context(inventory(RSV, vm, nic, a2a_item(RSV, vm, cache=[far.id])))
    [finding] = analyzed("STG-CACHE-SOFT-DELETE", ctx)
    assert finding.status == "unknown" and "was not scanned" in finding.message
