"""VM and NIC rules: what Site Recovery refuses to replicate, or cannot rebuild after failover.

Protected and candidate VMs (`scope.workloads`) are judged alike and each message says which;
VM-NAME judges only on-premises items, the only ones whose matrices restrict the name.
The disk limits (DSK-*) are in `rules.disks`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from asr_audit import ids
from asr_audit.findings import Finding, FindingStatus, RuleMeta, Severity
from asr_audit.inventory import Disk, VirtualMachine, VmSku
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common.audited import (
    ON_PREMISES_TO_AZURE,
    WORKLOAD_INPUTS,
    Workload,
    unique_workloads,
    vm_nics,
)
from asr_audit.rules.common.dates import day, parse_time
from asr_audit.rules.common.disks import replicated_disks
from asr_audit.rules.common.documents import (
    A2A_MATRIX,
    A2A_SOURCE,
    HYPERV_MATRIX,
    HYPERV_SOURCE,
    SEED_PREREQUISITES,
    TRUSTED_LAUNCH_DOC,
    TRUSTED_LAUNCH_SOURCE,
    VMWARE_MATRIX,
    VMWARE_SOURCE,
)
from asr_audit.rules.common.naming import (
    NIC_TYPE,
    examined_item,
    examined_vm,
    item_finding,
    item_label,
    vm_finding,
    vm_label,
)

# --- VM-NAME -----------------------------------------------------------------------------

VM_NAME = RuleMeta(
    id="VM-NAME",
    title="Target VM name not accepted by Site Recovery",
    severity=Severity.HIGH,
    category="machines",
    needs=("protected_items",),
    rationale=(
        "Site Recovery creates the failed-over Azure VM of an on-premises machine (Hyper-V, VMware, "
        "physical) under the target name recorded on the replicated item (recoveryAzureVmName or "
        "targetVmName), by default the source machine's name. The Hyper-V and VMware/physical support "
        "matrices require 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit; "
        "an on-premises machine name easily breaks that (underscores, periods), and the failover does. "
        "The Azure-to-Azure support matrix sets no such requirement, so A2A items and readiness "
        "candidates are not judged."
    ),
    remediation=(
        "Set a target name of 1-63 letters, digits and hyphens that starts and ends with a letter or digit: "
        "in the vault under Replicated items > the item > Compute and Network > Edit (or PATCH the item's "
        "properties.recoveryAzureVMName)."
    ),
    microsoft_docs=f"{HYPERV_MATRIX}#azure-vm-requirements",
    source=(
        f"{HYPERV_SOURCE}, Azure VM requirements; {VMWARE_SOURCE}, Azure VM requirements; "
        f"{SEED_PREREQUISITES}; no name requirement in the {A2A_SOURCE}"
    ),
    references=(
        f"{VMWARE_MATRIX}#azure-vm-requirements",
        "https://learn.microsoft.com/rest/api/site-recovery/replication-protected-items/update",
    ),
)

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
    # Only the on-premises matrices restrict the name: an A2A item or candidate is not examined at all,
    # so it is never listed as passed either.
    for item in ctx.inventory.protected_items:
        if item.instance_type not in ON_PREMISES_TO_AZURE or item.recovery_vm_name is None:
            continue
        examined_item(VM_NAME, ctx, item)
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
    microsoft_docs="https://learn.microsoft.com/azure/virtual-machines/ephemeral-os-disks#unsupported-features",
    source="Ephemeral OS disks for Azure VMs (learn.microsoft.com, 2026-09-08), Unsupported features",
    references=(f"{A2A_MATRIX}#replicated-machines---storage",),
)


@rule(VM_EPHEMERAL_OS)
def check_ephemeral_os(ctx: Context) -> Iterator[Finding]:
    for wl in unique_workloads(ctx):
        examined_vm(VM_EPHEMERAL_OS, ctx, wl)
        if wl.vm.ephemeral_os_disk:
            yield vm_finding(
                VM_EPHEMERAL_OS,
                wl,
                f"{vm_label(wl)} has an ephemeral OS disk (storageProfile.osDisk.diffDiskSettings): "
                "Site Recovery cannot replicate it.",
                {"os_disk": wl.vm.os_disk.name if wl.vm.os_disk else None},
            )


VM_UNSUPPORTED = RuleMeta(
    id="VM-UNSUPPORTED",
    title="VM uses a feature Site Recovery does not support",
    severity=Severity.HIGH,
    other_severities=(Severity.MEDIUM,),
    category="machines",
    needs=(*WORKLOAD_INPUTS, "vm_skus"),  # a size's vCPUs and CPU architecture
    rationale=(
        "The Azure-to-Azure support matrix lists features Site Recovery cannot replicate or recreate: "
        "disks with write accelerator enabled, the NVMe storage interface, VMs on Azure Dedicated Hosts, "
        "Palo Alto Networks appliances (their image blocks the agent and outbound connectivity replication "
        "needs) and, in its 01/01/2026 revision, VMs created on Arm64 CPU architecture. Site Recovery's "
        "trusted launch page supports Linux Trusted Launch VMs only when created after 1 April 2024. Any "
        "of these stops the VM from being protected (high). Encryption at host is 'Not Supported' in a "
        "softer sense: the VM is protected, but the failed-over VM runs without it (medium)."
    ),
    remediation=(
        "Per reason: turn write accelerator off on the disk if the workload can do without it; move the "
        "workload to a VM with a SCSI disk controller; move the VM off its dedicated host; move the "
        "workload to an x64 size; protect a Palo Alto appliance with the vendor's own high-availability "
        "design instead of Site Recovery; rebuild a Linux Trusted Launch VM created before 2024-04-01 "
        "from its disks; enable encryption at host on the failed-over VM after failover."
    ),
    microsoft_docs=A2A_MATRIX,
    source=(
        f"{A2A_SOURCE}, compute settings, storage and networking tables; Arm64: its operating systems "
        'section, "Site Recovery doesn\'t support VMs created on ARM64 CPU architecture"; '
        f"{TRUSTED_LAUNCH_SOURCE}, VM creation time"
    ),
    references=(
        TRUSTED_LAUNCH_DOC,
        "https://learn.microsoft.com/azure/virtual-machines/vm-naming-conventions",
        "https://learn.microsoft.com/azure/virtual-machines/how-to-enable-write-accelerator",
    ),
)

# [Family][Subfamily][vCPUs][-constrained vCPUs][additive features]...: features follow the digits.
_SIZE_FEATURES = re.compile(r"^[A-Za-z]+_[A-Za-z]+\d+(?:-\d+)?([A-Za-z]*)")
PALO_ALTO_PUBLISHER = "paloaltonetworks"
# Compute settings: "Any Azure VM size with at least two CPU cores and 1-GB RAM."
MIN_CORES = 2
# "Only Linux Trusted VMs created after 1-Apr-2024 are supported": a VM created on that day is taken
# as supported, the reading that cannot report a VM Site Recovery accepts.
LINUX_TRUSTED_LAUNCH_SINCE = datetime(2024, 4, 1, tzinfo=timezone.utc)


def is_arm64_size(vm_size: str | None) -> bool:
    """True for sizes with the 'p' (Arm CPU) feature letter: Standard_D2ps_v5, Standard_E4pds_v5."""
    match = _SIZE_FEATURES.match(vm_size or "")
    return match is not None and "p" in match.group(1).lower()


@dataclass(slots=True)
class Unsupported:
    """What VM-UNSUPPORTED found on one VM: reasons that stop protection, reasons the failed-over VM
    loses, the fix of each, and what it could not tell."""

    blocking: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    undecided: str | None = None

    def block(self, reason: str, fix: str, **facts: Any) -> None:
        self.blocking.append(reason)
        self.fixes.append(fix)
        self.facts.update(facts)


def _linux_trusted_launch(vm: VirtualMachine, found: Unsupported) -> None:
    """Linux Trusted Launch VMs count by creation date; a VM whose OS type or creation time ARM did
    not report stays undecided rather than passed or failed."""
    if (vm.security_type or "").lower() != "trustedlaunch" or (vm.os_type or "linux").lower() != "linux":
        return
    created = parse_time(vm.time_created)
    if created is None or vm.os_type is None:
        found.undecided = (
            "a Trusted Launch VM whose OS type or creation time (properties.timeCreated) ARM did not "
            "report: Linux Trusted Launch VMs created before 2024-04-01 are not supported"
        )
    elif created < LINUX_TRUSTED_LAUNCH_SINCE:
        found.block(
            f"Linux Trusted Launch VM created {day(created)}, before 2024-04-01",
            "rebuild the VM from its disks as a new Trusted Launch (or Standard) VM and protect that",
            time_created=vm.time_created,
            security_type=vm.security_type,
        )


def size_capabilities(ctx: Context) -> dict[str, VmSku]:
    """The collected `Microsoft.Compute/skus` entries by size name, once per analysis. The list
    is read for each source region (where a VM's own size is listed) and each recovery region
    (PLC-TARGET-SKU's read); a size's CPU architecture and vCPUs are the same in every region,
    so an entry from either describes the VM's size."""

    def build() -> dict[str, VmSku]:
        found: dict[str, VmSku] = {}
        for sku in ctx.inventory.vm_skus:
            found.setdefault(sku.name.lower(), sku)
        return found

    return ctx.shared("size_capabilities", build)


def _linux_trusted_shared_disks(wl: Workload, disks: Mapping[str, Disk], found: Unsupported) -> None:
    """The trusted launch page: "Trusted virtual machines with attached shared disks are currently
    supported only for Windows OS". A disk whose resource was not read is not judged here (the
    disks collector's gap makes the rule `unknown`)."""
    vm = wl.vm
    if (vm.security_type or "").lower() != "trustedlaunch" or (vm.os_type or "").lower() != "linux":
        return
    shared = [
        label
        for _, label, vm_disk, _ in replicated_disks(wl)[0]
        if vm_disk.managed_disk_id
        and (disk := disks.get(ids.key(vm_disk.managed_disk_id))) is not None
        and (disk.max_shares or 1) > 1
    ]
    if shared:
        found.block(
            f"Linux Trusted Launch VM with shared disk(s) {', '.join(shared)} (maxShares above 1)",
            "detach the shared disks (or protect a Windows or Standard VM instead): trusted VMs with shared "
            "disks are supported for Windows only",
            shared_disks=shared,
        )


def unsupported_reasons(
    wl: Workload, sizes: Mapping[str, VmSku] | None = None, managed: Mapping[str, Disk] | None = None
) -> Unsupported:
    """Each unsupported feature of the workload's VM as a sentence, with its fix and the facts behind
    it. Write accelerator counts only on disks that are (or would be) replicated. `sizes`
    (`size_capabilities`) gives the size's CPU architecture and vCPUs where collected; without an
    entry, Arm64 is read from the size name and the core count is not judged. `managed` holds the
    disk resources by id key (`maxShares` tells a shared disk)."""
    vm = wl.vm
    found = Unsupported()
    sku = (sizes or {}).get((vm.vm_size or "").lower())
    disks, _ = replicated_disks(wl)
    accelerated = [(key, label) for key, label, disk, _ in disks if disk.write_accelerator_enabled]
    if accelerated:
        labels = [label for _, label in accelerated]
        settings = " ".join(f"{key.removeprefix('lun:')}=false" for key, _ in accelerated)
        found.block(
            f"write accelerator enabled on {', '.join(labels)}",
            f"turn write accelerator off if the workload can do without it: az vm update -g "
            f"{ids.resource_group_of(vm.id)} -n {vm.name} --write-accelerator {settings}",
            write_accelerator_disks=labels,
        )
    if (vm.disk_controller_type or "").lower() == "nvme":
        found.block(
            "NVMe disk controller (storageProfile.diskControllerType)",
            "move the workload to a VM with a SCSI disk controller",
            disk_controller_type=vm.disk_controller_type,
        )
    host = vm.host_id or vm.host_group_id
    if host:
        found.block(
            f"runs on Azure Dedicated Host {ids.name_of(host)}",
            "recreate the VM from its disks outside the host group",
            host_id=vm.host_id,
            host_group_id=vm.host_group_id,
        )
    architecture = sku.cpu_architecture if sku is not None else None
    arm = architecture.lower() == "arm64" if architecture else is_arm64_size(vm.vm_size)
    if arm:
        found.block(
            f"Arm64 size {vm.vm_size}",
            "move the workload to an x64 size (a resize cannot change the CPU architecture)",
            vm_size=vm.vm_size,
            cpu_architecture_from="skus CpuArchitectureType" if architecture else "size name",
        )
    if sku is not None and sku.vcpus is not None and sku.vcpus < MIN_CORES:
        found.block(
            f"size {vm.vm_size} has {sku.vcpus} vCPU (Site Recovery needs at least {MIN_CORES} CPU cores)",
            f"resize the VM to a size with at least {MIN_CORES} vCPUs (az vm resize -g "
            f"{ids.resource_group_of(vm.id)} -n {vm.name} --size <size>)",
            vcpus=sku.vcpus,
        )
    if (vm.plan_publisher or "").lower() == PALO_ALTO_PUBLISHER:
        found.block(
            f"Palo Alto Networks appliance (plan {vm.plan_product or 'unknown product'})",
            "protect the appliance with the vendor's high-availability design instead of Site Recovery",
            plan_publisher=vm.plan_publisher,
            plan_product=vm.plan_product,
        )
    _linux_trusted_launch(vm, found)
    _linux_trusted_shared_disks(wl, managed or {}, found)
    if vm.encryption_at_host:
        found.lost.append("encryption at host (securityProfile.encryptionAtHost)")
        found.fixes.append(
            "enable encryption at host on the failed-over VM after each failover (deallocated: az vm update "
            "--set securityProfile.encryptionAtHost=true)"
        )
        found.facts["encryption_at_host"] = True
    return found


def _sentence(fixes: list[str]) -> str:
    """The fixes of one finding's reasons as one sentence: only those, never the rule's whole list."""
    text = "; ".join(fixes)
    return f"{text[:1].upper()}{text[1:]}."


def _message(wl: Workload, found: Unsupported) -> str:
    parts = []
    if found.blocking:
        parts.append(f"cannot be replicated by Site Recovery: {'; '.join(found.blocking)}")
    if found.lost:
        lead = "and" if found.blocking else "is protected, but"
        parts.append(f"{lead} the failed-over VM will not have {'; '.join(found.lost)}")
    return f"{vm_label(wl)} {' '.join(parts)}."


@rule(VM_UNSUPPORTED)
def check_unsupported(ctx: Context) -> Iterator[Finding]:
    for wl in unique_workloads(ctx):
        examined_vm(VM_UNSUPPORTED, ctx, wl)
        found = unsupported_reasons(wl, size_capabilities(ctx), ctx.index.disks)
        evidence = {
            **({"reasons": found.blocking} if found.blocking else {}),
            **({"lost_on_failover": found.lost} if found.lost else {}),
            **found.facts,
        }
        if found.blocking or found.lost:
            yield vm_finding(
                VM_UNSUPPORTED,
                wl,
                _message(wl, found),
                evidence,
                severity=None if found.blocking else Severity.MEDIUM,
                remediation=_sentence(found.fixes),
            )
        elif found.undecided:
            yield vm_finding(
                VM_UNSUPPORTED,
                wl,
                f"{vm_label(wl)} is {found.undecided}; whether Site Recovery accepts it is unknown.",
                {"security_type": wl.vm.security_type, "os_type": wl.vm.os_type},
                status=FindingStatus.UNKNOWN,
                remediation=(
                    f"Check the VM's creation time (az vm show -n {wl.vm.name} --query timeCreated); see "
                    "`asr-audit explain VM-UNSUPPORTED`."
                ),
            )


# --- NIC-ASG ------------------------------------------------------------------------------------

NIC_ASG = RuleMeta(
    id="NIC-ASG",
    title="NIC is in an application security group that failover will not carry over",
    severity=Severity.MEDIUM,
    category="machines",
    needs=(*WORKLOAD_INPUTS, "network_interfaces"),
    rationale=(
        "Site Recovery's support matrix lists application security groups as unsupported ('Site "
        "Recovery doesn't support ASGs'): it recreates a failed-over VM's NICs in the recovery VNet "
        "without their ASGs, and an ASG can only hold NICs of one virtual network, so the source ASG "
        "cannot take the new NIC. NSG rules that allow or deny traffic by ASG then no longer match the "
        "failed-over VM until equivalent ASGs exist in the recovery region and the NIC joins them."
    ),
    remediation=(
        "Create matching ASGs (and the NSG rules that use them) in the recovery region ahead of time, and "
        "add the NIC to them after failover, for example with an Azure Automation runbook in the recovery "
        "plan; or express those NSG rules with address prefixes that hold in both regions."
    ),
    microsoft_docs="https://learn.microsoft.com/azure/virtual-network/application-security-groups",
    source=(
        f"{A2A_SOURCE}, Replicated machines - networking: 'Application security group (ASG) | "
        "Unsupported | Site Recovery doesn't support ASGs.'; "
        "Application security groups (learn.microsoft.com)"
    ),
    references=(f"{A2A_MATRIX}#replicated-machines---networking",),
)


@rule(NIC_ASG)
def check_nic_asg(ctx: Context) -> Iterator[Finding]:
    for wl in unique_workloads(ctx):
        for nic in vm_nics(ctx, wl.vm):
            ctx.examined(NIC_ASG, nic.id, NIC_TYPE, nic.name, nic.location)
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
                    f"NIC {nic.name} of {vm_label(wl)} is in application security group(s) "
                    f"{', '.join(names)}; the failed-over NIC will not be, so NSG rules that name them "
                    "stop applying."
                ),
                evidence={"scope": wl.kind, "vm": wl.vm.id, "ip_configurations": groups},
            )
