"""STG-CACHE-SOFT-DELETE and STG-CACHE-KEY-ACCESS on what is read per A2A cache account: each
fires where it must, stays quiet on near misses, and says `unknown` where it could not be read."""

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
from asr_audit.inventory import BlobService, Coverage, Inventory, RoleAssignment, StorageAccount
from asr_audit.rules.base import Context

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


# --- STG-CACHE-KEY-ACCESS ---------------------------------------------------------------------------

PRINCIPAL = "4b1c8e2a-7d3f-4a6b-9c0e-2f5a8d1b3c7e"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"


def role(
    account: StorageAccount, guid: str, *, principal: str = PRINCIPAL, scope: str | None = None
) -> RoleAssignment:
    made = scope or account.id
    return RoleAssignment(
        id=f"{made}/providers/Microsoft.Authorization/roleAssignments/{guid[:8]}-{principal[:4]}",
        account_id=account.id,
        principal_id=principal,
        role_definition_id=f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
        scope=made,
    )


def _keyless(*roles_held: str, sku: str = "Standard_ZRS", identity: bool = True, **extra: Any) -> Context:
    """A cache account with shared-key access off, its vault's identity holding `roles_held`, and
    the account's role assignments read."""
    cache = storage_account("stcache", "eastus", sku=sku, allow_shared_key_access=False)
    owner = vault("rsv", "westus", identity_principal_ids=[PRINCIPAL] if identity else [])
    vm, nic = vm_with_nic("vm1", "eastus")
    read = Coverage(SUBSCRIPTION, "role_assignments:stcache", "ok", object_id=cache.id)
    assignments = [role(cache, guid) for guid in roles_held]
    objects = [owner, cache, vm, nic, a2a_item(owner, vm, cache=[cache.id]), read, *assignments]
    return context(inventory(*objects, *extra.get("more", ())))


def test_key_access_off_and_a_vault_without_identity_fires() -> None:
    [finding] = run("STG-CACHE-KEY-ACCESS", _keyless(identity=False))
    assert (finding.status, finding.severity) == ("fail", Severity.HIGH)
    assert "has no managed identity" in finding.message
    assert_reportable([finding])


def test_a_missing_data_role_fires_and_names_it() -> None:
    [finding] = run("STG-CACHE-KEY-ACCESS", _keyless(CONTRIBUTOR))
    assert finding.status == "fail" and "lacks Storage Blob Data Contributor" in finding.message


def test_premium_needs_blob_data_owner_not_contributor() -> None:
    [finding] = run("STG-CACHE-KEY-ACCESS", _keyless(CONTRIBUTOR, BLOB_DATA_CONTRIBUTOR, sku="Premium_LRS"))
    assert "lacks Storage Blob Data Owner" in finding.message
    assert run("STG-CACHE-KEY-ACCESS", _keyless(CONTRIBUTOR, BLOB_DATA_OWNER, sku="Premium_LRS")) == []


def test_the_documented_roles_pass_also_when_inherited_from_above() -> None:
    ctx = _keyless(BLOB_DATA_CONTRIBUTOR)
    cache = ctx.inventory.storage_accounts[0]
    inherited = role(cache, CONTRIBUTOR, scope=f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-app")
    ctx.inventory.role_assignments.append(inherited)
    assert run("STG-CACHE-KEY-ACCESS", ctx) == []
    assert [c.resource_id for c in ctx.checks] == [cache.id]


def test_shared_key_access_allowed_needs_no_identity() -> None:
    ctx = _keyless(identity=False)
    ctx.inventory.storage_accounts[0].allow_shared_key_access = True
    assert run("STG-CACHE-KEY-ACCESS", ctx) == []


def test_another_principals_roles_do_not_count() -> None:
    ctx = _keyless()
    cache = ctx.inventory.storage_accounts[0]
    for guid in (CONTRIBUTOR, BLOB_DATA_CONTRIBUTOR):
        ctx.inventory.role_assignments.append(
            role(cache, guid, principal="99999999-0000-4000-8000-000000000000")
        )
    [finding] = run("STG-CACHE-KEY-ACCESS", ctx)
    assert finding.status == "fail"


def test_a_custom_role_is_unknown_not_a_fail() -> None:
    [finding] = run("STG-CACHE-KEY-ACCESS", _keyless(CONTRIBUTOR, "11111111-2222-4333-8444-555555555555"))
    assert finding.status == "unknown" and "custom roles" in finding.message
    assert finding.severity is Severity.HIGH


def test_refused_role_assignments_are_one_unknown_on_the_account() -> None:
    cache = storage_account("stcache", "eastus", allow_shared_key_access=False)
    owner = vault("rsv", "westus", identity_principal_ids=[PRINCIPAL])
    vm, nic = vm_with_nic("vm1", "eastus")
    refused = gap("role_assignments:stcache", "forbidden", object_id=cache.id)
    ctx = context(inventory(owner, cache, vm, nic, a2a_item(owner, vm, cache=[cache.id]), refused))
    [finding] = analyzed("STG-CACHE-KEY-ACCESS", ctx)
    assert (finding.status, finding.resource_id, finding.key) == (
        "unknown",
        cache.id,
        "role_assignments:stcache",
    )
