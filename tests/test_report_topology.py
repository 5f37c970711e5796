"""The DR dependency graph: what it holds, where findings land on it, and collapsing large estates."""

from __future__ import annotations

import dataclasses

from builders import (
    OTHER_SUBSCRIPTION,
    a2a_item,
    inventory,
    network_mapping,
    resource_id,
    storage_account,
    subnet_id,
    vault,
    virtual_network,
    vm_with_nic,
)
from demo_report import PROD, demo_report

from asr_audit.access.clouds import CLOUDS
from asr_audit.app import runner
from asr_audit.app.masking import MASK, mask_report
from asr_audit.findings import Finding, Severity
from asr_audit.inventory import Connection, ExpressRouteCircuit, Inventory, Peering, VirtualNetworkGateway
from asr_audit.report import topology
from asr_audit.report.estate import DrScope, grouping_sentence
from asr_audit.report.topology import (
    CACHE,
    CIRCUIT,
    FAILOVER,
    LINK,
    PEERING,
    RECOVERY,
    SITE,
    SOURCE,
    STAGING,
    Topology,
    collapse,
)
from asr_audit.rules.base import Context


def _estate() -> tuple[Inventory, dict[str, str]]:
    """Source spoke peered with a hub whose ExpressRoute gateway reaches a circuit and a VPN site;
    a VM replicating to a recovery VNet, mapped, through a cache account and a vault."""
    rsv = vault("rsv-west", "westus")
    spoke = virtual_network("vnet-spoke", "eastus")
    hub = virtual_network("vnet-hub", "eastus", prefixes=("10.99.0.0/16",), subscription=OTHER_SUBSCRIPTION)
    dst = virtual_network("vnet-dr", "westus", prefixes=("10.50.0.0/16",))
    spoke.peerings = [
        Peering(
            id=f"{spoke.id}/virtualNetworkPeerings/to-hub", name="to-hub", remote_virtual_network_id=hub.id
        )
    ]
    other = resource_id(
        "Microsoft.Network/virtualNetworks", "vnet-other-spoke", subscription=OTHER_SUBSCRIPTION
    )
    hub.peerings = [
        Peering(
            f"{hub.id}/virtualNetworkPeerings/to-spoke", "to-spoke", spoke.id, peering_state="Disconnected"
        ),
        Peering(f"{hub.id}/virtualNetworkPeerings/to-other", "to-other", other),  # no workload there
    ]
    gw_id = resource_id("Microsoft.Network/virtualNetworkGateways", "ergw", subscription=OTHER_SUBSCRIPTION)
    circuit_id = resource_id(
        "Microsoft.Network/expressRouteCircuits", "er-wdc", subscription=OTHER_SUBSCRIPTION
    )
    site_id = resource_id("Microsoft.Network/localNetworkGateways", "branch", subscription=OTHER_SUBSCRIPTION)
    gateway = VirtualNetworkGateway(
        gw_id, "ergw", "eastus", gateway_type="ExpressRoute", virtual_network_id=hub.id
    )
    circuit = ExpressRouteCircuit(
        circuit_id, "er-wdc", "eastus", peering_location="Washington DC", sku_tier="Premium"
    )
    to_circuit = Connection(
        f"{gw_id}-c1", "c1", "eastus", virtual_network_gateway1_id=gw_id, peer_id=circuit_id
    )
    to_site = Connection(
        f"{gw_id}-c2", "c2", "eastus", virtual_network_gateway1_id=gw_id, local_network_gateway2_id=site_id
    )
    cache = storage_account("stcache", "eastus")
    vm, nic = vm_with_nic("vm1", "eastus", subnet_id(spoke))
    item = a2a_item(rsv, vm, recovery_network_id=dst.id, cache=[cache.id])
    mapping = network_mapping(
        rsv,
        "m1",
        primary_network_id=spoke.id,
        recovery_network_id=dst.id,
        primary_location="eastus",
        recovery_location="westus",
    )
    inv = inventory(
        rsv, spoke, hub, dst, gateway, circuit, to_circuit, to_site, cache, vm, nic, item, mapping
    )
    ids = {
        "spoke": spoke.id,
        "hub": hub.id,
        "dr": dst.id,
        "vault": rsv.id,
        "circuit": circuit_id,
        "site": site_id,
        "nic": nic.id,
        "item": item.id,
        "mapping": mapping.id,
        "peering": spoke.peerings[0].id,
        "gateway": gw_id,
        "cache": cache.id,
    }
    return inv, ids


