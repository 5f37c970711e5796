"""`--output html` without a browser: structure, self-containment, escaping, links, masking.
(`test_report_html_browser.py` opens it in Chromium.)"""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path

from demo_report import CONNECTIVITY, PROD, demo_report
from report_samples import HOSTILE, SUB, sample_report

from asr_audit.app import cli
from asr_audit.findings import Severity
from asr_audit.inventory import Coverage
from asr_audit.report import Report, render
from asr_audit.report.estate import CoverageSummary, Estate, EstateCircuit, EstateSubscription
from asr_audit.report.topology import FAILOVER, RECOVERY, SOURCE, Edge, Node, Topology, collapse
from asr_audit.rules.catalog import default_catalog

EVIL = "<script>window.pwned=1</script><img src=x onerror=alert(1)>"


class Page(HTMLParser):
    """Every element with its attributes, and the text inside each <script> and <style>."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.code: dict[str, list[str]] = {"script": [], "style": []}
        self._inside: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._inside = tag if tag in self.code else None

    def handle_endtag(self, tag: str) -> None:
        self._inside = None

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.code[self._inside].append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for t, attrs in self.elements if t == tag]


def demo_html() -> str:
    return render(demo_report(), "html")


def hostile_report() -> Report:
    estate = Estate(
        cloud="AzureCloud",
        subscriptions=(EstateSubscription(SUB, EVIL),),
        region_pairs=(),
        protected_vms=0,
        candidate_vms=0,
        vaults=(),
        recovery_vnets=(),
        circuits=(EstateCircuit("/x/" + EVIL, EVIL, "eastus", EVIL, None, None),),
        coverage=CoverageSummary(3, 2, (("forbidden", 1), ("throttled", 1))),
    )
    report = sample_report(estate=estate)
    fingerprint = report.findings[0].fingerprint
    report.topology = Topology(
        pairs=(("eastus", EVIL),),
        nodes=(
            Node("a", "vnet", EVIL, SOURCE, 0, detail=EVIL, severity=Severity.HIGH, findings=(fingerprint,)),
            Node("b", "vault", HOSTILE, RECOVERY, 0),
        ),
        edges=(Edge("a", "b", FAILOVER, EVIL),),
    )
    return report


def test_sections_in_reading_order_with_the_gaps_first() -> None:
    text = demo_html()
    order = [text.index(f'<section id="{s}"') for s in ("coverage-gaps", "estate", "topology", "findings")]
    assert order == sorted(order)
    assert f"1 of {len(demo_report().coverage)} collector runs could not read their data" in text
    assert "Fabrikam Connectivity (5d2c8f1a-7e9b-4a3c-b6d4-0e1f2a3b4c5d)" in text


def test_each_active_finding_is_an_article_the_filters_can_select() -> None:
    page = Page(demo_html())
    articles = [a for a in page.all("article") if "finding" in (a.get("class") or "")]
    active = demo_report().active
    assert len(articles) == len(active) > 40
    assert [a["data-severity"] for a in articles] == sorted(
        (f.severity.value for f in active), key=lambda s: -Severity(s).rank
    )
    assert {a["data-subscription"] for a in articles} == {CONNECTIVITY, PROD}
    assert {s["id"] for s in page.all("select")} == {"filter-severity", "filter-rule", "filter-subscription"}
    options = [o["value"] for o in page.all("option")]
    rules = {f.rule_id for f in active}
    assert options.count("") == 3  # "All", once per filter
    assert set(options) == {"", "high", "medium", "low", "info", *rules, CONNECTIVITY, PROD}
    assert len({a["id"] for a in articles}) == len(active)  # every anchor unique


def test_nothing_is_loaded_from_anywhere() -> None:
    text = demo_html()
    page = Page(text)
    fetching = {"src", "srcset", "data", "poster", "background", "xlink:href"}
    loading = [
        (t, a) for t, a in page.elements if fetching & set(a) or t in ("image", "use", "iframe", "object")
    ]
    assert loading == []
    assert [a.get("href") for a in page.all("link")] == ["data:,"]
    for code in (*page.code["style"], *page.code["script"]):
        assert not re.search(r"url\(\s*['\"]?(?!#)|@import|https?:|//[a-z]", code, re.IGNORECASE)
    external = [a["href"] for a in page.all("a") if re.match(r"https?:", a.get("href") or "")]
    documents = {meta.microsoft_docs for meta in default_catalog().metas().values()}
    assert external and set(external) <= documents  # links to read (Microsoft's pages), not resources
    assert not re.search(
        r"(?:src|href|xlink:href)\s*=\s*['\"]?(?:https?:)?//", text.replace('<a href="https://', "")
    )


def test_the_policy_allows_exactly_the_inline_style_and_script() -> None:
    page = Page(demo_html())
    (meta,) = [m for m in page.all("meta") if m.get("http-equiv") == "Content-Security-Policy"]
    policy = meta["content"] or ""
    assert "default-src 'none'" in policy
    (style,), (script,) = page.code["style"], page.code["script"]
    for directive, code in (("style-src", style), ("script-src", script)):
        digest = base64.b64encode(hashlib.sha256(code.encode("utf-8")).digest()).decode("ascii")
        assert f"{directive} 'sha256-{digest}'" in policy
    assert len(page.all("script")) == 1 and len(page.all("style")) == 1


def test_hostile_text_stays_text() -> None:
    text = render(hostile_report(), "html")
    page = Page(text)
    assert len(page.all("script")) == 1  # ours
    assert page.all("img") == []
    handlers = [(t, k) for t, attrs in page.elements for k in attrs if k.startswith("on")]
    assert handlers == []
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in text
    assert "\x1b" not in text and "\\x1b[31m" in text  # the ANSI escape made visible
    assert "[red]x" in text


def test_picture_links_each_marked_node_to_a_finding_on_the_page() -> None:
    text = demo_html()
    page = Page(text)
    anchors = {a["id"] for a in page.all("article")}
    links = [a["href"] for a in page.all("a") if (a.get("href") or "").startswith("#f-")]
    topo = demo_report().topology
    assert topo is not None
    drawn = collapse(topo)
    marked = [p for p in (*drawn.nodes, *drawn.edges) if p.findings]
    assert len(links) == len(marked) > 10
    assert {h[1:] for h in links} <= anchors
    assert [s.get("class") for s in page.all("svg")].count("topology") == 1
    assert text.count('<g class="node ') == len(drawn.nodes)


def test_a_report_without_findings_estate_or_gaps() -> None:
    report = sample_report(findings=[], coverage=[Coverage(SUB, "vaults", "ok")])
    text = render(report, "html")
    assert "No active findings." in text
    assert 'id="coverage-gaps"' not in text and 'id="estate"' not in text and 'id="topology"' not in text
    empty = render(sample_report(topology=Topology()), "html")
    assert "Nothing to draw" in empty


def test_docs_link_only_to_web_pages() -> None:
    report = sample_report()
    report.findings[0].docs = "javascript:alert(1)"
    text = render(report, "html")
    assert "javascript:" not in text


def test_demo_command_writes_a_masked_page(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    assert cli.main(["demo", "--output", "html", "--out", str(out), "--mask", "--quiet"]) == 0
    text = out.read_text("utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert CONNECTIVITY not in text and PROD not in text
    assert "Fabrikam Prod (********-****-****-****-********5a32)" in text
