"""`--output table`: the human report, rendered with rich.

Every string that comes from Azure (names, ids, messages that quote them, error details) goes
through `sanitize.clean` (escape and control characters made visible) and is wrapped in
`rich.text.Text`, which rich never parses as markup: a resource named `[red]x` or one carrying
an ANSI sequence prints literally and cannot restyle or rewrite the operator's terminal.
"""

from __future__ import annotations

from io import StringIO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from asr_audit import ids
from asr_audit.findings import Finding, Severity
from asr_audit.report import Report
from asr_audit.report.sanitize import clean
from asr_audit.triage.suppressions import describe_note

DEFAULT_WIDTH = 160

_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def safe(value: object, style: str = "", *, multiline: bool = False) -> Text:
    """Untrusted text as a rich `Text`: rendered verbatim, never interpreted as markup."""
    return Text(clean(value, multiline=multiline), style=style)


def render(report: Report, *, color: bool = False, width: int = DEFAULT_WIDTH) -> str:
    """Plain text unless `color` (the CLI passes it only when stdout is a terminal)."""
    buffer = StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        color_system="auto" if color else None,
        no_color=not color,
        highlight=False,
        emoji=False,
        soft_wrap=False,
    )
    for part in _sections(report):
        console.print(part, crop=False)  # tables keep to the width; only id notes may run past it
    text = buffer.getvalue()
    if color:
        return text
    # Plain text goes to files and CI logs: drop the padding rich adds to fill the width.
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def _sections(report: Report) -> list[RenderableType]:
    parts: list[RenderableType] = []
    active = report.active
    number = 1
    for severity in Severity:
        group = [f for f in active if f.severity is severity]
        if group:
            parts.append(_severity_section(severity, group, number))
            number += len(group)
    if not active:
        parts.append(Text("No unsuppressed findings.", style="green"))
    parts.append(_coverage(report))
    if report.suppression_notes:
        parts.append(_suppression_notes(report))
    if report.resolved:
        parts.append(_resolved(report))
    parts.append(_summary(report))
    return parts


def _severity_section(severity: Severity, findings: list[Finding], first: int) -> Group:
    """One table per severity (so no severity column); the fix sits under the message it
    answers, and full resource ids follow as numbered notes, one per line, because an ARM id
    folded inside a table cell can no longer be copied."""
    table = Table(
        title=Text(f"{severity.value.upper()} ({len(findings)})", style=_STYLE[severity]),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_lines=True,
        expand=True,
    )
    table.add_column("#", no_wrap=True, justify="right")
    table.add_column("Rule", no_wrap=True)
    table.add_column("Resource", ratio=2, overflow="fold")
    table.add_column("Status", no_wrap=True)
    table.add_column("Finding and fix", ratio=7, overflow="fold")
    notes: list[Text] = []
    for number, f in enumerate(findings, start=first):
        table.add_row(
            Text(str(number)),
            safe(f.rule_id, _STYLE[severity]),
            _resource(f),
            _status(f),
            Text.assemble(
                safe(f.message, multiline=True),
                "\n",
                Text("Fix: ", style="bold"),
                safe(f.remediation, multiline=True),
            ),
        )
        note = Text.assemble(Text(f"  #{number} ", style="dim"), safe(f.resource_id, "dim"))
        note.no_wrap, note.overflow = True, "ignore"  # one unbroken line, even past the width
        notes.append(note)
    return Group(table, *notes, Text(""))


def _status(f: Finding) -> Text:
    text = safe(f.status, "magenta" if f.status == "unknown" else "")
    if f.baseline == "new":
        text.append("\nnew", style="bold")
    return text


def _resource(f: Finding) -> Text:
    """Short name, then the last type segment (`subnets`, not the provider path) and the region;
    the full id is in the notes below the table."""
    rtype = (f.resource_type or "").rsplit("/", 1)[-1]
    text = safe(f.resource_name or ids.name_of(f.resource_id) or f.resource_id, "bold")
    for detail in (rtype, f.region):
        if detail:
            text.append_text(Text("\n")).append_text(safe(detail, "dim"))
    return text


def _coverage(report: Report) -> Text | Table:
    gaps = report.gaps
    if not gaps:
        checked = len(report.coverage)
        return Text(f"Coverage: complete ({checked} collector run{'s' if checked != 1 else ''} ok).")
    table = Table(
        title=Text(f"Coverage gaps ({len(gaps)}): results may be incomplete", style="bold yellow"),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        expand=True,
    )
    table.add_column("Subscription", overflow="fold")
    table.add_column("Collector", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Detail", ratio=3, overflow="fold")
    for c in gaps:
        table.add_row(
            safe(c.subscription_id),
            safe(c.collector),
            safe(c.status, "yellow"),
            safe(c.detail, multiline=True),
        )
    return table


def _suppression_notes(report: Report) -> Group:
    lines = [Text(f"Suppression file notes ({len(report.suppression_notes)}):", style="bold yellow")]
    lines += [Text.assemble("  - ", safe(describe_note(n))) for n in report.suppression_notes]
    return Group(*lines, Text(""))


def _resolved(report: Report) -> Group:
    lines = [Text(f"Resolved since the baseline ({len(report.resolved)}):", style="bold green")]
    for r in report.resolved:
        line = Text.assemble("  - ", safe(r.get("severity") or "-"), " ", safe(r.get("rule_id")), " ")
        line.append_text(safe(r.get("resource_id"), "dim"))
        line.no_wrap, line.overflow = True, "ignore"  # ids stay copyable
        lines.append(line)
    return Group(*lines, Text(""))


def _summary(report: Report) -> Group:
    counts = report.by_severity()
    total = sum(counts.values())
    suppressed = len(report.findings) - total
    line = Text(f"{total} finding{'s' if total != 1 else ''}: ", style="bold")
    line.append(", ".join(f"{n} {sev}" for sev, n in counts.items()))
    line.append(f"; {suppressed} suppressed")
    if any(f.baseline for f in report.findings) or report.resolved:
        new = sum(1 for f in report.active if f.baseline == "new")
        line.append(f"; baseline: {new} new, {len(report.resolved)} resolved")
    subs = safe(", ".join(report.subscriptions) or "none")
    if report.source_region or report.target_region:
        regions = f"{report.source_region or 'inferred'} -> {report.target_region or 'inferred'}"
    else:
        regions = "from ASR replication settings"
    return Group(
        line,
        Text.assemble("Subscriptions: ", subs),
        Text.assemble("Regions: ", safe(regions), "   Cloud: ", safe(report.cloud)),
    )
