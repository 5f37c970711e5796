"""NET-FIREWALL-FQDN: replication traffic routed to an Azure Firewall that does not let it out.

For every subnet that holds a protected or candidate VM, each destination replication needs
(DESIGN.md section 5) is split by the subnet's effective routes, as NET-FORCED-TUNNEL does; the
part whose next hop is a VirtualAppliance at an Azure Firewall's private IP is judged here
against that firewall's rules, as Azure Firewall processes them (rule-processing docs):

- network rules before application rules, whatever their priorities;
- with a firewall policy: the base policy's rules before the policy's own (recursively), rule
  collection groups by priority, collections by priority; classic rules: collections by
  priority; Allow and Deny compete only through that order, the first matching rule wins, and
  whatever no rule matches is denied;
- the flow is TCP 443 from the subnet's prefixes to the destination's service-tag prefixes,
  reached by the cloud's FQDN (`*.hypervrecoverymanager.windowsazure.com`, ...). A network rule
  matches by protocol, port, source and destination (CIDR, range, `*`, a service tag, an FQDN);
  an application rule by `Https:443`, source, and a target FQDN that covers the required name
  (a leading `*` matches anything to its left, so `*.core.windows.net` covers
  `*.blob.core.windows.net`; Azure Firewall FAQ).

Rules are applied as set algebra over (source, destination) address pairs, so a rule that
covers part of the subnet or part of a tag splits the flow and the rest goes on to later
rules: a destination is allowed only when all of it is. Where the answer is not in the
inventory (the policy or its rule collection groups were not read, an IP group, a service tag
that was not collected) the finding says `unknown`, never pass. Deliberately not counted as
allowing: FQDN tags (no Microsoft document says a tag covers the Site Recovery endpoints), web
categories and target URLs; an application Deny that names only those, or a name narrower than
the requirement (one storage account under `*.blob...`), is not taken as blocking it either and
is listed in the evidence (`uncounted_denies`) instead.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from asr_audit import ids
from asr_audit.findings import Finding, Severity
from asr_audit.inventory import (
    APPLICATION_RULE,
    NETWORK_RULE,
    AzureFirewall,
    FirewallPolicy,
    FirewallRule,
    FirewallRuleCollection,
    InventoryIndex,
    RouteTable,
)
from asr_audit.net import connectivity, netmath
from asr_audit.net.netmath import APPLIANCE, PrefixSet, RouteSet, ServiceTagIndex
from asr_audit.rules import scope
from asr_audit.rules.base import Context, RuleMeta, rule
from asr_audit.rules.common import SUBNET_TYPE, canonical_ip, firewalls_by_ip, route_table
from asr_audit.rules.routing import Destination, SubnetCase, resolve, subnet_cases, subnet_destinations

PORT = 443
EXAMPLES = 5

FIREWALL_FQDN = RuleMeta(
    id="NET-FIREWALL-FQDN",
    title="Azure Firewall on the replication path does not allow the Site Recovery endpoints",
    severity=Severity.HIGH,
    category="network",
    needs=(
        *scope.PLACEMENT_INPUTS,
        "route_tables",
        "service_tags",
        "azure_firewalls",
        "firewall_policies",
        "rule_collection_groups",
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
    docs="https://learn.microsoft.com/en-us/azure/site-recovery/azure-to-azure-about-networking",
    source=(
        "About networking in Azure VM disaster recovery (learn.microsoft.com, 2020-03-13 revision), "
        "Outbound connectivity for URLs; Azure Firewall rule processing logic (learn.microsoft.com); "
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

ANY = PrefixSet(["0.0.0.0/0", "::/0"])
_FAMILIES = (PrefixSet(["0.0.0.0/0"]), PrefixSet(["::/0"]))
_WILDCARDS = {"*", "any"}
_TCP = {"tcp", "any"}


class Undecidable(Exception):
    """What a rule matches is not in the inventory; the message says why."""


# --- FQDNs --------------------------------------------------------------------------------------


def _norm(name: str) -> str:
    return name.strip().lower().rstrip(".")


def fqdn_matches(pattern: str, name: str) -> bool:
    """Azure Firewall's target FQDN match: exact, or a leading `*` standing for anything."""
    p, n = _norm(pattern), _norm(name)
    return n == p or (p.startswith("*") and n.endswith(p[1:]))


