"""What disaster recovery depends on, as a graph: the data behind the reports' picture (issue 12).

Nodes are the VNets workloads run in and fail over into (with the hubs they are peered with),
their gateways, the ExpressRoute circuits and VPN sites those connect to, the vaults and the cache
storage accounts; edges are peerings, gateway attachments, connections, failover paths (chosen on
replicated items or set by network mappings) and cache staging. Each node and edge carries the
worst active finding on it, so a picture can draw a broken dependency in its severity's colour and
link it to the finding (`findings` holds fingerprints, which masking leaves alone).

A finding is on the deepest node or edge whose resource id is its own or an ancestor of it: a
subnet's finding lands on its VNet, a replicated item's on its vault, a peering's on the peering
edge; a NIC's on the VNet its subnet is in, since NIC findings are about its traffic. Findings on
whole subscriptions or on VMs are not drawn.

Each node sits in the band of one region pair (`Topology.pairs`, the busiest first) and on one
side: `source`, `recovery`, or `link` for the circuits and sites in between; the renderers lay
bands and sides out. Nothing here renders.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from asr_audit import ids
from asr_audit.findings import Finding, Severity
from asr_audit.inventory import Inventory, Peering, VirtualNetwork
from asr_audit.report.estate import DrScope, pair_of

SOURCE, RECOVERY, LINK = "source", "recovery", "link"
VNET, GATEWAY, CIRCUIT, SITE, VAULT, CACHE = "vnet", "gateway", "circuit", "site", "vault", "cache"
PEERING, ATTACHMENT, CONNECTION, FAILOVER, STAGING = (
    "peering",
    "attachment",
    "connection",
    "failover",
    "staging",
)

# Past this many nodes of a kind (VNets, cache accounts, gateways...) a picture stops being
# readable, and Mermaid's default limits on text and links are near: `collapse` then draws one
# node per group of them.
DEFAULT_LIMIT = 40

# One palette for every picture, so the Markdown diagram and the HTML one agree: (stroke, fill).
SEVERITY_COLOURS: dict[Severity, tuple[str, str]] = {
    Severity.CRITICAL: ("#7a0916", "#fbd5d8"),
    Severity.HIGH: ("#b42318", "#fee4e2"),
    Severity.MEDIUM: ("#b54708", "#fef0c7"),
    Severity.LOW: ("#175cd3", "#d1e9ff"),
    Severity.INFO: ("#475467", "#eaecf0"),
}


# Left to right: what a failover leaves, what it crosses, what it lands in.
_LAYERS = {
    (SOURCE, False): 0,
    (SOURCE, True): 1,
    (LINK, False): 2,
    (LINK, True): 2,
    (RECOVERY, True): 3,
    (RECOVERY, False): 4,
}


def layer(node: Node) -> int:
    """The column a layered picture draws `node` in: source VNets, caches and groups (0), source
    gateways (1), circuits and sites (2), recovery gateways (3), recovery VNets and vaults (4)."""
    return _LAYERS[(node.side, node.kind == GATEWAY)]


@dataclass(frozen=True, slots=True)
class Node:
    id: str  # the case-folded ARM id (`ids.key`), or `group:...` for a collapsed group
    kind: str
    name: str
    side: str
    band: int  # index into `Topology.pairs`
    resource_id: str | None = None  # as ARM spells it; None for a group
    region: str | None = None
    subscription_id: str | None = None
    resource_group: str | None = None
    detail: str = ""
    severity: Severity | None = None
    findings: tuple[str, ...] = ()  # fingerprints of the active findings on it, worst first
    members: int = 1  # more than one: a group `collapse` made of nodes of this kind


_KIND_WORDS = {
    VNET: "VNet",
    GATEWAY: "gateway",
    CIRCUIT: "ExpressRoute circuit",
    SITE: "VPN site",
    VAULT: "vault",
    CACHE: "cache",
}


def describe(node: Node) -> tuple[str, str]:
    """The two lines a picture writes under a node's name: kind and region, then the detail
    (`ExpressRoute gateway, eastus`; `cache, eastus` and `Standard_LRS StorageV2`)."""
    if node.members > 1:
        kind, detail = "group", node.detail
    elif node.kind == GATEWAY:  # its detail is its type: "ExpressRoute gateway"
        kind, detail = " ".join(p for p in (node.detail, "gateway") if p), ""
    else:
        kind, detail = _KIND_WORDS.get(node.kind, node.kind), node.detail
    return ", ".join(p for p in (kind, node.region) if p), detail


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    kind: str
    label: str = ""
    severity: Severity | None = None
    findings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Topology:
    pairs: tuple[tuple[str, str], ...] = ()
    nodes: tuple[Node, ...] = ()
    edges: tuple[Edge, ...] = ()
    # What `collapse` grouped, and by what: (("VNets", "resource group"), ...); empty when nothing.
    grouped_by: tuple[tuple[str, str], ...] = ()


_Part = TypeVar("_Part", Node, Edge)


# --- building ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _EdgeDraft:
    source: str
    target: str
    kind: str
    vms: int = 0
    directions: set[tuple[str, str]] = field(default_factory=set)  # mapped source -> recovery
    state: str | None = None

    def label(self) -> str:
        if self.kind == FAILOVER:
            parts = [f"{self.vms} VM{'s' if self.vms != 1 else ''}"] if self.vms else []
            if self.directions:
                parts.append("mapped both ways" if len(self.directions) > 1 else "mapped")
            return ", ".join(parts)
        return self.state or ""


class _Builder:
    """Nodes placed once (the first band and side that names them win), edges merged per pair."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.vnets = {ids.key(v.id): v for v in inventory.virtual_networks}
        self.circuits = {ids.key(c.id): c for c in inventory.express_route_circuits}
        self.storage = {ids.key(s.id): s for s in inventory.storage_accounts}
        located = (
            inventory.virtual_networks,
            inventory.express_route_circuits,
            inventory.storage_accounts,
            inventory.vaults,
            inventory.virtual_network_gateways,
        )
        self.regions = {ids.key(r.id): ids.region(r.location) for kind in located for r in kind}
        self.nodes: dict[str, Node] = {}
        self.edges: dict[tuple[str, frozenset[str]], _EdgeDraft] = {}
        self.owners: dict[str, tuple[str, object]] = {}  # resource key -> ("node", id) | ("edge", key)
        self.workload_counts: dict[str, int] = defaultdict(int)

    def place(self, resource_id: str, kind: str, side: str, band: int, detail: str = "") -> str:
        key = ids.key(resource_id)
        if key not in self.nodes:
            self.nodes[key] = Node(
                id=key,
                kind=kind,
                name=ids.name_of(resource_id),
                side=side,
                band=band,
                resource_id=resource_id,
                subscription_id=ids.subscription_of(resource_id),
                resource_group=ids.resource_group_of(resource_id),
                detail=detail,
            )
            self.owners[key] = ("node", key)
        return key

    def vnet(self, resource_id: str, side: str, band: int) -> str:
        return self.place(resource_id, VNET, side, band)

    def edge(self, a: str, b: str, kind: str, owned_by: Iterable[str | None] = ()) -> _EdgeDraft:
        key = (kind, frozenset((a, b)))
        draft = self.edges.setdefault(key, _EdgeDraft(a, b, kind))
        for resource_id in owned_by:
            if resource_id:
                self.owners[ids.key(resource_id)] = ("edge", key)
        return draft

    def failover(
        self, source_vnet: str, recovery_vnet: str, *, vms: int = 0, mapping: str | None = None
    ) -> None:
        a, b = ids.key(source_vnet), ids.key(recovery_vnet)
        if a == b:
            return
        draft = self.edge(a, b, FAILOVER, [mapping])
        draft.vms += vms
        if mapping:
            draft.directions.add((a, b))

    def peerings(self) -> None:
        """One hop from every VNet placed so far: the hubs (and their gateways) traffic relies on.
        Then each peering between placed VNets, from either end (the two ends may disagree)."""
        for key in [k for k, n in self.nodes.items() if n.kind == VNET]:
            node = self.nodes[key]
            for peering in self._peerings(key):
                self.vnet(peering.remote_virtual_network_id or "", node.side, node.band)
        for key in [k for k, n in self.nodes.items() if n.kind == VNET]:
            for peering in self._peerings(key):
                remote = ids.key(peering.remote_virtual_network_id)
                if remote not in self.nodes:  # a hub's other spokes: no workload, no failover
                    continue
                draft = self.edge(key, remote, PEERING, [peering.id])
                if peering.peering_state and peering.peering_state.lower() != "connected":
                    draft.state = peering.peering_state

    def _peerings(self, key: str) -> list[Peering]:
        vnet = self.vnets.get(key)
        return [p for p in vnet.peerings if p.remote_virtual_network_id] if vnet else []

    def gateways(self) -> None:
        for gw in self.inventory.virtual_network_gateways:
            vnet = self.nodes.get(ids.key(gw.virtual_network_id))
            if vnet is None:
                continue
            detail = " ".join(p for p in (gw.gateway_type, gw.vpn_type) if p)
            key = self.place(gw.id, GATEWAY, vnet.side, vnet.band, detail)
            self.edge(vnet.id, key, ATTACHMENT)
        for conn in self.inventory.connections:
            gateway = self.nodes.get(ids.key(conn.virtual_network_gateway1_id))
            if gateway is None:
                continue
            if conn.peer_id:
                circuit = self.circuits.get(ids.key(conn.peer_id))
                sku = circuit and "/".join(p for p in (circuit.sku_tier, circuit.sku_family) if p)
                detail = ", ".join(p for p in (circuit and circuit.peering_location, sku) if p)
                far = self.place(conn.peer_id, CIRCUIT, LINK, gateway.band, detail or "not read")
            elif conn.local_network_gateway2_id:
                far = self.place(conn.local_network_gateway2_id, SITE, LINK, gateway.band)
            elif conn.virtual_network_gateway2_id:
                far = self.place(
                    conn.virtual_network_gateway2_id, GATEWAY, LINK, gateway.band, "VNet-to-VNet"
                )
            else:
                continue
            draft = self.edge(gateway.id, far, CONNECTION, [conn.id])
            if conn.connection_status and conn.connection_status.lower() != "connected":
                draft.state = conn.connection_status

    def nics(self) -> None:
        """A NIC's findings (its NSG, its ASGs) are about its VNet's traffic: the VNet owns them."""
        for nic in self.inventory.network_interfaces:
            for ipc in nic.ip_configurations:
                vnet = ids.key(ids.parent_of(ipc.subnet_id)) if ipc.subnet_id else ""
                if vnet in self.nodes:
                    self.owners.setdefault(ids.key(nic.id), ("node", vnet))

    def owner_of(self, resource_id: str) -> tuple[str, object] | None:
        key = ids.key(resource_id)
        while key:
            if key in self.owners:
                return self.owners[key]
            key = key.rsplit("/", 1)[0]
        return None

    def details(self) -> None:
        """Facts that make a node recognisable: address space and workloads, region, SKU."""
        storage = self.storage
        for key, node in self.nodes.items():
            detail = node.detail
            vnet = self.vnets.get(key) if node.kind == VNET else None
            if vnet is not None:
                detail = _vnet_detail(vnet, self.workload_counts.get(key, 0))
            elif node.kind == VNET:
                detail = "not read"
            elif node.kind == CACHE and key in storage:
                detail = " ".join(p for p in (storage[key].sku_name, storage[key].kind) if p)
            self.nodes[key] = dataclasses.replace(node, detail=detail, region=self.regions.get(key))

    def finish(self, pairs: Sequence[tuple[str, str]], findings: Iterable[Finding]) -> Topology:
        self.details()
        on: dict[tuple[str, object], list[Finding]] = defaultdict(list)
        for f in findings:
            owner = None if f.suppressed else self.owner_of(f.resource_id)
            if owner is not None:
                on[owner].append(f)
        nodes = tuple(_marked(n, on.get(("node", n.id), [])) for n in self.nodes.values())
        edges = tuple(
            _marked(Edge(d.source, d.target, d.kind, d.label()), on.get(("edge", key), []))
            for key, d in self.edges.items()
        )
        return Topology(pairs=tuple(pairs), nodes=nodes, edges=edges)


