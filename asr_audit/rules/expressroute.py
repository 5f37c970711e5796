"""ER-*: whether on-premises can still reach workloads after they fail over.

Site Recovery moves VMs, not their hybrid connectivity: the recovery VNet needs its own
gateway (Site Recovery creates none), that gateway must be allowed to link to the circuit
(Standard circuits stay inside their peering location's geopolitical region), and the circuits
themselves should not share one peering location. The source side's reach comes from
`connectivity` (own gateway, or a hub's through gateway transit); a hub, circuit or recovery VNet
that the scan could not read turns the verdict into `unknown` where it could change it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from asr_audit import ids
from asr_audit.findings import Finding, Severity
from asr_audit.inventory import (
    Connection,
    ExpressRouteCircuit,
    InventoryIndex,
    VirtualNetwork,
    VirtualNetworkGateway,
)
from asr_audit.net import connectivity, expressroute_geo
from asr_audit.net.connectivity import EXPRESSROUTE, Reach
from asr_audit.net.expressroute_geo import Geography
from asr_audit.rules import scope
from asr_audit.rules.base import Context, RuleMeta, rule
from asr_audit.rules.common import CIRCUIT_TYPE, GATEWAY_TYPE, VNET_TYPE, gap_label, hybrid_gaps, workload_ref

SR_EXPRESSROUTE_DOC = (
    "https://learn.microsoft.com/en-us/azure/site-recovery/azure-vm-disaster-recovery-with-expressroute"
)

PREMIUM_XGEO = RuleMeta(
    id="ER-PREMIUM-XGEO",
    title="ExpressRoute circuit cannot reach the target region without Premium",
    severity=Severity.MEDIUM,
    category="expressroute",
    needs=(*scope.PLACEMENT_INPUTS, *connectivity.GATEWAY_INPUTS, "express_route_circuits"),
    rationale=(
        "A Standard ExpressRoute circuit can only be linked to virtual networks in the geopolitical region "
        "of its peering location (Local: only the Azure regions next to it). When workloads fail over to a "
        "region outside it, the recovery VNet cannot be connected to the circuit, and on-premises loses "
        "the failed-over workloads exactly when they are needed; Premium lifts the limit."
    ),
    remediation=(
        "Enable the Premium add-on on the circuit (az network express-route update -g <rg> -n <circuit> "
        "--sku-tier Premium --sku-family <MeteredData|UnlimitedData>; portal: ExpressRoute circuit > "
        "Configuration > SKU), or order a second circuit at a peering location in the target region's "
        "geopolitical region and link the recovery VNet's gateway to it (az network vpn-connection create "
        "-g <rg> -n <connection> --vnet-gateway1 <recovery-gateway> --express-route-circuit2 <circuit-id>)."
    ),
    docs="https://learn.microsoft.com/en-us/azure/expressroute/expressroute-locations",
    source=(
        "ExpressRoute connectivity partners and peering locations (learn.microsoft.com, geopolitical "
        "table revision 2024-04-05, read 2026-11-23); Integrate ExpressRoute with disaster recovery for "
        "Azure VMs (learn.microsoft.com, 2019-04-08 revision), Access with a single circuit; About "
        "networking in Azure to Azure replication (2018 seed), ExpressRoute configuration"
    ),
    seed_value=(
        "the 2018 seed: 'To create ExpressRoute circuits in different geopolitical regions, Azure "
        "ExpressRoute Premium is required'; what Premium governs is linking a virtual network to a circuit "
        "whose peering location is in another geopolitical region"
    ),
    references=(
        SR_EXPRESSROUTE_DOC,
        "https://learn.microsoft.com/en-us/azure/expressroute/expressroute-faqs",
    ),
)

TARGET_CONNECTIVITY = RuleMeta(
    id="ER-TARGET-CONNECTIVITY",
    title="Recovery network has no gateway to on-premises",
    severity=Severity.LOW,
    category="expressroute",
    needs=(*scope.PLACEMENT_INPUTS, "network_mappings", *connectivity.GATEWAY_INPUTS),
    rationale=(
        "The source VNet reaches on-premises over ExpressRoute or site-to-site VPN, so users and systems "
        "there talk to these VMs. Site Recovery recreates VNets and subnets in the target region but never "
        "gateways or connections; if the recovery VNet has no gateway (its own, or a peered hub's), the "
        "failed-over VMs are unreachable from on-premises until one is deployed, which can take 45 minutes "
        "or more in the middle of the disaster."
    ),
    remediation=(
        "Deploy a gateway for the recovery VNet before failover, in the VNet or in a hub it peers with "
        "(az network vnet subnet create -g <rg> --vnet-name <recovery-vnet> -n GatewaySubnet "
        "--address-prefixes <cidr>; az network vnet-gateway create -g <rg> -n <gateway> --vnet "
        "<recovery-vnet> --gateway-type ExpressRoute --sku ErGw1AZ, or --gateway-type Vpn --sku VpnGw2AZ "
        "--public-ip-addresses <pip> for site-to-site). With IP retention keep its connection disconnected "
        "until failover and create it in the recovery plan (az network vpn-connection create -g <rg> -n "
        "<connection> --vnet-gateway1 <gateway> --express-route-circuit2 <circuit-id>)."
    ),
    docs=SR_EXPRESSROUTE_DOC,
    source=(
        "Integrate ExpressRoute with disaster recovery for Azure VMs (learn.microsoft.com, 2019-04-08 "
        "revision), General recommendations and Replicate Azure VMs when using ExpressRoute; About "
        "networking in Azure to Azure replication (2018 seed), Connectivity"
    ),
    seed_value=(
        "the 2018 seed asks for 'at least a site-to-site connection between your target Azure region and "
        "the on-premises datacenter'; a prepared gateway without a connection passes here, because IP "
        "retention keeps that connection down until failover"
    ),
    references=("https://learn.microsoft.com/en-us/azure/site-recovery/azure-to-azure-about-networking",),
)

TWO_CIRCUITS = RuleMeta(
    id="ER-TWO-CIRCUITS-ONE-LOCATION",
    title="Gateway's ExpressRoute circuits share one peering location",
    severity=Severity.HIGH,
    category="expressroute",
    needs=(
        *scope.PLACEMENT_INPUTS,
        *scope.RECOVERY_VNET_INPUTS,
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
    docs=(
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


# --- the source side ------------------------------------------------------------------------------


@dataclass(slots=True)
class SourceSide:
    """A VNet holding protected or candidate VMs, with what it reaches on-premises."""

    vnet: VirtualNetwork
    reach: Reach
    workloads: dict[str, scope.Workload] = field(default_factory=dict)

    @property
    def hybrid(self) -> bool:
        """Reaches on-premises, or may (through a hub that could not be read)."""
        return bool(self.reach.attachments or self.reach.unknown)


def source_sides(ctx: Context) -> list[SourceSide]:
    sides: dict[str, SourceSide] = {}
    for p in scope.placements(ctx):
        key = ids.key(p.vnet.id)
        if key not in sides:
            sides[key] = SourceSide(p.vnet, connectivity.hybrid_reach(ctx.index, p.vnet))
        sides[key].workloads.setdefault(ids.key(p.workload.vm.id), p.workload)
    return [sides[k] for k in sorted(sides)]


def _names(items: Iterable[str]) -> str:
    return ", ".join(f"'{n}'" for n in dict.fromkeys(items))


def _vm_list(workloads: Iterable[scope.Workload]) -> list[dict[str, str]]:
    return [workload_ref(w) for w in workloads]


# --- ER-PREMIUM-XGEO ------------------------------------------------------------------------------


@dataclass(slots=True)
class CircuitCase:
    reference: str  # the circuit id as a connection spells it
    circuit: ExpressRouteCircuit | None
    targets: dict[str, list[tuple[SourceSide, scope.Workload]]] = field(default_factory=dict)
    linked: list[dict[str, str]] = field(default_factory=list)  # connection, vnet/gateway, region

    @property
    def name(self) -> str:
        return self.circuit.name if self.circuit else ids.name_of(self.reference)


def _linked_region(index: InventoryIndex, conn: Connection) -> tuple[str | None, str]:
    """(region, what is linked): the gateway's VNet, else the gateway, else the connection, which
    ARM creates in its gateway's region."""
    gw = index.virtual_network_gateways.get(ids.key(conn.virtual_network_gateway1_id))
    vnet = index.virtual_networks.get(ids.key(gw.virtual_network_id)) if gw else None
    if vnet:
        return ids.region(vnet.location), vnet.id
    if gw:
        return ids.region(gw.location), gw.id
    return ids.region(conn.location), conn.virtual_network_gateway1_id or conn.id


