"""ER-TARGET-CONNECTIVITY: on-premises reaches the source side, but nothing prepares the recovery
side to be reached after failover.

Site Recovery recreates VNets and subnets in the target region but never gateways or
connections, so the recovery VNet needs a gateway of its own, or a peered hub's it can use.
A recovery VNet or gateway listing the scan could not read turns the verdict into `unknown`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from asr_audit import ids
from asr_audit.findings import Finding, FindingStatus, RuleMeta, Severity
from asr_audit.inventory import InventoryIndex, VirtualNetwork
from asr_audit.net import connectivity
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common import audited
from asr_audit.rules.common.documents import SR_EXPRESSROUTE_DOC
from asr_audit.rules.common.gaps import gap_label, hybrid_gaps
from asr_audit.rules.common.hybrid import SourceSide, quoted_names, source_sides, vm_refs
from asr_audit.rules.common.naming import VNET_TYPE

TARGET_CONNECTIVITY = RuleMeta(
    id="ER-TARGET-CONNECTIVITY",
    title="Recovery network has no gateway to on-premises",
    severity=Severity.LOW,
    category="expressroute",
    needs=(*audited.PLACEMENT_INPUTS, "network_mappings", *connectivity.GATEWAY_INPUTS),
    rationale=(
        "The source VNet reaches on-premises over ExpressRoute or site-to-site VPN, so users and systems "
        "there talk to these VMs. Site Recovery recreates VNets and subnets in the target region but never "
        "gateways or connections; if the recovery VNet has no gateway (its own, or a peered hub's), the "
        "failed-over VMs are unreachable from on-premises until one is deployed, which can take 45 minutes "
        "or more in the middle of the disaster."
    ),
    remediation=(
        "Deploy a gateway for the recovery VNet before failover, in the VNet or in a hub it peers with "
        "(az network vnet subnet create -g <rg> --vnet-name <recovery-vnet> -n GatewaySubnet "
        "--address-prefixes <cidr>; az network vnet-gateway create -g <rg> -n <gateway> --vnet "
        "<recovery-vnet> --gateway-type ExpressRoute --sku ErGw1AZ, or --gateway-type Vpn --sku VpnGw2AZ "
        "--public-ip-addresses <pip> for site-to-site). With IP retention keep its connection disconnected "
        "until failover and create it in the recovery plan (az network vpn-connection create -g <rg> -n "
        "<connection> --vnet-gateway1 <gateway> --express-route-circuit2 <circuit-id>)."
    ),
    microsoft_docs=SR_EXPRESSROUTE_DOC,
    source=(
        "Integrate ExpressRoute with disaster recovery for Azure VMs (learn.microsoft.com, 2019-04-08 "
        "revision), General recommendations and Replicate Azure VMs when using ExpressRoute; About "
        "networking in Azure to Azure replication (2018 seed), Connectivity"
    ),
    seed_value=(
        "the 2018 seed asks for 'at least a site-to-site connection between your target Azure region and "
        "the on-premises datacenter'; a prepared gateway without a connection passes here, because IP "
        "retention keeps that connection down until failover"
    ),
    references=("https://learn.microsoft.com/en-us/azure/site-recovery/azure-to-azure-about-networking",),
)


def has_failover_gateway(index: InventoryIndex, vnet: VirtualNetwork) -> bool:
    """Whether the VNet can be connected to on-premises at failover without deploying a gateway: its
    own gateway, a peered hub's through gateway transit, or a hub prepared for it (gateway, transit
    allowed) that it does not use yet. No connection is required: IP retention keeps it down."""
    if index.gateways_by_vnet.get(ids.key(vnet.id)) or connectivity.uses_remote_gateway(vnet):
        return True
    for peering in vnet.peerings:
        hub = index.virtual_networks.get(ids.key(peering.remote_virtual_network_id))
        if not (hub and connectivity.connected(peering)):
            continue
        if index.gateways_by_vnet.get(ids.key(hub.id)) and connectivity.allows_transit(hub, vnet):
            return True
    return False


@dataclass(slots=True)
class RecoveryCase:
    """Source sides with hybrid reach failing over into one recovery VNet (or, in readiness mode
    without a chosen network, into one target region)."""

    reference: str  # recovery VNet id as ASR spells it, or the source VNet id for a region
    target_region: str | None
    vnet: VirtualNetwork | None = None
    sides: dict[str, SourceSide] = field(default_factory=dict)
    workloads: dict[str, audited.Workload] = field(default_factory=dict)

    def add(self, side: SourceSide, wl: audited.Workload) -> None:
        self.sides.setdefault(ids.key(side.vnet.id), side)
        self.workloads.setdefault(ids.key(wl.vm.id), wl)

    def reached(self, index: InventoryIndex) -> list[str]:
        """Names of the on-premises links, as the circuit spells its own name where it was read."""
        links = (a for s in self.sides.values() for a in s.reach.attachments)
        circuits = index.express_route_circuits
        return list(
            dict.fromkeys(
                c.name if (c := circuits.get(ids.key(a.target_id))) else ids.name_of(a.target_id)
                for a in links
            )
        )


def _recovery_cases(
    ctx: Context, sides: Sequence[SourceSide]
) -> tuple[list[RecoveryCase], list[RecoveryCase]]:
    """(cases per chosen recovery VNet, cases per (source VNet, target region) with none chosen)."""
    chosen: dict[str, RecoveryCase] = {}
    regional: dict[tuple[str, str], RecoveryCase] = {}
    for side in sides:
        if not side.hybrid:
            continue
        for wl in side.workloads.values():
            refs = audited.recovery_network_refs(ctx, side.vnet, wl)
            for ref in refs:
                case = chosen.setdefault(ids.key(ref), RecoveryCase(ref, wl.target_region))
                case.vnet = ctx.index.virtual_networks.get(ids.key(ref))
                case.add(side, wl)
            if not refs and wl.target_region:
                key = (ids.key(side.vnet.id), wl.target_region)
                regional.setdefault(key, RecoveryCase(side.vnet.id, wl.target_region, side.vnet)).add(
                    side, wl
                )
    return [chosen[k] for k in sorted(chosen)], [regional[k] for k in sorted(regional)]


def _target_message(index: InventoryIndex, case: RecoveryCase, where: str) -> str:
    links = quoted_names(case.reached(index))
    sources = quoted_names(s.vnet.name for s in case.sides.values())
    vms = quoted_names(w.vm.name for w in case.workloads.values())
    reach = (
        f"reach on-premises through {links}"
        if links
        else "may reach on-premises through a hub that was not read"
    )
    return (
        f"Source VNet(s) {sources} {reach}, but {where} has no gateway, nor a peered hub gateway it can use: "
        f"after failover {vms} cannot be reached from on-premises, and Site Recovery does not create "
        "gateways. Deploy one before failover (with IP retention, leave its connection down until failover)."
    )


def _target_evidence(case: RecoveryCase, **extra: Any) -> dict[str, Any]:
    return {
        "source_vnets": [s.vnet.id for s in case.sides.values()],
        "on_premises_links": [a.to_json() for s in case.sides.values() for a in s.reach.attachments],
        "unknown": [u for s in case.sides.values() for u in s.reach.unknown],
        "workloads": vm_refs(case.workloads.values()),
        "target_region": case.target_region,
        **extra,
    }


def _status(case: RecoveryCase, unread: list[str]) -> FindingStatus:
    """`fail` when some source side surely reaches on-premises and the recovery side's gateways were
    all read; `unknown` when only an unread hub may reach it, or a gateway nobody saw may exist."""
    surely = any(s.reach.attachments for s in case.sides.values()) and not unread
    return FindingStatus.FAIL if surely else FindingStatus.UNKNOWN


def _unread_gateways(ctx: Context, vnets: Iterable[VirtualNetwork]) -> list[str]:
    """The gateway listings that failed where the recovery side's gateway would be."""
    return [gap_label(g) for g in hybrid_gaps(ctx, vnets, connectivity.GATEWAY_PRESENCE)]


