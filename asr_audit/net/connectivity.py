"""Which gateways serve a VNet, and which on-premises links (ExpressRoute circuits, site-to-site
VPNs) it reaches through them.

A VNet reaches a circuit or a local network gateway through a gateway connection on its own
gateway, or through a hub it peers with when the spoke side uses the remote gateways and the
hub side allows gateway transit. Where that chain leads into something the scan did not read
(a hub in another subscription), the answer says so instead of pretending there is nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from asr_audit import ids
from asr_audit.inventory import Connection, InventoryIndex, Peering, VirtualNetwork, VirtualNetworkGateway

EXPRESSROUTE = "ExpressRoute"
VPN = "VPN"
# The collectors behind gateway_paths() and hybrid_reach(): which gateways a VNet has, and what they
# connect to. A gap here can hide a connection.
GATEWAY_PRESENCE = ("gateway_resource_groups", "virtual_network_gateways")  # has_gateway(), gateway_paths()
GATEWAY_INPUTS = (*GATEWAY_PRESENCE, "connections")  # hybrid_reach()


@dataclass(frozen=True, slots=True)
class GatewayPath:
    gateway: VirtualNetworkGateway
    via_hub_id: str | None = None  # the peered hub whose gateway this is; None for the VNet's own


@dataclass(frozen=True, slots=True)
class Attachment:
    """One on-premises link a VNet reaches."""

    target_id: str  # the ExpressRoute circuit or local network gateway, as ARM spells it
    kind: str  # ExpressRoute | VPN
    connection_id: str
    gateway_id: str
    via_hub_id: str | None = None
    connection_status: str | None = None

    def to_json(self) -> dict[str, str]:
        data = {
            "target": self.target_id,
            "kind": self.kind,
            "connection": self.connection_id,
            "gateway": self.gateway_id,
            "via_hub": self.via_hub_id,
            "connection_status": self.connection_status,
        }
        return {k: v for k, v in data.items() if v}


@dataclass(slots=True)
class Reach:
    attachments: list[Attachment] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # why part of the reach could not be read

    def targets(self) -> dict[str, Attachment]:
        """Attachments by the canonical id of what they reach (first path wins)."""
        out: dict[str, Attachment] = {}
        for att in self.attachments:
            out.setdefault(ids.key(att.target_id), att)
        return out


def connected(peering: Peering) -> bool:
    return (peering.peering_state or "").lower() == "connected"


def allows_transit(hub: VirtualNetwork, spoke: VirtualNetwork) -> bool:
    """The hub's side of its peering with `spoke` lets the spoke use the hub's gateway."""
    want = ids.key(spoke.id)  # once: a hub peers with hundreds of spokes
    return any(p.allow_gateway_transit for p in hub.peerings if ids.key(p.remote_virtual_network_id) == want)


def unread_reason(index: InventoryIndex, resource_id: str, what: str, *, advise: bool = False) -> str:
    """Why a referenced resource is missing: an unscanned subscription, or a gap in the scan.

    `advise` is the wording of the placement and storage rules, which also say how to close the
    gap; both wordings stand in published findings, so neither is changed into the other.
    """
    sub = ids.subscription_of(resource_id)
    named = f"{what} '{ids.name_of(resource_id)}'"
    if sub and sub not in index.subscriptions_read:
        advice = "; scan it too (with Reader access) to check this" if advise else ""
        return f"{named} is in subscription {sub}, which was not scanned{advice}"
    if advise:
        return (
            f"{named} was not found in the scanned inventory "
            "(deleted, moved, or its listing failed: see coverage)"
        )
    return f"{named} is not in the scanned inventory (deleted, or its listing failed: see coverage)"


def uses_remote_gateway(vnet: VirtualNetwork) -> bool:
    """A Connected peering with useRemoteGateways: Azure only allows it when the remote VNet
    has a gateway, so the VNet has one even if the hub was not read."""
    return any(connected(p) and p.use_remote_gateways for p in vnet.peerings)


def has_gateway(index: InventoryIndex, vnet: VirtualNetwork) -> bool:
    return bool(index.gateways_by_vnet.get(ids.key(vnet.id))) or uses_remote_gateway(vnet)


def reach_subscriptions(vnet: VirtualNetwork) -> set[str]:
    """The subscriptions whose gateways and connections decide the VNet's reach: its own, and those
    of the hubs whose gateways it uses. A gap in their gateway data can hide a path."""
    refs = [vnet.id] + [
        p.remote_virtual_network_id
        for p in vnet.peerings
        if connected(p) and p.use_remote_gateways and p.remote_virtual_network_id
    ]
    return {sub for sub in map(ids.subscription_of, refs) if sub}


def gateway_paths(index: InventoryIndex, vnet: VirtualNetwork) -> tuple[list[GatewayPath], list[str]]:
    """The gateways whose routes the VNet uses, and why some could not be resolved."""
    paths = [GatewayPath(gw) for gw in index.gateways_by_vnet.get(ids.key(vnet.id), [])]
    unknown: list[str] = []
    for peering in vnet.peerings:
        if not (connected(peering) and peering.use_remote_gateways and peering.remote_virtual_network_id):
            continue
        hub = index.virtual_networks.get(ids.key(peering.remote_virtual_network_id))
        if hub is None:
            reason = unread_reason(index, peering.remote_virtual_network_id, "hub VNet")
            unknown.append(f"VNet '{vnet.name}' uses the gateway of a peered hub, but {reason}")
            continue
        if allows_transit(hub, vnet):
            paths += [GatewayPath(gw, hub.id) for gw in index.gateways_by_vnet.get(ids.key(hub.id), [])]
    return paths, unknown


def on_premises_link(conn: Connection) -> tuple[str, str] | None:
    """(what the connection reaches, EXPRESSROUTE or VPN), or None for a VNet-to-VNet connection.

    The connection type decides, not which reference is set: ARM can return `peer` on a
    site-to-site (IPsec) connection too, naming its local network gateway, which is no circuit.
    Without a type, a `peer` that is a circuit id makes it ExpressRoute.
    """
    kind = (conn.connection_type or "").lower()
    peer_is_circuit = "/providers/microsoft.network/expressroutecircuits/" in ids.key(conn.peer_id)
    if kind == EXPRESSROUTE.lower() or (not kind and peer_is_circuit):
        return (conn.peer_id, EXPRESSROUTE) if conn.peer_id else None
    if kind in ("ipsec", ""):
        target = conn.local_network_gateway2_id or (None if peer_is_circuit else conn.peer_id)
        return (target, VPN) if target else None
    return None


def circuit_of(conn: Connection) -> str | None:
    """The ExpressRoute circuit an ExpressRoute connection links to; None for any other connection."""
    link = on_premises_link(conn)
    return link[0] if link and link[1] == EXPRESSROUTE else None


def hybrid_reach(index: InventoryIndex, vnet: VirtualNetwork) -> Reach:
    """Every circuit (connection `peer`) and local network gateway the VNet's gateways connect to.

    Any connection resource counts, whatever its status: a configured connection comes up
    (and advertises the VNet's ranges) without anyone touching the VNet.
    """
    paths, unknown = gateway_paths(index, vnet)
    reach = Reach(unknown=unknown)
    for path in paths:
        for conn in index.connections_by_gateway.get(ids.key(path.gateway.id), []):
            link = on_premises_link(conn)
            if link is None:
                continue  # VNet-to-VNet: not an on-premises link
            target, kind = link
            reach.attachments.append(
                Attachment(target, kind, conn.id, path.gateway.id, path.via_hub_id, conn.connection_status)
            )
    return reach