def _circuit_cases(ctx: Context, sides: list[SourceSide]) -> list[CircuitCase]:
    index = ctx.index
    cases: dict[str, CircuitCase] = {}

    def case(reference: str) -> CircuitCase:
        key = ids.key(reference)
        if key not in cases:
            cases[key] = CircuitCase(reference, index.express_route_circuits.get(key))
        return cases[key]

    for side in sides:
        for att in side.reach.attachments:
            if att.kind != EXPRESSROUTE:
                continue
            for wl in side.workloads.values():
                if wl.target_region:
                    case(att.target_id).targets.setdefault(wl.target_region, []).append((side, wl))
    for conn in ctx.inventory.connections:
        circuit_id = connectivity.circuit_of(conn)
        if circuit_id:
            region, linked = _linked_region(index, conn)
            if region:
                case(circuit_id).linked.append({"connection": conn.id, "linked": linked, "region": region})
    return [cases[k] for k in sorted(cases)]


@dataclass(slots=True)
class XgeoVerdict:
    targets: list[dict[str, Any]] = field(default_factory=list)  # target regions it cannot reach
    linked: list[dict[str, Any]] = field(default_factory=list)  # links already outside its reach
    unknown: list[str] = field(default_factory=list)


def _judge_circuit(geo: Geography, circuit: ExpressRouteCircuit, case: CircuitCase) -> XgeoVerdict:
    verdict = XgeoVerdict()
    for region, served in sorted(case.targets.items()):
        link = expressroute_geo.linkable(geo, circuit.sku_tier, circuit.peering_location, region)
        if link.ok is None:
            verdict.unknown.append(link.reason)
        elif not link.ok:
            verdict.targets.append(
                {
                    "target_region": region,
                    "target_geo": link.region_geo,
                    "reason": link.reason,
                    "source_vnets": list(dict.fromkeys(s.vnet.id for s, _ in served)),
                    "workloads": _vm_list({ids.key(w.vm.id): w for _, w in served}.values()),
                }
            )
    for linked in case.linked:
        link = expressroute_geo.linkable(geo, circuit.sku_tier, circuit.peering_location, linked["region"])
        if link.ok is False:
            verdict.linked.append({**linked, "geo": link.region_geo, "reason": link.reason})
    verdict.unknown = list(dict.fromkeys(verdict.unknown))
    return verdict


