"""The estate at a glance: what a report's findings are about, as plain data (issue 12).

A reader cannot weigh "vault in the wrong region" without knowing which subscriptions, region
pairs, vaults and circuits were looked at, so every human format opens with this summary. It is
built once per run, from the inventory and the run's DR scope, and rides on the `Report`: masking
(`app/masking.py`) rewrites every string of the report, so the ids here are masked with the rest
when `--mask` is on, and the renderers need no inventory.

Which VMs, networks and region pairs are in scope is the rules' call (`rules/common/audited.py`),
which the report layer may not import; the run hands that over as a `DrScope` of plain records.
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from asr_audit import ids
from asr_audit.inventory import Coverage, CoverageStatus, Inventory, ReplicationPolicy
from asr_audit.report import Report
from asr_audit.report.sanitize import clean

NOT_GIVEN = "not given"  # a region pair side neither the ASR objects nor the flags name


# --- the run's DR scope, handed over by the runner -----------------------------------------------


@dataclass(frozen=True, slots=True)
class ScopedVm:
    """A protected or candidate VM with what it depends on for DR (ids as ARM spells them)."""

    id: str
    name: str
    kind: str  # protected | candidate
    source_region: str | None
    target_region: str | None
    vault_id: str | None = None
    vnet_ids: tuple[str, ...] = ()  # the VNets its NICs are in
    recovery_network_id: str | None = None
    cache_ids: tuple[str, ...] = ()  # the A2A cache storage accounts its disks stage through


@dataclass(frozen=True, slots=True)
class ScopedMapping:
    """An Azure-to-Azure network mapping: which VNet a failover lands in."""

    id: str
    vault_id: str
    source_vnet_id: str | None
    recovery_vnet_id: str | None
    source_region: str | None
    target_region: str | None


@dataclass(frozen=True, slots=True)
class DrScope:
    """What the analysis judged: workloads, mappings, and (readiness) the recovery VNets and the
    vaults named with `--vault`; the flags' region pair when given."""

    vms: tuple[ScopedVm, ...] = ()
    mappings: tuple[ScopedMapping, ...] = ()
    recovery_vnet_ids: tuple[str, ...] = ()
    vault_ids: tuple[str, ...] = ()
    source_region: str | None = None
    target_region: str | None = None

    def pairs(self) -> list[tuple[str, str]]:
        """Region pairs, the busiest first: workloads, then mapping-only pairs (a reverse mapping
        prepared for failback), then the flags' pair when nothing else names it."""
        counts = Counter(pair_of(vm.source_region, vm.target_region) for vm in self.vms)
        ordered = sorted(counts, key=lambda p: (-counts[p], p))
        extra = [pair_of(m.source_region, m.target_region) for m in self.mappings]
        if self.source_region or self.target_region:
            extra.append(pair_of(self.source_region, self.target_region))
        for pair in extra:
            if pair not in ordered:
                ordered.append(pair)
        return ordered


def pair_of(source: str | None, target: str | None) -> tuple[str, str]:
    return (ids.region(source) or NOT_GIVEN, ids.region(target) or NOT_GIVEN)


# --- the summary ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EstateSubscription:
    id: str
    name: str | None  # the display name, when the scan read it
    state: str | None = None


@dataclass(frozen=True, slots=True)
class RegionPair:
    source: str
    target: str
    protected: int
    candidate: int
    vaults: tuple[str, ...]  # names of the vaults replicating this pair
    mappings: int  # network mappings for this direction


@dataclass(frozen=True, slots=True)
class EstatePolicy:
    """A replication policy as the overview shows it; durations in minutes whatever the provider
    says them in (A2A minutes, Hyper-V hours), None where the policy does not say."""

    name: str
    kind: str | None  # providerSpecificDetails.instanceType
    retention_minutes: int | None = None  # how long recovery points are kept
    app_consistent_minutes: int | None = None
    crash_consistent_minutes: int | None = None
    multi_vm_sync: str | None = None
    replication_interval_seconds: int | None = None  # Hyper-V copy frequency


@dataclass(frozen=True, slots=True)
class EstateVault:
    id: str
    name: str
    region: str
    protected_items: int  # every kind (Azure-to-Azure, Hyper-V, VMware)
    policies: tuple[EstatePolicy, ...] = ()
    # The status of the policy read when it is not ok (forbidden, timeout...): then `policies` is
    # not the vault's list, and no format may show it as "no policies".
    policies_unread: str | None = None


