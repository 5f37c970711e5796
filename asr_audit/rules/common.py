"""What the rule modules share: the resource types findings name, and how rules resolve and name
the resources they refer to.

Rules meet resources through references (ASR objects point at vaults, storage accounts and
networks; subnets at route tables; routes at firewall addresses), compared case-insensitively.
Resolving and naming them here means a resource is found the same way and reads the same in
every rule's findings.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from asr_audit import connectivity, ids
from asr_audit.findings import Finding, Severity
from asr_audit.inventory import AzureFirewall, Inventory, ProtectedItem, RouteTable, StorageAccount, Subnet
from asr_audit.rules.base import Context, RuleMeta
from asr_audit.scope import Workload

# --- resource types (Finding.resource_type) -------------------------------------------------------

VM_TYPE = "Microsoft.Compute/virtualMachines"
NIC_TYPE = "Microsoft.Network/networkInterfaces"
VNET_TYPE = "Microsoft.Network/virtualNetworks"
SUBNET_TYPE = "Microsoft.Network/virtualNetworks/subnets"
GATEWAY_TYPE = "Microsoft.Network/virtualNetworkGateways"
CIRCUIT_TYPE = "Microsoft.Network/expressRouteCircuits"
STORAGE_TYPE = "Microsoft.Storage/storageAccounts"
VAULT_TYPE = "Microsoft.RecoveryServices/vaults"
PROTECTED_ITEM_TYPE = (
    "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/"
    "replicationProtectedItems"
)
NETWORK_MAPPING_TYPE = (
    "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationNetworks/replicationNetworkMappings"
)

T = TypeVar("T")


# --- grouping references -------------------------------------------------------------------------


@dataclass(slots=True)
class Group(Generic[T]):
    """Everything that refers to one resource, keyed case-insensitively."""

    resource_id: str  # as first written by a referrer
    referrers: list[T] = field(default_factory=list)


def group_refs(pairs: Iterable[tuple[str | None, T]]) -> list[Group[T]]:
    """Group (resource id, referrer) pairs by canonical id, dropping empty ids and repeats."""
    groups: dict[str, Group[T]] = {}
    seen: set[tuple[str, int]] = set()
    for resource_id, referrer in pairs:
        if not resource_id:
            continue
        key = ids.key(resource_id)
        group = groups.setdefault(key, Group(resource_id))
        if (key, id(referrer)) not in seen:
            seen.add((key, id(referrer)))
            group.referrers.append(referrer)
    return [groups[k] for k in sorted(groups)]


# --- naming what a finding is about -------------------------------------------------------------


def item_label(item: ProtectedItem) -> str:
    """The name an admin sees for a protected item in the portal."""
    return item.friendly_name or item.name


def item_ref(item: ProtectedItem) -> dict[str, str]:
    """How evidence names a protected item."""
    return {"id": item.id, "name": item_label(item)}


def workload_ref(workload: Workload) -> dict[str, str]:
    """How evidence names a protected or candidate VM."""
    return {"vm": workload.vm.name, "id": workload.vm.id, "kind": workload.kind}


def item_finding(
    meta: RuleMeta,
    ctx: Context,
    item: ProtectedItem,
    *,
    message: str,
    evidence: dict[str, Any],
    severity: Severity | None = None,
    key: str = "",
) -> Finding:
    """A finding about a protected item, placed in its vault's region."""
    return meta.finding(
        resource_id=item.id,
        resource_type=PROTECTED_ITEM_TYPE,
        resource_name=item_label(item),
        region=vault_region(ctx, item.vault_id),
        message=message,
        evidence=evidence,
        severity=severity,
        key=key,
    )


# --- resolving references ---------------------------------------------------------------------------


def find_storage(ctx: Context, ref: str) -> StorageAccount | None:
    """Resolve an ASR storage reference: normally an ARM id, on some older items a bare name."""
    account = ctx.index.storage_accounts.get(ids.key(ref))
    if account is None and "/" not in ref:
        wanted = ref.strip().lower()  # account names are globally unique
        account = next((a for a in ctx.inventory.storage_accounts if a.name.lower() == wanted), None)
    return account


def vault_region(ctx: Context, vault_id: str) -> str | None:
    """ASR child objects carry no location of their own: their vault's region stands for it."""
    vault = ctx.index.vaults.get(ids.key(vault_id))
    return ids.region(vault.location) if vault else None


def route_table(ctx: Context, subnet: Subnet) -> tuple[RouteTable | None, str | None]:
    """(the subnet's route table, why it is missing when the subnet names one that was not read)."""
    if not subnet.route_table_id:
        return None, None
    table = ctx.index.route_tables.get(ids.key(subnet.route_table_id))
    if table is None:
        return None, connectivity.unread_reason(ctx.index, subnet.route_table_id, "route table")
    return table, None


def canonical_ip(text: str | None) -> str | None:
    """An IP address in canonical form (IPv6 spellings vary; stray whitespace), else None."""
    try:
        return str(ipaddress.ip_address((text or "").strip()))
    except ValueError:
        return None


def firewalls_by_ip(inventory: Inventory) -> dict[str, AzureFirewall]:
    """Azure Firewalls by private IP: what a VirtualAppliance next hop names."""
    return {
        ip: fw for fw in inventory.azure_firewalls for ip in map(canonical_ip, fw.private_ip_addresses) if ip
    }
