"""Which VMs, networks and region pairs an analysis is about (DESIGN.md §4, scope terms).

Protected VMs come from A2A protected items (`fabricObjectId`); candidate VMs are the
other VMs in `--source-region` (readiness mode). Both are judged the same way; a finding
says which kind it is. Every rule asks this module rather than re-deriving scope.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from asr_audit import ids
from asr_audit.inventory import (
    NetworkInterface,
    NetworkMapping,
    ProtectedItem,
    Subnet,
    VirtualMachine,
    VirtualNetwork,
)
from asr_audit.rules.base import Context
from asr_audit.rules.common.references import Group, group_refs

# What each scope helper reads (collector names, `Coverage.kind`): rules built on them declare these
# in `RuleMeta.needs`, so a gap in them makes the rule say `unknown` rather than see no workload.
WORKLOAD_INPUTS = ("protected_items", "virtual_machines")  # workloads()
PLACEMENT_INPUTS = (*WORKLOAD_INPUTS, "network_interfaces", "virtual_networks")  # placements()
RECOVERY_VNET_INPUTS = ("protected_items", "network_mappings", "virtual_networks")  # recovery_vnets()

A2A = "A2A"
A2A_MAPPING = "AzureToAzure"  # the instance type of an Azure-to-Azure network mapping
ON_PREMISES_TO_AZURE = frozenset({"HyperVReplicaAzure", "InMageAzureV2", "InMageRcm"})


class _InVnet(Protocol):
    @property
    def vnet(self) -> VirtualNetwork: ...


_Placed = TypeVar("_Placed", bound=_InVnet)


@dataclass(frozen=True, slots=True)
class Workload:
    """A VM in scope with the region pair it replicates (or would replicate) between."""

    vm: VirtualMachine
    kind: str  # protected | candidate
    source_region: str | None
    target_region: str | None
    item: ProtectedItem | None = None


@dataclass(frozen=True, slots=True)
class Placement:
    """A workload NIC's subnet, resolved through the inventory."""

    workload: Workload
    nic: NetworkInterface
    vnet: VirtualNetwork
    subnet: Subnet


# --- the regions of a protected item ----------------------------------------------------------


def item_source_region(ctx: Context, item: ProtectedItem) -> str | None:
    """`primaryFabricLocation`, else the location of the source VM when the inventory has it."""
    region = ids.region(item.primary_location)
    if region:
        return region
    vm = ctx.index.virtual_machines.get(ids.key(item.source_vm_id))
    return ids.region(vm.location) if vm else None


def item_recovery_region(item: ProtectedItem) -> str | None:
    return ids.region(item.recovery_location)


def is_zone_to_zone(ctx: Context, item: ProtectedItem) -> bool:
    """Zone-to-zone DR: one region, with a source and a recovery availability zone both given."""
    src = item_source_region(ctx, item)
    return bool(
        src
        and src == item_recovery_region(item)
        and item.primary_availability_zone
        and item.recovery_availability_zone
    )


# --- what is in scope -------------------------------------------------------------------------


def a2a_items(ctx: Context) -> list[ProtectedItem]:
    return [i for i in ctx.inventory.protected_items if i.instance_type == A2A]


def on_premises_items(ctx: Context) -> list[ProtectedItem]:
    return [i for i in ctx.inventory.protected_items if i.instance_type in ON_PREMISES_TO_AZURE]


def a2a_mappings(ctx: Context) -> list[NetworkMapping]:
    return [m for m in ctx.inventory.network_mappings if m.instance_type == A2A_MAPPING]


def a2a_mappings_by(ctx: Context, field_name: str) -> dict[str, list[NetworkMapping]]:
    """A2A mappings by the id key of one of their id fields (`vault_id`, `primary_network_id`),
    built once per analysis: asked per item or per VNet, a scan of every mapping made the rules
    quadratic on large tenants."""

    def build() -> dict[str, list[NetworkMapping]]:
        out: dict[str, list[NetworkMapping]] = {}
        for m in a2a_mappings(ctx):
            out.setdefault(ids.key(getattr(m, field_name)), []).append(m)
        return out

    return ctx.shared(f"a2a_mappings_by:{field_name}", build)


