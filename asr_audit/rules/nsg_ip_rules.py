"""NET-NSG-IP-RULES: replication leaves a workload's NIC only because an NSG allows Microsoft's
current IP ranges, written into its rules by hand.

Microsoft changes the prefixes behind a service tag without notice; a rule that lists them
today blocks the new ones tomorrow, and replication breaks with no change on the customer's
side. The test is exact rather than lexical: an NSG's IP-range allow rules are what replication
depends on when removing them (and nothing else) turns an allowed destination into a blocked one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field

from asr_audit import ids
from asr_audit.findings import Finding, RuleMeta, Severity
from asr_audit.inventory import NetworkSecurityGroup, SecurityRule
from asr_audit.net.nsg import ALLOW, OUTBOUND, AddressBook, CompiledNsg, Unread, compile_nsg, judge
from asr_audit.net.prefixes import NOWHERE, PrefixSet, parse_prefix, union
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common import audited
from asr_audit.rules.common.destinations import workload_destinations
from asr_audit.rules.common.nsg_evaluation import ABOUT_NETWORKING, REFERENCES, Estate, Resolved, nic_sources

NSG_TYPE = "Microsoft.Network/networkSecurityGroups"

NSG_IP_RULES = RuleMeta(
    id="NET-NSG-IP-RULES",
    title="NSG allows replication only through hard-coded IP ranges",
    severity=Severity.LOW,
    category="network",
    needs=(*audited.PLACEMENT_INPUTS, "network_security_groups", "route_tables", "service_tags"),
    rationale=(
        "Site Recovery's networking guide allows replication traffic with NSG rules on service tags "
        "(Storage.<source region>, AzureActiveDirectory, EventHub.<target region>, AzureSiteRecovery) and "
        "warns that the IP ranges behind them change. An NSG that lets a destination out only through "
        "rules listing today's IP ranges, ahead of a rule that denies the rest, works until Microsoft adds "
        "a prefix; from then on replication to the new addresses is blocked and the items turn critical "
        "with connectivity errors, with no change on the customer's side."
    ),
    remediation=(
        "Replace each IP-range allow rule named with a rule on the destination's service tag, e.g. az "
        "network nsg rule create -g <rg> --nsg-name <nsg> -n Allow-ASR-Storage-443 --priority <priority of "
        "the IP rule> --direction Outbound --access Allow --protocol Tcp --destination-address-prefixes "
        "Storage.<source-region> --destination-port-ranges 443, then delete the IP-range rule (portal: "
        "network security group > Outbound security rules > Destination: Service Tag)."
    ),
    microsoft_docs=ABOUT_NETWORKING,
    source=(
        "About networking in Azure VM disaster recovery (learn.microsoft.com, 2020-03-13 revision), "
        "Outbound connectivity using service tags; Virtual network service tags (learn.microsoft.com), "
        "'the IP address ranges of a service tag ... change'"
    ),
    references=REFERENCES,
)


def is_ip_range_allow(sr: SecurityRule) -> bool:
    """A custom outbound Allow rule whose destinations are all literal prefixes, none of them the
    whole address space (`0.0.0.0/0` is as good as `*`) and no application security group."""
    if (
        sr.default
        or sr.direction.strip().lower() != OUTBOUND.lower()
        or sr.access.strip().capitalize() != ALLOW
        or sr.destination_application_security_groups
        or not sr.destination_address_prefixes
    ):
        return False  # asked of every rule of every NSG on a path: parse only outbound allows
    nets = [parse_prefix(p) for p in sr.destination_address_prefixes]
    return all(n is not None and n.prefixlen > 0 for n in nets)


@dataclass(slots=True)
class Dependence:
    """What one NSG lets out only through its IP-range rules, and for whom."""

    nsg: NetworkSecurityGroup
    destinations: dict[str, None] = field(default_factory=dict)
    rules: dict[str, list[str]] = field(default_factory=dict)  # rule name -> its prefixes
    nics: dict[str, str] = field(default_factory=dict)  # NIC id -> its VM's name


def _without_ip_rules(ctx: Context, nsg: NetworkSecurityGroup, book: AddressBook) -> CompiledNsg:
    """The NSG compiled without its IP-range allow rules, once per (NSG, address book)."""
    memo: dict[tuple[str, int], CompiledNsg] = ctx.shared("nsg_without_ip_rules", dict)
    key = (ids.key(nsg.id), id(book))
    if key not in memo:
        kept = [r for r in nsg.security_rules if not is_ip_range_allow(r)]
        memo[key] = compile_nsg(dataclasses.replace(nsg, security_rules=kept), book)
    return memo[key]


def _reaching(ctx: Context, nsg: NetworkSecurityGroup, wanted: Resolved) -> list[SecurityRule]:
    """The NSG's IP-range allow rules that reach any wanted destination, once per (NSG, tags).
    Only these can make a verdict depend on hard-coded ranges: a rule that matches none of a
    destination's addresses never decides them, so an NSG without any passes unevaluated."""
    memo: dict[tuple[str, tuple[str, ...]], list[SecurityRule]] = ctx.shared("nsg_ip_rules", dict)
    key = (ids.key(nsg.id), tuple(sorted(wanted.prefixes)))
    if key not in memo:
        memo[key] = [
            r
            for r in nsg.security_rules
            if is_ip_range_allow(r)
            and PrefixSet(r.destination_address_prefixes).intersects(wanted.everything)
        ]
    return memo[key]


