"""Workloads: storage accounts, and VMs with their NICs and managed disks (api-examples shapes)."""

from __future__ import annotations

import math

from .common import REGIONS, SOURCE_REGION, TARGET_REGION, Body, Estate, Subnet, arm_id, upper_rg

# The VM sizes the generator uses: name -> (size, family, vCPUs, memory GB), as Microsoft.Compute/skus
# lists them.
SIZES = {
    "Standard_D2s_v5": ("D2s_v5", "standardDSv5Family", 2, 8),
    "Standard_D4s_v5": ("D4s_v5", "standardDSv5Family", 4, 16),
    "Standard_E8s_v5": ("E8s_v5", "standardESv5Family", 8, 64),
    "Standard_B2ms": ("B2ms", "standardBSFamily", 2, 8),
    "Standard_F4s_v2": ("F4s_v2", "standardFSv2Family", 4, 8),
}

# --- storage -------------------------------------------------------------------------------------


def blob_services(accounts: list[Body]) -> list[Body]:
    """Each account's `blobServices/default`, which Azure gives every account and the collector
    GETs per A2A cache account: without it each such read is a `not_found` gap. Shape of
    tests/scenarios/healthy (soft delete off). Child objects, outside the `--resources` budget,
    and only in the scenario directory (`bench.scale` parses no blob services)."""
    return [
        {
            "id": f"{account['id']}/blobServices/default",
            "name": "default",
            "type": "Microsoft.Storage/storageAccounts/blobServices",
            "sku": account.get("sku", {"name": "Standard_LRS", "tier": "Standard"}),
            "properties": {
                "cors": {"corsRules": []},
                "deleteRetentionPolicy": {"allowPermanentDelete": False, "enabled": False},
            },
        }
        for account in accounts
    ]


def compute_offers(vms: list[Body]) -> tuple[list[Body], dict[str, list[Body]]]:
    """A subscription's `Microsoft.Compute/skus` entries for its VM sizes (offered in both regions
    and their zones, unrestricted) and its vCPU usages per region, with the quota to fail every VM
    of the other region over: real subscriptions offer these sizes in these regions, and without
    the files each VM was reported as not offered at all. Files of the scenario directory, as the
    blob services (`bench.scale` parses neither). Shapes of tests/scenarios/healthy."""
    skus = [
        {
            "resourceType": "virtualMachines",
            "name": name,
            "tier": "Standard",
            "size": size,
            "family": family,
            "locations": list(REGIONS),
            "locationInfo": [{"location": r, "zones": ["1", "2", "3"], "zoneDetails": []} for r in REGIONS],
            "capabilities": [
                {"name": "vCPUs", "value": str(vcpus)},
                {"name": "MemoryGB", "value": str(memory)},
                {"name": "CpuArchitectureType", "value": "x64"},
                {"name": "vCPUsAvailable", "value": str(vcpus)},
            ],
            "restrictions": [],
        }
        for name, (size, family, vcpus, memory) in SIZES.items()
    ]
    used = {(r, q): 0 for r in REGIONS for q in ["cores", *sorted({f for _, f, _, _ in SIZES.values()})]}
    for vm in vms:
        _, family, vcpus, _ = SIZES[vm["properties"]["hardwareProfile"]["vmSize"]]
        used[(vm["location"], family)] += vcpus
        used[(vm["location"], "cores")] += vcpus
    usages: dict[str, list[Body]] = {}
    for region in REGIONS:
        other = next(r for r in REGIONS if r != region)
        usages[region] = [
            {
                "unit": "Count",
                "currentValue": used[(region, quota)],
                "limit": math.ceil((used[(region, quota)] + used[(other, quota)]) * 1.2 / 100) * 100,
                "name": {"value": quota, "localizedValue": quota},
            }
            for r, quota in used
            if r == region
        ]
    return skus, usages