def _xgeo_message(geo: Geography, circuit: ExpressRouteCircuit, verdict: XgeoVerdict) -> str:
    where = circuit.peering_location or "an unreported peering location"
    circuit_geo = geo.of_location(circuit.peering_location)
    head = (
        f"Circuit '{circuit.name}' ({circuit.sku_tier or 'tier not reported'}, peering location {where}"
        + (f", {circuit_geo}" if circuit_geo else "")
        + ")"
    )
    parts = []
    for t in verdict.targets:
        vnets = _names(ids.name_of(v) for v in t["source_vnets"])
        vms = _names(w["vm"] for w in t["workloads"])
        parts.append(
            f"serves source VNet {vnets} whose VM(s) {vms} fail over to {t['target_region']}"
            + (f" ({t['target_geo']})" if t["target_geo"] else "")
        )
    for link in verdict.linked:
        parts.append(
            f"is linked to '{ids.name_of(link['linked'])}' in {link['region']}"
            + (f" ({link['geo']})" if link["geo"] else "")
            + " outside its reach"
        )
    if _is_local(circuit):
        limit = "ExpressRoute Local links only VNets in the Azure regions next to its peering location"
        fix = f"Change its SKU tier to {_tier_needed(geo, circuit, verdict)}"
    else:
        limit = "Without Premium a circuit links only VNets in its peering location's geopolitical region"
        fix = "Enable Premium"
    return (
        f"{head} {'; and '.join(parts)}. {limit}, so after failover the recovery VNet cannot be connected "
        f"to it. {fix}, or provision a circuit next to the target region."
    )


def _is_local(circuit: ExpressRouteCircuit) -> bool:
    return (circuit.sku_tier or "").lower() == expressroute_geo.LOCAL


