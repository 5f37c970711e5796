"""NSG evaluation for replication traffic, shared by NET-NSG-OUTBOUND and NET-NSG-RECOVERY-SIDE.

Both rules ask the same question along different paths (a workload NIC today, a recovery subnet
after failover): does TCP 443 to each required destination pass the NSGs? The evaluation itself is
`asr_audit.net.nsg`; this module builds its inputs once per inventory (address books, compiled
NSGs) and words the findings, so the two rules differ only in what they evaluate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from asr_audit import ids
from asr_audit.findings import Finding, FindingStatus, RuleMeta
from asr_audit.inventory import NetworkInterface, NetworkSecurityGroup, Subnet, VirtualNetwork
from asr_audit.net import connectivity
from asr_audit.net.address_book import Match, joined_virtual_network, routed_space, vnet_space
from asr_audit.net.nsg import (
    AddressBook,
    CompiledNsg,
    Source,
    Unread,
    Verdict,
    compile_nsg,
    judge,
)
from asr_audit.net.prefixes import NOWHERE, PrefixSet, union
from asr_audit.net.service_tags import ServiceTagIndex, shared_index
from asr_audit.rules.base import Context
from asr_audit.rules.common.destinations import Destination, resolve
from asr_audit.rules.common.references import route_table

EXAMPLES = 3
ABOUT_NETWORKING = "https://learn.microsoft.com/en-us/azure/site-recovery/azure-to-azure-about-networking"
REFERENCES = (
    "https://learn.microsoft.com/en-us/azure/virtual-network/network-security-groups-overview",
    "https://learn.microsoft.com/en-us/azure/virtual-network/service-tags-overview",
)


_TAIL = (
    "Use the service tags, not IP ranges: their prefixes change (portal: network security group > "
    "Outbound security rules > Add, Destination: Service Tag)."
)


def fix_text(storage: str, event_hub: str) -> str:
    """The remediation text, with the regions each rule's destinations take."""
    return (
        "In each NSG named, add outbound rules that allow TCP 443 to the service tags, with a priority "
        "number lower than the rule that blocks them, e.g. az network nsg rule create -g <rg> --nsg-name "
        "<nsg> -n Allow-ASR-Storage-443 --priority <below the blocking rule> --direction Outbound --access "
        f"Allow --protocol Tcp --destination-address-prefixes Storage.<{storage}> --destination-port-ranges "
        f"443; one rule per tag: Storage.<{storage}>, AzureActiveDirectory, EventHub.<{event_hub}>, "
        f"AzureSiteRecovery. {_TAIL}"
    )


# Subnets Azure reserves for its own appliances: no failed-over VM can be placed there.
INFRASTRUCTURE_SUBNETS = frozenset(
    {
        "gatewaysubnet",
        "azurefirewallsubnet",
        "azurefirewallmanagementsubnet",
        "azurebastionsubnet",
        "routeserversubnet",
    }
)


ESTATE_MEMO = "nsg_estate"  # where `Estate.of` keeps it in the analysis's memo