def build_storage_accounts(e: Estate) -> None:
    for region, count in e.split(e.counts["storageAccounts"]).items():
        rg = e.rg("asr" if region == SOURCE_REGION else "data", region)
        subnets = [s.id for n in e.nets if n.region == region and not n.hub for s in n.subnets[1:3]]
        for k in range(count):
            name = f"st{e.index:02d}{region[:4]}{k:05d}{e.rng.randrange(16**6):06x}"[:24]
            sku, kind = e.rng.choice(
                [
                    ("Standard_LRS", "StorageV2"),
                    ("Standard_LRS", "StorageV2"),
                    ("Standard_GRS", "StorageV2"),
                    ("Premium_LRS", "BlockBlobStorage"),
                    ("Standard_ZRS", "StorageV2"),
                    ("Standard_LRS", "Storage"),
                ]
            )
            props: Body = {
                "provisioningState": "Succeeded",
                "creationTime": e.v.timestamp(),
                "primaryLocation": region,
                "statusOfPrimary": "available",
                "supportsHttpsTrafficOnly": True,
                "minimumTlsVersion": "TLS1_2",
                "allowBlobPublicAccess": False,
                "allowSharedKeyAccess": False,
                "keyCreationTime": {"key1": e.v.timestamp(), "key2": e.v.timestamp()},
                "privateEndpointConnections": [],
                "accessTier": "Hot",
                "encryption": {
                    "services": {
                        s: {"keyType": "Account", "enabled": True, "lastEnabledTime": e.v.timestamp()}
                        for s in ("file", "blob")
                    },
                    "keySource": "Microsoft.Storage",
                },
                "primaryEndpoints": {
                    s: f"https://{name}.{s}.core.windows.net/"
                    for s in ("blob", "queue", "table", "file", "dfs", "web")
                },
            }
            if sku.startswith("Standard_GRS"):
                props.update(secondaryLocation=TARGET_REGION, statusOfSecondary="available")
            if k % 3:  # the others omit networkAcls altogether, as older accounts do
                deny = k % 3 == 2
                props["networkAcls"] = {
                    "bypass": "AzureServices" if deny else "AzureServices, Logging, Metrics",
                    "defaultAction": "Deny" if deny else "Allow",
                    "ipRules": [{"value": "203.0.113.0/24", "action": "Allow"}] if deny else [],
                    "virtualNetworkRules": [
                        {"id": sid, "action": "Allow", "state": "Succeeded"}
                        for sid in e.rng.sample(subnets, min(2, len(subnets)))
                    ]
                    if deny
                    else [],
                    "resourceAccessRules": [],
                }
            body = {
                "id": arm_id(e.sub, rg, "Microsoft.Storage/storageAccounts", name),
                "name": name,
                "type": "Microsoft.Storage/storageAccounts",
                "location": region,
                "kind": kind,
                "sku": {"name": sku, "tier": sku.split("_")[0]},
                "tags": e.tags(),
                "properties": props,
            }
            e.storage[region].append(body)
            e.out["storageAccounts"].append(body)


# --- workloads: NICs, VMs, disks --------------------------------------------------------------------


