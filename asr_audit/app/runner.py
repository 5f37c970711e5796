"""One audit run, from an inventory to a `Report`, with no argparse and no output.

The CLI, `asr-audit demo` and tests all go through here, so a snapshot, a live scan and a
replayed recording are analysed the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timezone
from typing import Any

from asr_audit import __version__, ids
from asr_audit.access.clouds import CloudProfile
from asr_audit.errors import EXIT_AUTH, EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK, UsageError
from asr_audit.findings import Severity
from asr_audit.inventory import Coverage, CoverageStatus, Inventory
from asr_audit.report import Report, estate, topology
from asr_audit.report.estate import DrScope, ScopedMapping, ScopedVm
from asr_audit.rules import analyze, passed
from asr_audit.rules import catalog as rule_catalog
from asr_audit.rules.base import Context
from asr_audit.rules.catalog import Catalog
from asr_audit.rules.common import audited
from asr_audit.triage import baseline, suppressions


def utc_now() -> str:
    """RFC 3339 UTC timestamp, second precision: what the JSON report schema expects."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def choose_rules(
    select: Iterable[str] = (), skip: Iterable[str] = (), catalog: Catalog | None = None
) -> list[str]:
    """The rule ids a run executes; an unknown id is a usage error that lists the valid ones.

    Typos in `--skip-rules` must not silently leave a rule running, hence the strict check on both.
    """
    known = _catalog(catalog)
    wanted, unwanted = _ids(select), _ids(skip)
    unknown = sorted((set(wanted) | set(unwanted)) - set(known.ids()))
    if unknown:
        raise UsageError(f"unknown rule id(s): {', '.join(unknown)}; valid ids: {', '.join(known.ids())}")
    chosen = known.select(wanted) if wanted else known
    return chosen.without(unwanted).ids()


def _catalog(catalog: Catalog | None) -> Catalog:
    """The catalog handed in, else the default one, looked up when called (not bound at import) so
    the CLI's tests can swap in a catalog of test rules at one place."""
    return catalog if catalog is not None else rule_catalog.default_catalog()


def _ids(values: Iterable[str]) -> list[str]:
    return [v.strip().upper() for v in values if v.strip()]


def scope_note(inventory: Inventory, source_region: str | None) -> str | None:
    """Explain an empty region scope: without A2A objects only `--source-region` names candidate VMs."""
    if source_region:
        return None
    context = Context(inventory)
    has_a2a = bool(audited.a2a_items(context) or audited.a2a_mappings(context))
    if has_a2a:
        return None
    return (
        "no Azure-to-Azure replication found in the scanned scope and no --source-region given: "
        "VMs that are not yet protected were not checked; pass --source-region (and --target-region) "
        "to audit their readiness"
    )


def in_resource_groups(resource_id: str | None, groups: set[str]) -> bool:
    """Whether the id's own resource group is one of `groups` (lower-case names)."""
    group = ids.resource_group_of(resource_id)
    return group is not None and group.lower() in groups


def _records(inventory: Inventory) -> Iterator[Any]:
    """Every top-level resource record of the inventory (resources with an `id`), any type."""
    for f in dataclasses.fields(inventory):
        records = getattr(inventory, f.name)
        for item in records if isinstance(records, list) else ():
            if isinstance(getattr(item, "id", None), str):
                yield item


def locations(inventory: Inventory) -> set[str]:
    """The regions the inventory's resources are in: real ones in its cloud, whatever its list
    says (an Azure Stack Hub scan is saved as AzureCloud with its own region names)."""
    return {loc for item in _records(inventory) if (loc := ids.region(getattr(item, "location", None)))}


def resource_group_note(inventory: Inventory, resource_groups: Iterable[str]) -> str | None:
    """Name the `--resource-group` values no collected resource is in: a typo would otherwise
    pass a gate with an empty report."""
    wanted = _lower(resource_groups)
    if not wanted:
        return None
    seen = {group.lower() for item in _records(inventory) if (group := ids.resource_group_of(item.id))}
    missing = sorted(wanted - seen)
    if not missing:
        return None
    return (
        f"no collected resource is in resource group(s) {', '.join(missing)}: "
        "check the name (--resource-group matches a resource group name, not an id)"
    )


