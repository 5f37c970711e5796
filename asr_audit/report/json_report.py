"""`--output json`: the stable, versioned report document (DESIGN.md §3).

`schemas/asr-audit-report.schema.json` is its minimum contract. Keys keep a fixed, readable
order (not sorted) so diffs between runs stay small. `summary.total` counts unsuppressed
findings, so it equals the sum of `summary.by_severity`; suppressed ones are counted apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from enum import Enum
from typing import Any

from asr_audit.findings import Finding
from asr_audit.inventory import Coverage
from asr_audit.redact import scrub_json
from asr_audit.report import REPORT_SCHEMA_VERSION, Report

TOOL_NAME = "asr-audit"
# Encoder parts per written piece: ~60 KiB of text, few enough writes and redaction checks.
_PARTS_PER_PIECE = 4096


def document(report: Report) -> dict[str, Any]:
    return _document(report, [f.to_json() for f in report.findings])


def _document(report: Report, findings: list[Any]) -> dict[str, Any]:
    active = report.active
    doc: dict[str, Any] = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": report.tool_version},
        "scope": {
            "subscriptions": list(report.subscriptions),
            "source_region": report.source_region,
            "target_region": report.target_region,
            "cloud": report.cloud,
            "resource_groups": list(report.resource_groups),  # empty: the whole subscriptions
        },
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "summary": {
            "by_severity": report.by_severity(),
            "total": len(active),
            "suppressed": len(report.findings) - len(active),
        },
        "rules_run": list(report.rules_run),
        "coverage": [_coverage(c) for c in report.coverage],
        "findings": findings,
    }
    if report.suppression_notes:
        doc["suppressions"] = report.suppression_notes
    if report.resolved:
        doc["resolved"] = report.resolved
    if report.passed is not None:
        doc["passed"] = [c.to_json() for c in report.passed]
    if report.estate is not None:
        doc["estate"] = report.estate.to_json()
    return doc


def render(report: Report) -> str:
    return "".join(chunks(report))


def chunks(report: Report) -> Iterator[str]:
    """The document's text in pieces as it is encoded, every token-like value redacted (DESIGN.md
    §8.2; JSON escapes the rest): written as they come, a large report is never held whole (at
    100k resources the text and its millions of parts cost 600 MiB over the analysis's peak).

    The indented encoder yields each string literal whole, so a piece joined from its parts never
    splits one, and `scrub_json` redacts only the literals of a piece holding a word a redaction
    needs (most reports hold none)."""
    parts: list[str] = []
    doc = _document(report, _AsJson(report.findings))
    for part in json.JSONEncoder(indent=2, default=_jsonable).iterencode(doc):
        parts.append(part)
        if len(parts) == _PARTS_PER_PIECE:
            yield scrub_json("".join(parts))
            parts.clear()
    parts.append("\n")
    yield scrub_json("".join(parts))


class _AsJson(list[Any]):
    """The findings as `chunks` encodes them: each made JSON as it is written, not all first (at
    1M resources the 703,835 dicts took the report 190 MiB over the analysis's peak). A list to
    the indented encoder, which iterates it; nothing else sees it."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        super().__init__()
        self._findings = findings

    def __iter__(self) -> Iterator[Any]:
        return (f.to_json() for f in self._findings)

    def __len__(self) -> int:
        return len(self._findings)


def _coverage(c: Coverage) -> dict[str, Any]:
    return {
        "subscription_id": c.subscription_id,
        "collector": c.collector,
        "status": c.status,
        "detail": c.detail,
        "items": c.items,
        "unread": list(c.unread),
        "object_id": c.object_id,
    }


def _jsonable(value: Any) -> Any:
    """Evidence is free-form rule output: sets, tuples and enums must not crash a finished run."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)