def workloads(ctx: Context) -> list[Workload]:
    return ctx.shared("workloads", lambda: _workloads(ctx))


def _workloads(ctx: Context) -> list[Workload]:
    vms = ctx.index.virtual_machines
    out: list[Workload] = []
    protected: set[str] = set()
    for item in a2a_items(ctx):
        vm = vms.get(ids.key(item.source_vm_id))
        if vm is None:
            continue
        protected.add(ids.key(vm.id))
        out.append(
            Workload(
                vm=vm,
                kind="protected",
                source_region=ids.region(item.primary_location) or ids.region(vm.location),
                target_region=ids.region(item.recovery_location) or ids.region(ctx.target_region),
                item=item,
            )
        )
    source = ids.region(ctx.source_region)
    if source:
        for vm in ctx.inventory.virtual_machines:
            if ids.key(vm.id) not in protected and ids.region(vm.location) == source:
                out.append(Workload(vm, "candidate", source, ids.region(ctx.target_region)))
    return out


def unique_workloads(ctx: Context) -> Iterator[Workload]:
    """Each VM once, even when stale items in two vaults both reference it."""
    seen: set[str] = set()
    for wl in workloads(ctx):
        vm_key = ids.key(wl.vm.id)
        if vm_key not in seen:
            seen.add(vm_key)
            yield wl


def vm_nics(ctx: Context, vm: VirtualMachine) -> list[NetworkInterface]:
    """The VM's NICs, found by the NICs' own VM reference, else by the VM's list of NIC ids."""
    index = ctx.index
    nics = index.nics_by_vm.get(ids.key(vm.id))
    if nics is None:
        nics = [n for n in map(index.network_interfaces.get, map(ids.key, vm.network_interface_ids)) if n]
    return nics


def placements(ctx: Context) -> tuple[Placement, ...]:
    """Each workload NIC in each inventoried subnet it has an ip configuration in.

    One per (NIC, subnet): a NIC's second ip configuration in a subnet adds nothing, but a second
    NIC in the same subnet has its own NSG to judge. Rules about a subnet group by subnet.
    Resolved once per analysis: a dozen rules and the report's scope walk them.
    """
    return ctx.shared("placements", lambda: tuple(_placements(ctx)))


def placements_in_scope(ctx: Context) -> list[Placement]:
    """`placements` whose VNet is in `ctx.vnet_scope`, VNet by VNet."""
    return [
        p
        for group in ctx.in_scope(ctx.shared("placements_by_vnet", lambda: _by_vnet(placements(ctx))))
        for p in group
    ]


def _by_vnet(items: Iterable[_Placed]) -> dict[str, list[_Placed]]:
    out: dict[str, list[_Placed]] = {}
    for item in items:
        out.setdefault(ids.key(item.vnet.id), []).append(item)
    return out


def _placements(ctx: Context) -> Iterator[Placement]:
    index = ctx.index
    for wl in workloads(ctx):
        seen: set[tuple[str, str]] = set()
        for nic in vm_nics(ctx, wl.vm):
            for ipc in nic.ip_configurations:
                found = index.subnets.get(ids.key(ipc.subnet_id))
                if found is None:
                    continue
                placed = (ids.key(nic.id), ids.key(found[1].id))
                if placed not in seen:
                    seen.add(placed)
                    yield Placement(wl, nic, found[0], found[1])


def source_vnets(ctx: Context) -> dict[str, VirtualNetwork]:
    """VNets that hold a protected or candidate VM, by id key."""
    return {ids.key(p.vnet.id): p.vnet for p in placements(ctx)}


