"""Recovery Services vaults and Site Recovery objects: ARM JSON -> inventory records.

Each replication provider (`providerSpecificDetails.instanceType`) names the same facts
differently (`recoveryAzureVMName` for A2A and InMageAzureV2, `recoveryAzureVmName` for
HyperVReplicaAzure, `targetVmName` for InMageRcm); the table below maps them onto one
record. Pure functions, no I/O.
"""

from __future__ import annotations

from typing import Any

from asr_audit import ids
from asr_audit.collect.fields import (
    Malformed,
    bool_field,
    choice_field,
    flag,
    identity,
    integer,
    list_field,
    obj_field,
    props,
    required_id,
    text,
)
from asr_audit.inventory import (
    HealthError,
    NetworkMapping,
    ProtectableItem,
    ProtectedDisk,
    ProtectedItem,
    ProtectionContainerMapping,
    ReplicationPolicy,
    Vault,
)


def parse_vault(item: dict[str, Any]) -> Vault:
    """The list carries only provisioningState; the vault GET fills the network and alert settings."""
    rid, name, location = identity(item)
    p = props(item)
    monitoring = obj_field(p, "monitoringSettings")
    azure_monitor = obj_field(monitoring, "azureMonitorAlertSettings")
    classic = obj_field(monitoring, "classicAlertSettings")
    return Vault(
        id=rid,
        name=name,
        location=location,
        private_endpoint_state_for_site_recovery=text(p.get("privateEndpointStateForSiteRecovery")),
        public_network_access=text(p.get("publicNetworkAccess")),
        identity_principal_ids=_principals(obj_field(item, "identity")),
        alerts_for_replication_issues=_alerts_state(azure_monitor, "alertsForAllReplicationIssues"),
        alerts_for_failover_issues=_alerts_state(azure_monitor, "alertsForAllFailoverIssues"),
        site_recovery_email_notifications=_alerts_state(classic, "emailNotificationsForSiteRecovery"),
    )


_ON_OFF = ("Enabled", "Disabled")


def _alerts_state(settings: dict[str, Any], key: str) -> str | None:
    """An alert setting, None when not set (the default: alerts on). Strict, as a value read as
    "not set" would hide alerts turned off."""
    return choice_field(settings, key, _ON_OFF)


def _principals(identity: dict[str, Any]) -> list[str]:
    """The system-assigned principal, then each user-assigned one (`type: None` has neither)."""
    found = [text(identity.get("principalId"))]
    found += [
        text(u.get("principalId"))
        for u in obj_field(identity, "userAssignedIdentities").values()
        if isinstance(u, dict)
    ]
    return [p for p in found if p]


def vault_id_of(resource_id: str) -> str:
    """The vault prefix of an ASR object id (`.../vaults/{name}/replicationFabrics/...`)."""
    parts = resource_id.rstrip("/").split("/")
    for i, part in enumerate(parts[:-1]):
        if part.lower() == "vaults":
            return "/".join(parts[: i + 2])
    raise Malformed(f"not under a vault: {resource_id}")


def _vault_child(item: dict[str, Any], rid: str) -> dict[str, str]:
    """The id, name and vault of a Site Recovery mapping: both kinds of record name them alike."""
    return {"id": rid, "name": text(item.get("name")) or ids.name_of(rid), "vault_id": vault_id_of(rid)}


# --- protected items ------------------------------------------------------------------------

# instanceType -> ProtectedItem field -> provider-specific property name (first present wins)
_PROVIDER_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "A2A": {
        "recovery_vm_name": ("recoveryAzureVMName",),
        "recovery_network_id": ("selectedRecoveryAzureNetworkId",),
        "recovery_resource_group_id": ("recoveryAzureResourceGroupId",),
        "test_failover_network_id": ("selectedTfoAzureNetworkId",),
        "agent_expiry_date": ("agentExpiryDate",),
        "agent_certificate_expiry_date": ("agentCertificateExpiryDate",),
        "recovery_vm_size": ("recoveryAzureVMSize",),
    },
    "HyperVReplicaAzure": {
        "recovery_vm_name": ("recoveryAzureVmName", "recoveryAzureVMName"),
        "recovery_network_id": ("selectedRecoveryAzureNetworkId",),
        "recovery_storage_account_id": ("recoveryAzureStorageAccount",),
        "recovery_log_storage_account_id": ("recoveryAzureLogStorageAccountId",),
        "recovery_resource_group_id": ("recoveryAzureResourceGroupId",),
    },
    "InMageAzureV2": {
        "recovery_vm_name": ("recoveryAzureVMName",),
        "recovery_network_id": ("selectedRecoveryAzureNetworkId",),
        "recovery_storage_account_id": ("recoveryAzureStorageAccount",),
        "recovery_log_storage_account_id": ("recoveryAzureLogStorageAccountId",),
        "recovery_resource_group_id": ("recoveryAzureResourceGroupId",),
    },
    "InMageRcm": {
        "recovery_vm_name": ("targetVmName",),
        "recovery_network_id": ("targetNetworkId",),
        "recovery_log_storage_account_id": ("logStorageAccountId",),
        "recovery_resource_group_id": ("targetResourceGroupId",),
    },
}


