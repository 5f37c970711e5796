"""One audit run, from an inventory to a `Report`, with no argparse and no output.

The CLI, `asr-audit demo` and tests all go through here, so a snapshot, a live scan and a
replayed recording are analysed the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timezone
from typing import Any

from asr_audit import __version__, baseline, scope, suppressions
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
    has_a2a = bool(scope.a2a_items(context)) or any(
        m.instance_type == "AzureToAzure" for m in inventory.network_mappings
    )
    if has_a2a:
        return None
    return (
        "no Azure-to-Azure replication found in the scanned scope and no --source-region given: "
        "VMs that are not yet protected were not checked; pass --source-region (and --target-region) "
        "to audit their readiness"
    )


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
) -> Report:
    """Analyse `inventory` with `rules` (all when None) and wrap the result in a `Report`.

    `started_at` lets a live scan count collection time in the run; it defaults to now.
    `accepted` (a loaded `--suppressions` file) marks findings suppressed as of `today`;
    `previous` (a loaded `--baseline` report) marks them new or unchanged.
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
