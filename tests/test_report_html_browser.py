"""`asr-audit demo --output html` opened in headless Chromium: the picture renders, the filters
work, a node links to its finding, hostile names stay text, and the page logs no error and
requests nothing (tests/browser.py aborts and records any request off this machine)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import Watched, chromium, page
from demo_report import PROD, demo_report
from playwright.sync_api import Browser, expect
from test_report_html import hostile_report

from asr_audit.app import cli
from asr_audit.report import render

HIGH_STROKE = "rgb(180, 35, 24)"  # --high in report.css: proof that the inline style was allowed


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html") / "r.html"
    assert cli.main(["demo", "--output", "html", "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def demo(browser: Browser, demo_file: Path) -> Iterator[Watched]:
    with page(browser) as watched:
        watched.page.goto(demo_file.as_uri())
        yield watched
        assert watched.errors == [], "console errors"
        assert watched.requests == [], "the page tried to reach the network"


def test_the_picture_renders_with_severity_colours(demo: Watched) -> None:
    svg = demo.page.locator("#topology svg.topology")
    expect(svg).to_be_visible()
    box = svg.bounding_box()
    assert box is not None and box["width"] > 1000 and box["height"] > 600
    nodes = demo.page.locator("#topology g.node")
    assert nodes.count() == 31
    marked = demo.page.locator("#topology g.node.sev-high rect").first
    assert marked.evaluate("r => getComputedStyle(r).stroke") == HIGH_STROKE
    names = demo.page.locator("#topology g.node text.name").all_text_contents()
    assert {"vnet-prod-eus", "er-fabrikam-wdc", "rsv-fabrikam-dr-wus2"} <= set(names)
    widths = demo.page.locator("#topology g.node text").evaluate_all(
        "texts => texts.map(t => t.getComputedTextLength())"
    )
    assert max(widths) <= 220 - 10, "a label runs out of its box"


def test_filters_by_severity_rule_and_subscription(demo: Watched) -> None:
    active = demo_report().active  # what the page shows, counted from the report itself
    total = len(active)
    medium = sum(1 for f in active if f.severity.value == "medium")
    tunnel = [f for f in active if f.rule_id == "NET-FORCED-TUNNEL"]
    findings = demo.page.locator("article.finding")
    count = demo.page.locator("#filter-count")
    expect(count).to_have_text(f"Showing {total} of {total} findings")
    demo.page.select_option("#filter-severity", "medium")
    expect(findings.locator("visible=true")).to_have_count(medium)
    expect(count).to_have_text(f"Showing {medium} of {total} findings")
    demo.page.select_option("#filter-rule", "NET-FORCED-TUNNEL")
    expect(findings.locator("visible=true")).to_have_count(
        sum(1 for f in tunnel if f.severity.value == "medium")
    )
    demo.page.select_option("#filter-severity", "")
    expect(findings.locator("visible=true")).to_have_count(len(tunnel))
    demo.page.select_option("#filter-subscription", PROD)
    in_prod = sum(1 for f in tunnel if f.subscription_id == PROD)
    assert 0 < in_prod < len(tunnel)  # the demo has one in the hub subscription: the filter must drop it
    expect(findings.locator("visible=true")).to_have_count(in_prod)
    for severity in findings.locator("visible=true").evaluate_all("a => a.map(x => x.dataset.rule)"):
        assert severity == "NET-FORCED-TUNNEL"
    demo.page.click("#filter-reset")
    expect(count).to_have_text(f"Showing {total} of {total} findings")


def test_a_coloured_node_leads_to_its_finding_even_past_the_filters(demo: Watched) -> None:
    demo.page.select_option("#filter-severity", "low")
    node = demo.page.locator("#topology a", has=demo.page.locator("text.name", has_text="vnet-prod-eus"))
    href = node.get_attribute("href")
    assert href and href.startswith("#f-")
    target = demo.page.locator(href)
    assert target.get_attribute("data-severity") == "high"
    expect(target).to_be_hidden()
    node.click()
    expect(target).to_be_visible()
    expect(target).to_be_in_viewport()
    total = len(demo_report().active)
    expect(demo.page.locator("#filter-count")).to_have_text(f"Showing {total} of {total} findings")


def test_hostile_names_do_not_run(browser: Browser, tmp_path: Path) -> None:
    out = tmp_path / "hostile.html"
    out.write_text(render(hostile_report(), "html"), encoding="utf-8")
    with page(browser) as watched:
        watched.page.goto(out.as_uri())
        assert watched.page.evaluate("window.pwned") is None
        assert watched.page.locator("img").count() == 0
        assert "<script>window.pwned=1</script>" in watched.page.locator("#topology").inner_text() + (
            watched.page.locator("#estate").inner_text()
        )
        expect(watched.page.locator("#filter-count")).to_have_text("Showing 2 of 2 findings")
        assert watched.errors == [] and watched.requests == []