class Estate:
    """Address books and compiled NSGs over one analysis: a book (the VirtualNetwork tag seen from
    a subnet) is built once per VNet and route table, which the subnets of a VNet mostly share,
    and an NSG is compiled once per book however many NICs and subnets use it. Kept in
    `ctx.memo`, so NET-NSG-OUTBOUND and NET-NSG-RECOVERY-SIDE share both, a group of VNets at a
    time (`rules.BY_VNET`)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.index = ctx.index
        self.tags = shared_index(ctx)
        self._books: dict[tuple[str, str], AddressBook] = {}
        # The parts of VirtualNetwork: per VNet (`vnet_space`) and per route table (`routed_space`).
        self._spaces: dict[str, PrefixSet] = {}
        self._routed: dict[str, Match] = {}
        self._compiled: dict[tuple[str, int], CompiledNsg] = {}
        self._shapes: dict[str, dict[Any, Any]] = {}  # per NSG: decisions its compilations share
        self._first: dict[str, CompiledNsg] = {}  # per NSG: a compilation that lends the others its rules
        self.asg_members = _asg_members(ctx.inventory.network_interfaces)
        self.common = AddressBook(self.tags, None, self.asg_members)  # what every subnet sees alike
        self._destinations: dict[tuple[Destination, ...], Resolved] = {}

    @staticmethod
    def of(ctx: Context) -> Estate:
        return ctx.shared(ESTATE_MEMO, lambda: Estate(ctx))

    def release(self) -> None:
        """Forget the books and compiled NSGs, which are built per VNet and route table, and keep
        what every subnet sees alike (`common`, ASG members, resolved destinations): `rules.analyze`
        takes up the estate a group of VNets at a time."""
        for built in (self._books, self._spaces, self._routed, self._compiled, self._shapes, self._first):
            built.clear()

    def book(self, vnet: VirtualNetwork, subnet: Subnet) -> AddressBook:
        # What the book depends on: the VNet (space, peerings, gateways) and the route table.
        key = (ids.key(vnet.id), ids.key(subnet.route_table_id or ""))
        if key not in self._books:
            table, missing = route_table(self.ctx, subnet)
            doubts = []
            if missing:
                doubts.append(f"{missing}; the prefixes of its routes are part of VirtualNetwork")
            if connectivity.has_gateway(self.index, vnet):
                doubts.append(
                    f"VNet '{vnet.name}' reaches a gateway, so VirtualNetwork also holds on-premises ranges "
                    "that ARM does not show"
                )
            space = self._spaces.get(key[0])
            if space is None:
                space = self._spaces[key[0]] = vnet_space(vnet)
            routed = self._routed.get(key[1])
            if routed is None:
                routed = self._routed[key[1]] = routed_space(table, self.tags)
            tag = joined_virtual_network(space, routed, "; ".join(doubts) or None)
            self._books[key] = AddressBook(self.tags, tag, self.asg_members, self.common)
        return self._books[key]

    def nsg(self, nsg_id: str, book: AddressBook) -> CompiledNsg | Unread:
        nsg = self.raw(nsg_id)
        if nsg is None:
            return Unread(nsg_id, connectivity.unread_reason(self.index, nsg_id, "network security group"))
        key = (ids.key(nsg_id), id(book))
        if key not in self._compiled:
            shapes, like = self._shapes.setdefault(key[0], {}), self._first.get(key[0])
            compiled = self._compiled[key] = compile_nsg(nsg, book, shapes=shapes, like=like)
            self._first.setdefault(key[0], compiled)
        return self._compiled[key]

    def destinations(self, wanted: tuple[Destination, ...]) -> Resolved:
        """The wanted destinations' prefixes, once per list: every workload NIC of a region asks
        for the same few tags, and their union is what each NSG decision splits."""
        found = self._destinations.get(wanted)
        if found is None:
            found = self._destinations[wanted] = Resolved.of(self.tags, wanted)
        return found

    def raw(self, nsg_id: str) -> NetworkSecurityGroup | None:
        return self.index.network_security_groups.get(ids.key(nsg_id))


def _asg_members(nics: Iterable[NetworkInterface]) -> dict[str, PrefixSet]:
    """Application security group -> the addresses of the ip configurations in it."""
    out: dict[str, list[str]] = {}
    for nic in nics:
        for ipc in nic.ip_configurations:
            if ipc.private_ip_address:
                for asg in ipc.application_security_group_ids:
                    out.setdefault(ids.key(asg), []).append(ipc.private_ip_address)
    return {k: PrefixSet(v) for k, v in out.items()}


def subnet_source(vnet: VirtualNetwork, subnet: Subnet) -> Source:
    """Any address a VM placed in the subnet could get."""
    prefixes = subnet.address_prefixes or vnet.address_prefixes
    return Source(f"any address in {', '.join(prefixes)}", PrefixSet(prefixes))


def nic_sources(nic: NetworkInterface, vnet: VirtualNetwork, subnet: Subnet) -> list[Source]:
    """The NIC's ip configurations in `subnet`, each sending from its own address and ASGs."""
    out = []
    for ipc in nic.ip_configurations:
        if ids.key(ipc.subnet_id) != ids.key(subnet.id):
            continue
        addresses = PrefixSet([ipc.private_ip_address or ""])
        asgs = frozenset(ids.key(a) for a in ipc.application_security_group_ids)
        if not addresses:
            fallback = subnet_source(vnet, subnet)
            out.append(Source(fallback.label, fallback.addresses, asgs))
        else:
            out.append(Source(str(addresses.networks()[0].network_address), addresses, asgs))
    return out or [subnet_source(vnet, subnet)]


@dataclass(slots=True)
class Outcome:
    verdicts: list[Verdict] = field(default_factory=list)  # blocked or partial
    unknown: list[dict[str, str]] = field(default_factory=list)  # destination, reason
    judged: list[tuple[Verdict, str | None]] = field(default_factory=list)  # every destination, its FQDN

    @property
    def failing(self) -> bool:
        return bool(self.verdicts)

    def evidence(self) -> list[dict[str, Any]]:
        """Every destination judged, in JSON; built only for a finding, since most evaluations
        (an allowed path) produce none and the blocked prefixes are costly to list."""
        return [{**verdict.to_json(), "fqdn": name} for verdict, name in self.judged]


def fqdn(ctx: Context, tag: str) -> str | None:
    """The cloud's FQDN for a destination tag (`EventHub.WestUS2` -> `*.servicebus.windows.net`)."""
    return ctx.cloud.endpoints.fqdn(tag.partition(".")[0])


def evaluate(
    ctx: Context, wanted: Iterable[Destination], nsgs: list[CompiledNsg | Unread], sources: list[Source]
) -> Outcome:
    outcome = Outcome()
    resolved = Estate.of(ctx).destinations(tuple(wanted))
    outcome.unknown += resolved.unknown
    for tag, verdict in judge(resolved.prefixes, nsgs, sources, resolved.everything).items():
        outcome.judged.append((verdict, fqdn(ctx, tag)))
        if verdict.status in ("blocked", "partial"):
            outcome.verdicts.append(verdict)
        if verdict.unknown:
            outcome.unknown += [{"destination": tag, "reason": r} for r in verdict.reasons]
    return outcome


