"""The inventory model: what the collectors saw, as plain typed data.

The seam between collection and analysis: rules read only this, so a saved snapshot replays the
same analysis offline. Fields hold ARM values as ARM spells them (ids keep their case); lookups
go through `ids.key()` via `InventoryIndex`. The collector names live here too, as the scan
records them, the snapshot check and the rules read them, and all three must agree.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

# --- collectors --------------------------------------------------------------------------

# What `Coverage.kind` names. Each collector has one cadence: the check that a subscription is
# readable; a list run once per subscription (a snapshot must show how each went for each of its
# subscriptions); a read per object of another collector's list; or once per cloud.
SUBSCRIPTION_CHECK = "subscription"
# fmt: off
SUBSCRIPTION_COLLECTORS: tuple[str, ...] = (
    "vaults", "storage_accounts", "virtual_networks", "network_security_groups", "route_tables",
    "express_route_circuits", "azure_firewalls", "firewall_policies", "network_interfaces",
    "virtual_machines", "disks", "disk_encryption_sets",
    "gateway_resource_groups",  # the resource list that finds the groups holding gateways
    "load_balancers", "nat_gateways", "public_ip_addresses",
    "private_endpoints", "private_dns_zones",
)
# fmt: on
# Per-object collector -> the list whose objects it reads. When that list fails the per-object
# reads never run (no record of their own), so a gap in the list is a gap in them.
PER_OBJECT_COLLECTORS: dict[str, str] = {
    "vault": "vaults",  # the vault GET
    "protected_items": "vaults",
    "network_mappings": "vaults",
    "protection_container_mappings": "vaults",  # the A2A agent auto-update settings
    "replication_policies": "vaults",  # no rule reads them: the estate overview lists them
    "rule_collection_groups": "firewall_policies",
    "virtual_network_gateways": "gateway_resource_groups",  # per resource group
    "connections": "gateway_resource_groups",
    # Read per A2A cache account the protected items name (their storage body lacks these).
    "blob_services": "protected_items",  # the account's blobServices/default GET
    "role_assignments": "protected_items",  # the roles in effect at the account
    # Read per private DNS zone named for Site Recovery's private link only: other zones' links
    # decide nothing any rule judges.
    "virtual_network_links": "private_dns_zones",
    # Read per (subscription, recovery region): the regions A2A items fail over to, in the
    # subscription of their recovery resource group (or, readiness, --target-region). The SKU
    # list also per (subscription, source region): where A2A items' source VMs run (or,
    # readiness, --source-region), once per pair whichever side asks first.
    "vm_skus": "protected_items",  # Microsoft.Compute/skus filtered to the region
    "compute_usages": "protected_items",  # the region's vCPU usages and quotas
    # Read per protection container holding HyperVReplicaAzure items: the replicated item does not
    # carry the VM generation its OS disk limit hangs on; the container's protectable items do.
    "protectable_items": "protected_items",
}
SERVICE_TAGS = "service_tags"  # once per cloud, for one location
COLLECTORS = frozenset({SUBSCRIPTION_CHECK, *SUBSCRIPTION_COLLECTORS, *PER_OBJECT_COLLECTORS, SERVICE_TAGS})


# --- subscriptions and coverage ------------------------------------------------


@dataclass(slots=True)
class Subscription:
    id: str
    display_name: str | None = None
    state: str | None = None


class CoverageStatus(str, Enum):
    """How one collector run went (DESIGN.md §8.2). Anything but OK is a gap: the data is not all
    there, and the rules that read it say `unknown` for what it would have decided, never pass.

    A `str` so that JSON, reports and comparisons with the spelled-out value see the value.
    """

    OK = "ok"
    PARTIAL = "partial"  # read, but some items could not be: `unread` names them, `detail` says why
    NOT_COLLECTED = "not_collected"  # a snapshot without this section: never read at all
    # Failed outright, by cause: 401/403, 429 after retries, anything else, 404, stall or deadline.
    FORBIDDEN = "forbidden"
    THROTTLED = "throttled"
    ERROR = "error"
    NOT_FOUND = "not_found"
    TIMEOUT = "timeout"

    def __str__(self) -> str:
        return self.value


_READ = {CoverageStatus.OK, CoverageStatus.PARTIAL, CoverageStatus.NOT_COLLECTED}
FAILED_STATUSES = frozenset(CoverageStatus) - _READ  # the run failed outright


@dataclass(slots=True)
class Coverage:
    """One collector's outcome for one subscription (or for one vault, resource group or policy in it).

    `collector` is the collector's name, with `:<name>` for a per-object run
    (`protected_items:vault-prod`); `object_id` is then that object's ARM id, so a rule can say what it
    could not judge.
    """

    subscription_id: str
    collector: str
    status: CoverageStatus
    detail: str | None = None
    items: int = 0
    unread: list[str] = field(default_factory=list)  # ids (or positions) of items that could not be read
    object_id: str | None = None  # the vault, resource group or policy id of a per-object run

    @property
    def kind(self) -> str:
        """The collector without its per-object suffix: what rules declare they depend on."""
        return self.collector.split(":", 1)[0]

    @property
    def is_gap(self) -> bool:
        return self.status != CoverageStatus.OK


# --- storage and vaults ----------------------------------------------------------


@dataclass(slots=True)
class StorageAccount:
    id: str
    name: str
    location: str
    kind: str | None = None
    sku_name: str | None = None
    sku_tier: str | None = None
    default_action: str | None = None  # networkAcls.defaultAction; None = no firewall block
    bypass: list[str] = field(default_factory=list)  # networkAcls.bypass, split on ","
    virtual_network_rules: list[str] = field(default_factory=list)  # subnet ids (state not Deprovisioning)
    allow_shared_key_access: bool = True  # allowSharedKeyAccess; ARM omits it (null) when allowed
    public_network_access: str | None = None  # publicNetworkAccess; None (omitted) = Enabled
    # properties.privateEndpointConnections whose connection state is Approved: their endpoints' ids
    private_endpoints: list[str] = field(default_factory=list)


@dataclass(slots=True)
class BlobService:
    """`{account}/blobServices/default`: settings the storage account body does not carry."""

    id: str
    account_id: str
    delete_retention_enabled: bool = False  # deleteRetentionPolicy.enabled: blob soft delete
    delete_retention_days: int | None = None


@dataclass(slots=True)
class RoleAssignment:
    """A role assignment in effect at a cache storage account: made at the account or at any
    scope above it (its resource group, subscription, management groups, the root), as kept from
    its subscription's list (collect.assignments). One assignment above several accounts is kept
    once per account (`account_id`)."""

    id: str
    account_id: str  # the account it is in effect at
    principal_id: str | None = None
    role_definition_id: str | None = None  # .../roleDefinitions/{guid}; built-in roles by guid
    scope: str | None = None


@dataclass(slots=True)
class Vault:
    id: str
    name: str
    location: str
    private_endpoint_state_for_site_recovery: str | None = None
    public_network_access: str | None = None
    # identity.principalId (system-assigned) and each userAssignedIdentities[].principalId
    identity_principal_ids: list[str] = field(default_factory=list)
    # properties.monitoringSettings: the built-in Azure Monitor alerts for Site Recovery
    # (azureMonitorAlertSettings) and the classic e-mail notifications, each "Enabled" or
    # "Disabled" as ARM spells it; None where the vault does not set it (the service default).
    alerts_for_replication_issues: str | None = None  # alertsForAllReplicationIssues
    alerts_for_failover_issues: str | None = None  # alertsForAllFailoverIssues
    site_recovery_email_notifications: str | None = (
        None  # classicAlertSettings.emailNotificationsForSiteRecovery
    )


# --- virtual networks --------------------------------------------------------------


@dataclass(slots=True)
class Subnet:
    id: str
    name: str
    address_prefixes: list[str] = field(default_factory=list)  # addressPrefix and addressPrefixes merged
    network_security_group_id: str | None = None
    route_table_id: str | None = None
    service_endpoints: list[str] = field(default_factory=list)  # e.g. Microsoft.Storage
    service_endpoint_locations: dict[str, list[str]] = field(default_factory=dict)
    # defaultOutboundAccess: False makes a private subnet (no implicit outbound IP); None = omitted,
    # which ARM reads as allowed on subnets created before it became the default.
    default_outbound_access: bool | None = None
    nat_gateway_id: str | None = None  # natGateway


@dataclass(slots=True)
class Peering:
    id: str
    name: str
    remote_virtual_network_id: str | None = None
    peering_state: str | None = None
    remote_address_prefixes: list[str] = field(default_factory=list)
    allow_gateway_transit: bool = False
    use_remote_gateways: bool = False
    allow_forwarded_traffic: bool = False


@dataclass(slots=True)
class VirtualNetwork:
    id: str
    name: str
    location: str
    address_prefixes: list[str] = field(default_factory=list)
    subnets: list[Subnet] = field(default_factory=list)
    peerings: list[Peering] = field(default_factory=list)
    dns_servers: list[str] = field(default_factory=list)  # dhcpOptions.dnsServers; empty = Azure DNS


# Frozen: equal rules (the six defaults of every NSG, a rule a template stamps on many) are one
# object across NSGs while an inventory is built (`sharing.record`), so none may change.
@dataclass(frozen=True, slots=True)
class SecurityRule:
    name: str
    priority: int
    direction: str  # Inbound | Outbound
    access: str  # Allow | Deny
    protocol: str  # Tcp | Udp | Icmp | Esp | Ah | *
    # Tuples, not lists: a large tenant holds millions of these fields, most with one entry or
    # none. A one-entry list read from JSON takes 88 bytes and an empty one 56; a tuple takes 48
    # and the empty one is shared (as lists, these were most of the 246 MiB of lists in a 725 MiB
    # inventory of 100k resources, bench/README.md).
    destination_port_ranges: tuple[str, ...] = ()  # singular and plural merged
    destination_address_prefixes: tuple[str, ...] = ()
    destination_application_security_groups: tuple[str, ...] = ()
    source_address_prefixes: tuple[str, ...] = ()
    source_port_ranges: tuple[str, ...] = ()
    source_application_security_groups: tuple[str, ...] = ()
    default: bool = False


@dataclass(slots=True)
class NetworkSecurityGroup:
    id: str
    name: str
    location: str
    security_rules: list[SecurityRule] = field(default_factory=list)
    default_security_rules: list[SecurityRule] = field(default_factory=list)


# Frozen and shared across route tables like `SecurityRule`.
@dataclass(frozen=True, slots=True)
class Route:
    name: str
    address_prefix: str
    next_hop_type: str  # VirtualNetworkGateway | VnetLocal | Internet | VirtualAppliance | None
    next_hop_ip_address: str | None = None


@dataclass(slots=True)
class RouteTable:
    id: str
    name: str
    location: str
    routes: list[Route] = field(default_factory=list)
    disable_bgp_route_propagation: bool = False


# --- hybrid connectivity -------------------------------------------------------------


@dataclass(slots=True)
class ExpressRouteCircuit:
    id: str
    name: str
    location: str
    peering_location: str | None = None
    service_provider_name: str | None = None
    sku_tier: str | None = None
    sku_family: str | None = None
    circuit_provisioning_state: str | None = None
    service_provider_provisioning_state: str | None = None


@dataclass(slots=True)
class VirtualNetworkGateway:
    id: str
    name: str
    location: str
    gateway_type: str | None = None  # Vpn | ExpressRoute | LocalGateway
    vpn_type: str | None = None
    virtual_network_id: str | None = None  # from the GatewaySubnet of its ip configuration
    gateway_default_site_id: str | None = None
    enable_bgp: bool = False


@dataclass(slots=True)
class Connection:
    id: str
    name: str
    location: str
    connection_type: str | None = None  # IPsec | Vnet2Vnet | ExpressRoute
    virtual_network_gateway1_id: str | None = None
    virtual_network_gateway2_id: str | None = None
    local_network_gateway2_id: str | None = None
    peer_id: str | None = None  # the ExpressRoute circuit for ExpressRoute connections
    connection_status: str | None = None


NETWORK_RULE, APPLICATION_RULE = "NetworkRule", "ApplicationRule"  # FirewallRule.rule_type


@dataclass(slots=True)
class FirewallRule:
    """A network or application rule, classic or from a firewall policy, in one shape.

    `protocols` holds `TCP`/`UDP`/`ICMP`/`Any` for network rules and `Https:443`-style
    `protocolType:port` pairs for application rules. IP groups stay ids: they are not collected.
    """

    name: str
    rule_type: str  # NetworkRule | ApplicationRule
    protocols: list[str] = field(default_factory=list)
    source_addresses: list[str] = field(default_factory=list)
    source_ip_groups: list[str] = field(default_factory=list)
    destination_addresses: list[str] = field(default_factory=list)  # prefixes, ranges, `*`, service tags
    destination_ip_groups: list[str] = field(default_factory=list)
    destination_ports: list[str] = field(default_factory=list)
    destination_fqdns: list[str] = field(default_factory=list)  # network rules
    target_fqdns: list[str] = field(default_factory=list)  # application rules
    fqdn_tags: list[str] = field(default_factory=list)
    web_categories: list[str] = field(default_factory=list)
    target_urls: list[str] = field(default_factory=list)


@dataclass(slots=True)
class FirewallRuleCollection:
    """A filter collection: classic network/application rule collection or a policy's
    FirewallPolicyFilterRuleCollection (NAT collections are not kept)."""

    name: str
    priority: int
    action: str  # Allow | Deny
    rules: list[FirewallRule] = field(default_factory=list)


@dataclass(slots=True)
class FirewallRuleCollectionGroup:
    id: str
    name: str
    priority: int
    rule_collections: list[FirewallRuleCollection] = field(default_factory=list)


@dataclass(slots=True)
class FirewallPolicy:
    id: str
    name: str
    location: str
    base_policy_id: str | None = None  # its rules are processed before this policy's
    sku_tier: str | None = None
    rule_collection_group_ids: list[str] = field(default_factory=list)  # as the policy body lists them
    rule_collection_groups: list[FirewallRuleCollectionGroup] = field(default_factory=list)
    rules_read: bool = False  # the groups were listed completely


@dataclass(slots=True)
class AzureFirewall:
    id: str
    name: str
    location: str
    private_ip_addresses: list[str] = field(default_factory=list)
    firewall_policy_id: str | None = None
    rule_collections: list[FirewallRuleCollection] = field(default_factory=list)  # classic, NAT left out


@dataclass(slots=True)
class LoadBalancingRule:
    """A load-balancing rule: with a public frontend and SNAT not disabled it also carries the
    backend pool's outbound traffic."""

    frontend_ip_configuration_id: str | None = None
    backend_address_pool_ids: list[str] = field(default_factory=list)  # backendAddressPool(s) merged
    disable_outbound_snat: bool = False


