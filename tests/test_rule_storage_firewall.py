"""STG-CACHE-FIREWALL on small inventories: A2A cache accounts (trusted services and one source
subnet), Hyper-V replica and log accounts (no firewall at all), and the accounts only a private
endpoint may reach, which the scan cannot judge yet."""

from __future__ import annotations

from typing import Any

from builders import (
    a2a_item,
    asr_case,
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

from asr_audit.collect.storage import parse_storage_account
from asr_audit.findings import Finding
from asr_audit.inventory import Inventory, StorageAccount

RSV = vault("rsv", "westus")
RULE = "STG-CACHE-FIREWALL"
PE = resource_id("Microsoft.Network/privateEndpoints", "pe-cache-blob")


def _a2a(cache: StorageAccount | str, *names: str) -> Inventory:
    """VMs `names` (one VNet each, subnet `default`) replicating through `cache`."""
    objects: list[Any] = [RSV]
    if isinstance(cache, StorageAccount):
        objects.append(cache)
    for name in names or ("vm1",):
        vnet = virtual_network(f"vnet-{name}", "eastus")
        vm, nic = vm_with_nic(name, "eastus", subnet_id(vnet))
        cache_id = cache.id if isinstance(cache, StorageAccount) else cache
        objects += [vnet, vm, nic, a2a_item(RSV, vm, cache=[cache_id])]
    return inventory(*objects)


def _firewalled(**kw: Any) -> StorageAccount:
    return storage_account("cache", "eastus", default_action="Deny", **kw)


def _findings(inv: Inventory) -> list[Finding]:
    return run(RULE, context(inv))


# --- A2A cache accounts -------------------------------------------------------------------------


def test_open_cache_account_is_fine_and_examined() -> None:
    for cache in (
        storage_account("cache", "eastus", default_action="Allow"),
        storage_account("cache", "eastus"),
    ):
        ctx = context(_a2a(cache))
        assert run(RULE, ctx) == []
        assert [c.resource_id for c in ctx.checks] == [cache.id]


def test_firewalled_cache_allowing_trusted_services_and_one_source_subnet_is_fine() -> None:
    subnet = asr_case(subnet_id(virtual_network("vnet-vm1", "eastus"))).replace("/subnets/", "/SUBNETS/")
    cache = _firewalled(bypass=["Logging", " AzureServices"], virtual_network_rules=[subnet])
    assert _findings(_a2a(cache, "vm1", "vm2")) == []  # vnet-vm2's subnet is not needed as well


def test_firewalled_cache_without_trusted_services_fails_with_its_own_fix() -> None:
    cache = _firewalled(
        bypass=["Logging", "Metrics"],
        virtual_network_rules=[subnet_id(virtual_network("vnet-vm1", "eastus"))],
    )
    (f,) = _findings(_a2a(cache))
    assert (f.resource_id, f.status) == (cache.id, "fail")
    assert "trusted Microsoft services" in f.message and "subnet" not in f.message
    assert f.remediation == (
        "az storage account update -g rg-app -n cache --bypass AzureServices Logging Metrics."
    )


def test_firewalled_cache_allowing_no_source_subnet_fails_and_adds_one() -> None:
    other = subnet_id(virtual_network("vnet-elsewhere", "eastus"))
    cache = _firewalled(bypass=["AzureServices"], virtual_network_rules=[other])
    (f,) = _findings(_a2a(cache, "vm1", "vm2"))
    assert f.status == "fail" and "allows none of the 2 source subnet(s)" in f.message
    assert f.remediation.count("network-rule add") == 1
    assert subnet_id(virtual_network("vnet-vm1", "eastus")) in f.remediation


def test_firewalled_cache_is_unknown_when_no_resolved_subnet_is_allowed_and_some_cannot_be_resolved() -> None:
    cache = _firewalled(bypass=["AzureServices"])
    orphan = a2a_item(RSV, resource_id("Microsoft.Compute/virtualMachines", "gone"), cache=[cache.id])
    (f,) = _findings(inventory(RSV, cache, orphan))
    assert f.status == "unknown" and "could not be resolved" in f.message


def test_missing_cache_account_is_unknown() -> None:
    (f,) = _findings(_a2a(resource_id("Microsoft.Storage/storageAccounts", "gone")))
    assert f.status == "unknown"


# --- private endpoints and public network access ---------------------------------------------------


def test_public_access_disabled_is_unknown_never_failed_nor_passed() -> None:
    cache = storage_account("cache", "eastus", public_network_access="Disabled", default_action="Deny")
    ctx = context(_a2a(cache))
    (f,) = run(RULE, ctx)
    assert f.status == "unknown" and "private endpoint" in f.message
    assert "explain STG-CACHE-FIREWALL" in f.remediation


def test_a_failing_firewall_with_an_approved_private_endpoint_is_unknown() -> None:
    cache = _firewalled(private_endpoints=[PE])
    (f,) = _findings(_a2a(cache))
    assert f.status == "unknown" and "1 approved private endpoint(s)" in f.message
    assert f.evidence["private_endpoints"] == [PE]


def test_public_network_access_and_approved_private_endpoints_are_parsed_from_the_account_body() -> None:
    def connection(status: str) -> dict[str, Any]:
        return {
            "properties": {
                "privateEndpoint": {"id": f"{PE}-{status}"},
                "privateLinkServiceConnectionState": {"status": status},
            }
        }

    body = {
        "id": storage_account("cache", "eastus").id,
        "name": "cache",
        "location": "eastus",
        "properties": {
            "publicNetworkAccess": "Disabled",
            "privateEndpointConnections": [connection("Approved"), connection("Pending")],
        },
    }
    account = parse_storage_account(body)
    assert (account.public_network_access, account.private_endpoints) == ("Disabled", [f"{PE}-Approved"])
    bare = parse_storage_account({k: v for k, v in body.items() if k != "properties"})
    assert (bare.public_network_access, bare.private_endpoints) == (None, [])


# --- Hyper-V replica and log accounts ------------------------------------------------------------


def test_a_firewall_on_a_hyperv_replica_or_log_account_fails() -> None:
    replica = storage_account("replica", "westus", default_action="Deny", bypass=["AzureServices"])
    log = storage_account("log", "westus", default_action="Deny")
    item = onprem_item(
        RSV, "hv1", recovery_storage_account_id=replica.id, recovery_log_storage_account_id=log.id
    )
    found = _findings(inventory(RSV, replica, log, item))
    assert sorted((f.resource_id, f.status) for f in found) == sorted(
        [(replica.id, "fail"), (log.id, "fail")]
    )
    assert all("--default-action Allow" in f.remediation for f in found)


def test_open_hyperv_replica_and_vmware_items_are_not_reported() -> None:
    replica = storage_account("replica", "westus")
    vmware_target = storage_account("target", "westus", default_action="Deny")  # supported for VMware
    items = [
        onprem_item(RSV, "hv1", recovery_storage_account_id=replica.id),
        onprem_item(RSV, "vm1", instance_type="InMageRcm", recovery_storage_account_id=vmware_target.id),
    ]
    ctx = context(inventory(RSV, replica, vmware_target, *items))
    assert run(RULE, ctx) == []
    assert [c.resource_id for c in ctx.checks] == [replica.id]
