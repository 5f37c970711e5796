"""Azure Firewall rule processing, as the rule-processing docs describe it, over address sets.

- network rules before application rules, whatever their priorities;
- with a firewall policy: the base policy's rules before the policy's own (recursively), rule
  collection groups by priority, collections by priority; classic rules: collections by
  priority; Allow and Deny compete only through that order, the first matching rule wins, and
  whatever no rule matches is denied;
- a flow is TCP to one port from source prefixes to destination prefixes (a service tag's),
  reached by one FQDN. A network rule matches by protocol, port, source and destination (CIDR,
  range, `*`, a service tag, an FQDN); an application rule by `Https:<port>`, source, and a
  target FQDN that covers the name (a leading `*` matches anything to its left, so
  `*.core.windows.net` covers `*.blob.core.windows.net`; Azure Firewall FAQ).

Rules are applied as set algebra over (source, destination) address pairs, so a rule that
covers part of the sources or part of a tag splits the flow and the rest goes on to later
rules: a flow is allowed only when all of it is. Where the answer is not in the inventory (the
policy or its rule collection groups were not read, an IP group, a service tag that was not
collected) the walk says `unknown`, never pass. Deliberately not counted as allowing: FQDN tags
(no Microsoft document says a tag covers the Site Recovery endpoints), web categories and target
URLs; an application Deny that names only those, or a name narrower than the flow's (one storage
account under `*.blob...`), is not taken as blocking either and is listed in `uncounted_denies`.

The inputs are plain (prefixes, a tag name, an FQDN, a port), so any check can ask about any
flow; which flows matter is the rules' business.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from asr_audit import ids
from asr_audit.inventory import (
    APPLICATION_RULE,
    NETWORK_RULE,
    AzureFirewall,
    FirewallPolicy,
    FirewallRule,
    FirewallRuleCollection,
    InventoryIndex,
)
from asr_audit.net.connectivity import unread_reason
from asr_audit.net.ports import HTTPS_PORT, port_in
from asr_audit.net.prefixes import EVERYWHERE, NOWHERE, VERSIONS, WILDCARDS, PrefixSet, parse_prefix, union
from asr_audit.net.service_tags import ServiceTagIndex

EXAMPLES = 5  # prefixes listed per part of a walk's outcome

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
        return PrefixSet(ipaddress.summarize_address_range(start, end))
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
        net = parse_prefix(text)
        spanned = _range(text) if net is None else None
        if text.lower() in WILDCARDS or (
            destination_tag and ServiceTagIndex.name_covers(text, destination_tag)
        ):
            known = known | EVERYWHERE
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
    """TCP to one port from `sources` to one destination name, over the addresses that reach the
    firewall."""

    sources: PrefixSet
    prefixes: PrefixSet
    tag: str  # the destination's service tag, e.g. Storage.EastUS
    name: str  # the FQDN it is reached by
    port: int = HTTPS_PORT


def _https(protocol: str, port: int) -> bool:
    """An application rule's `Https:443` (a bare `Https` means its default port)."""
    kind, _, listed = protocol.partition(":")
    return kind.strip().lower() == "https" and (not listed or listed.strip() == str(port))


def _sources(r: FirewallRule, needed: PrefixSet) -> PrefixSet:
    known, unresolved = _addresses(r.source_addresses)
    return _settle(known, unresolved + _ip_groups(r.source_ip_groups), needed, "source")


def _destinations(r: FirewallRule, flow: Flow, tags: ServiceTagIndex, needed: PrefixSet) -> PrefixSet | None:
    """The destination addresses the rule names (`needed`: what is still undecided); None when its
    protocol, port or name cannot match the flow at all."""
    if r.rule_type == NETWORK_RULE:
        if not any(p.strip().lower() in _TCP for p in r.protocols):
            return None
        if not any(port_in(p, flow.port) for p in r.destination_ports):
            return None
        if any(fqdn_covers(f, flow.name) for f in r.destination_fqdns):
            return EVERYWHERE
        known, unresolved = _addresses(r.destination_addresses, tags, flow.tag)
        return _settle(known, unresolved + _ip_groups(r.destination_ip_groups), needed, "destination")
    if r.rule_type == APPLICATION_RULE:
        if not any(_https(p, flow.port) for p in r.protocols):
            return None
        if not any(fqdn_covers(f, flow.name) for f in r.target_fqdns):
            return None
        if not r.destination_addresses:
            return EVERYWHERE
        known, unresolved = _addresses(r.destination_addresses, tags, flow.tag)
        return _settle(known, unresolved, needed, "destination")
    return None


def _uncounted_deny(r: FirewallRule, action: str, flow: Flow) -> bool:
    """An application Deny on HTTPS that may hit part of the flow without covering its name: a
    narrower name, or FQDN tags, web categories or target URLs whose contents are not known."""
    if action.lower() != "deny" or r.rule_type != APPLICATION_RULE:
        return False
    if not any(_https(p, flow.port) for p in r.protocols):
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
            raise Undecidable(unread_reason(index, current, what))
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
        for fam in VERSIONS.values()
        if flow.sources.intersects(fam) and flow.prefixes.intersects(fam)
    ]
    whole = (union((s for s, _ in remaining), NOWHERE), union((d for _, d in remaining), NOWHERE))
    for step in steps:
        if not remaining:
            break
        if step.collection.action.lower() not in ("allow", "deny"):
            out.unknown = f"{step.label()}: action {step.collection.action!r} is neither Allow nor Deny"
            break
        needed_src = union((s for s, _ in remaining), NOWHERE)
        try:
            dst = _destinations(step.rule, flow, tags, union((d for _, d in remaining), NOWHERE))
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
        out.unmatched = _examples(union((s for s, _ in remaining), NOWHERE))
        out.unmatched_destinations = _examples(union((d for _, d in remaining), NOWHERE))
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
