"""`--output markdown`: a report a person reads in a pull request comment or a wiki page.

GitHub-flavoured Markdown that also renders in Azure DevOps wikis: the estate the findings are
about (subscriptions by name, region pairs, vaults, recovery VNets, circuits, coverage) and a
Mermaid picture of what DR depends on, then a summary table by severity, one findings table per
severity (worst first), suppressed findings, suppression-file notes, findings resolved since the
baseline, and coverage gaps.

Tables are for scanning: a resource is shown by name (its full ARM id in the collapsed details
under the table) and no cell holds more than ~300 characters of text (the rest is in the
details too). Findings are numbered; the picture names the numbers of the findings on each node.
Every value that comes from Azure or from the run goes through `sanitize.markdown`, so a
resource named `<script>` or `a|b` stays text and cannot break a table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from asr_audit import ids
from asr_audit.findings import Finding, Severity
from asr_audit.report import Report, mermaid
from asr_audit.report.estate import Estate, coverage_sentence, grouping_sentence, subscription_label, tables
from asr_audit.report.sanitize import markdown as md
from asr_audit.report.sanitize import markdown_url
from asr_audit.report.topology import DEFAULT_LIMIT, Topology, collapse
from asr_audit.triage.suppressions import describe_note

CELL_LIMIT = 300  # characters of prose in a table cell; the rest goes to the details below it


class _Raw(str):
    """Markdown this module wrote itself: not escaped again."""


def render(report: Report) -> str:
    baseline = any(f.baseline for f in report.findings) or bool(report.resolved)
    numbers = _numbers(report)
    sections = [
        ["# asr-audit report", "", *_scope(report)],
        _estate(report.estate),
        _topology(report.topology, numbers),
        ["## Summary", "", *_summary(report, baseline)],
        ["## Findings", "", *_active(report, baseline, numbers)],
        _suppressed(report),
        _notes(report),
        _resolved(report),
        _passed(report),
        ["## Coverage gaps", "", *_gaps(report)],
    ]
    return "\n\n".join("\n".join(s) for s in sections if s) + "\n"


def _numbers(report: Report) -> dict[str, int]:
    """Active findings numbered as the tables list them (by severity, worst first)."""
    ordered = [f for severity in Severity for f in report.active if f.severity is severity]
    return {f.fingerprint: n for n, f in enumerate(ordered, start=1)}


def _scope(report: Report) -> list[str]:
    names = {s.id: subscription_label(s) for s in report.estate.subscriptions} if report.estate else {}
    subs = ", ".join(md(names.get(s, s)) for s in report.subscriptions) or "none"
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


def _estate(estate: Estate | None) -> list[str]:
    if estate is None:
        return []
    coverage = md(coverage_sentence(estate.coverage))
    if estate.coverage.gaps:
        coverage = f"**{coverage}**: see [Coverage gaps](#coverage-gaps)"
    lines = [
        "## Estate",
        "",
        f"- **VMs in scope:** {estate.protected_vms} protected, {estate.candidate_vms} candidate",
        f"- **Coverage:** {coverage}",
    ]
    for title, header, rows in tables(estate):
        lines += ["", *_table(header, rows)] if rows else ["", f"{title}: none."]
    return lines


def _topology(topology: Topology | None, numbers: dict[str, int]) -> list[str]:
    if topology is None:
        return []
    if not topology.nodes:
        return [
            "## DR topology",
            "",
            "Nothing to draw: no replicated or candidate VMs, network mappings or recovery VNets in scope.",
        ]
    drawn = mermaid.render(topology, numbers)
    grouped = grouping_sentence(collapse(topology).grouped_by, DEFAULT_LIMIT)
    lines = [
        "## DR topology",
        "",
        "What disaster recovery depends on, per region pair. A node or link in colour has an active "
        "finding (red high, orange medium, blue low); `#n` is its number in the tables below. Dotted "
        "arrows are failover paths (VMs failing over, network mappings), dotted lines cache staging."
        + (f" {md(grouped)}" if grouped else ""),
        "",
        "```mermaid",
        drawn.rstrip("\n"),
        "```",
    ]
    return lines


def _active(report: Report, baseline: bool, numbers: dict[str, int]) -> list[str]:
    active = report.active
    if not active:
        return ["No active findings."]
    lines: list[str] = []
    for severity in Severity:
        group = [f for f in active if f.severity is severity]
        if group:
            title = f"### {severity.value.capitalize()} ({len(group)})"
            lines += [*([""] if lines else []), title, "", *_findings(group, baseline, numbers)]
    return lines


def _findings(findings: list[Finding], baseline: bool, numbers: dict[str, int]) -> list[str]:
    header = ("#", "Rule", "Resource", "Message", "Remediation", "Docs") + (("Baseline",) if baseline else ())
    rows = []
    details = []
    for f in findings:
        number = numbers.get(f.fingerprint, 0)
        status = " (undecided)" if f.status == "unknown" else ""
        url = markdown_url(f.docs)
        row: list[object] = [
            number,
            f"{f.rule_id}{status}",
            _resource(f),
            _short(f.message),
            _short(f.remediation),
            _Raw(f"[docs]({url})" if url else "-"),
        ]
        if baseline:
            row.append(f.baseline)
        rows.append(row)
        details.append(_detail(number, f))
    return [*_table(header, rows), "", *_details("Full resource ids and text", details)]


def _resource(f: Finding) -> str:
    """`snet-db (subnets, eastus)`: the name an admin knows, the last type segment, the region."""
    name = f.resource_name or ids.name_of(f.resource_id) or f.resource_id
    context = ", ".join(p for p in ((f.resource_type or "").rsplit("/", 1)[-1], f.region) if p)
    return f"{name} ({context})" if context else name


def _short(text: str | None) -> str:
    """At most CELL_LIMIT characters, cut at a word; the whole text is in the details."""
    if not text or len(text) <= CELL_LIMIT:
        return text or ""
    cut = text[: CELL_LIMIT - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip(" ,;:") + "…"


def _detail(number: int, f: Finding) -> str:
    parts = [f"**#{number} {md(f.rule_id)}** {md(f.resource_id)}"]
    if _short(f.message) != f.message:
        parts.append(f"Message: {md(f.message)}")
    if _short(f.remediation) != f.remediation:
        parts.append(f"Fix: {md(f.remediation)}")
    return "<br>".join(parts)


def _details(summary: str, entries: list[str]) -> list[str]:
    """A collapsed list (GitHub and Azure DevOps render `<details>`; Markdown needs the blank lines)."""
    return [f"<details><summary>{md(summary)}</summary>", "", *(f"- {e}" for e in entries), "", "</details>"]


def _suppressed(report: Report) -> list[str]:
    suppressed = [f for f in report.findings if f.suppressed]
    if not suppressed:
        return []
    rows = ((f.rule_id, f.severity.value, _resource(f), f.suppression_reason) for f in suppressed)
    header = f"## Suppressed ({len(suppressed)})"
    details = [f"{md(f.rule_id)} {md(f.resource_id)}" for f in suppressed]
    return [
        header,
        "",
        *_table(("Rule", "Severity", "Resource", "Reason"), rows),
        "",
        *_details("Full resource ids", details),
    ]


def _notes(report: Report) -> list[str]:
    if not report.suppression_notes:
        return []
    return ["## Suppression file notes", "", *(f"- {md(describe_note(n))}" for n in report.suppression_notes)]


def _resolved(report: Report) -> list[str]:
    if not report.resolved:
        return []
    rows = (
        (r.get("rule_id"), r.get("severity"), ids.name_of(r.get("resource_id")), r.get("title"))
        for r in report.resolved
    )
    header = f"## Resolved since baseline ({len(report.resolved)})"
    details = [f"{md(r.get('rule_id'))} {md(r.get('resource_id'))}" for r in report.resolved]
    return [
        header,
        "",
        *_table(("Rule", "Severity", "Resource", "Title"), rows),
        "",
        *_details("Full resource ids", details),
    ]


def _passed(report: Report) -> list[str]:
    """--include-passed: per rule, collapsed, the resources it examined and passed."""
    if report.passed is None:
        return []
    lines = [
        f"## Passed checks ({len(report.passed)})",
        "",
        "What each rule examined and found nothing wrong with (audit evidence; nothing is listed "
        "where a rule's input had a gap).",
        "",
    ]
    for rule_id, checks in report.passed_by_rule().items():
        entries = [
            f"{md(c.resource_name or ids.name_of(c.resource_id))}: {md(c.resource_id)}" for c in checks
        ]
        lines += [*_details(f"{rule_id}: {len(checks)} passed", entries), ""]
    return lines[:-1]


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
