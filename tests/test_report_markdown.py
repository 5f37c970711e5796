"""Markdown output: estate, picture, summary, findings by severity, suppressed, notes, resolved, gaps;
escaping; tables that hold names and short text."""

from __future__ import annotations

import re
from datetime import date

from demo_report import CONNECTIVITY, PROD, demo_report
from report_samples import HOSTILE_RULE, QUIET_RULE, SUB, finding, resource_id, sample_report

from asr_audit.app.masking import MASK, mask_report
from asr_audit.findings import Severity
from asr_audit.report import markdown as markdown_report
from asr_audit.report import render
from asr_audit.report.topology import Topology
from asr_audit.triage import baseline, suppressions
from asr_audit.triage.suppressions import Suppression

_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def markdown(**overrides: object) -> str:
    return render(sample_report(**overrides), "markdown")


def section(text: str, heading: str) -> str:
    """The body under `heading` up to the next heading of the same or higher level."""
    level = heading.split(" ", 1)[0]
    start = text.index(heading + "\n")
    rest = text[start + len(heading) + 1 :]
    stop = re.search(rf"^#{{1,{len(level)}}} ", rest, re.MULTILINE)
    return rest[: stop.start()] if stop else rest


def rows(body: str) -> list[list[str]]:
    """Cells of every table row, split on unescaped pipes as a GFM renderer does."""
    table = [line for line in body.splitlines() if line.startswith("|") and not line.startswith("|---")]
    return [[c.strip() for c in _CELL_SPLIT.split(line)[1:-1]] for line in table]


def test_summary_counts_active_and_suppressed_by_severity() -> None:
    table = {r[0]: r[1:] for r in rows(section(markdown(), "## Summary"))}
    assert table["High"] == ["1", "0"]
    assert table["Medium"] == ["1", "0"]
    assert table["Low"] == ["0", "1"]
    assert table["Critical"] == ["0", "0"]
    assert table["**Total**"] == ["2", "1"]


def test_findings_grouped_worst_first_with_remediation_and_docs() -> None:
    findings = section(markdown(), "## Findings")
    assert findings.index("### High (1)") < findings.index("### Medium (1)")
    assert "### Low" not in findings  # the only low finding is suppressed
    (header, high) = rows(section(findings, "### High (1)"))
    assert header == ["#", "Rule", "Resource", "Message", "Remediation", "Docs"]
    assert high[:2] == ["1", HOSTILE_RULE]
    assert high[4] == f"Fix {HOSTILE_RULE}."
    assert re.fullmatch(r"\[docs\]\(https://\S+\)", high[5])
    (_, medium) = rows(section(findings, "### Medium (1)"))
    assert medium[:2] == ["2", f"{HOSTILE_RULE} (undecided)"]


def test_no_active_findings() -> None:
    text = markdown(findings=[], coverage=[])
    assert "No active findings." in section(text, "## Findings")
    assert "## Suppressed" not in text
    assert "None: every collector read its data." in section(text, "## Coverage gaps")


def test_suppressed_section_shows_reason() -> None:
    (_, row) = rows(section(markdown(), "## Suppressed (1)"))
    assert row[0] == QUIET_RULE
    assert row[3].startswith("accepted &lt;b&gt;")


def test_coverage_gaps_table() -> None:
    body = section(markdown(), "## Coverage gaps")
    assert "incomplete" in body
    table = rows(body)
    assert [r[1:3] for r in table[1:]] == [["storage", "forbidden"], ["asr", "throttled"]]
    assert table[2][3] == "-"


def test_suppression_notes_and_baseline_sections() -> None:
    report = sample_report()
    stale = Suppression("NET-*", "*/rg-old/*", "old", date(2024, 1, 1), file="s.yaml", line=7)
    report.suppression_notes = suppressions.apply(report.findings, [stale], date(2025, 1, 1))
    previous = [report.findings[1].to_json(), {"rule_id": "X", "resource_id": "/a|b", "fingerprint": "old"}]
    report.resolved = baseline.apply(report.findings, previous)
    text = render(report, "markdown")
    assert "s.yaml:7" in section(text, "## Suppression file notes")
    assert "Against the baseline: 2 new, 1 unchanged, 1 resolved." in section(text, "## Summary")
    (_, resolved) = rows(section(text, "## Resolved since baseline (1)"))
    assert resolved[2] == "a\\|b"  # the name in the table, the whole id in the details
    assert "- X /a\\|b" in section(text, "## Resolved since baseline (1)")
    (header, row) = rows(section(text, "### High (1)"))
    assert header[-1] == "Baseline" and row[-1] == "new"


def test_hostile_text_cannot_inject_markup() -> None:
    text = markdown()
    assert "<script>" not in text and "<b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "\x1b" not in text and "\\\\x1b" in text  # visible backslash, itself escaped
    assert "[red]" not in text.replace("\\[red\\]", "")
    assert "`tick`" not in text.replace("\\`tick\\`", "")
    for heading in ("## Summary", "### High (1)", "## Suppressed (1)", "## Coverage gaps"):
        table = rows(section(text, heading))
        assert len({len(r) for r in table}) == 1, f"a pipe broke a table under {heading}"


