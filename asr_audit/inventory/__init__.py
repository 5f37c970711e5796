"""The inventory: what the collectors saw, as plain typed data.

This is the seam between collection and analysis. Rules read only this, so a saved
snapshot (`--save-snapshot`) replays the exact same analysis offline (`--snapshot`).
Fields hold ARM values as ARM spells them (ids keep their case); comparisons go
through `ids.key()` via `InventoryIndex`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from asr_audit import ids
from asr_audit.errors import UsageError

if typing.TYPE_CHECKING:
    from asr_audit.net.netmath import ServiceTagIndex

SNAPSHOT_SCHEMA_VERSION = 1
SNAPSHOT_KIND = "asr-audit-inventory"


# --- subscriptions and coverage ------------------------------------------------


@dataclass(slots=True)
class Subscription:
    id: str
    display_name: str | None = None
    state: str | None = None


# Coverage statuses (DESIGN.md §8.2). Anything but OK is a gap: the data is not all there, and the
# rules that read it say `unknown` for what it would have decided, never pass.
COVERAGE_OK = "ok"
COVERAGE_PARTIAL = "partial"  # read, but some items could not be: `unread` names them, `detail` says why
COVERAGE_NOT_COLLECTED = "not_collected"  # a snapshot without this section: never read at all
# Failed outright, by cause: 401/403, 429 after retries, anything else, 404, stall or deadline.
COVERAGE_FAILED = frozenset({"forbidden", "throttled", "error", "not_found", "timeout"})
COVERAGE_STATUSES = frozenset({COVERAGE_OK, COVERAGE_PARTIAL, COVERAGE_NOT_COLLECTED}) | COVERAGE_FAILED


@dataclass(slots=True)
class Coverage:
    """One collector's outcome for one subscription (or for one vault, resource group or policy in it).

    `collector` is the collector's name, with `:<name>` for a per-object run
    (`protected_items:vault-prod`); `scope` is then that object's ARM id, so a rule can say what it
    could not judge.
    """

    subscription_id: str
    collector: str
    status: str  # one of COVERAGE_STATUSES
    detail: str | None = None
    items: int = 0
    unread: list[str] = field(default_factory=list)  # ids (or positions) of items that could not be read
    scope: str | None = None  # the vault, resource group or policy id of a per-object run

    @property
    def kind(self) -> str:
        """The collector without its per-object suffix: what rules declare they depend on."""
        return self.collector.split(":", 1)[0]

    @property
    def is_gap(self) -> bool:
        return self.status != COVERAGE_OK


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


@dataclass(slots=True)
class Vault:
    id: str
    name: str
    location: str
    private_endpoint_state_for_site_recovery: str | None = None
    public_network_access: str | None = None


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


@dataclass(slots=True)
class SecurityRule:
    name: str
    priority: int
    direction: str  # Inbound | Outbound
    access: str  # Allow | Deny
    protocol: str  # Tcp | Udp | Icmp | Esp | Ah | *
    destination_port_ranges: list[str] = field(default_factory=list)  # singular and plural merged
    destination_address_prefixes: list[str] = field(default_factory=list)
    destination_application_security_groups: list[str] = field(default_factory=list)
    source_address_prefixes: list[str] = field(default_factory=list)
    source_port_ranges: list[str] = field(default_factory=list)
    source_application_security_groups: list[str] = field(default_factory=list)
    default: bool = False


@dataclass(slots=True)
class NetworkSecurityGroup:
    id: str
    name: str
    location: str
    security_rules: list[SecurityRule] = field(default_factory=list)
    default_security_rules: list[SecurityRule] = field(default_factory=list)


@dataclass(slots=True)
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


# --- compute --------------------------------------------------------------------------


@dataclass(slots=True)
class IpConfiguration:
    name: str
    subnet_id: str | None = None
    private_ip_address: str | None = None
    application_security_group_ids: list[str] = field(default_factory=list)


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


# --- service tags ------------------------------------------------------------------------


@dataclass(slots=True)
class ServiceTag:
    name: str
    region: str | None = None  # "" in the API for global tags; stored as None
    system_service: str | None = None
    address_prefixes: list[str] = field(default_factory=list)


# --- Site Recovery objects -----------------------------------------------------------------


@dataclass(slots=True)
class ProtectedDisk:
    """A2A `protectedManagedDisks[]` / `protectedDisks[]` entry."""

    disk_id: str | None = None
    cache_storage_account_id: str | None = None  # primaryStagingAzureStorageAccountId
    recovery_disk_id: str | None = None
    disk_capacity_bytes: int | None = None


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
    health_errors: list[HealthError] = field(default_factory=list)
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


# --- the whole --------------------------------------------------------------------------------


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
    service_tags: list[ServiceTag] = field(default_factory=list)
    protected_items: list[ProtectedItem] = field(default_factory=list)
    network_mappings: list[NetworkMapping] = field(default_factory=list)

    def merge(self, other: Inventory) -> None:
        """Append another partial inventory (one collector's output) into this one."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                value.extend(getattr(other, f.name))

    # -- snapshot ---------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {"kind": SNAPSHOT_KIND, "schema_version": SNAPSHOT_SCHEMA_VERSION, **dataclasses.asdict(self)}

    def save(self, path: str | Path) -> None:
        """Write the snapshot atomically, with every token-like value redacted (DESIGN.md §8.2).

        Redaction looks at the serialised text first (one pass over it, usually finding nothing)
        and rebuilds only when something matched: scrubbing the JSON text itself could cut an
        escape sequence in half.
        """
        from asr_audit.app.files import write_text_atomic
        from asr_audit.redact import scrub

        doc = self.to_json()
        text = json.dumps(doc, indent=1) + "\n"
        if scrub(text) != text:
            from asr_audit.report.sanitize import redact_tree  # the report package imports this module

            text = json.dumps(redact_tree(doc), indent=1) + "\n"
        write_text_atomic(path, text, what="snapshot")

    @classmethod
    def from_json(cls, data: Any) -> Inventory:
        """Rebuild a snapshot, failing closed: what it does not show was not read.

        A section missing from the file, or a subscription without a coverage record for a
        subscription-wide collector, becomes a `not_collected` gap instead of an empty,
        complete list; a coverage entry with an unknown status is an error (exit 2).
        """
        if not isinstance(data, dict) or data.get("kind") != SNAPSHOT_KIND:
            raise UsageError("not an asr-audit inventory snapshot (missing kind: asr-audit-inventory)")
        version = data.get("schema_version")
        if version != SNAPSHOT_SCHEMA_VERSION:
            raise UsageError(
                f"snapshot schema_version {version!r} is not supported (expected {SNAPSHOT_SCHEMA_VERSION})"
            )
        body = {k: v for k, v in data.items() if k not in ("kind", "schema_version")}
        try:
            inventory = _build(cls, body, "snapshot")
        except (TypeError, ValueError) as exc:
            raise UsageError(f"invalid snapshot: {exc}") from None
        _check_coverage(inventory.coverage)
        inventory.coverage.extend(_unread_sections(inventory, present=set(body)))
        return inventory

    @classmethod
    def load(cls, path: str | Path) -> Inventory:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise UsageError(f"cannot read snapshot {path}: {reason}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"snapshot {path} is not valid JSON: line {exc.lineno}: {exc.msg}") from None
        return cls.from_json(data)


# Sections that are not resource records: what was scanned and how it went.
_BOOKKEEPING = frozenset({"cloud", "collected_at", "subscriptions", "coverage"})
_ONCE_PER_SNAPSHOT = "service_tags"  # fetched once per cloud, not per subscription


def subscription_collectors() -> tuple[str, ...]:
    """The collectors a scan runs once for every subscription (DESIGN.md §2); a snapshot must show
    how each went for each of its subscriptions."""
    from asr_audit.collect.endpoints import SUBSCRIPTION_LISTS  # collect builds on this module

    return (*SUBSCRIPTION_LISTS, "gateway_resource_groups")


def _check_coverage(coverage: list[Coverage]) -> None:
    """Types are checked by `_build`; the status must also be one the rules know how to read."""
    for i, entry in enumerate(coverage):
        if entry.status not in COVERAGE_STATUSES:
            raise UsageError(
                f"invalid snapshot: snapshot.coverage[{i}] ({entry.collector} in {entry.subscription_id}): "
                f"status {entry.status!r} is not one of {', '.join(sorted(COVERAGE_STATUSES))}"
            )
        if not entry.collector:
            raise UsageError(f"invalid snapshot: snapshot.coverage[{i}]: empty collector")


def _unread_sections(inventory: Inventory, present: set[str]) -> list[Coverage]:
    """`not_collected` records for what the snapshot does not show was read.

    A section key absent from the file gets one per subscription (once per snapshot for
    service tags); a subscription-wide collector with no record for a subscription gets one too.
    Both are what a hand-edited or truncated snapshot looks like; a saved one never has them.
    """
    subscriptions = [s.id for s in inventory.subscriptions]
    if not subscriptions:
        return []
    recorded = {(c.subscription_id.lower(), c.kind) for c in inventory.coverage}
    added: list[Coverage] = []

    def add(subscription_id: str, collector: str, detail: str) -> None:
        recorded.add((subscription_id.lower(), collector))
        added.append(Coverage(subscription_id, collector, COVERAGE_NOT_COLLECTED, detail))

    for f in dataclasses.fields(inventory):
        if f.name in _BOOKKEEPING or f.name in present:
            continue
        scope = subscriptions[:1] if f.name == _ONCE_PER_SNAPSHOT else subscriptions
        for sid in scope:
            add(sid, f.name, f"section {f.name} is absent from the snapshot")
    for collector in subscription_collectors():
        for sid in subscriptions:
            if (sid.lower(), collector) not in recorded:
                add(sid, collector, f"the snapshot has no coverage record for {collector} here")
    if not any(kind == _ONCE_PER_SNAPSHOT for _, kind in recorded):
        add(subscriptions[0], _ONCE_PER_SNAPSHOT, "the snapshot has no coverage record for service_tags")
    return added


T = TypeVar("T")


@functools.cache
def _schema(cls: type) -> tuple[tuple[str, Any, bool], ...]:
    """(name, type hint, required) per field of a dataclass, resolved once per class:
    `typing.get_type_hints` per object made loading large snapshots slow."""
    hints = typing.get_type_hints(cls)
    return tuple(
        (
            f.name,
            hints[f.name],
            f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
        )
        for f in dataclasses.fields(cls)
    )


def _build(cls: type[T], data: Any, where: str) -> T:
    """Rebuild a dataclass tree from JSON, checking types so a bad snapshot fails clearly."""
    if not isinstance(data, dict):
        raise TypeError(f"{where}: expected an object")
    kwargs: dict[str, Any] = {}
    missing: list[str] = []
    for name, hint, required in _schema(cls):
        if name in data:
            kwargs[name] = _convert(hint, data[name], f"{where}.{name}")
        elif required:
            missing.append(name)
    if missing:
        raise TypeError(f"{where}: missing {', '.join(missing)}")
    return cls(**kwargs)


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, where)
    if origin is list:
        if not isinstance(value, list):
            raise TypeError(f"{where}: expected a list")
        (inner,) = typing.get_args(hint)
        return [_convert(inner, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError(f"{where}: expected an object")
        _, inner = typing.get_args(hint)
        return {str(k): _convert(inner, v, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if hint is bool:
        if not isinstance(value, bool):
            raise TypeError(f"{where}: expected true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{where}: expected an integer")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise TypeError(f"{where}: expected a string")
        return value
    return value


# --- lookups ---------------------------------------------------------------------------------


class InventoryIndex:
    """Case-insensitive id lookups over an inventory, built once per analysis."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    @staticmethod
    def _by_id(items: typing.Iterable[Any]) -> dict[str, Any]:
        return {ids.key(item.id): item for item in items}

    @cached_property
    def vaults(self) -> dict[str, Vault]:
        return self._by_id(self.inventory.vaults)

    @cached_property
    def storage_accounts(self) -> dict[str, StorageAccount]:
        return self._by_id(self.inventory.storage_accounts)

    @cached_property
    def virtual_networks(self) -> dict[str, VirtualNetwork]:
        return self._by_id(self.inventory.virtual_networks)

    @cached_property
    def subnets(self) -> dict[str, tuple[VirtualNetwork, Subnet]]:
        return {ids.key(s.id): (v, s) for v in self.inventory.virtual_networks for s in v.subnets}

    @cached_property
    def network_security_groups(self) -> dict[str, NetworkSecurityGroup]:
        return self._by_id(self.inventory.network_security_groups)

    @cached_property
    def route_tables(self) -> dict[str, RouteTable]:
        return self._by_id(self.inventory.route_tables)

    @cached_property
    def express_route_circuits(self) -> dict[str, ExpressRouteCircuit]:
        return self._by_id(self.inventory.express_route_circuits)

    @cached_property
    def virtual_network_gateways(self) -> dict[str, VirtualNetworkGateway]:
        return self._by_id(self.inventory.virtual_network_gateways)

    @cached_property
    def network_interfaces(self) -> dict[str, NetworkInterface]:
        return self._by_id(self.inventory.network_interfaces)

    @cached_property
    def virtual_machines(self) -> dict[str, VirtualMachine]:
        return self._by_id(self.inventory.virtual_machines)

    @cached_property
    def disks(self) -> dict[str, Disk]:
        return self._by_id(self.inventory.disks)

    @cached_property
    def azure_firewalls(self) -> dict[str, AzureFirewall]:
        return self._by_id(self.inventory.azure_firewalls)

    @cached_property
    def firewall_policies(self) -> dict[str, FirewallPolicy]:
        return self._by_id(self.inventory.firewall_policies)

    @cached_property
    def service_tags(self) -> dict[str, ServiceTag]:
        """By lower-cased tag name (`storage.eastus`)."""
        return {t.name.lower(): t for t in self.inventory.service_tags}

    @cached_property
    def service_tag_index(self) -> ServiceTagIndex:
        """Service tags with their regional hierarchy, shared by every rule of one analysis."""
        from asr_audit.net.netmath import ServiceTagIndex  # netmath builds on this module

        return ServiceTagIndex(self.inventory.service_tags)

    @cached_property
    def subscriptions_read(self) -> set[str]:
        return {s.id.lower() for s in self.inventory.subscriptions}

    @cached_property
    def gateways_by_vnet(self) -> dict[str, list[VirtualNetworkGateway]]:
        out: dict[str, list[VirtualNetworkGateway]] = {}
        for gw in self.inventory.virtual_network_gateways:
            if gw.virtual_network_id:
                out.setdefault(ids.key(gw.virtual_network_id), []).append(gw)
        return out

    @cached_property
    def connections_by_gateway(self) -> dict[str, list[Connection]]:
        out: dict[str, list[Connection]] = {}
        for conn in self.inventory.connections:
            for gw in (conn.virtual_network_gateway1_id, conn.virtual_network_gateway2_id):
                if gw:
                    out.setdefault(ids.key(gw), []).append(conn)
        return out

    @cached_property
    def nics_by_vm(self) -> dict[str, list[NetworkInterface]]:
        out: dict[str, list[NetworkInterface]] = {}
        for nic in self.inventory.network_interfaces:
            if nic.virtual_machine_id:
                out.setdefault(ids.key(nic.virtual_machine_id), []).append(nic)
        return out
