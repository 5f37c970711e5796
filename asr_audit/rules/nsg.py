"""NET-NSG-OUTBOUND and NET-NSG-RECOVERY-SIDE: NSG rules that block the traffic replication needs.

NET-NSG-OUTBOUND judges each protected or candidate NIC: TCP 443 from each of its ip
configurations to every destination of DESIGN.md section 5 must pass the NIC's NSG and then
its subnet's NSG (Azure's order for outbound traffic; both must allow). NET-NSG-RECOVERY-SIDE
judges the subnets of the recovery VNets for a VM placed there after failover (no NIC exists
yet, so the subnet's NSG and any address of the subnet), with the destinations mirrored:
re-protection replicates from the target region back to the source. The evaluation itself is
`asr_audit.net.nsg`; this module decides what to evaluate and words the findings.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from asr_audit import ids
from asr_audit.findings import Finding, Severity
from asr_audit.inventory import NetworkInterface, NetworkSecurityGroup, Subnet, VirtualNetwork
from asr_audit.net import connectivity, netmath
from asr_audit.net.nsg import (
    AddressBook,
    CompiledNsg,
    Source,
    Unread,
    Verdict,
    compile_nsg,
    judge,
    virtual_network,
)
from asr_audit.rules import scope
from asr_audit.rules.base import Context, RuleMeta, rule
from asr_audit.rules.common import NIC_TYPE, SUBNET_TYPE, route_table
from asr_audit.rules.routing import (
    SITE_RECOVERY,
    Destination,
    private_endpoint,
    required_destinations,
    resolve,
)

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


def _fix(storage: str, event_hub: str) -> str:
    """The remediation text, with the regions each rule's destinations take."""
    return (
        "In each NSG named, add outbound rules that allow TCP 443 to the service tags, with a priority "
        "number lower than the rule that blocks them, e.g. az network nsg rule create -g <rg> --nsg-name "
        "<nsg> -n Allow-ASR-Storage-443 --priority <below the blocking rule> --direction Outbound --access "
        f"Allow --protocol Tcp --destination-address-prefixes Storage.<{storage}> --destination-port-ranges "
        f"443; one rule per tag: Storage.<{storage}>, AzureActiveDirectory, EventHub.<{event_hub}>, "
        f"AzureSiteRecovery. {_TAIL}"
    )


NSG_OUTBOUND = RuleMeta(
    id="NET-NSG-OUTBOUND",
    title="NSG rules block outbound replication traffic",
    severity=Severity.HIGH,
    category="network",
    needs=(*scope.PLACEMENT_INPUTS, "network_security_groups", "route_tables", "service_tags"),
    rationale=(
        "A replicating VM writes to the cache storage account in its own region, authenticates with "
        "Microsoft Entra ID, sends monitoring data to Event Hubs in the target region and talks to the "
        "Site Recovery service, all over HTTPS. An NSG rule that denies any of these (often a 'deny "
        "Internet' rule placed before the allows, or an allow for the wrong region's tag) stops "
        "replication from being enabled, or breaks it later with connectivity health errors."
    ),
    remediation=_fix("source-region", "target-region"),
    docs=ABOUT_NETWORKING,
    source=(
        "About networking in Azure VM disaster recovery (learn.microsoft.com, 2020-03-13 revision), "
        "Outbound connectivity using service tags; Network security groups, How network security groups "
        "filter traffic (NIC then subnet for outbound); About networking in Azure to Azure replication "
        "(2018 seed), Outbound connectivity for IP address ranges"
    ),
    seed_value=(
        "NSG rules for IP ranges: every range of the source location, the Office 365 authentication and "
        "identity IPv4 ranges, and the Site Recovery service IPs of the target location"
    ),
    references=REFERENCES,
)

