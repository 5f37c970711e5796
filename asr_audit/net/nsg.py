"""NSG evaluation as Azure does it, over sets of destination addresses.

A verdict is about a whole destination (a service tag's prefixes), not a sampled address:
the destination is refined against each outbound rule in priority order, so a rule that
covers half of a prefix splits it and each half takes the verdict of the first rule that
matches it. Matching is exact: protocol (`*`/Any or the flow's), destination port (single,
range, `*`, the plural field merged in by the collector), destination by CIDR containment,
`*`, `Internet`, `VirtualNetwork`, service tags (`Storage` covers `Storage.EastUS`) and
application security groups (the addresses of the NICs in the group), and the source (the
sending ip configuration's address or ASGs). Custom rules come before the defaults
AllowVnetOutBound (65000), AllowInternetOutBound (65001), DenyAllOutBound (65500).

What ARM cannot show is not guessed. A rule field may cover some addresses only *maybe*
(a service tag that was not collected, on-premises ranges in `VirtualNetwork`, an unparsable
port). For one address each such rule either matches or not, so the verdicts Azure could
reach are the access of the first certain match plus the access of every maybe-rule passed
before it; when those differ the address is `unknown`, with the reasons, never a pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from asr_audit import ids
from asr_audit.inventory import NetworkSecurityGroup, RouteTable, SecurityRule, VirtualNetwork
from asr_audit.net.connectivity import connected
from asr_audit.net.ports import HTTPS_PORT, port_in
from asr_audit.net.prefixes import EVERYWHERE, NOWHERE, VERSIONS, WILDCARDS, PrefixSet, parse_prefix, union
from asr_audit.net.service_tags import ServiceTagIndex

ALLOW, DENY = "Allow", "Deny"
OUTBOUND = "Outbound"
TCP = "Tcp"

# `Internet` is public address space, whatever the VNet holds: Azure expands the tag to the
# IPv4 space less private and reserved blocks (effective rules list 1.0.0.0/8, 2.0.0.0/7,
# 4.0.0.0/6, 8.0.0.0/7, 11.0.0.0/8, ...: no 0/8, no 10/8), and an on-premises range outside
# RFC 1918 counts as both VirtualNetwork and Internet (MicrosoftDocs/azure-docs#81801). For
# IPv6, global unicast. Which reserved blocks beyond these Azure leaves out is not documented;
# every Azure service prefix lies inside either way.
_NOT_INTERNET = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/3",
)
INTERNET = (VERSIONS[4] - PrefixSet(_NOT_INTERNET)) | PrefixSet(["2000::/3"])
HOST_IP = "168.63.129.16/32"  # Azure's host address: in VirtualNetwork, and what AzureLoadBalancer means


def _outbound_default(name: str, priority: int, access: str, destination: str, source: str) -> SecurityRule:
    return SecurityRule(
        name=name,
        priority=priority,
        direction=OUTBOUND,
        access=access,
        protocol="*",
        destination_port_ranges=["*"],
        destination_address_prefixes=[destination],
        source_address_prefixes=[source],
        source_port_ranges=["*"],
        default=True,
    )


# What Azure adds to every NSG; used when a collected NSG body lists no outbound defaults.
DEFAULT_OUTBOUND = (
    _outbound_default("AllowVnetOutBound", 65000, ALLOW, "VirtualNetwork", "VirtualNetwork"),
    _outbound_default("AllowInternetOutBound", 65001, ALLOW, "Internet", "*"),
    _outbound_default("DenyAllOutBound", 65500, DENY, "*", "*"),
)


@dataclass(frozen=True, slots=True)
class Flow:
    protocol: str = TCP
    port: int = HTTPS_PORT


HTTPS = Flow()


# --- what names in a rule stand for ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Match:
    """The addresses a rule field covers for certain, and those it may cover (ARM cannot tell)."""

    certain: PrefixSet = field(default_factory=PrefixSet)
    maybe: PrefixSet = field(default_factory=PrefixSet)
    why: str | None = None  # why `maybe` is not known

    def __or__(self, other: Match) -> Match:
        certain = self.certain | other.certain
        why = "; ".join(dict.fromkeys(w for w in (self.why, other.why) if w)) or None
        return Match(certain, (self.maybe | other.maybe) - certain, why)

    @property
    def reach(self) -> PrefixSet:
        return self.certain | self.maybe


def virtual_network(
    vnet: VirtualNetwork,
    route_table: RouteTable | None = None,
    tags: ServiceTagIndex | None = None,
    unseen: str | None = None,
) -> Match:
    """The `VirtualNetwork` tag seen from a subnet of `vnet`, as the service-tags overview
    defines it: the VNet's address space, connected peerings' spaces, the host address, the
    prefixes of user-defined routes, and connected on-premises spaces. ARM shows on-premises
    spaces only in part (local network gateways and BGP are not collected), so when the VNet
    reaches a gateway, or its route table was not read, every other address *may* be in it
    (`unseen` says why). A route on a service tag may add the tag's prefixes; the documents do
    not say, so those are maybe too.
    """
    certain: list[str] = [*vnet.address_prefixes, HOST_IP]
    for peering in vnet.peerings:
        if connected(peering):
            certain += peering.remote_address_prefixes
    maybe, why = NOWHERE, []
    for route in route_table.routes if route_table else ():
        if parse_prefix(route.address_prefix) is not None:
            certain.append(route.address_prefix)
            continue
        tagged = tags.expand(route.address_prefix) if tags else None
        maybe |= tagged if tagged is not None else EVERYWHERE
        why.append(f"route '{route.name}' on {route.address_prefix} may put its prefixes in VirtualNetwork")
    space = PrefixSet(certain)
    if unseen:
        maybe, why = EVERYWHERE, [*why, unseen]
    return Match(space, maybe - space, "; ".join(why) or None)


class AddressBook:
    """What the names in rules stand for, seen from one subnet (cached per name)."""

    def __init__(
        self,
        tags: ServiceTagIndex,
        virtual_network: Match | None = None,
        asg_members: Mapping[str, PrefixSet] | None = None,
    ) -> None:
        self.tags = tags
        self.virtual_network = virtual_network or Match()
        self.asg_members = {ids.key(k): v for k, v in (asg_members or {}).items()}
        self._names: dict[str, Match] = {}
        self._sides: dict[tuple[tuple[str, ...], tuple[str, ...]], Match] = {}

    def resolve(self, entry: str) -> Match:
        key = entry.strip().lower()
        found = self._names.get(key)
        if found is None:
            found = self._names[key] = self._resolve(entry.strip(), key)
        return found

    def _resolve(self, text: str, key: str) -> Match:
        if key in WILDCARDS:
            return Match(EVERYWHERE)
        net = parse_prefix(text)
        if net is not None:
            return Match(PrefixSet([net]))
        if key == "internet":
            return Match(INTERNET)
        if key in ("virtualnetwork", "virtual_network"):
            return self.virtual_network
        tagged = self.tags.expand(key)
        if tagged is not None:
            return Match(tagged)
        if key in ("azureloadbalancer", "azure_loadbalancer"):
            return Match(PrefixSet([HOST_IP]))
        if not self.tags:
            return Match(maybe=EVERYWHERE, why=f"service tags were not collected, so '{text}' is unknown")
        return Match(maybe=EVERYWHERE, why=f"'{text}' is neither a prefix nor a collected service tag")

    def side(self, prefixes: Sequence[str], asgs: Sequence[str], what: str) -> Match:
        """One side of a rule: its prefixes and tags, plus the addresses of its ASGs' members."""
        if not prefixes and not asgs:
            return Match(maybe=EVERYWHERE, why=f"a rule lists no {what}")
        key = (tuple(prefixes), tuple(asgs))
        found = self._sides.get(key)
        if found is None:  # many rules name the same few tags: union them once
            members = [Match(_members(self.asg_members, asgs))] if asgs else []
            found = self._sides[key] = union([*map(self.resolve, prefixes), *members], Match())
        return found


