"""VM, disk and NIC rules: what Site Recovery refuses to replicate, or cannot rebuild after failover.

Protected and candidate VMs (`scope.workloads`) are judged alike and each message says which.
Limits come from `asr_audit.rules.thresholds`, so a change in Microsoft's numbers is a data change;
evidence shows today's limit beside the 2016 seed's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from asr_audit import ids
from asr_audit.findings import Finding, Severity
from asr_audit.inventory import Inventory, ProtectedItem, VirtualMachine, VmDisk
from asr_audit.rules.base import Context, RuleMeta, rule
from asr_audit.rules.common import NIC_TYPE, VM_TYPE, item_finding, item_label
from asr_audit.rules.scope import A2A, ON_PREMISES_TO_AZURE, WORKLOAD_INPUTS, Workload, vm_nics, workloads
from asr_audit.rules.thresholds import limit, seed

HYPER_V = "HyperVReplicaAzure"
A2A_MATRIX = "https://learn.microsoft.com/azure/site-recovery/azure-to-azure-support-matrix"
HYPERV_MATRIX = "https://learn.microsoft.com/azure/site-recovery/hyper-v-azure-support-matrix"
A2A_SOURCE = (
    "Support matrix for Azure VM disaster recovery between Azure regions (learn.microsoft.com, 2025-06-13)"
)
HYPERV_SOURCE = (
    "Support matrix for disaster recovery of on-premises Hyper-V VMs to Azure "
    "(learn.microsoft.com, 2020-01-27)"
)
SEED_PREREQUISITES = "seed: Prerequisites for replication using Azure Site Recovery (2016-12-11)"
GIB = 1024**3


def _unique_workloads(ctx: Context) -> Iterator[Workload]:
    """Each VM once, even when stale items in two vaults both reference it."""
    seen: set[str] = set()
    for wl in workloads(ctx):
        vm_key = ids.key(wl.vm.id)
        if vm_key not in seen:
            seen.add(vm_key)
            yield wl


def _who(wl: Workload) -> str:
    return f"{wl.kind} VM {wl.vm.name}"


def _vm_finding(
    meta: RuleMeta, wl: Workload, message: str, evidence: dict[str, Any], key: str = ""
) -> Finding:
    return meta.finding(
        resource_id=wl.vm.id,
        resource_type=VM_TYPE,
        region=wl.vm.location,
        message=message,
        evidence={"scope": wl.kind, **evidence},
        key=key,
    )


def _gb(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


# --- VM-NAME -----------------------------------------------------------------------------

VM_NAME = RuleMeta(
    id="VM-NAME",
    title="Target VM name not accepted by Site Recovery",
    severity=Severity.HIGH,
    category="machines",
    needs=WORKLOAD_INPUTS,
    rationale=(
        "Site Recovery creates the failed-over Azure VM under the target name recorded on the replicated "
        "item (recoveryAzureVMName, recoveryAzureVmName or targetVmName); when replication is enabled the "
        "default is the source machine's name. It accepts 1 to 63 letters, digits and hyphens, starting "
        "and ending with a letter or digit. Azure itself allows underscores and periods in VM names, so a "
        "valid source VM can still carry a name Site Recovery refuses: the prerequisites check fails, or "
        "the failover does."
    ),
    remediation=(
        "Set a target name of 1-63 letters, digits and hyphens that starts and ends with a letter or digit: "
        "for a replicated item in the vault under Replicated items > the item > Compute and Network > Edit "
        "(or PATCH the item's properties.recoveryAzureVMName); for a VM not yet protected, choose a valid "
        "target name in the advanced settings when you enable replication."
    ),
    docs=f"{HYPERV_MATRIX}#azure-vm-requirements",
    source=f"{HYPERV_SOURCE}, Azure VM requirements; {SEED_PREREQUISITES}",
    references=("https://learn.microsoft.com/rest/api/site-recovery/replication-protected-items/update",),
)

NAMED_ITEM_TYPES = frozenset({A2A}) | ON_PREMISES_TO_AZURE
MAX_NAME = 63


def _alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


def name_problems(name: str) -> list[str]:
    """Why Site Recovery would refuse `name` as the failed-over VM's name; empty when it is valid."""
    problems = []
    if not 1 <= len(name) <= MAX_NAME:
        problems.append(f"{len(name)} characters (1-{MAX_NAME} allowed)")
    bad = sorted({c for c in name if not (_alnum(c) or c == "-")})
    if bad:
        problems.append("characters other than letters, digits and hyphens: " + " ".join(map(repr, bad)))
    if name and not _alnum(name[0]):
        problems.append("does not start with a letter or digit")
    if name and not _alnum(name[-1]):
        problems.append("does not end with a letter or digit")
    return problems


