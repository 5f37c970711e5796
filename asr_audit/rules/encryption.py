"""ENC-TARGET-DES: disks encrypted with customer-managed keys need a disk encryption set on the target.

Site Recovery creates the replica and failed-over disks in the target region and encrypts them with
the disk encryption set (DES) chosen per disk when replication was enabled
(`protectedManagedDisks[].recoveryDiskEncryptionSetId`). A DES is regional, so the source disk's
cannot be used; without one chosen, the customer-managed-key requirement is not carried over.
"""

from __future__ import annotations

from collections.abc import Iterator

from asr_audit import ids
from asr_audit.findings import Finding, RuleMeta, Severity
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common.audited import a2a_items
from asr_audit.rules.common.disks import item_source_disks
from asr_audit.rules.common.naming import examined_item, item_finding, item_label, unread_disks_finding

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
    needs=("protected_items", "disks"),
    rationale=(
        "A managed disk encrypted with a customer-managed key (CMK) is replicated into replica and target "
        "disks in the recovery region, and Site Recovery encrypts those with the disk encryption set chosen "
        "for each disk. Microsoft's prerequisite: 'You must create the Disk Encryption set(s) in the target "
        "region for the target subscription before enabling replication for your virtual machines that have "
        "CMK-enabled managed disks.' A protected CMK disk with no recovery disk encryption set fails over "
        "without the key your policy requires, or cannot be replicated as configured."
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
        "(ReplicationProtectedItems_List, 2025-08-01)"
    ),
    references=("https://learn.microsoft.com/azure/virtual-machines/disk-encryption",),
)


@rule(ENC_TARGET_DES)
def check_target_des(ctx: Context) -> Iterator[Finding]:
    for item in a2a_items(ctx):
        if any(d.disk_id for d in item.protected_disks):
            examined_item(ENC_TARGET_DES, ctx, item)
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
