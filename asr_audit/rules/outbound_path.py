"""NET-OUTBOUND-PATH: a private subnet (`defaultOutboundAccess: false`) whose workloads have no way
out to what replication must reach.

A private subnet gets no implicit outbound IP: traffic routed to `Internet` goes nowhere unless an
explicit method carries it (Default outbound access in Azure): a NAT gateway on the subnet that
holds a public IP (one without is not operational), a Standard SKU public IP on the NIC's ip
configuration (Basic SKU public IPs were retired on 2025-09-30, so one is not counted), a load
balancer that lets the NIC's backend pool out (Standard with an outbound rule or a SNAT-ing
load-balancing rule on a public frontend; Basic with a public frontend), or routes that hand the
traffic to an appliance or a gateway. A service endpoint carries its service's prefixes on the
backbone.

Each destination of DESIGN.md section 5 is split by the subnet's effective routes
(`net.routes.shared_router`, shared with NET-FORCED-TUNNEL: each subnet's routes are built once).
What ARM cannot show stays `unknown`, never a pass and never a false alarm: routes on-premises may
advertise over BGP. A destination without a route can still be reached through a private endpoint
("Replicate machines with private endpoints"): the vault's for Site Recovery (which
`destinations` already leaves out) and the cache account's blob endpoint for Storage. Microsoft
Entra ID has no private endpoint, and neither have Site Recovery's Event Hubs for a vault without
one, so a VM without a route to them is stuck. The page does not say whether a vault's endpoint
carries the Event Hubs traffic too, so that case is `unknown`, as is a candidate VM (no vault or
cache account chosen yet) and an endpoint this scan could not place in the VNet or a peer of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from asr_audit import ids
from asr_audit.findings import Finding, FindingStatus, RuleMeta, Severity
from asr_audit.inventory import PrivateEndpoint, ProtectedItem, RouteTable, VirtualNetwork
from asr_audit.net import connectivity
from asr_audit.net.routes import (
    APPLIANCE,
    DEFAULT,
    GATEWAY,
    INTERNET,
    PEERING,
    SERVICE_ENDPOINT,
    SERVICE_ENDPOINT_TAGS,
    VNET_LOCAL,
    RouteEntry,
    Segment,
    SubnetRoutes,
    shared_router,
)
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common import audited
from asr_audit.rules.common.audited import Placement, SubnetCase, Workload, subnet_cases
from asr_audit.rules.common.destinations import (
    Destination,
    resolve,
    subnet_destinations,
    workload_destinations,
)
from asr_audit.rules.common.gaps import gap_label, hybrid_gaps
from asr_audit.rules.common.naming import SUBNET_TYPE
from asr_audit.rules.common.references import find_storage, route_table
from asr_audit.rules.common.ways_out import CARRIED, NONE, UNDECIDED, nat_gateway, nic_way_out

DEFAULT_OUTBOUND = (
    "https://learn.microsoft.com/en-us/azure/virtual-network/ip-services/default-outbound-access"
)
NAT_TROUBLESHOOTING = "https://learn.microsoft.com/en-us/azure/nat-gateway/troubleshoot-nat-connectivity"
BASIC_IP_RETIREMENT = (
    "https://learn.microsoft.com/en-us/azure/virtual-network/ip-services/public-ip-basic-upgrade-guidance"
)
PRIVATE_ENDPOINTS = "https://learn.microsoft.com/en-us/azure/site-recovery/azure-to-azure-how-to-enable-replication-private-endpoints"
ENTRA_ID = "AzureActiveDirectory"  # no private endpoint exists for it: only a real path reaches it
STORAGE = "Storage"  # the cache account: its blob private endpoint carries it
BLOB = "blob"  # the storage private-link sub-resource replication writes to
# What private endpoints do for a destination a VM has no route to.
_OUT = frozenset({APPLIANCE, GATEWAY, SERVICE_ENDPOINT, VNET_LOCAL, PEERING})

OUTBOUND_PATH = RuleMeta(
    id="NET-OUTBOUND-PATH",
    title="A private subnet gives replication traffic no way out",
    severity=Severity.HIGH,
    category="network",
    needs=(
        *audited.PLACEMENT_INPUTS,
        "route_tables",
        "service_tags",
        "load_balancers",
        "nat_gateways",  # whether the subnet's NAT gateway holds a public IP
        "public_ip_addresses",  # whether the public IPs a NIC or NAT gateway names exist, and their SKU
        "vault",  # the vault's private endpoint state carries the Site Recovery calls
        "storage_accounts",  # the cache account's approved private endpoints
        "private_endpoints",  # where those endpoints sit
        *connectivity.GATEWAY_PRESENCE,
    ),
    rationale=(
        "A subnet with default outbound access off (a private subnet, the default for new VNets) gives "
        "its VMs no implicit public IP. Without a NAT gateway, a public IP on the NIC, a load balancer "
        "outbound rule or a route to a firewall or appliance, a replicating VM cannot reach Microsoft "
        "Entra ID, its cache storage account, Event Hubs or Site Recovery: enabling replication fails, "
        "or running replication stops with connectivity health errors."
    ),
    remediation=(
        "Give the subnet an explicit way out: attach a NAT gateway (az network vnet subnet update -g <rg> "
        "--vnet-name <vnet> -n <subnet> --nat-gateway <nat-gateway>; portal: virtual network > Subnets > "
        "NAT gateway), or route 0.0.0.0/0 to a firewall that allows the Site Recovery destinations. A "
        "Storage service endpoint and private endpoints for the vault and the cache account carry part "
        "of the traffic; Microsoft Entra ID always needs a real outbound path."
    ),
    microsoft_docs=DEFAULT_OUTBOUND,
    source=(
        "Default outbound access in Azure (learn.microsoft.com, 2026-01-30 revision), explicit outbound "
        "methods and private subnets; Troubleshoot Azure NAT Gateway connectivity (learn.microsoft.com, "
        "2024-02-20 revision), No outbound connectivity to the internet: NAT gateway isn't operational "
        "until a public IP and subnet are attached; Upgrading a basic public IP address to Standard SKU - "
        "Guidance (learn.microsoft.com, current revision as read 2026-12), Important: on September 30, "
        "2025, Basic SKU public IPs were retired; Replicate machines with private endpoints "
        "(learn.microsoft.com, 2025-05-11 revision), Prerequisites and caveats: Microsoft Entra ID does "
        "not support private endpoints; (Optional) Create private endpoints for the cache storage account "
        "(section text as read in the 2022-04-23 revision): without one replication traffic goes to "
        "public endpoints"
    ),
    references=(
        NAT_TROUBLESHOOTING,
        BASIC_IP_RETIREMENT,
        PRIVATE_ENDPOINTS,
        "https://learn.microsoft.com/en-us/azure/site-recovery/azure-to-azure-about-networking",
    ),
)


# --- routes, per destination ---------------------------------------------------------------------------


@dataclass(slots=True)
class Paths:
    """The subnet's verdict per destination, shared by its NICs without a way of their own."""

    routed: dict[str, str] = field(default_factory=dict)  # destination -> how it leaves
    stuck: list[dict[str, Any]] = field(default_factory=list)  # no path: destination, why
    stuck_destinations: dict[str, Destination] = field(default_factory=dict)  # tag -> what it stands for
    unknown: list[dict[str, str]] = field(default_factory=list)  # destination, reason