NSG_RECOVERY_SIDE = RuleMeta(
    id="NET-NSG-RECOVERY-SIDE",
    title="Recovery subnet NSG would block re-protection after failover",
    severity=Severity.MEDIUM,
    category="network",
    needs=(
        *scope.PLACEMENT_INPUTS,
        *scope.RECOVERY_VNET_INPUTS,
        "network_security_groups",
        "route_tables",
        "service_tags",
    ),
    rationale=(
        "After failover the VMs run in the recovery VNet and must be re-protected back to the source "
        "region, which needs the same outbound access with the regions swapped: the cache storage in "
        "the (former) target region, Microsoft Entra ID, Event Hubs in the (former) source region and "
        "Site Recovery. An NSG on a recovery subnet that blocks them is found only in the middle of a "
        "disaster, when re-protection fails."
    ),
    remediation=_fix("target-region", "source-region"),
    docs=ABOUT_NETWORKING,
    source=(
        "About networking in Azure VM disaster recovery (learn.microsoft.com, 2020-03-13 revision), "
        "Example NSG configuration; About networking in Azure to Azure replication (2018 seed), NSG rules "
        "on the target network security group: required so that replication can be enabled from the "
        "target region to the source region post-failover"
    ),
    references=REFERENCES,
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


# --- what both rules share -------------------------------------------------------------------------


class Estate:
    """Address books and compiled NSGs over one inventory: a subnet's book (its VirtualNetwork
    tag) is built once, and an NSG is compiled once per book however many NICs use it."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.index = ctx.index
        self.tags = ctx.index.service_tag_index
        self._books: dict[str, AddressBook] = {}
        self._compiled: dict[tuple[str, int], CompiledNsg] = {}
        self.asg_members = _asg_members(ctx.inventory.network_interfaces)

    @staticmethod
    def of(ctx: Context) -> Estate:
        found = ctx.memo.get("nsg_estate")
        if found is None:
            found = ctx.memo["nsg_estate"] = Estate(ctx)
        return found

    def book(self, vnet: VirtualNetwork, subnet: Subnet) -> AddressBook:
        key = ids.key(subnet.id)
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
            tag = virtual_network(vnet, table, self.tags, "; ".join(doubts) or None)
            self._books[key] = AddressBook(self.tags, tag, self.asg_members)
        return self._books[key]

    def nsg(self, nsg_id: str, book: AddressBook) -> CompiledNsg | Unread:
        nsg = self.raw(nsg_id)
        if nsg is None:
            return Unread(nsg_id, connectivity.unread_reason(self.index, nsg_id, "network security group"))
        key = (ids.key(nsg_id), id(book))
        if key not in self._compiled:
            self._compiled[key] = compile_nsg(nsg, book)
        return self._compiled[key]

    def raw(self, nsg_id: str) -> NetworkSecurityGroup | None:
        return self.index.network_security_groups.get(ids.key(nsg_id))


def _asg_members(nics: Iterable[NetworkInterface]) -> dict[str, netmath.PrefixSet]:
    """Application security group -> the addresses of the ip configurations in it."""
    out: dict[str, list[str]] = {}
    for nic in nics:
        for ipc in nic.ip_configurations:
            if ipc.private_ip_address:
                for asg in ipc.application_security_group_ids:
                    out.setdefault(ids.key(asg), []).append(ipc.private_ip_address)
    return {k: netmath.PrefixSet(v) for k, v in out.items()}


def subnet_source(vnet: VirtualNetwork, subnet: Subnet) -> Source:
    """Any address a VM placed in the subnet could get."""
    prefixes = subnet.address_prefixes or vnet.address_prefixes
    return Source(f"any address in {', '.join(prefixes)}", netmath.PrefixSet(prefixes))


def nic_sources(nic: NetworkInterface, vnet: VirtualNetwork, subnet: Subnet) -> list[Source]:
    """The NIC's ip configurations in `subnet`, each sending from its own address and ASGs."""
    out = []
    for ipc in nic.ip_configurations:
        if ids.key(ipc.subnet_id) != ids.key(subnet.id):
            continue
        addresses = netmath.PrefixSet([ipc.private_ip_address or ""])
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
    evidence: list[dict[str, Any]] = field(default_factory=list)  # every destination judged

    @property
    def failing(self) -> bool:
        return bool(self.verdicts)


def fqdn(ctx: Context, tag: str) -> str | None:
    """The cloud's FQDN for a destination tag (`EventHub.WestUS2` -> `*.servicebus.windows.net`)."""
    return ctx.cloud.endpoints.as_dict().get(tag.partition(".")[0])


def evaluate(
    ctx: Context, wanted: Iterable[Destination], nsgs: list[CompiledNsg | Unread], sources: list[Source]
) -> Outcome:
    outcome = Outcome()
    tags = Estate.of(ctx).tags
    destinations: dict[str, netmath.PrefixSet] = {}
    for dest in wanted:
        prefixes, tag, reason = _resolve(tags, dest)
        if prefixes is None:
            outcome.unknown.append({"destination": tag, "reason": reason or ""})
        else:
            destinations[tag] = prefixes
    for tag, verdict in judge(destinations, nsgs, sources).items():
        outcome.evidence.append({**verdict.to_json(), "fqdn": fqdn(ctx, tag)})
        if verdict.status in ("blocked", "partial"):
            outcome.verdicts.append(verdict)
        if verdict.unknown:
            outcome.unknown += [{"destination": tag, "reason": r} for r in verdict.reasons]
    return outcome


def _resolve(
    tags: netmath.ServiceTagIndex, dest: Destination
) -> tuple[netmath.PrefixSet | None, str, str | None]:
    if dest.side and not dest.region:
        return (
            None,
            dest.label,
            f"the region of {dest.service} is not known (give --source-region/--target-region)",
        )
    return resolve(tags, dest)


def _examples(prefixes: netmath.PrefixSet) -> str:
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
        status="unknown",
        message=f"{doubt}: {gaps(outcome)}.",
        remediation=f"{check} {meta.remediation}",
    )


