"""Disk rules (DSK-SIZE, DSK-COUNT): disks Site Recovery cannot replicate, by size and number.

Limits come from `asr_audit.rules.thresholds`, so a change in Microsoft's numbers is a data change;
evidence shows today's limit beside the 2016 seed's. Only the disks replication covers are judged
(`common.disks.replicated_disks`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from asr_audit import ids
from asr_audit.findings import Finding, FindingStatus, RuleMeta, Severity
from asr_audit.inventory import ProtectedItem, VmDisk
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common.audited import WORKLOAD_INPUTS, Workload, unique_workloads
from asr_audit.rules.common.disks import replicated_disks
from asr_audit.rules.common.documents import (
    A2A_MATRIX,
    A2A_SOURCE,
    HYPERV_MATRIX,
    HYPERV_SOURCE,
    VMWARE_MATRIX,
    VMWARE_SOURCE,
)
from asr_audit.rules.common.naming import (
    examined_item,
    examined_vm,
    item_finding,
    item_label,
    vm_finding,
    vm_label,
)
from asr_audit.rules.thresholds import limit, seed

HYPER_V = "HyperVReplicaAzure"
GIB = 1024**3


def _gb(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


DSK_SIZE = RuleMeta(
    id="DSK-SIZE",
    title="Disk size outside what Site Recovery replicates",
    severity=Severity.HIGH,
    category="machines",
    # protectable_items: a Hyper-V VM's generation, which sets its OS disk limit
    needs=(*WORKLOAD_INPUTS, "disks", "protectable_items"),
    rationale=(
        "Site Recovery replicates Azure VM OS disks up to 4,095 GiB, managed data disks up to 32,767 GiB "
        "(32 TiB), unmanaged data disks up to 4,095 GiB, and managed disks of at least 1 GiB; Hyper-V VMs "
        "replicating to Azure may have data disk VHDs up to 4,095 GB and an OS disk up to 2,048 GB "
        "(generation 1) or 300 GB (generation 2); VMware VMs and physical servers an OS disk up to "
        "2,048 GB and managed data disks up to 8,192 GB. A Hyper-V VM's generation is read from its "
        "protectable item, as the replicated item does not carry it. A disk outside these limits cannot "
        "be protected, so the VM cannot be enabled for replication or its disk is left out. The 2016 "
        "prerequisites allowed only 1,023 GB per disk; that limit is long gone."
    ),
    remediation=(
        "Bring the disk within the limit (a disk cannot shrink: move the data to disks of a supported "
        "size), or exclude the disk from replication if its data is not needed after failover. "
        "Limits are configurable (--config thresholds) should Microsoft raise them."
    ),
    microsoft_docs=f"{A2A_MATRIX}#replicated-machines---storage",
    source=(
        f"{A2A_SOURCE}, Replicated machines - storage; {HYPERV_SOURCE}, Azure VM requirements "
        f"(OS disk limits: its 2018-08-01 copy); {VMWARE_SOURCE}, Azure VM requirements"
    ),
    seed_value="1,023 GB per disk",
    references=(f"{HYPERV_MATRIX}#azure-vm-requirements", f"{VMWARE_MATRIX}#azure-vm-requirements"),
)

DSK_COUNT = RuleMeta(
    id="DSK-COUNT",
    title="More data disks than Site Recovery replicates",
    severity=Severity.HIGH,
    category="machines",
    needs=WORKLOAD_INPUTS,
    rationale=(
        "Site Recovery replicates up to 64 data disks on an Azure VM (as far as its size allows) or on a "
        "VMware VM or physical server replicating to Azure, and up to 16 data disks on a Hyper-V VM "
        "replicating to Azure. A VM with more cannot be enabled for replication as it stands (the "
        "on-premises prerequisites check fails). The 2016 prerequisites allowed 16 disks for every "
        "scenario; for Hyper-V that is still the limit."
    ),
    remediation=(
        "Consolidate data onto fewer, larger disks, or exclude disks whose data need not survive a failover "
        "(Advanced settings > Storage settings > Disks to replicate when enabling replication)."
    ),
    microsoft_docs=f"{A2A_MATRIX}#replicated-machines---storage",
    source=(
        f"{A2A_SOURCE}, Replicated machines - storage; {HYPERV_SOURCE}, Azure VM requirements; "
        f"{VMWARE_SOURCE}, Azure VM requirements: 'Data disk count | 64 or less. | Check fails if "
        "unsupported.'"
    ),
    seed_value="16 disks per VM",
    references=(
        f"{HYPERV_MATRIX}#azure-vm-requirements",
        f"{VMWARE_MATRIX}#azure-vm-requirements",
        "https://learn.microsoft.com/azure/virtual-machines/sizes",
    ),
)


def _disk_size(ctx: Context, disk: VmDisk) -> int | None:
    """The VM's own `diskSizeGB`, else the managed disk resource's (the VM list often omits it)."""
    if disk.disk_size_gb is not None:
        return disk.disk_size_gb
    managed = ctx.index.disks.get(ids.key(disk.managed_disk_id)) if disk.managed_disk_id else None
    return managed.disk_size_gb if managed else None


def _size_limit_key(is_os: bool, managed: bool) -> str:
    if is_os:
        return "os_disk_max_gib"
    return "managed_data_disk_max_gib" if managed else "unmanaged_data_disk_max_gib"


_SIZE_LIMIT_PHRASE = {
    "os_disk_max_gib": "the largest OS disk",
    "managed_data_disk_max_gib": "the largest managed data disk",
    "unmanaged_data_disk_max_gib": "the largest unmanaged data disk",
    "managed_disk_min_gib": "the smallest managed disk",
}


def _size_bound(ctx: Context, size: int, is_os: bool, managed: bool) -> str | None:
    """The threshold key `size` breaks, if any."""
    max_key = _size_limit_key(is_os, managed)
    if size > limit(ctx.thresholds, max_key):
        return max_key
    if managed and size < limit(ctx.thresholds, "managed_disk_min_gib"):
        return "managed_disk_min_gib"
    return None


def _vm_size_findings(ctx: Context, wl: Workload) -> Iterator[Finding]:
    disks, _ = replicated_disks(wl)
    for key, label, disk, is_os in disks:
        size = _disk_size(ctx, disk)
        managed = disk.vhd_uri is None
        bound_key = _size_bound(ctx, size, is_os, managed) if size is not None else None
        if size is None or bound_key is None:
            continue
        bound, seed_limit = limit(ctx.thresholds, bound_key), seed(bound_key)
        named = f"{label} {disk.name}" if disk.name else label
        seed_note = f" (the 2016 prerequisites said {_gb(seed_limit)} GB)" if seed_limit else ""
        yield vm_finding(
            DSK_SIZE,
            wl,
            f"{vm_label(wl)}: {named} ({'managed' if managed else 'unmanaged'}) is {_gb(size)} GiB; "
            f"{_SIZE_LIMIT_PHRASE[bound_key]} Site Recovery replicates is {_gb(bound)} GiB{seed_note}.",
            {
                "disk": label,
                "disk_name": disk.name,
                "managed_disk_id": disk.managed_disk_id,
                "managed": managed,
                "size_gib": size,
                "limit_gib": bound,
                "threshold": bound_key,
                "seed_limit_gb": seed_limit,
            },
            key=key,
        )


@dataclass(frozen=True, slots=True)
class _OnPremLimits:
    """Threshold keys one on-premises scenario holds a replicated disk to. `os_keys` are every OS
    disk limit a machine of the scenario may have: where it is not known which applies (a Hyper-V
    VM whose generation was not read), an OS disk is sure to break only the largest and sure to
    pass only the smallest."""

    machine: str  # how messages name the machine
    os_keys: tuple[str, ...]
    data_key: str
    count_key: str  # the most data disks (DSK-COUNT)
    scenario: str  # how DSK-COUNT's message names the replication


_ON_PREM = {
    HYPER_V: _OnPremLimits(
        "Hyper-V VM",
        ("hyperv_os_disk_max_gb", "hyperv_gen2_os_disk_max_gb"),
        "hyperv_data_disk_max_gb",
        "hyperv_data_disk_count_max",
        "Hyper-V to Azure",
    ),
    **{
        kind: _OnPremLimits(
            "VMware VM / physical server",
            ("vmware_os_disk_max_gb",),
            "vmware_data_disk_max_gb",
            "vmware_data_disk_count_max",
            "VMware / physical to Azure",
        )
        for kind in ("InMageAzureV2", "InMageRcm")
    },
}
_ROLE = {True: "OS disk", False: "data disk", None: "disk"}
_ON_PREM_PHRASE = {
    "hyperv_os_disk_max_gb": "the largest OS disk of a Hyper-V VM (generation 1; generation 2 allows less)",
    "hyperv_gen2_os_disk_max_gb": "the largest OS disk of a generation 2 Hyper-V VM",
    "hyperv_data_disk_max_gb": "the largest Hyper-V disk",
    "vmware_os_disk_max_gb": "the largest OS disk of a VMware VM or physical server",
    "vmware_data_disk_max_gb": "the largest managed data disk of a VMware VM or physical server",
}


def _on_prem_verdict(
    ctx: Context, limits: _OnPremLimits, size: float, is_os: bool | None
) -> tuple[bool, str | None]:
    """Whether a disk of `size` GB is decided, and the threshold key it breaks if so. It breaks one
    only when above every limit its role (unknown: OS or data) and the VM's generation allow, and
    passes only when within all of them; in between the verdict hangs on what the item omits."""
    keys = (
        (*limits.os_keys, limits.data_key)
        if is_os is None
        else limits.os_keys
        if is_os
        else (limits.data_key,)
    )
    most = max(keys, key=lambda k: limit(ctx.thresholds, k))
    if size > limit(ctx.thresholds, most):
        return True, most
    return size <= min(limit(ctx.thresholds, k) for k in keys), None


# A Hyper-V VM's OS disk limits by generation; None: the generation is not known, so either applies.
_HYPERV_OS_KEYS: dict[int | None, tuple[str, ...]] = {
    1: ("hyperv_os_disk_max_gb",),
    2: ("hyperv_gen2_os_disk_max_gb",),
    None: ("hyperv_os_disk_max_gb", "hyperv_gen2_os_disk_max_gb"),
}


@dataclass(frozen=True, slots=True)
class _Generations:
    """What the protectable items said, once per analysis: the VM generation by the id key of the
    replicated item (`replicationProtectedItemId`) and of the protectable item itself (the replicated
    item's `protectableItemId`), and the containers whose protectable items were read without a gap."""

    by_id: dict[str, int | None]
    read: frozenset[str]


def _generations(ctx: Context) -> _Generations:

    def build() -> _Generations:
        by_id: dict[str, int | None] = {}
        for p in ctx.inventory.protectable_items:
            by_id[ids.key(p.id)] = p.generation
            if p.replicated_item_id:
                by_id[ids.key(p.replicated_item_id)] = p.generation
        read = frozenset(
            ids.key(c.object_id)
            for c in ctx.inventory.coverage
            if c.kind == "protectable_items" and c.object_id and not c.is_gap
        )
        return _Generations(by_id, read)

    return ctx.shared("hyperv_generations", build)


def _generation(ctx: Context, item: ProtectedItem) -> tuple[int | None, bool]:
    """(the Hyper-V VM's generation, whether its protectable items were read). A generation absent
    from a body that was read leaves the OS disk undecided between the two limits, as an item not
    listed there does; a container whose list failed, was cut short or was never read (an older
    snapshot) makes it unknown: that read is where a generation 2 VM would have shown."""
    known = _generations(ctx)
    for ref in (item.id, item.protectable_item_id):
        if ref and ids.key(ref) in known.by_id:
            return known.by_id[ids.key(ref)], True
    return None, ids.key(ids.parent_of(item.id)) in known.read


def _on_prem_size_findings(ctx: Context, item: ProtectedItem, limits: _OnPremLimits) -> Iterator[Finding]:
    """Findings for an on-premises item's replicated disks; the item counts as examined only when
    every disk's size and, where it matters, role and generation settle its verdict."""
    generation, generation_read = None, True
    if item.instance_type == HYPER_V:
        generation, generation_read = _generation(ctx, item)
        limits = replace(limits, os_keys=_HYPERV_OS_KEYS[generation])
    decided = True
    for i, disk in enumerate(item.protected_disks):
        if disk.disk_capacity_bytes is None:
            decided = False
            continue
        size = disk.disk_capacity_bytes / GIB
        disk_decided, bound_key = _on_prem_verdict(ctx, limits, size, disk.is_os_disk)
        decided = decided and disk_decided
        name = ids.name_of(disk.disk_id) if disk.disk_id else f"#{i}"
        if not disk_decided and disk.is_os_disk and not generation_read:
            yield _generation_unknown(ctx, item, name, disk.disk_id, size, key=f"disk:{disk.disk_id or i}")
        if bound_key is None:
            continue
        bound, seed_limit = limit(ctx.thresholds, bound_key), seed(bound_key)
        seed_note = f" (the 2016 prerequisites said {_gb(seed_limit)} GB)" if seed_limit else ""
        yield item_finding(
            DSK_SIZE,
            ctx,
            item,
            message=(
                f"{limits.machine} {item_label(item)}: {_ROLE[disk.is_os_disk]} {name} is {_gb(size)} GB; "
                f"{_ON_PREM_PHRASE[bound_key]} Site Recovery replicates is {_gb(bound)} GB{seed_note}."
            ),
            evidence={
                "replication_type": item.instance_type,
                "disk_id": disk.disk_id,
                "os_disk": disk.is_os_disk,
                "size_gb": round(size, 1),
                "limit_gb": bound,
                "threshold": bound_key,
                "seed_limit_gb": seed_limit,
                **({"generation": generation} if generation else {}),
            },
            key=f"disk:{disk.disk_id or i}",
        )
    if decided:
        examined_item(DSK_SIZE, ctx, item)


def _generation_unknown(
    ctx: Context, item: ProtectedItem, name: str, disk_id: str | None, size: float, key: str
) -> Finding:
    """A Hyper-V OS disk between the two generations' limits whose VM generation was not read."""
    gen1, gen2 = (limit(ctx.thresholds, k) for k in _HYPERV_OS_KEYS[None])
    container = ids.parent_of(item.id)
    return item_finding(
        DSK_SIZE,
        ctx,
        item,
        message=(
            f"Hyper-V VM {item_label(item)}: OS disk {name} is {_gb(size)} GB; Site Recovery replicates up "
            f"to {_gb(gen1)} GB on a generation 1 VM but {_gb(gen2)} GB on a generation 2 VM, and the "
            f"VM's generation was not read (the protectable items of container {ids.name_of(container)}), "
            "so whether this disk can be replicated is unknown."
        ),
        evidence={
            "replication_type": item.instance_type,
            "disk_id": disk_id,
            "os_disk": True,
            "size_gb": round(size, 1),
            "limit_gb_generation_1": gen1,
            "limit_gb_generation_2": gen2,
            "protection_container": container,
        },
        key=key,
        status=FindingStatus.UNKNOWN,
    )


@rule(DSK_SIZE)
def check_disk_size(ctx: Context) -> Iterator[Finding]:
    for wl in unique_workloads(ctx):
        if all(_disk_size(ctx, disk) is not None for _, _, disk, _ in replicated_disks(wl)[0]):
            examined_vm(DSK_SIZE, ctx, wl)
        yield from _vm_size_findings(ctx, wl)
    for item in ctx.inventory.protected_items:
        limits = _ON_PREM.get(item.instance_type or "")
        if limits:
            yield from _on_prem_size_findings(ctx, item, limits)


@rule(DSK_COUNT)
def check_disk_count(ctx: Context) -> Iterator[Finding]:
    inventory = ctx.inventory
    bound = limit(ctx.thresholds, "data_disk_count_max")
    for wl in unique_workloads(ctx):
        examined_vm(DSK_COUNT, ctx, wl)
        disks, subset = replicated_disks(wl)
        count = sum(1 for *_, is_os in disks if not is_os)
        if count > bound:
            yield vm_finding(
                DSK_COUNT,
                wl,
                f"{vm_label(wl)} has {count} {'replicated ' if subset else ''}data disks; Site Recovery "
                f"replicates at most {bound} (the 2016 prerequisites said {seed('data_disk_count_max')}).",
                {
                    "data_disks": count,
                    "limit": bound,
                    "seed_limit": seed("data_disk_count_max"),
                    **({"replicated_only": True} if subset else {}),
                },
            )
    for item in inventory.protected_items:
        limits = _ON_PREM.get(item.instance_type or "")
        if limits is None:
            continue
        if not item.protected_disks:
            continue  # an item that lists no disks says nothing of their number: not judged, not passed
        # Both matrices allow exactly one OS disk ("Operating system disk count | 1"), so the rest
        # of the replicated disks are data disks, whether or not the item says which is the OS disk.
        examined_item(DSK_COUNT, ctx, item)
        count, bound = len(item.protected_disks) - 1, limit(ctx.thresholds, limits.count_key)
        if count > bound:
            yield item_finding(
                DSK_COUNT,
                ctx,
                item,
                message=(
                    f"{limits.machine} {item_label(item)} replicates {count} data disks (plus its OS "
                    f"disk); {limits.scenario} allows at most {bound}."
                ),
                evidence={
                    "replication_type": item.instance_type,
                    "data_disks": count,
                    "limit": bound,
                    "seed_limit": seed(limits.count_key),
                },
            )
