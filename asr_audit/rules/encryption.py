"""ENC-TARGET-DES: disks encrypted with customer-managed keys need a disk encryption set on the target.

Site Recovery creates the replica and failed-over disks in the target region and encrypts them with
the disk encryption set (DES) chosen per disk when replication was enabled
(`protectedManagedDisks[].recoveryDiskEncryptionSetId`). A DES is regional, so the source disk's
cannot be used; without one chosen, the customer-managed-key requirement is not carried over.
"""

from __future__ import annotations

from collections.abc import Iterator

from asr_audit import ids
from asr_audit.findings import Finding, FindingStatus, RuleMeta, Severity
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common.audited import a2a_items
from asr_audit.rules.common.naming import PROTECTED_ITEM_TYPE, examined_item, item_finding, item_label
from asr_audit.rules.common.references import vault_region

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
    disks = ctx.index.disks
    # A disk missing from a scanned subscription's complete list is gone (a gap in that list is an
    # `unknown` of its own, through `needs`); one in a subscription not scanned was never looked for.
    scanned = {s.id.lower() for s in ctx.inventory.subscriptions}
    for item in a2a_items(ctx):
        if any(d.disk_id for d in item.protected_disks):
            examined_item(ENC_TARGET_DES, ctx, item)
        missing: list[dict[str, str | None]] = []
        unread: list[str] = []
        for protected in item.protected_disks:
            if not protected.disk_id or protected.recovery_disk_encryption_set_id:
                continue
            source = disks.get(ids.key(protected.disk_id))
            if source is None:
                if (ids.subscription_of(protected.disk_id) or "").lower() not in scanned:
                    unread.append(protected.disk_id)
            elif (source.encryption_type or "").lower() in CUSTOMER_KEY_TYPES:
                missing.append(
                    {
                        "disk": source.name,
                        "encryption_type": source.encryption_type,
                        "source_des": source.disk_encryption_set_id,
                    }
                )
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
            yield ENC_TARGET_DES.finding(
                resource_id=item.id,
                resource_type=PROTECTED_ITEM_TYPE,
                resource_name=item_label(item),
                region=vault_region(ctx, item.vault_id),
                status=FindingStatus.UNKNOWN,
                message=(
                    f"Replicated item {item_label(item)}: {len(unread)} protected disk(s) without a recovery "
                    "disk encryption set are in a subscription that was not scanned, so whether they use a "
                    "customer-managed key is unknown."
                ),
                remediation=f"Scan the subscription that holds the disks too. {ENC_TARGET_DES.remediation}",
                evidence={"unread_disks": unread},
            )
