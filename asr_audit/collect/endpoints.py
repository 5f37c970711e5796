"""Every ARM URL the collectors request, with its api-version, in one table.

Each value taken from data (an id, a name, a location) passes a check in `urls` on its
way into a path: a refused one raises `RefusedUrl` and nothing is sent.

The versions are the ones whose response shapes are pinned in `api-examples/` (the newest
stable ones with complete examples). They are fixed here rather than taken from the SDK so
an SDK upgrade changes no request, and recorded cassettes stay valid.
"""

from __future__ import annotations

from typing import NamedTuple

from asr_audit.collect.urls import RefusedUrl, arm_url, resource_id, segment

API_VERSIONS: dict[str, str] = {
    "subscriptions": "2022-12-01",
    "managementgroups": "2020-05-01",  # the REST reference's version; 2023-04-01's example has the same shape
    "resources": "2021-04-01",
    "network": "2025-03-01",
    "storage": "2025-06-01",
    "recoveryservices": "2025-02-01",
    "siterecovery": "2025-08-01",
    "compute": "2025-04-01",
    "disks": "2025-01-02",
    "authorization": "2022-04-01",
    "privatedns": "2024-06-01",  # Microsoft.Network/privateDnsZones has its own versions
    "skus": "2021-07-01",  # Microsoft.Compute/skus (ResourceSkus_List)
    "usages": "2023-09-01",  # Microsoft.Compute/locations/{region}/usages (Usage_List)
}


def _url(path: str, version_key: str, **query: str) -> str:
    """Every URL below goes through `arm_url`, which refuses a path that is not plain ARM."""
    return arm_url(path, API_VERSIONS[version_key], **query)


# --- subscriptions ------------------------------------------------------------------------


def subscriptions() -> str:
    return _url("/subscriptions", "subscriptions")


def subscription(subscription_id: str) -> str:
    return _url(f"/subscriptions/{segment(subscription_id, 'subscription id')}", "subscriptions")


# --- management groups: the subscriptions under one, at every level -------------------------


def management_group_descendants(group_id: str) -> str:
    """Every child group and subscription below the group, all levels, in one paged list."""
    group = segment(group_id, "management group id")
    return _url(f"/providers/Microsoft.Management/managementGroups/{group}/descendants", "managementgroups")


# --- subscription-wide lists ----------------------------------------------------------------

# collector name -> (provider path under /subscriptions/{id}, api-version key)
SUBSCRIPTION_LISTS: dict[str, tuple[str, str]] = {
    "vaults": ("Microsoft.RecoveryServices/vaults", "recoveryservices"),
    "storage_accounts": ("Microsoft.Storage/storageAccounts", "storage"),
    "virtual_networks": ("Microsoft.Network/virtualNetworks", "network"),
    "network_security_groups": ("Microsoft.Network/networkSecurityGroups", "network"),
    "route_tables": ("Microsoft.Network/routeTables", "network"),
    "express_route_circuits": ("Microsoft.Network/expressRouteCircuits", "network"),
    "azure_firewalls": ("Microsoft.Network/azureFirewalls", "network"),
    "firewall_policies": ("Microsoft.Network/firewallPolicies", "network"),
    "network_interfaces": ("Microsoft.Network/networkInterfaces", "network"),
    "virtual_machines": ("Microsoft.Compute/virtualMachines", "compute"),
    "disks": ("Microsoft.Compute/disks", "disks"),
    # DiskRP, like disks: DiskEncryptionSets_List has the disks' api-version
    "disk_encryption_sets": ("Microsoft.Compute/diskEncryptionSets", "disks"),
    "load_balancers": ("Microsoft.Network/loadBalancers", "network"),
    "nat_gateways": ("Microsoft.Network/natGateways", "network"),
    "public_ip_addresses": ("Microsoft.Network/publicIPAddresses", "network"),
    "private_endpoints": ("Microsoft.Network/privateEndpoints", "network"),
    "private_dns_zones": ("Microsoft.Network/privateDnsZones", "privatedns"),
}


def subscription_list(subscription_id: str, provider_path: str, version_key: str) -> str:
    sub = segment(subscription_id, "subscription id")
    return _url(f"/subscriptions/{sub}/providers/{provider_path}", version_key)


# --- per resource group: VNet gateways and connections have no subscription-wide list ------

# collector name -> ARM type; listed under each resource group that holds one
RESOURCE_GROUP_LISTS: dict[str, str] = {
    "virtual_network_gateways": "Microsoft.Network/virtualNetworkGateways",
    "connections": "Microsoft.Network/connections",
}