def fqdn_covers(pattern: str, required: str) -> bool:
    """Every name the requirement stands for (`*.blob.core.windows.net`: any blob endpoint)
    matches the rule's pattern."""
    r = _norm(required)
    if not r.startswith("*"):
        return fqdn_matches(pattern, r)
    p = _norm(pattern)
    return p.startswith("*") and r[1:].endswith(p[1:])


def fqdn_overlaps(pattern: str, required: str) -> bool:
    """Some name matches both: `cache1.blob.core.windows.net` overlaps `*.blob.core.windows.net`."""
    if fqdn_covers(pattern, required):
        return True
    r, p = _norm(required), _norm(pattern).lstrip("*")
    return r.startswith("*") and p.endswith(r[1:])


# --- addresses ----------------------------------------------------------------------------------


def _range(token: str) -> PrefixSet | None:
    """`10.1.4.12-10.1.4.255`, as firewall rules allow."""
    first, dash, last = token.partition("-")
    if not dash:
        return None
    try:
        start, end = ipaddress.ip_address(first.strip()), ipaddress.ip_address(last.strip())
        return PrefixSet(ipaddress.summarize_address_range(start, end))  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return None


def _addresses(
    tokens: Iterable[str], tags: ServiceTagIndex | None = None, destination_tag: str | None = None
) -> tuple[PrefixSet, list[str]]:
    """(the addresses the tokens name, the tokens that could not be resolved). A service tag that
    covers the destination's own tag by name matches all of it, whatever the prefix lists say."""
    known = PrefixSet()
    unresolved: list[str] = []
    for token in tokens:
        text = token.strip()
        net = netmath.parse_prefix(text)
        spanned = _range(text) if net is None else None
        if text.lower() in _WILDCARDS or (
            destination_tag and ServiceTagIndex.name_covers(text, destination_tag)
        ):
            known = known | ANY
        elif net is not None:
            known = known | net
        elif spanned is not None:
            known = known | spanned
        elif tags is not None and (expanded := tags.expand(text)) is not None:
            known = known | expanded
        else:
            unresolved.append(text)
    return known, unresolved


def _settle(known: PrefixSet, unresolved: list[str], needed: PrefixSet, what: str) -> PrefixSet:
    """The known addresses when they decide the match (nothing unresolved, or they already hold
    all that is needed), else Undecidable."""
    if not unresolved or known.contains(needed):
        return known
    raise Undecidable(f"its {what} {', '.join(unresolved)} cannot be resolved from the inventory")


def _ip_groups(group_ids: list[str]) -> list[str]:
    return [f"IP group '{ids.name_of(g)}' (not collected)" for g in group_ids]


# --- one rule against the flow ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Flow:
    """TCP 443 from the subnet to one destination name, over the addresses routed to the firewall."""

    sources: PrefixSet
    prefixes: PrefixSet
    tag: str  # the destination's service tag, e.g. Storage.EastUS
    name: str  # the FQDN it is reached by


def _port_443(token: str) -> bool:
    text = token.strip()
    if text == "*":
        return True
    low, dash, high = text.partition("-")
    try:
        return int(low) <= PORT <= int(high if dash else low)
    except ValueError:
        return False


def _https_443(protocol: str) -> bool:
    kind, _, port = protocol.partition(":")
    return kind.strip().lower() == "https" and (not port or port.strip() == str(PORT))


def _sources(r: FirewallRule, needed: PrefixSet) -> PrefixSet:
    known, unresolved = _addresses(r.source_addresses)
    return _settle(known, unresolved + _ip_groups(r.source_ip_groups), needed, "source")


