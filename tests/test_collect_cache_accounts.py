"""The reads made per A2A cache storage account: which accounts are read (only those A2A items
use as cache, once each, in scanned subscriptions), the parsers of what comes back, and a 403 on
such a read as a gap of that account that the rules report `unknown`."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from fakearm import FakeArm
from record_cassettes import scenario_request

from asr_audit.access.credential import StaticTokenCredential
from asr_audit.app import runner
from asr_audit.collect import scan
from asr_audit.collect.fields import Malformed
from asr_audit.collect.plan import Job, Planner
from asr_audit.collect.recovery import parse_vault
from asr_audit.collect.storage import parse_blob_service, parse_role_assignment, parse_storage_account
from asr_audit.inventory import ProtectedDisk, ProtectedItem

SUB = "11111111-2222-4333-8444-000000000001"
UNSCANNED = "11111111-2222-4333-8444-000000000009"
ACCOUNTS = "/subscriptions/{sub}/resourceGroups/rg-asr/providers/Microsoft.Storage/storageAccounts/{name}"
BROKEN_PROD = "b7e4a1d9-2c3f-4e58-9a6b-1d0f8e7c5a32"
STO = ACCOUNTS.format(sub=SUB, name="sto8607")

# BlobServicesGet.json, Azure/azure-rest-api-specs specification/storage/resource-manager/
# Microsoft.Storage/stable/2025-06-01/examples (commit 3955469a, the commit of the StorageAccountList
# example in /work/shared/api-examples, which holds no blob service example): its 200 body, cors
# rules shortened to one.
BLOB_SERVICES_GET: dict[str, Any] = {
    "id": "/subscriptions/{subscription-id}/resourceGroups/res4410/providers/Microsoft.Storage/"
    "storageAccounts/sto8607/blobServices/default",
    "name": "default",
    "type": "Microsoft.Storage/storageAccounts/blobServices",
    "properties": {
        "cors": {
            "corsRules": [
                {
                    "allowedOrigins": ["*"],
                    "allowedMethods": ["GET"],
                    "maxAgeInSeconds": 2,
                    "exposedHeaders": ["*"],
                    "allowedHeaders": ["*"],
                }
            ]
        },
        "defaultServiceVersion": "2017-07-29",
        "deleteRetentionPolicy": {"enabled": True, "days": 300},
        "isVersioningEnabled": True,
        "changeFeed": {"enabled": True, "retentionInDays": 7},
    },
    "sku": {"name": "Standard_GRS", "tier": "Standard"},
}


# --- parsers ---------------------------------------------------------------------------------------


# RoleAssignments_ListForScope.json (Azure/azure-rest-api-specs, specification/authorization/
# resource-manager/Microsoft.Authorization/stable/2022-04-01/examples, commit 4a842143): its one item.
ROLE_ASSIGNMENT: dict[str, Any] = {
    "properties": {
        "roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/"
        "0b5fe924-9a61-425c-96af-cfe6e287ca2d",
        "principalId": "ce2ce14e-85d7-4629-bdbc-454d0519d987",
        "principalType": "User",
        "scope": "/subscriptions/a925f2f7-5c63-4b7b-8799-25a5f97bc3b2",
    },
    "id": "/subscriptions/a925f2f7-5c63-4b7b-8799-25a5f97bc3b2/providers/Microsoft.Authorization/"
    "roleAssignments/b0f43c54-e787-4862-89b1-a653fa9cf747",
    "type": "Microsoft.Authorization/roleAssignments",
    "name": "b0f43c54-e787-4862-89b1-a653fa9cf747",
}


def test_the_upstream_blob_service_example_parses() -> None:
    parsed = parse_blob_service(STO, BLOB_SERVICES_GET)
    assert parsed.account_id == STO
    assert (parsed.delete_retention_enabled, parsed.delete_retention_days) == (True, 300)


def test_blob_soft_delete_omitted_or_off_reads_off() -> None:
    body = copy.deepcopy(BLOB_SERVICES_GET)
    del body["properties"]["deleteRetentionPolicy"]
    assert parse_blob_service(STO, body).delete_retention_enabled is False
    body["properties"]["deleteRetentionPolicy"] = {"allowPermanentDelete": False, "enabled": "false"}
    assert parse_blob_service(STO, body).delete_retention_enabled is False


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda b: b["properties"].update(deleteRetentionPolicy={"enabled": "yes"}), "not a boolean"),
        (lambda b: b["properties"].update(deleteRetentionPolicy=["on"]), "not an object"),
        (lambda b: b.update(id=b["id"].replace("/blobServices/default", "")), "not a blob service id"),
    ],
    ids=["junk-flag", "policy-not-object", "not-blob-service-id"],
)
def test_an_unreadable_blob_service_is_malformed_never_off(
    edit: Callable[[dict[str, Any]], None], problem: str
) -> None:
    body = copy.deepcopy(BLOB_SERVICES_GET)
    edit(body)
    with pytest.raises(Malformed, match=problem):
        parse_blob_service(STO, body)


def test_the_upstream_role_assignment_example_parses_under_the_account_read() -> None:
    parsed = parse_role_assignment(STO, ROLE_ASSIGNMENT)
    assert (parsed.account_id, parsed.principal_id) == (STO, "ce2ce14e-85d7-4629-bdbc-454d0519d987")
    assert parsed.role_definition_id and parsed.role_definition_id.endswith(
        "0b5fe924-9a61-425c-96af-cfe6e287ca2d"
    )
    with pytest.raises(Malformed, match="principalId"):
        parse_role_assignment(STO, {**ROLE_ASSIGNMENT, "properties": {"scope": "/"}})


def test_shared_key_access_is_allowed_unless_false_and_junk_is_unreadable() -> None:
    account = {"id": STO, "name": "sto8607", "location": "eastus", "properties": {}}
    assert parse_storage_account(account).allow_shared_key_access is True  # ARM omits it: allowed
    account["properties"] = {"allowSharedKeyAccess": False}
    assert parse_storage_account(account).allow_shared_key_access is False
    account["properties"] = {"allowSharedKeyAccess": "no"}
    with pytest.raises(Malformed, match="allowSharedKeyAccess"):
        parse_storage_account(account)


def test_vault_identities_system_and_user_assigned() -> None:
    vault = {
        "id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.RecoveryServices/vaults/v",
        "location": "x",
    }
    assert parse_vault({**vault, "identity": {"type": "None"}}).identity_principal_ids == []
    both = {
        "type": "SystemAssigned, UserAssigned",
        "principalId": "p-system",
        "userAssignedIdentities": {
            "/subscriptions/s/.../userAssignedIdentities/u": {"principalId": "p-user"}
        },
    }
    assert parse_vault({**vault, "identity": both}).identity_principal_ids == ["p-system", "p-user"]


# --- which accounts are read ---------------------------------------------------------------------


def _item(name: str, instance_type: str, *caches: str) -> ProtectedItem:
    vault = f"/Subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v"
    return ProtectedItem(
        id=f"{vault}/replicationFabrics/f/replicationProtectionContainers/c/replicationProtectedItems/{name}",
        name=name,
        vault_id=vault,
        instance_type=instance_type,
        protected_disks=[ProtectedDisk(cache_storage_account_id=c) for c in caches],
    )


def _items_job(planner: Planner) -> Job:
    [vaults] = [j for j in planner.first() if j.collector == "vaults"]
    listed = vaults.parse({"id": _item("x", "A2A").vault_id, "name": "v", "location": "westus2"})
    return next(j for j in planner.after(vaults, [listed]) if j.collector.startswith("protected_items:"))


def test_each_a2a_cache_account_of_a_scanned_subscription_is_read_once() -> None:
    planner = Planner([SUB], None)
    job = _items_job(planner)
    cache = ACCOUNTS.format(sub=SUB, name="stcache")
    other = ACCOUNTS.format(sub=SUB, name="stcache2")
    items = [
        _item("a", "A2A", cache, cache.upper().replace("/SUBSCRIPTIONS/", "/Subscriptions/")),
        _item("b", "A2A", cache.lower(), other),
        _item("c", "A2A", ACCOUNTS.format(sub=UNSCANNED, name="stfar")),  # not scanned: not read
        _item("d", "HyperVReplicaAzure", ACCOUNTS.format(sub=SUB, name="streplica")),
    ]
    # item d's container is read for its protectable items (DSK-SIZE), none of its accounts
    reads = [j for j in planner.after(job, items) if not j.collector.startswith("protectable_items:")]
    assert sorted(j.collector for j in reads) == [
        "blob_services:stcache",
        "blob_services:stcache2",
        "role_assignments:stcache",
        "role_assignments:stcache2",
    ]
    assert {j.subscription_id for j in reads} == {SUB}
    assert [j.url() for j in reads if j.object_id == cache and j.collector.startswith("blob_services:")] == [
        f"{cache}/blobServices/default?api-version=2025-06-01",
    ]
    # the role assignments: the account's subscription's list, the same URL for every account
    assert {j.url() for j in reads if j.collector.startswith("role_assignments:")} == {
        f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01"
    }
    assert planner.after(job, items) == []  # a second vault naming them reads nothing again


# --- a refused read, end to end -------------------------------------------------------------------


def test_a_403_on_a_cache_accounts_blob_service_is_its_gap_and_the_rule_says_unknown(
    fake_arm: Callable[..., FakeArm],
) -> None:
    arm = fake_arm("broken")
    arm.add_fault(r"/storageAccounts/stfabsecurecacheeus/blobServices/default$", 403)
    request = scenario_request(arm, arm.url, concurrency=4)
    inventory = scan(request, StaticTokenCredential(arm.token))
    [refused] = [c for c in inventory.coverage if c.kind == "blob_services" and c.status != "ok"]
    assert (refused.collector, refused.status) == ("blob_services:stfabsecurecacheeus", "forbidden")
    assert refused.subscription_id == BROKEN_PROD and refused.object_id
    findings = runner.audit(inventory, cloud=request.cloud).findings
    soft = [(f.status, f.resource_id) for f in findings if f.rule_id == "STG-CACHE-SOFT-DELETE"]
    assert soft == [("unknown", refused.object_id)]  # the finding it hid is unknown, not passed