@dataclass(frozen=True, slots=True)
class EstateNetwork:
    id: str
    name: str
    region: str
    address_space: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EstateCircuit:
    id: str
    name: str
    region: str
    peering_location: str | None
    sku: str | None  # tier and family: Standard/MeteredData
    provider: str | None


@dataclass(frozen=True, slots=True)
class CoverageSummary:
    runs: int
    gaps: int
    by_status: tuple[tuple[str, int], ...]  # gap statuses, most frequent first


@dataclass(frozen=True, slots=True)
class Estate:
    cloud: str
    subscriptions: tuple[EstateSubscription, ...]
    region_pairs: tuple[RegionPair, ...]
    protected_vms: int
    candidate_vms: int
    vaults: tuple[EstateVault, ...]
    recovery_vnets: tuple[EstateNetwork, ...]
    circuits: tuple[EstateCircuit, ...]
    coverage: CoverageSummary

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def build(inventory: Inventory, scope: DrScope) -> Estate:
    """The summary of `inventory` as `scope` sees it."""
    vault_names = {ids.key(v.id): v.name for v in inventory.vaults}
    items = Counter(ids.key(i.vault_id) for i in inventory.protected_items)
    policies: dict[str, list[ReplicationPolicy]] = {}
    for policy in inventory.replication_policies:
        policies.setdefault(ids.key(policy.vault_id), []).append(policy)
    vnets = {ids.key(v.id): v for v in inventory.virtual_networks}
    recovery = _unique(
        [vm.recovery_network_id for vm in scope.vms]
        + [m.recovery_vnet_id for m in scope.mappings]
        + list(scope.recovery_vnet_ids)
    )
    return Estate(
        cloud=inventory.cloud,
        subscriptions=tuple(
            EstateSubscription(s.id, s.display_name or None, s.state) for s in inventory.subscriptions
        ),
        region_pairs=_pairs(scope, vault_names),
        protected_vms=sum(1 for vm in scope.vms if vm.kind == "protected"),
        candidate_vms=sum(1 for vm in scope.vms if vm.kind == "candidate"),
        vaults=tuple(
            EstateVault(
                v.id,
                v.name,
                ids.region(v.location) or "",
                items[ids.key(v.id)],
                tuple(estate_policy(p) for p in sorted(policies.get(ids.key(v.id), []), key=_by_name)),
                _policies_unread(v.id, inventory.coverage),
            )
            for v in sorted(inventory.vaults, key=lambda v: (v.name.lower(), ids.key(v.id)))
        ),
        recovery_vnets=tuple(
            EstateNetwork(v.id, v.name, ids.region(v.location) or "", tuple(v.address_prefixes))
            for v in sorted((vnets[k] for k in recovery if k in vnets), key=lambda v: (v.name.lower(), v.id))
        ),
        circuits=tuple(
            EstateCircuit(
                c.id,
                c.name,
                ids.region(c.location) or "",
                c.peering_location,
                "/".join(p for p in (c.sku_tier, c.sku_family) if p) or None,
                c.service_provider_name,
            )
            for c in sorted(inventory.express_route_circuits, key=lambda c: (c.name.lower(), c.id))
        ),
        coverage=_coverage(inventory.coverage),
    )


def _by_name(p: ReplicationPolicy) -> tuple[str, str]:
    return (p.name.lower(), ids.key(p.id))


def estate_policy(p: ReplicationPolicy) -> EstatePolicy:
    return EstatePolicy(
        name=p.name,
        kind=p.instance_type,
        retention_minutes=_first_minutes(p.recovery_point_history_minutes, p.recovery_point_history_hours),
        app_consistent_minutes=_first_minutes(
            p.app_consistent_frequency_minutes, p.app_consistent_frequency_hours
        ),
        crash_consistent_minutes=p.crash_consistent_frequency_minutes,
        multi_vm_sync=p.multi_vm_sync_status,
        replication_interval_seconds=p.replication_interval_seconds,
    )


def _first_minutes(minutes: int | None, hours: int | None) -> int | None:
    return minutes if minutes is not None else None if hours is None else hours * 60


_POLICIES = "replication_policies"


def _policies_unread(vault_id: str, coverage: Sequence[Coverage]) -> str | None:
    """Why the vault's policy list is not the whole truth, or None when it was read. Fails closed:
    a gap record of the vault's own read, or one for its whole subscription (a snapshot that
    never read policies), counts, and so does no record at all (an inventory built elsewhere)."""
    subscription = (ids.subscription_of(vault_id) or "").lower()
    records = [
        c
        for c in coverage
        if c.kind == _POLICIES
        and (
            ids.key(c.object_id) == ids.key(vault_id)
            if c.object_id
            else c.subscription_id.lower() == subscription
        )
    ]
    gap = next((c for c in records if c.is_gap), None)
    if gap is not None:
        return str(gap.status)
    return None if records else str(CoverageStatus.NOT_COLLECTED)


