"""ENC-ADE: an Azure Disk Encryption VM replicated without target key vaults, or in a form Site
Recovery cannot replicate; and the ADE fields it reads from bodies the scan already GETs."""

from __future__ import annotations

from typing import Any

import pytest
from builders import (
    OTHER_SUBSCRIPTION,
    a2a_item,
    analyzed,
    context,
    gap,
    inventory,
    resource_id,
    run,
    vault,
)

from asr_audit.collect.compute import parse_disk, parse_virtual_machine
from asr_audit.collect.fields import Malformed
from asr_audit.collect.recovery import parse_protected_item
from asr_audit.findings import Finding, Severity
from asr_audit.inventory import Disk, ProtectedDisk, ProtectedItem, VirtualMachine, VmDisk

OWNER = vault("rsv-dr", "westus2")
SOURCE_KV = resource_id("Microsoft.KeyVault/vaults", "kv-ade-eus", group="rg-sec")
TARGET_KV = resource_id("Microsoft.KeyVault/vaults", "kv-ade-eus-asr", group="rg-dr")


def ade_disk(name: str, *, version: str = "1.1", kek: bool = False, subscription: str | None = None) -> Disk:
    kw = {"subscription": subscription} if subscription else {}
    return Disk(
        id=resource_id("Microsoft.Compute/disks", name, **kw),
        name=name,
        location="eastus",
        ade_enabled=True,
        ade_settings_version=version,
        ade_key_vault_ids=[SOURCE_KV],
        ade_key_encrypted=kek,
    )


def vm(name: str, *disks: Disk, os_type: str = "Linux", unmanaged_ade: bool = False) -> VirtualMachine:
    managed = [VmDisk(name=d.name, managed_disk_id=d.id) for d in disks]
    os_disk = VmDisk(name="os", vhd_uri="https://st.blob.core.windows.net/vhds/os.vhd", ade_enabled=True)
    return VirtualMachine(
        id=resource_id("Microsoft.Compute/virtualMachines", name),
        name=name,
        location="eastus",
        os_type=os_type,
        os_disk=os_disk if unmanaged_ade else (managed[0] if managed else None),
        data_disks=managed[1:] if not unmanaged_ade else managed,
    )


def item(machine: VirtualMachine, *disks: ProtectedDisk) -> ProtectedItem:
    protected = a2a_item(OWNER, machine)
    protected.protected_disks = list(disks)
    return protected


def protected(disk: Disk, **kw: Any) -> ProtectedDisk:
    return ProtectedDisk(disk_id=disk.id.upper(), **kw)


def findings(*objects: object, **kw: Any) -> list[Finding]:
    return run("ENC-ADE", context(inventory(OWNER, *objects), **kw))


def test_ade_fires_for_an_encrypted_disk_without_target_key_vaults() -> None:
    os_disk = ade_disk("os", kek=True)
    machine = vm("vm1", os_disk)
    [finding] = findings(os_disk, machine, item(machine, protected(os_disk, is_disk_encrypted=True)))
    assert (finding.rule_id, finding.severity, finding.status, finding.key) == (
        "ENC-ADE",
        Severity.HIGH,
        "fail",
        "key-vaults",
    )
    assert finding.evidence["disks"][0]["reasons"] == [
        "no target disk encryption key vault",
        "no target key encryption key vault",
    ]


def test_ade_fires_when_encryption_was_turned_on_after_replication() -> None:
    """The item still says not encrypted; the source disk's ADE settings say it is."""
    os_disk = ade_disk("os")
    machine = vm("vm1", os_disk)
    [finding] = findings(os_disk, machine, item(machine, protected(os_disk)))
    assert finding.key == "key-vaults"


def test_ade_fires_when_the_target_vault_is_the_source_disks_own() -> None:
    os_disk = ade_disk("os")
    machine = vm("vm1", os_disk)
    same = protected(os_disk, is_disk_encrypted=True, dek_key_vault_id=SOURCE_KV.lower())
    [finding] = findings(os_disk, machine, item(machine, same))
    assert "source region" in finding.evidence["disks"][0]["reasons"][0]


def test_ade_silent_with_target_key_vaults_and_on_disks_without_ade() -> None:
    os_disk = ade_disk("os", kek=True)
    plain = Disk(id=resource_id("Microsoft.Compute/disks", "data"), name="data", location="eastus")
    machine = vm("vm1", os_disk, plain)
    vaults = protected(
        os_disk, is_disk_encrypted=True, dek_key_vault_id=TARGET_KV, kek_key_vault_id=TARGET_KV
    )
    ctx = context(
        inventory(OWNER, os_disk, plain, machine, judged := item(machine, vaults, protected(plain)))
    )
    assert run("ENC-ADE", ctx) == []
    assert {c.resource_id for c in ctx.checks} == {judged.id, machine.id}


