"""NET-FIREWALL-FQDN: replication traffic routed to an Azure Firewall that does not let it out.

For every subnet that holds a protected or candidate VM, each destination replication needs
(DESIGN.md section 5) is split by the subnet's effective routes, as NET-FORCED-TUNNEL does; the
part whose next hop is a VirtualAppliance at an Azure Firewall's private IP is judged against
that firewall's rules by `asr_audit.net.firewall`, which processes them as Azure Firewall does
(network rules before application rules, base policies first, first match wins, the rest denied).

The flow judged is TCP 443 from the subnet's prefixes to the destination's service-tag prefixes,
reached by the cloud's FQDN (`*.hypervrecoverymanager.windowsazure.com`, ...); for Storage, the
cache accounts' blob endpoints when every VM's caches are known, since Microsoft allows naming
them instead of `*.blob...`. A destination is allowed only when all of it is; where the inventory
cannot tell (the policy was not read, an IP group, a service tag that was not collected) the
finding says `unknown`, never pass. The conditional destinations (AzureKeyVault for ADE VMs) are
judged only for subnets holding a workload that needs them, and only where the cloud's page names
their FQDN. FQDN tags, web categories and target URLs are not counted as
allowing (no Microsoft document says a tag covers the Site Recovery endpoints); a Deny that may
hit the flow without covering its name is listed in the evidence (`uncounted_denies`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from asr_audit import ids
from asr_audit.findings import Finding, FindingStatus, RuleMeta, Severity
from asr_audit.inventory import AzureFirewall, RouteTable
from asr_audit.net.firewall import Flow, Step, Undecidable, Walk, processing_order, walk
from asr_audit.net.ports import HTTPS_PORT
from asr_audit.net.prefixes import PrefixSet
from asr_audit.net.routes import APPLIANCE, RouteEntry, Segment, SubnetRoutes, shared_router
from asr_audit.net.service_tags import ServiceTagIndex, shared_index
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common import audited
from asr_audit.rules.common.audited import SubnetCase, subnet_cases
from asr_audit.rules.common.destinations import (
    Conditional,
    Destination,
    resolve,
    subnet_conditional,
    subnet_destinations,
)
from asr_audit.rules.common.naming import SUBNET_TYPE
from asr_audit.rules.common.references import canonical_ip, firewalls_by_ip, route_table

FIREWALL_FQDN = RuleMeta(
    id="NET-FIREWALL-FQDN",
    title="Azure Firewall on the replication path does not allow the Site Recovery endpoints",
    severity=Severity.HIGH,
    category="network",
    needs=(
        *audited.PLACEMENT_INPUTS,
        "route_tables",
        "service_tags",
        "azure_firewalls",
        "firewall_policies",
        "rule_collection_groups",
        "protection_container_mappings",  # agent auto-update: GuestAndHybridManagement's condition
    ),
    rationale=(
        "A replicating VM writes to its cache storage account and talks to Site Recovery, Microsoft Entra "
        "ID and Service Bus over HTTPS. When the subnet's routes send that traffic to an Azure Firewall, "
        "the firewall denies whatever no rule allows: unless its network or application rules allow the "
        "required FQDNs (or their service tags) on TCP 443, enabling replication fails and protected VMs "
        "stop replicating."
    ),
    remediation=(
        "Allow the Site Recovery endpoints from the subnet in the firewall policy, in a collection that is "
        "processed before any Deny matching them: az network firewall policy rule-collection-group "
        "collection add-filter-collection -g <rg> --policy-name <policy> --rule-collection-group-name "
        "<group> -n asr-replication --collection-priority <priority> --action Allow --rule-type "
        "ApplicationRule --rule-name asr-endpoints --source-addresses <subnet prefix> --protocols Https=443 "
        "--target-fqdns '*.blob.core.windows.net' login.microsoftonline.com "
        "'*.hypervrecoverymanager.windowsazure.com' '*.servicebus.windows.net' (classic rules: az network "
        "firewall application-rule create). Alternatively route these destinations around the firewall "
        "(service-tag routes to Internet, a Storage service endpoint)."
    ),
    microsoft_docs="https://learn.microsoft.com/en-us/azure/site-recovery/azure-to-azure-about-networking",
    source=(
        "About networking in Azure VM disaster recovery (learn.microsoft.com, 2020-03-13 revision), "
        "Outbound connectivity for URLs (*.vault.azure.net for ADE VMs and *.automation.ext.azure.com for "
        "agent auto-update unchanged in the 2025-10-30 revision); "
        "Azure Firewall rule processing logic (learn.microsoft.com); "
        "Azure Firewall FAQ (2022-09-12 revision), wildcards in target FQDNs; About networking in Azure "
        "to Azure replication (2018 seed), Outbound connectivity for URLs"
    ),
    seed_value=(
        "the 2018 seed (Azure China edition) lists *.blob.core.chinacloudapi.cn, login.chinacloudapi.cn, "
        "*.hypervrecoverymanager.windowsazure.cn and *.servicebus.chinacloudapi.cn; today's page lists the "
        "same four per cloud and allows naming the cache storage accounts instead of *.blob"
    ),
    references=(
        "https://learn.microsoft.com/en-us/azure/firewall/rule-processing",
        "https://learn.microsoft.com/en-us/azure/firewall/policy-rule-sets",
        "https://learn.microsoft.com/en-us/azure/firewall/firewall-faq",
    ),
)

# --- one subnet -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Judged:
    """One destination through one firewall."""

    destination: str
    fqdns: list[str]
    routes: list[dict[str, str]]
    walks: dict[str, Walk] = field(default_factory=dict)  # by FQDN

    @property
    def blocked(self) -> bool:
        return any(w.blocked for w in self.walks.values())

    @property
    def unknown(self) -> str | None:
        return next((w.unknown for w in self.walks.values() if w.unknown), None)

    def to_json(self) -> dict[str, Any]:
        status = "blocked" if self.blocked else ("unknown" if self.unknown else "allowed")
        data: dict[str, Any] = {
            "destination": self.destination,
            "fqdns": self.fqdns,
            "status": status,
            "routes": self.routes,
        }
        blocked = [n for n, w in self.walks.items() if w.blocked]
        if blocked and blocked != self.fqdns:
            data["blocked_fqdns"] = blocked
        for key in ("denied", "allowed_by", "uncounted_denies"):
            merged: list[dict[str, Any]] = []
            for w in self.walks.values():
                merged += [x for x in getattr(w, key) if x not in merged]
            if merged:
                data[key] = merged
        for key, attr in (("no_rule_allows", "unmatched"), ("no_rule_allows_to", "unmatched_destinations")):
            found = sorted({p for w in self.walks.values() if not w.denied for p in getattr(w, attr)})
            if found:
                data[key] = found
        if self.unknown:
            data["unknown"] = self.unknown
        return data


@dataclass(slots=True)
class FirewallCase:
    firewall: AzureFirewall
    ip: str
    steps: list[Step] | None = None
    policies: list[str] = field(default_factory=list)
    judged: list[Judged] = field(default_factory=list)
    unknown: list[dict[str, str]] = field(default_factory=list)  # destinations not evaluated, and why


def _firewall_of(route: RouteEntry | None, firewalls: dict[str, AzureFirewall]) -> str | None:
    if route is None or route.next_hop_type != APPLIANCE:
        return None
    ip = canonical_ip(route.next_hop_ip)
    return ip if ip in firewalls else None


def _subnet_sources(case: SubnetCase) -> PrefixSet:
    """The subnet's prefixes; the workload NICs' addresses if ARM gave the subnet none."""
    prefixes = PrefixSet(case.subnet.address_prefixes)
    if prefixes:
        return prefixes
    return PrefixSet(
        ipc.private_ip_address
        for p in case.placements
        for ipc in p.nic.ip_configurations
        if ipc.private_ip_address and ids.key(ipc.subnet_id) == ids.key(case.subnet.id)
    )


def _names(ctx: Context, case: SubnetCase, dest: Destination) -> list[str]:
    """The FQDNs a destination is reached by. Storage: the cache accounts' blob endpoints when
    every VM in the subnet is protected with known caches (Microsoft allows naming them instead of
    `*.blob...`), else the wildcard."""
    fqdn = ctx.cloud.endpoints.fqdn(dest.service)
    if fqdn is None:
        return []  # a conditional destination this cloud's page names no FQDN for
    if dest.service != "Storage" or not fqdn.startswith("*."):
        return [fqdn]
    caches: set[str] = set()
    for p in case.placements:
        disks = p.workload.item.protected_disks if p.workload.item else []
        accounts = [d.cache_storage_account_id for d in disks]
        if not accounts or not all(accounts):
            return [fqdn]
        caches |= {f"{ids.name_of(a).lower()}{fqdn[1:]}" for a in accounts if a}
    return sorted(caches) or [fqdn]


def _case_for(
    ctx: Context, cases: dict[str, FirewallCase], ip: str, firewalls: dict[str, AzureFirewall]
) -> FirewallCase:
    """The firewall's case (one per firewall, whichever of its addresses the route names)."""
    key = ids.key(firewalls[ip].id)
    found = cases.get(key)
    if found is None:
        found = cases[key] = FirewallCase(firewalls[ip], ip)
        order = _orders(ctx).get(key)
        if order is None:
            try:
                order = processing_order(ctx.index, found.firewall)
            except Undecidable as exc:
                order = str(exc)
            _orders(ctx)[key] = order
        if isinstance(order, str):
            found.unknown.append({"destination": "*", "reason": order})
        else:
            found.steps, found.policies = order
    return found