def vault_note(inventory: Inventory, vaults: Iterable[str]) -> str | None:
    """Name the `--vault` values no collected vault matches (by name or id, any case): a typo
    would otherwise leave the readiness checks on the intended vault silently unrun."""
    wanted = _lower(vaults)
    if not wanted:
        return None
    known = {v.name.lower() for v in inventory.vaults} | {ids.key(v.id) for v in inventory.vaults}
    missing = sorted(v for v in wanted if v not in known and ids.key(v) not in known)
    if not missing:
        return None
    return f"no collected Recovery Services vault matches --vault {', '.join(missing)}: check the name or id"


def _lower(values: Iterable[str]) -> set[str]:
    return {v.strip().lower() for v in values if v.strip()}


def audit(
    inventory: Inventory,
    *,
    cloud: CloudProfile,
    source_region: str | None = None,
    target_region: str | None = None,
    thresholds: dict[str, Any] | None = None,
    rules: list[str] | None = None,
    catalog: Catalog | None = None,
    started_at: str | None = None,
    accepted: list[suppressions.Suppression] | None = None,
    previous: list[dict[str, Any]] | None = None,
    today: date | None = None,
    resource_groups: Iterable[str] = (),
    vaults: Iterable[str] = (),
    include_passed: bool = False,
    draw: bool = True,
) -> Report:
    """Analyse `inventory` with `rules` (all when None) of `catalog` (the default catalog when None)
    and wrap the result in a `Report`, with the metadata of the rules run for its formats.

    `started_at` lets a live scan count collection time in the run; it defaults to now.
    `accepted` (a loaded `--suppressions` file) marks findings suppressed as of `today`;
    `previous` (a loaded `--baseline` report) marks them new or unchanged.
    `resource_groups`, when given, keeps only findings (and resolved baseline entries) whose
    resource id is in one of them, and every finding that restates a coverage gap (what the
    scan could not read may hold resources of those groups). The analysis itself stays
    subscription-wide, so rules see hub VNets and shared accounts in other groups, and
    suppression notes describe the file against every finding, not just the ones shown.
    `vaults` (`--vault`) names the vaults the user intends to use, for the readiness rules.
    `include_passed` lists what each rule examined and passed (`rules.passed`), in the same view.
    `draw` builds the DR topology the picture formats draw (`report.DRAWN`); without it the
    report's `topology` is None.
    """
    started = started_at or utc_now()
    known = _catalog(catalog)
    chosen = known if rules is None else known.select(rules)
    rule_ids = chosen.ids() if rules is None else list(rules)
    context = Context(
        inventory,
        source_region=source_region,
        target_region=target_region,
        cloud=cloud,
        thresholds=dict(thresholds or {}),
        vaults=[v.strip() for v in vaults if v.strip()],
        record_checks=include_passed,
    )
    findings = analyze(context, chosen)
    checks = passed(context, findings) if include_passed else None
    scope = dr_scope(context)
    notes = suppressions.apply(findings, accepted, today or date.today()) if accepted is not None else []
    resolved = baseline.apply(findings, previous) if previous is not None else []
    groups = _lower(resource_groups)
    if groups:
        findings = [f for f in findings if f.gap or in_resource_groups(f.resource_id, groups)]
        resolved = [r for r in resolved if in_resource_groups(r["resource_id"], groups)]
        if checks is not None:
            checks = [c for c in checks if in_resource_groups(c.resource_id, groups)]
    return Report(
        tool_version=__version__,
        subscriptions=[s.id for s in inventory.subscriptions],
        cloud=cloud.name,
        source_region=source_region,
        target_region=target_region,
        started_at=started,
        finished_at=utc_now(),
        findings=findings,
        coverage=list(inventory.coverage),
        rules_run=rule_ids,
        rules=chosen.metas(),
        resource_groups=sorted(groups),
        suppression_notes=notes,
        resolved=resolved,
        passed=checks,
        estate=estate.build(inventory, scope),
        topology=topology.build(inventory, scope, findings) if draw else None,
    )


