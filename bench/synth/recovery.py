"""Site Recovery: vaults, A2A network mappings and protected items (ASR spells ids
`/Subscriptions/`), referencing the VMs, disks, cache accounts and recovery VNets built before.
"""

from __future__ import annotations

from .common import SOURCE_REGION, TARGET_REGION, Body, Estate, arm_id, asr_id

MAPPING_TYPE = (
    "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationNetworks/replicationNetworkMappings"
)
PROTECTED_ITEM_TYPE = (
    "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers"
    "/replicationProtectedItems"
)


def build_recovery(e: Estate) -> None:
    rg = e.rg("asr", TARGET_REGION)
    vaults = []
    for k in range(e.counts["vaults"]):
        name = f"rsv-dr-{TARGET_REGION}-{k:02d}"
        vault = _vault(e, rg, name)
        vaults.append(vault)
        e.out["vaults"].append(vault)
    _network_mappings(e, vaults)
    _protected_items(e, vaults)


def _vault(e: Estate, rg: str, name: str) -> Body:
    return {
        "location": TARGET_REGION,
        "name": name,
        "etag": f"W/\"datetime'2024-05-0{e.rng.randrange(1, 9)}T10%3A05%3A19.907Z'\"",
        "tags": e.tags(),
        "identity": {"type": "SystemAssigned", "principalId": e.v.guid(), "tenantId": e.v.guid()},
        "properties": {
            "provisioningState": "Succeeded",
            "publicNetworkAccess": "Enabled",
            "privateEndpointStateForBackup": "None",
            "privateEndpointStateForSiteRecovery": "None",
            "redundancySettings": {
                "standardTierStorageRedundancy": "GeoRedundant",
                "crossRegionRestore": "Disabled",
            },
            "securitySettings": {
                "immutabilitySettings": {"state": "Disabled"},
                "softDeleteSettings": {
                    "softDeleteState": "Enabled",
                    "softDeleteRetentionPeriodInDays": 14,
                    "enhancedSecurityState": "Enabled",
                },
            },
            "secureScore": "None",
            "bcdrSecurityLevel": "Fair",
            "monitoringSettings": {
                "azureMonitorAlertSettings": {"alertsForAllJobFailures": "Enabled"},
                "classicAlertSettings": {"alertsForCriticalOperations": "Disabled"},
            },
        },
        "id": arm_id(e.sub, rg, "Microsoft.RecoveryServices/vaults", name),
        "type": "Microsoft.RecoveryServices/vaults",
        "sku": {"name": "RS0", "tier": "Standard"},
    }


def fabric_id(vault_id: str, region: str) -> str:
    """The A2A fabric ASR creates per region; the collector never lists fabrics, so none are served."""
    return f"{asr_id(vault_id)}/replicationFabrics/asr-a2a-default-{region}"


def _network_mappings(e: Estate, vaults: list[Body]) -> None:
    sources = [n for n in e.nets if n.region == SOURCE_REGION and not n.hub]
    targets = [n for n in e.nets if n.region == TARGET_REGION and not n.hub]
    per_vault = e.counts["replicationNetworkMappings"] // len(vaults)
    for v_index, vault in enumerate(vaults):
        for k in range(per_vault):
            primary = sources[(v_index * per_vault + k) % len(sources)]
            recovery = targets[(v_index * per_vault + k) % len(targets)]
            fabric = fabric_id(vault["id"], SOURCE_REGION)
            name = f"map-{primary.name}"[:60]
            e.out["replicationNetworkMappings"].append(
                {
                    "type": MAPPING_TYPE,
                    "id": f"{fabric}/replicationNetworks/azureNetwork/replicationNetworkMappings/{name}",
                    "name": name,
                    "location": TARGET_REGION,
                    "properties": {
                        "state": "Paired",
                        "primaryNetworkFriendlyName": primary.name,
                        "primaryNetworkId": primary.id,
                        "primaryFabricFriendlyName": f"asr-a2a-default-{SOURCE_REGION}",
                        "recoveryNetworkFriendlyName": recovery.name,
                        "recoveryNetworkId": recovery.id,
                        "recoveryFabricArmId": fabric_id(vault["id"], TARGET_REGION),
                        "recoveryFabricFriendlyName": f"asr-a2a-default-{TARGET_REGION}",
                        "fabricSpecificSettings": {
                            "instanceType": "AzureToAzure",
                            "primaryFabricLocation": SOURCE_REGION,
                            "recoveryFabricLocation": TARGET_REGION,
                        },
                    },
                }
            )


