"""NET-FORCED-TUNNEL: replication traffic routed to on-premises or through an appliance.

For every subnet that holds a protected or candidate VM, each destination replication needs
(section 5 of DESIGN.md) is expanded to its service tag's prefixes and split by the subnet's
effective routes (`netmath.subnet_routes`: UDRs with tag prefixes expanded, service endpoint
routes, system routes; longest prefix wins). Any part that leaves through a
VirtualNetworkGateway (high) or a VirtualAppliance (medium) is tunnelled; an appliance that
is an Azure Firewall in the inventory is left to NET-FIREWALL-FQDN. What ARM cannot show
(BGP routes from on-premises, tags that were not collected) yields `unknown`, never a pass.

NET-GATEWAY-DEFAULT-SITE: the same harm without any route in ARM. A VPN gateway's Default
Site tunnels all Internet-bound traffic of the VNets it serves (its own, and spokes using it
through gateway transit); only a subnet's own 0.0.0.0/0 -> Internet route escapes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from asr_audit import ids
from asr_audit.findings import Finding, Severity
from asr_audit.inventory import RouteTable, Subnet, VirtualNetwork, VirtualNetworkGateway
from asr_audit.net import connectivity, netmath
from asr_audit.net.netmath import APPLIANCE, DEFAULT, GATEWAY, INTERNET, RouteSet, ServiceTagIndex
from asr_audit.rules import scope
from asr_audit.rules.base import Context, RuleMeta, rule
from asr_audit.rules.common import (
    GATEWAY_TYPE,
    SUBNET_TYPE,
    VNET_TYPE,
    canonical_ip,
    firewalls_by_ip,
    gap_label,
    hybrid_gaps,
    route_table,
    workload_ref,
)

EXAMPLES = 5

FORCED_TUNNEL = RuleMeta(
    id="NET-FORCED-TUNNEL",
    title="Replication traffic is forced through a gateway or appliance",
    severity=Severity.HIGH,
    category="network",
    needs=(*scope.PLACEMENT_INPUTS, "route_tables", "service_tags", *connectivity.GATEWAY_PRESENCE),
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
        "Microsoft.Storage; portal: virtual network > Service endpoints > Add). For the other "
        "destinations add service-tag routes with next hop Internet to the subnet's route table, e.g. "
        "az network route-table route create -g <rg> --route-table-name <table> -n asr-aad "
        "--address-prefix AzureActiveDirectory --next-hop-type Internet (likewise EventHub.<target-region> "
        "and AzureSiteRecovery), or use a private endpoint for the vault."
    ),
    docs="https://learn.microsoft.com/en-us/azure/site-recovery/azure-to-azure-about-networking",
    source=(
        "About networking in Azure VM disaster recovery (learn.microsoft.com, 2020-03-13 revision), Network "
        "virtual appliance configuration and Forced tunneling; About networking in Azure to Azure "
        "replication (2018 seed), Forced tunneling; Virtual network traffic routing "
        "(learn.microsoft.com, 2023-05-27 revision), How Azure selects a route"
    ),
    references=("https://learn.microsoft.com/en-us/azure/virtual-network/virtual-networks-udr-overview",),
)

# --- required destinations ------------------------------------------------------------------------

SOURCE, TARGET = "source", "target"
# (service tag, which region's regional tag; None for a global tag): DESIGN.md section 5.
REQUIRED = (
    ("Storage", SOURCE),
    ("AzureActiveDirectory", None),
    ("EventHub", TARGET),
    ("AzureSiteRecovery", None),
)
SITE_RECOVERY = "AzureSiteRecovery"


@dataclass(frozen=True, slots=True)
class Destination:
    service: str  # the tag, or the base of a regional tag
    side: str | None  # source | target | None (global tag)
    region: str | None = None

    @property
    def label(self) -> str:
        if not self.side:
            return self.service
        return f"{self.service}.{self.region or f'<{self.side} region>'}"


def required_destinations(source_region: str | None, target_region: str | None) -> list[Destination]:
    """What an A2A VM in `source_region` replicating to `target_region` must reach on 443."""
    regions = {SOURCE: ids.region(source_region), TARGET: ids.region(target_region)}
    return [Destination(svc, side, regions[side] if side else None) for svc, side in REQUIRED]


def resolve(tags: ServiceTagIndex, dest: Destination) -> tuple[netmath.PrefixSet | None, str, str | None]:
    """(the destination's prefixes, its tag name, why it cannot be resolved)."""
    if dest.side and not dest.region:
        return None, dest.label, f"the {dest.side} region is not known (give --{dest.side}-region)"
    if not tags:
        return None, dest.label, "service tags were not collected (see coverage)"
    tag = tags.regional(dest.service, dest.region) if dest.side else tags.get(dest.service)
    if tag is None:
        return None, dest.label, f"service tag {dest.label} is not in the collected service tags"
    prefixes = netmath.PrefixSet(tag.address_prefixes)
    if not prefixes:
        return None, tag.name, f"service tag {tag.name} lists no address prefixes"
    return prefixes, tag.name, None


def private_endpoint(ctx: Context, workload: scope.Workload) -> bool:
    """The workload's vault has a private endpoint for Site Recovery, so its calls to the service go
    there rather than to the AzureSiteRecovery tag (a candidate has no vault yet)."""
    vault = ctx.index.vaults.get(ids.key(workload.item.vault_id)) if workload.item else None
    return vault is not None and (vault.private_endpoint_state_for_site_recovery or "").lower() == "enabled"


# --- one subnet -----------------------------------------------------------------------------------


@dataclass(slots=True)
class SubnetCase:
    """A subnet holding workloads, with each of their NICs placed in it."""

    vnet: VirtualNetwork
    subnet: Subnet
    placements: list[scope.Placement] = field(default_factory=list)

    def workload_refs(self) -> list[dict[str, str]]:
        """The subnet's VMs, each once however many NICs (or stale items) place it here."""
        seen = {ids.key(p.workload.vm.id): p.workload for p in self.placements}
        return [workload_ref(w) for w in seen.values()]

    def who(self) -> str:
        """The first few VMs of the subnet, for messages."""
        vms = self.workload_refs()
        shown = ", ".join(f"{v['kind']} VM '{v['vm']}'" for v in vms[:3])
        return shown + (f" and {len(vms) - 3} more" if len(vms) > 3 else "")


def subnet_cases(ctx: Context) -> list[SubnetCase]:
    """Every subnet that holds a workload NIC, once, in id order."""
    cases: dict[str, SubnetCase] = {}
    for p in scope.placements(ctx):
        cases.setdefault(ids.key(p.subnet.id), SubnetCase(p.vnet, p.subnet)).placements.append(p)
    return [cases[k] for k in sorted(cases)]


def subnet_destinations(ctx: Context, case: SubnetCase) -> list[Destination]:
    """What the subnet's workloads must reach, each once; Site Recovery is left out when every
    one of them reaches it through its vault's private endpoint."""
    wanted: dict[Destination, None] = {}
    for p in case.placements:
        wanted.update(
            dict.fromkeys(required_destinations(p.workload.source_region, p.workload.target_region))
        )
    private = all(private_endpoint(ctx, p.workload) for p in case.placements)
    return [d for d in wanted if not (d.service == SITE_RECOVERY and private)]


@dataclass(slots=True)
class Outcome:
    table: RouteTable | None = None
    tunnelled: list[dict[str, Any]] = field(default_factory=list)
    unknown: list[dict[str, str]] = field(default_factory=list)
    unresolved: list[dict[str, str]] = field(default_factory=list)  # routes whose tag was not collected
    severity: Severity = Severity.MEDIUM


def _tunnels(route: netmath.RouteEntry | None, firewalls: set[str]) -> bool:
    """Tunnelled by this route; an Azure Firewall next hop is NET-FIREWALL-FQDN's to judge."""
    if route is None or route.next_hop_type not in (GATEWAY, APPLIANCE):
        return False
    return not (route.next_hop_type == APPLIANCE and canonical_ip(route.next_hop_ip) in firewalls)


def _undecided(route: netmath.RouteEntry | None) -> bool:
    """Routed only by the system default: a BGP route from on-premises would take precedence.
    (VNet, peering and service endpoint system routes win over BGP.)"""
    return route is None or (route.source == DEFAULT and route.next_hop_type == INTERNET)


def _could_tunnel(routes: RouteSet, firewalls: set[str], bgp: bool) -> bool:
    """Whether anything in this subnet's routing can tunnel a public destination; if not, a
    destination whose prefixes are unknown cannot be tunnelled either and needs no `unknown`."""
    return (
        bgp
        or any(_tunnels(r, firewalls) and not r.prefix.is_private for r in routes.routes())
        or any(u.next_hop_type in (GATEWAY, APPLIANCE) for u in routes.unresolved)
    )


def _judge(
    dest_prefixes: netmath.PrefixSet, tag: str, routes: RouteSet, firewalls: set[str], bgp: str | None
) -> tuple[dict[str, Any] | None, str | None]:
    """(tunnelled evidence, unknown reason) for one resolved destination; `bgp` says why routes
    learned from on-premises may apply, None when they cannot."""
    pieces = routes.next_hops(dest_prefixes)
    tunnelled = [p for p in pieces if _tunnels(p.route, firewalls)]
    if tunnelled:
        used = {id(p.route): p.route for p in tunnelled if p.route}
        return {
            "destination": tag,
            "next_hop_types": sorted({r.next_hop_type for r in used.values()}),
            "routes": [r.to_json() for r in used.values()],
            "tunnelled_prefixes": len(tunnelled),
            "examples": [str(p.prefix) for p in tunnelled[:EXAMPLES]],
            "partial": len(tunnelled) < len(pieces),
        }, None
    if bgp and any(_undecided(p.route) for p in pieces):
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


def _evaluate(ctx: Context, case: SubnetCase, router: netmath.SubnetRouter, firewalls: set[str]) -> Outcome:
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
        found, reason = _judge(prefixes, tag, routes, firewalls, bgp)
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
    table_id = outcome.table.id if outcome.table else ""
    table_rg = ids.resource_group_of(table_id) or "<rg>"
    endpoints = " ".join(
        {e.lower(): e for e in [*case.subnet.service_endpoints, "Microsoft.Storage"]}.values()
    )
    steps = []
    for t in outcome.tunnelled:
        tag = t["destination"]
        if tag.lower().startswith("storage"):
            steps.append(
                f"az network vnet subnet update -g {vnet_rg} --vnet-name {case.vnet.name} "
                f"-n {case.subnet.name} --service-endpoints {endpoints}"
            )
        else:
            route = f"asr-{tag.replace('.', '-').lower()}"
            steps.append(
                f"az network route-table route create -g {table_rg} --route-table-name "
                f"{ids.name_of(table_id)} -n {route} --address-prefix {tag} --next-hop-type Internet"
            )
    return "Bypass the tunnel for each destination: " + "; ".join(steps) + ". " + FORCED_TUNNEL.remediation


def _check_routes(case: SubnetCase) -> str:
    nic = case.placements[0].nic
    return (
        f"Check the effective routes of the VM's NIC (az network nic show-effective-route-table "
        f"-g {ids.resource_group_of(nic.id)} -n {nic.name}; portal: network interface > Effective routes). "
        "If replication destinations leave through a gateway or appliance, bypass them: "
        + FORCED_TUNNEL.remediation
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
    router = netmath.SubnetRouter(ctx.index.service_tag_index)
    firewalls = set(firewalls_by_ip(inventory))
    for case in subnet_cases(ctx):
        outcome = _evaluate(ctx, case, router, firewalls)
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
        common = {"resource_id": case.subnet.id, "resource_type": SUBNET_TYPE, "region": case.vnet.location}
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
                status="unknown",
                message=f"Cannot tell whether {where} forces replication traffic off Azure's backbone: "
                f"{_gaps(outcome)}.",
                remediation=_check_routes(case),
                evidence=evidence,
            )


# --- NET-GATEWAY-DEFAULT-SITE ---------------------------------------------------------------------

GATEWAY_DEFAULT_SITE = RuleMeta(
    id="NET-GATEWAY-DEFAULT-SITE",
    title="VPN gateway default site forces replication traffic to on-premises",
    severity=Severity.MEDIUM,
    category="network",
    needs=(*scope.PLACEMENT_INPUTS, "route_tables", *connectivity.GATEWAY_PRESENCE),
    rationale=(
        "A Default Site on a VPN gateway is forced tunnelling: all Internet-bound traffic of the virtual "
        "network, and of spokes that use the gateway through peering, is sent over the site-to-site tunnel "
        "to on-premises. That includes replication to the cache storage account and calls to Site Recovery, "
        "Microsoft Entra ID and Event Hubs, which should stay on Azure's backbone; on-premises they are "
        "slow, costly, or dropped. No user-defined route shows it, so route-table checks miss it."
    ),
    remediation=(
        "Keep the replication destinations off the tunnel on every workload subnet: add service-tag routes "
        "with next hop Internet to the subnet's route table (az network route-table route create -g <rg> "
        "--route-table-name <table> -n asr-site-recovery --address-prefix AzureSiteRecovery "
        "--next-hop-type Internet; likewise Storage.<source-region>, AzureActiveDirectory and "
        "EventHub.<target-region>) and enable the Storage service endpoint (az network vnet subnet update "
        "-g <rg> --vnet-name <vnet> -n <subnet> --service-endpoints Microsoft.Storage). A subnet with a "
        "0.0.0.0/0 route to Internet is not tunnelled at all. If forced tunnelling is not wanted, remove the "
        "default site (PowerShell: Remove-AzVirtualNetworkGatewayDefaultSite)."
    ),
    docs="https://learn.microsoft.com/en-us/azure/vpn-gateway/about-site-to-site-tunneling",
    source=(
        "About forced tunneling for site-to-site configurations (learn.microsoft.com, 2025-03-31 revision); "
        "Configure forced tunneling using Default Site (learn.microsoft.com, 2025-03-31 revision), Route "
        "Internet-bound traffic for specific subnets; About networking in Azure to Azure replication "
        "(2018 seed), Forced tunneling"
    ),
    references=(
        "https://learn.microsoft.com/en-us/azure/vpn-gateway/site-to-site-tunneling",
        "https://learn.microsoft.com/en-us/azure/site-recovery/azure-to-azure-about-networking",
    ),
)


def _internet_default(table: RouteTable | None) -> bool:
    """The subnet's own 0.0.0.0/0 -> Internet route wins over the gateway's default route."""
    return table is not None and any(
        netmath.parse_prefix(r.address_prefix) == netmath.DEFAULT_ROUTES[0]
        and netmath.next_hop_type(r.next_hop_type) == INTERNET
        for r in table.routes
    )


@dataclass(slots=True)
class DefaultSiteCase:
    gateway: VirtualNetworkGateway
    vnets: dict[str, str | None] = field(default_factory=dict)  # served VNet id -> hub id (None: own)
    tunnelled: list[SubnetCase] = field(default_factory=list)
    exempt: list[str] = field(default_factory=list)  # subnet ids with their own 0.0.0.0/0 -> Internet


def _by_vnet(ctx: Context) -> dict[str, list[SubnetCase]]:
    out: dict[str, list[SubnetCase]] = {}
    for case in subnet_cases(ctx):
        out.setdefault(ids.key(case.vnet.id), []).append(case)
    return out


def _exempt(ctx: Context, case: SubnetCase) -> bool:
    table, _ = route_table(ctx, case.subnet)
    return _internet_default(table)


def _endpoints(ctx: Context) -> str:
    return ", ".join(ctx.cloud.endpoints.as_dict().values())


def _default_site_fix(site: DefaultSiteCase) -> str:
    steps = []
    for case in site.tunnelled:
        p = case.placements[0].workload
        tags = ", ".join(d.label for d in required_destinations(p.source_region, p.target_region))
        table = ids.name_of(case.subnet.route_table_id) if case.subnet.route_table_id else "<new route table>"
        steps.append(f"subnet '{case.vnet.name}/{case.subnet.name}' (route table {table}): {tags}")
    return (
        "Route the replication destinations to Internet on each tunnelled subnet - "
        + "; ".join(steps)
        + ". "
        + GATEWAY_DEFAULT_SITE.remediation
    )


def _default_site_message(ctx: Context, site: DefaultSiteCase) -> str:
    gw = site.gateway
    served = ", ".join(
        f"'{ids.name_of(v)}'" + (f" (through hub '{ids.name_of(h)}')" if h else "")
        for v, h in site.vnets.items()
    )
    subnets = ", ".join(f"'{c.subnet.name}' ({c.who()})" for c in site.tunnelled)
    exempt = (
        f" {len(site.exempt)} subnet(s) with their own 0.0.0.0/0 route to Internet are not affected."
        if site.exempt
        else ""
    )
    return (
        f"VPN gateway '{gw.name}' has default site '{ids.name_of(gw.gateway_default_site_id)}' (forced "
        f"tunnelling) and serves source VNet(s) {served}: Internet-bound traffic of subnet(s) {subnets} goes "
        f"to on-premises, including replication to {_endpoints(ctx)}. Route those destinations to Internet "
        f"with service-tag routes, or remove the default site.{exempt}"
    )


def _default_site_cases(ctx: Context) -> tuple[list[DefaultSiteCase], list[tuple[VirtualNetwork, list[str]]]]:
    """Gateways with a default site serving a source VNet, and source VNets whose gateways could not
    all be read (a hub in an unscanned subscription) while some of their subnets would be tunnelled."""
    sites: dict[str, DefaultSiteCase] = {}
    unread: list[tuple[VirtualNetwork, list[str]]] = []
    for cases in _by_vnet(ctx).values():
        vnet = cases[0].vnet
        exempt = {ids.key(c.subnet.id) for c in cases if _exempt(ctx, c)}
        paths, unknown = connectivity.gateway_paths(ctx.index, vnet)
        exposed = [c for c in cases if ids.key(c.subnet.id) not in exempt]
        if unknown and exposed:
            unread.append((vnet, unknown))
        for path in paths:
            if not path.gateway.gateway_default_site_id:
                continue
            site = sites.setdefault(ids.key(path.gateway.id), DefaultSiteCase(path.gateway))
            site.vnets.setdefault(vnet.id, path.via_hub_id)
            site.tunnelled += exposed
            site.exempt += [c.subnet.id for c in cases if ids.key(c.subnet.id) in exempt]
    return [s for _, s in sorted(sites.items()) if s.tunnelled], unread


@rule(GATEWAY_DEFAULT_SITE)
def check_gateway_default_site(ctx: Context) -> Iterator[Finding]:
    sites, unread = _default_site_cases(ctx)
    for site in sites:
        gw = site.gateway
        yield GATEWAY_DEFAULT_SITE.finding(
            resource_id=gw.id,
            resource_type=GATEWAY_TYPE,
            region=gw.location,
            message=_default_site_message(ctx, site),
            remediation=_default_site_fix(site),
            evidence={
                "gateway": gw.id,
                "gateway_type": gw.gateway_type,
                "default_site": gw.gateway_default_site_id,
                "served_vnets": [{"vnet": v, "via_hub": h} for v, h in site.vnets.items()],
                "tunnelled_subnets": [c.subnet.id for c in site.tunnelled],
                "exempt_subnets": site.exempt,
                "workloads": [w for c in site.tunnelled for w in c.workload_refs()],
                "required_endpoints": ctx.cloud.endpoints.as_dict(),
            },
        )
    for vnet, reasons in unread:
        yield GATEWAY_DEFAULT_SITE.finding(
            resource_id=vnet.id,
            resource_type=VNET_TYPE,
            region=vnet.location,
            status="unknown",
            message=(
                f"Cannot tell whether a gateway default site forces source VNet '{vnet.name}' off Azure's "
                f"backbone: {'; '.join(reasons)}. Scan that subscription too, or check the hub gateway "
                "(az network vnet-gateway show -g <rg> -n <gateway> --query gatewayDefaultSite)."
            ),
            evidence={
                "vnet": vnet.id,
                "unknown": reasons,
                "required_endpoints": ctx.cloud.endpoints.as_dict(),
            },
        )