def _leaves(route: RouteEntry | None) -> bool:
    return route is not None and route.next_hop_type in _OUT


def _bgp_may_route(ctx: Context, case: SubnetCase, table: RouteTable | None) -> str | None:
    """Why on-premises may advertise a default route ARM does not show (which would be a way
    out through the gateway), or None."""
    if table is not None and table.disable_bgp_route_propagation:
        return None
    if connectivity.has_gateway(ctx.index, case.vnet):
        return "BGP route propagation is on and the VNet has a gateway: on-premises may route it out"
    gaps = hybrid_gaps(ctx, [case.vnet], connectivity.GATEWAY_PRESENCE)
    if gaps:
        unread = ", ".join(map(gap_label, gaps))
        return f"BGP route propagation is on and whether the VNet has a gateway is unknown ({unread})"
    return None


def _carried(
    routes: SubnetRoutes, dest: Destination, endpoint_tags: set[str | None], bgp: str | None
) -> bool:
    """Whether anything could carry a destination whose prefixes are unknown: BGP, a route to an
    appliance or gateway (resolved or not), or a service endpoint for its service."""
    hops = (APPLIANCE, GATEWAY)
    return bool(
        bgp
        or dest.service in endpoint_tags
        or any(r.next_hop_type in hops for r in routes.public_routes())
        or any(u.next_hop_type in hops for u in routes.unresolved)
    )