@dataclass(slots=True)
class LoadBalancer:
    id: str
    name: str
    location: str
    sku_name: str | None = None  # Basic | Standard | Gateway
    public_frontend_ids: list[str] = field(default_factory=list)  # frontends with a public IP or prefix
    backend_address_pool_ids: list[str] = field(default_factory=list)
    outbound_rule_pool_ids: list[str] = field(default_factory=list)  # pools an outbound rule serves
    load_balancing_rules: list[LoadBalancingRule] = field(default_factory=list)


@dataclass(slots=True)
class NatGateway:
    """A NAT gateway, read for its public IPs: one without any is not operational, so a subnet's
    `natGateway` reference alone is no way out. IPv6 ones (StandardV2) are kept apart: they carry
    no IPv4 traffic."""

    id: str
    name: str
    location: str
    sku_name: str | None = None  # Standard | StandardV2
    public_ip_ids: list[str] = field(default_factory=list)  # publicIpAddresses + publicIpPrefixes
    public_ipv6_ids: list[str] = field(default_factory=list)  # publicIpAddressesV6 + publicIpPrefixesV6


@dataclass(slots=True)
class PublicIpAddress:
    """A public IP address, read because a reference to one proves nothing: a Basic SKU one was
    retired on 2025-09-30, and one that no longer exists gives no way out."""

    id: str
    name: str
    location: str
    sku_name: str | None = None  # Basic | Standard | StandardV2; None when ARM omits it
    ip_address: str | None = None  # absent until allocated (a Dynamic one on a stopped VM)
    version: str | None = None  # IPv4 | IPv6 (publicIPAddressVersion)
    allocation_method: str | None = None  # Static | Dynamic (publicIPAllocationMethod)