@rule(VM_NAME)
def check_vm_name(ctx: Context) -> Iterator[Finding]:
    inventory = ctx.inventory
    for item in inventory.protected_items:
        if item.instance_type not in NAMED_ITEM_TYPES or item.recovery_vm_name is None:
            continue
        problems = name_problems(item.recovery_vm_name)
        if problems:
            yield item_finding(
                VM_NAME,
                ctx,
                item,
                message=(
                    f"Replicated item {item_label(item)} ({item.instance_type}) has target VM name "
                    f"{item.recovery_vm_name!r}: {'; '.join(problems)}."
                ),
                evidence={
                    "target_vm_name": item.recovery_vm_name,
                    "replication_type": item.instance_type,
                    "problems": problems,
                },
            )
    for wl in _unique_workloads(ctx):
        problems = name_problems(wl.vm.name) if wl.kind == "candidate" else []
        if problems:
            yield _vm_finding(
                VM_NAME,
                wl,
                f"{_who(wl)}: Site Recovery uses the source name as the target VM name by default, and "
                f"{wl.vm.name!r} is not accepted: {'; '.join(problems)}. Choose another target name when "
                "enabling replication.",
                {"target_vm_name": wl.vm.name, "problems": problems},
            )


# --- DSK-SIZE and DSK-COUNT ------------------------------------------------------------------

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
    docs=f"{A2A_MATRIX}#replicated-machines---storage",
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
    docs=f"{A2A_MATRIX}#replicated-machines---storage",
    source=f"{A2A_SOURCE}, Replicated machines - storage; {HYPERV_SOURCE}, Azure VM requirements",
    seed_value="16 disks per VM",
    references=(
        f"{HYPERV_MATRIX}#azure-vm-requirements",
        "https://learn.microsoft.com/azure/virtual-machines/sizes",
    ),
)


DiskEntry = tuple[str, str, VmDisk, bool]  # (finding key, label, disk, is_os)


def _vm_disks(vm: VirtualMachine) -> Iterator[DiskEntry]:
    """(finding key, label, disk, is_os) for each disk of the VM's storageProfile."""
    if vm.os_disk is not None:
        yield "os", "OS disk", vm.os_disk, True
    for i, disk in enumerate(vm.data_disks):
        if disk.lun is not None:
            yield f"lun:{disk.lun}", f"data disk LUN {disk.lun}", disk, False
        else:
            yield f"data:{disk.name or i}", f"data disk {disk.name or i}", disk, False