def recovery_vnets(ctx: Context) -> dict[str, VirtualNetwork]:
    """VNets that workloads fail over into: chosen on items, mapped, or (readiness) in the target
    region, by id key. Found once per analysis: a rule that judges VNet by VNet asks per group.
    Shared: do not change it."""
    return ctx.shared("recovery_vnets", lambda: _recovery_vnets(ctx))


def _recovery_vnets(ctx: Context) -> dict[str, VirtualNetwork]:
    index = ctx.index
    wanted = {ids.key(i.recovery_network_id) for i in a2a_items(ctx) if i.recovery_network_id}
    wanted |= {ids.key(m.recovery_network_id) for m in a2a_mappings(ctx) if m.recovery_network_id}
    out = {k: index.virtual_networks[k] for k in wanted if k in index.virtual_networks}
    target = ids.region(ctx.target_region)
    if target:
        for vnet in ctx.inventory.virtual_networks:
            if ids.region(vnet.location) == target:
                out.setdefault(ids.key(vnet.id), vnet)
    return out


def recovery_network_refs(ctx: Context, source: VirtualNetwork, workload: Workload) -> list[str]:
    """The recovery VNet(s) a workload in `source` fails over into, as ASR spells them: the one its
    item chose, else the A2A mappings of `source` towards the workload's target region (readiness
    mode: what enabling replication would pick)."""
    if workload.item and workload.item.recovery_network_id:
        return [workload.item.recovery_network_id]
    return [
        m.recovery_network_id
        for m in a2a_mappings_by(ctx, "primary_network_id").get(ids.key(source.id), ())
        if m.recovery_network_id
        and (not workload.target_region or ids.region(m.recovery_location) in (None, workload.target_region))
    ]


def cache_uses(ctx: Context) -> list[Group[ProtectedItem]]:
    """Each distinct A2A cache storage account with the items whose disks stage through it."""
    return group_refs(
        (disk.cache_storage_account_id, item) for item in a2a_items(ctx) for disk in item.protected_disks
    )


@dataclass(slots=True)
class SubnetCase:
    """A subnet holding workloads, with each of their NICs placed in it: what rules about a
    workload subnet's traffic (routes, firewalls) judge once per subnet."""

    vnet: VirtualNetwork
    subnet: Subnet
    placements: list[Placement] = field(default_factory=list)

    def workload_refs(self) -> list[dict[str, str]]:
        """The subnet's VMs, each once however many NICs (or stale items) place it here."""
        seen = {ids.key(p.workload.vm.id): p.workload for p in self.placements}
        return [workload_ref(w) for w in seen.values()]

    def label(self) -> str:
        """`vnet/subnet`: how an admin names a subnet."""
        return f"{self.vnet.name}/{self.subnet.name}"

    def who(self) -> str:
        """The first few VMs of the subnet, for messages."""
        vms = self.workload_refs()
        shown = ", ".join(f"{v['kind']} VM '{v['vm']}'" for v in vms[:3])
        return shown + (f" and {len(vms) - 3} more" if len(vms) > 3 else "")


def subnet_cases(ctx: Context) -> list[SubnetCase]:
    """Every subnet in scope (`ctx.vnet_scope`) that holds a workload NIC, once, in id order per
    VNet; grouped once per analysis for the rules that judge subnets."""

    def build() -> dict[str, list[SubnetCase]]:
        cases: dict[str, SubnetCase] = {}
        for p in placements(ctx):
            cases.setdefault(ids.key(p.subnet.id), SubnetCase(p.vnet, p.subnet)).placements.append(p)
        return _by_vnet(cases[k] for k in sorted(cases))

    return [case for group in ctx.in_scope(ctx.shared("subnet_cases", build)) for case in group]


def workload_ref(workload: Workload) -> dict[str, str]:
    """How evidence names a protected or candidate VM."""
    return {"vm": workload.vm.name, "id": workload.vm.id, "kind": workload.kind}