def _destinations(r: FirewallRule, flow: Flow, tags: ServiceTagIndex, needed: PrefixSet) -> PrefixSet | None:
    """The destination addresses the rule names (`needed`: what is still undecided); None when its
    protocol, port or name cannot match the flow at all."""
    if r.rule_type == NETWORK_RULE:
        if not any(p.strip().lower() in _TCP for p in r.protocols):
            return None
        if not any(_port_443(p) for p in r.destination_ports):
            return None
        if any(fqdn_covers(f, flow.name) for f in r.destination_fqdns):
            return ANY
        known, unresolved = _addresses(r.destination_addresses, tags, flow.tag)
        return _settle(known, unresolved + _ip_groups(r.destination_ip_groups), needed, "destination")
    if r.rule_type == APPLICATION_RULE:
        if not any(_https_443(p) for p in r.protocols):
            return None
        if not any(fqdn_covers(f, flow.name) for f in r.target_fqdns):
            return None
        if not r.destination_addresses:
            return ANY
        known, unresolved = _addresses(r.destination_addresses, tags, flow.tag)
        return _settle(known, unresolved, needed, "destination")
    return None


def _uncounted_deny(r: FirewallRule, action: str, flow: Flow) -> bool:
    """An application Deny on HTTPS that may hit part of the flow without covering its name: a
    narrower name, or FQDN tags, web categories or target URLs whose contents are not known."""
    if action.lower() != "deny" or r.rule_type != APPLICATION_RULE:
        return False
    if not any(_https_443(p) for p in r.protocols):
        return False
    narrower = any(fqdn_overlaps(f, flow.name) for f in r.target_fqdns)
    return narrower or bool(r.fqdn_tags or r.web_categories or r.target_urls)


# --- the processing order -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """One rule in the order the firewall processes it."""

    rule: FirewallRule
    collection: FirewallRuleCollection
    origin: str  # `policy 'x', group 'y'` or `classic rules`

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule.name,
            "type": self.rule.rule_type,
            "collection": self.collection.name,
            "priority": self.collection.priority,
            "action": self.collection.action,
            "in": self.origin,
        }

    def label(self) -> str:
        c = self.collection
        where = f"collection '{c.name}', priority {c.priority}, {self.origin}"
        return f"{c.action} rule '{self.rule.name}' ({where})"


def policy_chain(index: InventoryIndex, policy_id: str) -> list[FirewallPolicy]:
    """The policy and its base policies, root first (the order their rules apply in)."""
    chain: list[FirewallPolicy] = []
    seen: set[str] = set()
    current: str | None = policy_id
    while current and ids.key(current) not in seen:
        seen.add(ids.key(current))
        what = "firewall policy" if not chain else f"base policy of '{chain[-1].name}'"
        policy = index.firewall_policies.get(ids.key(current))
        if policy is None:
            raise Undecidable(connectivity.unread_reason(index, current, what))
        if not policy.rules_read:
            raise Undecidable(
                f"the rule collection groups of {what} '{policy.name}' were not read (see coverage)"
            )
        read = {ids.key(g.id) for g in policy.rule_collection_groups}
        missing = [ids.name_of(g) for g in policy.rule_collection_group_ids if ids.key(g) not in read]
        if missing:
            raise Undecidable(
                f"{what} '{policy.name}' lists rule collection group(s) {', '.join(missing)}, "
                "which were not read"
            )
        chain.append(policy)
        current = policy.base_policy_id
    return chain[::-1]


def processing_order(index: InventoryIndex, firewall: AzureFirewall) -> tuple[list[Step], list[str]]:
    """Every filter rule in processing order, and the policy ids it came from (root first)."""
    if firewall.firewall_policy_id:
        chain = policy_chain(index, firewall.firewall_policy_id)
        placed = [
            (f"policy '{p.name}', group '{g.name}'", c)
            for p in chain
            for g in sorted(p.rule_collection_groups, key=lambda g: (g.priority, g.name.lower()))
            for c in sorted(g.rule_collections, key=lambda c: (c.priority, c.name.lower()))
        ]
        origin = [p.id for p in chain]
    else:
        ordered = sorted(firewall.rule_collections, key=lambda c: (c.priority, c.name.lower()))
        placed = [("classic rules", c) for c in ordered]
        origin = []
    steps = [
        Step(r, c, where)
        for layer in (NETWORK_RULE, APPLICATION_RULE)
        for where, c in placed
        for r in c.rules
        if r.rule_type == layer
    ]
    return steps, origin


