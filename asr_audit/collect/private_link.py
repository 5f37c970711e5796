"""Private endpoints, private DNS zones and their virtual network links: ARM JSON -> records.

Strict where ASR-PRIVATE-ENDPOINT's verdict rests on a value: a `groupIds` that is not a list of
names, or a connection that is not an object, would read as "no Site Recovery endpoint here" and
fire on a VNet that has one, so the item becomes unread instead. Pure functions, no I/O.
"""

from __future__ import annotations

from typing import Any

from asr_audit import ids
from asr_audit.collect.fields import Malformed, identity, list_field, obj_field, props, ref, required_id, text
from asr_audit.inventory import PrivateDnsZone, PrivateEndpoint, PrivateLinkConnection, VirtualNetworkLink

_ZONE_LINKS = "/virtualnetworklinks/"


def _group_ids(p: dict[str, Any]) -> list[str]:
    value = p.get("groupIds")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
        raise Malformed("'groupIds' is not a list of names")
    return [g for g in value if g]


def _connections(p: dict[str, Any], key: str, manual: bool) -> list[PrivateLinkConnection]:
    return [
        PrivateLinkConnection(
            private_link_service_id=text(cp.get("privateLinkServiceId")),
            group_ids=_group_ids(cp),
            status=text(obj_field(cp, "privateLinkServiceConnectionState").get("status")),
            manual=manual,
        )
        for c in list_field(p, key)
        for cp in (props(c),)
    ]


def parse_private_endpoint(item: dict[str, Any]) -> PrivateEndpoint:
    rid, name, location = identity(item)
    p = props(item)
    return PrivateEndpoint(
        id=rid,
        name=name,
        location=location,
        subnet_id=ref(p.get("subnet")),
        connections=_connections(p, "privateLinkServiceConnections", False)
        + _connections(p, "manualPrivateLinkServiceConnections", True),
    )


def parse_private_dns_zone(item: dict[str, Any]) -> PrivateDnsZone:
    rid = required_id(item)
    return PrivateDnsZone(id=rid, name=text(item.get("name")) or ids.name_of(rid))


def parse_virtual_network_link(item: dict[str, Any]) -> VirtualNetworkLink:
    """The zone is the link id's prefix: the link body does not name it otherwise."""
    rid = required_id(item)
    at = rid.lower().rfind(_ZONE_LINKS)
    if at < 0:
        raise Malformed(f"not a virtual network link id: {rid}")
    p = props(item)
    return VirtualNetworkLink(
        id=rid,
        zone_id=rid[:at],
        virtual_network_id=ref(p.get("virtualNetwork")),
        state=text(p.get("virtualNetworkLinkState")),
    )