# --- NET-NSG-OUTBOUND ----------------------------------------------------------------------------------


def _wanted(ctx: Context, workload: scope.Workload) -> list[Destination]:
    """The workload's destinations; a vault private endpoint carries the Site Recovery calls."""
    private = private_endpoint(ctx, workload)
    dests = required_destinations(workload.source_region, workload.target_region)
    return [d for d in dests if not (private and d.service == SITE_RECOVERY)]


def _nic_nsgs(estate: Estate, p: scope.Placement) -> list[CompiledNsg | Unread]:
    """NIC NSG first, then the subnet's: the order Azure applies them to outbound traffic."""
    book = estate.book(p.vnet, p.subnet)
    refs = (p.nic.network_security_group_id, p.subnet.network_security_group_id)
    return [estate.nsg(ref, book) for ref in refs if ref]


@rule(NSG_OUTBOUND)
def check_nsg_outbound(ctx: Context) -> Iterator[Finding]:
    estate = Estate.of(ctx)
    placements = list(scope.placements(ctx))
    per_nic: dict[str, int] = {}
    for p in placements:
        per_nic[ids.key(p.nic.id)] = per_nic.get(ids.key(p.nic.id), 0) + 1
    for p in placements:
        nsgs = _nic_nsgs(estate, p)
        if not nsgs:
            continue  # no NSG on the NIC or its subnet: nothing filters the traffic
        outcome = evaluate(ctx, _wanted(ctx, p.workload), nsgs, nic_sources(p.nic, p.vnet, p.subnet))
        if not (outcome.failing or outcome.unknown):
            continue
        w = p.workload
        where = (
            f"NIC '{p.nic.name}' of {w.kind} VM '{w.vm.name}' ({p.vnet.name}/{p.subnet.name}, "
            f"{w.source_region or '?'} -> {w.target_region or '?'})"
        )
        evidence = {
            "vm": w.vm.id,
            "kind": w.kind,
            "nic": p.nic.id,
            "subnet": p.subnet.id,
            "source_region": w.source_region,
            "target_region": w.target_region,
            "nsgs": _nsg_evidence(p.nic.network_security_group_id, p.subnet.network_security_group_id, nsgs),
            "destinations": outcome.evidence,
            "unknown": outcome.unknown,
        }
        common = {
            "resource_id": p.nic.id,
            "resource_type": NIC_TYPE,
            "region": p.nic.location or p.vnet.location,
            "evidence": evidence,
            "key": p.subnet.name if per_nic[ids.key(p.nic.id)] > 1 else "",
        }
        rg = ids.resource_group_of(p.nic.id) or "<rg>"
        yield report(
            NSG_OUTBOUND,
            estate,
            outcome,
            common,
            lead=f"{where} cannot reach its replication destinations",
            doubt=f"Cannot tell whether the NSGs let {where} reach its replication destinations",
            why="Replication cannot be enabled, or fails with connectivity errors, until they are allowed.",
            check=f"Check the NIC's effective security rules (az network nic list-effective-nsg -g {rg} "
            f"-n {p.nic.name}; portal: network interface > Effective security rules).",
        )


def _nsg_evidence(nic_nsg: str | None, subnet_nsg: str | None, nsgs: list[CompiledNsg | Unread]) -> list[Any]:
    attached = [(ref, where) for ref, where in ((nic_nsg, "nic"), (subnet_nsg, "subnet")) if ref]
    return [
        {"id": ref, "attached_to": where, "read": isinstance(nsg, CompiledNsg)}
        for (ref, where), nsg in zip(attached, nsgs, strict=True)
    ]