def _first(details: dict[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = text(details.get(name))
        if value:
            return value
    return None


def parse_health_error(raw: dict[str, Any]) -> HealthError:
    return HealthError(
        code=text(raw.get("errorCode")),
        message=text(raw.get("errorMessage")) or text(raw.get("summaryMessage")),
        severity=text(raw.get("errorSeverity")) or text(raw.get("errorLevel")),
    )


def _a2a_disks(details: dict[str, Any]) -> list[ProtectedDisk]:
    managed = [
        ProtectedDisk(
            disk_id=text(d.get("diskId")),
            cache_storage_account_id=text(d.get("primaryStagingAzureStorageAccountId")),
            recovery_disk_id=text(d.get("recoveryReplicaDiskId")) or text(d.get("recoveryTargetDiskId")),
            disk_capacity_bytes=integer(d.get("diskCapacityInBytes")),
            recovery_disk_encryption_set_id=text(d.get("recoveryDiskEncryptionSetId")),
            **_ade_fields(d),
        )
        for d in list_field(details, "protectedManagedDisks")
    ]
    unmanaged = [
        ProtectedDisk(
            disk_id=text(d.get("diskUri")),
            cache_storage_account_id=text(d.get("primaryStagingAzureStorageAccountId")),
            recovery_disk_id=text(d.get("recoveryDiskUri")),
            disk_capacity_bytes=integer(d.get("diskCapacityInBytes")),
            **_ade_fields(d),
        )
        for d in list_field(details, "protectedDisks")
    ]
    return managed + unmanaged


def _ade_fields(disk: dict[str, Any]) -> dict[str, Any]:
    """Azure Disk Encryption state and target key vaults of an A2A disk (managed and unmanaged
    entries name them alike). The flags are strict: a junk value read as "not encrypted" would
    pass a disk whose target key vault is missing."""
    return {
        "is_disk_encrypted": bool_field(disk, "isDiskEncrypted", False),
        "is_disk_key_encrypted": bool_field(disk, "isDiskKeyEncrypted", False),
        "dek_key_vault_id": text(disk.get("dekKeyVaultArmId")),
        "kek_key_vault_id": text(disk.get("kekKeyVaultArmId")),
    }


def _other_disks(details: dict[str, Any]) -> list[ProtectedDisk]:
    """Non-A2A providers: the disk ids, sizes and, where the provider says, which is the OS disk
    (DSK-SIZE holds OS disks to a lower limit than data disks).

    HyperVReplicaAzure and InMageAzureV2 give the source disks' sizes only in
    `azureVmDiskDetails` (`azureVMDiskDetails` on InMageAzureV2), as `maxSizeMB` strings, with
    `vhdType` naming the OS disk; those entries describe every replicated disk, so they win when
    present. InMageRcm's `protectedDisks[]` carry `capacityInBytes` and `isOSDisk`; InMageAzureV2's
    carry `diskCapacityInBytes` and no role."""
    sized = list_field(details, "azureVmDiskDetails") or list_field(details, "azureVMDiskDetails")
    if sized:
        return [
            ProtectedDisk(
                disk_id=text(d.get("diskId")) or text(d.get("vhdId")) or text(d.get("vhdName")),
                disk_capacity_bytes=_mib_to_bytes(integer(d.get("maxSizeMB"))),
                is_os_disk=_vhd_is_os(text(d.get("vhdType"))),
            )
            for d in sized
        ]
    disks = list_field(details, "protectedManagedDisks") or list_field(details, "protectedDisks")
    return [
        ProtectedDisk(
            disk_id=text(d.get("diskId")),
            recovery_disk_id=text(d.get("targetManagedDiskId")),
            disk_capacity_bytes=next(
                (
                    n
                    for k in ("capacityInBytes", "diskCapacityInBytes")
                    if (n := integer(d.get(k))) is not None
                ),
                None,
            ),
            is_os_disk=_TRUE_FALSE.get((text(d.get("isOSDisk")) or "").lower()),
        )
        for d in disks
    ]


# InMageRcm `isOSDisk` is a "true"/"false" string; anything else leaves the disk's role unknown.
_TRUE_FALSE = {"true": True, "false": False}


def _vhd_is_os(vhd_type: str | None) -> bool | None:
    """`vhdType` "OperatingSystem" marks the OS disk; any other value a data disk; none, unknown."""
    return None if vhd_type is None else vhd_type.lower() == "operatingsystem"


def _mib_to_bytes(mib: int | None) -> int | None:
    return None if mib is None else mib * 2**20


def parse_protected_item(item: dict[str, Any]) -> ProtectedItem:
    rid = required_id(item)
    p = props(item)
    details = obj_field(p, "providerSpecificDetails")
    kind = text(details.get("instanceType"))
    fields = {f: _first(details, names) for f, names in _PROVIDER_FIELDS.get(kind or "", {}).items()}
    if kind == "InMageRcm" and not fields.get("recovery_log_storage_account_id"):
        # InMageRcm names its log storage account per disk.
        logs = [text(d.get("logStorageAccountId")) for d in list_field(details, "protectedDisks")]
        fields["recovery_log_storage_account_id"] = next((x for x in logs if x), None)
    a2a = kind == "A2A"
    return ProtectedItem(
        id=rid,
        name=text(item.get("name")) or ids.name_of(rid),
        vault_id=vault_id_of(rid),
        friendly_name=text(p.get("friendlyName")),
        instance_type=kind,
        protection_state=text(p.get("protectionState")),
        replication_health=text(p.get("replicationHealth")),
        failover_health=text(p.get("failoverHealth")),
        health_errors=[parse_health_error(e) for e in list_field(p, "healthErrors")],
        test_failover_state=text(p.get("testFailoverState")),
        last_successful_test_failover_time=text(p.get("lastSuccessfulTestFailoverTime")),
        rpo_seconds=integer(details.get("rpoInSeconds")),
        agent_update_required=a2a and flag(details.get("isReplicationAgentUpdateRequired")),
        agent_certificate_update_required=a2a
        and flag(details.get("isReplicationAgentCertificateUpdateRequired")),
        primary_location=text(details.get("primaryFabricLocation")) if a2a else None,
        recovery_location=text(details.get("recoveryFabricLocation")) if a2a else None,
        primary_availability_zone=text(details.get("primaryAvailabilityZone")) if a2a else None,
        recovery_availability_zone=text(details.get("recoveryAvailabilityZone")) if a2a else None,
        source_vm_id=text(details.get("fabricObjectId")) if a2a else None,
        churn_option=text(details.get("churnOptionSelected")) if a2a else None,
        protected_disks=_a2a_disks(details) if a2a else _other_disks(details),
        protectable_item_id=text(p.get("protectableItemId")),
        **fields,
    )


# --- protectable items (Hyper-V) ----------------------------------------------------------------


def parse_protectable_item(item: dict[str, Any]) -> ProtectableItem:
    """Only the VM generation is kept (`customDetails` of instanceType `HyperVVirtualMachine`), with
    the replicated item it belongs to. Other custom details (`ReplicationGroupDetails`, VMware) carry
    none. A generation that is neither 1 nor 2 makes the item unreadable rather than unknown: read
    as "none", it would leave a 400 GB generation 2 OS disk undecided instead of flagged."""
    rid = required_id(item)
    p = props(item)
    custom = obj_field(p, "customDetails")
    hyper_v = text(custom.get("instanceType")) == "HyperVVirtualMachine"
    return ProtectableItem(
        id=rid,
        replicated_item_id=text(p.get("replicationProtectedItemId")),
        generation=_generation(custom.get("generation")) if hyper_v else None,
    )


# HyperVVirtualMachineDetails.generation is a string ("1", "2"); a bare number is taken alike.
_GENERATIONS = {"1": 1, "2": 2}


def _generation(raw: Any) -> int | None:
    if raw is None or raw == "":
        return None
    value = None if isinstance(raw, bool) else _GENERATIONS.get(str(raw).strip())
    if value is None:
        raise Malformed(f"generation {raw!r} is neither 1 nor 2")
    return value


# --- network mappings -------------------------------------------------------------------------


def parse_network_mapping(item: dict[str, Any]) -> NetworkMapping:
    rid = required_id(item)
    p = props(item)
    settings = obj_field(p, "fabricSpecificSettings")
    kind = text(settings.get("instanceType"))
    a2a = kind == "AzureToAzure"
    return NetworkMapping(
        **_vault_child(item, rid),
        instance_type=kind,
        primary_network_id=text(p.get("primaryNetworkId")),
        recovery_network_id=text(p.get("recoveryNetworkId")),
        primary_location=text(settings.get("primaryFabricLocation")) if a2a else None,
        recovery_location=text(settings.get("recoveryFabricLocation")) if a2a else None,
        state=text(p.get("state")),
    )


# --- protection container mappings --------------------------------------------------------------

# A2AProtectionContainerMappingDetails.automationAccountAuthenticationType
_AUTOMATION_SIGN_IN = ("RunAsAccount", "SystemAssignedIdentity")


def parse_protection_container_mapping(item: dict[str, Any]) -> ProtectionContainerMapping:
    """The A2A details carry the vault's Mobility agent auto-update settings; other providers'
    details (and a mapping with none, as the REST reference's own example) carry none of them."""
    rid = required_id(item)
    p = props(item)
    details = obj_field(p, "providerSpecificDetails")
    kind = text(details.get("instanceType"))
    return ProtectionContainerMapping(
        **_vault_child(item, rid),
        instance_type=kind,
        source_fabric=text(p.get("sourceFabricFriendlyName")),
        target_fabric=text(p.get("targetFabricFriendlyName")),
        **(_auto_update_settings(details) if kind == "A2A" else {}),
    )


def _auto_update_settings(a2a: dict[str, Any]) -> dict[str, Any]:
    """A2AProtectionContainerMappingDetails. The two settings a verdict rests on are strict: a junk
    value is an unread mapping, never the default."""
    return {
        "agent_auto_update_status": choice_field(a2a, "agentAutoUpdateStatus", _ON_OFF),
        "automation_account_id": text(a2a.get("automationAccountArmId")),
        "automation_account_authentication_type": choice_field(
            a2a, "automationAccountAuthenticationType", _AUTOMATION_SIGN_IN
        ),
    }


# --- replication policies ----------------------------------------------------------------------


def parse_replication_policy(item: dict[str, Any]) -> ReplicationPolicy:
    """The retention and snapshot settings the estate overview shows, by provider. The names are
    those of the response's details (A2APolicyDetails, HyperVReplicaAzurePolicyDetails in the
    Site Recovery REST reference), not of the create input: Hyper-V's retention comes back as
    `recoveryPointHistoryDurationInHours`, where the input says `recoveryPointHistoryDuration`.
    Every setting is optional (the REST reference's own List example has none): a policy without
    them shows its name and type only."""
    rid = required_id(item)
    details = obj_field(props(item), "providerSpecificDetails")
    kind = text(details.get("instanceType"))
    fields: dict[str, Any] = {}
    if kind == "A2A":
        fields = {
            "recovery_point_history_minutes": integer(details.get("recoveryPointHistory")),
            "app_consistent_frequency_minutes": integer(details.get("appConsistentFrequencyInMinutes")),
            "crash_consistent_frequency_minutes": integer(details.get("crashConsistentFrequencyInMinutes")),
            "multi_vm_sync_status": text(details.get("multiVmSyncStatus")),
        }
    elif kind == "HyperVReplicaAzure":
        fields = {
            "recovery_point_history_hours": integer(details.get("recoveryPointHistoryDurationInHours")),
            "app_consistent_frequency_hours": integer(
                details.get("applicationConsistentSnapshotFrequencyInHours")
            ),
            "replication_interval_seconds": integer(details.get("replicationInterval")),
        }
    fields.update(_vault_child(item, rid), instance_type=kind)
    return ReplicationPolicy(**fields)
