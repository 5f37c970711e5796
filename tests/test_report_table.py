"""`--output table`: layout (summary first, one line per finding, `details` blocks), the one fix,
names instead of GUIDs, and that resource-derived text can never act as markup or terminal
control sequences. The width policy and the demo at real widths are in test_table_width.py."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from report_samples import HOSTILE_RULE, METAS
from rich.cells import cell_len
from test_report_json import SUB, finding, report

from asr_audit.findings import Severity
from asr_audit.inventory import Coverage
from asr_audit.report import render
from asr_audit.report.table import clip, evidence_lines, short_id, summary_line, wrap
from asr_audit.report.table import render as render_table

WIDE = 400  # nothing clipped or wrapped, so whole texts can be searched for
NAMES = {SUB.upper(): "Contoso Production"}  # any case of the id finds the name


def lines_with(text: str, needle: str) -> list[int]:
    return [i for i, line in enumerate(text.splitlines()) if needle in line]


def test_summary_line_comes_first_and_last() -> None:
    text = render_table(
        report([finding("a", Severity.HIGH), finding("b", Severity.MEDIUM, suppressed=True)]), width=WIDE
    )
    lines = text.splitlines()
    expected = "1 finding: 1 high; 1 suppressed; coverage complete"
    assert lines[0] == expected
    assert lines.count(expected) == 2  # again under the findings, where a long list ends


def test_summary_line_states_gaps_and_baseline() -> None:
    gap = Coverage(SUB, "network", "forbidden")
    r = report([finding("a", Severity.LOW, baseline="new")], coverage=[gap], resolved=[{"rule_id": "X"}])
    assert summary_line(r) == "1 finding: 1 low; baseline: 1 new, 1 resolved; coverage: 1 gap"
    assert summary_line(report([])) == "0 findings; coverage complete"


def test_severities_worst_first_then_rules_then_one_line_per_finding() -> None:
    findings = [
        finding("l1", Severity.LOW),
        finding("c1", Severity.CRITICAL),
        finding("h2", Severity.HIGH, rule_id="DSK-SIZE", title="Disk too large"),
        finding("h1", Severity.HIGH),
    ]
    text = render_table(report(findings), width=WIDE)
    order = [lines_with(text, s)[0] for s in ("CRITICAL (1)", "c1", "HIGH (2)", "DSK-SIZE", "h2", "h1")]
    assert order == sorted(order)
    assert len(lines_with(text, "VM-NAME")) == 3  # its header under each severity it has findings in
    assert "MEDIUM (" not in text and "INFO (" not in text
    lines = text.splitlines()
    assert [lines[i].split()[:2] for i in lines_with(text, "cannot be a target name")] == [
        ["1", "c1"],
        ["2", "h2"],
        ["3", "h1"],
        ["4", "l1"],
    ]
    assert "  DSK-SIZE  Disk too large" in lines  # the rule's title heads its findings, once


def test_compact_row_is_the_name_and_the_message_without_fix_or_id() -> None:
    f = finding("vm-app-01", Severity.HIGH, status="unknown", remediation="Rename the target VM.")
    text = render_table(report([f]), width=WIDE)
    (row,) = [line for line in text.splitlines() if "vm-app-01 cannot" in line]
    assert row.split()[:3] == ["1", "vm-app-01", "unknown:"]  # undecided, said before the message
    assert "Rename the target VM." not in text and f.resource_id not in text
    assert "add --details" in text


def test_a_new_finding_is_marked() -> None:
    text = render_table(report([finding("a", Severity.HIGH, baseline="new")]), width=WIDE)
    assert "new: a cannot be a target name" in text


def test_details_show_where_message_evidence_one_fix_id_and_docs() -> None:
    f = finding(
        "vm-app-01",
        Severity.HIGH,
        remediation="az vm update -g rg -n vm-app-01",
        evidence={
            "disks": [{"lun": 0, "size": 40960}],
            "empty": [],
            "nic": f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/x",
        },
    )
    text = render_table(report([f]), width=WIDE, details=True, subscription_names=NAMES)
    lines = [line.strip() for line in text.splitlines()]
    at = lines.index("1  vm-app-01")
    assert lines[at + 1] == (
        "virtualMachines in westeurope, resource group rg, subscription Contoso Production"
    )
    assert lines[at + 2] == "vm-app-01 cannot be a target name"
    assert lines[at + 3 : at + 8] == ["Evidence:", "disks:", "- lun: 0", "size: 40960", "nic: x"]
    assert "empty" not in text  # nothing to show
    assert lines.count("Fix: az vm update -g rg -n vm-app-01") == 1
    assert f"Id: {f.resource_id}" in lines
    assert "Docs: https://example.invalid/VM-NAME.md (rule page: asr-audit explain VM-NAME)" in lines
    assert "add --details" not in text


def test_the_fix_is_the_findings_own_else_the_rules() -> None:
    meta = replace(METAS[HOSTILE_RULE], id="VM-NAME", remediation="Generic fix with <placeholders>.")
    own = finding("a", Severity.HIGH, remediation="az vm update -n a")
    bare = finding("b", Severity.HIGH, remediation="")
    text = render_table(report([own, bare], rules={"VM-NAME": meta}), width=WIDE, details=True)
    fixes = [line.strip() for line in text.splitlines() if "Fix:" in line]
    assert fixes == ["Fix: az vm update -n a", "Fix: Generic fix with <placeholders>."]


def test_no_findings_says_so() -> None:
    text = render_table(report([]), width=WIDE)
    assert "No unsuppressed findings." in text
    assert text.startswith("0 findings; coverage complete")


def test_coverage_gaps_name_the_subscription_and_keep_the_whole_detail() -> None:
    gaps = [
        Coverage(SUB, "network", "forbidden", detail="AuthorizationFailed on Microsoft.Network " * 5),
        Coverage("other-sub", "recovery", "throttled", detail="429 after 5 retries"),
    ]
    r = report([], coverage=[Coverage(SUB, "compute", "ok"), *gaps])
    text = render_table(r, width=80, subscription_names=NAMES)
    assert "Coverage gaps (2): results may be incomplete" in text
    assert "  Contoso Production: network forbidden" in text.splitlines()
    assert "  other-sub: recovery throttled" in text.splitlines()
    assert " ".join(text.split()).count("AuthorizationFailed on Microsoft.Network") == 5  # wrapped, not cut
    assert lines_with(text, "compute") == []  # only gaps are listed


def test_complete_coverage_is_stated() -> None:
    assert "Coverage: complete (1 collector run ok)." in render_table(report([]), width=WIDE)


def test_subscriptions_are_named_where_a_name_is_known() -> None:
    sub_finding = finding("x", Severity.HIGH, resource_id=f"/subscriptions/{SUB}", resource_type=None)
    text = render_table(report([sub_finding]), width=WIDE, subscription_names=NAMES)
    assert text.splitlines()[lines_with(text, "cannot be")[0]].split()[:3] == ["1", "Contoso", "Production"]
    assert f"Subscriptions: Contoso Production ({SUB})" in text


def test_preamble_lines_sit_between_the_summary_and_the_findings() -> None:
    text = render_table(
        report([finding("a", Severity.HIGH)]), width=40, preamble=["Estate: 3 VMs [red]x " + "word " * 12]
    )
    lines = text.splitlines()
    assert lines[1].startswith("Estate: 3 VMs [red]x")
    assert all(cell_len(line) <= 40 for line in lines[1:4])
    assert lines_with(text, "Estate")[0] < lines_with(text, "HIGH (1)")[0]


def test_markup_in_resource_text_prints_literally_even_in_colour() -> None:
    f = finding(
        "[red]x", Severity.HIGH, message="[bold]loud[/bold] :smile:", remediation="[link=http://e]y[/link]"
    )
    gap = Coverage(SUB, "[blink]net", "error", detail="[red]boom")
    for colour in (False, True):
        text = render_table(report([f], coverage=[gap]), width=WIDE, color=colour, details=True)
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
    f = finding(nasty, Severity.HIGH, message=f"{nasty} is bad", evidence={"n": nasty})
    gap = Coverage(SUB, "compute", "error", detail="\x1b[2Jcleared")
    for colour in (False, True):
        for details in (False, True):
            text = render_table(report([f], coverage=[gap]), width=WIDE, color=colour, details=details)
            assert "\x1b[31mevil" not in text and "\x1b]8;;http://x" not in text and "\x1b[2J" not in text
            assert "\u202e" not in text and "\r" not in text
            assert "\\x1b[31mevil" in text  # visible, so the oddity is not hidden


def test_plain_output_has_no_ansi_no_trailing_space_and_fits_the_width() -> None:
    f = finding("a" * 150, Severity.HIGH, message="word " * 200, remediation="fix " * 100)
    text = render_table(report([f], coverage=[Coverage(SUB, "x" * 90, "error", detail="y" * 300)]), width=80)
    assert "\x1b" not in text
    lines = text.splitlines()
    assert all(line == line.rstrip() for line in lines)
    assert max(cell_len(line) for line in lines) <= 80


def test_details_wrap_at_spaces_and_give_an_overlong_token_its_own_line() -> None:
    token = "/subscriptions/" + "x" * 120
    f = finding("vm", Severity.HIGH, message=f"see {token} and " + "more words " * 20)
    text = render_table(report([f]), width=80, details=True)
    for line in text.splitlines():
        assert cell_len(line) <= 80 or len(line.split()) == 1, line  # an id is never broken
    assert any(line.strip() == token for line in text.splitlines())


def test_colour_output_styles_severity() -> None:
    assert "\x1b[" in render_table(report([finding("a", Severity.HIGH)]), width=WIDE, color=True)


def test_suppression_notes_and_resolved() -> None:
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
        "resolved": [
            {
                "rule_id": "DSK-SIZE",
                "resource_id": f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/disks/d1",
                "severity": "high",
            }
        ],
    }
    r = report([finding("a", Severity.HIGH)], **extras)
    compact = render_table(r, width=WIDE)
    assert "s.yaml:3" in compact and "expired on 2024-01-01" in compact
    assert "Resolved since the baseline (1):" in compact and "- high DSK-SIZE d1" in compact
    assert extras["resolved"][0]["resource_id"] in render_table(r, width=WIDE, details=True)


def test_render_dispatch_gives_a_plain_table() -> None:
    text = render(report([finding("a", Severity.HIGH)]), "table")
    assert "HIGH (1)" in text and "\x1b" not in text


def test_a_replicated_item_shows_its_friendly_name_not_its_guid() -> None:
    guid = "9b11a888-f87c-5714-80dc-f7dc42afad08"
    item = finding(guid, Severity.HIGH, resource_name="vm-app-02 [red]x", message="unhealthy")
    text = render_table(report([item]), width=WIDE)
    assert "vm-app-02 [red]x" in text and guid not in text


@pytest.mark.parametrize(
    ("resource_id", "short"),
    [
        (f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v", "v"),
        (
            f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s",
            "v/s",
        ),
        (
            f"/Subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/rsv/"
            "replicationFabrics/f/replicationProtectionContainers/c/replicationProtectedItems/item",
            "item",
        ),
        (f"/subscriptions/{SUB}/resourceGroups/rg-app", "rg-app"),
        (f"/subscriptions/{SUB}", "Contoso Production"),
        ("/subscriptions/unnamed", "unnamed"),
        ("10.0.0.0/16", "10.0.0.0/16"),
    ],
)
def test_short_id_names_a_resource_as_a_person_would(resource_id: str, short: str) -> None:
    assert short_id(resource_id, {SUB.lower(): "Contoso Production"}) == short


def test_clip_keeps_whole_words_and_says_it_cut() -> None:
    assert clip("one two three", 13) == "one two three"
    assert clip("one two three", 12) == "one two…"
    assert clip("one two three", 4) == "one…"
    assert clip("averyveryverylongword and more", 8) == "averyve…"  # nothing else to show


def test_wrap_breaks_at_spaces_only() -> None:
    assert wrap("aa bb cc dd", 5) == ["aa bb", "cc dd"]
    assert wrap("a verylongword b", 4) == ["a", "verylongword", "b"]
    assert wrap("one\ntwo three", 20) == ["one", "two three"]


def test_evidence_lines_flatten_scalars_and_nest_structures() -> None:
    evidence = {"ids": ["a", "b"], "flag": False, "none": None, "rows": [{"k": 1, "v": [2, 3]}]}
    assert list(evidence_lines(evidence, {})) == [
        (0, "ids: a, b"),
        (0, "flag: false"),
        (0, "rows:"),
        (1, "- k: 1"),
        (2, "v: 2, 3"),
    ]