@dataclass(slots=True)
class PrivateLinkConnection:
    """One of a private endpoint's `privateLinkServiceConnections[]` or (manual, awaiting
    approval) `manualPrivateLinkServiceConnections[]`."""

    private_link_service_id: str | None = None  # the resource it reaches (a vault, an account)
    group_ids: list[str] = field(default_factory=list)  # its sub-resources: AzureSiteRecovery, blob
    status: str | None = None  # privateLinkServiceConnectionState.status: Approved | Pending | ...
    manual: bool = False


@dataclass(slots=True)
class PrivateEndpoint:
    id: str
    name: str
    location: str
    subnet_id: str | None = None  # the subnet (and so the VNet) it sits in
    connections: list[PrivateLinkConnection] = field(default_factory=list)


# The zone Site Recovery's private endpoints register in: the only one whose VNet links are read.
SITE_RECOVERY_ZONE = "privatelink.siterecovery.windowsazure.com"


@dataclass(slots=True)
class PrivateDnsZone:
    id: str
    name: str  # the zone's DNS name

    @property
    def is_site_recovery(self) -> bool:
        return self.name.lower() == SITE_RECOVERY_ZONE


@dataclass(slots=True)
class VirtualNetworkLink:
    """`{zone}/virtualNetworkLinks/{name}`: the VNet whose Azure-provided DNS resolves the zone."""

    id: str
    zone_id: str
    virtual_network_id: str | None = None
    state: str | None = None  # virtualNetworkLinkState: Completed | InProgress