def _system_default(route: RouteEntry | None) -> bool:
    """Routed by nothing but Azure's default route, which a BGP route would override."""
    return route is None or (route.source == DEFAULT and route.next_hop_type == INTERNET)


def _ipv4_first(pieces: list[Segment]) -> list[Segment]:
    """The IPv4 part of a destination when it has one: a VM without an IPv6 address never uses
    the rest, and a dual-stack one falls back to IPv4 (the tags list both)."""
    v4 = [p for p in pieces if p[0] == 4]
    return v4 or pieces


def _paths(ctx: Context, case: SubnetCase) -> Paths:
    out = Paths()
    table, missing = route_table(ctx, case.subnet)
    if missing:
        out.unknown.append({"destination": "*", "reason": missing})
        return out
    router = shared_router(ctx)
    routes = router.routes(case.vnet, case.subnet, table)
    bgp = _bgp_may_route(ctx, case, table)
    endpoint_tags = {SERVICE_ENDPOINT_TAGS.get(e.strip().lower()) for e in case.subnet.service_endpoints}
    for dest in subnet_destinations(ctx, case):
        prefixes, tag, reason = resolve(router.tags, dest)
        if prefixes is None:
            if _carried(routes, dest, endpoint_tags, bgp):
                out.unknown.append({"destination": tag, "reason": reason or ""})
            else:  # nothing in the subnet's routing leads anywhere but the dead Internet route
                out.stuck.append({"destination": tag, "next_hop_types": [INTERNET]})
                out.stuck_destinations[tag] = dest
            continue
        pieces = _ipv4_first(routes.segments(prefixes))
        blocked = [p for p in pieces if not _leaves(p[3])]
        if not blocked:
            out.routed[tag] = "/".join(sorted({route.next_hop_type for *_, route in pieces if route}))
        elif bgp and all(_system_default(route) for *_, route in blocked):
            out.unknown.append({"destination": tag, "reason": bgp})
        else:
            hops = sorted({route.next_hop_type if route else "none" for *_, route in blocked})
            partial = len(blocked) < len(pieces)
            out.stuck.append({"destination": tag, "next_hop_types": hops, "partial": partial})
            out.stuck_destinations[tag] = dest
    return out


# --- private endpoints, per VM and destination without a route -----------------------------------------


def _endpoints(ctx: Context) -> dict[str, PrivateEndpoint]:
    return ctx.shared(
        "private_endpoints_by_id", lambda: {ids.key(pe.id): pe for pe in ctx.inventory.private_endpoints}
    )


def _near(vnet: VirtualNetwork) -> set[str]:
    """The VNet and those it has a Connected peering with: where an endpoint serves its VMs (the
    page's hub and spoke). Anywhere else a gateway or a transit route may or may not reach it."""
    peers = {ids.key(p.remote_virtual_network_id) for p in vnet.peerings if connectivity.connected(p)}
    return {ids.key(vnet.id)} | peers


