"""The DR topology as a Mermaid flowchart, for the Markdown report (GitHub and Azure DevOps draw it).

Names come from Azure and Mermaid's grammar breaks on quotes, brackets, pipes, `#`, `;` and more,
while its HTML labels would take `<b>` at face value. So node and subgraph ids are ours (`n0`,
`b0s`), and every character of a label outside a small safe set is written as a Mermaid entity
code (`#60;`), which Mermaid draws as the character and never parses as markup or grammar.

Each region pair is a pair of subgraphs (its source side and its recovery side); circuits and
VPN sites sit between them. Edges point from the source side to the recovery side, so Mermaid's
left-to-right layout puts circuits in the middle. A node or edge with an active finding is drawn
in its severity's colour and names the findings' numbers in the Markdown tables.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping

from asr_audit.findings import Severity
from asr_audit.report.estate import pair_label
from asr_audit.report.sanitize import clean
from asr_audit.report.topology import (
    ATTACHMENT,
    CACHE,
    CIRCUIT,
    CONNECTION,
    FAILOVER,
    GATEWAY,
    LINK,
    PEERING,
    RECOVERY,
    SEVERITY_COLOURS,
    SITE,
    SOURCE,
    STAGING,
    VAULT,
    Edge,
    Node,
    Topology,
    collapse,
    describe,
    layer,
)

_SAFE = re.compile(r"[A-Za-z0-9 .,_/:()+-]")
_SHAPES = {  # Mermaid's node shapes: (open, close)
    GATEWAY: ("{{", "}}"),
    CIRCUIT: ("([", "])"),
    SITE: ("[/", "/]"),
    VAULT: ("[/", "\\]"),
    CACHE: ("[(", ")]"),
}
_ARROWS = {PEERING: "<-->", ATTACHMENT: "---", CONNECTION: "---", FAILOVER: "-.->", STAGING: "-.-"}
_SIDES = {SOURCE: "source side", RECOVERY: "recovery side"}
_SHOWN_NUMBERS = 4


def text(value: object) -> str:
    """Literal text for a quoted Mermaid label: unsafe characters as entity codes."""
    return "".join(ch if _SAFE.fullmatch(ch) else f"#{ord(ch)};" for ch in clean(value))


def render(topology: Topology, numbers: Mapping[str, int] | None = None) -> str:
    """Flowchart text for `topology` (collapsed past `topology.DEFAULT_LIMIT` VNets).

    `numbers` maps finding fingerprints to the numbers the Markdown tables show them under.
    """
    topo = collapse(topology)
    names = {n.id: f"n{i}" for i, n in enumerate(topo.nodes)}
    lines = ["flowchart LR"]
    for band, (source, target) in enumerate(topo.pairs):
        for side, title in _SIDES.items():
            members = [n for n in topo.nodes if n.band == band and n.side == side]
            if members:
                lines.append(f'  subgraph b{band}{side[0]}["{text(pair_label(source, target))} - {title}"]')
                lines += [f"    {_node(names[n.id], n, numbers or {})}" for n in members]
                lines.append("  end")
    lines += [f"  {_node(names[n.id], n, numbers or {})}" for n in topo.nodes if n.side == LINK]
    by_id = {n.id: n for n in topo.nodes}
    lines += [f"  {_edge(names, by_id, e, numbers or {})}" for e in topo.edges]
    lines += _styles(topo, names)
    return "\n".join(lines) + "\n"


def _node(name: str, node: Node, numbers: Mapping[str, int]) -> str:
    opening, closing = _SHAPES.get(node.kind, ("[", "]"))
    what, detail = describe(node)
    parts = [f"<b>{text(node.name)}</b>", text(what), text(detail), text(_refs(node.findings, numbers))]
    return f'{name}{opening}"{"<br/>".join(p for p in parts if p)}"{closing}'


def _edge(names: Mapping[str, str], nodes: Mapping[str, Node], edge: Edge, numbers: Mapping[str, int]) -> str:
    a, b = edge.source, edge.target
    if layer(nodes[a]) > layer(nodes[b]):  # keep the flow source -> link -> recovery
        a, b = b, a
    label = "; ".join(p for p in (edge.label, _refs(edge.findings, numbers)) if p)
    quoted = '|"' + text(label) + '"|' if label else ""
    return f"{names[a]} {_ARROWS[edge.kind]}{quoted} {names[b]}"


def _refs(fingerprints: tuple[str, ...], numbers: Mapping[str, int]) -> str:
    shown = sorted(numbers[fp] for fp in fingerprints if fp in numbers)
    if not shown:
        return ""
    more = len(shown) - _SHOWN_NUMBERS
    listed = ", ".join(f"#{n}" for n in shown[:_SHOWN_NUMBERS])
    return f"finding{'s' if len(shown) > 1 else ''} {listed}" + (f" +{more}" if more > 0 else "")


def _styles(topo: Topology, names: Mapping[str, str]) -> list[str]:
    nodes: dict[Severity, list[str]] = defaultdict(list)
    edges: dict[Severity, list[str]] = defaultdict(list)
    for n in topo.nodes:
        if n.severity is not None:
            nodes[n.severity].append(names[n.id])
    for i, e in enumerate(topo.edges):
        if e.severity is not None:
            edges[e.severity].append(str(i))
    lines = []
    for severity, (stroke, fill) in SEVERITY_COLOURS.items():
        if nodes[severity]:
            lines.append(
                f"  classDef sev{severity.value} stroke:{stroke},fill:{fill},stroke-width:3px,color:#101828"
            )
            lines.append(f"  class {','.join(nodes[severity])} sev{severity.value}")
        if edges[severity]:
            lines.append(f"  linkStyle {','.join(edges[severity])} stroke:{stroke},stroke-width:3px")
    return lines
