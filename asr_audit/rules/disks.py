"""Disk rules (DSK-SIZE, DSK-COUNT): disks Site Recovery cannot replicate, by size and number.

Limits come from `asr_audit.rules.thresholds`, so a change in Microsoft's numbers is a data change;
evidence shows today's limit beside the 2016 seed's. Only the disks replication covers are judged
(`common.disks.replicated_disks`).
"""

from __future__ import annotations

from collections.abc import Iterator

from asr_audit import ids
from asr_audit.findings import Finding, RuleMeta, Severity
from asr_audit.inventory import Inventory, ProtectedItem, VmDisk
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common.audited import WORKLOAD_INPUTS, Workload, unique_workloads
from asr_audit.rules.common.disks import replicated_disks
from asr_audit.rules.common.documents import A2A_MATRIX, A2A_SOURCE, HYPERV_MATRIX, HYPERV_SOURCE
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
    needs=(*WORKLOAD_INPUTS, "disks"),
    rationale=(
        "Site Recovery replicates Azure VM OS disks up to 4,095 GiB, managed data disks up to 32,767 GiB "
        "(32 TiB), unmanaged data disks up to 4,095 GiB, and managed disks of at least 1 GiB; Hyper-V VMs "
        "replicating to Azure may have data disk VHDs up to 4,095 GB. A disk outside these limits cannot "
        "be protected, so the VM cannot be enabled for replication or its disk is left out. The 2016 "
        "prerequisites allowed only 1,023 GB per disk; that limit is long gone."
    ),
    remediation=(
        "Bring the disk within the limit (a disk cannot shrink: move the data to disks of a supported "
        "size), or exclude the disk from replication if its data is not needed after failover. "
        "Limits are configurable (--config thresholds) should Microsoft raise them."
    ),
    microsoft_docs=f"{A2A_MATRIX}#replicated-machines---storage",
    source=f"{A2A_SOURCE}, Replicated machines - storage; {HYPERV_SOURCE}, Azure VM requirements",
    seed_value="1,023 GB per disk",
    references=(f"{HYPERV_MATRIX}#azure-vm-requirements",),
)

DSK_COUNT = RuleMeta(
    id="DSK-COUNT",
    title="More data disks than Site Recovery replicates",
    severity=Severity.HIGH,
    category="machines",
    needs=WORKLOAD_INPUTS,
    rationale=(
        "Site Recovery replicates up to 64 data disks on an Azure VM (as far as its size allows) and up "
        "to 16 data disks on a Hyper-V VM replicating to Azure. A VM with more cannot be enabled for "
        "replication as it stands. The 2016 prerequisites allowed 16 disks for every scenario; for "
        "Hyper-V that is still the limit."
    ),
    remediation=(
        "Consolidate data onto fewer, larger disks, or exclude disks whose data need not survive a failover "
        "(Advanced settings > Storage settings > Disks to replicate when enabling replication)."
    ),
    microsoft_docs=f"{A2A_MATRIX}#replicated-machines---storage",
    source=f"{A2A_SOURCE}, Replicated machines - storage; {HYPERV_SOURCE}, Azure VM requirements",
    seed_value="16 disks per VM",
    references=(
        f"{HYPERV_MATRIX}#azure-vm-requirements",
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


def _hyperv_items(inventory: Inventory) -> Iterator[ProtectedItem]:
    return (i for i in inventory.protected_items if i.instance_type == HYPER_V)


@rule(DSK_SIZE)
def check_disk_size(ctx: Context) -> Iterator[Finding]:
    inventory = ctx.inventory
    for wl in unique_workloads(ctx):
        if all(_disk_size(ctx, disk) is not None for _, _, disk, _ in replicated_disks(wl)[0]):
            examined_vm(DSK_SIZE, ctx, wl)
        yield from _vm_size_findings(ctx, wl)
    bound = limit(ctx.thresholds, "hyperv_data_disk_max_gb")
    for item in _hyperv_items(inventory):
        if all(disk.disk_capacity_bytes is not None for disk in item.protected_disks):
            examined_item(DSK_SIZE, ctx, item)
        for i, disk in enumerate(item.protected_disks):
            if disk.disk_capacity_bytes is None or disk.disk_capacity_bytes / GIB <= bound:
                continue
            size = disk.disk_capacity_bytes / GIB
            name = ids.name_of(disk.disk_id) if disk.disk_id else f"#{i}"
            yield item_finding(
                DSK_SIZE,
                ctx,
                item,
                message=(
                    f"Hyper-V VM {item_label(item)}: disk {name} is {_gb(size)} GB, above the "
                    f"{_gb(bound)} GB a Hyper-V disk replicating to Azure may have "
                    f"(the 2016 prerequisites said {_gb(seed('hyperv_data_disk_max_gb') or 0)} GB)."
                ),
                evidence={
                    "replication_type": HYPER_V,
                    "disk_id": disk.disk_id,
                    "size_gb": round(size, 1),
                    "limit_gb": bound,
                    "threshold": "hyperv_data_disk_max_gb",
                    "seed_limit_gb": seed("hyperv_data_disk_max_gb"),
                },
                key=f"disk:{disk.disk_id or i}",
            )


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
    hv_bound = limit(ctx.thresholds, "hyperv_data_disk_count_max")
    for item in _hyperv_items(inventory):
        # Hyper-V to Azure allows exactly one OS disk; the rest of the replicated disks are data disks.
        examined_item(DSK_COUNT, ctx, item)
        count = len(item.protected_disks) - 1
        if count > hv_bound:
            yield item_finding(
                DSK_COUNT,
                ctx,
                item,
                message=(
                    f"Hyper-V VM {item_label(item)} replicates {count} data disks (plus its OS disk); "
                    f"Hyper-V to Azure allows at most {hv_bound}."
                ),
                evidence={
                    "replication_type": HYPER_V,
                    "data_disks": count,
                    "limit": hv_bound,
                    "seed_limit": seed("hyperv_data_disk_count_max"),
                },
            )