# --- walking the rules ----------------------------------------------------------------------------


@dataclass(slots=True)
class Walk:
    """The outcome of one flow: which rules allowed or denied which part, what no rule matched."""

    denied: list[dict[str, Any]] = field(default_factory=list)
    allowed_by: list[dict[str, Any]] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)  # source prefixes no rule matched
    unmatched_destinations: list[str] = field(default_factory=list)
    unknown: str | None = None
    uncounted_denies: list[dict[str, Any]] = field(default_factory=list)  # see the module docstring

    @property
    def blocked(self) -> bool:
        return bool(self.denied) or (self.unknown is None and bool(self.unmatched))


Rect = tuple[PrefixSet, PrefixSet]


def _touches(remaining: list[Rect], sources: PrefixSet | None, destinations: PrefixSet | None) -> bool:
    """Some remaining pair meets the given sets (None: not known, assume it may)."""
    return any(
        (sources is None or s.intersects(sources)) and (destinations is None or d.intersects(destinations))
        for s, d in remaining
    )


def _examples(prefixes: PrefixSet) -> list[str]:
    return [str(n) for n in prefixes.networks()[:EXAMPLES]]


def walk(steps: list[Step], flow: Flow, tags: ServiceTagIndex) -> Walk:
    """First match wins, applied to (source, destination) pairs: a rule takes the part of the
    remaining flow it matches and leaves the rest to the rules after it."""
    out = Walk()
    if not flow.sources:
        out.unknown = "the subnet's address prefixes are not in the inventory"
        return out
    remaining: list[Rect] = [  # IPv4 sources never reach IPv6 destinations, nor the reverse
        (flow.sources & fam, flow.prefixes & fam)
        for fam in _FAMILIES
        if flow.sources.intersects(fam) and flow.prefixes.intersects(fam)
    ]
    whole = (_union(s for s, _ in remaining), _union(d for _, d in remaining))
    for step in steps:
        if not remaining:
            break
        if step.collection.action.lower() not in ("allow", "deny"):
            out.unknown = f"{step.label()}: action {step.collection.action!r} is neither Allow nor Deny"
            break
        needed_src = _union(s for s, _ in remaining)
        try:
            dst = _destinations(step.rule, flow, tags, _union(d for _, d in remaining))
        except Undecidable as exc:
            if _touches(remaining, _known_sources(step.rule, needed_src), None):
                out.unknown = f"{step.label()}: {exc}"
                break
            continue
        if dst is None:
            if _uncounted_deny(step.rule, step.collection.action, flow):
                out.uncounted_denies.append(step.to_json())
            continue
        if not _touches(remaining, None, dst):
            continue
        try:
            src = _sources(step.rule, needed_src)
        except Undecidable as exc:
            out.unknown = f"{step.label()}: {exc}"
            break
        remaining = _apply(step, src, dst, remaining, whole, out)
    if out.unknown is None:
        out.unmatched = _examples(_union(s for s, _ in remaining))
        out.unmatched_destinations = _examples(_union(d for _, d in remaining))
    return out


def _union(sets: Iterable[PrefixSet]) -> PrefixSet:
    out = PrefixSet()
    for s in sets:
        out = out | s
    return out


def _known_sources(r: FirewallRule, needed: PrefixSet) -> PrefixSet | None:
    """The rule's sources, or None when they cannot be known (then it may match)."""
    try:
        return _sources(r, needed)
    except Undecidable:
        return None


