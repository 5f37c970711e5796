"""NET-NSG-OUTBOUND: NSG rules that block the traffic replication needs from a workload's NIC.

Each protected or candidate NIC is judged: TCP 443 from each of its ip configurations to every
destination of DESIGN.md section 5 must pass the NIC's NSG and then its subnet's NSG (Azure's
order for outbound traffic; both must allow). The conditional destinations join the same single
evaluation only for the workloads they apply to (AzureKeyVault for an ADE VM), so a VM without
them costs nothing more. The evaluation and the wording are shared with
NET-NSG-RECOVERY-SIDE (`rules.common.nsg_evaluation`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from asr_audit import ids
from asr_audit.findings import Finding, RuleMeta, Severity
from asr_audit.net.nsg import CompiledNsg, Unread
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common import audited
from asr_audit.rules.common.destinations import conditional_destinations, workload_destinations
from asr_audit.rules.common.naming import NIC_TYPE
from asr_audit.rules.common.nsg_evaluation import (
    ABOUT_NETWORKING,
    REFERENCES,
    Estate,
    evaluate,
    fix_text,
    nic_sources,
    report,
)

NSG_OUTBOUND = RuleMeta(
    id="NET-NSG-OUTBOUND",
    title="NSG rules block outbound replication traffic",
    severity=Severity.HIGH,
    category="network",
    # protection_container_mappings: whether agent auto-update makes GuestAndHybridManagement a
    # destination (rules/common/destinations.auto_update_on).
    needs=(
        *audited.PLACEMENT_INPUTS,
        "network_security_groups",
        "route_tables",
        "service_tags",
        "protection_container_mappings",
    ),
    rationale=(
        "A replicating VM writes to the cache storage account in its own region, authenticates with "
        "Microsoft Entra ID, sends monitoring data to Event Hubs in the target region and talks to the "
        "Site Recovery service, all over HTTPS. An NSG rule that denies any of these (often a 'deny "
        "Internet' rule placed before the allows, or an allow for the wrong region's tag) stops "
        "replication from being enabled, or breaks it later with connectivity health errors."
    ),
    remediation=fix_text("source-region", "target-region"),
    microsoft_docs=ABOUT_NETWORKING,
    source=(
        "About networking in Azure VM disaster recovery (learn.microsoft.com, 2020-03-13 revision), "
        "Outbound connectivity using service tags (AzureKeyVault for ADE VMs and GuestAndHybridManagement "
        "for agent auto-update unchanged in the 2025-10-30 revision); "
        "Network security groups, How network security groups "
        "filter traffic (NIC then subnet for outbound); About networking in Azure to Azure replication "
        "(2018 seed), Outbound connectivity for IP address ranges"
    ),
    seed_value=(
        "NSG rules for IP ranges: every range of the source location, the Office 365 authentication and "
        "identity IPv4 ranges, and the Site Recovery service IPs of the target location"
    ),
    references=REFERENCES,
)


def _nic_nsgs(estate: Estate, p: audited.Placement) -> list[CompiledNsg | Unread]:
    """NIC NSG first, then the subnet's: the order Azure applies them to outbound traffic."""
    book = estate.book(p.vnet, p.subnet)
    refs = (p.nic.network_security_group_id, p.subnet.network_security_group_id)
    return [estate.nsg(ref, book) for ref in refs if ref]


@rule(NSG_OUTBOUND)
def check_nsg_outbound(ctx: Context) -> Iterator[Finding]:
    estate = Estate.of(ctx)
    per_nic = ctx.shared(
        "placements_per_nic", lambda: Counter(ids.key(p.nic.id) for p in audited.placements(ctx))
    )
    for p in audited.placements_in_scope(ctx):
        ctx.examined(NSG_OUTBOUND, p.nic.id, NIC_TYPE, p.nic.name, p.nic.location or p.vnet.location)
        nsgs = _nic_nsgs(estate, p)
        if not nsgs:
            continue  # no NSG on the NIC or its subnet: nothing filters the traffic
        extra = conditional_destinations(ctx, p.workload)
        wanted = [*workload_destinations(ctx, p.workload), *extra.destinations]
        outcome = evaluate(ctx, wanted, nsgs, nic_sources(p.nic, p.vnet, p.subnet))
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
            "destinations": outcome.evidence(),
            "unknown": outcome.unknown,
            "not_checked": extra.evidence(),
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