def _orders(ctx: Context) -> dict[str, tuple[list[Step], list[str]] | str]:
    """Each firewall's processing order (or why it cannot be known), built once per analysis."""
    cached: dict[str, tuple[list[Step], list[str]] | str] = ctx.shared("firewall_orders", dict)
    return cached


def evaluate_subnet(
    ctx: Context,
    case: SubnetCase,
    table: RouteTable | None,
    routes: SubnetRoutes,
    tags: ServiceTagIndex,
    firewalls: dict[str, AzureFirewall],
    extra: Conditional,
) -> list[FirewallCase]:
    """Each firewall the subnet routes replication destinations to, with its verdicts; `extra`
    holds the conditional destinations its workloads need."""
    cases: dict[str, FirewallCase] = {}
    sources = _subnet_sources(case)
    public_hops: set[str] | None = None  # needed only for a destination that cannot be resolved
    hops: dict[int, str | None] = {}  # route -> firewall ip: a tag splits into many pieces, few routes
    for dest in [*subnet_destinations(ctx, case), *extra.destinations]:
        prefixes, tag, reason = resolve(tags, dest)
        if prefixes is None:
            if public_hops is None:
                public_hops = {ip for r in routes.public_routes() if (ip := _firewall_of(r, firewalls))}
            for ip in sorted(public_hops):
                _case_for(ctx, cases, ip, firewalls).unknown.append(
                    {"destination": tag, "reason": reason or ""}
                )
            continue
        parts: dict[str, list[Segment]] = {}
        for piece in routes.segments(prefixes):
            route = piece[3]
            key = id(route)  # the route set holds its routes: ids stay unique meanwhile
            ip = hops[key] if key in hops else hops.setdefault(key, _firewall_of(route, firewalls))
            if ip:
                parts.setdefault(ip, []).append(piece)
        for ip, pieces in parts.items():
            fw_case = _case_for(ctx, cases, ip, firewalls)
            if fw_case.steps is None:
                continue
            names = _names(ctx, case, dest)
            if not names:
                reason = f"no FQDN for {tag} is documented for {ctx.cloud.name}"
                fw_case.unknown.append({"destination": tag, "reason": reason})
                continue
            used = {id(route): route for *_, route in pieces if route}
            judged = Judged(tag, names, [r.to_json() for r in used.values()])
            routed = PrefixSet.of_spans((v, first, last) for v, first, last, _ in pieces)
            for name in judged.fqdns:
                judged.walks[name] = walk(fw_case.steps, Flow(sources, routed, tag, name), tags)
            fw_case.judged.append(judged)
    udrs = {r.name: r for r in table.routes} if table else {}
    for u in routes.unresolved:  # a tag route to a firewall whose tag could not be expanded
        udr = udrs.get(u.name)
        ip = canonical_ip(udr.next_hop_ip_address) if udr and u.next_hop_type == APPLIANCE else None
        if ip in firewalls:
            reason = f"route '{u.name}' sends service tag {u.address_prefix}, which was not collected, here"
            _case_for(ctx, cases, ip, firewalls).unknown.append(
                {"destination": u.address_prefix, "reason": reason}
            )
    return [cases[k] for k in sorted(cases)]


