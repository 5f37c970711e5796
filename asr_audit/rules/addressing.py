"""NET-ADDRESS-OVERLAP: source and recovery VNets whose address spaces overlap.

Overlap is what IP retention needs, and harmless while only one side is connected to
on-premises. It breaks routing when both VNets are connected to the same ExpressRoute circuit
or VPN at the same time: on-premises then learns the same range from two places. The pair is
reported high in that case, info otherwise (a reminder to keep the target connection down
until failover), and `unknown` at high when a hub or circuit path runs through something unread,
or the scan could not read the gateway, connection or circuit data of either side's subscription:
missing data may hide the shared link, so it never turns a high into an info.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from asr_audit import ids
from asr_audit.findings import Finding, FindingStatus, RuleMeta, Severity
from asr_audit.inventory import VirtualNetwork
from asr_audit.net import connectivity
from asr_audit.net.connectivity import Reach
from asr_audit.net.prefixes import Overlap, overlapping
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common import audited
from asr_audit.rules.common.gaps import gap_label, hybrid_gaps
from asr_audit.rules.common.naming import VNET_TYPE

# What tells whether a VNet is connected to on-premises: its gateways, their connections, the circuits.
HYBRID_INPUTS = (*connectivity.GATEWAY_INPUTS, "express_route_circuits")


ADDRESS_OVERLAP = RuleMeta(
    id="NET-ADDRESS-OVERLAP",
    title="Source and recovery VNets have overlapping address space",
    severity=Severity.HIGH,
    category="network",
    needs=(*audited.PLACEMENT_INPUTS, *audited.RECOVERY_VNET_INPUTS, *HYBRID_INPUTS),
    other_severities=(Severity.INFO,),
    rationale=(
        "An ExpressRoute circuit (or a VPN to one on-premises site) cannot serve two virtual networks "
        "with the same address ranges at the same time. Recovery VNets that reuse the source ranges "
        "(to retain IP addresses on failover) must stay disconnected from on-premises until failover; "
        "if both are connected, on-premises receives the same prefixes from two VNets and traffic to "
        "one of them is misrouted."
    ),
    remediation=(
        "Either give the recovery VNet its own address space (az network vnet update -g <rg> -n <vnet> "
        "--address-prefixes <non-overlapping-cidr>; portal: virtual network > Address space), or keep IP "
        "retention and remove the recovery side's connection to the shared circuit/VPN until failover "
        "(az network vpn-connection delete -g <rg> -n <connection>), re-creating it in the failover "
        "runbook (az network vpn-connection create -g <rg> -n <connection> --vnet-gateway1 <gateway> "
        "--express-route-circuit2 <circuit-id>) after disconnecting the source VNet."
    ),
    microsoft_docs="https://learn.microsoft.com/en-us/azure/site-recovery/azure-vm-disaster-recovery-with-expressroute",
    source=(
        "Integrate ExpressRoute with disaster recovery for Azure VMs (learn.microsoft.com, 2019-04-08 "
        "revision), Access with a single circuit; About networking in Azure to Azure replication "
        "(2018 seed), ExpressRoute configuration"
    ),
    references=("https://learn.microsoft.com/en-us/azure/site-recovery/azure-to-azure-about-networking",),
)


def _names(targets: Iterable[str]) -> str:
    return ", ".join(f"'{ids.name_of(t)}'" for t in targets)


def _ranges(found: list[Overlap]) -> str:
    return ", ".join(dict.fromkeys(str(o.range) for o in found))


@dataclass(frozen=True, slots=True)
class Verdict:
    status: FindingStatus
    severity: Severity
    shared: list[str]  # ids of the circuits / local network gateways both sides reach
    unknown: list[str]  # why a path could not be followed
    both_connected: bool


def judge(src: Reach, rec: Reach, unread: list[str] | None = None) -> Verdict:
    """High when both reach one link; `unknown` (high) where an unread path could make both
    sides reach something (with one side reaching nothing, the pair cannot clash), or where
    `unread` names hybrid data the scan lacks for either side (any side may then have a link
    nobody saw); else info."""
    src_targets, rec_targets = src.targets(), rec.targets()
    shared = [src_targets[k].target_id for k in sorted(src_targets.keys() & rec_targets.keys())]
    unknown = src.unknown + rec.unknown + list(unread or ())
    both = bool(src.attachments and rec.attachments)
    if shared:
        return Verdict(FindingStatus.FAIL, Severity.HIGH, shared, unknown, both)
    if unread:
        return Verdict(FindingStatus.UNKNOWN, Severity.HIGH, [], unknown, both)
    src_may = bool(src.attachments or src.unknown)
    rec_may = bool(rec.attachments or rec.unknown)
    if (src.unknown and rec_may) or (rec.unknown and src_may):
        return Verdict(FindingStatus.UNKNOWN, Severity.HIGH, [], unknown, both)
    return Verdict(FindingStatus.FAIL, Severity.INFO, [], unknown, both)


def _message(src: VirtualNetwork, rec: VirtualNetwork, found: list[Overlap], verdict: Verdict) -> str:
    head = f"Source VNet '{src.name}' and recovery VNet '{rec.name}' overlap ({_ranges(found)})"
    if verdict.shared:
        return (
            f"{head} and are both connected to {_names(verdict.shared)} at the same time: on-premises "
            "learns the same ranges from both VNets and traffic to one of them is misrouted. Give the "
            "recovery VNet its own address space, or remove its connection until failover."
        )
    if verdict.status is FindingStatus.UNKNOWN:
        return (
            f"{head}; whether both reach the same ExpressRoute circuit or VPN cannot be checked: "
            f"{'; '.join(verdict.unknown)}. Scan (or grant read access to) what is missing, or make sure "
            "the recovery side stays disconnected from on-premises until failover."
        )
    extra = (
        " Both are connected to on-premises through different links; if those lead to the same network "
        "the ranges clash there too."
        if verdict.both_connected
        else ""
    )
    return (
        f"{head}. This suits IP retention only while the recovery VNet stays disconnected from "
        f"on-premises: keep its ExpressRoute/VPN connection down until failover.{extra}"
    )


def unread_hybrid_data(ctx: Context, *vnets: VirtualNetwork) -> list[str]:
    """Why the VNets' links to on-premises may be incomplete: gaps in the hybrid data of the
    subscriptions their reach depends on."""
    return [
        f"the scan could not read {gap_label(g)} in subscription {g.subscription_id}"
        for g in hybrid_gaps(ctx, vnets, HYBRID_INPUTS)
    ]


@rule(ADDRESS_OVERLAP)
def check_address_overlap(ctx: Context) -> Iterator[Finding]:
    index = ctx.index
    reaches: dict[str, Reach] = {}

    def reach(vnet: VirtualNetwork) -> Reach:
        key = ids.key(vnet.id)
        if key not in reaches:
            reaches[key] = connectivity.hybrid_reach(index, vnet)
        return reaches[key]

    sources, recovery = audited.source_vnets(ctx), audited.recovery_vnets(ctx)
    if recovery:
        for src in sources.values():
            if src.address_prefixes:
                ctx.examined(ADDRESS_OVERLAP, src.id, VNET_TYPE, region=src.location)
    # One sweep over every source and recovery prefix at once: comparing VNet by VNet was
    # quadratic in the VNets of a region pair.
    pairs = overlapping(
        {k: v.address_prefixes for k, v in sources.items()},
        {k: v.address_prefixes for k, v in recovery.items()},
    )
    for (src_key, rec_key), found in sorted(pairs.items(), key=lambda item: item[0]):
        if rec_key == src_key:
            continue
        src, rec = sources[src_key], recovery[rec_key]
        pair = (reach(src), reach(rec))
        verdict = judge(*pair, unread_hybrid_data(ctx, src, rec))
        yield ADDRESS_OVERLAP.finding(
            resource_id=src.id,
            resource_type=VNET_TYPE,
            region=src.location,
            key=rec_key,
            status=verdict.status,
            severity=verdict.severity,
            message=_message(src, rec, found, verdict),
            evidence={
                "source_vnet": src.id,
                "recovery_vnet": rec.id,
                "overlaps": [
                    {"source_prefix": str(o.a), "recovery_prefix": str(o.b), "overlap": str(o.range)}
                    for o in found
                ],
                "shared_connections": verdict.shared,
                "source_connections": [a.to_json() for a in pair[0].attachments],
                "recovery_connections": [a.to_json() for a in pair[1].attachments],
                "unknown": verdict.unknown,
            },
        )