def _unique(values: Iterable[str | None]) -> list[str]:
    return list(dict.fromkeys(ids.key(v) for v in values if v))


def _pairs(scope: DrScope, vault_names: dict[str, str]) -> tuple[RegionPair, ...]:
    out = []
    for pair in scope.pairs():
        vms = [vm for vm in scope.vms if pair_of(vm.source_region, vm.target_region) == pair]
        mappings = [m for m in scope.mappings if pair_of(m.source_region, m.target_region) == pair]
        vaults = _unique([vm.vault_id for vm in vms] + [m.vault_id for m in mappings])
        out.append(
            RegionPair(
                source=pair[0],
                target=pair[1],
                protected=sum(1 for vm in vms if vm.kind == "protected"),
                candidate=sum(1 for vm in vms if vm.kind == "candidate"),
                vaults=tuple(sorted(vault_names.get(k, ids.name_of(k)) for k in vaults)),
                mappings=len(mappings),
            )
        )
    return tuple(out)


def _coverage(coverage: Sequence[Coverage]) -> CoverageSummary:
    statuses = Counter(str(c.status) for c in coverage if c.is_gap)
    return CoverageSummary(
        runs=len(coverage),
        gaps=sum(statuses.values()),
        by_status=tuple(sorted(statuses.items(), key=lambda kv: (-kv[1], kv[0]))),
    )


# --- wording every human format shares -----------------------------------------------------------


def subscription_label(s: EstateSubscription) -> str:
    return f"{s.name} ({s.id})" if s.name else s.id


def pair_label(source: str, target: str, arrow: str = "→") -> str:
    return f"{source} {arrow} {target}"


def pair_counts(p: RegionPair) -> str:
    """`14 protected, 2 candidate VMs, 1 network mapping`: the parts that are not zero."""
    vms = [f"{n} {kind}" for n, kind in ((p.protected, "protected"), (p.candidate, "candidate")) if n]
    text = f"{', '.join(vms)} VM{'s' if p.protected + p.candidate != 1 else ''}" if vms else "no VMs"
    if p.mappings:
        text += f", {_plural(p.mappings, 'network mapping')}"
    return text


def circuit_detail(c: EstateCircuit) -> str:
    """`Washington DC, Standard/MeteredData, Equinix`: what decides a circuit's resilience."""
    return ", ".join(p for p in (c.peering_location or "peering location unknown", c.sku, c.provider) if p)


def policy_detail(p: EstatePolicy) -> str:
    """`A2A: recovery points kept 1 day, app-consistent every 4 hours, crash-consistent every 5
    minutes, multi-VM sync Enable`: only what the policy says; its type alone when it says nothing
    (or is of a provider the overview does not detail)."""
    settings = (
        ("recovery points kept", p.retention_minutes, _duration),
        ("app-consistent every", p.app_consistent_minutes, _duration),
        ("crash-consistent every", p.crash_consistent_minutes, _duration),
        ("replication every", p.replication_interval_seconds, _seconds),
    )
    shown = [f"{what} {spell(n)}" for what, n, spell in settings if n is not None]
    if p.multi_vm_sync:
        shown.append(f"multi-VM sync {p.multi_vm_sync}")
    kind = p.kind or "type not given"
    return f"{kind}: {', '.join(shown)}" if shown else kind