def _account_endpoint(ctx: Context, vnet: VirtualNetwork, account_id: str) -> tuple[str, str]:
    """Whether a blob private endpoint of the cache account serves the VNet."""
    account = find_storage(ctx, account_id)
    if account is None:
        return UNDECIDED, connectivity.unread_reason(ctx.index, account_id, "cache storage account")
    named = f"cache storage account '{account.name}'"
    if not account.private_endpoints:
        return NONE, f"{named} has no approved private endpoint"
    doubts = []
    for pe_id in account.private_endpoints:
        pe = _endpoints(ctx).get(ids.key(pe_id))
        if pe is None:
            doubts.append(connectivity.unread_reason(ctx.index, pe_id, f"private endpoint of {named}"))
            continue
        if not any(
            ids.key(c.private_link_service_id or "") == ids.key(account.id)
            and BLOB in {g.lower() for g in c.group_ids}
            for c in pe.connections
        ):
            continue  # a file, queue or table endpoint carries no replication traffic
        where = ids.parent_of(pe.subnet_id) if pe.subnet_id else None
        if where and ids.key(where) in _near(vnet):
            return CARRIED, f"blob private endpoint '{pe.name}' of {named} in VNet '{ids.name_of(where)}'"
        doubts.append(
            f"blob private endpoint '{pe.name}' of {named} is in VNet '{ids.name_of(where or '?')}', "
            "neither this one nor a peer: a gateway or a transit route may reach it"
        )
    if doubts:
        return UNDECIDED, "; ".join(doubts)
    return NONE, f"{named} has no approved blob private endpoint"


def _cache_endpoints(ctx: Context, vnet: VirtualNetwork, item: ProtectedItem) -> tuple[str, str]:
    """Every cache account the item stages through must be reached: one without is enough to stop it."""
    accounts = {ids.key(c): c for d in item.protected_disks if (c := d.cache_storage_account_id)}
    if not accounts:
        return UNDECIDED, "the protected item names no cache storage account"
    verdicts = [_account_endpoint(ctx, vnet, a) for a in accounts.values()]
    for wanted in (NONE, UNDECIDED):
        picked = [why for verdict, why in verdicts if verdict == wanted]
        if picked:
            return wanted, "; ".join(picked)
    return CARRIED, "; ".join(why for _, why in verdicts)


def _endpoint_verdict(ctx: Context, vnet: VirtualNetwork, w: Workload, dest: Destination) -> tuple[str, str]:
    """(carried | none | unknown, why) for a destination the VM has no route to."""
    if dest.service == ENTRA_ID:
        return NONE, "Microsoft Entra ID does not support private endpoints"
    if w.item is None:
        return (
            UNDECIDED,
            "a candidate has no vault or cache account yet: private endpoints for them could carry it",
        )
    if dest.service == STORAGE:
        return _cache_endpoints(ctx, vnet, w.item)
    vault = ctx.index.vaults.get(ids.key(w.item.vault_id))
    if vault is None:
        return UNDECIDED, connectivity.unread_reason(ctx.index, w.item.vault_id, "vault")
    if (vault.private_endpoint_state_for_site_recovery or "").lower() == "enabled":
        # Only Event Hubs gets here: the vault's endpoint takes the Site Recovery calls themselves.
        return UNDECIDED, (
            f"vault '{vault.name}' has a private endpoint for Site Recovery; Microsoft's page does not "
            "say whether it also carries the monitoring data sent to Event Hubs"
        )
    return NONE, f"vault '{vault.name}' has no private endpoint for Site Recovery"


