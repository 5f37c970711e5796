"""NET-FORCED-TUNNEL: replication traffic routed to on-premises or through an appliance.

For every subnet that holds a protected or candidate VM, each destination replication needs
(section 5 of DESIGN.md) is expanded to its service tag's prefixes and split by the subnet's
effective routes (`net.routes.SubnetRouter`: UDRs with tag prefixes expanded, service endpoint
routes, system routes; longest prefix wins). Any part that leaves through a
VirtualNetworkGateway (high) or a VirtualAppliance (medium) is tunnelled; an appliance that
is an Azure Firewall in the inventory is left to NET-FIREWALL-FQDN. What ARM cannot show
(BGP routes from on-premises, tags that were not collected) yields `unknown`, never a pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from asr_audit import ids
from asr_audit.findings import Finding, FindingStatus, RuleMeta, Severity
from asr_audit.inventory import RouteTable, VirtualNetwork
from asr_audit.net import connectivity
from asr_audit.net.prefixes import PrefixSet
from asr_audit.net.routes import (
    APPLIANCE,
    DEFAULT,
    GATEWAY,
    INTERNET,
    RouteEntry,
    Segment,
    SubnetRouter,
    SubnetRoutes,
    blocks,
    shared_router,
)
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common import audited
from asr_audit.rules.common.audited import SubnetCase, subnet_cases
from asr_audit.rules.common.destinations import resolve, subnet_destinations
from asr_audit.rules.common.fixes import subnet_route_table
from asr_audit.rules.common.gaps import gap_label, hybrid_gaps
from asr_audit.rules.common.naming import SUBNET_TYPE
from asr_audit.rules.common.references import canonical_ip, firewalls_by_ip, route_table

EXAMPLES = 5

FORCED_TUNNEL = RuleMeta(
    id="NET-FORCED-TUNNEL",
    title="Replication traffic is forced through a gateway or appliance",
    severity=Severity.HIGH,
    category="network",
    needs=(*audited.PLACEMENT_INPUTS, "route_tables", "service_tags", *connectivity.GATEWAY_PRESENCE),
    other_severities=(Severity.MEDIUM,),
    rationale=(
        "Replication traffic and Site Recovery service calls must stay on Azure's backbone. A 0.0.0.0/0 "
        "(or other covering) user-defined route to a VPN/ExpressRoute gateway sends them to on-premises, "
        "where they are slow, costly or dropped; a route to a network virtual appliance makes the "
        "appliance carry all replication traffic, which it may throttle."
    ),
    remediation=(
        "Enable the Storage service endpoint on the subnet so cache writes bypass the default route "
        "(az network vnet subnet update -g <rg> --vnet-name <vnet> -n <subnet> --service-endpoints "
        "Microsoft.Storage; portal: virtual network > Service endpoints > Add). Let the appliance or "
        "the on-premises firewall the tunnel leads to allow the other destinations on TCP 443 with "
        "service-tag rules (AzureActiveDirectory, EventHub.<target-region>, AzureSiteRecovery), or use "
        "a private endpoint for the vault. Only where that is not possible, route those service tags "
        "to Internet (az network route-table route create -g <rg> --route-table-name <table> -n "
        "asr-aad --address-prefix AzureActiveDirectory --next-hop-type Internet): never Site "
        "Recovery's IP addresses, which the networking guide says not to add to route tables."
    ),
    microsoft_docs="https://learn.microsoft.com/en-us/azure/site-recovery/azure-to-azure-about-networking",
    source=(
        "About networking in Azure VM disaster recovery (learn.microsoft.com, 2021-11-21 revision): 'Azure "
        "Site Recovery IP addresses should not be added in Azure Routing table to control outbound "
        "connectivity', Network virtual appliance configuration and Forced tunneling; About networking "
        "in Azure to Azure replication (2018 seed), Forced tunneling; Virtual network traffic routing "
        "(learn.microsoft.com, 2023-05-27 revision), How Azure selects a route"
    ),
    references=("https://learn.microsoft.com/en-us/azure/virtual-network/virtual-networks-udr-overview",),
)

# --- one subnet -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    table: RouteTable | None = None
    tunnelled: list[dict[str, Any]] = field(default_factory=list)
    unknown: list[dict[str, str]] = field(default_factory=list)
    unresolved: list[dict[str, str]] = field(default_factory=list)  # routes whose tag was not collected
    severity: Severity = Severity.MEDIUM


def _tunnels(route: RouteEntry | None, firewalls: set[str]) -> bool:
    """Tunnelled by this route; an Azure Firewall next hop is NET-FIREWALL-FQDN's to judge."""
    if route is None or route.next_hop_type not in (GATEWAY, APPLIANCE):
        return False
    return not (route.next_hop_type == APPLIANCE and canonical_ip(route.next_hop_ip) in firewalls)