def _vnet_detail(vnet: VirtualNetwork, workloads: int) -> str:
    space = ", ".join(vnet.address_prefixes[:2]) + (
        f" +{len(vnet.address_prefixes) - 2}" if len(vnet.address_prefixes) > 2 else ""
    )
    count = f"{workloads} VM{'s' if workloads != 1 else ''}" if workloads else ""
    return ", ".join(p for p in (count, space) if p)  # the workloads first: they survive truncation


def _marked(part: _Part, findings: list[Finding]) -> _Part:
    if not findings:
        return part
    ordered = sorted(findings, key=lambda f: -f.severity.rank)
    fingerprints = tuple(dict.fromkeys(f.fingerprint for f in ordered))
    return dataclasses.replace(part, severity=ordered[0].severity, findings=fingerprints)


def build(inventory: Inventory, scope: DrScope, findings: Iterable[Finding] = ()) -> Topology:
    """The DR dependency graph of `inventory` as `scope` sees it, marked with the active `findings`."""
    pairs = scope.pairs()
    band = {p: i for i, p in enumerate(pairs)}
    b = _Builder(inventory)
    # The busiest pair first: a node two pairs share is drawn in the band where most of it is.
    for vm in sorted(scope.vms, key=lambda vm: band[pair_of(vm.source_region, vm.target_region)]):
        i = band[pair_of(vm.source_region, vm.target_region)]
        for vnet in vm.vnet_ids:
            b.workload_counts[b.vnet(vnet, SOURCE, i)] += 1
        if vm.recovery_network_id:
            b.vnet(vm.recovery_network_id, RECOVERY, i)
            for vnet in vm.vnet_ids:
                b.failover(vnet, vm.recovery_network_id, vms=1)
        vault = b.place(vm.vault_id, VAULT, RECOVERY, i) if vm.vault_id else None
        for cache in vm.cache_ids:
            account = b.place(cache, CACHE, SOURCE, i)
            if vault:
                b.edge(account, vault, STAGING)
    for m in scope.mappings:
        i = band[pair_of(m.source_region, m.target_region)]
        for resource_id, side in ((m.source_vnet_id, SOURCE), (m.recovery_vnet_id, RECOVERY)):
            if resource_id:
                b.vnet(resource_id, side, i)
        if m.source_vnet_id and m.recovery_vnet_id:
            b.failover(m.source_vnet_id, m.recovery_vnet_id, mapping=m.id)
        b.place(m.vault_id, VAULT, RECOVERY, i)
    flags = band.get(pair_of(scope.source_region, scope.target_region), 0)
    for resource_id in scope.recovery_vnet_ids:
        b.vnet(resource_id, RECOVERY, flags)
    for resource_id in scope.vault_ids:
        b.place(resource_id, VAULT, RECOVERY, flags)
    b.peerings()
    b.gateways()
    b.nics()
    return b.finish(pairs, findings)