def dr_scope(context: Context) -> DrScope:
    """The rules' view of what is in scope (`audited`), as the plain records the reports draw."""
    vnets: dict[str, list[str]] = {}
    for p in audited.placements(context):
        vnets.setdefault(ids.key(p.workload.vm.id), []).append(p.vnet.id)
    vms = tuple(_scoped(w, vnets.get(ids.key(w.vm.id), [])) for w in audited.unique_workloads(context))
    mappings = tuple(
        ScopedMapping(
            m.id,
            m.vault_id,
            m.primary_network_id,
            m.recovery_network_id,
            m.primary_location,
            m.recovery_location,
        )
        for m in audited.a2a_mappings(context)
    )
    named = {ids.key(v) if "/" in v else v.strip().lower() for v in context.vaults}
    return DrScope(
        vms=vms,
        mappings=mappings,
        recovery_vnet_ids=tuple(v.id for v in audited.recovery_vnets(context).values()),
        vault_ids=tuple(v.id for v in context.inventory.vaults if {v.name.lower(), ids.key(v.id)} & named),
        source_region=context.source_region,
        target_region=context.target_region,
    )


def _scoped(workload: audited.Workload, vnet_ids: list[str]) -> ScopedVm:
    item = workload.item
    disks = item.protected_disks if item else []
    return ScopedVm(
        id=workload.vm.id,
        name=workload.vm.name,
        kind=workload.kind,
        source_region=workload.source_region,
        target_region=workload.target_region,
        vault_id=item.vault_id if item else None,
        vnet_ids=tuple(dict.fromkeys(vnet_ids)),
        recovery_network_id=item.recovery_network_id if item else None,
        cache_ids=tuple(
            dict.fromkeys(d.cache_storage_account_id for d in disks if d.cache_storage_account_id)
        ),
    )


def failing(report: Report, fail_on: str) -> int:
    """Unsuppressed findings at or above `fail_on` (`none` never fails)."""
    if fail_on == "none":
        return 0
    threshold = Severity(fail_on).rank
    return sum(1 for f in report.active if f.severity.rank >= threshold)


def nothing_read(report: Report) -> str | None:
    """Why nothing in scope could be read, or None when some collector read something.

    DESIGN.md §8.2: a scan in which every data collector failed (401/403, TLS, connection
    refused, 5xx on every read) judged nothing, whatever the cause; it must not look like an
    incomplete scan (exit 4) that pipelines may tolerate. The `subscription` checks are not data
    collectors, but when none of them succeeded they are all there is to explain the failure.
    """
    if any(
        c.status in (CoverageStatus.OK, CoverageStatus.PARTIAL)
        for c in report.coverage
        if c.kind != "subscription"
    ):
        return None
    runs = [c for c in report.coverage if c.kind != "subscription"]
    what = "collector runs"
    if not runs:
        runs, what = [c for c in report.coverage if c.is_gap], "subscription checks"
    if not runs:
        return "nothing in scope could be read: nothing was collected"
    return f"nothing in scope could be read: {len(runs)} of {len(runs)} {what} failed{_causes(runs)}"


def _causes(runs: list[Coverage]) -> str:
    """` (12 error, 1 forbidden: <the first detail>)`: enough to tell a network fault from a role."""
    if not runs:
        return ""
    counts: dict[str, int] = {}
    for c in runs:
        counts[c.status] = counts.get(c.status, 0) + 1
    statuses = ", ".join(f"{n} {status}" for status, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    detail = next((c.detail for c in runs if c.detail), None)
    if detail and len(detail) > 160:
        detail = detail[:157] + "..."
    return f" ({statuses}: {detail})" if detail else f" ({statuses})"


def exit_code(report: Report, fail_on: str) -> int:
    """DESIGN.md §3 and §8.2, in this order: nothing in scope read (3) wins over findings (1), since
    findings from a scan that saw nothing say nothing; failing findings (1) win over an
    incomplete scan (4); suppressed findings never count."""
    if nothing_read(report):
        return EXIT_AUTH
    if failing(report, fail_on):
        return EXIT_FINDINGS
    if report.gaps:
        return EXIT_INCOMPLETE
    return EXIT_OK