def _members(table: Mapping[str, PrefixSet], asgs: Sequence[str]) -> PrefixSet:
    return union((table.get(ids.key(asg), NOWHERE) for asg in asgs), NOWHERE)


# --- rules ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleRef:
    """A rule as a finding names it."""

    nsg: str
    nsg_id: str
    name: str
    priority: int
    access: str
    default: bool = False

    @property
    def label(self) -> str:
        return f"{self.nsg} rule {self.name} ({self.priority})"

    def to_json(self) -> dict[str, Any]:
        return {
            "nsg": self.nsg,
            "nsg_id": self.nsg_id,
            "rule": self.name,
            "priority": self.priority,
            "access": self.access,
            "default": self.default,
        }


YES, NO, MAYBE = "yes", "no", "maybe"


def _ports(specs: Sequence[str], port: int) -> tuple[str, str | None]:
    """(whether `port` is in the rule's destination ports, why not known)."""
    read = [(spec, port_in(spec, port)) for spec in specs]
    if any(found for _, found in read):
        return YES, None
    junk = [spec for spec, found in read if found is None]
    if junk or not specs:
        return MAYBE, f"destination ports {junk or '(none)'} cannot be read"
    return NO, None


def _protocol(rule: SecurityRule, flow: Flow) -> bool:
    text = (rule.protocol or "*").strip().lower()
    return text in WILDCARDS or text == flow.protocol.lower()


