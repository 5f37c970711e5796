"""ER-PREMIUM-XGEO: a circuit serving the source side that cannot be linked to the target region.

Site Recovery moves VMs, not their hybrid connectivity: after failover the recovery VNet must be
linked to a circuit, and Standard circuits stay inside their peering location's geopolitical
region (Local ones next to it). A circuit, hub or peering location the scan could not place
turns the verdict into `unknown` where it could change it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from asr_audit import ids
from asr_audit.findings import Finding, FindingStatus, RuleMeta, Severity
from asr_audit.inventory import Connection, ExpressRouteCircuit, InventoryIndex
from asr_audit.net import connectivity, expressroute_geo
from asr_audit.net.connectivity import EXPRESSROUTE
from asr_audit.net.expressroute_geo import Geography
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common import audited
from asr_audit.rules.common.documents import SR_EXPRESSROUTE_DOC
from asr_audit.rules.common.hybrid import SourceSide, quoted_names, source_sides, vm_refs
from asr_audit.rules.common.naming import CIRCUIT_TYPE, VNET_TYPE

PREMIUM_XGEO = RuleMeta(
    id="ER-PREMIUM-XGEO",
    title="ExpressRoute circuit cannot reach the target region without Premium",
    severity=Severity.MEDIUM,
    category="expressroute",
    needs=(*audited.PLACEMENT_INPUTS, *connectivity.GATEWAY_INPUTS, "express_route_circuits"),
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
    microsoft_docs="https://learn.microsoft.com/en-us/azure/expressroute/expressroute-locations",
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


@dataclass(slots=True)
class CircuitCase:
    reference: str  # the circuit id as a connection spells it
    circuit: ExpressRouteCircuit | None
    targets: dict[str, list[tuple[SourceSide, audited.Workload]]] = field(default_factory=dict)
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


def _circuit_cases(ctx: Context, sides: Sequence[SourceSide]) -> list[CircuitCase]:
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
                    "workloads": vm_refs({ids.key(w.vm.id): w for _, w in served}.values()),
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
        vnets = quoted_names(ids.name_of(v) for v in t["source_vnets"])
        vms = quoted_names(w["vm"] for w in t["workloads"])
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
    tier = _tier_needed(geo, circuit, verdict)
    return (
        f"Change the circuit to {tier}: az network express-route update -g "
        f"{ids.resource_group_of(circuit.id)} -n {circuit.name} --sku-tier {tier} --sku-family {family}"
        + (
            f"; or link the recovery gateway to a circuit at a peering location near the target region "
            f"({alternatives})"
            if alternatives
            else ""
        )
        + "."
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
        common: dict[str, Any] = {
            "resource_id": case.circuit.id if case.circuit else case.reference,
            "resource_type": CIRCUIT_TYPE,
        }
        if case.circuit is None:
            if case.targets:  # only where the circuit serves the source side
                reason = connectivity.unread_reason(ctx.index, case.reference, "ExpressRoute circuit")
                yield PREMIUM_XGEO.finding(
                    **common,
                    status=FindingStatus.UNKNOWN,
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
        if case.targets or not verdict.unknown:
            ctx.examined(PREMIUM_XGEO, circuit.id, CIRCUIT_TYPE, region=region)
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
                status=FindingStatus.UNKNOWN,
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
                status=FindingStatus.UNKNOWN,
                key="hub",
                message=(
                    f"Cannot tell which ExpressRoute circuits serve source VNet '{side.vnet.name}': "
                    f"{'; '.join(side.reach.unknown)}."
                ),
                evidence={"vnet": side.vnet.id, "unknown": side.reach.unknown},
            )