# --- compute --------------------------------------------------------------------------


@dataclass(slots=True)
class IpConfiguration:
    name: str
    subnet_id: str | None = None
    private_ip_address: str | None = None
    application_security_group_ids: list[str] = field(default_factory=list)
    public_ip_address_id: str | None = None  # publicIPAddress
    load_balancer_backend_address_pool_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class NetworkInterface:
    id: str
    name: str
    location: str
    virtual_machine_id: str | None = None
    network_security_group_id: str | None = None
    ip_configurations: list[IpConfiguration] = field(default_factory=list)


@dataclass(slots=True)
class VmDisk:
    """A disk as the VM's storageProfile describes it (OS or data)."""

    name: str | None = None
    lun: int | None = None
    managed_disk_id: str | None = None
    vhd_uri: str | None = None  # unmanaged disks
    disk_size_gb: int | None = None
    write_accelerator_enabled: bool = False
    # encryptionSettings.enabled: Azure Disk Encryption as the VM model records it, the only record
    # ADE has for an unmanaged (VHD) disk
    ade_enabled: bool = False


@dataclass(slots=True)
class VirtualMachine:
    id: str
    name: str
    location: str
    vm_size: str | None = None
    zones: list[str] = field(default_factory=list)
    network_interface_ids: list[str] = field(default_factory=list)
    os_type: str | None = None
    os_disk: VmDisk | None = None
    data_disks: list[VmDisk] = field(default_factory=list)
    ephemeral_os_disk: bool = False  # storageProfile.osDisk.diffDiskSettings present
    host_id: str | None = None
    host_group_id: str | None = None
    plan_publisher: str | None = None
    plan_product: str | None = None
    image_publisher: str | None = None
    image_offer: str | None = None
    image_sku: str | None = None
    disk_controller_type: str | None = None  # storageProfile.diskControllerType: SCSI | NVMe
    security_type: str | None = None  # securityProfile.securityType: TrustedLaunch | ConfidentialVM
    encryption_at_host: bool = False  # securityProfile.encryptionAtHost
    time_created: str | None = None  # properties.timeCreated, ISO 8601 as ARM writes it


