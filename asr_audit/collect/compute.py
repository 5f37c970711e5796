"""Virtual machines, managed disks, disk encryption sets, and the sizes and vCPU quotas of the
regions VMs fail over to: ARM JSON -> inventory records (pure functions, no I/O)."""

from __future__ import annotations

from typing import Any

from asr_audit import ids
from asr_audit.collect.fields import (
    Malformed,
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
from asr_audit.inventory import (
    ComputeUsage,
    Disk,
    DiskEncryptionSet,
    SkuRestriction,
    VirtualMachine,
    VmDisk,
    VmSku,
)


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
        max_shares=integer(p.get("maxShares")),
    )


def parse_disk_encryption_set(item: dict[str, Any]) -> DiskEncryptionSet:
    """A DES is read for its region alone: one without a location cannot be placed, so it is
    unreadable (a gap), never a DES in no region that matches or mismatches by accident."""
    rid, name, location = identity(item)
    if not location:
        raise Malformed("disk encryption set without a location")
    p = props(item)
    return DiskEncryptionSet(
        id=rid,
        name=name,
        location=location,
        encryption_type=text(p.get("encryptionType")),
        key_vault_id=ref(obj_field(p, "activeKey").get("sourceVault")),
    )


def parse_vm_sku(subscription_id: str, region: str, item: dict[str, Any]) -> VmSku | None:
    """One entry of the region's Microsoft.Compute/skus list; None for the other resource types
    (disks, availability sets...), which share the list. A restriction whose type is not a
    string cannot be told from one that blocks the size: unreadable, never ignored."""
    name = text(item.get("name"))
    if not name:
        raise Malformed("SKU without a name")
    if text(item.get("resourceType")) != "virtualMachines":
        return None
    capabilities = {text(c.get("name")): text(c.get("value")) for c in list_field(item, "capabilities")}
    here = [i for i in list_field(item, "locationInfo") if ids.region(text(i.get("location"))) == region]
    restrictions = []
    for raw in list_field(item, "restrictions"):
        kind = text(raw.get("type"))
        if not kind:
            raise Malformed(f"{name}: restriction without a type")
        info = obj_field(raw, "restrictionInfo")
        restrictions.append(
            SkuRestriction(type=kind, reason_code=text(raw.get("reasonCode")), zones=texts(info.get("zones")))
        )
    return VmSku(
        name=name,
        subscription_id=subscription_id,
        region=region,
        family=text(item.get("family")),
        vcpus=integer(capabilities.get("vCPUs")),
        cpu_architecture=capabilities.get("CpuArchitectureType"),
        zones=sorted({z for i in here for z in texts(i.get("zones"))}),
        restrictions=restrictions,
    )


def parse_compute_usage(subscription_id: str, region: str, item: dict[str, Any]) -> ComputeUsage:
    """A quota the rule compares with vCPUs: without a whole current value and limit it is
    unreadable (a missing limit read as zero would fail, as unlimited would pass)."""
    name = text(obj_field(item, "name").get("value"))
    current, limit = integer(item.get("currentValue")), integer(item.get("limit"))
    if not name or current is None or limit is None:
        raise Malformed("usage without name.value, currentValue or limit")
    return ComputeUsage(
        name=name, subscription_id=subscription_id, region=region, current_value=current, limit=limit
    )
