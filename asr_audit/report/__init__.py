"""Reports: one module per output format, all rendering the same `Report`.

Each format module exposes `render(report: Report) -> str`; `render()` here picks one by
name and imports it only when asked, so `--output json` never loads rich. A `Report` carries the
metadata of the rules that ran, so formats that describe rules (SARIF, JUnit) never import them.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from asr_audit.findings import Check, Finding, RuleMeta, Severity
from asr_audit.inventory import Coverage

if TYPE_CHECKING:  # built by the run; formats that show no estate never import them
    from asr_audit.report.estate import Estate
    from asr_audit.report.topology import Topology

REPORT_SCHEMA_VERSION = "1"

FORMATS = {
    "table": "asr_audit.report.table",
    "json": "asr_audit.report.json_report",
    "sarif": "asr_audit.report.sarif",
    "junit": "asr_audit.report.junit",
    "markdown": "asr_audit.report.markdown",
    "csv": "asr_audit.report.csv_report",
    "html": "asr_audit.report.html",
}
# The formats that draw the DR topology; the others never read `Report.topology`, and building it
# takes about a second at 100k resources (bench/README.md).
DRAWN = frozenset({"markdown", "html"})
# The formats written in pieces as they are encoded (`chunks`), not held whole: JSON's text of a
# 100k-resource report, with the parts it is joined from, took 600 MiB (bench/README.md).
STREAMED = frozenset({"json"})


@dataclass(slots=True)
class Report:
    tool_version: str
    subscriptions: list[str]
    cloud: str
    source_region: str | None
    target_region: str | None
    started_at: str
    finished_at: str
    findings: list[Finding]
    coverage: list[Coverage]
    rules_run: list[str] = field(default_factory=list)
    # What the run knows of its rules (ids in `rules_run`, or named by findings): formats describe
    # a rule from here; one missing here is described from its findings alone.
    rules: dict[str, RuleMeta] = field(default_factory=dict)
    resource_groups: list[str] = field(default_factory=list)  # --resource-group view, if any
    # Suppression and baseline bookkeeping (issue: compliance workflow); empty when unused.
    suppression_notes: list[dict[str, Any]] = field(default_factory=list)
    resolved: list[dict[str, Any]] = field(default_factory=list)
    # --include-passed: what each rule examined and passed; None when not asked for.
    passed: list[Check] | None = None
    # What the findings are about (issue 12): the scope summary and the DR dependency graph the
    # human formats open with; None when the report was not built from an inventory.
    estate: Estate | None = None
    topology: Topology | None = None

    @property
    def active(self) -> list[Finding]:
        return [f for f in self.findings if not f.suppressed]

    def by_severity(self) -> dict[str, int]:
        counts = {s.value: 0 for s in Severity}
        for f in self.active:
            counts[f.severity.value] += 1
        return counts

    def passed_by_rule(self) -> dict[str, list[Check]]:
        """--include-passed: the checks per rule id, in rule order (empty when not asked for)."""
        grouped: dict[str, list[Check]] = {}
        for check in sorted(self.passed or (), key=lambda c: (c.rule_id, c.resource_id.lower())):
            grouped.setdefault(check.rule_id, []).append(check)
        return grouped

    @property
    def gaps(self) -> list[Coverage]:
        return [c for c in self.coverage if c.is_gap]


def render(report: Report, fmt: str) -> str:
    return "".join(chunks(report, fmt))


def chunks(report: Report, fmt: str) -> Iterable[str]:
    """The report's text in the pieces its format makes: one, unless it is `STREAMED`."""
    module = importlib.import_module(FORMATS[fmt])
    return module.chunks(report) if fmt in STREAMED else (module.render(report),)