def _record(ctx: Context, found: dict[str, Dependence], placement: audited.Placement) -> None:
    """Add what the NSGs on the placement's path let out only through their IP-range rules."""
    estate = Estate.of(ctx)
    nic, subnet = placement.nic, placement.subnet
    refs = [r for r in (nic.network_security_group_id, subnet.network_security_group_id) if r]
    resolved = estate.destinations(tuple(workload_destinations(ctx, placement.workload)))
    wanted = resolved.prefixes
    relevant = []
    for i, ref in enumerate(refs):
        raw = estate.raw(ref)
        if raw is None:
            continue  # an unread NSG: NET-NSG-OUTBOUND reports it
        ip_rules = _reaching(ctx, raw, resolved)
        if ip_rules:
            relevant.append((i, raw, ip_rules))
        else:  # nothing hard-coded reaches a destination: the NSG cannot depend on it
            ctx.examined(NSG_IP_RULES, raw.id, NSG_TYPE, raw.name, raw.location)
    if not relevant:
        return
    book = estate.book(placement.vnet, subnet)
    nsgs: list[CompiledNsg | Unread] = [estate.nsg(r, book) for r in refs]
    sources = nic_sources(nic, placement.vnet, subnet)
    verdicts = judge(wanted, nsgs, sources, resolved.everything)
    allowed = {t: wanted[t] for t, v in verdicts.items() if v.status == "allowed"}
    if not allowed:
        return  # a blocked path: NET-NSG-OUTBOUND reports it
    for i, raw, ip_rules in relevant:
        ctx.examined(NSG_IP_RULES, raw.id, NSG_TYPE, raw.name, raw.location)
        stripped = [*nsgs[:i], _without_ip_rules(ctx, raw, book), *nsgs[i + 1 :]]
        lost = [t for t, v in judge(allowed, stripped, sources).items() if v.status in ("blocked", "partial")]
        if not lost:
            continue
        dep = found.setdefault(ids.key(raw.id), Dependence(raw))
        dep.destinations.update(dict.fromkeys(lost))
        dep.nics[nic.id] = placement.workload.vm.name
        reached = union((allowed[t] for t in lost), NOWHERE)
        for r in ip_rules:
            if PrefixSet(r.destination_address_prefixes).intersects(reached):
                dep.rules[r.name] = list(r.destination_address_prefixes)


@rule(NSG_IP_RULES)
def check_nsg_ip_rules(ctx: Context) -> Iterator[Finding]:
    found: dict[str, Dependence] = {}
    for placement in audited.placements(ctx):
        _record(ctx, found, placement)
    for key in sorted(found):
        dep = found[key]
        rules = ", ".join(f"{name} ({', '.join(prefixes)})" for name, prefixes in dep.rules.items())
        yield NSG_IP_RULES.finding(
            resource_id=dep.nsg.id,
            resource_type=NSG_TYPE,
            region=dep.nsg.location,
            message=(
                f"NSG '{dep.nsg.name}' lets {', '.join(dep.destinations)} out on TCP 443 only through "
                f"hard-coded IP ranges: {rules}. Without them the traffic is blocked, so a prefix Microsoft "
                f"adds to these tags breaks replication for {', '.join(sorted(set(dep.nics.values())))}."
            ),
            evidence={
                "destinations": list(dep.destinations),
                "ip_range_rules": dep.rules,
                "nics": sorted(dep.nics),
            },
        )