def _tier_needed(geo: Geography, circuit: ExpressRouteCircuit, verdict: XgeoVerdict) -> str:
    """Standard is enough for a Local circuit whose targets and links all stay in its geopolitical region."""
    home = geo.of_location(circuit.peering_location)
    geos = [t["target_geo"] for t in verdict.targets] + [link["geo"] for link in verdict.linked]
    return "Standard" if _is_local(circuit) and home and all(g == home for g in geos) else "Premium"


def _xgeo_fix(geo: Geography, circuit: ExpressRouteCircuit, verdict: XgeoVerdict) -> str:
    family = circuit.sku_family or "<MeteredData|UnlimitedData>"
    near = {t["target_region"]: geo.serving(t["target_region"]) for t in verdict.targets}
    alternatives = "; ".join(f"{r}: {', '.join(locs)}" for r, locs in near.items() if locs)
    return (
        f"az network express-route update -g {ids.resource_group_of(circuit.id)} -n {circuit.name} "
        f"--sku-tier {_tier_needed(geo, circuit, verdict)} --sku-family {family}"
        + (
            f". Or a circuit at a peering location next to the target region ({alternatives})"
            if alternatives
            else ""
        )
        + ". "
        + PREMIUM_XGEO.remediation
    )


def _xgeo_evidence(case: CircuitCase, verdict: XgeoVerdict | None = None) -> dict[str, Any]:
    circuit = case.circuit
    return {
        "circuit": case.reference,
        "peering_location": circuit.peering_location if circuit else None,
        "sku_tier": circuit.sku_tier if circuit else None,
        "unreachable_targets": verdict.targets if verdict else [],
        "links_outside_reach": verdict.linked if verdict else [],
        "unknown": verdict.unknown if verdict else [],
        "table": expressroute_geo.source_note(),
    }


@rule(PREMIUM_XGEO)
def check_premium_xgeo(ctx: Context) -> Iterator[Finding]:
    geo = expressroute_geo.geography(ctx.cloud.name)
    sides = source_sides(ctx)
    for case in _circuit_cases(ctx, sides):
        common = {
            "resource_id": case.circuit.id if case.circuit else case.reference,
            "resource_type": CIRCUIT_TYPE,
        }
        if case.circuit is None:
            if case.targets:  # only where the circuit serves the source side
                reason = connectivity.unread_reason(ctx.index, case.reference, "ExpressRoute circuit")
                yield PREMIUM_XGEO.finding(
                    **common,
                    status="unknown",
                    message=(
                        f"Cannot tell whether circuit '{case.name}', which serves the source side, can be "
                        f"linked to the target region(s) {', '.join(sorted(case.targets))}: {reason}."
                    ),
                    evidence={**_xgeo_evidence(case), "unknown": [reason]},
                )
            continue
        circuit = case.circuit
        verdict = _judge_circuit(geo, circuit, case)
        region = circuit.location
        if verdict.targets or verdict.linked:
            yield PREMIUM_XGEO.finding(
                **common,
                region=region,
                message=_xgeo_message(geo, circuit, verdict),
                remediation=_xgeo_fix(geo, circuit, verdict),
                evidence=_xgeo_evidence(case, verdict),
            )
        elif verdict.unknown and case.targets:
            yield PREMIUM_XGEO.finding(
                **common,
                region=region,
                status="unknown",
                message=(
                    f"Cannot tell whether circuit '{circuit.name}' ({circuit.sku_tier}), which serves the "
                    f"source side, can be linked to the target region(s): {'; '.join(verdict.unknown)}. "
                    "Check the ExpressRoute locations page for its peering location."
                ),
                evidence=_xgeo_evidence(case, verdict),
            )
    for side in sides:
        if side.reach.unknown and any(w.target_region for w in side.workloads.values()):
            yield PREMIUM_XGEO.finding(
                resource_id=side.vnet.id,
                resource_type=VNET_TYPE,
                region=side.vnet.location,
                status="unknown",
                key="hub",
                message=(
                    f"Cannot tell which ExpressRoute circuits serve source VNet '{side.vnet.name}': "
                    f"{'; '.join(side.reach.unknown)}."
                ),
                evidence={"vnet": side.vnet.id, "unknown": side.reach.unknown},
            )


# --- ER-TARGET-CONNECTIVITY -----------------------------------------------------------------------