def _endpoint_verdicts(
    ctx: Context, case: SubnetCase, stranded: list[Placement], paths: Paths
) -> list[dict[str, str]]:
    """Each VM without a way of its own, against each destination of its own without a route."""
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for p in stranded:
        if ids.key(p.workload.vm.id) in seen:
            continue
        seen.add(ids.key(p.workload.vm.id))
        own = set(workload_destinations(ctx, p.workload))
        for tag, dest in paths.stuck_destinations.items():
            if dest in own:
                verdict, why = _endpoint_verdict(ctx, case.vnet, p.workload, dest)
                out.append({"vm": p.workload.vm.name, "destination": tag, "verdict": verdict, "reason": why})
    return out


# --- the rule ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Stranded:
    """A subnet's NICs without a way out of their own: those known to have none, those whose load
    balancer or public IP was not read, and the Basic public IPs that do not count."""

    none: list[Placement] = field(default_factory=list)
    unread: list[dict[str, str]] = field(default_factory=list)  # vm, nic, reason
    retired: list[dict[str, str]] = field(default_factory=list)  # vm, nic, public_ip, name (Basic SKU)

    def refs(self) -> list[dict[str, str]]:
        seen = {ids.key(p.workload.vm.id): p.workload for p in self.none}
        return [audited.workload_ref(w) for w in seen.values()]


def _stranded(ctx: Context, case: SubnetCase) -> Stranded:
    out = Stranded()
    for p in case.placements:
        nic = nic_way_out(ctx, case, p)
        if nic.way:
            continue
        vm = p.workload.vm.name
        pips = ctx.index.public_ip_addresses
        out.retired += [
            {"vm": vm, "nic": p.nic.id, "public_ip": pip, "name": pips[ids.key(pip)].name}
            for pip in nic.retired
        ]
        if nic.unread:
            out.unread.append({"vm": vm, "nic": p.nic.id, "reason": nic.unread})
        else:
            out.none.append(p)
    return out


def _retired(stranded: Stranded) -> str:
    """` (public IP 'x' of VM 'y' is Basic SKU, retired on 2025-09-30, so it is no way out)`, or ''."""
    named = ", ".join(f"'{r['name']}' of VM '{r['vm']}'" for r in stranded.retired)
    return f" (Basic SKU public IP {named}: retired on 2025-09-30, so not counted)" if named else ""


def _upgrade(stranded: Stranded) -> str:
    """The upgrade of each Basic public IP (a way out for its VM alone), ahead of the subnet's fix."""
    steps = []
    for r in {r["public_ip"]: r for r in stranded.retired}.values():
        rg, name = ids.resource_group_of(r["public_ip"]) or "<rg>", r["name"]
        steps.append(
            f"Upgrade VM '{r['vm']}'s Basic public IP '{name}' to Standard SKU (make it Static and "
            f"dissociate it, az network public-ip update -g {rg} -n {name} --sku Standard, associate it "
            "again). "
        )
    return "".join(steps) + ("For the whole subnet: " if steps else "")


def _listed(entries: list[dict[str, Any]]) -> str:
    return ", ".join(f"{e['destination']} ({'/'.join(e['next_hop_types'])})" for e in entries)


def _carriers(verdicts: list[dict[str, str]]) -> str:
    """`Storage.EastUS (why; why)`: per destination, each reason once; which VM is in the evidence."""
    reasons: dict[str, dict[str, None]] = {}
    for v in verdicts:
        reasons.setdefault(v["destination"], {})[v["reason"]] = None
    return ", ".join(f"{dest} ({'; '.join(why)})" for dest, why in reasons.items())


def _doubts(paths: Paths, stranded: Stranded, open_: list[dict[str, str]], nat: str | None) -> str:
    reasons = [nat] if nat else []
    reasons += [f"{u['destination']}: {u['reason']}" for u in paths.unknown]
    reasons += [f"VM '{u['vm']}': {u['reason']}" for u in stranded.unread]
    if open_:
        reasons.append(f"no route, and whether a private endpoint carries it is unknown: {_carriers(open_)}")
    return "; ".join(reasons)


