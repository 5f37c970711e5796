"""`--output markdown`: a report a person reads in a pull request comment or a wiki page.

GitHub-flavoured Markdown that also renders in Azure DevOps wikis: a summary table by
severity, one findings table per severity (worst first), then suppressed findings,
suppression-file notes, findings resolved since the baseline, and coverage gaps.
Every value that comes from Azure or from the run goes through `sanitize.markdown`, so a
resource named `<script>` or `a|b` stays text and cannot break a table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from asr_audit.findings import Finding, Severity
from asr_audit.report import Report
from asr_audit.report.sanitize import markdown as md
from asr_audit.report.sanitize import markdown_url
from asr_audit.triage.suppressions import describe_note


class _Raw(str):
    """Markdown this module wrote itself: not escaped again."""


def render(report: Report) -> str:
    baseline = any(f.baseline for f in report.findings) or bool(report.resolved)
    sections = [
        ["# asr-audit report", "", *_scope(report)],
        ["## Summary", "", *_summary(report, baseline)],
        ["## Findings", "", *_active(report, baseline)],
        _suppressed(report),
        _notes(report),
        _resolved(report),
        ["## Coverage gaps", "", *_gaps(report)],
    ]
    return "\n\n".join("\n".join(s) for s in sections if s) + "\n"


def _scope(report: Report) -> list[str]:
    subs = ", ".join(md(s) for s in report.subscriptions) or "none"
    if report.source_region or report.target_region:
        regions = f"{md(report.source_region or 'inferred')} → {md(report.target_region or 'inferred')}"
    else:  # no flags: each protected item carries its own pair
        regions = "from ASR replication settings"
    return [
        f"- **Subscriptions:** {subs}",
        f"- **Cloud:** {md(report.cloud)}",
        f"- **Regions (source → target):** {regions}",
        f"- **Run:** {md(report.started_at)} to {md(report.finished_at)}",
        f"- **Tool:** asr-audit {md(report.tool_version)}",
    ]


def _summary(report: Report, baseline: bool) -> list[str]:
    active = report.by_severity()
    suppressed = {s.value: 0 for s in Severity}
    for f in report.findings:
        if f.suppressed:
            suppressed[f.severity.value] += 1
    rows: list[Sequence[object]] = [
        (s.value.capitalize(), active[s.value], suppressed[s.value]) for s in Severity
    ]
    rows.append((_Raw("**Total**"), sum(active.values()), sum(suppressed.values())))
    table = _table(("Severity", "Active", "Suppressed"), rows)
    if baseline:
        new = sum(1 for f in report.findings if f.baseline == "new")
        unchanged = sum(1 for f in report.findings if f.baseline == "unchanged")
        resolved = len(report.resolved)
        table += ["", f"Against the baseline: {new} new, {unchanged} unchanged, {resolved} resolved."]
    return table


def _active(report: Report, baseline: bool) -> list[str]:
    active = report.active
    if not active:
        return ["No active findings."]
    lines: list[str] = []
    for severity in Severity:
        group = [f for f in active if f.severity is severity]
        if group:
            title = f"### {severity.value.capitalize()} ({len(group)})"
            lines += [*([""] if lines else []), title, "", *_findings(group, baseline)]
    return lines


def _findings(findings: list[Finding], baseline: bool) -> list[str]:
    header = ("Rule", "Resource", "Message", "Remediation", "Docs") + (("Baseline",) if baseline else ())
    rows = []
    for f in findings:
        status = " (undecided)" if f.status == "unknown" else ""
        url = markdown_url(f.docs)
        row: list[object] = [
            f"{f.rule_id}{status}",
            f.resource_id,
            f.message,
            f.remediation,
            _Raw(f"[docs]({url})" if url else "-"),
        ]
        if baseline:
            row.append(f.baseline)
        rows.append(row)
    return _table(header, rows)


def _suppressed(report: Report) -> list[str]:
    suppressed = [f for f in report.findings if f.suppressed]
    if not suppressed:
        return []
    rows = ((f.rule_id, f.severity.value, f.resource_id, f.suppression_reason) for f in suppressed)
    header = f"## Suppressed ({len(suppressed)})"
    return [header, "", *_table(("Rule", "Severity", "Resource", "Reason"), rows)]


def _notes(report: Report) -> list[str]:
    if not report.suppression_notes:
        return []
    return ["## Suppression file notes", "", *(f"- {md(describe_note(n))}" for n in report.suppression_notes)]


def _resolved(report: Report) -> list[str]:
    if not report.resolved:
        return []
    keys = ("rule_id", "severity", "resource_id", "title")
    rows = ([r.get(k) for k in keys] for r in report.resolved)
    header = f"## Resolved since baseline ({len(report.resolved)})"
    return [header, "", *_table(("Rule", "Severity", "Resource", "Title"), rows)]


def _gaps(report: Report) -> list[str]:
    if not report.gaps:
        return ["None: every collector read its data."]
    rows = ((g.subscription_id, g.collector, g.status, g.detail) for g in report.gaps)
    return [
        "The scan is incomplete: these collectors could not read their data.",
        "",
        *_table(("Subscription", "Collector", "Status", "Detail"), rows),
    ]


def _cell(value: object) -> str:
    if isinstance(value, _Raw):
        return value
    return "-" if value is None or value == "" else md(value)


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines
