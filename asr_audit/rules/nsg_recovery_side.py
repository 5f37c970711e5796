"""NET-NSG-RECOVERY-SIDE: recovery subnet NSGs that would block re-protection after failover.

The subnets of the recovery VNets are judged for a VM placed there after failover (no NIC exists
yet, so the subnet's NSG and any address of the subnet), with the destinations mirrored:
re-protection replicates from the target region back to the source. What NET-NSG-OUTBOUND already
judged for a NIC in the same subnet is not judged again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from asr_audit import ids
from asr_audit.findings import Finding, RuleMeta, Severity
from asr_audit.inventory import Subnet, VirtualNetwork
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common import audited
from asr_audit.rules.common.destinations import Destination, required_destinations, workload_destinations
from asr_audit.rules.common.naming import SUBNET_TYPE
from asr_audit.rules.common.nsg_evaluation import (
    ABOUT_NETWORKING,
    INFRASTRUCTURE_SUBNETS,
    REFERENCES,
    Estate,
    Outcome,
    evaluate,
    fix_text,
    report,
    subnet_source,
)

NSG_RECOVERY_SIDE = RuleMeta(
    id="NET-NSG-RECOVERY-SIDE",
    title="Recovery subnet NSG would block re-protection after failover",
    severity=Severity.MEDIUM,
    category="network",
    needs=(
        *audited.PLACEMENT_INPUTS,
        *audited.RECOVERY_VNET_INPUTS,
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
    remediation=fix_text("target-region", "source-region"),
    microsoft_docs=ABOUT_NETWORKING,
    source=(
        "About networking in Azure VM disaster recovery (learn.microsoft.com, 2020-03-13 revision), "
        "Example NSG configuration; About networking in Azure to Azure replication (2018 seed), NSG rules "
        "on the target network security group: required so that replication can be enabled from the "
        "target region to the source region post-failover"
    ),
    references=REFERENCES,
)


def _pairs(ctx: Context) -> dict[str, set[tuple[str | None, str | None]]]:
    """Recovery VNet key -> the (source, target) region pairs of what fails over into it."""
    out: dict[str, set[tuple[str | None, str | None]]] = {}
    for w in audited.workloads(ctx):
        if w.item and w.item.recovery_network_id:
            out.setdefault(ids.key(w.item.recovery_network_id), set()).add((w.source_region, w.target_region))
    for m in audited.a2a_mappings(ctx):
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
        for p in audited.placements(ctx)
        for d in workload_destinations(ctx, p.workload)
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
    pairs = ctx.shared("recovery_pairs", lambda: _pairs(ctx))
    done = ctx.shared("judged_for_nics", lambda: _judged_for_nics(ctx))
    for vnet in ctx.in_scope(audited.recovery_vnets(ctx)):
        key = ids.key(vnet.id)
        wanted = _mirrored(vnet, pairs.get(key, ()))
        for subnet in vnet.subnets:
            if subnet.name.lower() in INFRASTRUCTURE_SUBNETS:
                continue
            ctx.examined(
                NSG_RECOVERY_SIDE, subnet.id, SUBNET_TYPE, f"{vnet.name}/{subnet.name}", vnet.location
            )
            if not subnet.network_security_group_id:
                continue  # no NSG: nothing filters a failed-over VM's traffic
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
        "destinations": outcome.evidence(),
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