def has_failover_gateway(index: InventoryIndex, vnet: VirtualNetwork) -> bool:
    """Whether the VNet can be connected to on-premises at failover without deploying a gateway: its
    own gateway, a peered hub's through gateway transit, or a hub prepared for it (gateway, transit
    allowed) that it does not use yet. No connection is required: IP retention keeps it down."""
    if index.gateways_by_vnet.get(ids.key(vnet.id)) or connectivity.uses_remote_gateway(vnet):
        return True
    for peering in vnet.peerings:
        hub = index.virtual_networks.get(ids.key(peering.remote_virtual_network_id))
        if not (hub and connectivity.connected(peering)):
            continue
        if index.gateways_by_vnet.get(ids.key(hub.id)) and connectivity.allows_transit(hub, vnet):
            return True
    return False


@dataclass(slots=True)
class RecoveryCase:
    """Source sides with hybrid reach failing over into one recovery VNet (or, in readiness mode
    without a chosen network, into one target region)."""

    reference: str  # recovery VNet id as ASR spells it, or the source VNet id for a region
    target_region: str | None
    vnet: VirtualNetwork | None = None
    sides: dict[str, SourceSide] = field(default_factory=dict)
    workloads: dict[str, scope.Workload] = field(default_factory=dict)

    def add(self, side: SourceSide, wl: scope.Workload) -> None:
        self.sides.setdefault(ids.key(side.vnet.id), side)
        self.workloads.setdefault(ids.key(wl.vm.id), wl)

    def reached(self, index: InventoryIndex) -> list[str]:
        """Names of the on-premises links, as the circuit spells its own name where it was read."""
        links = (a for s in self.sides.values() for a in s.reach.attachments)
        circuits = index.express_route_circuits
        return list(
            dict.fromkeys(
                c.name if (c := circuits.get(ids.key(a.target_id))) else ids.name_of(a.target_id)
                for a in links
            )
        )


def _recovery_ids(ctx: Context, side: SourceSide, wl: scope.Workload) -> list[str]:
    if wl.item and wl.item.recovery_network_id:
        return [wl.item.recovery_network_id]
    return [
        m.recovery_network_id
        for m in scope.a2a_mappings(ctx)
        if m.recovery_network_id
        and ids.key(m.primary_network_id) == ids.key(side.vnet.id)
        and (not wl.target_region or ids.region(m.recovery_location) in (None, wl.target_region))
    ]


def _recovery_cases(ctx: Context, sides: list[SourceSide]) -> tuple[list[RecoveryCase], list[RecoveryCase]]:
    """(cases per chosen recovery VNet, cases per (source VNet, target region) with none chosen)."""
    chosen: dict[str, RecoveryCase] = {}
    regional: dict[tuple[str, str], RecoveryCase] = {}
    for side in sides:
        if not side.hybrid:
            continue
        for wl in side.workloads.values():
            refs = _recovery_ids(ctx, side, wl)
            for ref in refs:
                case = chosen.setdefault(ids.key(ref), RecoveryCase(ref, wl.target_region))
                case.vnet = ctx.index.virtual_networks.get(ids.key(ref))
                case.add(side, wl)
            if not refs and wl.target_region:
                key = (ids.key(side.vnet.id), wl.target_region)
                regional.setdefault(key, RecoveryCase(side.vnet.id, wl.target_region, side.vnet)).add(
                    side, wl
                )
    return [chosen[k] for k in sorted(chosen)], [regional[k] for k in sorted(regional)]


def _target_message(index: InventoryIndex, case: RecoveryCase, where: str) -> str:
    links = _names(case.reached(index))
    sources = _names(s.vnet.name for s in case.sides.values())
    vms = _names(w.vm.name for w in case.workloads.values())
    reach = (
        f"reach on-premises through {links}"
        if links
        else "may reach on-premises through a hub that was not read"
    )
    return (
        f"Source VNet(s) {sources} {reach}, but {where} has no gateway, nor a peered hub gateway it can use: "
        f"after failover {vms} cannot be reached from on-premises, and Site Recovery does not create "
        "gateways. Deploy one before failover (with IP retention, leave its connection down until failover)."
    )