def test_ade_fires_for_unmanaged_disks_and_linux_with_an_entra_app() -> None:
    data = ade_disk("data")
    unmanaged = vm("vm-vhd", data, os_type="Windows", unmanaged_ade=True)
    entra_disk = ade_disk("os-entra", version="1.0")
    entra = vm("vm-entra", entra_disk)
    found = findings(data, unmanaged, entra_disk, entra, source_region="eastus", target_region="westus2")
    assert sorted((f.resource_id, f.key) for f in found) == [
        (entra.id, "form:entra-app"),
        (unmanaged.id, "form:unmanaged"),
    ]


def test_ade_silent_for_a_windows_vm_with_an_entra_app() -> None:
    """Windows ADE with an Entra ID app is supported; only Linux is not."""
    os_disk = ade_disk("os", version="1.0")
    machine = vm("vm1", os_disk, os_type="Windows")
    assert findings(os_disk, machine, source_region="eastus", target_region="westus2") == []


def test_ade_is_unknown_for_disks_in_a_subscription_not_scanned() -> None:
    elsewhere = ade_disk("os", subscription=OTHER_SUBSCRIPTION)
    machine = vm("vm1", elsewhere)
    found = findings(machine, item(machine, protected(elsewhere)))
    assert sorted((f.status, f.resource_id) for f in found) == [
        ("unknown", item(machine).id),
        ("unknown", machine.id),
    ]


@pytest.mark.parametrize("collector", ["disks", "protected_items", "virtual_machines"])
def test_ade_is_unknown_when_its_input_could_not_be_read(collector: str) -> None:
    [finding] = analyzed("ENC-ADE", context(inventory(OWNER, gap(collector))))
    assert (finding.status, finding.severity, finding.key) == ("unknown", Severity.HIGH, collector)


# --- the fields it reads --------------------------------------------------------------------------


def test_parsers_read_ade_from_disk_vm_and_item_bodies() -> None:
    disk = parse_disk(
        {
            "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/d",
            "properties": {
                "encryptionSettingsCollection": {
                    "enabled": True,
                    "encryptionSettings": [
                        {
                            "diskEncryptionKey": {
                                "sourceVault": {"id": SOURCE_KV},
                                "secretUrl": "https://x/s/1",
                            },
                            "keyEncryptionKey": {"sourceVault": {"id": SOURCE_KV}, "keyUrl": "https://x/k/1"},
                        }
                    ],
                    "encryptionSettingsVersion": "1.0",
                }
            },
        }
    )
    assert (disk.ade_enabled, disk.ade_settings_version, disk.ade_key_vault_ids, disk.ade_key_encrypted) == (
        True,
        "1.0",
        [SOURCE_KV],
        True,
    )
    machine = parse_virtual_machine(
        {
            "id": resource_id("Microsoft.Compute/virtualMachines", "vm1"),
            "properties": {
                "storageProfile": {"osDisk": {"vhd": {"uri": "u"}, "encryptionSettings": {"enabled": True}}}
            },
        }
    )
    assert machine.os_disk is not None and machine.os_disk.ade_enabled
    details = {
        "instanceType": "A2A",
        "protectedManagedDisks": [
            {
                "diskId": "d",
                "isDiskEncrypted": True,
                "isDiskKeyEncrypted": False,
                "dekKeyVaultArmId": TARGET_KV,
            }
        ],
    }
    rid = f"{OWNER.id}/replicationFabrics/f/replicationProtectionContainers/c/replicationProtectedItems/i"
    [parsed] = parse_protected_item(
        {"id": rid, "properties": {"providerSpecificDetails": details}}
    ).protected_disks
    assert (parsed.is_disk_encrypted, parsed.is_disk_key_encrypted, parsed.dek_key_vault_id) == (
        True,
        False,
        TARGET_KV,
    )


def test_a_junk_encryption_flag_makes_the_item_unreadable() -> None:
    """Read as "not encrypted", it would pass a disk with no target key vault."""
    details = {"instanceType": "A2A", "protectedManagedDisks": [{"diskId": "d", "isDiskEncrypted": "yes"}]}
    rid = f"{OWNER.id}/replicationFabrics/f/replicationProtectionContainers/c/replicationProtectedItems/i"
    with pytest.raises(Malformed):
        parse_protected_item({"id": rid, "properties": {"providerSpecificDetails": details}})