def _graph(findings: list[Finding] | None = None) -> tuple[Topology, dict[str, str]]:
    inv, ids = _estate()
    report = runner.audit(inv, cloud=CLOUDS["AzureCloud"], rules=[])
    scope = runner.dr_scope(Context(inv))  # the scope the run hands over
    assert report.topology == topology.build(inv, scope, [])
    return topology.build(inv, scope, findings or []), ids


def _joined(topo: Topology) -> bool:
    """Every edge ends at nodes the graph has."""
    drawn = {n.id for n in topo.nodes}
    return all(e.source in drawn and e.target in drawn for e in topo.edges)


def _node(topo: Topology, resource: str) -> topology.Node:
    return next(n for n in topo.nodes if n.id == resource.lower())


def _finding(resource: str, severity: Severity, *, rule: str = "NET-X", suppressed: bool = False) -> Finding:
    f = Finding(rule, "t", severity, "fail", PROD, resource, None, None, f"on {resource}", "fix", None)
    f.suppressed = suppressed
    return f


def test_nodes_are_what_dr_depends_on_placed_by_side() -> None:
    topo, ids = _graph()
    assert topo.pairs == (("eastus", "westus"),)
    placed = {n.name: (n.kind, n.side) for n in topo.nodes}
    assert placed == {
        "vnet-spoke": ("vnet", SOURCE),
        "vnet-dr": ("vnet", RECOVERY),
        "rsv-west": ("vault", RECOVERY),
        "stcache": ("cache", SOURCE),
        "vnet-hub": ("vnet", SOURCE),  # peered with the source VNet: its side
        "ergw": ("gateway", SOURCE),
        "er-wdc": (CIRCUIT, LINK),
        "branch": (SITE, LINK),
    }
    assert _node(topo, ids["spoke"]).detail == "1 VM, 10.0.0.0/16"
    assert _node(topo, ids["circuit"]).detail == "Washington DC, Premium"
    assert _node(topo, ids["hub"]).subscription_id == OTHER_SUBSCRIPTION


def test_edges_merge_both_directions_and_say_what_they_carry() -> None:
    topo, ids = _graph()
    assert _joined(topo)  # the hub's other spoke is neither drawn nor linked to
    kinds = sorted(e.kind for e in topo.edges)
    assert kinds == ["attachment", "connection", "connection", FAILOVER, PEERING, "staging"]
    failover = next(e for e in topo.edges if e.kind == FAILOVER)
    assert (failover.source, failover.target, failover.label) == (
        ids["spoke"].lower(),
        ids["dr"].lower(),
        "1 VM, mapped",
    )
    peering = next(e for e in topo.edges if e.kind == PEERING)
    assert peering.label == "Disconnected"  # the hub's side of the one peering edge


def test_findings_land_on_the_deepest_node_or_edge_that_owns_them() -> None:
    _, ids = _graph()
    on = {
        "subnet": _finding(ids["spoke"] + "/subnets/default", Severity.MEDIUM),
        "nic": _finding(ids["nic"], Severity.HIGH),
        "item": _finding(ids["item"], Severity.LOW),
        "mapping": _finding(ids["mapping"], Severity.LOW, rule="ASR-NETMAP"),
        "peering": _finding(ids["peering"], Severity.CRITICAL),
        "subscription": _finding(f"/subscriptions/{PROD}", Severity.CRITICAL),
        "suppressed": _finding(ids["circuit"], Severity.CRITICAL, suppressed=True),
    }
    topo, _ = _graph(list(on.values()))
    spoke = _node(topo, ids["spoke"])
    assert spoke.severity is Severity.HIGH  # the NIC's, worst of the two on the VNet
    assert spoke.findings == (on["nic"].fingerprint, on["subnet"].fingerprint)
    assert _node(topo, ids["vault"]).findings == (on["item"].fingerprint,)
    edges = {e.kind: e for e in topo.edges}
    assert edges[FAILOVER].findings == (on["mapping"].fingerprint,)  # not the vault the mapping is under
    assert edges[PEERING].severity is Severity.CRITICAL
    assert _node(topo, ids["circuit"]).severity is None  # suppressed findings are not drawn
    drawn = {fp for part in (*topo.nodes, *topo.edges) for fp in part.findings}
    assert on["subscription"].fingerprint not in drawn


