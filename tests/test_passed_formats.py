"""`--include-passed` in every output format: the checks appear where asked, and only then.

Each format shows passes its own way (a section, rows, passing test cases, SARIF `pass`
results); the counts must match the report's checks exactly, so a format can neither drop
evidence nor invent it, and text from Azure stays escaped like everything else.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path

import jsonschema
import pytest

from asr_audit.access.clouds import CLOUDS
from asr_audit.app import runner
from asr_audit.app.replay import DEMO_CASSETTE, replay_scan
from asr_audit.collect import ScanRequest
from asr_audit.findings import Check
from asr_audit.report import Report, render

DATA = Path(__file__).parent / "data"
SARIF_SCHEMA = json.loads((DATA / "sarif-schema-2.1.0.json").read_text("utf-8"))
EVIL = "<script>alert(1)</script>"


@lru_cache(maxsize=1)
def _demo() -> Report:
    inventory = replay_scan(DEMO_CASSETTE, ScanRequest(subscriptions=[], cloud=CLOUDS["AzureCloud"]))
    return runner.audit(inventory, cloud=CLOUDS["AzureCloud"], include_passed=True)


def demo(passed: bool = True) -> Report:
    """A copy (the cached report is shared); without passes when `passed` is False."""
    report = _demo()
    return dataclasses.replace(report, passed=list(report.passed or []) if passed else None)


def test_the_demo_has_passes_to_show() -> None:
    assert len(demo().passed or []) > 100


def test_table_lists_each_rules_passes_only_when_asked() -> None:
    report = demo()
    text = render(report, "table")
    assert f"Passed: {len(report.passed or [])} checks in {len(report.passed_by_rule())} rules" in text
    for rule_id in report.passed_by_rule():
        assert f"{rule_id}:" in text
    assert "Passed:" not in render(demo(passed=False), "table")


def test_markdown_has_a_collapsed_list_per_rule() -> None:
    report = demo()
    text = render(report, "markdown")
    assert f"## Passed checks ({len(report.passed or [])})" in text
    assert text.count("passed</summary>") == len(report.passed_by_rule())
    assert "## Passed checks" not in render(demo(passed=False), "markdown")


def test_csv_has_one_pass_row_per_check_without_severity_or_fix() -> None:
    report = demo()
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    passes = [r for r in rows if r["status"] == "pass"]
    assert len(passes) == len(report.passed or [])
    assert len(rows) - len(passes) == len(report.findings)
    assert all(r["severity"] == "" and r["remediation"] == "" and r["resource_name"] for r in passes)
    assert not [
        r for r in csv.DictReader(io.StringIO(render(demo(passed=False), "csv"))) if r["status"] == "pass"
    ]


def test_junit_adds_a_passing_case_per_check() -> None:
    with_passes = ET.fromstring(render(demo(), "junit").encode("utf-8"))
    without = ET.fromstring(render(demo(passed=False), "junit").encode("utf-8"))
    cases = with_passes.findall(".//testcase")
    passing = [c for c in cases if not list(c)]
    assert len(passing) >= len(demo().passed or [])
    assert with_passes.get("failures") == without.get("failures")
    assert int(with_passes.get("tests") or 0) > int(without.get("tests") or 0)
    assert not [
        c
        for c in passing
        if c.get("name", "").endswith(": no findings") and c.get("classname") in demo().passed_by_rule()
    ]


def test_sarif_pass_results_are_valid_and_counted() -> None:
    doc = json.loads(render(demo(), "sarif"))
    jsonschema.validate(doc, SARIF_SCHEMA)
    results = doc["runs"][0]["results"]
    passes = [r for r in results if r["kind"] == "pass"]
    assert len(passes) == len(demo().passed or []) and all(r["level"] == "none" for r in passes)
    assert not [
        r
        for r in json.loads(render(demo(passed=False), "sarif"))["runs"][0]["results"]
        if r["kind"] == "pass"
    ]


def test_html_lists_passes_and_escapes_what_azure_named() -> None:
    report = demo()
    hostile = Check(
        "NIC-ASG",
        "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/n",
        resource_name=EVIL,
    )
    report.passed = [*(report.passed or []), hostile]
    text = render(report, "html")
    assert f"Passed checks ({len(report.passed)})" in text
    assert EVIL not in text and "&lt;script&gt;" in text
    assert "Passed checks" not in render(demo(passed=False), "html")


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_escaping_holds_for_hostile_names_in_text_formats(fmt: str) -> None:
    report = demo()
    report.passed = [
        Check(
            "NIC-ASG",
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/n",
            resource_name="=cmd|' /C calc'!A0\x1b[31m",
        )
    ]
    text = render(report, fmt)
    assert "\x1b" not in text
    if fmt == "csv":
        assert "'=cmd" in text  # the spreadsheet shows it, never evaluates it
