"""`--output csv`: one row per finding, for spreadsheets and ad-hoc filtering.

Columns are fixed (`COLUMNS`) so scheduled exports stay comparable. Every cell is quoted
and goes through `sanitize.csv_cell`: a value starting with `=`, `+`, `-` or `@` is
prefixed with `'` so a spreadsheet shows it instead of evaluating it (CSV injection),
and newlines are flattened so each finding is exactly one line. Booleans are
`true`/`false`; an unset baseline is an empty cell. Coverage gaps are not findings and are
not in this format: use json, markdown or sarif to see them.

`subscription_name`, `resource_group` and `resource_name` sit beside the ids they come from,
because a spreadsheet is filtered and read by those names, not by GUIDs and ARM paths.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

from asr_audit import ids
from asr_audit.findings import Check, Finding
from asr_audit.report import Report
from asr_audit.report.estate import subscription_names_of
from asr_audit.report.sanitize import csv_cell

COLUMNS = (
    "rule_id",
    "title",
    "severity",
    "status",
    "subscription_id",
    "subscription_name",
    "resource_group",
    "resource_name",
    "resource_id",
    "resource_type",
    "region",
    "message",
    "remediation",
    "docs",
    "fingerprint",
    "suppressed",
    "suppression_reason",
    "baseline",
)


def render(report: Report, *, subscription_names: Mapping[str, str] | None = None) -> str:
    """The CSV; `subscription_names` maps subscription ids (any case) to their display names
    (by default, the report's estate's)."""
    if subscription_names is None:
        subscription_names = subscription_names_of(report)
    names = {k.lower(): v for k, v in subscription_names.items()}
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows([csv_cell(v) for v in _row(f, names)] for f in report.findings)
    writer.writerows([csv_cell(v) for v in _pass_row(c, report, names)] for c in report.passed or ())
    return out.getvalue()


def _pass_row(c: Check, report: Report, names: Mapping[str, str]) -> tuple[object, ...]:
    """--include-passed: a row with status `pass` and no severity, message or fix of its own."""
    meta = report.rules.get(c.rule_id)
    row = dict.fromkeys(COLUMNS)
    row.update(
        rule_id=c.rule_id,
        title=meta.title if meta else None,
        status="pass",
        subscription_id=c.subscription_id,
        subscription_name=names.get(c.subscription_id.lower()),
        resource_group=ids.resource_group_of(c.resource_id),
        resource_name=c.resource_name or ids.name_of(c.resource_id),
        resource_id=c.resource_id,
        resource_type=c.resource_type,
        region=c.region,
        docs=meta.microsoft_docs if meta else None,
        suppressed="false",
    )
    return tuple(row.values())


def _row(f: Finding, names: Mapping[str, str]) -> tuple[object, ...]:
    return (
        f.rule_id,
        f.title,
        f.severity.value,
        f.status,
        f.subscription_id,
        names.get(f.subscription_id.lower()),
        ids.resource_group_of(f.resource_id),
        f.resource_name or ids.name_of(f.resource_id),
        f.resource_id,
        f.resource_type,
        f.region,
        f.message,
        f.remediation,
        f.docs,
        f.fingerprint,
        "true" if f.suppressed else "false",
        f.suppression_reason,
        f.baseline,
    )