def _fix(case: SubnetCase, nat_id: str | None) -> str:
    rg = ids.resource_group_of(case.vnet.id) or "<rg>"
    if nat_id:  # the subnet's own NAT gateway only lacks a public IP
        nat_rg, name = ids.resource_group_of(nat_id) or "<rg>", ids.name_of(nat_id)
        return (
            f"Give NAT gateway '{name}' a Standard public IP address or prefix (az network nat gateway "
            f"update -g {nat_rg} -n {name} --public-ip-addresses <public-ip>), or route 0.0.0.0/0 to a "
            "firewall that allows the Site Recovery destinations."
        )
    return (
        f"Attach a NAT gateway to subnet '{case.label()}' (az network nat gateway create -g {rg} -n "
        f"nat-{case.vnet.name} --public-ip-addresses <public-ip>; az network vnet subnet update -g {rg} "
        f"--vnet-name {case.vnet.name} -n {case.subnet.name} --nat-gateway nat-{case.vnet.name}), or route "
        "0.0.0.0/0 to a firewall that allows the Site Recovery destinations."
    )


@rule(OUTBOUND_PATH)
def check_outbound_path(ctx: Context) -> Iterator[Finding]:
    for case in subnet_cases(ctx):
        if case.subnet.default_outbound_access is not False:
            continue  # implicit outbound access: the path is NET-FORCED-TUNNEL's and the NSGs' to judge
        ctx.examined(OUTBOUND_PATH, case.subnet.id, SUBNET_TYPE, case.label(), case.vnet.location)
        nat_id = case.subnet.nat_gateway_id
        nat, nat_why = nat_gateway(ctx, nat_id) if nat_id else (NONE, "")
        if nat == CARRIED:
            continue
        stranded = _stranded(ctx, case)
        if not (stranded.none or stranded.unread):
            continue
        paths = _paths(ctx, case)
        if not (paths.stuck or paths.unknown):
            continue
        where = f"private subnet '{case.label()}'"
        carriers = _endpoint_verdicts(ctx, case, stranded.none, paths)
        blocked = [c for c in carriers if c["verdict"] == NONE]
        open_ = [c for c in carriers if c["verdict"] == UNDECIDED]
        if not (blocked or open_ or paths.unknown or stranded.unread):
            continue  # private endpoints carry everything the routes do not: the NAT gateway is moot
        evidence: dict[str, Any] = {
            "subnet": case.subnet.id,
            "default_outbound_access": False,
            "nat_gateway": {"id": nat_id, "verdict": nat, "reason": nat_why} if nat_id else None,
            "route_table": case.subnet.route_table_id,
            "workloads_without_a_way_out": stranded.refs(),
            "ways_out_unread": stranded.unread,  # load balancers and public IPs not read
            "retired_public_ips": stranded.retired,
            "no_path": paths.stuck,
            "routed": paths.routed,
            "unknown": paths.unknown,
            "private_endpoints": carriers,
        }
        common: dict[str, Any] = {
            "resource_id": case.subnet.id,
            "resource_type": SUBNET_TYPE,
            "region": case.vnet.location,
            "evidence": evidence,
        }
        if blocked and nat == NONE:
            has = f"has {nat_why}" if nat_why else "has no NAT gateway"
            yield OUTBOUND_PATH.finding(
                **common,
                message=f"The {where} ({case.who()}) {has}, and its VMs no Standard public IP"
                f"{_retired(stranded)} or load balancer outbound rule; its routes leave no way to "
                f"{_listed(paths.stuck)}, and no private endpoint can carry {_carriers(blocked)}: "
                "replication cannot run.",
                remediation=_upgrade(stranded) + _fix(case, nat_id),
            )
            continue
        yield OUTBOUND_PATH.finding(
            **common,
            status=FindingStatus.UNKNOWN,
            message=f"Cannot tell whether the {where} ({case.who()}) lets replication out: "
            f"{_doubts(paths, stranded, open_, nat_why if nat == UNDECIDED else None)}.",
            remediation=_upgrade(stranded) + _fix(case, nat_id),
        )