@dataclass(slots=True)
class Disk:
    id: str
    name: str
    location: str
    disk_size_gb: int | None = None
    sku_name: str | None = None
    managed_by: str | None = None
    os_type: str | None = None
    zones: list[str] = field(default_factory=list)
    encryption_type: str | None = None  # encryption.type: EncryptionAtRestWith{PlatformKey,CustomerKey,...}
    disk_encryption_set_id: str | None = None  # encryption.diskEncryptionSetId
    # encryptionSettingsCollection: Azure Disk Encryption (ADE) in the guest, apart from `encryption`
    ade_enabled: bool = False  # .enabled
    ade_settings_version: str | None = None  # .encryptionSettingsVersion: "1.0" Entra ID app, "1.1" none
    ade_key_vault_ids: list[str] = field(default_factory=list)  # each setting's diskEncryptionKey.sourceVault
    ade_key_encrypted: bool = False  # some setting has a keyEncryptionKey (KEK)
    max_shares: int | None = None  # maxShares: above 1 the disk can be attached to several VMs (shared)


@dataclass(slots=True)
class DiskEncryptionSet:
    """A disk encryption set (DES): regional, so a disk can use only one in its own region, and
    the recovery DES an A2A item names must be in the item's recovery region. Its id says nothing
    of where it is: only the listed body does (`location`)."""

    id: str
    name: str
    location: str
    encryption_type: str | None = None  # EncryptionAtRestWithCustomerKey | ...PlatformAndCustomerKeys | ...
    key_vault_id: str | None = None  # activeKey.sourceVault: the key vault holding its key


