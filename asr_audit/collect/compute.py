"""Virtual machines and managed disks: ARM JSON -> inventory records (pure functions, no I/O)."""

from __future__ import annotations

from typing import Any

from asr_audit.collect.fields import (
    bool_field,
    flag,
    identity,
    integer,
    list_field,
    obj,
    obj_field,
    props,
    ref,
    refs,
    text,
    texts,
)
from asr_audit.inventory import Disk, VirtualMachine, VmDisk


def parse_vm_disk(raw: dict[str, Any]) -> VmDisk:
    return VmDisk(
        name=text(raw.get("name")),
        lun=integer(raw.get("lun")),
        managed_disk_id=ref(raw.get("managedDisk")),
        vhd_uri=text(obj_field(raw, "vhd").get("uri")),
        disk_size_gb=integer(raw.get("diskSizeGB")),
        write_accelerator_enabled=flag(raw.get("writeAcceleratorEnabled")),
        ade_enabled=bool_field(obj_field(raw, "encryptionSettings"), "enabled", False),
    )


def parse_virtual_machine(item: dict[str, Any]) -> VirtualMachine:
    rid, name, location = identity(item)
    p = props(item)
    storage = obj_field(p, "storageProfile")
    os_disk = obj_field(storage, "osDisk")
    image = obj_field(storage, "imageReference")
    plan = obj(item.get("plan"))
    security = obj_field(p, "securityProfile")
    return VirtualMachine(
        id=rid,
        name=name,
        location=location,
        vm_size=text(obj_field(p, "hardwareProfile").get("vmSize")),
        zones=texts(item.get("zones")),
        network_interface_ids=refs(obj_field(p, "networkProfile"), "networkInterfaces"),
        os_type=text(os_disk.get("osType")),
        os_disk=parse_vm_disk(os_disk) if os_disk else None,
        data_disks=[parse_vm_disk(d) for d in list_field(storage, "dataDisks")],
        ephemeral_os_disk=isinstance(os_disk.get("diffDiskSettings"), dict),
        host_id=ref(p.get("host")),
        host_group_id=ref(p.get("hostGroup")),
        plan_publisher=text(plan.get("publisher")),
        plan_product=text(plan.get("product")),
        image_publisher=text(image.get("publisher")),
        image_offer=text(image.get("offer")),
        image_sku=text(image.get("sku")),
        disk_controller_type=text(storage.get("diskControllerType")),
        security_type=text(security.get("securityType")),
        encryption_at_host=flag(security.get("encryptionAtHost")),
        time_created=text(p.get("timeCreated")),
    )


def parse_disk(item: dict[str, Any]) -> Disk:
    rid, name, location = identity(item)
    p = props(item)
    encryption = obj_field(p, "encryption")
    ade = obj_field(p, "encryptionSettingsCollection")
    ade_settings = list_field(ade, "encryptionSettings")
    return Disk(
        id=rid,
        name=name,
        location=location,
        disk_size_gb=integer(p.get("diskSizeGB")),
        sku_name=text(obj(item.get("sku")).get("name")),
        managed_by=text(item.get("managedBy")),
        os_type=text(p.get("osType")),
        zones=texts(item.get("zones")),
        encryption_type=text(encryption.get("type")),
        disk_encryption_set_id=text(encryption.get("diskEncryptionSetId")),
        ade_enabled=bool_field(ade, "enabled", False),
        ade_settings_version=text(ade.get("encryptionSettingsVersion")),
        ade_key_vault_ids=[
            v for v in (ref(obj_field(e, "diskEncryptionKey").get("sourceVault")) for e in ade_settings) if v
        ],
        ade_key_encrypted=any(obj_field(e, "keyEncryptionKey") for e in ade_settings),
    )