def _protected_items(e: Estate, vaults: list[Body]) -> None:
    source_vms = [(vm, disks) for vm, disks in e.vms if vm["location"] == SOURCE_REGION]
    targets = [n for n in e.nets if n.region == TARGET_REGION and not n.hub]
    caches = e.storage[SOURCE_REGION]
    for k in range(e.counts["replicationProtectedItems"]):
        vm, disks = source_vms[k % len(source_vms)]
        vault = vaults[k % len(vaults)]
        e.out["replicationProtectedItems"].append(
            _protected_item(
                e, vault["id"], vm, disks, caches[k % len(caches)]["id"], targets[k % len(targets)].id
            )
        )


def _protected_item(
    e: Estate, vault_id: str, vm: Body, disks: list[Body], cache_id: str, network_id: str
) -> Body:
    fabric = fabric_id(vault_id, SOURCE_REGION)
    container = f"{fabric}/replicationProtectionContainers/asr-a2a-default-{SOURCE_REGION}-container"
    name = e.v.guid()
    recovery_rg = f"/subscriptions/{e.sub}/resourceGroups/{vm['id'].split('/')[4]}-asr"
    health = e.rng.random()
    zone = (vm.get("zones") or [None])[0]
    details: Body = {
        "instanceType": "A2A",
        "fabricObjectId": vm["id"],
        "initialPrimaryFabricLocation": SOURCE_REGION,
        "initialRecoveryFabricLocation": TARGET_REGION,
        "primaryFabricLocation": SOURCE_REGION,
        "recoveryFabricLocation": TARGET_REGION,
        "osType": vm["properties"]["storageProfile"]["osDisk"]["osType"],
        "recoveryAzureVMSize": vm["properties"]["hardwareProfile"]["vmSize"],
        "recoveryAzureVMName": f"{vm['name']}-asr",
        "recoveryAzureResourceGroupId": recovery_rg,
        "selectedRecoveryAzureNetworkId": network_id,
        "selectedTfoAzureNetworkId": network_id,
        "multiVmGroupName": "",
        "multiVmGroupId": e.v.guid(),
        "multiVmGroupCreateOption": "AutoCreated",
        "agentExpiryDate": "2027-08-14T00:00:00",
        "agentCertificateExpiryDate": e.v.timestamp(),
        "vmSyncedConfigDetails": {"tags": {}, "inputEndpoints": []},
        "managementId": e.v.guid(),
        "protectedDisks": [],
        "unprotectedDisks": [],
        "protectedManagedDisks": [
            {
                "diskId": d["id"],
                "diskName": d["name"],
                "diskCapacityInBytes": d["properties"]["diskSizeBytes"],
                "diskType": d["sku"]["name"],
                "primaryStagingAzureStorageAccountId": cache_id,
                "recoveryResourceGroupId": recovery_rg,
                "recoveryReplicaDiskId": f"{recovery_rg}/providers/Microsoft.Compute/disks/{d['name']}-r",
                "recoveryTargetDiskId": "",
                "recoveryOrignalTargetDiskId": "",
                "recoveryDiskEncryptionSetId": "",
                "recoveryReplicaDiskAccountType": d["sku"]["name"],
                "recoveryTargetDiskAccountType": d["sku"]["name"],
                "resyncRequired": False,
                "monitoringPercentageCompletion": 100,
                "dataPendingInStagingStorageAccountInMB": 0.0,
                "dataPendingAtSourceAgentInMB": 0.0,
                "diskState": "OnlineProtected",
                "allowedDiskLevelOperation": [],
                "isDiskEncrypted": False,
                "isDiskKeyEncrypted": False,
                "failoverDiskName": f"{d['name']}-asr",
                "tfoDiskName": f"{d['name']}-asrtest",
            }
            for d in disks
        ],
        "vmNics": [
            {
                "nicId": nic["id"],
                "vMNetworkName": network_id,
                "recoveryVMNetworkId": network_id,
                "recoveryVMSubnetName": "snet-app",
                "replicaNicId": e.v.guid(),
                "selectionType": "SelectedByUser",
                "reuseExistingNic": False,
                "enableAcceleratedNetworkingOnRecovery": False,
                "ipConfigs": [
                    {
                        "name": "ipconfig1",
                        "isPrimary": True,
                        "subnetName": "",
                        "staticIPAddress": "",
                        "ipAddressType": "Dynamic",
                        "isSeletedForFailover": True,
                        "recoverySubnetName": "snet-app",
                        "recoveryStaticIPAddress": "",
                        "recoveryIPAddressType": "Dynamic",
                        "recoveryLBBackendAddressPoolIds": [],
                        "tfoSubnetName": "",
                        "tfoStaticIPAddress": "",
                        "tfoLBBackendAddressPoolIds": [],
                    }
                ],
            }
            for nic in vm["properties"]["networkProfile"]["networkInterfaces"]
        ],
        "lastHeartbeat": e.v.timestamp(),
        "agentVersion": "9.62.7172.1",
        "isReplicationAgentUpdateRequired": False,
        "isReplicationAgentCertificateUpdateRequired": False,
        "vmProtectionState": "Protected",
        "vmProtectionStateDescription": "Protected",
        "lifecycleId": e.v.guid(),
        "rpoInSeconds": e.rng.randrange(20, 600),
        "lastRpoCalculatedTime": e.v.timestamp(),
        "vmEncryptionType": "NotEncrypted",
        "recoveryAzureGeneration": "V2",
        "autoProtectionOfDataDisk": "Disabled",
        "churnOptionSelected": "High" if health < 0.1 else "Normal",
    }
    if zone:
        details["initialPrimaryZone"] = details["initialRecoveryZone"] = zone
        details["primaryAvailabilityZone"] = zone
        details["recoveryAvailabilityZone"] = zone
    errors = (
        []
        if health > 0.05
        else [
            {
                "errorCode": "153039",
                "errorMessage": "Replication of the virtual machine is in a critical state.",
                "errorSeverity": "Error",
                "errorSource": "ServiceError",
                "errorType": "ProtectionEntity",
                "creationTimeUtc": e.v.timestamp(),
                "possibleCauses": "High data change rate.",
                "recommendedAction": "Check the data change rate.",
                "innerHealthErrors": [],
            }
        ]
    )
    return {
        "id": f"{container}/replicationProtectedItems/{name}",
        "name": name,
        "type": PROTECTED_ITEM_TYPE,
        "location": TARGET_REGION,
        "properties": {
            "friendlyName": vm["name"],
            "eventCorrelationId": e.v.guid(),
            "protectedItemType": "",
            "protectableItemId": f"{container}/replicationProtectableItems/{name}",
            "primaryFabricFriendlyName": f"asr-a2a-default-{SOURCE_REGION}",
            "primaryFabricProvider": "Azure",
            "recoveryFabricFriendlyName": f"asr-a2a-default-{TARGET_REGION}",
            "recoveryFabricId": fabric_id(vault_id, TARGET_REGION),
            "primaryProtectionContainerFriendlyName": f"asr-a2a-default-{SOURCE_REGION}-container",
            "recoveryProtectionContainerFriendlyName": f"asr-a2a-default-{TARGET_REGION}-container",
            "protectionState": "Protected",
            "protectionStateDescription": "Protected",
            "activeLocation": "Primary",
            "testFailoverState": "None",
            "testFailoverStateDescription": "None",
            "allowedOperations": [
                "PlannedFailover",
                "UnplannedFailover",
                "DisableProtection",
                "TestFailover",
            ],
            "replicationHealth": "Critical" if errors else "Normal",
            "failoverHealth": "Normal",
            "healthErrors": errors,
            "policyId": f"{asr_id(vault_id)}/replicationPolicies/24-hour-retention-policy",
            "policyFriendlyName": "24-hour-retention-policy",
            "currentScenario": {
                "scenarioName": "None",
                "jobId": f"{asr_id(vault_id)}/replicationJobs/None",
                "startTime": "1753-01-01T01:01:01Z",
            },
            "providerSpecificDetails": details,
        },
    }
