"""Case-insensitive id lookups over an inventory, built once per analysis.

ARM ids are compared case-insensitively everywhere (ASR returns `/Subscriptions/...`), so every
lookup goes through `ids.key()`; each map is built on first use, as most analyses need a few.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import Any

from asr_audit import ids
from asr_audit.inventory.model import (
    AzureFirewall,
    Connection,
    Disk,
    DiskEncryptionSet,
    ExpressRouteCircuit,
    FirewallPolicy,
    Inventory,
    NatGateway,
    NetworkInterface,
    NetworkSecurityGroup,
    PublicIpAddress,
    RouteTable,
    ServiceTag,
    StorageAccount,
    Subnet,
    Vault,
    VirtualMachine,
    VirtualNetwork,
    VirtualNetworkGateway,
)


class InventoryIndex:
    """Case-insensitive id lookups over an inventory, built once per analysis."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    @staticmethod
    def _by_id(items: Iterable[Any]) -> dict[str, Any]:
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
    def disk_encryption_sets(self) -> dict[str, DiskEncryptionSet]:
        return self._by_id(self.inventory.disk_encryption_sets)

    @cached_property
    def nat_gateways(self) -> dict[str, NatGateway]:
        return self._by_id(self.inventory.nat_gateways)

    @cached_property
    def public_ip_addresses(self) -> dict[str, PublicIpAddress]:
        return self._by_id(self.inventory.public_ip_addresses)

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