# --- collapsing large estates --------------------------------------------------------------------

_Key = Callable[[Node], tuple[str | None, ...]]
# Coarser and coarser, until the VNets fit: the first grouping that does is used.
GROUPINGS: tuple[tuple[str, _Key], ...] = (
    ("resource group", lambda n: (n.subscription_id, n.region, n.resource_group)),
    ("subscription", lambda n: (n.subscription_id, n.region)),
    ("region", lambda n: (n.region,)),
)


# What a group of each kind is called.
_GROUPED = {
    VNET: "VNets",
    CACHE: "cache accounts",
    GATEWAY: "gateways",
    VAULT: "vaults",
    SITE: "VPN sites",
    CIRCUIT: "ExpressRoute circuits",
}


def collapse(topology: Topology, limit: int = DEFAULT_LIMIT) -> Topology:
    """`topology` with one node per group of each kind (VNets, cache accounts, ...) it has more
    than `limit` of; a group is a node of its members' kind with `members` > 1.

    Groups never mix kinds, sides or region pairs, so the picture keeps its layout. A group
    carries its members' worst severity and findings, including those of the links inside it
    (peerings), which are not drawn.
    """
    for kind in _GROUPED:
        members = [n for n in topology.nodes if n.kind == kind]
        if len(members) > limit:
            topology = _collapse(topology, kind, *_groups(members, limit))
    return topology