def test_empty_scope_draws_nothing() -> None:
    inv, _ = _estate()
    assert topology.build(inv, DrScope()) == Topology()


def test_demo_shows_the_circuit_both_sides_share() -> None:
    topo = demo_report().topology
    assert topo is not None and _joined(topo)
    by_name = {n.name: n for n in topo.nodes}
    wdc = by_name["er-fabrikam-wdc"]
    linked = {
        by_name_id.name
        for e in topo.edges
        if wdc.id in (e.source, e.target)
        for by_name_id in topo.nodes
        if by_name_id.id in (e.source, e.target) and by_name_id.id != wdc.id
    }
    assert linked == {"ergw-hub-eus", "ergw-prod-wus2"}  # NET-ADDRESS-OVERLAP's story
    assert (by_name["ergw-hub-eus"].side, by_name["ergw-prod-wus2"].side) == (SOURCE, RECOVERY)
    assert by_name["vnet-prod-eus"].severity is Severity.HIGH
    assert by_name["vnet-dr-cus"].side == RECOVERY and by_name["vnet-dr-cus"].region == "centralus"
    assert by_name["rsv-fabrikam-dr-wus2"].band == 0  # the busiest pair, not the first item's


def test_masking_rewrites_ids_and_keeps_finding_links() -> None:
    report = demo_report()
    masked = mask_report(report)
    assert masked.topology is not None and report.topology is not None
    assert all(PROD not in n.id for n in masked.topology.nodes)
    assert any(n.id.startswith(f"/subscriptions/{MASK.lower()}") for n in masked.topology.nodes)
    assert [n.findings for n in masked.topology.nodes] == [n.findings for n in report.topology.nodes]
    anchors = {f.fingerprint for f in masked.findings}
    assert {fp for n in masked.topology.nodes for fp in n.findings} <= anchors


# --- collapsing --------------------------------------------------------------------------------------


def _wide(groups: int, per_group: int) -> Topology:
    """`groups` resource groups of `per_group` source VNets, each VNet failing over to one recovery VNet
    and peered with the next one in its group; the first VNet of each group carries a finding."""
    nodes, edges = [], []
    target = topology.Node("dr", "vnet", "vnet-dr", RECOVERY, 0, region="westus")
    for g in range(groups):
        for i in range(per_group):
            rid = resource_id("Microsoft.Network/virtualNetworks", f"v{g}-{i}", group=f"rg{g}")
            severity = Severity.HIGH if i == 0 and g == 0 else (Severity.LOW if i == 1 else None)
            nodes.append(
                topology.Node(
                    rid.lower(),
                    "vnet",
                    f"v{g}-{i}",
                    SOURCE,
                    0,
                    region="eastus",
                    subscription_id=PROD,
                    resource_group=f"rg{g}",
                    severity=severity,
                    findings=(f"fp{g}-{i}",) if severity else (),
                )
            )
            edges.append(topology.Edge(rid.lower(), "dr", FAILOVER, "1 VM"))
            if i:
                edges.append(
                    topology.Edge(
                        nodes[-2].id,
                        rid.lower(),
                        PEERING,
                        findings=(f"peer{g}-{i}",),
                        severity=Severity.CRITICAL,
                    )
                )
    return Topology(pairs=(("eastus", "westus"),), nodes=(*nodes, target), edges=tuple(edges))


def test_small_estates_are_drawn_as_they_are() -> None:
    wide = _wide(groups=2, per_group=3)
    assert collapse(wide, limit=10) is wide