# --- NET-NSG-RECOVERY-SIDE --------------------------------------------------------------------------


def _pairs(ctx: Context) -> dict[str, set[tuple[str | None, str | None]]]:
    """Recovery VNet key -> the (source, target) region pairs of what fails over into it."""
    out: dict[str, set[tuple[str | None, str | None]]] = {}
    for w in scope.workloads(ctx):
        if w.item and w.item.recovery_network_id:
            out.setdefault(ids.key(w.item.recovery_network_id), set()).add((w.source_region, w.target_region))
    for m in scope.a2a_mappings(ctx):
        if m.recovery_network_id:
            pair = (ids.region(m.primary_location), ids.region(m.recovery_location))
            out.setdefault(ids.key(m.recovery_network_id), set()).add(pair)
    source, target = ids.region(ctx.source_region), ids.region(ctx.target_region)
    if source and target:
        for vnet in ctx.inventory.virtual_networks:
            if ids.region(vnet.location) == target:
                out.setdefault(ids.key(vnet.id), set()).add((source, target))
    return out


def _judged_for_nics(ctx: Context) -> set[tuple[str, str, str | None]]:
    """(subnet, service, region) already judged by NET-NSG-OUTBOUND for a NIC in the subnet."""
    return {
        (ids.key(p.subnet.id), d.service.lower(), d.region)
        for p in scope.placements(ctx)
        for d in _wanted(ctx, p.workload)
    }


def _mirrored(vnet: VirtualNetwork, pairs: Iterable[tuple[str | None, str | None]]) -> list[Destination]:
    """What a VM failed over into `vnet` needs to replicate back: the pair's regions swapped."""
    wanted: dict[Destination, None] = {}
    for source, target in pairs:
        wanted.update(dict.fromkeys(required_destinations(target or ids.region(vnet.location), source)))
    return list(wanted)


@rule(NSG_RECOVERY_SIDE)
def check_nsg_recovery_side(ctx: Context) -> Iterator[Finding]:
    estate = Estate.of(ctx)
    pairs = _pairs(ctx)
    done = _judged_for_nics(ctx)
    for key, vnet in sorted(scope.recovery_vnets(ctx).items()):
        wanted = _mirrored(vnet, pairs.get(key, ()))
        for subnet in vnet.subnets:
            if not subnet.network_security_group_id or subnet.name.lower() in INFRASTRUCTURE_SUBNETS:
                continue
            mine = [d for d in wanted if (ids.key(subnet.id), d.service.lower(), d.region) not in done]
            if not mine:
                continue
            nsg = estate.nsg(subnet.network_security_group_id, estate.book(vnet, subnet))
            outcome = evaluate(ctx, mine, [nsg], [subnet_source(vnet, subnet)])
            if outcome.failing or outcome.unknown:
                yield _recovery_finding(estate, vnet, subnet, pairs.get(key, set()), outcome)


def _recovery_finding(
    estate: Estate,
    vnet: VirtualNetwork,
    subnet: Subnet,
    pairs: set[tuple[str | None, str | None]],
    outcome: Outcome,
) -> Finding:
    shown = ", ".join(sorted(f"{s or '?'} -> {t or vnet.location}" for s, t in pairs))
    where = f"recovery subnet '{vnet.name}/{subnet.name}' (failover {shown})"
    evidence = {
        "subnet": subnet.id,
        "nsg": subnet.network_security_group_id,
        "pairs": [{"source_region": s, "target_region": t} for s, t in sorted(pairs, key=str)],
        "destinations": outcome.evidence,
        "unknown": outcome.unknown,
    }
    common = {
        "resource_id": subnet.id,
        "resource_type": SUBNET_TYPE,
        "region": vnet.location,
        "evidence": evidence,
    }
    nsg_id = subnet.network_security_group_id or ""
    return report(
        NSG_RECOVERY_SIDE,
        estate,
        outcome,
        common,
        lead=f"A VM failed over into {where} could not reach what re-protection needs",
        doubt=f"Cannot tell whether the NSG of {where} lets failed-over VMs re-protect",
        why="Re-protection back to the source region would fail until they are allowed.",
        check=f"Review the NSG's outbound rules (az network nsg rule list -g "
        f"{ids.resource_group_of(nsg_id) or '<rg>'} --nsg-name {ids.name_of(nsg_id)} --include-default "
        "-o table).",
    )