def build_workloads(e: Estate) -> None:
    n_vms = e.counts["virtualMachines"]
    data_disks = e.counts["disks"] - n_vms
    extra_nics = e.counts["networkInterfaces"] - n_vms
    per_region = {SOURCE_REGION: n_vms - n_vms // 5, TARGET_REGION: n_vms // 5}
    k = 0
    for region, count in per_region.items():
        subnets = [s for n in e.nets if n.region == region and not n.hub for s in n.subnets[:3]]
        for j in range(count):
            subnet = subnets[j % len(subnets)]
            host = 4 + (j // len(subnets)) % 250
            disks = 1 + data_disks // n_vms + (1 if k < data_disks % n_vms else 0)
            nics = 1 + (1 if k < extra_nics else 0)
            _vm(e, k, region, subnet, host, disks, nics)
            k += 1


def _vm(e: Estate, k: int, region: str, subnet: Subnet, host: int, n_disks: int, n_nics: int) -> None:
    rng = e.rng
    rg = f"rg-app-{region}-{k // 25:03d}"
    name = f"vm-{region[:4]}-{k:05d}"
    vm_id = arm_id(e.sub, rg, "Microsoft.Compute/virtualMachines", name)
    zone = rng.choice([None, "1", "2", "3"])
    linux = rng.random() < 0.6
    size = rng.choice(list(SIZES))
    nic_ids = []
    for n in range(n_nics):
        nic = _nic(e, f"{name}-nic{n}", rg, region, subnet, host, vm_id, primary=n == 0)
        nic_ids.append(nic["id"])
        e.out["networkInterfaces"].append(nic)
    disk_bodies = [
        _disk(
            e,
            f"{name}-{'osdisk' if d == 0 else f'data{d - 1}'}",
            rg,
            region,
            vm_id,
            zone,
            os_type=("Linux" if linux else "Windows") if d == 0 else None,
        )
        for d in range(n_disks)
    ]
    e.out["disks"].extend(disk_bodies)

    def vm_disk(disk: Body, lun: int | None) -> Body:
        entry: Body = {
            "name": disk["name"],
            "createOption": "FromImage" if lun is None else "Attach",
            "caching": "ReadWrite" if lun is None else "ReadOnly",
            "managedDisk": {"storageAccountType": disk["sku"]["name"], "id": upper_rg(disk["id"])},
            "deleteOption": "Delete" if lun is None else "Detach",
            "diskSizeGB": disk["properties"]["diskSizeGB"],
            "writeAcceleratorEnabled": False,
        }
        if lun is None:
            entry["osType"] = "Linux" if linux else "Windows"
        else:
            entry.update(lun=lun, toBeDetached=False)
        return entry

    image = (
        {"publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts-gen2"}
        if linux
        else {
            "publisher": "MicrosoftWindowsServer",
            "offer": "WindowsServer",
            "sku": "2022-datacenter-azure-edition",
        }
    )
    os_profile: Body = {
        "computerName": name,
        "adminUsername": "azureadmin",
        "secrets": [],
        "allowExtensionOperations": True,
        "requireGuestProvisionSignal": True,
    }
    if linux:
        os_profile["linuxConfiguration"] = {
            "disablePasswordAuthentication": True,
            "provisionVMAgent": True,
            "patchSettings": {"patchMode": "ImageDefault", "assessmentMode": "ImageDefault"},
        }
    else:
        os_profile["windowsConfiguration"] = {
            "provisionVMAgent": True,
            "enableAutomaticUpdates": True,
            "patchSettings": {"patchMode": "AutomaticByOS", "assessmentMode": "ImageDefault"},
        }
    body: Body = {
        "name": name,
        "id": vm_id,
        "type": "Microsoft.Compute/virtualMachines",
        "location": region,
        "tags": e.tags(),
        "properties": {
            "vmId": e.v.guid(),
            "hardwareProfile": {"vmSize": size},
            "storageProfile": {
                "imageReference": {
                    **image,
                    "version": "latest",
                    "exactVersion": f"2024.{rng.randrange(1, 13)}.{rng.randrange(1, 28)}",
                },
                "osDisk": vm_disk(disk_bodies[0], None),
                "dataDisks": [vm_disk(d, lun) for lun, d in enumerate(disk_bodies[1:])],
                "diskControllerType": "SCSI",
            },
            "osProfile": os_profile,
            "networkProfile": {
                "networkInterfaces": [
                    {"id": upper_rg(nid), "properties": {"primary": n == 0, "deleteOption": "Detach"}}
                    for n, nid in enumerate(nic_ids)
                ]
            },
            "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
            "securityProfile": {
                "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True},
                "securityType": "TrustedLaunch",
            },
            "provisioningState": "Succeeded",
            "timeCreated": e.v.timestamp(),
        },
    }
    if zone:
        body["zones"] = [zone]
    e.out["virtualMachines"].append(body)
    e.vms.append((body, disk_bodies))


def _nic(
    e: Estate, name: str, rg: str, region: str, subnet: Subnet, host: int, vm_id: str, *, primary: bool
) -> Body:
    nic_id = arm_id(e.sub, rg, "Microsoft.Network/networkInterfaces", name)
    etag = e.v.etag()
    props: Body = {
        "provisioningState": "Succeeded",
        "resourceGuid": e.v.guid(),
        "ipConfigurations": [
            {
                "name": "ipconfig1",
                "id": f"{nic_id}/ipConfigurations/ipconfig1",
                "etag": etag,
                "type": "Microsoft.Network/networkInterfaces/ipConfigurations",
                "properties": {
                    "provisioningState": "Succeeded",
                    "privateIPAddress": subnet.prefix.replace(".0/24", f".{host}"),
                    "privateIPAllocationMethod": "Dynamic",
                    "subnet": {"id": subnet.id},
                    "primary": True,
                    "privateIPAddressVersion": "IPv4",
                },
            }
        ],
        "dnsSettings": {
            "dnsServers": [],
            "appliedDnsServers": [],
            "internalDomainNameSuffix": f"{e.v.guid()[:20]}.bx.internal.cloudapp.net",
        },
        "macAddress": e.v.mac(),
        "enableAcceleratedNetworking": e.rng.random() < 0.5,
        "vnetEncryptionSupported": False,
        "enableIPForwarding": False,
        "disableTcpStateTracking": False,
        "primary": primary,
        "virtualMachine": {"id": upper_rg(vm_id)},
        "hostedWorkloads": [],
        "tapConfigurations": [],
        "nicType": "Standard",
        "allowPort25Out": False,
        "auxiliaryMode": "None",
        "auxiliarySku": "None",
    }
    if e.rng.random() < 0.2:
        nsg = e.rng.choice(e.nsgs[region])
        props["networkSecurityGroup"] = {"id": nsg["id"]}
        nsg["properties"].setdefault("networkInterfaces", []).append({"id": nic_id})
    subnet.body["properties"]["ipConfigurations"].append({"id": f"{nic_id}/ipConfigurations/ipconfig1"})
    return {
        "name": name,
        "id": nic_id,
        "etag": etag,
        "type": "Microsoft.Network/networkInterfaces",
        "location": region,
        "kind": "Regular",
        "properties": props,
    }


def _disk(
    e: Estate, name: str, rg: str, region: str, vm_id: str, zone: str | None, os_type: str | None
) -> Body:
    size = 128 if os_type else e.rng.choice([64, 128, 256, 512, 1024])
    sku = e.rng.choice(["Premium_LRS", "Premium_LRS", "StandardSSD_LRS", "Standard_LRS"])
    props: Body = {
        "creationData": {"createOption": "FromImage" if os_type else "Empty"},
        "diskSizeGB": size,
        "diskSizeBytes": size * 1024**3,
        "diskIOPSReadWrite": 500,
        "diskMBpsReadWrite": 100,
        "encryption": {"type": "EncryptionAtRestWithPlatformKey"},
        "networkAccessPolicy": "AllowAll",
        "publicNetworkAccess": "Enabled",
        "timeCreated": e.v.timestamp(),
        "provisioningState": "Succeeded",
        "diskState": "Attached",
        "uniqueId": e.v.guid(),
        "tier": "P10" if sku.startswith("Premium") else None,
    }
    if props["tier"] is None:
        del props["tier"]
    if os_type:
        props["osType"] = os_type
        props["hyperVGeneration"] = "V2"
        props["creationData"]["imageReference"] = {
            "id": f"/Subscriptions/{e.sub}/Providers/Microsoft.Compute/Locations/{region}/Publishers/"
            "Canonical/ArtifactTypes/VMImage/Offers/0001-com-ubuntu-server-jammy/Skus/22_04-lts-gen2/Versions/latest"
        }
    body: Body = {
        "name": name,
        "id": upper_rg(arm_id(e.sub, rg, "Microsoft.Compute/disks", name)),
        "type": "Microsoft.Compute/disks",
        "location": region,
        "managedBy": upper_rg(vm_id),
        "sku": {"name": sku, "tier": "Premium" if sku.startswith("Premium") else "Standard"},
        "properties": props,
    }
    if zone:
        body["zones"] = [zone]
    return body
