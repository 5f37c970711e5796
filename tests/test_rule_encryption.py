"""ENC-TARGET-DES: a customer-managed-key disk replicated without a recovery disk encryption set."""

from __future__ import annotations

from builders import OTHER_SUBSCRIPTION, a2a_item, analyzed, context, gap, inventory, resource_id, run, vault

from asr_audit.findings import Finding, Severity
from asr_audit.inventory import Disk, ProtectedDisk, ProtectedItem

OWNER = vault("rsv-dr", "westus2")
VM = resource_id("Microsoft.Compute/virtualMachines", "vm1")
DES = resource_id("Microsoft.Compute/diskEncryptionSets", "des-wus2", group="rg-sec")


def disk(name: str, encryption: str | None, subscription: str | None = None) -> Disk:
    kw = {"subscription": subscription} if subscription else {}
    return Disk(
        id=resource_id("Microsoft.Compute/disks", name, **kw),
        name=name,
        location="eastus",
        encryption_type=encryption,
    )


def item(*disks: tuple[Disk, str | None]) -> ProtectedItem:
    protected = a2a_item(OWNER, VM)
    protected.protected_disks = [
        ProtectedDisk(disk_id=d.id.upper(), recovery_disk_encryption_set_id=des) for d, des in disks
    ]
    return protected


def findings(*objects: object) -> list[Finding]:
    return run("ENC-TARGET-DES", context(inventory(OWNER, *objects)))


def test_target_des_fires_for_a_customer_key_disk_without_one() -> None:
    cmk = disk("data-0", "EncryptionAtRestWithCustomerKey")
    double = disk("data-1", "EncryptionAtRestWithPlatformAndCustomerKeys")
    [finding] = findings(cmk, double, item((cmk, None), (double, "")))
    assert (finding.rule_id, finding.severity, finding.status) == ("ENC-TARGET-DES", Severity.HIGH, "fail")
    assert [d["disk"] for d in finding.evidence["disks"]] == ["data-0", "data-1"]


def test_target_des_silent_with_a_recovery_des_or_platform_keys() -> None:
    cmk = disk("data-0", "EncryptionAtRestWithCustomerKey")
    platform = disk("os", "EncryptionAtRestWithPlatformKey")
    unset = disk("data-1", None)
    found = findings(cmk, platform, unset, item((cmk, DES), (platform, None), (unset, None)))
    assert "ENC-TARGET-DES" not in [f.rule_id for f in found]


def test_target_des_is_unknown_for_disks_in_a_subscription_not_scanned() -> None:
    elsewhere = disk("data-0", None, subscription=OTHER_SUBSCRIPTION)
    [finding] = findings(item((elsewhere, None)))
    assert finding.status == "unknown"
    assert finding.evidence["unread_disks"] == [elsewhere.id.upper()]


def test_target_des_silent_on_a_disk_gone_from_a_scanned_subscription() -> None:
    gone = disk("data-0", None)
    assert findings(item((gone, None))) == []


def test_target_des_is_unknown_when_the_disks_could_not_be_read() -> None:
    [finding] = analyzed("ENC-TARGET-DES", context(inventory(OWNER, gap("disks"))))
    assert (finding.status, finding.severity, finding.key) == ("unknown", Severity.HIGH, "disks")


def test_target_des_records_items_with_disks_and_not_those_without() -> None:
    platform = disk("os", "EncryptionAtRestWithPlatformKey")
    bare = a2a_item(OWNER, resource_id("Microsoft.Compute/virtualMachines", "vm2"))
    ctx = context(inventory(OWNER, platform, judged := item((platform, None)), bare))
    assert run("ENC-TARGET-DES", ctx) == []
    assert [c.resource_id for c in ctx.checks] == [judged.id]
