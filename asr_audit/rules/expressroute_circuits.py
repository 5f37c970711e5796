"""ER-TWO-CIRCUITS-ONE-LOCATION: a gateway's "redundant" circuits that share one peering location.

Gateways in scope are those serving a source or recovery VNet (their own, or a hub's through
gateway transit); a circuit that was not read, or reports no peering location, makes the
verdict `unknown` where it could change it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from asr_audit import ids
from asr_audit.findings import Finding, FindingStatus, RuleMeta, Severity
from asr_audit.inventory import ExpressRouteCircuit, VirtualNetworkGateway
from asr_audit.net import connectivity, expressroute_geo
from asr_audit.net.expressroute_geo import Geography
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common import audited
from asr_audit.rules.common.documents import SR_EXPRESSROUTE_DOC
from asr_audit.rules.common.hybrid import SourceSide, quoted_names, source_sides
from asr_audit.rules.common.naming import GATEWAY_TYPE

TWO_CIRCUITS = RuleMeta(
    id="ER-TWO-CIRCUITS-ONE-LOCATION",
    title="Gateway's ExpressRoute circuits share one peering location",
    severity=Severity.HIGH,
    category="expressroute",
    needs=(
        *audited.PLACEMENT_INPUTS,
        *audited.RECOVERY_VNET_INPUTS,
        *connectivity.GATEWAY_INPUTS,
        "express_route_circuits",
    ),
    rationale=(
        "Two circuits on one gateway look redundant, but if both terminate at the same peering location an "
        "outage of that facility (power, fire, a regional disaster) takes both down. Geo-redundant "
        "connectivity for disaster recovery needs the second circuit at a different peering location, such "
        "as the paired one (Amsterdam and Amsterdam2)."
    ),
    remediation=(
        "Move the second path to another peering location: order a circuit there (az network express-route "
        "create -g <rg> -n <circuit> --peering-location <other-location> --provider <provider> "
        "--bandwidth <mbps> --sku-tier Standard), link the gateway to it (az network vpn-connection create "
        "-g <rg> -n <connection> --vnet-gateway1 <gateway> --express-route-circuit2 <circuit-id>), then "
        "remove the same-location link (az network vpn-connection delete -g <rg> -n <connection>)."
    ),
    microsoft_docs=(
        "https://learn.microsoft.com/en-us/azure/expressroute/"
        "designing-for-disaster-recovery-with-expressroute-privatepeering"
    ),
    source=(
        "Designing for disaster recovery with ExpressRoute private peering (learn.microsoft.com, "
        "2021-03-22 revision), Challenges of using multiple ExpressRoute circuits; Integrate ExpressRoute "
        "with disaster recovery for Azure VMs (2019-04-08 revision), Two circuits with single peering "
        "location; Link a virtual network to ExpressRoute circuits - portal (2023-08-31 revision)"
    ),
    references=(
        SR_EXPRESSROUTE_DOC,
        "https://learn.microsoft.com/en-us/azure/expressroute/expressroute-howto-linkvnet-portal-resource-manager",
    ),
)


def _gateways_in_scope(
    ctx: Context, sides: Sequence[SourceSide]
) -> dict[str, tuple[VirtualNetworkGateway, list[str]]]:
    """Gateways serving a source or recovery VNet (own or through a hub), with the VNets they serve."""
    vnets = [s.vnet for s in sides] + list(audited.recovery_vnets(ctx).values())
    out: dict[str, tuple[VirtualNetworkGateway, list[str]]] = {}
    for vnet in vnets:
        paths, _ = connectivity.gateway_paths(ctx.index, vnet)
        for path in paths:
            served = out.setdefault(ids.key(path.gateway.id), (path.gateway, []))[1]
            if vnet.id not in served:
                served.append(vnet.id)
    return out


@dataclass(slots=True)
class LocationGroup:
    location: str
    circuits: list[ExpressRouteCircuit] = field(default_factory=list)
    connections: list[str] = field(default_factory=list)


def _circuits_by_location(
    ctx: Context, geo: Geography, gateway: VirtualNetworkGateway
) -> tuple[dict[str, LocationGroup], list[str]]:
    """The gateway's circuits grouped by peering location, and why some could not be placed."""
    groups: dict[str, LocationGroup] = {}
    unplaced: list[str] = []
    seen: set[str] = set()
    for conn in ctx.index.connections_by_gateway.get(ids.key(gateway.id), []):
        circuit_id = connectivity.circuit_of(conn)
        if not circuit_id or ids.key(circuit_id) in seen:
            continue
        seen.add(ids.key(circuit_id))
        circuit = ctx.index.express_route_circuits.get(ids.key(circuit_id))
        if circuit is None:
            unplaced.append(connectivity.unread_reason(ctx.index, circuit_id, "ExpressRoute circuit"))
        elif not circuit.peering_location:
            unplaced.append(f"circuit '{circuit.name}' reports no peering location")
        else:
            group = groups.setdefault(
                geo.key(circuit.peering_location), LocationGroup(circuit.peering_location)
            )
            group.circuits.append(circuit)
            group.connections.append(conn.id)
    return groups, unplaced


def _two_circuits_message(geo: Geography, gateway: VirtualNetworkGateway, shared: list[LocationGroup]) -> str:
    parts = []
    for g in shared:
        others = geo.siblings(g.location)
        hint = f" (e.g. {', '.join(others)})" if others else ""
        parts.append(
            f"{quoted_names(c.name for c in g.circuits)} at {g.location}, move one to another location{hint}"
        )
    return (
        f"Gateway '{gateway.name}' is connected to circuits that share a peering location: "
        f"{'; '.join(parts)}. An outage of that location takes all of them down, so the second circuit "
        "gives no resilience against it."
    )


@rule(TWO_CIRCUITS)
def check_two_circuits_one_location(ctx: Context) -> Iterator[Finding]:
    geo = expressroute_geo.geography(ctx.cloud.name)
    for _, (gateway, served) in sorted(_gateways_in_scope(ctx, source_sides(ctx)).items()):
        groups, unplaced = _circuits_by_location(ctx, geo, gateway)
        shared = [g for _, g in sorted(groups.items()) if len(g.circuits) > 1]
        evidence = {
            "gateway": gateway.id,
            "served_vnets": served,
            "locations": [
                {
                    "peering_location": g.location,
                    "circuits": [c.id for c in g.circuits],
                    "connections": g.connections,
                }
                for g in groups.values()
            ],
            "unknown": unplaced,
        }
        common: dict[str, Any] = {
            "resource_id": gateway.id,
            "resource_type": GATEWAY_TYPE,
            "region": gateway.location,
        }
        ctx.examined(TWO_CIRCUITS, gateway.id, GATEWAY_TYPE, region=gateway.location)
        if shared:
            yield TWO_CIRCUITS.finding(
                **common, message=_two_circuits_message(geo, gateway, shared), evidence=evidence
            )
        elif unplaced and len(groups) + len(unplaced) > 1:
            yield TWO_CIRCUITS.finding(
                **common,
                status=FindingStatus.UNKNOWN,
                message=(
                    f"Cannot tell whether the circuits of gateway '{gateway.name}' share a peering location: "
                    f"{'; '.join(unplaced)}."
                ),
                evidence=evidence,
            )
