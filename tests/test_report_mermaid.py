"""The Mermaid picture in the Markdown report: its text, its escaping, and Mermaid's own parser.

The parser check loads the npm `mermaid` package's browser bundle into a blank Chromium page and
calls `mermaid.parse()` on the block `asr-audit demo --output markdown` prints; a broken diagram
must be rejected, so the check can fail. (`@mermaid-js/mermaid-cli` would fetch a browser of its
own, which this network does not allow.)
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import pytest
from browser import MERMAID_JS, Watched, chromium, page, require
from demo_report import demo_report
from playwright.sync_api import Browser
from report_samples import HOSTILE

from asr_audit.app import cli
from asr_audit.findings import Severity
from asr_audit.report import mermaid, topology
from asr_audit.report.topology import RECOVERY, SOURCE, Edge, Node, Topology

_BLOCK = re.compile(r"^```mermaid\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_LABEL = re.compile(r'"([^"]*)"')
_ALLOWED_IN_LABELS = re.compile(r"^(?:[A-Za-z0-9 .,_/:()+-]|#\d+;|<b>|</b>|<br/>)*$")


@pytest.fixture(scope="module")
def demo_block(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The Mermaid block of `asr-audit demo --output markdown`, as the command writes it."""
    out = tmp_path_factory.mktemp("demo") / "report.md"
    assert cli.main(["demo", "--output", "markdown", "--out", str(out), "--quiet"]) == 0
    (block,) = _BLOCK.findall(out.read_text("utf-8"))
    return str(block)


def hostile_topology() -> Topology:
    return Topology(
        pairs=(("eastus", 'west"us'),),
        nodes=(
            Node(
                "a", "vnet", HOSTILE, SOURCE, 0, detail='10.0.0.0/16 "quoted" ]] end', severity=Severity.HIGH
            ),
            Node("b", "vault", "rsv|; click a call alert(1)", RECOVERY, 0, findings=("fp",)),
        ),
        edges=(Edge("a", "b", topology.FAILOVER, "1 VM -->|x| b", Severity.LOW, ("fp",)),),
    )


# --- the text ----------------------------------------------------------------------------------


def test_labels_hold_only_safe_characters_and_entity_codes() -> None:
    assert mermaid.text('a"b<c>|d;#') == "a#34;b#60;c#62;#124;d#59;#35;"
    text = mermaid.render(hostile_topology(), {"fp": 7})
    labels = _LABEL.findall(text)
    assert len(labels) == 5  # two subgraphs, two nodes, one edge
    assert all(_ALLOWED_IN_LABELS.match(label) for label in labels), labels
    assert "<script>" not in text and "\x1b" not in text
    assert "finding #35;7" in text  # the Markdown tables' number, `#` itself escaped


def test_demo_diagram_declares_every_node_it_links_and_styles() -> None:
    topo = demo_report().topology
    assert topo is not None
    text = mermaid.render(topo)
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    declared = set(re.findall(r"^\s+(n\d+)[\[({]", text, re.MULTILINE))
    assert len(declared) == len(topo.nodes)
    linked = re.findall(r"^\s+(n\d+) \S+ (n\d+)$|^\s+(n\d+) \S+\|\"[^\"]*\"\| (n\d+)$", text, re.MULTILINE)
    assert len(linked) == len(topo.edges)
    assert {n for pair in linked for n in pair if n} <= declared
    styled = {n for line in lines if line.lstrip().startswith("class ") for n in line.split()[1].split(",")}
    assert styled == {f"n{i}" for i, n in enumerate(topo.nodes) if n.severity is not None}
    assert text.count("  subgraph ") == text.count("\n  end")


def test_edges_point_from_the_source_side_to_the_recovery_side() -> None:
    topo = demo_report().topology
    assert topo is not None
    names = {n.name: f"n{i}" for i, n in enumerate(topo.nodes)}
    text = mermaid.render(topo)
    # Stored gateway -> circuit; drawn circuit -> recovery gateway, so the circuit sits in between.
    assert f"{names['er-fabrikam-wdc']} --- {names['ergw-prod-wus2']}" in text
    assert f"{names['ergw-hub-eus']} --- {names['er-fabrikam-wdc']}" in text


def test_large_estates_are_collapsed_before_drawing() -> None:
    topo = demo_report().topology
    assert topo is not None
    spokes = tuple(
        Node(
            f"spoke{i}",
            "vnet",
            f"spoke{i}",
            SOURCE,
            0,
            subscription_id="s",
            region="eastus",
            resource_group=f"rg{i % 3}",
        )
        for i in range(topology.DEFAULT_LIMIT + 5)
    )
    big = copy.deepcopy(topo)
    big = Topology(big.pairs, big.nodes + spokes, big.edges)
    text = mermaid.render(big)
    assert "spoke7" not in text
    assert text.count("<b>rg1</b>") == 1


# --- Mermaid's parser, in Chromium ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def parser(browser: Browser) -> Iterator[Watched]:
    """One page with Mermaid loaded (parsing the 3 MB bundle is most of the cost), for this module's
    tests only: `parse` keeps no state between calls, and each `render` replaces the last."""
    bundle = require(MERMAID_JS, "Mermaid's browser bundle")
    with page(browser) as watched:
        watched.page.set_content("<!DOCTYPE html><html><body><div id=out></div></body></html>")
        watched.page.add_script_tag(path=str(bundle))
        watched.page.evaluate("mermaid.initialize({startOnLoad: false, securityLevel: 'strict'})")
        yield watched


_PARSE = """async (text) => {
  try { await mermaid.parse(text); return "ok"; } catch (error) { return "rejected: " + String(error); }
}"""
_RENDER = """async (text) => {
  const { svg } = await mermaid.render("picture", text);
  document.getElementById("out").innerHTML = svg;
  const labels = Array.from(document.querySelectorAll("#out .nodeLabel, #out .edgeLabel"));
  return {
    labels: labels.map((e) => e.textContent),
    scripts: document.querySelectorAll("#out script").length,
    nodes: document.querySelectorAll("#out g.node").length,
  };
}"""


def test_mermaid_accepts_the_demo_markdown_diagram(parser: Watched, demo_block: str) -> None:
    assert demo_block.startswith("flowchart LR\n")
    assert parser.page.evaluate(_PARSE, demo_block) == "ok"
    assert parser.errors == [] and parser.requests == []


def test_mermaid_rejects_a_broken_diagram(parser: Watched, demo_block: str) -> None:
    broken = demo_block.replace('["', '["un"quoted', 1)
    assert broken != demo_block
    assert parser.page.evaluate(_PARSE, broken).startswith("rejected: ")


def test_hostile_names_are_drawn_as_text(parser: Watched) -> None:
    text = mermaid.render(hostile_topology(), {"fp": 7})
    assert parser.page.evaluate(_PARSE, text) == "ok"
    drawn: dict[str, Any] = parser.page.evaluate(_RENDER, text)
    assert drawn["scripts"] == 0 and drawn["nodes"] == 2
    assert any("<script>alert(1)</script>" in label for label in drawn["labels"]), drawn["labels"]
    assert any("rsv|; click a call alert(1)" in label for label in drawn["labels"])
    assert parser.errors == [] and parser.requests == []