def _collapse(
    topology: Topology, kind: str, grouped_by: str, groups: dict[tuple[str | None, ...], list[Node]]
) -> Topology:
    merged_into: dict[str, str] = {}
    group_nodes: dict[str, Node] = {}
    for group_key, members in groups.items():
        if len(members) == 1:  # a group of one says less than the member itself
            continue
        gid = f"group:{kind}:" + "|".join(k or "" for k in group_key)
        for member in members:
            merged_into[member.id] = gid
        group_nodes[gid] = _group(gid, kind, grouped_by, members)
    edges: dict[tuple[str, frozenset[str]], list[Edge]] = defaultdict(list)
    for e in topology.edges:
        a, b = merged_into.get(e.source, e.source), merged_into.get(e.target, e.target)
        if a == b:  # a link inside a group: its findings move to the group
            group_nodes[a] = _merge(group_nodes[a], [e])
        else:
            edges[(e.kind, frozenset((a, b)))].append(dataclasses.replace(e, source=a, target=b))
    nodes = [n for n in topology.nodes if n.id not in merged_into] + list(group_nodes.values())
    return dataclasses.replace(
        topology,
        nodes=tuple(nodes),
        edges=tuple(_merged_edge(same) for same in edges.values()),
        grouped_by=(*topology.grouped_by, (_GROUPED[kind], grouped_by)),
    )


