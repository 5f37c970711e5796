"""Encryption carried to the target region: ENC-TARGET-DES and ENC-ADE.

ENC-TARGET-DES: disks encrypted with customer-managed keys need a disk encryption set on the target.

Site Recovery creates the replica and failed-over disks in the target region and encrypts them with
the disk encryption set (DES) chosen per disk when replication was enabled
(`protectedManagedDisks[].recoveryDiskEncryptionSetId`). A DES is regional, so the source disk's
cannot be used; without one chosen, the customer-managed-key requirement is not carried over. A
chosen DES must also be in the item's recovery region, which its id does not say: the rule reads
the subscriptions' DES lists for their `location`, and a DES it could not place (its subscription
not scanned or its list not read, or absent from the list) leaves the item `unknown`, never passed.

ENC-ADE: Azure Disk Encryption keeps each disk's secret (and wrapping key) in a key vault of the VM's
region; Site Recovery copies them to target key vaults recorded per replicated disk. It judges from
bodies already read (the disk list's encryptionSettingsCollection, the VM model's encryptionSettings
and the item's disk details), so it needs no extension or key vault read. What counts as ADE is
`common.disks.ade_encrypted`, which also decides when NET-NSG-OUTBOUND and NET-FIREWALL-FQDN judge
the path to AzureKeyVault.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from asr_audit import ids
from asr_audit.findings import Finding, FindingStatus, RuleMeta, Severity
from asr_audit.inventory import ProtectedItem
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common.audited import Workload, a2a_items, item_recovery_region, unique_workloads
from asr_audit.rules.common.disks import ade_encrypted, item_source_disks, vm_disks
from asr_audit.rules.common.documents import A2A_MATRIX
from asr_audit.rules.common.gaps import coverage_gaps
from asr_audit.rules.common.naming import (
    examined_item,
    examined_vm,
    item_finding,
    item_label,
    unread_disks_finding,
    vm_finding,
    vm_label,
)

CMK_DOC = "https://learn.microsoft.com/azure/site-recovery/azure-to-azure-how-to-enable-replication-cmk-disks"
# Disk `encryption.type` values that involve a customer-managed key (Disks REST API, 2025-01-02).
CUSTOMER_KEY_TYPES = frozenset(
    {"encryptionatrestwithcustomerkey", "encryptionatrestwithplatformandcustomerkeys"}
)

ENC_TARGET_DES = RuleMeta(
    id="ENC-TARGET-DES",
    title="Customer-managed-key disk replicated without a target disk encryption set",
    severity=Severity.HIGH,
    category="encryption",
    needs=("protected_items", "disks", "disk_encryption_sets"),
    rationale=(
        "A managed disk encrypted with a customer-managed key (CMK) is replicated into replica and target "
        "disks in the recovery region, and Site Recovery encrypts those with the disk encryption set chosen "
        "for each disk. Microsoft's prerequisite: 'You must create the Disk Encryption set(s) in the target "
        "region for the target subscription before enabling replication for your virtual machines that have "
        "CMK-enabled managed disks.' A protected CMK disk with no recovery disk encryption set fails over "
        "without the key your policy requires, or cannot be replicated as configured; so does one whose "
        "recovery disk encryption set is not in the target region the prerequisite names."
    ),
    remediation=(
        "Create a disk encryption set in the target region (with Get, Wrap Key and Unwrap Key access to a "
        "key vault in that region), then attach it to the item's replica disks, or disable and re-enable "
        "replication choosing it under Storage encryption settings; new CMK disks are added with "
        "Add-AzRecoveryServicesAsrReplicationProtectedItemDisk -RecoveryDiskEncryptionSetId."
    ),
    microsoft_docs=CMK_DOC,
    source=(
        "Replicate machines with Customer-Managed Keys (CMK) enabled disks (learn.microsoft.com, "
        "2024-03-27), Prerequisite; recoveryDiskEncryptionSetId of A2AProtectedManagedDiskDetails "
        "(ReplicationProtectedItems_List, 2025-08-01); location of DiskEncryptionSets_List (2025-01-02)"
    ),
    references=("https://learn.microsoft.com/azure/virtual-machines/disk-encryption",),
)
REGION_FIX = (
    "Create a disk encryption set in the item's recovery region (with Get, Wrap Key and Unwrap Key access "
    "to a key vault in that region), then select it for the disk: Replicated items > the item > Properties "
    "> Compute and Network > Storage encryption settings, or disable and re-enable replication choosing it."
)


@dataclass(frozen=True, slots=True)
class _Placement:
    """Where a protected disk's recovery DES is, as far as the inventory tells: `region` when it
    was read, else `unknown` says why it could not be placed."""

    disk: str
    des_id: str
    region: str | None = None
    unknown: str | None = None


def _place(ctx: Context, disk_id: str, des_id: str) -> _Placement:
    """A DES missing from its subscription's complete list is not judged failed: Azure refuses to
    delete a DES its replica disks still use, so its absence more likely means a stale list (Resource
    Graph indexes with a delay) than a DES gone. It is `unknown`, as one in a subscription not
    scanned or whose list was not read."""
    disk = ctx.index.disks.get(ids.key(disk_id))
    name = disk.name if disk else ids.name_of(disk_id)
    des = ctx.index.disk_encryption_sets.get(ids.key(des_id))
    if des is not None:
        return _Placement(name, des_id, region=ids.region(des.location))
    sub = ids.subscription_of(des_id) or ""
    if sub.lower() not in ctx.index.subscriptions_read:
        why = f"it is in subscription {sub or '(none in its id)'}, which was not scanned"
    elif gaps := coverage_gaps(ctx, ("disk_encryption_sets",), [sub]):
        why = f"the disk encryption sets of subscription {sub} could not be read ({gaps[0].status})"
    else:
        why = f"it is not among the disk encryption sets listed in subscription {sub}"
    return _Placement(name, des_id, unknown=why)


@rule(ENC_TARGET_DES)
def check_target_des(ctx: Context) -> Iterator[Finding]:
    for item in a2a_items(ctx):
        yield from _target_des(ctx, item)


def _target_des(ctx: Context, item: ProtectedItem) -> Iterator[Finding]:
    """Two questions per item: does every customer-managed-key disk have a recovery DES, and is
    every recovery DES chosen (whatever the source disk's key) in the recovery region. Each is
    answered `fail`, or `unknown` where the data cannot tell; the item is recorded as examined
    only when neither is left undecided."""
    found, unread_all = item_source_disks(ctx, item)
    without = {ids.key(p.disk_id) for p in item.protected_disks if not p.recovery_disk_encryption_set_id}
    missing = [
        {
            "disk": source.name,
            "encryption_type": source.encryption_type,
            "source_des": source.disk_encryption_set_id,
        }
        for protected, source in found
        if ids.key(protected.disk_id) in without
        and (source.encryption_type or "").lower() in CUSTOMER_KEY_TYPES
    ]
    unread = [d for d in unread_all if ids.key(d) in without]
    target = item_recovery_region(item)
    placed = [
        _place(ctx, p.disk_id, p.recovery_disk_encryption_set_id)
        for p in item.protected_disks
        if p.disk_id and p.recovery_disk_encryption_set_id
    ]
    wrong = [p for p in placed if p.region and target and p.region != target]
    unplaced = [p for p in placed if p.unknown or not target]
    if missing:
        names = ", ".join(str(m["disk"]) for m in missing)
        yield item_finding(
            ENC_TARGET_DES,
            ctx,
            item,
            message=(
                f"Replicated item {item_label(item)} replicates customer-managed-key disk(s) {names} "
                "with no recovery disk encryption set: the failed-over disks will not use your key."
            ),
            evidence={"disks": missing, "recovery_location": item.recovery_location},
        )
    elif unread:
        yield unread_disks_finding(
            ENC_TARGET_DES,
            ctx,
            item,
            unread,
            "whether those without a recovery disk encryption set use a customer-managed key",
        )
    if wrong:
        yield _region_finding(ctx, item, wrong, target)
    elif unplaced:
        yield _unplaced_finding(ctx, item, unplaced)
    if any(d.disk_id for d in item.protected_disks) and (missing or not unread) and (wrong or not unplaced):
        examined_item(ENC_TARGET_DES, ctx, item)


def _region_finding(
    ctx: Context, item: ProtectedItem, wrong: list[_Placement], target: str | None
) -> Finding:
    sets = ", ".join(sorted({f"{ids.name_of(p.des_id)} ({p.region})" for p in wrong}))
    return item_finding(
        ENC_TARGET_DES,
        ctx,
        item,
        key="des-region",
        message=(
            f"Replicated item {item_label(item)} encrypts its recovery disks with disk encryption set(s) "
            f"{sets} outside its recovery region {target}, where Site Recovery's prerequisite requires "
            "the set to be."
        ),
        evidence={
            "disks": [{"disk": p.disk, "recovery_des": p.des_id, "des_region": p.region} for p in wrong],
            "recovery_location": target,
        },
        remediation=REGION_FIX,
    )


def _unplaced_finding(ctx: Context, item: ProtectedItem, unplaced: list[_Placement]) -> Finding:
    why = "; ".join(sorted({p.unknown or "the item records no recovery region" for p in unplaced}))
    return item_finding(
        ENC_TARGET_DES,
        ctx,
        item,
        key="des-region",
        status=FindingStatus.UNKNOWN,
        message=(
            f"Replicated item {item_label(item)}: whether its recovery disk encryption set(s) are in its "
            f"recovery region is unknown: {why}."
        ),
        evidence={
            "disks": [
                {"disk": p.disk, "recovery_des": p.des_id, "why": p.unknown or "no recovery region"}
                for p in unplaced
            ],
            "recovery_location": item.recovery_location,
        },
        remediation=(
            "Scan the subscription that holds the disk encryption set with Reader (or confirm in the portal "
            f"that it is in the recovery region). {REGION_FIX}"
        ),
    )


# --- ENC-ADE -----------------------------------------------------------------------------------

ADE_DOC = "https://learn.microsoft.com/azure/site-recovery/azure-to-azure-how-to-enable-replication-ade-vms"
ADE_WITH_ENTRA_APP = "1.0"  # Disk encryptionSettingsVersion of ADE with a Microsoft Entra ID app (Disks API)

ENC_ADE = RuleMeta(
    id="ENC-ADE",
    title="Azure Disk Encryption VM without target key vault settings, or in an unsupported ADE form",
    severity=Severity.HIGH,
    category="encryption",
    needs=("protected_items", "virtual_machines", "disks"),
    rationale=(
        "Site Recovery copies the disk encryption secrets (and key encryption keys) of an Azure Disk "
        "Encryption (ADE) VM into key vaults in the target region and records them per replicated disk. "
        "A disk that is encrypted with no target disk encryption key vault (or no key encryption key vault "
        "for a disk whose key is wrapped) fails over to a VM that cannot unlock its disks; Microsoft asks to "
        "update the target encryption settings when ADE is turned on or its keys change after replication "
        "was enabled. Some ADE forms cannot be replicated at all: VMs using unmanaged disks, and on Linux "
        "ADE with a Microsoft Entra ID app."
    ),
    remediation=(
        "Copy the disk encryption keys and secrets to key vaults in the target region (the Copy-keys "
        "script, or let the portal create them), then set them in Recovery Services vault > Replicated "
        "items > the item > Properties > Compute and Network > encryption settings."
    ),
    microsoft_docs=ADE_DOC,
    source=(
        "Replicate Azure Disk Encryption-enabled virtual machines to another Azure region "
        "(learn.microsoft.com, 2022-10-19); Support matrix for Azure VM disaster recovery between Azure "
        "regions (learn.microsoft.com, 2026-01-01), Replicated machines - storage, Azure Disk Encryption "
        "rows; dekKeyVaultArmId, kekKeyVaultArmId, isDiskEncrypted, isDiskKeyEncrypted of "
        "A2AProtectedManagedDiskDetails (ReplicationProtectedItems_List, 2025-08-01)"
    ),
    references=(
        A2A_MATRIX,
        "https://learn.microsoft.com/azure/virtual-machines/disk-encryption-overview",
    ),
)
UNMANAGED_FIX = (
    "Convert the VM to managed disks (ConvertTo-AzVMManagedDisk / az vm convert) and enable replication "
    "again: ADE VMs on unmanaged disks cannot be replicated."
)
ENTRA_APP_FIX = (
    "Site Recovery replicates Linux ADE VMs only without a Microsoft Entra ID app: encrypt the VM with the "
    "current ADE (extension 1.1, no AAD parameters; a VM once encrypted with the app cannot switch, so this "
    "means a new VM from decrypted disks), then enable replication."
)


@rule(ENC_ADE)
def check_ade(ctx: Context) -> Iterator[Finding]:
    for item in a2a_items(ctx):
        yield from _target_key_vaults(ctx, item)
    for wl in unique_workloads(ctx):
        yield from _ade_form(ctx, wl)


def _target_key_vaults(ctx: Context, item: ProtectedItem) -> Iterator[Finding]:
    """An encrypted disk (by the item's flags or the source disk's ADE settings) needs a target
    key vault for its secret, and one for its key when the key is wrapped; a target secret vault
    that is the source disk's own is in the source region (ADE keeps its vault in the VM's)."""
    found, unread_all = item_source_disks(ctx, item)
    sources = {ids.key(p.disk_id): s for p, s in found}
    missing: list[dict[str, Any]] = []
    for protected in item.protected_disks:
        source = sources.get(ids.key(protected.disk_id))
        if not ade_encrypted(protected, source):
            continue
        wrapped = protected.is_disk_key_encrypted or bool(
            source and source.ade_enabled and source.ade_key_encrypted
        )
        source_vaults = {ids.key(v) for v in source.ade_key_vault_ids} if source else set()
        reasons = []
        if not protected.dek_key_vault_id:
            reasons.append("no target disk encryption key vault")
        elif ids.key(protected.dek_key_vault_id) in source_vaults:
            reasons.append("the target disk encryption key vault is the source disk's, in the source region")
        if wrapped and not protected.kek_key_vault_id:
            reasons.append("no target key encryption key vault")
        if reasons:
            missing.append(
                {
                    "disk": source.name if source else ids.name_of(protected.disk_id or ""),
                    "disk_id": protected.disk_id,
                    "reasons": reasons,
                    "dek_key_vault": protected.dek_key_vault_id,
                    "kek_key_vault": protected.kek_key_vault_id,
                }
            )
    with_vault = {ids.key(p.disk_id) for p in item.protected_disks if p.dek_key_vault_id}
    unread = [d for d in unread_all if ids.key(d) not in with_vault]
    if missing:
        names = ", ".join(str(m["disk"]) for m in missing)
        yield item_finding(
            ENC_ADE,
            ctx,
            item,
            key="key-vaults",
            message=(
                f"Replicated item {item_label(item)} replicates Azure Disk Encryption disk(s) {names} "
                "without the target key vault settings the failed-over VM needs to unlock them."
            ),
            evidence={"disks": missing, "recovery_location": item.recovery_location},
        )
    elif unread:
        yield unread_disks_finding(ENC_ADE, ctx, item, unread, "whether they use Azure Disk Encryption")
    elif item.protected_disks:
        examined_item(ENC_ADE, ctx, item)


def _ade_form(ctx: Context, wl: Workload) -> Iterator[Finding]:
    """The forms the documents say cannot be replicated: ADE on an unmanaged disk (the VM model's
    encryptionSettings, its only record), and on Linux ADE with a Microsoft Entra ID app (the
    managed disk's encryptionSettingsVersion "1.0")."""
    disks = ctx.index.disks
    scanned = ctx.index.subscriptions_read
    unmanaged: list[str] = []
    entra: list[str] = []
    unread: list[str] = []
    linux = (wl.vm.os_type or "").lower() == "linux"
    for _, label, vm_disk, _ in vm_disks(wl.vm):
        if not vm_disk.managed_disk_id:
            if ade_encrypted(vm_disk=vm_disk):
                unmanaged.append(label)
            continue
        source = disks.get(ids.key(vm_disk.managed_disk_id))
        if source is None:
            if (ids.subscription_of(vm_disk.managed_disk_id) or "").lower() not in scanned:
                unread.append(vm_disk.managed_disk_id)
            continue
        linux = linux or (source.os_type or "").lower() == "linux"
        if ade_encrypted(source=source) and source.ade_settings_version == ADE_WITH_ENTRA_APP:
            entra.append(label)
    if unmanaged:
        yield vm_finding(
            ENC_ADE,
            wl,
            f"The {vm_label(wl)} uses Azure Disk Encryption on unmanaged disks ({', '.join(unmanaged)}), "
            "which Site Recovery does not support.",
            {"unmanaged_encrypted_disks": unmanaged},
            key="form:unmanaged",
            remediation=UNMANAGED_FIX,
        )
    if linux and entra:
        yield vm_finding(
            ENC_ADE,
            wl,
            f"The Linux {vm_label(wl)} uses Azure Disk Encryption with a Microsoft Entra ID app "
            f"(encryptionSettingsVersion 1.0 on {', '.join(entra)}); Site Recovery supports Linux ADE only "
            "without one.",
            {"disks": entra, "encryption_settings_version": ADE_WITH_ENTRA_APP},
            key="form:entra-app",
            remediation=ENTRA_APP_FIX,
        )
    if unread and not (unmanaged or (linux and entra)):
        yield vm_finding(
            ENC_ADE,
            wl,
            f"The {vm_label(wl)} has {len(unread)} managed disk(s) in a subscription that was not scanned, "
            "so whether it uses an unsupported form of Azure Disk Encryption is unknown.",
            {"unread_disks": unread},
            key="form",
            status=FindingStatus.UNKNOWN,
            remediation=f"Scan the subscription that holds the disks too. {UNMANAGED_FIX}",
        )
    elif not (unmanaged or (linux and entra)):
        examined_vm(ENC_ADE, ctx, wl)