def resources_of_types(subscription_id: str, types: list[str]) -> str:
    """`GET /subscriptions/{id}/resources` filtered to the given types (one call, names the RGs)."""
    expr = " or ".join(f"resourceType eq '{t}'" for t in types)
    sub = segment(subscription_id, "subscription id")
    return _url(f"/subscriptions/{sub}/resources", "resources", **{"$filter": expr})


def resource_group_list(subscription_id: str, resource_group: str, arm_type: str) -> str:
    sub, group = segment(subscription_id, "subscription id"), segment(resource_group, "resource group name")
    return _url(f"/subscriptions/{sub}/resourceGroups/{group}/providers/{arm_type}", "network")


# --- once per cloud ---------------------------------------------------------------------------


def service_tags(subscription_id: str, location: str) -> str:
    sub, where = segment(subscription_id, "subscription id"), segment(location, "location")
    path = f"/subscriptions/{sub}/providers/Microsoft.Network/locations/{where}/serviceTags"
    return _url(path, "network")


# --- per vault ---------------------------------------------------------------------------------


def vault(vault_id: str) -> str:
    return _url(resource_id(vault_id, "vault id"), "recoveryservices")


# collector name -> child collection under the vault id (vault-wide lists)
VAULT_LISTS: dict[str, str] = {
    "protected_items": "replicationProtectedItems",
    "network_mappings": "replicationNetworkMappings",
    "protection_container_mappings": "replicationProtectionContainerMappings",
    "replication_policies": "replicationPolicies",
}


def vault_list(vault_id: str, child: str) -> str:
    return _url(f"{resource_id(vault_id, 'vault id')}/{child}", "siterecovery")


def protectable_items(container_id: str) -> str:
    """The protectable items of one protection container: Site Recovery has no vault-wide list of them."""
    container = resource_id(container_id, "protection container id")
    return _url(f"{container}/replicationProtectableItems", "siterecovery")


# --- per A2A cache storage account: what its storage body does not carry -----------------


class AccountRead(NamedTuple):
    child: str  # the path under the account id, or under its subscription's id (`shared`)
    version: str  # the api-version key
    paged: bool  # a list following nextLink; else one GET of one object
    # The list is the account's subscription's, not the account's: read once per scan for every
    # cache account of the subscription, each keeping its own part of it (collect.assignments).
    shared: bool = False


CACHE_ACCOUNT_READS: dict[str, AccountRead] = {
    "blob_services": AccountRead("blobServices/default", "storage", paged=False),
    # No $filter: the assignments made at the subscription, below it (resource groups,
    # resources) and above it (its management groups, the root). Those in effect at an account
    # are the ones made at it, at its resource group, at the subscription or above: one list
    # per subscription instead of one `atScope()` list per account.
    "role_assignments": AccountRead(
        "providers/Microsoft.Authorization/roleAssignments",
        "authorization",
        paged=True,
        shared=True,
    ),
}


def cache_account_read(account_id: str, collector: str, subscription_id: str) -> str:
    """The read of one cache account (`subscription_id` is the account's, as it is scanned)."""
    read = CACHE_ACCOUNT_READS[collector]
    if read.shared:
        sub = segment(subscription_id, "subscription id")
        return _url(f"/subscriptions/{sub}/{read.child}", read.version)
    return _url(f"{resource_id(account_id, 'storage account id')}/{read.child}", read.version)


# --- per firewall policy: its rule collection groups are child resources, not inline -----------


def rule_collection_groups(policy_id: str) -> str:
    return _url(f"{resource_id(policy_id, 'firewall policy id')}/ruleCollectionGroups", "network")


# --- per private DNS zone: its links to VNets are child resources, not inline ----------------------


def virtual_network_links(zone_id: str) -> str:
    return _url(f"{resource_id(zone_id, 'private DNS zone id')}/virtualNetworkLinks", "privatedns")


# --- per (subscription, recovery region): what Compute offers there and the quota left ------


def vm_skus(subscription_id: str, region: str) -> str:
    """The sizes offered in one region, with this subscription's restrictions. The location
    filter is the only one the API takes; unfiltered it lists every region (tens of MB)."""
    sub, where = segment(subscription_id, "subscription id"), segment(region, "location")
    if not where.isalnum():  # it goes inside a quoted OData literal too
        raise RefusedUrl(f"location {where!r} is not a region name")
    path = f"/subscriptions/{sub}/providers/Microsoft.Compute/skus"
    return _url(path, "skus", **{"$filter": f"location eq '{where}'"})


def compute_usages(subscription_id: str, region: str) -> str:
    sub, where = segment(subscription_id, "subscription id"), segment(region, "location")
    return _url(f"/subscriptions/{sub}/providers/Microsoft.Compute/locations/{where}/usages", "usages")


# collector name -> URL of its read for one (subscription, region)
REGION_READS = {"vm_skus": vm_skus, "compute_usages": compute_usages}
