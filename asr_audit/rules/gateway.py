"""NET-GATEWAY-DEFAULT-SITE: replication traffic forced to on-premises without any route in ARM.

A VPN gateway's Default Site tunnels all Internet-bound traffic of the VNets it serves (its own,
and spokes using it through gateway transit); only a subnet's own 0.0.0.0/0 -> Internet route
escapes it. NET-FORCED-TUNNEL judges routes a subnet can show; this rule judges the gateway.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from asr_audit import ids
from asr_audit.findings import Finding, FindingStatus, RuleMeta, Severity
from asr_audit.inventory import RouteTable, VirtualNetwork, VirtualNetworkGateway
from asr_audit.net import connectivity
from asr_audit.net.prefixes import parse_prefix
from asr_audit.net.routes import DEFAULT_ROUTES, INTERNET, next_hop_type
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common import audited
from asr_audit.rules.common.audited import SubnetCase, subnet_cases
from asr_audit.rules.common.destinations import required_destinations
from asr_audit.rules.common.fixes import subnet_route_table
from asr_audit.rules.common.naming import GATEWAY_TYPE, VNET_TYPE
from asr_audit.rules.common.references import route_table

GATEWAY_DEFAULT_SITE = RuleMeta(
    id="NET-GATEWAY-DEFAULT-SITE",
    title="VPN gateway default site forces replication traffic to on-premises",
    severity=Severity.MEDIUM,
    category="network",
    needs=(*audited.PLACEMENT_INPUTS, "route_tables", *connectivity.GATEWAY_PRESENCE),
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
    microsoft_docs="https://learn.microsoft.com/en-us/azure/vpn-gateway/about-site-to-site-tunneling",
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
    """The subnet's own 0.0.0.0/0 -> Internet route wins over the gateway's default route. The
    next hop is asked first: most routes go elsewhere, and it is the cheaper test."""
    return table is not None and any(
        next_hop_type(r.next_hop_type) == INTERNET and parse_prefix(r.address_prefix) == DEFAULT_ROUTES[0]
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
        table = subnet_route_table(case.vnet, case.subnet, case.subnet.route_table_id)
        first = f" (no route table yet: {table.create_first})" if table.create_first else ""
        steps.append(
            f"subnet '{case.vnet.name}/{case.subnet.name}'{first}: {table.route('asr-<tag>', '<tag>')} "
            f"for each <tag> of {tags}"
        )
    return (
        "Route the replication destinations to Internet on each tunnelled subnet: " + "; ".join(steps) + "."
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
        elif not (exposed and any(p.gateway.gateway_default_site_id for p in paths)):
            ctx.examined(GATEWAY_DEFAULT_SITE, vnet.id, VNET_TYPE, region=vnet.location)
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
            status=FindingStatus.UNKNOWN,
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