@dataclass(slots=True)
class SkuRestriction:
    """One `restrictions[]` entry of a size: where this subscription may not deploy it."""

    type: str  # Location (the whole region) | Zone (the zones listed)
    reason_code: str | None = None  # NotAvailableForSubscription | QuotaId
    zones: list[str] = field(default_factory=list)  # restrictionInfo.zones of a Zone restriction


@dataclass(slots=True)
class VmSku:
    """A `virtualMachines` size as Microsoft.Compute/skus offers it to one subscription in one
    region. ARM gives SKUs no id: the subscription and region the list was read for say where
    the offer holds (restrictions differ per subscription)."""

    name: str  # Standard_D4s_v5
    subscription_id: str
    region: str
    family: str | None = None  # the quota family (usages name.value): standardDSv5Family
    vcpus: int | None = None  # capabilities vCPUs
    cpu_architecture: str | None = None  # capabilities CpuArchitectureType: x64 | Arm64
    zones: list[str] = field(default_factory=list)  # locationInfo zones of the region
    restrictions: list[SkuRestriction] = field(default_factory=list)


@dataclass(slots=True)
class ComputeUsage:
    """A compute quota of one subscription in one region (`locations/{region}/usages`)."""

    name: str  # name.value: a family (standardDSv5Family) or `cores` (all regional vCPUs)
    subscription_id: str
    region: str
    current_value: int
    limit: int


@dataclass(slots=True)
class ServiceTag:
    name: str
    region: str | None = None  # "" in the API for global tags; stored as None
    system_service: str | None = None
    address_prefixes: list[str] = field(default_factory=list)


# --- Site Recovery objects -----------------------------------------------------------------


@dataclass(slots=True)
class ProtectedDisk:
    """A2A `protectedManagedDisks[]` / `protectedDisks[]` entry, or another provider's replicated disk."""

    disk_id: str | None = None
    # Whether this is the OS disk, where the provider says (HyperVReplicaAzure / InMageAzureV2
    # `azureVmDiskDetails[].vhdType`, InMageRcm `protectedDisks[].isOSDisk`); None where it does not.
    is_os_disk: bool | None = None
    cache_storage_account_id: str | None = None  # primaryStagingAzureStorageAccountId
    recovery_disk_id: str | None = None
    disk_capacity_bytes: int | None = None
    recovery_disk_encryption_set_id: str | None = None  # A2A recoveryDiskEncryptionSetId
    # A2A Azure Disk Encryption state and the target key vaults chosen for the disk's secret and key
    is_disk_encrypted: bool = False  # isDiskEncrypted
    is_disk_key_encrypted: bool = False  # isDiskKeyEncrypted
    dek_key_vault_id: str | None = None  # dekKeyVaultArmId
    kek_key_vault_id: str | None = None  # kekKeyVaultArmId


@dataclass(slots=True)
class HealthError:
    code: str | None = None
    message: str | None = None
    severity: str | None = None


