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
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from asr_audit import ids
from asr_audit.findings import Finding, Severity
from asr_audit.inventory import (
    COVERAGE_NOT_COLLECTED,
    COVERAGE_PARTIAL,
    AzureFirewall,
    Coverage,
    Inventory,
    ProtectedItem,
    RouteTable,
    StorageAccount,
    Subnet,
    VirtualNetwork,
)
from asr_audit.net import connectivity
from asr_audit.rules.base import Context, RuleMeta

if TYPE_CHECKING:  # scope imports rules.base, whose package imports this module
    from asr_audit.rules.scope import Workload

# --- resource types (Finding.resource_type) -------------------------------------------------------

SUBSCRIPTION_TYPE = "Microsoft.Resources/subscriptions"
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


# --- what the scan could not read (DESIGN.md §8.2) ---------------------------------------------------

# Every rule judges subscriptions: one that could not be read at all was judged by none of them.
EVERY_RULE_READS = ("subscription",)
# ASR lists read per vault. ARM answers 404 for them on a vault without Site Recovery content (a
# Backup vault), and for a vault deleted since it was listed: either way there is nothing unread.
_EMPTY_WHEN_NOT_FOUND = frozenset({"protected_items", "network_mappings"})


def is_moot(gap: Coverage, inventory: Inventory) -> bool:
    """A gap that hides nothing any rule could judge; every other non-ok record is a real gap.

    Only two, both where the missing data cannot exist:
    - `not_found` on a per-vault ASR list (see `_EMPTY_WHEN_NOT_FOUND`);
    - service tags not fetched when no VNet was read and the VNet listing had no gap: tags only
      expand destinations of traffic from subnets, and there is no subnet to judge. (The scan
      records this as `not_found`: it had no VNet location to ask the service-tags API about.)
    """
    if gap.kind in _EMPTY_WHEN_NOT_FOUND and gap.status == "not_found" and gap.collector != gap.kind:
        return True
    if gap.kind == "service_tags" and not inventory.virtual_networks:
        return not any(c.kind == "virtual_networks" and c.is_gap for c in inventory.coverage)
    return False


def coverage_gaps(
    ctx: Context, kinds: Iterable[str], subscriptions: Iterable[str] | None = None
) -> list[Coverage]:
    """The real gaps (`is_moot` aside) in the given collectors, in `subscriptions` when given."""
    wanted = set(kinds)
    subs = None if subscriptions is None else {s.lower() for s in subscriptions if s}
    return [
        c
        for c in ctx.inventory.coverage
        if c.is_gap
        and c.kind in wanted
        and (subs is None or c.subscription_id.lower() in subs)
        and not is_moot(c, ctx.inventory)
    ]


def hybrid_gaps(
    ctx: Context, vnets: Iterable[VirtualNetwork], kinds: Iterable[str] = connectivity.GATEWAY_INPUTS
) -> list[Coverage]:
    """Gaps in the gateway data (`kinds`) of the subscriptions the VNets' reach depends on: where
    they are, a gateway or connection nobody saw may exist."""
    subscriptions: set[str] = set().union(*(connectivity.reach_subscriptions(v) for v in vnets))
    return coverage_gaps(ctx, kinds, subscriptions)


def gap_label(gap: Coverage) -> str:
    """`virtual_network_gateways:rg-hub (forbidden)`, for messages."""
    return f"{gap.collector} ({gap.status})"


def gap_scope(gap: Coverage) -> str:
    """What a gap leaves unjudged: the vault, resource group or policy of a per-object run, else
    the subscription."""
    return gap.scope or f"/subscriptions/{gap.subscription_id}"


def _gap_fix(gap: Coverage, where: str) -> str:
    """How to close the gap, by its cause."""
    status = gap.status
    if status == "forbidden":
        return f"Grant the scanning identity Reader on {where} (reading {gap.collector} was refused); re-run."
    if status == "throttled":
        return "Re-run when ARM throttling has eased (or with a lower --concurrency)."
    if status == "timeout":
        return "Re-run when ARM answers in time (or with a longer --timeout / --deadline)."
    if status == "not_found":
        return f"Check that {where} still exists and its resource provider is registered, then re-run."
    if status == COVERAGE_PARTIAL:
        return (
            "Re-run once the unread items (ids in the evidence) can be read; until then they are not judged."
        )
    if status == COVERAGE_NOT_COLLECTED:
        return "Re-run the scan (or save a new snapshot) with this version: the snapshot holds no such data."
    return "Re-run when the cause given in the detail is fixed; the report's coverage section has it."


def gap_finding(meta: RuleMeta, gap: Coverage) -> Finding:
    """The `unknown` finding of a rule whose input `gap` was not (fully) read, at the worst severity
    the rule reports: what it would have found there is unknown, never passed."""
    where = gap_scope(gap)
    scoped = gap.scope is not None
    named = f"'{ids.name_of(where)}'" if scoped else f"subscription {gap.subscription_id}"
    if gap.status == COVERAGE_PARTIAL:
        what = f"{len(gap.unread) or 'some'} item(s) of {gap.collector} could not be read"
    else:
        what = f"{gap.collector} could not be read ({gap.status})"
    evidence: dict[str, Any] = {
        "collector": gap.collector,
        "status": gap.status,
        "detail": gap.detail,
        "subscription_id": gap.subscription_id,
        "scope": where,
    }
    if gap.unread:
        evidence["unread"] = list(gap.unread)
    finding = meta.finding(
        resource_id=where,
        resource_type=None if scoped else SUBSCRIPTION_TYPE,
        status="unknown",
        severity=meta.worst,
        key=gap.collector,
        # The cause in full is in the evidence and the coverage section: one gap feeds several rules,
        # and repeating a 400-character ARM message under each would bury the findings.
        message=f"{meta.id} could not judge {named}: {what}. What it would find there is unknown, "
        "not passed.",
        remediation=_gap_fix(gap, where),
        evidence=evidence,
    )
    finding.gap = gap.collector
    return finding


def coverage_unknowns(meta: RuleMeta, ctx: Context) -> list[Finding]:
    """One `unknown` finding per gap in a collector the rule reads (or in a subscription)."""
    return [gap_finding(meta, gap) for gap in coverage_gaps(ctx, (*EVERY_RULE_READS, *meta.needs))]