@dataclass(frozen=True, slots=True)
class CompiledRule:
    ref: RuleRef
    destination: Match
    source: Match
    source_asgs: frozenset[str]
    port: str  # YES | MAYBE (rules whose port or protocol never match are dropped)
    why: str | None  # why the rule may or may not match

    def source_match(self, source: Source) -> str:
        if self.source_asgs & source.asgs or self.source.certain.contains(source.addresses):
            return YES
        return MAYBE if self.source.reach.intersects(source.addresses) else NO


@dataclass(frozen=True, slots=True)
class CompiledNsg:
    """An NSG's outbound rules that can match the flow, in the order Azure applies them."""

    id: str
    name: str
    rules: tuple[CompiledRule, ...]

    @property
    def implicit(self) -> RuleRef:
        """What decides when no rule matches (cannot happen with Azure's defaults in place)."""
        return RuleRef(self.name, self.id, "(no rule matched)", 65536, DENY, default=True)


@dataclass(frozen=True, slots=True)
class Unread:
    """An NSG a subnet or NIC references that the scan did not read."""

    id: str
    reason: str


def outbound_rules(nsg: NetworkSecurityGroup) -> list[SecurityRule]:
    """Custom then default outbound rules by priority; Azure's defaults if the body lists none."""
    custom = [r for r in nsg.security_rules if r.direction.strip().lower() == "outbound"]
    defaults = [r for r in nsg.default_security_rules if r.direction.strip().lower() == "outbound"]
    return sorted([*custom, *(defaults or DEFAULT_OUTBOUND)], key=lambda r: (r.priority, r.name))


def compile_nsg(nsg: NetworkSecurityGroup, book: AddressBook, flow: Flow = HTTPS) -> CompiledNsg:
    rules = []
    for rule in outbound_rules(nsg):
        port, port_why = _ports(rule.destination_port_ranges, flow.port)
        if port == NO or not _protocol(rule, flow):
            continue
        dest = book.side(
            rule.destination_address_prefixes, rule.destination_application_security_groups, "destination"
        )
        # A source ASG matches the sender by membership, not by address: a VM placed later in
        # the same range is not a member.
        source = book.side(rule.source_address_prefixes, [], "source")
        if not rule.source_address_prefixes and rule.source_application_security_groups:
            source = Match()
        access = rule.access.strip().capitalize()
        if access not in (ALLOW, DENY):  # malformed: it may deny what a later rule allows
            port, port_why, access = MAYBE, f"rule {rule.name} has access '{rule.access}'", DENY
        ref = RuleRef(nsg.name, nsg.id, rule.name, rule.priority, access, rule.default)
        why = "; ".join(w for w in (port_why, dest.why, source.why) if w) or None
        asgs = frozenset(ids.key(a) for a in rule.source_application_security_groups)
        rules.append(CompiledRule(ref, dest, source, asgs, port, why))
    return CompiledNsg(nsg.id, nsg.name, tuple(rules))


# --- one NSG, one source --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Source:
    """Who sends: one ip configuration (its address and ASGs), or a subnet's range (no NIC yet)."""

    label: str
    addresses: PrefixSet
    asgs: frozenset[str] = frozenset()

    @property
    def versions(self) -> PrefixSet:
        """The IP versions it can send with: an IPv4 address never talks to an IPv6 prefix."""
        return union(
            (every for version, every in VERSIONS.items() if self.addresses.ranges(version)), NOWHERE
        )


@dataclass(frozen=True, slots=True)
class Decision:
    prefixes: PrefixSet
    rule: RuleRef  # the first rule that certainly matches
    doubts: tuple[tuple[RuleRef, str], ...] = ()  # earlier rules that may match, with another access

    @property
    def access(self) -> str:
        return self.rule.access


def decide(nsg: CompiledNsg, source: Source, destination: PrefixSet) -> list[Decision]:
    """Split `destination` by the rule that decides each part, for one source."""
    pending: list[tuple[PrefixSet, tuple[CompiledRule, ...]]] = [(destination, ())] if destination else []
    decided: list[tuple[PrefixSet, RuleRef, tuple[CompiledRule, ...]]] = []
    for rule in nsg.rules:
        if not pending:
            break
        matched = rule.source_match(source)
        if matched == NO:
            continue
        sure = matched == YES and rule.port == YES
        certain = rule.destination.certain if sure else NOWHERE
        maybe = rule.destination.maybe if sure else rule.destination.reach
        after: list[tuple[PrefixSet, tuple[CompiledRule, ...]]] = []
        for rest, passed in pending:
            if certain:
                hit = rest & certain
                if hit:
                    decided.append((hit, rule.ref, passed))
                    rest = rest - hit
            if maybe and rest:
                doubt = rest & maybe
                if doubt:
                    after.append((doubt, (*passed, rule)))
                    rest = rest - doubt
            if rest:
                after.append((rest, passed))
        pending = after
    decided += [(rest, nsg.implicit, passed) for rest, passed in pending]
    return [
        Decision(p, ref, tuple((r.ref, r.why or "") for r in passed if r.ref.access != ref.access))
        for p, ref, passed in decided
    ]