def _undecided(route: RouteEntry | None) -> bool:
    """Routed only by the system default: a BGP route from on-premises would take precedence.
    (VNet, peering and service endpoint system routes win over BGP.)"""
    return route is None or (route.source == DEFAULT and route.next_hop_type == INTERNET)


def _could_tunnel(routes: SubnetRoutes, firewalls: set[str], bgp: bool) -> bool:
    """Whether anything in this subnet's routing can tunnel a public destination; if not, a
    destination whose prefixes are unknown cannot be tunnelled either and needs no `unknown`."""
    return (
        bgp
        or any(_tunnels(r, firewalls) for r in routes.public_routes())
        or any(u.next_hop_type in (GATEWAY, APPLIANCE) for u in routes.unresolved)
    )


# A `_judge` verdict by what it depends on: (id of the destination's segments, tag, BGP doubt, id
# of the unresolved routes) -> (those segments and routes, kept alive so the ids stay theirs; the
# verdict). Subnets whose route tables are alike get the same segments (`SubnetRouter`).
Verdicts = dict[
    tuple[int, str, str | None, int], tuple[object, object, tuple[dict[str, Any] | None, str | None]]
]


def _judged(
    verdicts: Verdicts,
    dest_prefixes: PrefixSet,
    tag: str,
    routes: SubnetRoutes,
    firewalls: set[str],
    bgp: str | None,
) -> tuple[dict[str, Any] | None, str | None]:
    """`_judge`, once per distinct question within one run of the rule; each caller gets its own
    evidence dict."""
    pieces = routes.segments(dest_prefixes)
    key = (id(pieces), tag, bgp, id(routes.unresolved))
    known = verdicts.get(key)
    if known is None:
        known = verdicts[key] = (pieces, routes.unresolved, _judge(pieces, tag, routes, firewalls, bgp))
    found, reason = known[2]
    return (dict(found) if found else None), reason


def _judge(
    pieces: list[Segment], tag: str, routes: SubnetRoutes, firewalls: set[str], bgp: str | None
) -> tuple[dict[str, Any] | None, str | None]:
    """(tunnelled evidence, unknown reason) for one resolved destination, split by the subnet's
    routes into `pieces`; `bgp` says why routes learned from on-premises may apply, None when they
    cannot."""
    tunnelled = [p for p in pieces if _tunnels(p[3], firewalls)]
    if tunnelled:  # counted and shown in CIDR blocks, as the route tables list them
        used = {id(route): route for *_, route in tunnelled if route}
        cut = blocks(tunnelled)
        return {
            "destination": tag,
            "next_hop_types": sorted({r.next_hop_type for r in used.values()}),
            "routes": [r.to_json() for r in used.values()],
            "tunnelled_prefixes": len(cut),
            "examples": [str(p.prefix) for p in cut[:EXAMPLES]],
            "partial": len(tunnelled) < len(pieces),
        }, None
    if bgp and any(_undecided(route) for *_, route in pieces):
        return None, bgp
    risky = [u for u in routes.unresolved if u.next_hop_type in (GATEWAY, APPLIANCE)]
    if risky:
        names = ", ".join(f"'{u.name}' ({u.address_prefix})" for u in risky)
        return None, f"route(s) {names} use a service tag that was not collected"
    return None, None


