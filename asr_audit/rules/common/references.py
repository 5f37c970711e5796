"""Resolving the references rules meet resources through.

ASR objects point at vaults, storage accounts and networks; subnets at route tables; routes at
firewall addresses. All are compared case-insensitively, and resolving them here means a
resource is found the same way in every rule.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from asr_audit import ids
from asr_audit.inventory import AzureFirewall, Inventory, RouteTable, StorageAccount, Subnet
from asr_audit.net import connectivity
from asr_audit.rules.base import Context

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


@functools.lru_cache(maxsize=1 << 12)
def canonical_ip(text: str | None) -> str | None:
    """An IP address in canonical form (IPv6 spellings vary; stray whitespace), else None. Cached:
    NET-FORCED-TUNNEL asks it of every routed piece of every destination, and a tenant's
    next-hop addresses are a few firewalls and appliances."""
    try:
        return str(ipaddress.ip_address((text or "").strip()))
    except ValueError:
        return None


def firewalls_by_ip(inventory: Inventory) -> dict[str, AzureFirewall]:
    """Azure Firewalls by private IP: what a VirtualAppliance next hop names."""
    return {
        ip: fw for fw in inventory.azure_firewalls for ip in map(canonical_ip, fw.private_ip_addresses) if ip
    }


def cannot_check_region(ctx: Context, resource_id: str, what: str) -> str:
    """The message of an `unknown` finding for a referenced resource the inventory lacks."""
    reason = connectivity.unread_reason(ctx.index, resource_id, what, advise=True)
    return f"Cannot check the region: {reason}."