# --- a destination, both NSGs, every source ---------------------------------------------------------


@dataclass(slots=True)
class Verdict:
    """allowed | blocked | partial (some prefixes blocked) | unknown (none blocked, some undecidable)."""

    destination: str
    judged: PrefixSet = field(default_factory=PrefixSet)  # its addresses in the versions the sources use
    blocked_by: dict[tuple[RuleRef, str], PrefixSet] = field(default_factory=dict)  # (rule, source)
    unknown: PrefixSet = field(default_factory=PrefixSet)
    reasons: list[str] = field(default_factory=list)

    @property
    def blocked(self) -> PrefixSet:
        return union(self.blocked_by.values(), NOWHERE)

    @property
    def status(self) -> str:
        blocked = self.blocked
        if blocked:
            return "blocked" if blocked.contains(self.judged) else "partial"
        return "unknown" if self.unknown else "allowed"

    def to_json(self) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "status": self.status,
            "judged_prefixes": len(self.judged.networks()),
            "blocked_prefixes": [str(n) for n in self.blocked.networks()],
            "blocked_by": [
                {**ref.to_json(), "source": source, "prefixes": [str(n) for n in prefixes.networks()]}
                for (ref, source), prefixes in self.blocked_by.items()
            ],
            "unknown_prefixes": [str(n) for n in self.unknown.networks()],
            "unknown_reasons": self.reasons,
        }


def split_sources(sources: Iterable[Source], nsgs: Sequence[CompiledNsg | Unread]) -> list[Source]:
    """Cut each source where a rule's source field covers only part of it, so every rule matches
    a piece wholly or not at all (a subnet's range against a rule on half the subnet)."""
    cuts = [
        part
        for nsg in nsgs
        if isinstance(nsg, CompiledNsg)
        for rule in nsg.rules
        for part in (rule.source.certain, rule.source.maybe)
        if part
    ]
    out: list[Source] = []
    for source in sources:
        pieces = [source.addresses]
        for cut in cuts:
            pieces = [p for piece in pieces for p in _cut(piece, cut)]
        if len(pieces) == 1:
            out.append(source)
            continue
        out += [Source(_label(p), p, source.asgs) for p in pieces]
    return out


def _cut(piece: PrefixSet, cut: PrefixSet) -> list[PrefixSet]:
    inside = piece & cut
    if not inside or inside == piece:
        return [piece]
    return [inside, piece - inside]


def _label(addresses: PrefixSet) -> str:
    nets = [str(n) for n in addresses.networks()]
    return ", ".join(nets[:3]) + (f" and {len(nets) - 3} more" if len(nets) > 3 else "")


def judge(
    destinations: Mapping[str, PrefixSet],
    nsgs: Sequence[CompiledNsg | Unread],
    sources: Iterable[Source],
) -> dict[str, Verdict]:
    """Each destination's verdict: every source's traffic must pass every NSG (a NIC's and its
    subnet's; no NSG allows everything). The NSGs are evaluated over all destinations at once,
    then the decisions are split back per destination."""
    everything = union(destinations.values(), NOWHERE)
    verdicts = {name: Verdict(name) for name in destinations}
    reasons: dict[str, dict[str, None]] = {name: {} for name in destinations}
    for source in split_sources(sources, nsgs):
        dest = everything & source.versions
        if not dest:
            continue
        denied: list[tuple[PrefixSet, tuple[RuleRef, str]]] = []
        doubtful: list[tuple[PrefixSet, str]] = []
        for nsg in nsgs:
            if isinstance(nsg, Unread):
                doubtful.append((dest, nsg.reason))
                continue
            for d in decide(nsg, source, dest):
                if d.doubts:
                    doubtful += [(d.prefixes, why) for _, why in d.doubts]
                elif d.access == DENY:
                    denied.append((d.prefixes, (d.rule, source.label)))
        for name, prefixes in destinations.items():
            mine = prefixes & source.versions
            if not mine:
                continue
            verdict = verdicts[name]
            verdict.judged |= mine
            for where, key in denied:
                part = where & mine
                if part:
                    verdict.blocked_by[key] = verdict.blocked_by.get(key, NOWHERE) | part
            for where, why in doubtful:
                part = where & mine
                if part:
                    verdict.unknown |= part
                    reasons[name][why] = None
    for name, verdict in verdicts.items():
        verdict.unknown -= verdict.blocked
        verdict.reasons = list(reasons[name]) if verdict.unknown else []
    return verdicts