def _bgp_doubt(ctx: Context, vnet: VirtualNetwork, table: RouteTable | None) -> str | None:
    """Why routes learned over BGP may override the subnet's default route, or None: propagation is
    on and the VNet has a gateway, or its gateways could not be read (an unread one may exist)."""
    if table is not None and table.disable_bgp_route_propagation:
        return None
    if connectivity.has_gateway(ctx.index, vnet):
        return (
            "BGP route propagation is enabled and the VNet has a gateway, so on-premises may advertise "
            "a default route that ARM does not show"
        )
    gaps = hybrid_gaps(ctx, [vnet], connectivity.GATEWAY_PRESENCE)
    if gaps:
        return (
            "BGP route propagation is enabled and whether the VNet has a gateway is unknown (the scan "
            f"could not read {', '.join(map(gap_label, gaps))}), so on-premises may advertise a default "
            "route that ARM does not show"
        )
    return None


def _evaluate(
    ctx: Context, case: SubnetCase, router: SubnetRouter, firewalls: set[str], verdicts: Verdicts
) -> Outcome:
    outcome = Outcome()
    table, missing = route_table(ctx, case.subnet)
    outcome.table = table
    if missing:
        outcome.unknown.append({"destination": "*", "reason": missing})
        return outcome
    tags = router.tags
    routes = router.routes(case.vnet, case.subnet, table)
    bgp = _bgp_doubt(ctx, case.vnet, table)
    for dest in subnet_destinations(ctx, case):
        prefixes, tag, reason = resolve(tags, dest)
        if prefixes is None:
            if _could_tunnel(routes, firewalls, bool(bgp)):
                outcome.unknown.append({"destination": tag, "reason": reason or ""})
            continue
        found, reason = _judged(verdicts, prefixes, tag, routes, firewalls, bgp)
        if found:
            outcome.tunnelled.append(found)
            if GATEWAY in found["next_hop_types"]:
                outcome.severity = Severity.HIGH
        elif reason:
            outcome.unknown.append({"destination": tag, "reason": reason})
    if outcome.unknown:  # an undecided destination may leave through a gateway: never report it lower
        outcome.severity = FORCED_TUNNEL.worst
    outcome.unresolved = [u.to_json() for u in routes.unresolved]
    return outcome


# --- the rule -------------------------------------------------------------------------------------


def _fix(case: SubnetCase, outcome: Outcome) -> str:
    """The remediation with this subnet's names filled in (existing service endpoints kept:
    `--service-endpoints` replaces the list)."""
    vnet_rg = ids.resource_group_of(case.vnet.id) or "<rg>"
    table = subnet_route_table(case.vnet, case.subnet, outcome.table.id if outcome.table else None)
    endpoints = " ".join(
        {e.lower(): e for e in [*case.subnet.service_endpoints, "Microsoft.Storage"]}.values()
    )
    tags = [t["destination"] for t in outcome.tunnelled]
    storage = [t for t in tags if t.lower().startswith("storage")]  # a service endpoint, not a route
    steps = []
    if storage:
        steps.append(
            f"az network vnet subnet update -g {vnet_rg} --vnet-name {case.vnet.name} "
            f"-n {case.subnet.name} --service-endpoints {endpoints}"
        )
    others = [t for t in tags if t not in storage]
    routes = [table.route(f"asr-{t.replace('.', '-').lower()}", t) for t in others]
    if routes and table.create_first:
        routes.insert(0, table.create_first)  # the subnet has no route table to add routes to yet
    text = "Bypass the tunnel: " + "; ".join(steps) + "." if steps else ""
    if others:
        # The networking guide: service tags in firewall rules first; routes only on service tags
        # (they follow the service), never on Site Recovery's IP addresses.
        text += (
            f"{' ' if text else ''}Allow {', '.join(others)} on TCP 443 with service-tag rules on the "
            "appliance or on-premises firewall the tunnel leads to (or use a private endpoint for the "
            "vault); only if that is not possible, route the tags to Internet: "
            + "; ".join(routes)
            + " (service tags, never Site Recovery's IP addresses, which the networking guide says not "
            "to add to route tables)."
        )
    return text