# --- messages -------------------------------------------------------------------------------------


def _what(fw_case: FirewallCase) -> str:
    fw = fw_case.firewall
    if fw.firewall_policy_id:
        return f"Azure Firewall '{fw.name}' ({fw_case.ip}, policy '{ids.name_of(fw.firewall_policy_id)}')"
    return f"Azure Firewall '{fw.name}' ({fw_case.ip}, classic rules)"


def _blocked_fqdns(j: Judged) -> list[str]:
    return [n for n, w in j.walks.items() if w.blocked] or j.fqdns


def _why_blocked(j: Judged) -> str:
    data = j.to_json()
    if data.get("denied"):
        first = data["denied"][0]
        step = (
            f"{first['action']} rule '{first['rule']}' (collection '{first['collection']}', "
            f"priority {first['priority']}, {first['in']})"
        )
        part = " for part of the subnet or tag" if any(d["partial"] for d in data["denied"]) else ""
        return f"denied{part} by {step}"
    return f"no rule allows TCP {HTTPS_PORT}, so the firewall denies it by default"


def _grouped(pairs: Iterable[tuple[str, str]]) -> str:
    """`reason: a, b; other reason: c` from (reason, item) pairs, first-seen order kept."""
    by_reason: dict[str, list[str]] = {}
    for reason, item in pairs:
        by_reason.setdefault(reason, []).append(item)
    return "; ".join(f"{', '.join(items)}: {reason}" for reason, items in by_reason.items())


def _gaps(fw_case: FirewallCase) -> str:
    pairs = [(u["reason"], u["destination"]) for u in fw_case.unknown]
    pairs += [(j.unknown, j.destination) for j in fw_case.judged if not j.blocked and j.unknown]
    return _grouped(pairs)