def _apply(
    step: Step, src: PrefixSet, dst: PrefixSet, remaining: list[Rect], whole: Rect, out: Walk
) -> list[Rect]:
    """Take what the rule matches out of the remaining pairs, recording it as allowed or denied
    (`partial`: the deny hits less than the whole flow)."""
    after: list[Rect] = []
    for s, d in remaining:
        hit_s, hit_d = s & src, d & dst
        if not hit_s or not hit_d:
            after.append((s, d))
            continue
        if step.collection.action.lower() == "allow":
            if step.to_json() not in out.allowed_by:
                out.allowed_by.append(step.to_json())
        else:
            partial = not (hit_s.contains(whole[0]) and hit_d.contains(whole[1]))
            out.denied.append({**step.to_json(), "sources": _examples(hit_s), "partial": partial})
        if rest := s - src:
            after.append((rest, d))
        if rest := d - dst:
            after.append((hit_s, rest))
    return after


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


def _firewall_of(route: netmath.RouteEntry | None, firewalls: dict[str, AzureFirewall]) -> str | None:
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
    fqdn = ctx.cloud.endpoints.as_dict()[dest.service]
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
    cached: dict[str, tuple[list[Step], list[str]] | str] = ctx.memo.setdefault("firewall_orders", {})
    return cached


def evaluate_subnet(
    ctx: Context,
    case: SubnetCase,
    table: RouteTable | None,
    routes: RouteSet,
    tags: ServiceTagIndex,
    firewalls: dict[str, AzureFirewall],
) -> list[FirewallCase]:
    """Each firewall the subnet routes replication destinations to, with its verdicts."""
    cases: dict[str, FirewallCase] = {}
    sources = _subnet_sources(case)
    public_hops = {
        ip for r in routes.routes() if not r.prefix.is_private and (ip := _firewall_of(r, firewalls))
    }
    for dest in subnet_destinations(ctx, case):
        prefixes, tag, reason = resolve(tags, dest)
        if prefixes is None:
            for ip in sorted(public_hops):
                _case_for(ctx, cases, ip, firewalls).unknown.append(
                    {"destination": tag, "reason": reason or ""}
                )
            continue
        parts: dict[str, list[netmath.RoutedPrefix]] = {}
        for piece in routes.next_hops(prefixes):
            ip = _firewall_of(piece.route, firewalls)
            if ip:
                parts.setdefault(ip, []).append(piece)
        for ip, pieces in parts.items():
            fw_case = _case_for(ctx, cases, ip, firewalls)
            if fw_case.steps is None:
                continue
            used = {id(p.route): p.route for p in pieces if p.route}
            judged = Judged(tag, _names(ctx, case, dest), [r.to_json() for r in used.values()])
            routed = PrefixSet(p.prefix for p in pieces)
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
    return f"no rule allows TCP {PORT}, so the firewall denies it by default"


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


def _finding(case: SubnetCase, fw_case: FirewallCase) -> Finding | None:
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
        status="unknown",
        message=(f"Cannot tell whether {what} lets replication traffic from the {where} out: {gaps}."),
        remediation=(
            "Check the firewall's rules for the replication endpoints on TCP 443 (portal: firewall policy > "
            "Application rules / Network rules; az network firewall policy rule-collection-group list) and "
            "grant the scan read access to the policy. " + FIREWALL_FQDN.remediation
        ),
    )


@rule(FIREWALL_FQDN)
def check_firewall_fqdn(ctx: Context) -> Iterator[Finding]:
    inventory = ctx.inventory
    firewalls = firewalls_by_ip(inventory)
    if not firewalls:
        return
    tags = ServiceTagIndex(inventory.service_tags)
    router = netmath.SubnetRouter(tags)
    for case in subnet_cases(ctx):
        table, missing = route_table(ctx, case.subnet)
        if missing:
            continue  # whether anything reaches a firewall is unknown: NET-FORCED-TUNNEL says so
        routes = router.routes(case.vnet, case.subnet, table)
        for fw_case in evaluate_subnet(ctx, case, table, routes, tags, firewalls):
            found = _finding(case, fw_case)
            if found:
                yield found
