"""Builders for hybrid connectivity in rule tests: gateways, circuits, connections, hub peerings.

References are written in another case than the resources they point to (`asr_case`, upper
case), so every rule using them must compare ids case-insensitively.

    src, rec = vnet("vnet-app", "eastus"), vnet("vnet-dr", "westus2")
    gw = gateway(src, kind="ExpressRoute")
    er = circuit("er-hq", "Washington DC")
    ctx = protected(src, rec, gw, er, link(gw, er.id))
"""

from __future__ import annotations

from typing import Any

from builders import (
    SUBSCRIPTION,
    a2a_item,
    asr_case,
    context,
    inventory,
    resource_id,
    subnet_id,
    vault,
    virtual_network,
    vm_with_nic,
)

from asr_audit.inventory import (
    Connection,
    ExpressRouteCircuit,
    Inventory,
    Peering,
    RouteTable,
    VirtualNetwork,
    VirtualNetworkGateway,
)
from asr_audit.rules.base import Context

HYBRID_GROUP = "rg-hybrid"


def vnet(name: str, location: str, prefix: str = "10.0.0.0/16", **kw: Any) -> VirtualNetwork:
    return virtual_network(name, location, prefixes=(prefix,), subnets=(("default", prefix),), **kw)


def gateway(
    net: VirtualNetwork, *, kind: str = "Vpn", default_site: str | None = None, name: str | None = None
) -> VirtualNetworkGateway:
    """A gateway in `net`, referring to it in upper case as a case-variant reference."""
    gw_name = name or f"gw-{net.name}"
    sub = net.id.split("/")[2]
    return VirtualNetworkGateway(
        id=resource_id(
            "Microsoft.Network/virtualNetworkGateways", gw_name, group=HYBRID_GROUP, subscription=sub
        ),
        name=gw_name,
        location=net.location,
        gateway_type=kind,
        virtual_network_id=net.id.upper(),
        gateway_default_site_id=default_site,
    )


def site(name: str = "lgw-hq") -> str:
    return resource_id("Microsoft.Network/localNetworkGateways", name, group=HYBRID_GROUP)


def circuit(
    name: str,
    peering_location: str | None,
    *,
    tier: str | None = "Standard",
    location: str = "eastus",
    subscription: str = SUBSCRIPTION,
) -> ExpressRouteCircuit:
    rid = resource_id(
        "Microsoft.Network/expressRouteCircuits", name, group=HYBRID_GROUP, subscription=subscription
    )
    return ExpressRouteCircuit(
        id=rid,
        name=name,
        location=location,
        peering_location=peering_location,
        sku_tier=tier,
        sku_family="MeteredData",
    )


def circuit_id(name: str, subscription: str = SUBSCRIPTION) -> str:
    return circuit(name, None, subscription=subscription).id


def link(gw: VirtualNetworkGateway, target: str, *, name: str | None = None, vpn: bool = False) -> Connection:
    """A connection from `gw` to a circuit (or, with `vpn`, a local network gateway), upper-cased."""
    cn_name = name or f"cn-{gw.name}-{target.rsplit('/', 1)[-1]}"
    return Connection(
        id=resource_id("Microsoft.Network/connections", cn_name, group=HYBRID_GROUP),
        name=cn_name,
        location=gw.location,
        connection_type="IPsec" if vpn else "ExpressRoute",
        virtual_network_gateway1_id=asr_case(gw.id),
        peer_id=None if vpn else target.upper(),
        local_network_gateway2_id=target.upper() if vpn else None,
    )


def peer_hub(
    spoke: VirtualNetwork,
    hub_id: str,
    *,
    use_remote: bool = True,
    state: str = "Connected",
) -> None:
    spoke.peerings.append(
        Peering(
            id=f"{spoke.id}/virtualNetworkPeerings/to-hub",
            name="to-hub",
            remote_virtual_network_id=asr_case(hub_id),
            peering_state=state,
            use_remote_gateways=use_remote,
        )
    )


def hub_for(*spokes: VirtualNetwork, name: str = "vnet-hub", transit: bool = True) -> VirtualNetwork:
    """A hub VNet peered both ways with each spoke; the spokes use its gateway, and the hub side
    allows gateway transit if `transit`."""
    hub = vnet(name, spokes[0].location, "10.200.0.0/16")
    for spoke in spokes:
        hub.peerings.append(
            Peering(
                id=f"{hub.id}/virtualNetworkPeerings/to-{spoke.name}",
                name=f"to-{spoke.name}",
                remote_virtual_network_id=spoke.id.upper(),
                peering_state="Connected",
                allow_gateway_transit=transit,
            )
        )
        peer_hub(spoke, hub.id)
    return hub


def route_table(net: VirtualNetwork, *routes: Any, name: str = "rt-app") -> RouteTable:
    """A route table attached to `net`'s default subnet (attached by a lower-cased reference)."""
    table = RouteTable(
        id=resource_id("Microsoft.Network/routeTables", name),
        name=name,
        location=net.location,
        routes=list(routes),
    )
    net.subnets[0].route_table_id = table.id.lower()
    return table


def protect(inv: Inventory, src: VirtualNetwork, rec: VirtualNetwork | None, target: str, vm: str) -> None:
    """Add a VM in `src` protected by A2A into `rec` (None: no recovery network chosen) in `target`."""
    machine, nic = vm_with_nic(vm, src.location, subnet_id(src))
    owner = vault("rsv", target)
    item = a2a_item(
        owner,
        machine,
        primary=src.location,
        recovery=target,
        recovery_network_id=asr_case(rec.id) if rec else None,
        name=f"item-{vm}",
    )
    inv.virtual_machines.append(machine)
    inv.network_interfaces.append(nic)
    inv.protected_items.append(item)
    if not any(v.id == owner.id for v in inv.vaults):
        inv.vaults.append(owner)


def protected(
    src: VirtualNetwork, rec: VirtualNetwork | None, *extra: Any, vm: str = "vm1", **ctx_kw: Any
) -> Context:
    """A context where a VM in `src` is protected by A2A into `rec` (or, with `rec` None, into the
    region given as `target=`, no recovery network chosen), with `extra` resources in the inventory."""
    target = ctx_kw.pop("target", rec.location if rec else "westus2")
    subs = ctx_kw.pop("subscriptions", (SUBSCRIPTION,))
    nets = [src] + ([rec] if rec and rec is not src else [])
    inv = inventory(*nets, *extra, subscriptions=subs)
    protect(inv, src, rec, target, vm)
    return context(inv, **ctx_kw)
