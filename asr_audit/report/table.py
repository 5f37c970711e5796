"""`--output table`: the report a person reads in a terminal, a CI log or a text file.

It must fit the width it is given (the CLI's policy is `app.terminal.choose_width`) without
breaking a word, because a terminal that wraps a line splits names and commands mid-word, and a
name broken in two can no longer be searched for or copied. So the layout is done here, on whole
words, instead of by rich's table wrapping, which folds any word longer than its cell:

- **Default (compact).** The summary line first; then per severity (worst first) and per rule a
  header naming the rule, and one line per finding: its number, the resource (its name, never its
  ARM id) and the start of its message, cut after a whole word with `…`. Every line fits the
  width: a single word wider than a whole line (a long name at under about 60 columns, an id in a
  coverage detail) is the one thing cut inside a word, with `…`.
- **`details=True`.** Each finding becomes a block: where it is, the whole message, the evidence
  (ARM ids in it shortened to resource names: `--output json` has them in full), the one fix, and
  the full resource id. Text wraps at spaces; a token wider than the line (an ARM id, a long
  command argument) gets a line of its own and runs past the width rather than being broken, so it
  stays copyable.

Every string that comes from Azure (names, ids, messages that quote them, error details) goes
through `sanitize.clean` (escape and control characters made visible), and colour output prints it
as `rich.text.Text`, which rich never parses as markup: a resource named `[red]x` or one carrying
an ANSI sequence prints literally and cannot restyle or rewrite the operator's terminal.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from io import StringIO
from itertools import groupby
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from asr_audit import ids
from asr_audit.findings import Check, Finding, Severity
from asr_audit.inventory import Coverage
from asr_audit.report import Report
from asr_audit.report.estate import estate_lines, subscription_names_of
from asr_audit.report.sanitize import clean
from asr_audit.triage.suppressions import describe_note

DEFAULT_WIDTH = 80
ELLIPSIS = "…"

_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
_INDENT_RULE = 2  # a rule's header under its severity
_INDENT_ROW = 4  # a finding's number under its rule
_GAP = 2  # between columns


# --- lines of styled segments ---------------------------------------------------------------------


@dataclass
class Line:
    """One output line as (text, style) segments: plain output joins the texts, colour output
    styles them. Texts are already sanitised."""

    segments: list[tuple[str, str]] = field(default_factory=list)

    def add(self, text: str, style: str = "") -> Line:
        if text:
            self.segments.append((text, style))
        return self

    @property
    def width(self) -> int:
        return sum(cell_len(text) for text, _ in self.segments)

    def plain(self) -> str:
        return "".join(text for text, _ in self.segments).rstrip()

    def rich(self) -> Text:
        return Text.assemble(*self.segments)


def clip(text: str, width: int) -> str:
    """As many whole words of `text` as fit in `width` cells, then `…` if any were left out. Only
    a first word wider than `width` itself is cut, since there is nothing else to show."""
    if cell_len(text) <= width:
        return text
    kept = ""
    for word in text.split():
        candidate = f"{kept} {word}" if kept else word
        if cell_len(candidate) + 1 > width:
            break
        kept = candidate
    if kept:
        return kept + ELLIPSIS
    cut = ""
    for char in text:
        if cell_len(cut + char) + 1 > width:
            break
        cut += char
    return cut + ELLIPSIS if width > 0 else ""


def wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` cells, broken at spaces only (newlines kept); a word
    wider than `width` stands alone on its line, whole."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split():
            if current and cell_len(current) + 1 + cell_len(word) > width:
                lines.append(current)
                current = word
            else:
                current = f"{current} {word}" if current else word
        lines.append(current)
    return lines


def _para(
    text: str, width: int, indent: int, *, first: str = "", style: str = "", fit: bool, hang: int = 0
) -> list[Line]:
    """A wrapped paragraph at `indent` (its later lines `hang` further in), with an optional bold
    label before its first line. With `fit`, a word that cannot fit a line of its own is clipped
    (compact view); else it runs past."""
    room = max(1, width - indent - hang)
    out = []
    for i, chunk in enumerate(wrap(f"{first} {text}" if first else text, room)):
        line = Line().add(" " * (indent + (hang if i else 0)))
        if fit:
            chunk = clip(chunk, room)
        if i == 0 and first and (chunk == first or chunk.startswith(first + " ")):
            line.add(first, "bold")
            chunk = chunk[len(first) :]
        out.append(line.add(chunk, style))
    return out


# --- what is shown of a resource -------------------------------------------------------------------


def check_label(check: Check, names: Mapping[str, str]) -> str:
    """A passed check's resource as the findings name theirs."""
    return check.resource_name or short_id(check.resource_id, names)