def _groups(nodes: list[Node], limit: int) -> tuple[str, dict[tuple[str | None, ...], list[Node]]]:
    """The first grouping in `GROUPINGS` that fits `limit` (the coarsest when none does)."""
    for grouped_by, key in GROUPINGS:
        groups: dict[tuple[str | None, ...], list[Node]] = defaultdict(list)
        for n in nodes:
            group_key = (n.side, str(n.band), *key(n))
            groups[group_key].append(n)
        if len(groups) <= limit:
            return grouped_by, groups
    return GROUPINGS[-1][0], groups


def _group(gid: str, kind: str, grouped_by: str, members: list[Node]) -> Node:
    first = members[0]
    name = {
        "resource group": first.resource_group,
        "subscription": first.subscription_id,
        "region": first.region,
    }[grouped_by]
    base = Node(
        id=gid,
        kind=kind,
        name=name or "unknown",
        side=first.side,
        band=first.band,
        region=first.region,
        subscription_id=first.subscription_id if grouped_by != "region" else None,
        resource_group=first.resource_group if grouped_by == "resource group" else None,
        detail=f"{len(members)} {_GROUPED[kind]}",
        members=len(members),
    )
    return _merge(base, members)


def _merge(base: _Part, others: Sequence[Node | Edge]) -> _Part:
    """`base` with the worst severity and the findings of `others` (worst parts' findings first)."""
    parts = sorted((base, *others), key=lambda p: -(p.severity.rank if p.severity else -1))
    merged = dataclasses.replace(
        base,
        severity=parts[0].severity,
        findings=tuple(dict.fromkeys(fp for p in parts for fp in p.findings)),
    )
    return merged


def _merged_edge(same: list[Edge]) -> Edge:
    """Edges that now join the same two nodes, as one: a count replaces labels that differ."""
    edge = _merge(same[0], same[1:])
    return (
        edge if len({e.label for e in same}) == 1 else dataclasses.replace(edge, label=f"{len(same)} links")
    )
