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
from typing import Any, NamedTuple

from asr_audit import ids
from asr_audit.inventory import NetworkSecurityGroup, SecurityRule
from asr_audit.net.address_book import HOST_IP as HOST_IP
from asr_audit.net.address_book import INTERNET as INTERNET
from asr_audit.net.address_book import AddressBook as AddressBook
from asr_audit.net.address_book import Match as Match
from asr_audit.net.address_book import virtual_network as virtual_network
from asr_audit.net.ports import HTTPS_PORT, port_in
from asr_audit.net.prefixes import (
    NOWHERE,
    WILDCARDS,
    PrefixSet,
    RangesKey,
    nowhere,
    union,
)

ALLOW, DENY = "Allow", "Deny"
OUTBOUND = "Outbound"
TCP = "Tcp"


def _outbound_default(name: str, priority: int, access: str, destination: str, source: str) -> SecurityRule:
    return SecurityRule(
        name=name,
        priority=priority,
        direction=OUTBOUND,
        access=access,
        protocol="*",
        destination_port_ranges=("*",),
        destination_address_prefixes=(destination,),
        source_address_prefixes=(source,),
        source_port_ranges=("*",),
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


# --- rules ------------------------------------------------------------------------------------------


class RuleRef(NamedTuple):
    """A rule as a finding names it. Tuples, like `CompiledRule` and `Decision`: NSG evaluation
    builds one per rule per NSG and address book (~220,000 at 100k resources), and a frozen
    dataclass costs about three times as much to build."""

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
# Most rules name no source ASG: one shared empty set, not one per compiled rule (an empty
# frozenset is not a singleton; 156,000 of them held 32 MiB at 100k resources).
_NO_ASGS: frozenset[str] = frozenset()

_Shape = tuple[PrefixSet, int, tuple[int, ...]]  # prefixes, deciding rule (-1: none), maybe-rules passed
_ShapeKey = tuple[tuple[str, ...], RangesKey, tuple[tuple[RangesKey, RangesKey], ...]]


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


class CompiledRule(NamedTuple):
    ref: RuleRef
    destination: Match
    source: Match
    source_asgs: frozenset[str]
    port: str  # YES | MAYBE (rules whose port or protocol never match are dropped)
    why: str | None  # why the rule may or may not match
    # Its destination is resolved per address book (it names VirtualNetwork), so decisions
    # shared between books of one NSG must tell its overlap with the destination apart.
    local: bool = True

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
    # decide()'s answers: the same NSG meets thousands of senders that its rules treat alike.
    decided: dict[tuple[tuple[str, ...], RangesKey], list[Decision]] = field(
        default_factory=dict, compare=False, repr=False
    )
    # The same answers by rule position, which the compilations of one NSG against different
    # address books share (`compile_nsg`'s `shapes`): see `decide`.
    shapes: dict[_ShapeKey, list[_Shape]] = field(default_factory=dict, compare=False, repr=False)
    raw: tuple[SecurityRule, ...] = field(default=(), compare=False, repr=False)  # what each rule came from

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


def compile_nsg(
    nsg: NetworkSecurityGroup,
    book: AddressBook,
    flow: Flow = HTTPS,
    shapes: dict[_ShapeKey, list[_Shape]] | None = None,
    like: CompiledNsg | None = None,
) -> CompiledNsg:
    """The NSG's rules for `flow` as `book` reads them. Every subnet (and NIC) sees an NSG through
    its own `VirtualNetwork`, and only that differs between its compilations: `shapes`, one dict
    per NSG and flow, lets them share decisions (see `decide`), and `like`, the NSG compiled for
    `flow` against another book with the same `common` book, lends its rules that do not name
    VirtualNetwork, which would compile to the same."""
    kept: list[tuple[SecurityRule, CompiledRule]] = []
    if like is None:
        for raw in outbound_rules(nsg):
            done = _compile_rule(nsg, raw, book, flow)
            if done is not None:
                kept.append((raw, done))
    else:
        for raw, lent in zip(like.raw, like.rules, strict=True):
            sides = [*raw.destination_address_prefixes, *raw.source_address_prefixes]
            done = _compile_rule(nsg, raw, book, flow) if book.resolves_locally(sides) else lent
            if done is not None:  # always: whether a rule is kept does not depend on the book
                kept.append((raw, done))
    return CompiledNsg(
        nsg.id,
        nsg.name,
        tuple(done for _, done in kept),
        shapes={} if shapes is None else shapes,
        raw=tuple(raw for raw, _ in kept),
    )


def _compile_rule(
    nsg: NetworkSecurityGroup, rule: SecurityRule, book: AddressBook, flow: Flow
) -> CompiledRule | None:
    """One outbound rule; None when its port or protocol never match the flow."""
    port, port_why = _ports(rule.destination_port_ranges, flow.port)
    if port == NO or not _protocol(rule, flow):
        return None
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
    groups = rule.source_application_security_groups
    asgs = frozenset(ids.key(a) for a in groups) if groups else _NO_ASGS
    local = book.resolves_locally(rule.destination_address_prefixes)
    return CompiledRule(ref, dest, source, asgs, port, why, local)


# --- one NSG, one source --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Source:
    """Who sends: one ip configuration (its address and ASGs), or a subnet's range (no NIC yet)."""

    label: str
    addresses: PrefixSet
    asgs: frozenset[str] = frozenset()


class Decision(NamedTuple):
    prefixes: PrefixSet
    rule: RuleRef  # the first rule that certainly matches
    doubts: tuple[tuple[RuleRef, str], ...] = ()  # earlier rules that may match, with another access

    @property
    def access(self) -> str:
        return self.rule.access


def decide(nsg: CompiledNsg, source: Source, destination: PrefixSet) -> list[Decision]:
    """Split `destination` by the rule that decides each part, for one source.

    The source counts only through how each rule's source field matches it, so the answer is
    remembered per (those matches, destination) on the compiled NSG: the NICs behind one NSG
    mostly match its rules alike, and the destinations are the same few tags. Below that, the
    split by rule position is shared by the NSG's compilations against other address books: a
    rule's destination counts only through its overlap with `destination`, and only rules naming
    VirtualNetwork differ between books, so those overlaps are part of the key; each book's
    rules then give the references and doubts (their wording names the VNet)."""
    matches = tuple(rule.source_match(source) for rule in nsg.rules)
    wanted = destination.key()
    key = (matches, wanted)
    found = nsg.decided.get(key)
    if found is None:
        local = tuple(_overlap(rule.destination, destination) for rule in nsg.rules if rule.local)
        shape_key = (matches, wanted, local)
        shape = nsg.shapes.get(shape_key)
        if shape is None:
            shape = nsg.shapes[shape_key] = _decide(nsg, matches, destination)
        found = nsg.decided[key] = [_decision(nsg, *part) for part in shape]
    return found


def _overlap(side: Match, destination: PrefixSet) -> tuple[RangesKey, RangesKey]:
    """What of `destination` a rule's side certainly and maybe holds, as a key."""
    return _part(side.certain, destination), _part(side.maybe, destination)


def _part(addresses: PrefixSet, destination: PrefixSet) -> RangesKey:
    """`(addresses & destination).key()`, building no set where bisection answers: a VNet's
    private space mostly misses the public tags judged, and what it may hold when on-premises
    ranges are unseen (every other address) holds them whole. The keys live as long as the
    analysis, and a copy of a tag's ranges per address book held 68 MiB at 100k resources."""
    if not addresses.intersects(destination):
        return NOWHERE.key()
    if addresses.contains(destination):
        return destination.key()
    return (addresses & destination).key()


def _decision(nsg: CompiledNsg, prefixes: PrefixSet, deciding: int, passed: tuple[int, ...]) -> Decision:
    ref = nsg.rules[deciding].ref if deciding >= 0 else nsg.implicit
    doubts = tuple(
        (nsg.rules[i].ref, nsg.rules[i].why or "") for i in passed if nsg.rules[i].ref.access != ref.access
    )
    return Decision(prefixes, ref, doubts)


def _decide(nsg: CompiledNsg, matches: tuple[str, ...], destination: PrefixSet) -> list[_Shape]:
    pending: list[tuple[PrefixSet, tuple[int, ...]]] = [(destination, ())] if destination else []
    decided: list[_Shape] = []
    for index, (rule, matched) in enumerate(zip(nsg.rules, matches, strict=True)):
        if not pending:
            break
        if matched == NO:
            continue
        sure = matched == YES and rule.port == YES
        certain = rule.destination.certain if sure else NOWHERE
        maybe = rule.destination.maybe if sure else rule.destination.reach
        after: list[tuple[PrefixSet, tuple[int, ...]]] = []
        for rest, passed in pending:
            # `intersects` first: most rules of a large NSG (private ranges, other tags) miss
            # the destination, and it answers by bisection without building a set. The certain
            # part goes first: a side's `maybe` may overlap it (`address_book.Match`).
            if certain and certain.intersects(rest):
                hit, rest = rest.split(certain)
                decided.append((hit, index, passed))
            if maybe and rest and maybe.intersects(rest):
                doubt, rest = rest.split(maybe)
                after.append((doubt, (*passed, index)))
            if rest:
                after.append((rest, passed))
        pending = after
    return decided + [(rest, -1, passed) for rest, passed in pending]


# --- a destination, both NSGs, every source ---------------------------------------------------------


@dataclass(slots=True)
class Verdict:
    """allowed | blocked | partial (some prefixes blocked) | unknown (none blocked, some undecidable)."""

    destination: str
    judged: PrefixSet = field(default_factory=nowhere)  # its addresses in the versions the sources use
    blocked_by: dict[tuple[RuleRef, str], PrefixSet] = field(default_factory=dict)  # (rule, source)
    unknown: PrefixSet = field(default_factory=nowhere)
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
            "judged_prefixes": self.judged.block_count(),
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
    # By identity, once each: most rules share a few source sets (`*`, the book's VirtualNetwork).
    cuts = {
        id(part): part
        for nsg in nsgs
        if isinstance(nsg, CompiledNsg)
        for rule in nsg.rules
        for part in (rule.source.certain, rule.source.maybe)
        if part
    }.values()
    out: list[Source] = []
    for source in sources:
        if source.addresses.address_count() == 1:  # a NIC's address: no cut can split it
            out.append(source)
            continue
        pieces = [source.addresses]
        for cut in cuts:
            pieces = [p for piece in pieces for p in _cut(piece, cut)]
        if len(pieces) == 1:
            out.append(source)
            continue
        out += [Source(_label(p), p, source.asgs) for p in pieces]
    return out


def _cut(piece: PrefixSet, cut: PrefixSet) -> list[PrefixSet]:
    # By bisection, building no set: most cuts miss the piece or hold all of it (`*`).
    if not cut.intersects(piece) or cut.contains(piece):
        return [piece]
    inside = piece & cut
    return [inside, piece - inside]


def _label(addresses: PrefixSet) -> str:
    nets = [str(n) for n in addresses.networks()]
    return ", ".join(nets[:3]) + (f" and {len(nets) - 3} more" if len(nets) > 3 else "")


def judge(
    destinations: Mapping[str, PrefixSet],
    nsgs: Sequence[CompiledNsg | Unread],
    sources: Iterable[Source],
    everything: PrefixSet | None = None,
) -> dict[str, Verdict]:
    """Each destination's verdict: every source's traffic must pass every NSG (a NIC's and its
    subnet's; no NSG allows everything). The NSGs are evaluated over all destinations at once,
    then the decisions are split back per destination. `everything`, the union of the
    destinations, may be handed in by callers that judge the same ones for many sources."""
    if everything is None:
        everything = union(destinations.values(), NOWHERE)
    verdicts = {name: Verdict(name) for name in destinations}
    reasons: dict[str, dict[str, None]] = {name: {} for name in destinations}
    # The IP versions the sources send with (an IPv4 address never talks to an IPv6 prefix): what
    # each destination had judged is its addresses in those.
    sent: set[tuple[int, ...]] = set()
    for source in split_sources(sources, nsgs):
        versions = source.addresses.versions()
        dest = everything.only(versions)
        if not dest:
            continue
        sent.add(versions)
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
        if not (denied or doubtful):
            continue
        for name, prefixes in destinations.items():
            mine = prefixes.only(versions)
            if not mine:
                continue
            verdict = verdicts[name]
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
        verdict.judged = union((destinations[name].only(v) for v in sent), NOWHERE)
        verdict.unknown -= verdict.blocked
        verdict.reasons = list(reasons[name]) if verdict.unknown else []
    return verdicts
