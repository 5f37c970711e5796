"""Which disks of a workload Site Recovery replicates: the disk rules and VM-UNSUPPORTED (write
accelerator) judge only those, since excluding a disk from replication is a documented fix; the
source managed disks behind a protected item's disk list, for rules on their encryption or
redundancy; and whether a disk or VM uses Azure Disk Encryption, which ENC-ADE judges and which
makes AzureKeyVault a destination of the VM's traffic (`destinations.conditional_destinations`)."""

from __future__ import annotations

from collections.abc import Iterator

from asr_audit import ids
from asr_audit.inventory import Disk, ProtectedDisk, ProtectedItem, VirtualMachine, VmDisk
from asr_audit.rules.base import Context
from asr_audit.rules.common.audited import Workload

DiskEntry = tuple[str, str, VmDisk, bool]  # (finding key, label, disk, is_os)


def vm_disks(vm: VirtualMachine) -> Iterator[DiskEntry]:
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
    disks = list(vm_disks(wl.vm))
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


def item_source_disks(
    ctx: Context, item: ProtectedItem
) -> tuple[list[tuple[ProtectedDisk, Disk]], list[str]]:
    """(each protected disk with its source managed disk from the disks list, the disk ids that
    could not be read).

    A disk missing from a scanned subscription's complete list is gone and is left out (a gap in
    that list is an `unknown` of its own, through `needs`); one in a subscription that was not
    scanned was never looked for, so the rule cannot tell and says so."""
    disks = ctx.index.disks
    scanned = ctx.index.subscriptions_read
    found: list[tuple[ProtectedDisk, Disk]] = []
    unread: list[str] = []
    for protected in item.protected_disks:
        if not protected.disk_id:
            continue
        source = disks.get(ids.key(protected.disk_id))
        if source is not None:
            found.append((protected, source))
        elif (ids.subscription_of(protected.disk_id) or "").lower() not in scanned:
            unread.append(protected.disk_id)
    return found, unread


def ade_encrypted(
    protected: ProtectedDisk | None = None, source: Disk | None = None, vm_disk: VmDisk | None = None
) -> bool:
    """Whether a disk uses Azure Disk Encryption, by any record already read: the item's
    `isDiskEncrypted`, the managed disk's `encryptionSettingsCollection.enabled`, or the VM model's
    `encryptionSettings.enabled` (the only record of an unmanaged disk)."""
    return bool(
        (protected and protected.is_disk_encrypted)
        or (source and source.ade_enabled)
        or (vm_disk and vm_disk.ade_enabled)
    )


def uses_ade(ctx: Context, wl: Workload) -> bool:
    """Whether any disk of the workload is known to use Azure Disk Encryption (VM model, managed
    disks, item disks). A disk that was not read counts as not encrypted here: ENC-ADE reports
    that gap. Once per VM and analysis: several network rules ask for every NIC."""
    memo: dict[str, bool] = ctx.shared("uses_ade", dict)
    key = ids.key(wl.vm.id)
    if key not in memo:
        disks = ctx.index.disks
        protected = wl.item.protected_disks if wl.item else []
        memo[key] = any(
            ade_encrypted(vm_disk=d, source=disks.get(ids.key(d.managed_disk_id or "")))
            for _, _, d, _ in vm_disks(wl.vm)
        ) or any(ade_encrypted(protected=p) for p in protected)
    return memo[key]