def test_newlines_and_links_in_values_cannot_break_out() -> None:
    f = finding(HOSTILE_RULE, resource_id("v"), "line1\n## injected\n| a | b |", severity=Severity.HIGH)
    f.docs = "javascript:alert(1)"
    text = markdown(findings=[f], coverage=[])
    assert "\n## injected" not in text
    (_, row) = rows(section(text, "### High (1)"))
    assert row[3] == "line1 ## injected \\| a \\| b \\|"
    assert row[5] == "-"  # no link for a non-http(s) destination
    assert "javascript:" not in text


def test_scope_lists_subscriptions_and_regions() -> None:
    text = markdown()
    assert f"- **Subscriptions:** {SUB}" in text
    assert "westus → eastus" in text


def test_scope_without_region_flags_says_where_regions_come_from() -> None:
    text = markdown(source_region=None, target_region=None)
    assert "- **Regions (source → target):** from ASR replication settings" in text
    assert "?" not in text.split("## Summary")[0]


# --- the estate, the picture, and tables people can read (issue 12) --------------------------------


def demo_markdown(*, masked: bool = False) -> str:
    report = demo_report()
    return render(mask_report(report) if masked else report, "markdown")


def _plain(cell: str) -> str:
    """A cell as it reads: Markdown escapes and entities undone."""
    return re.sub(r"\\(.)", r"\1", cell).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def high_heading() -> str:
    """The High severity heading, with the demo's count of active high findings."""
    return f"### High ({demo_report().by_severity()['high']})"


def test_estate_and_picture_come_before_the_findings() -> None:
    text = demo_markdown()
    headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
    assert headings[:4] == ["Estate", "DR topology", "Summary", "Findings"]
    estate = section(text, "## Estate")
    assert "- **VMs in scope:** 19 protected, 0 candidate" in estate
    assert "see [Coverage gaps](#coverage-gaps)" in estate  # the incomplete scan says so up front
    tables = [r for r in rows(estate) if r]
    assert ["Fabrikam Prod (b7e4a1d9-2c3f-4e58-9a6b-1d0f8e7c5a32)", "Enabled"] in tables
    pair = next(r for r in tables if r[0] == "eastus → westus2")
    assert pair[1:] == [
        "14 protected VMs, 2 network mappings",
        "rsv-fabrikam-cus, rsv-fabrikam-dr-wus2, rsv-fabrikam-eus",
    ]
    assert ["er-fabrikam-wdc-2", "Washington DC, Standard/MeteredData, Megaport"] in tables
    assert text.count("```mermaid\nflowchart LR\n") == 1
    assert "Fabrikam Prod (b7e4a1d9" in text.split("## Estate")[0]  # the scope line names them too


def test_finding_tables_show_names_and_short_text_with_the_rest_in_details() -> None:
    text = demo_markdown()
    high = section(text, high_heading())
    (header, *table) = rows(high)
    assert header[:3] == ["#", "Rule", "Resource"]
    assert [r[0] for r in table] == [str(n) for n in range(1, demo_report().by_severity()["high"] + 1)]
    cells = [c for r in table for c in r]
    assert not [c for c in cells if "/providers/" in c.lower()], "a full ARM id in a table cell"
    assert max(len(_plain(c)) for c in cells if not c.startswith("[docs]")) <= markdown_report.CELL_LIMIT
    firewall = next(r for r in table if r[1] == "NET-FIREWALL-FQDN" and r[2].startswith("snet-db"))
    assert firewall[2] == "snet-db (subnets, eastus)" and firewall[3].endswith("…")
    details = high.split("<details><summary>Full resource ids and text</summary>", 1)[1]
    entry = next(
        line for line in details.splitlines() if line.startswith(f"- **#{firewall[0]} NET-FIREWALL-FQDN**")
    )
    assert "/virtualNetworks/vnet-prod-eus/subnets/snet-db" in entry
    assert "Replication cannot work until the firewall allows these endpoints." in _plain(entry)


def test_findings_short_enough_are_not_repeated_in_the_details() -> None:
    (_, row) = rows(section(markdown(), "### High (1)"))
    details = section(markdown(), "### High (1)").split("</summary>", 1)[1]
    assert "Message:" not in details and "Fix:" not in details
    assert f"**#1 {HOSTILE_RULE}** /subscriptions/{SUB}/" in details
    assert row[2].endswith("(virtualNetworks, westus)")


def test_picture_names_the_numbers_of_the_findings_on_it() -> None:
    text = demo_markdown()
    (block,) = re.findall(r"```mermaid\n(.*?)```", text, re.DOTALL)
    vnet = next(line for line in block.splitlines() if "<b>vnet-prod-eus</b>" in line)
    (_, overlap) = next(
        (r[0], r) for r in rows(section(text, high_heading())) if r[1] == "NET-ADDRESS-OVERLAP"
    )
    assert f"#35;{overlap[0]}," in vnet  # `#5` as Mermaid's entity for `#`


def test_no_scope_says_there_is_nothing_to_draw() -> None:
    report = sample_report(topology=Topology(), estate=None)
    text = render(report, "markdown")
    assert "Nothing to draw" in section(text, "## DR topology") and "```mermaid" not in text
    assert "## Estate" not in text


def test_masked_markdown_holds_no_subscription_id() -> None:
    text = demo_markdown(masked=True)
    assert CONNECTIVITY not in text and PROD not in text
    assert f"Fabrikam Prod ({MASK}{PROD[-4:]})" in _plain(text)
