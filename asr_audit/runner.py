"""One audit run, from an inventory to a `Report`, with no argparse and no output.

The CLI, `asr-audit demo` and tests all go through here, so a snapshot, a live scan and a
replayed recording are analysed the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import date, datetime, timezone
from typing import Any

from asr_audit import __version__, baseline, ids, scope, suppressions
from asr_audit.clouds import CloudProfile
from asr_audit.errors import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK, UsageError
from asr_audit.findings import Severity
from asr_audit.inventory import Inventory
from asr_audit.report import Report
from asr_audit.rules import all_rules, analyze
from asr_audit.rules.base import Context


def utc_now() -> str:
    """RFC 3339 UTC timestamp, second precision: what the JSON report schema expects."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def choose_rules(select: Iterable[str] = (), skip: Iterable[str] = ()) -> list[str]:
    """The rule ids a run executes; an unknown id is a usage error that lists the valid ones.

    Typos in `--skip-rules` must not silently leave a rule running, hence the strict check on both.
    """
    known = all_rules()
    wanted, unwanted = _ids(select), _ids(skip)
    unknown = sorted((set(wanted) | set(unwanted)) - set(known))
    if unknown:
        raise UsageError(f"unknown rule id(s): {', '.join(unknown)}; valid ids: {', '.join(known)}")
    chosen = set(wanted) if wanted else set(known)
    return sorted(chosen - set(unwanted))


def _ids(values: Iterable[str]) -> list[str]:
    return [v.strip().upper() for v in values if v.strip()]


def scope_note(inventory: Inventory, source_region: str | None) -> str | None:
    """Explain an empty region scope: without A2A objects only `--source-region` names candidate VMs."""
    if source_region:
        return None
    context = Context(inventory)
    has_a2a = bool(scope.a2a_items(context) or scope.a2a_mappings(context))
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


def resource_group_note(inventory: Inventory, resource_groups: Iterable[str]) -> str | None:
    """Name the `--resource-group` values no collected resource is in: a typo would otherwise
    pass a gate with an empty report."""
    wanted = _lower(resource_groups)
    if not wanted:
        return None
    seen: set[str] = set()
    for f in dataclasses.fields(inventory):
        records = getattr(inventory, f.name)
        for item in records if isinstance(records, list) else ():
            group = ids.resource_group_of(getattr(item, "id", None))
            if group:
                seen.add(group.lower())
    missing = sorted(wanted - seen)
    if not missing:
        return None
    return (
        f"no collected resource is in resource group(s) {', '.join(missing)}: "
        "check the name (--resource-group matches a resource group name, not an id)"
    )


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
    started_at: str | None = None,
    accepted: list[suppressions.Suppression] | None = None,
    previous: list[dict[str, Any]] | None = None,
    today: date | None = None,
    resource_groups: Iterable[str] = (),
) -> Report:
    """Analyse `inventory` with `rules` (all when None) and wrap the result in a `Report`.

    `started_at` lets a live scan count collection time in the run; it defaults to now.
    `accepted` (a loaded `--suppressions` file) marks findings suppressed as of `today`;
    `previous` (a loaded `--baseline` report) marks them new or unchanged.
    `resource_groups`, when given, keeps only findings (and resolved baseline entries) whose
    resource id is in one of them. The analysis itself stays subscription-wide, so rules see
    hub VNets and shared accounts in other groups, and suppression notes describe the file
    against every finding, not just the ones shown.
    """
    started = started_at or utc_now()
    rule_ids = choose_rules() if rules is None else rules
    context = Context(
        inventory,
        source_region=source_region,
        target_region=target_region,
        cloud=cloud,
        thresholds=dict(thresholds or {}),
    )
    findings = analyze(inventory, context, select=rule_ids) if rule_ids else []
    notes = suppressions.apply(findings, accepted, today or date.today()) if accepted is not None else []
    resolved = baseline.apply(findings, previous) if previous is not None else []
    groups = _lower(resource_groups)
    if groups:
        findings = [f for f in findings if in_resource_groups(f.resource_id, groups)]
        resolved = [r for r in resolved if in_resource_groups(r["resource_id"], groups)]
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
        resource_groups=sorted(groups),
        suppression_notes=notes,
        resolved=resolved,
    )


def failing(report: Report, fail_on: str) -> int:
    """Unsuppressed findings at or above `fail_on` (`none` never fails)."""
    if fail_on == "none":
        return 0
    threshold = Severity(fail_on).rank
    return sum(1 for f in report.active if f.severity.rank >= threshold)


def exit_code(report: Report, fail_on: str) -> int:
    """DESIGN.md §3: failing findings win over an incomplete scan; suppressed findings never count."""
    if failing(report, fail_on):
        return EXIT_FINDINGS
    if report.gaps:
        return EXIT_INCOMPLETE
    return EXIT_OK