def _target_evidence(case: RecoveryCase, **extra: Any) -> dict[str, Any]:
    return {
        "source_vnets": [s.vnet.id for s in case.sides.values()],
        "on_premises_links": [a.to_json() for s in case.sides.values() for a in s.reach.attachments],
        "unknown": [u for s in case.sides.values() for u in s.reach.unknown],
        "workloads": _vm_list(case.workloads.values()),
        "target_region": case.target_region,
        **extra,
    }


def _status(case: RecoveryCase, unread: list[str]) -> str:
    """`fail` when some source side surely reaches on-premises and the recovery side's gateways were
    all read; `unknown` when only an unread hub may reach it, or a gateway nobody saw may exist."""
    return "fail" if any(s.reach.attachments for s in case.sides.values()) and not unread else "unknown"


def _unread_gateways(ctx: Context, vnets: Iterable[VirtualNetwork]) -> list[str]:
    """The gateway listings that failed where the recovery side's gateway would be."""
    return [gap_label(g) for g in hybrid_gaps(ctx, vnets, connectivity.GATEWAY_PRESENCE)]


def _maybe(unread: list[str]) -> str:
    return f" It may have one the scan did not see: {', '.join(unread)} could not be read." if unread else ""


@rule(TARGET_CONNECTIVITY)
def check_target_connectivity(ctx: Context) -> Iterator[Finding]:
    inventory = ctx.inventory
    index = ctx.index
    chosen, regional = _recovery_cases(ctx, source_sides(ctx))
    for case in chosen:
        if case.vnet is None:
            reason = connectivity.unread_reason(index, case.reference, "recovery VNet")
            yield TARGET_CONNECTIVITY.finding(
                resource_id=case.reference,
                resource_type=VNET_TYPE,
                region=case.target_region,
                status="unknown",
                message=f"Cannot tell whether the recovery network has a gateway to on-premises: {reason}.",
                evidence=_target_evidence(case, unknown_recovery_vnet=reason),
            )
        elif not has_failover_gateway(index, case.vnet):
            where = f"recovery VNet '{case.vnet.name}' ({case.vnet.location})"
            unread = _unread_gateways(ctx, [case.vnet])
            yield TARGET_CONNECTIVITY.finding(
                resource_id=case.vnet.id,
                resource_type=VNET_TYPE,
                region=case.vnet.location,
                status=_status(case, unread),
                message=_target_message(index, case, where) + _maybe(unread),
                evidence=_target_evidence(case, recovery_vnet=case.vnet.id, unread_gateway_data=unread),
            )
    for case in regional:
        candidates = [v for v in inventory.virtual_networks if ids.region(v.location) == case.target_region]
        if any(has_failover_gateway(index, v) for v in candidates):
            continue
        where = (
            f"target region {case.target_region} (no recovery network chosen yet; {len(candidates)} VNet(s))"
        )
        unread = _unread_gateways(ctx, candidates)
        yield TARGET_CONNECTIVITY.finding(
            resource_id=case.reference,
            resource_type=VNET_TYPE,
            region=case.target_region,
            key=f"target:{case.target_region}",
            status=_status(case, unread),
            message=_target_message(index, case, where) + _maybe(unread),
            evidence=_target_evidence(
                case, target_region_vnets=[v.id for v in candidates], unread_gateway_data=unread
            ),
        )


# --- ER-TWO-CIRCUITS-ONE-LOCATION -----------------------------------------------------------------


def _gateways_in_scope(
    ctx: Context, sides: list[SourceSide]
) -> dict[str, tuple[VirtualNetworkGateway, list[str]]]:
    """Gateways serving a source or recovery VNet (own or through a hub), with the VNets they serve."""
    vnets = [s.vnet for s in sides] + list(scope.recovery_vnets(ctx).values())
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
            f"{_names(c.name for c in g.circuits)} at {g.location}, move one to another location{hint}"
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
        common = {"resource_id": gateway.id, "resource_type": GATEWAY_TYPE, "region": gateway.location}
        if shared:
            yield TWO_CIRCUITS.finding(
                **common, message=_two_circuits_message(geo, gateway, shared), evidence=evidence
            )
        elif unplaced and len(groups) + len(unplaced) > 1:
            yield TWO_CIRCUITS.finding(
                **common,
                status="unknown",
                message=(
                    f"Cannot tell whether the circuits of gateway '{gateway.name}' share a peering location: "
                    f"{'; '.join(unplaced)}."
                ),
                evidence=evidence,
            )