def short_id(resource_id: str, names: Mapping[str, str]) -> str:
    """An ARM id as a person names the resource: its name, with its parent's for a child
    (`vnet-prod-eus/snet-db`: subnet names like `default` repeat); a resource group's name; a
    subscription's display name. Anything else is returned as it is."""
    parts = [p for p in resource_id.split("/") if p]
    lowered = [p.lower() for p in parts]
    if len(parts) < 2 or lowered[0] != "subscriptions":
        return resource_id
    if "providers" in lowered:
        below = parts[lowered.index("providers") + 3 :: 2]  # past the namespace: type/name pairs
        if below:
            return "/".join(below) if len(below) == 2 else below[-1]
    if len(parts) >= 4 and lowered[2] == "resourcegroups":
        return parts[3]
    return names.get(parts[1].lower(), parts[1])


def _resource(f: Finding, names: Mapping[str, str]) -> str:
    return clean(f.resource_name or short_id(f.resource_id, names) or f.resource_id)


def _markers(f: Finding) -> str:
    marks = [m for m, on in (("new", f.baseline == "new"), ("unknown", f.status == "unknown")) if on]
    return f"{', '.join(marks)}: " if marks else ""


# --- the report ------------------------------------------------------------------------------------


@dataclass
class _Layout:
    report: Report
    width: int
    details: bool
    names: Mapping[str, str]

    def lines(self, preamble: Sequence[str]) -> Iterator[Line]:
        yield from self.head(preamble)
        active = self.report.active
        if active:
            yield from self.findings(active)
        else:
            yield Line().add("No unsuppressed findings.", "green")
            yield Line()
        yield from self.coverage()
        yield from self.suppression_notes()
        yield from self.resolved()
        yield from self.passed()
        yield from self.scope()

    def head(self, preamble: Sequence[str]) -> Iterator[Line]:
        """The summary line, then whatever a caller puts before the findings (an estate summary)."""
        yield from _para(summary_line(self.report), self.width, 0, style="bold", fit=True)
        for text in preamble:
            text = clean(text)
            if cell_len(text) <= self.width:  # laid out already (the estate's aligned labels)
                yield Line().add(text)
                continue
            body = text.lstrip(" ")  # its own indentation (a hanging label) is kept
            yield from self.para(body, len(text) - len(body))
        yield Line()

    def findings(self, active: list[Finding]) -> Iterator[Line]:
        ordered = sorted(active, key=lambda f: -f.severity.rank)  # stable: each rule's order is kept
        numbers = len(str(len(ordered)))
        name_cap = max(10, (self.width - _INDENT_ROW - numbers - _GAP) // 3)
        name_width = min(name_cap, max(cell_len(_resource(f, self.names)) for f in ordered))
        number = 0
        for severity, in_severity in groupby(ordered, key=lambda f: f.severity):
            group = list(in_severity)
            yield Line().add(f"{severity.value.upper()} ({len(group)})", _STYLE[severity])
            for rule_id, of_rule in groupby(sorted(group, key=lambda f: f.rule_id), key=lambda f: f.rule_id):
                yield self.rule_header(rule_id, group, severity)
                for f in of_rule:
                    number += 1
                    tag = str(number).rjust(numbers)
                    if self.details:
                        yield from self.block(f, tag)
                    else:
                        yield self.row(f, tag, name_width)
            yield Line()

    def rule_header(self, rule_id: str, group: list[Finding], severity: Severity) -> Line:
        meta = self.report.rules.get(rule_id)
        title = clean(meta.title if meta else next(f.title for f in group if f.rule_id == rule_id))
        rid = clean(rule_id)
        room = self.width - _INDENT_RULE - cell_len(rid) - _GAP
        line = Line().add(" " * _INDENT_RULE).add(rid, _STYLE[severity])
        return line.add(" " * _GAP).add(clip(title, room)) if room > 1 else line

    def row(self, f: Finding, tag: str, name_width: int) -> Line:
        line = Line().add(" " * _INDENT_ROW).add(tag).add(" " * _GAP)
        name = _resource(f, self.names)
        room = self.width - line.width
        if cell_len(name) >= room:
            return line.add(clip(name, room), "bold")
        line.add(name, "bold").add(" " * max(_GAP, name_width - cell_len(name) + _GAP))
        room = self.width - line.width
        markers = _markers(f)
        text = clip(markers + clean(f.message), room)
        if markers and text.startswith(markers):
            line.add(markers, "magenta")
            text = text[len(markers) :]
        return line.add(text)

    def block(self, f: Finding, tag: str) -> Iterator[Line]:
        """A finding in full: what and where, the message, the evidence, the one fix, the id."""
        yield Line().add(" " * _INDENT_ROW).add(tag).add(" " * _GAP).add(_resource(f, self.names), "bold")
        indent = _INDENT_ROW + len(tag) + _GAP
        markers = _markers(f)
        if markers:
            yield Line().add(" " * indent).add(markers.rstrip(": "), "magenta")
        yield from self.para(self.where(f), indent, style="dim")
        yield from self.para(clean(f.message, multiline=True), indent)
        if f.evidence:
            yield Line().add(" " * indent).add("Evidence:", "bold")
            for depth, text in evidence_lines(f.evidence, self.names):
                yield from self.para(text, indent + 2 + 2 * depth, hang=2)
        yield from self.para(clean(self.fix(f), multiline=True), indent, first="Fix:")
        yield from self.para(clean(f.resource_id), indent, first="Id:")
        if f.docs:
            docs = f"{clean(f.docs)} (rule page: asr-audit explain {clean(f.rule_id)})"
            yield from self.para(docs, indent, first="Docs:")

    def para(self, text: str, indent: int, *, first: str = "", style: str = "", hang: int = 0) -> list[Line]:
        """Wrapped text; only the compact view clips a word too wide for a line of its own."""
        return _para(text, self.width, indent, first=first, style=style, fit=not self.details, hang=hang)

    def fix(self, f: Finding) -> str:
        """The finding's own remediation (the command for this resource); the rule's generic one
        only when the finding has none (data from an older version)."""
        meta = self.report.rules.get(f.rule_id)
        return f.remediation or (meta.remediation if meta else "")

    def where(self, f: Finding) -> str:
        parts = []
        rtype = (f.resource_type or "").rsplit("/", 1)[-1]
        if rtype and rtype.lower() != "subscriptions":  # the subscription is named below
            parts.append(clean(rtype) + (f" in {clean(f.region)}" if f.region else ""))
        group = ids.resource_group_of(f.resource_id)
        if group:
            parts.append(f"resource group {clean(group)}")
        if f.subscription_id:
            parts.append(
                f"subscription {clean(self.names.get(f.subscription_id.lower(), f.subscription_id))}"
            )
        return ", ".join(parts)

    def coverage(self) -> Iterator[Line]:
        gaps = self.report.gaps
        if not gaps:
            checked = len(self.report.coverage)
            yield Line().add(f"Coverage: complete ({checked} collector run{'s' if checked != 1 else ''} ok).")
            yield Line()
            return
        title = f"Coverage gaps ({len(gaps)}): results may be incomplete"
        yield from _para(title, self.width, 0, style="bold yellow", fit=True)
        for gap in gaps:
            yield from self.gap(gap)
        yield Line()

    def gap(self, gap: Coverage) -> Iterator[Line]:
        where = clean(self.names.get(gap.subscription_id.lower(), gap.subscription_id))
        head = f"{where}: {clean(gap.collector)} {clean(gap.status)}"
        yield from self.para(head, _INDENT_RULE)
        if gap.detail:
            yield from self.para(clean(gap.detail), _INDENT_ROW)

    def suppression_notes(self) -> Iterator[Line]:
        notes = [clean(describe_note(n)) for n in self.report.suppression_notes]
        yield from self.listing("Suppression file notes", "bold yellow", notes)

    def resolved(self) -> Iterator[Line]:
        entries = []
        for r in self.report.resolved:
            rid = str(r.get("resource_id") or "")
            shown = rid if self.details else short_id(rid, self.names)
            entries.append(f"{clean(r.get('severity') or '-')} {clean(r.get('rule_id'))} {clean(shown)}")
        yield from self.listing("Resolved since the baseline", "bold green", entries)

    def passed(self) -> Iterator[Line]:
        """--include-passed: per rule, the resources it examined and passed (names; full ids with
        --details), as audit evidence of what was checked."""
        if self.report.passed is None:
            return
        groups = self.report.passed_by_rule()
        yield Line().add(f"Passed: {len(self.report.passed)} checks in {len(groups)} rules", "bold green")
        for rule_id, checks in groups.items():
            shown = [c.resource_id if self.details else check_label(c, self.names) for c in checks]
            yield from self.para(", ".join(clean(s) for s in shown), _INDENT_RULE, first=f"{rule_id}:")
        yield Line()

    def listing(self, title: str, style: str, entries: list[str]) -> Iterator[Line]:
        if entries:
            yield Line().add(f"{title} ({len(entries)}):", style)
            for text in entries:
                yield from self.para(text, _INDENT_RULE, first="-")
            yield Line()

    def scope(self) -> Iterator[Line]:
        report = self.report
        yield from _para(summary_line(report), self.width, 0, style="bold", fit=True)
        subs = [
            f"{self.names[s.lower()]} ({s})" if s.lower() in self.names else s for s in report.subscriptions
        ]
        yield from _para(clean(", ".join(subs) or "none"), self.width, 0, first="Subscriptions:", fit=True)
        if report.source_region or report.target_region:
            regions = f"{report.source_region or 'inferred'} -> {report.target_region or 'inferred'}"
        else:
            regions = "from ASR replication settings"
        text = f"{clean(regions)}; cloud: {clean(report.cloud)}"
        yield from _para(text, self.width, 0, first="Regions:", fit=True)
        if report.active and not self.details:
            hint = "Evidence and fixes: add --details. A rule's page: asr-audit explain RULE-ID."
            yield from _para(hint, self.width, 0, style="dim", fit=True)


def summary_line(report: Report) -> str:
    """Severity counts and coverage state in one line: the first and the last thing a reader sees."""
    counts = report.by_severity()
    total = sum(counts.values())
    suppressed = len(report.findings) - total
    parts = [f"{total} finding{'s' if total != 1 else ''}"]
    if total:
        parts[0] += ": " + ", ".join(f"{n} {sev}" for sev, n in counts.items() if n)
    if suppressed:
        parts.append(f"{suppressed} suppressed")
    if any(f.baseline for f in report.findings) or report.resolved:
        new = sum(1 for f in report.active if f.baseline == "new")
        parts.append(f"baseline: {new} new, {len(report.resolved)} resolved")
    gaps = len(report.gaps)
    parts.append(f"coverage: {gaps} gap{'s' if gaps != 1 else ''}" if gaps else "coverage complete")
    return "; ".join(parts)


def evidence_lines(value: Any, names: Mapping[str, str], depth: int = 0) -> Iterator[tuple[int, str]]:
    """Evidence as indented `key: value` lines (depth, text); empty values left out, ARM ids named."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if _empty(item):
                continue
            if _scalar_or_flat(item):
                yield depth, f"{clean(key)}: {_flat(item, names)}"
            else:
                yield depth, f"{clean(key)}:"
                yield from evidence_lines(item, names, depth + 1)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            if _scalar_or_flat(item):
                yield depth, f"- {_flat(item, names)}"
            else:
                first = True
                for d, text in evidence_lines(item, names, depth + 1):
                    yield (depth, f"- {text}") if first else (d, text)
                    first = False
    elif not _empty(value):
        yield depth, _flat(value, names)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, tuple, set, frozenset, dict)) and not value)


def _scalar_or_flat(value: Any) -> bool:
    scalar = (str, int, float, bool)
    if isinstance(value, (list, tuple, set, frozenset)):
        return all(isinstance(v, scalar) or v is None for v in value)
    return not isinstance(value, Mapping)


def _flat(value: Any, names: Mapping[str, str]) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, set, frozenset)):
        items: Iterable[Any] = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return ", ".join(_flat(v, names) for v in items if v is not None)
    text = clean(getattr(value, "value", value))
    return short_id(text, names) if text.lower().startswith("/subscriptions/") else text


def render(
    report: Report,
    *,
    color: bool = False,
    width: int = DEFAULT_WIDTH,
    details: bool = False,
    subscription_names: Mapping[str, str] | None = None,
    preamble: Sequence[str] | None = None,
) -> str:
    """The table. Plain text unless `color` (the CLI passes it only when stdout is a terminal).

    `subscription_names` maps subscription ids (any case) to display names, shown instead of
    GUIDs; `preamble` lines go between the summary line and the findings (wrapped to the width).
    Both default to what the report's estate says: its subscriptions' names and its summary.
    """
    if subscription_names is None:
        subscription_names = subscription_names_of(report)
    if preamble is None:
        preamble = estate_lines(report.estate, width) if report.estate is not None else ()
    names = {k.lower(): v for k, v in subscription_names.items() if v}
    lines = list(_Layout(report, width, details, names).lines(preamble))
    if not color:
        return "\n".join(line.plain() for line in lines) + "\n"
    buffer = StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=True,
        color_system="auto",
        highlight=False,
        emoji=False,
    )
    for line in lines:
        console.print(line.rich(), soft_wrap=True)  # laid out already: rich must not wrap again
    return buffer.getvalue()