def _duration(minutes: int) -> str:
    """Whole days or hours when the minutes make them (retention reads as "3 days", not 4320)."""
    if minutes and minutes % 1440 == 0:
        return _plural(minutes // 1440, "day")
    if minutes and minutes % 60 == 0:
        return _plural(minutes // 60, "hour")
    return _plural(minutes, "minute")


def _seconds(seconds: int) -> str:
    return _duration(seconds // 60) if seconds and seconds % 60 == 0 else _plural(seconds, "second")


def policy_lines(estate: Estate) -> list[tuple[str, str, str]]:
    """(vault, policy, settings) per policy; a vault whose policies were not read has one row
    saying so, never none (which would read as "no policies")."""
    rows: list[tuple[str, str, str]] = []
    for v in estate.vaults:
        if v.policies_unread:
            rows.append((v.name, f"policies not read ({v.policies_unread})", ""))
        rows += [(v.name, p.name, policy_detail(p)) for p in v.policies]
    return rows


def coverage_sentence(c: CoverageSummary) -> str:
    if not c.runs:
        return "nothing was collected"
    if not c.gaps:
        return f"complete: all {_plural(c.runs, 'collector run')} read their data"
    statuses = ", ".join(f"{n} {status}" for status, n in c.by_status)
    return f"incomplete: {c.gaps} of {_plural(c.runs, 'collector run')} failed ({statuses})"


def grouping_sentence(grouped_by: Sequence[tuple[str, str]], limit: int) -> str:
    """`Past 40 of them, VNets are drawn as one node per resource group.` (empty when nothing was)."""
    if not grouped_by:
        return ""
    parts = [f"{what} as one node per {by}" for what, by in grouped_by]
    return f"Past {limit} of them, the picture draws {' and '.join(parts)}."


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


Table = tuple[str, tuple[str, ...], list[tuple[object, ...]]]


def tables(estate: Estate) -> list[Table]:
    """The summary as titled tables, (title, header, rows), as Markdown and HTML show it."""
    return [
        (
            "Subscriptions",
            ("Subscription", "State"),
            [(subscription_label(s), s.state) for s in estate.subscriptions],
        ),
        (
            "Region pairs",
            ("Source → target", "Scope", "Vaults"),
            [
                (pair_label(p.source, p.target), pair_counts(p), ", ".join(p.vaults))
                for p in estate.region_pairs
            ],
        ),
        (
            "Vaults",
            ("Vault", "Region", "Replicated items"),
            [(v.name, v.region, v.protected_items) for v in estate.vaults],
        ),
        ("Replication policies", ("Vault", "Policy", "Settings"), list(policy_lines(estate))),
        (
            "Recovery VNets",
            ("Recovery VNet", "Region", "Address space"),
            [(n.name, n.region, ", ".join(n.address_space)) for n in estate.recovery_vnets],
        ),
        (
            "ExpressRoute circuits",
            ("ExpressRoute circuit", "Peering location, SKU, provider"),
            [(c.name, circuit_detail(c)) for c in estate.circuits],
        ),
    ]


# --- plain text, for the terminal table ----------------------------------------------------------


def subscription_names_of(report: Report) -> dict[str, str]:
    """Display names by subscription id (as the report shows the id, masked or not), from the
    report's estate; empty when the report has none."""
    if report.estate is None:
        return {}
    return {s.id: s.name for s in report.estate.subscriptions if s.name}


def estate_lines(estate: Estate, width: int = 100) -> list[str]:
    """The summary as labelled lines no wider than `width`, values wrapped under their label.

    Values come from Azure: they go through `sanitize.clean`, so a name cannot carry a terminal
    escape; rich markup is the caller's concern (wrap each line in a `rich.text.Text`).
    """
    rows = [
        ("Subscriptions", [subscription_label(s) for s in estate.subscriptions]),
        (
            "Region pairs",
            [
                f"{pair_label(p.source, p.target, '->')}: {pair_counts(p)}{_vaults(p)}"
                for p in estate.region_pairs
            ],
        ),
        ("VMs", [f"{estate.protected_vms} protected, {estate.candidate_vms} candidate"]),
        ("Vaults", [f"{v.name} ({v.region}, {_plural(v.protected_items, 'item')})" for v in estate.vaults]),
        (
            "Policies",
            [
                f"{vault}: {policy}" + (f" ({detail})" if detail else "")
                for vault, policy, detail in policy_lines(estate)
            ],
        ),
        (
            "Recovery VNets",
            [f"{n.name} ({n.region}, {', '.join(n.address_space)})" for n in estate.recovery_vnets],
        ),
        ("Circuits", [f"{c.name} ({circuit_detail(c)})" for c in estate.circuits]),
        ("Coverage", [coverage_sentence(estate.coverage)]),
    ]
    label_width = max(len(label) for label, _ in rows) + 2
    # Below ~20 columns of room beside the labels, each label gets a line of its own.
    beside = width - label_width >= 20
    indent = label_width if beside else 2
    lines: list[str] = []
    for label, values in rows:
        if not beside:
            lines += textwrap.wrap(f"{label}:", width=max(width, 1))
        for n, value in enumerate(values or ["none"]):
            first = f"{label}:".ljust(label_width) if beside and n == 0 else " " * indent
            lines += textwrap.wrap(
                clean(value),
                width=max(width, indent + 1),
                initial_indent=first,
                subsequent_indent=" " * (indent + 2),
                break_on_hyphens=False,
            )
    return lines


def _vaults(p: RegionPair) -> str:
    return f" ({'vault' if len(p.vaults) == 1 else 'vaults'} {', '.join(p.vaults)})" if p.vaults else ""