def _fix(case: SubnetCase, fw_case: FirewallCase, blocked: list[Judged]) -> str:
    fw = fw_case.firewall
    sources = " ".join(case.subnet.address_prefixes) or "<subnet prefix>"
    fqdns = " ".join(f"'{n}'" if n.startswith("*") else n for j in blocked for n in _blocked_fqdns(j))
    denies = sorted({d["in"] for j in blocked for d in j.to_json().get("denied", [])})
    if fw.firewall_policy_id:
        policy = fw.firewall_policy_id
        command = (
            f"az network firewall policy rule-collection-group collection add-filter-collection "
            f"-g {ids.resource_group_of(policy) or '<rg>'} --policy-name {ids.name_of(policy)} "
            f"--rule-collection-group-name <group> -n asr-replication --collection-priority <priority> "
            f"--action Allow --rule-type ApplicationRule --rule-name asr-endpoints "
            f"--source-addresses {sources} --protocols Https=443 --target-fqdns {fqdns}"
        )
    else:
        command = (
            f"az network firewall application-rule create -g {ids.resource_group_of(fw.id) or '<rg>'} "
            f"-f {fw.name} --collection-name asr-replication --priority <priority> --action Allow "
            f"-n asr-endpoints --source-addresses {sources} --protocols Https=443 --target-fqdns {fqdns}"
        )
    order = (
        f" The Deny rules that match now ({'; '.join(denies)}) come first: narrow them, or place the allow "
        "where it is processed before them (a base policy's rules precede the policy's own)."
        if denies
        else ""
    )
    return f"Allow the replication endpoints from the subnet: {command}.{order}"


def _finding(case: SubnetCase, fw_case: FirewallCase, extra: Conditional) -> Finding | None:
    blocked = [j for j in fw_case.judged if j.blocked]
    gaps = _gaps(fw_case)
    if not blocked and not gaps:
        return None
    where = f"subnet '{case.vnet.name}/{case.subnet.name}' ({case.who()})"
    evidence = {
        "subnet": case.subnet.id,
        "source_prefixes": case.subnet.address_prefixes,
        "firewall": fw_case.firewall.id,
        "firewall_ip": fw_case.ip,
        "policies": fw_case.policies,
        "workloads": case.workload_refs(),
        "destinations": [j.to_json() for j in fw_case.judged],
        "unknown": fw_case.unknown,
        "not_checked": extra.evidence(),
    }
    common: dict[str, Any] = {
        "resource_id": case.subnet.id,
        "resource_type": SUBNET_TYPE,
        "region": case.vnet.location,
        "key": ids.key(fw_case.firewall.id),
        "evidence": evidence,
    }
    what = _what(fw_case)
    if blocked:
        listed = _grouped(
            (_why_blocked(j), f"{j.destination} ({', '.join(_blocked_fqdns(j))})") for j in blocked
        )
        more = f" Not decidable: {gaps}." if gaps else ""
        return FIREWALL_FQDN.finding(
            **common,
            message=(
                f"The {where} sends replication traffic through {what}, which does not let it out: "
                f"{listed}. Replication cannot work until the firewall allows these endpoints.{more}"
            ),
            remediation=_fix(case, fw_case, blocked),
        )
    return FIREWALL_FQDN.finding(
        **common,
        status=FindingStatus.UNKNOWN,
        message=(f"Cannot tell whether {what} lets replication traffic from the {where} out: {gaps}."),
        remediation=(
            "Check the firewall's rules for the replication endpoints on TCP 443 (portal: firewall policy > "
            "Application rules / Network rules; az network firewall policy rule-collection-group list) and "
            "grant the scan read access to the policy; if a rule blocks them, allow them as "
            f"`asr-audit explain {FIREWALL_FQDN.id}` shows."
        ),
    )


@rule(FIREWALL_FQDN)
def check_firewall_fqdn(ctx: Context) -> Iterator[Finding]:
    inventory = ctx.inventory
    firewalls = firewalls_by_ip(inventory)
    if not firewalls:
        return
    tags = shared_index(ctx)
    router = shared_router(ctx)
    for case in subnet_cases(ctx):
        table, missing = route_table(ctx, case.subnet)
        if missing:
            continue  # whether anything reaches a firewall is unknown: NET-FORCED-TUNNEL says so
        routes = router.routes(case.vnet, case.subnet, table)
        extra = subnet_conditional(ctx, case)
        for fw_case in evaluate_subnet(ctx, case, table, routes, tags, firewalls, extra):
            ctx.examined(FIREWALL_FQDN, case.subnet.id, SUBNET_TYPE, case.label(), case.vnet.location)
            found = _finding(case, fw_case, extra)
            if found:
                yield found