@dataclass(slots=True)
class ProtectedItem:
    id: str
    name: str
    vault_id: str
    friendly_name: str | None = None
    instance_type: str | None = None  # providerSpecificDetails.instanceType: A2A, HyperVReplicaAzure, ...
    protection_state: str | None = None
    replication_health: str | None = None
    failover_health: str | None = None
    health_errors: list[HealthError] = field(default_factory=list)
    test_failover_state: str | None = None  # testFailoverState: None | InProgress | ...
    last_successful_test_failover_time: str | None = None  # ISO 8601 as ARM writes it
    primary_location: str | None = None  # A2A primaryFabricLocation
    recovery_location: str | None = None  # A2A recoveryFabricLocation
    primary_availability_zone: str | None = None
    recovery_availability_zone: str | None = None
    source_vm_id: str | None = None  # A2A fabricObjectId
    recovery_vm_name: str | None = None  # recoveryAzureVMName / recoveryAzureVmName / targetVmName
    recovery_network_id: str | None = None  # selectedRecoveryAzureNetworkId / targetNetworkId
    recovery_storage_account_id: str | None = None  # H2A recoveryAzureStorageAccount / targetStorageAccountId
    recovery_log_storage_account_id: str | None = None  # recoveryAzureLogStorageAccountId
    churn_option: str | None = None  # A2A churnOptionSelected: Normal | High
    protected_disks: list[ProtectedDisk] = field(default_factory=list)
    recovery_resource_group_id: str | None = None
    rpo_seconds: int | None = None  # rpoInSeconds (A2A, HyperVReplicaAzure, InMage*)
    test_failover_network_id: str | None = None  # A2A selectedTfoAzureNetworkId
    agent_update_required: bool = False  # A2A isReplicationAgentUpdateRequired
    agent_certificate_update_required: bool = False  # A2A isReplicationAgentCertificateUpdateRequired
    agent_expiry_date: str | None = None  # A2A agentExpiryDate
    agent_certificate_expiry_date: str | None = None  # A2A agentCertificateExpiryDate
    recovery_vm_size: str | None = None  # A2A recoveryAzureVMSize: the size failover creates
    protectable_item_id: str | None = None  # protectableItemId: the on-premises VM it replicates


@dataclass(slots=True)
class ProtectableItem:
    """A Hyper-V protectable item: the on-premises VM as Site Recovery's provider reports it. Kept
    for one fact the replicated item lacks, the VM generation (DSK-SIZE: generation 2 OS disks are
    limited to 300 GB, generation 1 to 2,048 GB)."""

    id: str
    replicated_item_id: str | None = None  # replicationProtectedItemId; None while not protected
    generation: int | None = None  # customDetails.generation of HyperVVirtualMachine: 1 or 2


@dataclass(slots=True)
class NetworkMapping:
    id: str
    name: str
    vault_id: str
    instance_type: str | None = None  # fabricSpecificSettings.instanceType: AzureToAzure, VmmToAzure, ...
    primary_network_id: str | None = None
    recovery_network_id: str | None = None
    primary_location: str | None = None  # AzureToAzure primaryFabricLocation
    recovery_location: str | None = None  # AzureToAzure recoveryFabricLocation
    state: str | None = None


@dataclass(slots=True)
class ProtectionContainerMapping:
    """A protection container mapping: which replication policy pairs a source container with a
    recovery one. Its A2A details hold the vault's Mobility agent auto-update settings."""

    id: str
    name: str
    vault_id: str
    instance_type: str | None = None  # providerSpecificDetails.instanceType; None = no details
    source_fabric: str | None = None  # sourceFabricFriendlyName (the region, for A2A)
    target_fabric: str | None = None  # targetFabricFriendlyName
    # A2A only: agentAutoUpdateStatus (Enabled / Disabled), the automation account that runs the
    # update, and how it signs in (RunAsAccount / SystemAssignedIdentity); None when not given.
    agent_auto_update_status: str | None = None
    automation_account_id: str | None = None
    automation_account_authentication_type: str | None = None


