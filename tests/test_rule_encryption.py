"""ENC-TARGET-DES: a customer-managed-key disk replicated without a recovery disk encryption set,
or with one outside the item's recovery region."""

from __future__ import annotations

from builders import OTHER_SUBSCRIPTION, a2a_item, analyzed, context, gap, inventory, resource_id, run, vault

from asr_audit.findings import Finding, Severity
from asr_audit.inventory import Disk, DiskEncryptionSet, ProtectedDisk, ProtectedItem

OWNER = vault("rsv-dr", "westus2")
VM = resource_id("Microsoft.Compute/virtualMachines", "vm1")
DES = resource_id("Microsoft.Compute/diskEncryptionSets", "des-wus2", group="rg-sec")
# The items' recovery region is a2a_item's default, westus; DES ids say nothing of a region.
DES_IN_TARGET = DiskEncryptionSet(id=DES, name="des-wus2", location="West US")
DES_IN_SOURCE = DiskEncryptionSet(
    id=resource_id("Microsoft.Compute/diskEncryptionSets", "des-eus", group="rg-sec"),
    name="des-eus",
    location="eastus",
    encryption_type="EncryptionAtRestWithCustomerKey",
)


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
    found = findings(DES_IN_TARGET, cmk, platform, unset, item((cmk, DES), (platform, None), (unset, None)))
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


def test_target_des_fires_for_a_recovery_des_outside_the_recovery_region() -> None:
    cmk = disk("data-0", "EncryptionAtRestWithCustomerKey")
    ctx = context(inventory(OWNER, DES_IN_SOURCE, DES_IN_TARGET, cmk, wrong := item((cmk, DES_IN_SOURCE.id))))
    [finding] = run("ENC-TARGET-DES", ctx)
    assert (finding.severity, finding.status, finding.key) == (Severity.HIGH, "fail", "des-region")
    assert finding.evidence == {
        "disks": [{"disk": "data-0", "recovery_des": DES_IN_SOURCE.id, "des_region": "eastus"}],
        "recovery_location": "westus",
    }
    assert "des-eus (eastus)" in finding.message and "westus" in finding.message
    assert finding.remediation.startswith("Create a disk encryption set in the item's recovery region")
    assert [c.resource_id for c in ctx.checks] == [wrong.id]


def test_target_des_silent_for_a_recovery_des_in_the_recovery_region_named_in_another_case() -> None:
    cmk = disk("data-0", "EncryptionAtRestWithCustomerKey")
    ctx = context(inventory(OWNER, DES_IN_TARGET, cmk, right := item((cmk, DES.upper()))))
    assert run("ENC-TARGET-DES", ctx) == []
    assert [c.resource_id for c in ctx.checks] == [right.id]


def test_target_des_is_unknown_when_the_des_list_of_its_subscription_was_refused() -> None:
    cmk = disk("data-0", "EncryptionAtRestWithCustomerKey")
    ctx = context(inventory(OWNER, cmk, item((cmk, DES)), gap("disk_encryption_sets")))
    [finding] = run("ENC-TARGET-DES", ctx)
    assert (finding.status, finding.severity, finding.key) == ("unknown", Severity.HIGH, "des-region")
    assert "could not be read (forbidden)" in finding.message
    assert ctx.checks == []  # undecided: never listed as passed
    kinds = {(f.status, f.key) for f in analyzed("ENC-TARGET-DES", ctx)}
    assert kinds == {("unknown", "des-region"), ("unknown", "disk_encryption_sets")}


def test_target_des_is_unknown_for_a_des_in_a_subscription_not_scanned() -> None:
    cmk = disk("data-0", "EncryptionAtRestWithCustomerKey")
    elsewhere = resource_id("Microsoft.Compute/diskEncryptionSets", "des-x", subscription=OTHER_SUBSCRIPTION)
    ctx = context(inventory(OWNER, cmk, item((cmk, elsewhere))))
    [finding] = run("ENC-TARGET-DES", ctx)
    assert (finding.status, finding.key) == ("unknown", "des-region")
    assert f"subscription {OTHER_SUBSCRIPTION}, which was not scanned" in finding.message
    assert ctx.checks == []


def test_target_des_is_unknown_for_a_des_missing_from_a_complete_list() -> None:
    """Not a failure: a DES its replica disks use cannot be deleted, so the list is the suspect."""
    cmk = disk("data-0", "EncryptionAtRestWithCustomerKey")
    [finding] = findings(cmk, item((cmk, DES)))
    assert (finding.status, finding.key) == ("unknown", "des-region")
    assert "not among the disk encryption sets listed" in finding.message


def test_target_des_reports_a_missing_des_and_a_misplaced_one_apart() -> None:
    cmk = disk("data-0", "EncryptionAtRestWithCustomerKey")
    other = disk("data-1", "EncryptionAtRestWithCustomerKey")
    found = findings(DES_IN_SOURCE, cmk, other, item((cmk, None), (other, DES_IN_SOURCE.id)))
    assert sorted((f.status, f.key) for f in found) == [("fail", ""), ("fail", "des-region")]