def _check_routes(case: SubnetCase) -> str:
    nic = case.placements[0].nic
    return (
        f"Check the effective routes of the VM's NIC (az network nic show-effective-route-table "
        f"-g {ids.resource_group_of(nic.id)} -n {nic.name}; portal: network interface > Effective routes). "
        "If replication destinations leave through a gateway or appliance, bypass them as "
        f"`asr-audit explain {FORCED_TUNNEL.id}` shows."
    )


def _gaps(outcome: Outcome) -> str:
    """Unknown destinations grouped by reason, for messages."""
    by_reason: dict[str, list[str]] = {}
    for u in outcome.unknown:
        by_reason.setdefault(u["reason"], []).append(u["destination"])
    return "; ".join(f"{reason} ({', '.join(dests)})" for reason, dests in by_reason.items())


def _tunnel_message(where: str, outcome: Outcome) -> str:
    listed = "; ".join(
        f"{t['destination']} via {'/'.join(t['next_hop_types'])}"
        + (f" ({t['tunnelled_prefixes']} prefix(es), partial)" if t["partial"] else "")
        for t in outcome.tunnelled
    )
    hops = {h for t in outcome.tunnelled for h in t["next_hop_types"]}
    why = []
    if GATEWAY in hops:
        why.append("through the gateway, replication traffic leaves Azure for on-premises")
    if APPLIANCE in hops:
        why.append("the appliance must carry all replication traffic and may throttle or drop it")
    gaps = f" Not decidable: {_gaps(outcome)}." if outcome.unknown else ""
    because = "; ".join(why)
    return (
        f"{where} routes replication destinations away from Azure's backbone: {listed}. "
        f"{because[0].upper()}{because[1:]}. Route these destinations to Internet with service-tag routes "
        f"(Storage: a service endpoint).{gaps}"
    )


@rule(FORCED_TUNNEL)
def check_forced_tunnel(ctx: Context) -> Iterator[Finding]:
    inventory = ctx.inventory
    router = shared_router(ctx)
    firewalls = set(firewalls_by_ip(inventory))
    verdicts: Verdicts = {}
    for case in subnet_cases(ctx):
        ctx.examined(FORCED_TUNNEL, case.subnet.id, SUBNET_TYPE, case.label(), case.vnet.location)
        outcome = _evaluate(ctx, case, router, firewalls, verdicts)
        if not (outcome.tunnelled or outcome.unknown):
            continue
        where = f"subnet '{case.vnet.name}/{case.subnet.name}' ({case.who()})"
        evidence = {
            "subnet": case.subnet.id,
            "route_table": case.subnet.route_table_id,
            "workloads": case.workload_refs(),
            "tunnelled": outcome.tunnelled,
            "unknown": outcome.unknown,
            "unresolved_routes": outcome.unresolved,
        }
        common: dict[str, Any] = {
            "resource_id": case.subnet.id,
            "resource_type": SUBNET_TYPE,
            "region": case.vnet.location,
        }
        if outcome.tunnelled:
            yield FORCED_TUNNEL.finding(
                **common,
                severity=outcome.severity,
                message=_tunnel_message(where[0].upper() + where[1:], outcome),
                remediation=_fix(case, outcome),
                evidence=evidence,
            )
        else:
            yield FORCED_TUNNEL.finding(
                **common,
                status=FindingStatus.UNKNOWN,
                message=f"Cannot tell whether {where} forces replication traffic off Azure's backbone: "
                f"{_gaps(outcome)}.",
                remediation=_check_routes(case),
                evidence=evidence,
            )