@dataclass(slots=True)
class ReplicationPolicy:
    """A vault's replication policy: how long recovery points are kept and how often consistent
    snapshots are taken. No rule judges it; the estate overview shows it, so a reader sees the
    retention the vault actually promises. Only the A2A and HyperVReplicaAzure details are kept
    (A2APolicyDetails, HyperVReplicaAzurePolicyDetails); another provider's policy keeps its
    name and type."""

    id: str
    name: str
    vault_id: str
    instance_type: str | None = None  # providerSpecificDetails.instanceType; None = no details
    # A2A: recoveryPointHistory (minutes of retention), the snapshot frequencies in minutes, and
    # multiVmSyncStatus as ARM spells it (a free string in the details; "Enable"/"Disable" on input).
    recovery_point_history_minutes: int | None = None
    app_consistent_frequency_minutes: int | None = None
    crash_consistent_frequency_minutes: int | None = None
    multi_vm_sync_status: str | None = None
    # HyperVReplicaAzure: recoveryPointHistoryDurationInHours, applicationConsistentSnapshotFrequencyInHours
    # and replicationInterval (the REST reference gives it no unit; Hyper-V's copy frequency is set
    # in seconds: 30, 300, 900).
    recovery_point_history_hours: int | None = None
    app_consistent_frequency_hours: int | None = None
    replication_interval_seconds: int | None = None


@dataclass(slots=True)
class Inventory:
    cloud: str = "AzureCloud"
    collected_at: str | None = None
    subscriptions: list[Subscription] = field(default_factory=list)
    coverage: list[Coverage] = field(default_factory=list)
    vaults: list[Vault] = field(default_factory=list)
    storage_accounts: list[StorageAccount] = field(default_factory=list)
    virtual_networks: list[VirtualNetwork] = field(default_factory=list)
    network_security_groups: list[NetworkSecurityGroup] = field(default_factory=list)
    route_tables: list[RouteTable] = field(default_factory=list)
    express_route_circuits: list[ExpressRouteCircuit] = field(default_factory=list)
    virtual_network_gateways: list[VirtualNetworkGateway] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)
    azure_firewalls: list[AzureFirewall] = field(default_factory=list)
    firewall_policies: list[FirewallPolicy] = field(default_factory=list)
    network_interfaces: list[NetworkInterface] = field(default_factory=list)
    virtual_machines: list[VirtualMachine] = field(default_factory=list)
    disks: list[Disk] = field(default_factory=list)
    disk_encryption_sets: list[DiskEncryptionSet] = field(default_factory=list)
    service_tags: list[ServiceTag] = field(default_factory=list)
    protected_items: list[ProtectedItem] = field(default_factory=list)
    network_mappings: list[NetworkMapping] = field(default_factory=list)
    protection_container_mappings: list[ProtectionContainerMapping] = field(default_factory=list)
    replication_policies: list[ReplicationPolicy] = field(default_factory=list)
    protectable_items: list[ProtectableItem] = field(default_factory=list)
    blob_services: list[BlobService] = field(default_factory=list)
    role_assignments: list[RoleAssignment] = field(default_factory=list)
    load_balancers: list[LoadBalancer] = field(default_factory=list)
    nat_gateways: list[NatGateway] = field(default_factory=list)
    public_ip_addresses: list[PublicIpAddress] = field(default_factory=list)
    private_endpoints: list[PrivateEndpoint] = field(default_factory=list)
    private_dns_zones: list[PrivateDnsZone] = field(default_factory=list)
    virtual_network_links: list[VirtualNetworkLink] = field(default_factory=list)
    vm_skus: list[VmSku] = field(default_factory=list)
    compute_usages: list[ComputeUsage] = field(default_factory=list)

    def merge(self, other: Inventory) -> None:
        """Append another partial inventory (one collector's output) into this one."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                value.extend(getattr(other, f.name))

    # -- snapshot: the work is in snapshot.py, which builds on this module ----------------------

    def to_json(self) -> dict[str, Any]:
        return _snapshot().to_json(self)

    def save(self, path: str | Path) -> None:
        _snapshot().save(self, path)

    @classmethod
    def from_json(cls, data: Any) -> Inventory:
        return _snapshot().from_json(data)

    @classmethod
    def load(cls, path: str | Path) -> Inventory:
        return _snapshot().load(path)


def _snapshot() -> Any:
    """snapshot.py, imported when first used: it imports this module."""
    return importlib.import_module("asr_audit.inventory.snapshot")
