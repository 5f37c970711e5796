"""CSV output: one parseable row per finding, fixed columns, formula injection neutralised."""

from __future__ import annotations

import csv
import io

import pytest
from report_samples import FORMULA, HOSTILE_RULE, QUIET_RULE, SUB, finding, resource_id, sample_report

from asr_audit.report import render
from asr_audit.report.csv_report import COLUMNS
from asr_audit.report.csv_report import render as render_csv
from asr_audit.report.sanitize import csv_cell


def parse(text: str) -> list[dict[str, str]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    assert tuple(header) == COLUMNS
    return [dict(zip(header, row, strict=True)) for row in reader]


def test_one_row_per_finding_with_the_documented_columns() -> None:
    report = sample_report()
    rows = parse(render(report, "csv"))
    assert [r["rule_id"] for r in rows] == [HOSTILE_RULE, HOSTILE_RULE, QUIET_RULE]
    assert [r["fingerprint"] for r in rows] == [f.fingerprint for f in report.findings]
    assert [r["suppressed"] for r in rows] == ["false", "false", "true"]
    assert rows[1]["status"] == "unknown"
    assert rows[0]["region"] == "westus"
    assert rows[1]["region"] == ""  # omitted, not "None"
    assert rows[2]["suppression_reason"].startswith("accepted <b>")


def test_names_beside_the_ids_they_come_from() -> None:
    report = sample_report()
    rows = parse(render_csv(report, subscription_names={SUB.upper(): "Contoso Production"}))
    assert COLUMNS.index("subscription_name") == COLUMNS.index("subscription_id") + 1
    assert COLUMNS.index("resource_id") == COLUMNS.index("resource_name") + 1
    assert [r["subscription_name"] for r in rows] == ["Contoso Production"] * 3
    assert [r["resource_group"] for r in rows] == ["rg-app"] * 3
    assert [r["resource_name"] for r in rows][1:] == ["vnet-b", "cache1"]
    replicated = finding(QUIET_RULE, resource_id("9b11a888", kind="x/y/items"), resource_name="vm-app-02")
    (row,) = parse(render_csv(sample_report(findings=[replicated])))
    assert (row["resource_name"], row["subscription_name"]) == ("vm-app-02", "")  # no name known: empty


def test_baseline_column() -> None:
    report = sample_report()
    report.findings[0].baseline = "new"
    report.findings[1].baseline = "unchanged"
    assert [r["baseline"] for r in parse(render(report, "csv"))] == ["new", "unchanged", ""]


def test_hostile_message_is_text_for_a_spreadsheet() -> None:
    text = render(sample_report(), "csv")
    assert "\x1b" not in text
    rows = parse(text)
    assert rows[0]["message"].startswith("'" + FORMULA)
    assert "<script>" in rows[0]["resource_id"]  # CSV needs no HTML escaping; the value is kept
    assert len(text.strip("\r\n").split("\r\n")) == 4  # header + 3 findings: no embedded line breaks


def test_formula_in_any_column_is_neutralised() -> None:
    rid = "@SUM(1+1)*cmd|' /C calc'!A0"
    f = finding(HOSTILE_RULE, rid, "+1", resource_type="-2+3", remediation="=HYPERLINK()")
    (row,) = parse(render(sample_report(findings=[f]), "csv"))
    assert row["resource_id"] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    assert row["message"] == "'+1"
    assert row["resource_type"] == "'-2+3"
    assert row["remediation"] == "'=HYPERLINK()"
    assert row["rule_id"] == HOSTILE_RULE  # ordinary values untouched


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@x", "\t=1", "\r=1", " =1", "\uff1d1"])
def test_formula_triggers(value: str) -> None:
    assert csv_cell(value).startswith("'")


@pytest.mark.parametrize("value", ["a=b", "1-2", "user@example.com", "/subscriptions/x", ""])
def test_ordinary_values_are_not_prefixed(value: str) -> None:
    assert csv_cell(value) == value


def test_empty_report_is_just_the_header() -> None:
    assert parse(render(sample_report(findings=[]), "csv")) == []