def _maybe(unread: list[str]) -> str:
    return f" It may have one the scan did not see: {', '.join(unread)} could not be read." if unread else ""


@rule(TARGET_CONNECTIVITY)
def check_target_connectivity(ctx: Context) -> Iterator[Finding]:
    inventory = ctx.inventory
    index = ctx.index
    chosen, regional = _recovery_cases(ctx, source_sides(ctx))
    for case in chosen:
        if case.vnet is None:
            reason = connectivity.unread_reason(index, case.reference, "recovery VNet")
            yield TARGET_CONNECTIVITY.finding(
                resource_id=case.reference,
                resource_type=VNET_TYPE,
                region=case.target_region,
                status=FindingStatus.UNKNOWN,
                message=f"Cannot tell whether the recovery network has a gateway to on-premises: {reason}.",
                evidence=_target_evidence(case, unknown_recovery_vnet=reason),
            )
        elif has_failover_gateway(index, case.vnet):
            ctx.examined(TARGET_CONNECTIVITY, case.vnet.id, VNET_TYPE, region=case.vnet.location)
        else:
            where = f"recovery VNet '{case.vnet.name}' ({case.vnet.location})"
            unread = _unread_gateways(ctx, [case.vnet])
            yield TARGET_CONNECTIVITY.finding(
                resource_id=case.vnet.id,
                resource_type=VNET_TYPE,
                region=case.vnet.location,
                status=_status(case, unread),
                message=_target_message(index, case, where) + _maybe(unread),
                evidence=_target_evidence(case, recovery_vnet=case.vnet.id, unread_gateway_data=unread),
            )
    # Many cases share a target region: its VNets, gateway and gaps are looked at once.
    by_region: dict[str | None, list[VirtualNetwork]] = {}
    for vnet in inventory.virtual_networks:
        by_region.setdefault(ids.region(vnet.location), []).append(vnet)
    judged: dict[str | None, list[str] | None] = {}  # region -> unread gateway lists; None: has a gateway
    for case in regional:
        candidates = by_region.get(case.target_region, [])
        if case.target_region not in judged:
            covered = any(has_failover_gateway(index, v) for v in candidates)
            judged[case.target_region] = None if covered else _unread_gateways(ctx, candidates)
        missing = judged[case.target_region]
        if missing is None:
            continue
        where = (
            f"target region {case.target_region} (no recovery network chosen yet; {len(candidates)} VNet(s))"
        )
        yield TARGET_CONNECTIVITY.finding(
            resource_id=case.reference,
            resource_type=VNET_TYPE,
            region=case.target_region,
            key=f"target:{case.target_region}",
            status=_status(case, missing),
            message=_target_message(index, case, where) + _maybe(missing),
            evidence=_target_evidence(
                case, target_region_vnets=[v.id for v in candidates], unread_gateway_data=missing
            ),
        )