def test_past_the_limit_vnets_group_by_resource_group() -> None:
    collapsed = collapse(_wide(groups=3, per_group=5), limit=10)
    assert collapsed.grouped_by == (("VNets", "resource group"),) and _joined(collapsed)
    groups = [n for n in collapsed.nodes if n.members > 1]
    assert sorted((g.name, g.members, g.detail) for g in groups) == [
        (f"rg{g}", 5, "5 VNets") for g in range(3)
    ]
    first = next(g for g in groups if g.name == "rg0")
    assert first.severity is Severity.CRITICAL  # from the peerings inside it, which are not drawn
    assert "fp0-0" in first.findings and "peer0-1" in first.findings
    failovers = [e for e in collapsed.edges if e.kind == FAILOVER]
    assert len(failovers) == 3 and {e.label for e in failovers} == {"1 VM"}
    assert not [e for e in collapsed.edges if e.kind == PEERING]


def test_coarser_groups_when_resource_groups_are_still_too_many() -> None:
    collapsed = collapse(_wide(groups=12, per_group=2), limit=10)
    assert collapsed.grouped_by == (("VNets", "subscription"),)
    (group,) = [n for n in collapsed.nodes if n.members > 1]
    assert (group.name, group.members, group.severity) == (PROD, 24, Severity.CRITICAL)
    (failover,) = [e for e in collapsed.edges if e.kind == FAILOVER]
    assert failover.label == "1 VM"


def test_merged_edges_with_different_labels_count_their_links() -> None:
    wide = _wide(groups=2, per_group=6)
    relabelled = dataclasses.replace(
        wide,
        edges=tuple(
            dataclasses.replace(e, label=f"{i} VMs") if e.kind == FAILOVER else e
            for i, e in enumerate(wide.edges)
        ),
    )
    collapsed = collapse(relabelled, limit=4)
    assert {e.label for e in collapsed.edges if e.kind == FAILOVER} == {"6 links"}


def test_cache_accounts_past_the_limit_are_grouped_too() -> None:
    caches = tuple(
        topology.Node(
            f"c{i}",
            CACHE,
            f"st{i}",
            SOURCE,
            0,
            subscription_id=PROD,
            region="eastus",
            resource_group="rg-asr",
        )
        for i in range(12)
    )
    rsv = topology.Node("v", "vault", "rsv", RECOVERY, 0)
    staging = tuple(topology.Edge(f"c{i}", "v", STAGING) for i in range(12))
    collapsed = collapse(Topology((("eastus", "westus"),), (*caches, rsv), staging), limit=10)
    assert collapsed.grouped_by == (("cache accounts", "resource group"),)
    assert [(n.kind, n.name, n.detail) for n in collapsed.nodes] == [
        ("vault", "rsv", ""),
        (CACHE, "rg-asr", "12 cache accounts"),
    ]
    (link,) = collapsed.edges
    assert (link.kind, link.target) == (STAGING, "v")
    assert (
        grouping_sentence(collapsed.grouped_by, 10)
        == "Past 10 of them, the picture draws cache accounts as one node per resource group."
    )


def test_readiness_draws_the_target_vnets_and_the_vault_named_with_flag() -> None:
    src = virtual_network("vnet-src", "eastus")
    dst = virtual_network("vnet-dst", "westus", prefixes=("10.9.0.0/16",))
    vm, nic = vm_with_nic("vm1", "eastus", subnet_id(src))
    chosen, other = vault("rsv-west", "westus"), vault("rsv-unused", "westus")
    inv = inventory(src, dst, vm, nic, chosen, other)
    report = runner.audit(
        inv, cloud=CLOUDS["AzureCloud"], source_region="eastus", target_region="westus", vaults=["RSV-West"]
    )
    assert report.topology is not None
    placed = {(n.name, n.side) for n in report.topology.nodes}
    assert placed == {("vnet-src", SOURCE), ("vnet-dst", RECOVERY), ("rsv-west", RECOVERY)}
    assert _node(report.topology, src.id).detail == "1 VM, 10.0.0.0/16"
