"""`--output table`: grouping, content, and that resource-derived text can never act as markup
or terminal control sequences."""

from __future__ import annotations

from typing import Any

from test_report_json import SUB, finding, report

from asr_audit.findings import Severity
from asr_audit.inventory import Coverage
from asr_audit.report import render
from asr_audit.report.table import render as render_table

WIDE = 400  # no wrapping, so whole ids can be searched for


def lines_with(text: str, needle: str) -> list[int]:
    return [i for i, line in enumerate(text.splitlines()) if needle in line]


def test_groups_by_severity_worst_first() -> None:
    text = render_table(
        report([finding("l1", Severity.LOW), finding("c1", Severity.CRITICAL), finding("h1", Severity.HIGH)]),
        width=WIDE,
    )
    crit, high, low = (lines_with(text, f"{s} (1)")[0] for s in ("CRITICAL", "HIGH", "LOW"))
    assert crit < high < low
    assert "MEDIUM (" not in text and "INFO (" not in text
    assert lines_with(text, "c1")[0] < lines_with(text, "h1")[0] < lines_with(text, "l1")[0]


def test_row_shows_rule_resource_status_message_and_remediation() -> None:
    f = finding("vm-app-01", Severity.HIGH, status="unknown", remediation="Rename the target VM.")
    text = render_table(report([f]), width=WIDE)
    lines = text.splitlines()
    at = lines_with(text, "VM-NAME")[0]
    for expected in ("1", "VM-NAME", "vm-app-01", "unknown", "vm-app-01 cannot be a target name"):
        assert expected in lines[at]
    assert "HIGH (1)" in text  # severity is the section title, not a column
    assert "Fix: Rename the target VM." in lines[at + 1]  # the fix sits under its message
    column = lines[at].index("vm-app-01")
    assert lines[at + 1][column:].split()[0] == "virtualMachines"
    assert lines[at + 2][column:].split()[0] == "westeurope"
    assert f"  #1 {f.resource_id}" in lines  # the full id, unbroken, to copy


def test_summary_counts_suppressed_and_names_scope() -> None:
    text = render_table(
        report([finding("a", Severity.HIGH), finding("b", Severity.MEDIUM, suppressed=True)]), width=WIDE
    )
    assert "1 finding: 0 critical, 1 high, 0 medium, 0 low, 0 info; 1 suppressed" in text
    assert "MEDIUM (" not in text  # suppressed findings are counted, not listed
    assert f"Subscriptions: {SUB}" in text
    assert "Regions: westeurope -> inferred" in text


def test_no_findings_says_so() -> None:
    text = render_table(report([]), width=WIDE)
    assert "No unsuppressed findings." in text
    assert "0 findings" in text


def test_coverage_gaps_are_listed_one_per_row() -> None:
    gaps = [
        Coverage(SUB, "network", "forbidden", detail="AuthorizationFailed on Microsoft.Network"),
        Coverage("other-sub", "recovery", "throttled", detail="429 after 5 retries"),
    ]
    text = render_table(report([], coverage=[Coverage(SUB, "compute", "ok"), *gaps]), width=WIDE)
    assert "Coverage gaps (2)" in text
    for gap in gaps:
        row = text.splitlines()[lines_with(text, gap.collector)[0]]
        for cell in (gap.subscription_id, gap.collector, gap.status, gap.detail or ""):
            assert cell in row
    assert lines_with(text, "compute") == []  # only gaps are listed


def test_complete_coverage_is_stated() -> None:
    text = render_table(report([]), width=WIDE)
    assert "Coverage: complete (1 collector run ok)." in text


def test_markup_in_resource_text_prints_literally_even_in_colour() -> None:
    f = finding(
        "[red]x", Severity.HIGH, message="[bold]loud[/bold] :smile:", remediation="[link=http://e]y[/link]"
    )
    gap = Coverage(SUB, "[blink]net", "error", detail="[red]boom")
    for colour in (False, True):
        text = render_table(report([f], coverage=[gap]), width=WIDE, color=colour)
        for literal in (
            "[red]x",
            "[bold]loud[/bold] :smile:",
            "[link=http://e]y[/link]",
            "[blink]net",
            "[red]boom",
        ):
            assert literal in text, (colour, literal)


def test_terminal_escapes_and_bidi_controls_are_neutralised() -> None:
    nasty = "vm\x1b[31mevil\x1b]8;;http://x\x07\u202etxt.exe\r"
    f = finding(nasty, Severity.HIGH, message=f"{nasty} is bad")
    gap = Coverage(SUB, "compute", "error", detail="\x1b[2Jcleared")
    for colour in (False, True):
        text = render_table(report([f], coverage=[gap]), width=WIDE, color=colour)
        assert "\x1b[31mevil" not in text and "\x1b]8;;http://x" not in text and "\x1b[2J" not in text
        assert "\u202e" not in text and "\r" not in text
        assert "\\x1b[31mevil" in text  # visible, so the oddity is not hidden


def test_plain_output_has_no_ansi_no_trailing_space_and_wraps_all_but_ids() -> None:
    f = finding("a" * 150, Severity.HIGH, message="word " * 200, remediation="fix " * 100)
    text = render_table(report([f]), width=120)
    assert "\x1b" not in text
    lines = text.splitlines()
    assert all(line == line.rstrip() for line in lines)
    assert [line for line in lines if len(line) > 120] == [f"  #1 {f.resource_id}"]


def test_colour_output_styles_severity() -> None:
    text = render_table(report([finding("a", Severity.HIGH)]), width=WIDE, color=True)
    assert "\x1b[" in text


def test_suppression_notes_resolved_and_new_markers() -> None:
    extras: dict[str, Any] = {
        "suppression_notes": [
            {
                "status": "expired",
                "rule": "VM-*",
                "resource": "*",
                "expires": "2024-01-01",
                "file": "s.yaml",
                "line": 3,
            }
        ],
        "resolved": [{"rule_id": "DSK-SIZE", "resource_id": "/subscriptions/x/disk1", "severity": "high"}],
    }
    text = render_table(report([finding("a", Severity.HIGH, baseline="new")], **extras), width=WIDE)
    assert "s.yaml:3" in text and "expired on 2024-01-01" in text
    assert "Resolved since the baseline (1)" in text and "/subscriptions/x/disk1" in text
    assert "baseline: 1 new, 1 resolved" in text
    lines = text.splitlines()
    at = lines_with(text, "VM-NAME")[0]
    column = lines[at].index("fail")
    assert lines[at + 1][column:].startswith("new")  # the status cell marks a new finding


def test_render_dispatch_gives_plain_table() -> None:
    text = render(report([finding("a", Severity.HIGH)]), "table")
    assert "HIGH (1)" in text and "\x1b" not in text


def test_a_replicated_item_shows_its_friendly_name_not_its_guid() -> None:
    guid = "9b11a888-f87c-5714-80dc-f7dc42afad08"
    item = finding(guid, Severity.HIGH, resource_name="vm-app-02 [red]x", message="unhealthy")
    text = render_table(report([item]), width=WIDE)
    row = text.splitlines()[lines_with(text, "VM-NAME")[0]]
    assert "vm-app-02 [red]x" in row and guid not in row  # the full id still follows as a note
    assert lines_with(text, f"/virtualMachines/{guid}")