def replicated_disks(wl: Workload) -> tuple[list[DiskEntry], bool]:
    """(the disks to judge, whether that is the item's protected subset rather than all of them).

    Site Recovery replicates only the disks its item lists (`protectedManagedDisks[].diskId`, or
    `protectedDisks[].diskUri` for unmanaged ones), so a disk excluded from replication cannot
    stop it, and excluding it is the documented fix. A candidate VM is judged on all its disks;
    so is a protected one whose list is empty, names a disk without an id, or matches none of
    the VM's disks (fail closed). A VM disk with no id of its own cannot be ruled out: it stays.
    """
    disks = list(_vm_disks(wl.vm))
    listed = wl.item.protected_disks if wl.item else []
    if not listed or any(not d.disk_id for d in listed):
        return disks, False
    wanted = {ids.key(d.disk_id) for d in listed}
    chosen = [
        entry
        for entry in disks
        if not (ref := entry[2].managed_disk_id or entry[2].vhd_uri) or ids.key(ref) in wanted
    ]
    if not any(entry[2].managed_disk_id or entry[2].vhd_uri for entry in chosen):
        return disks, False
    return chosen, len(chosen) < len(disks)


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
        yield _vm_finding(
            DSK_SIZE,
            wl,
            f"{_who(wl)}: {named} ({'managed' if managed else 'unmanaged'}) is {_gb(size)} GiB; "
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
    for wl in _unique_workloads(ctx):
        yield from _vm_size_findings(ctx, wl)
    bound = limit(ctx.thresholds, "hyperv_data_disk_max_gb")
    for item in _hyperv_items(inventory):
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
    for wl in _unique_workloads(ctx):
        disks, subset = replicated_disks(wl)
        count = sum(1 for *_, is_os in disks if not is_os)
        if count > bound:
            yield _vm_finding(
                DSK_COUNT,
                wl,
                f"{_who(wl)} has {count} {'replicated ' if subset else ''}data disks; Site Recovery "
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


# --- VM-EPHEMERAL-OS and VM-UNSUPPORTED --------------------------------------------------------

VM_EPHEMERAL_OS = RuleMeta(
    id="VM-EPHEMERAL-OS",
    title="VM has an ephemeral OS disk",
    severity=Severity.HIGH,
    category="machines",
    needs=WORKLOAD_INPUTS,
    rationale=(
        "An ephemeral OS disk lives on the host's local storage and is never written to Azure Storage, "
        "so there is nothing for Site Recovery to replicate: ephemeral OS disks list Azure Site Recovery "
        "among their unsupported features. Such a VM cannot be protected."
    ),
    remediation=(
        "Protect the workload another way (rebuild it from its image or configuration in the target "
        "region), or redeploy the VM with a managed persistent OS disk (an ephemeral OS disk cannot be "
        "converted in place) and then enable replication."
    ),
    docs="https://learn.microsoft.com/azure/virtual-machines/ephemeral-os-disks#unsupported-features",
    source="Ephemeral OS disks for Azure VMs (learn.microsoft.com, 2026-09-08), Unsupported features",
    references=(f"{A2A_MATRIX}#replicated-machines---storage",),
)


@rule(VM_EPHEMERAL_OS)
def check_ephemeral_os(ctx: Context) -> Iterator[Finding]:
    for wl in _unique_workloads(ctx):
        if wl.vm.ephemeral_os_disk:
            yield _vm_finding(
                VM_EPHEMERAL_OS,
                wl,
                f"{_who(wl)} has an ephemeral OS disk (storageProfile.osDisk.diffDiskSettings): "
                "Site Recovery cannot replicate it.",
                {"os_disk": wl.vm.os_disk.name if wl.vm.os_disk else None},
            )


VM_UNSUPPORTED = RuleMeta(
    id="VM-UNSUPPORTED",
    title="VM uses a feature Site Recovery does not support",
    severity=Severity.HIGH,
    category="machines",
    needs=WORKLOAD_INPUTS,
    rationale=(
        "The Azure-to-Azure support matrix lists features Site Recovery cannot replicate or recreate: "
        "disks with write accelerator enabled, VMs on Azure Dedicated Hosts, and Palo Alto Networks "
        "appliances (their image blocks the agent and outbound connectivity replication needs). Its "
        "operating-system tables list only x64 / x86_64 systems, so Arm64 VMs (sizes with the 'p' "
        "feature letter, such as Standard_D2ps_v5) have no supported OS. Any of these stops the VM from "
        "being protected."
    ),
    remediation=(
        "Per reason: turn write accelerator off on the disk if the workload can do without it; "
        "move the VM off its dedicated host; move the workload to an x64 size; protect a Palo Alto "
        "appliance with the vendor's own high-availability design instead of Site Recovery."
    ),
    docs=A2A_MATRIX,
    source=f"{A2A_SOURCE}, compute settings, storage and networking tables",
    references=(
        "https://learn.microsoft.com/azure/virtual-machines/vm-naming-conventions",
        "https://learn.microsoft.com/azure/virtual-machines/how-to-enable-write-accelerator",
    ),
)

# [Family][Subfamily][vCPUs][-constrained vCPUs][additive features]...: features follow the digits.
_SIZE_FEATURES = re.compile(r"^[A-Za-z]+_[A-Za-z]+\d+(?:-\d+)?([A-Za-z]*)")
PALO_ALTO_PUBLISHER = "paloaltonetworks"


def is_arm64_size(vm_size: str | None) -> bool:
    """True for sizes with the 'p' (Arm CPU) feature letter: Standard_D2ps_v5, Standard_E4pds_v5."""
    match = _SIZE_FEATURES.match(vm_size or "")
    return bool(match) and "p" in match.group(1).lower()


def unsupported_reasons(wl: Workload) -> tuple[list[str], dict[str, Any]]:
    """Each unsupported feature of the workload's VM as a sentence, and the facts behind them.
    Write accelerator counts only on disks that are (or would be) replicated."""
    vm = wl.vm
    reasons: list[str] = []
    facts: dict[str, Any] = {}
    disks, _ = replicated_disks(wl)
    accelerated = [label for _, label, disk, _ in disks if disk.write_accelerator_enabled]
    if accelerated:
        reasons.append(f"write accelerator enabled on {', '.join(accelerated)}")
        facts["write_accelerator_disks"] = accelerated
    host = vm.host_id or vm.host_group_id
    if host:
        reasons.append(f"runs on Azure Dedicated Host {ids.name_of(host)}")
        facts["host_id"], facts["host_group_id"] = vm.host_id, vm.host_group_id
    if is_arm64_size(vm.vm_size):
        reasons.append(f"Arm64 size {vm.vm_size}")
        facts["vm_size"] = vm.vm_size
    if (vm.plan_publisher or "").lower() == PALO_ALTO_PUBLISHER:
        reasons.append(f"Palo Alto Networks appliance (plan {vm.plan_product or 'unknown product'})")
        facts["plan_publisher"], facts["plan_product"] = vm.plan_publisher, vm.plan_product
    return reasons, facts


@rule(VM_UNSUPPORTED)
def check_unsupported(ctx: Context) -> Iterator[Finding]:
    for wl in _unique_workloads(ctx):
        reasons, facts = unsupported_reasons(wl)
        if reasons:
            yield _vm_finding(
                VM_UNSUPPORTED,
                wl,
                f"{_who(wl)} cannot be replicated by Site Recovery: {'; '.join(reasons)}.",
                {"reasons": reasons, **facts},
            )


# --- NIC-ASG ------------------------------------------------------------------------------------

NIC_ASG = RuleMeta(
    id="NIC-ASG",
    title="NIC is in an application security group that failover will not carry over",
    severity=Severity.MEDIUM,
    category="machines",
    needs=(*WORKLOAD_INPUTS, "network_interfaces"),
    rationale=(
        "Site Recovery recreates a failed-over VM's NICs in the recovery VNet and re-associates NSGs "
        "only when told to; its support matrix says nothing of application security groups, and an ASG "
        "can only hold NICs of one virtual network, so the source ASG cannot take the new NIC. NSG "
        "rules that allow or deny traffic by ASG then no longer match the failed-over VM until "
        "equivalent ASGs exist in the recovery region and the NIC joins them."
    ),
    remediation=(
        "Create matching ASGs (and the NSG rules that use them) in the recovery region ahead of time, and "
        "add the NIC to them after failover, for example with an Azure Automation runbook in the recovery "
        "plan; or express those NSG rules with address prefixes that hold in both regions."
    ),
    docs="https://learn.microsoft.com/azure/virtual-network/application-security-groups",
    source=(
        f"{A2A_SOURCE}, Replicated machines - networking (lists NSGs, not ASGs); "
        "Application security groups (learn.microsoft.com)"
    ),
    references=(f"{A2A_MATRIX}#replicated-machines---networking",),
)


@rule(NIC_ASG)
def check_nic_asg(ctx: Context) -> Iterator[Finding]:
    for wl in _unique_workloads(ctx):
        for nic in vm_nics(ctx, wl.vm):
            groups = {
                ipc.name: ipc.application_security_group_ids
                for ipc in nic.ip_configurations
                if ipc.application_security_group_ids
            }
            if not groups:
                continue
            names = sorted({ids.name_of(g) for ids_ in groups.values() for g in ids_})
            yield NIC_ASG.finding(
                resource_id=nic.id,
                resource_type=NIC_TYPE,
                region=nic.location,
                message=(
                    f"NIC {nic.name} of {_who(wl)} is in application security group(s) {', '.join(names)}; "
                    "the failed-over NIC will not be, so NSG rules that name them stop applying."
                ),
                evidence={"scope": wl.kind, "vm": wl.vm.id, "ip_configurations": groups},
            )