@dataclass(frozen=True, slots=True)
class Resolved:
    """Destinations as `judge` takes them, with those that cannot be judged and why."""

    prefixes: dict[str, PrefixSet]
    everything: PrefixSet
    unknown: list[dict[str, str]]

    @staticmethod
    def of(tags: ServiceTagIndex, wanted: Iterable[Destination]) -> Resolved:
        prefixes: dict[str, PrefixSet] = {}
        unknown: list[dict[str, str]] = []
        for dest in wanted:
            found, tag, reason = _resolve(tags, dest)
            if found is None:
                unknown.append({"destination": tag, "reason": reason or ""})
            else:
                prefixes[tag] = found
        return Resolved(prefixes, union(prefixes.values(), NOWHERE), unknown)


def _resolve(tags: ServiceTagIndex, dest: Destination) -> tuple[PrefixSet | None, str, str | None]:
    if dest.side and not dest.region:
        return (
            None,
            dest.label,
            f"the region of {dest.service} is not known (give --source-region/--target-region)",
        )
    return resolve(tags, dest)


def _examples(prefixes: PrefixSet) -> str:
    nets = [str(n) for n in prefixes.networks()]
    return ", ".join(nets[:EXAMPLES]) + (f" and {len(nets) - EXAMPLES} more" if len(nets) > EXAMPLES else "")


def _rules(verdict: Verdict) -> str:
    return ", ".join(dict.fromkeys(ref.label for ref, _ in verdict.blocked_by))


def describe(ctx: Context, verdict: Verdict) -> str:
    name = verdict.destination
    where = f"{name} ({fqdn(ctx, name)})" if fqdn(ctx, name) else name
    if verdict.status == "blocked":
        return f"{where} blocked by {_rules(verdict)}"
    blocked = verdict.blocked
    return (
        f"{where} partly blocked: {len(blocked.networks())} prefix(es) ({_examples(blocked)}) "
        f"by {_rules(verdict)}"
    )


def gaps(outcome: Outcome) -> str:
    """Undecidable destinations grouped by reason, for messages."""
    by_reason: dict[str, dict[str, None]] = {}
    for u in outcome.unknown:
        by_reason.setdefault(u["reason"], {})[u["destination"]] = None
    return "; ".join(f"{reason} ({', '.join(dests)})" for reason, dests in by_reason.items())


def allow_commands(estate: Estate, outcome: Outcome) -> list[str]:
    """One `az network nsg rule create` per (NSG, blocked tag), each with a free priority below
    every rule of that NSG that blocks the tag."""
    below: dict[str, dict[str, int]] = {}  # nsg id -> tag -> lowest blocking priority
    for verdict in outcome.verdicts:
        for ref, _ in verdict.blocked_by:
            tags = below.setdefault(ref.nsg_id, {})
            tags[verdict.destination] = min(tags.get(verdict.destination, 4097), ref.priority, 4097)
    commands = []
    for nsg_id, tags in below.items():
        nsg = estate.raw(nsg_id)
        taken = {r.priority for r in nsg.security_rules} if nsg else set()
        for tag, limit in tags.items():
            priority = next((p for p in range(limit - 1, 99, -1) if p not in taken), None)
            if priority is not None:
                taken.add(priority)
            shown = priority if priority is not None else f"<free priority below {limit}>"
            commands.append(
                f"az network nsg rule create -g {ids.resource_group_of(nsg_id) or '<rg>'} --nsg-name "
                f"{ids.name_of(nsg_id)} -n Allow-ASR-{tag.replace('.', '-')}-443 --priority {shown} "
                "--direction Outbound --access Allow --protocol Tcp "
                f"--destination-address-prefixes {tag} --destination-port-ranges 443"
            )
    return commands


def report(
    meta: RuleMeta,
    estate: Estate,
    outcome: Outcome,
    common: dict[str, Any],
    *,
    lead: str,
    doubt: str,
    why: str,
    check: str,
) -> Finding:
    """A failing finding listing each blocked destination with the fix for each NSG, or, when
    nothing is known to be blocked, an `unknown` one with the reasons."""
    if outcome.failing:
        listed = "; ".join(describe(estate.ctx, v) for v in outcome.verdicts)
        more = f" Not decidable: {gaps(outcome)}." if outcome.unknown else ""
        return meta.finding(
            **common,
            message=f"{lead} on TCP 443: {listed}. {why}{more}",
            remediation="Allow the blocked tags before the rules that block them: "
            + "; ".join(allow_commands(estate, outcome))
            + f". {_TAIL}",
        )
    return meta.finding(
        **common,
        status=FindingStatus.UNKNOWN,
        message=f"{doubt}: {gaps(outcome)}.",
        remediation=f"{check} If a rule blocks a destination, allow it as `asr-audit explain {meta.id}` "
        "shows.",
    )
