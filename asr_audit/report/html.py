"""`--output html`: one self-contained page a person opens from a pipeline artefact or a mail.

The page needs nothing but itself: styles and the filter script are inlined from `assets/` and a
Content-Security-Policy lets the browser load nothing else (no fonts, images or scripts from
anywhere, inline code only by hash), so opening it makes no request, and text that slipped
through escaping still could not run. Everything from Azure or the run is HTML-escaped after
`sanitize.clean`; the script reads only the page's own data attributes.

Order: the coverage gaps first when there are any (a partial scan must not read as a clean one),
the estate, the DR topology as inline SVG laid out here (a band per region pair; columns from
source VNets through gateways and circuits to recovery VNets and vaults), then the findings with
filters by severity, rule and subscription, each with its evidence and fix. A node or edge with
an active finding is drawn in its severity's colour and links to that finding.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from importlib import resources
from statistics import mean

from asr_audit import ids
from asr_audit.findings import Check, Finding, Severity
from asr_audit.report import Report
from asr_audit.report.estate import (
    Estate,
    coverage_sentence,
    grouping_sentence,
    pair_label,
    subscription_label,
    tables,
)
from asr_audit.report.sanitize import clean, clean_tree
from asr_audit.report.topology import DEFAULT_LIMIT, Edge, Node, Topology, collapse, describe, layer
from asr_audit.triage.suppressions import describe_note


def e(value: object, *, multiline: bool = False) -> str:
    """Text from Azure or the run, safe as HTML text or a quoted attribute value."""
    return escape(clean(value, multiline=multiline), quote=True)


def _asset(name: str) -> str:
    return resources.files("asr_audit.report").joinpath("assets").joinpath(name).read_text("utf-8")


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def render(report: Report) -> str:
    css, script = _asset("report.css"), _asset("report.js")
    policy = (
        f"default-src 'none'; style-src '{_sha256(css)}'; script-src '{_sha256(script)}'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    names = {s.id: subscription_label(s) for s in report.estate.subscriptions} if report.estate else {}
    body = [
        _header(report),
        "<main>",
        _gaps(report),
        _estate(report.estate) if report.estate else "",
        _picture(report.topology) if report.topology else "",
        _findings(report, names),
        _others(report),
        "</main>",
    ]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f'<meta http-equiv="Content-Security-Policy" content="{policy}">',
            '<link rel="icon" href="data:,">',
            "<title>asr-audit report</title>",
            f"<style>{css}</style>",
            "</head>",
            "<body>",
            *(part for part in body if part),
            f"<script>{script}</script>",
            "</body>",
            "</html>",
            "",
        ]
    )


# --- header, gaps, estate --------------------------------------------------------------------------


def _header(report: Report) -> str:
    counts = report.by_severity()
    badges = "".join(f'<span class="badge {s}">{n} {s}</span>' for s, n in counts.items() if n)
    suppressed = len(report.findings) - len(report.active)
    regions = (
        f"{report.source_region or 'inferred'} → {report.target_region or 'inferred'}"
        if report.source_region or report.target_region
        else "regions from ASR replication settings"
    )
    run = " · ".join((report.cloud, regions, f"{report.started_at} to {report.finished_at}"))
    badges = badges or '<span class="badge plain">no active findings</span>'
    return (
        f'<header><h1>asr-audit report</h1><p class="run">{e(run)} · asr-audit {e(report.tool_version)}</p>'
        f'<div class="totals">{badges}<span class="badge plain">{suppressed} suppressed</span></div></header>'
    )


def _gaps(report: Report) -> str:
    gaps = report.gaps
    if not gaps:
        return ""
    rows = [(g.subscription_id, g.collector, g.status, g.detail) for g in gaps]
    return (
        '<section id="coverage-gaps" class="gaps"><h2>Coverage gaps: the scan is incomplete</h2>'
        f"<p>{len(gaps)} of {len(report.coverage)} collector runs could not read their data. Rules that "
        "needed it report <strong>unknown</strong> for what they could not judge, never a pass.</p>"
        f"{_table(('Subscription', 'Collector', 'Status', 'Detail'), rows)}</section>"
    )


def _estate(estate: Estate) -> str:
    facts = (
        (len(estate.subscriptions), "subscriptions"),
        (estate.protected_vms, "protected VMs"),
        (estate.candidate_vms, "candidate VMs"),
        (len(estate.region_pairs), "region pairs"),
        (len(estate.vaults), "vaults"),
        (len(estate.recovery_vnets), "recovery VNets"),
        (len(estate.circuits), "ExpressRoute circuits"),
    )
    coverage = coverage_sentence(estate.coverage)
    blocks = "".join(
        f"<div><h3>{title}</h3>{_table(header, rows) if rows else '<p class=empty>none</p>'}</div>"
        for title, header, rows in tables(estate)
    )
    facts_html = "".join(f'<div class="fact"><strong>{n}</strong>{label}</div>' for n, label in facts)
    status = "gaps" if estate.coverage.gaps else "complete"
    return (
        f'<section id="estate"><h2>Estate</h2><div class="facts">{facts_html}</div>'
        f'<p>Coverage: <span class="{status}">{e(coverage)}</span></p>'
        f'<div class="estate-grid">{blocks}</div></section>'
    )


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{e('-' if c is None or c == '' else c)}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# --- the picture -----------------------------------------------------------------------------------

# Node size, gaps, padding (the left one leaves room for peerings bowing out) and band title height.
_W, _H, _GAP_X, _GAP_Y, _PAD, _LEFT, _HEAD = 220, 62, 56, 14, 16, 48, 30
_COLUMNS = (
    "Source VNets, caches",
    "Source gateways",
    "Circuits, VPN sites",
    "Recovery gateways",
    "Recovery VNets, vaults",
)
_KIND_ORDER = {"vnet": 0, "gateway": 1, "circuit": 2, "site": 3, "cache": 4, "vault": 5}


def _picture(topology: Topology) -> str:
    topo = collapse(topology)
    if not topo.nodes:
        return (
            '<section id="topology"><h2>DR topology</h2><p class="empty">Nothing to draw: no replicated or '
            "candidate VMs, network mappings or recovery VNets in scope.</p></section>"
        )
    grouped = grouping_sentence(topo.grouped_by, DEFAULT_LIMIT)
    grouped = f"<p>{e(grouped)}</p>" if grouped else ""
    legend = "".join(f'<span><span class="badge {s.value}">{s.value}</span></span>' for s in Severity)
    return (
        '<section id="topology"><h2>DR topology</h2><p>What disaster recovery depends on, per region pair. '
        "A node or link in colour has an active finding (click it to go to the finding). Dashed arrows are "
        f"failover paths, dotted lines cache staging, thick lines peerings.</p>{grouped}"
        f'<div class="picture">{_svg(topo)}</div><div class="legend">{legend}</div></section>'
    )


def _svg(topo: Topology) -> str:
    cells = _cells(topo)
    where: dict[str, tuple[float, float]] = {}
    frames: list[str] = []
    width = _LEFT + _PAD + 5 * _W + 4 * _GAP_X
    y = 28.0
    for band in sorted({band for band, _ in cells}):
        rows = max(len(cells.get((band, c), [])) for c in range(5))
        height = _HEAD + rows * (_H + _GAP_Y) + _PAD / 2
        source, target = topo.pairs[band]
        frames.append(
            f'<rect class="band-bg" x="4" y="{y}" width="{width - 8}" height="{height}" rx="8"/>'
            f'<text class="band-title" x="{_LEFT}" y="{y + 20}">{e(pair_label(source, target))}</text>'
        )
        for column in range(5):
            for row, node in enumerate(cells.get((band, column), [])):
                where[node.id] = (_LEFT + column * (_W + _GAP_X), y + _HEAD + row * (_H + _GAP_Y))
        y += height + 12
    titles = "".join(
        f'<text class="column-title" x="{_LEFT + c * (_W + _GAP_X)}" y="18">{e(t)}</text>'
        for c, t in enumerate(_COLUMNS)
    )
    by_id = {n.id: n for n in topo.nodes}
    edges = "".join(_edge(edge, by_id, where) for edge in topo.edges)
    nodes = "".join(_node(n, *where[n.id]) for n in topo.nodes)
    marker = (
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" '
        'markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>'
    )
    return (
        f'<svg class="topology" viewBox="0 0 {width} {y}" width="{width}" height="{y}" '
        f'role="img" aria-label="DR topology">{marker}{titles}{"".join(frames)}{edges}{nodes}</svg>'
    )


def _cells(topo: Topology) -> dict[tuple[int, int], list[Node]]:
    """Nodes per (band, column), each column ordered by the mean row of its neighbours elsewhere
    (one sweep each way), so that links cross as little as a quick heuristic can make them."""
    cells: dict[tuple[int, int], list[Node]] = defaultdict(list)
    for n in sorted(topo.nodes, key=lambda n: (_KIND_ORDER.get(n.kind, 9), n.name.lower())):
        cells[(n.band, layer(n))].append(n)
    neighbours: dict[str, list[str]] = defaultdict(list)
    for edge in topo.edges:
        neighbours[edge.source].append(edge.target)
        neighbours[edge.target].append(edge.source)
    for sweep in (range(1, 5), range(3, -1, -1)):
        for column in sweep:
            rows = {n.id: i for (_, c), nodes in cells.items() if c != column for i, n in enumerate(nodes)}
            for (_, c), nodes in cells.items():
                if c == column:
                    current = {n.id: i for i, n in enumerate(nodes)}
                    nodes.sort(
                        key=lambda n: mean(
                            [rows[m] for m in neighbours[n.id] if m in rows] or [current[n.id]]
                        )
                    )
    return cells


def _node(node: Node, x: float, y: float) -> str:
    severity = f" sev-{node.severity.value}" if node.severity else ""
    what, detail = describe(node)
    grouped = " grouped" if node.members > 1 else ""
    refs = _refs(node.findings, node.severity)
    # Characters that fit the box in the report's sans-serif; the inner <svg> clips what a wider
    # font would still push past it, and the tooltip has every word.
    lines = [("name", node.name, 26), ("what", what, 32), ("detail", detail, 32), ("refs", refs, 32)]
    texts = "".join(
        f'<text class="{cls}" x="10" y="{15 + 13 * i}">{e(_fit(text, width))}</text>'
        for i, (cls, text, width) in enumerate(line for line in lines if line[1])
    )
    where = node.resource_id or (f"subscription {node.subscription_id}" if node.subscription_id else "")
    tip = "\n".join(p for p in (node.name, what, detail, where, refs) if p)
    rounded = 14 if node.kind == "circuit" else 6
    group = (
        f'<g class="node {node.kind}{grouped}{severity}"><title>{e(tip, multiline=True)}</title>'
        f'<svg x="{x}" y="{y}" width="{_W}" height="{_H}">'
        f'<rect x="1.5" y="1.5" width="{_W - 3}" height="{_H - 3}" rx="{rounded}"/>{texts}</svg></g>'
    )
    return _linked(group, node.findings)


def _edge(edge: Edge, nodes: Mapping[str, Node], where: Mapping[str, tuple[float, float]]) -> str:
    a, b = edge.source, edge.target
    if layer(nodes[a]) > layer(nodes[b]):
        a, b = b, a
    (xa, ya), (xb, yb) = where[a], where[b]
    ya, yb = ya + _H / 2, yb + _H / 2
    if layer(nodes[a]) == layer(nodes[b]):  # same column (a peering): bow out to the left
        path = f"M{xa},{ya} C{xa - 40},{ya} {xb - 40},{yb} {xb},{yb}"
    else:
        xa += _W
        bend = (xb - xa) / 2
        path = f"M{xa},{ya} C{xa + bend},{ya} {xb - bend},{yb} {xb},{yb}"
    severity = f" sev-{edge.severity.value}" if edge.severity else ""
    # Labels would sit on the nodes of the columns a long link crosses: they go in the tooltip.
    label = "; ".join(p for p in (edge.label, _refs(edge.findings, edge.severity)) if p)
    tip = f"{edge.kind}: {nodes[a].name} - {nodes[b].name}" + (f" ({label})" if label else "")
    hit = f'<path class="hit" d="{path}"/>' if edge.findings else ""  # a wider target to click
    group = f'<g class="edge {edge.kind}{severity}"><title>{e(tip)}</title><path d="{path}"/>{hit}</g>'
    return _linked(group, edge.findings)


def _refs(findings: tuple[str, ...], severity: Severity | None) -> str:
    if not findings:
        return ""
    return f"{len(findings)} finding{'s' if len(findings) > 1 else ''}" + (
        f", worst {severity.value}" if severity else ""
    )


def _linked(svg: str, findings: tuple[str, ...]) -> str:
    """Wrapped in a link to the worst finding on it, when it has one."""
    return f'<a href="#f-{e(findings[0])}">{svg}</a>' if findings else svg


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# --- findings ---------------------------------------------------------------------------------------


def _findings(report: Report, names: Mapping[str, str]) -> str:
    active = [f for severity in Severity for f in report.active if f.severity is severity]
    if not active:
        return '<section id="findings"><h2>Findings</h2><p class="empty">No active findings.</p></section>'
    severities = Counter(f.severity.value for f in active)
    rules = Counter(f.rule_id for f in active)
    subscriptions = Counter(f.subscription_id for f in active)
    filters = "".join(
        (
            _filter(
                "Severity",
                "severity",
                [(s.value, f"{s.value} ({severities[s.value]})") for s in Severity if severities[s.value]],
            ),
            _filter("Rule", "rule", [(r, f"{r} ({n})") for r, n in sorted(rules.items())]),
            _filter(
                "Subscription",
                "subscription",
                [
                    (s, f"{names.get(s, s)} ({n})")
                    for s, n in sorted(subscriptions.items(), key=lambda kv: names.get(kv[0], kv[0]))
                ],
            ),
        )
    )
    seen: set[str] = set()
    articles = "".join(_finding(f, names, seen) for f in active)
    return (
        f'<section id="findings"><h2>Findings ({len(active)})</h2><div class="filters">{filters}'
        '<button type="button" id="filter-reset">Clear filters</button>'
        f'<span id="filter-count" aria-live="polite"></span></div>{articles}</section>'
    )


def _filter(label: str, key: str, options: list[tuple[str, str]]) -> str:
    choices = "".join(f'<option value="{e(value)}">{e(text)}</option>' for value, text in options)
    return (
        f'<label>{label}<select id="filter-{key}" data-filter="{key}">'
        f'<option value="">All</option>{choices}</select></label>'
    )


def _finding(f: Finding, names: Mapping[str, str], seen: set[str]) -> str:
    anchor = "f-" + f.fingerprint
    if anchor in seen:  # the same finding twice (stale duplicates): the picture links to the first
        anchor += f"-{len(seen)}"
    seen.add(anchor)
    severity = f.severity.value
    badges = f'<span class="badge {severity}">{severity}</span>'
    if f.status == "unknown":
        badges += '<span class="badge unknown">undecided: data missing</span>'
    if f.baseline == "new":
        badges += '<span class="badge new">new</span>'
    name = f.resource_name or ids.name_of(f.resource_id) or f.resource_id
    where = ", ".join(p for p in ((f.resource_type or "").rsplit("/", 1)[-1], f.region) if p)
    where = f" ({e(where)})" if where else ""
    subscription = names.get(f.subscription_id, f.subscription_id)
    evidence = json.dumps(clean_tree(f.evidence), indent=2, ensure_ascii=False, default=str)
    docs = f.docs if f.docs and f.docs.lower().startswith(("https://", "http://")) else None
    return (
        f'<article class="finding {severity}" id="{e(anchor)}" data-severity="{severity}" '
        f'data-rule="{e(f.rule_id)}" data-subscription="{e(f.subscription_id)}">'
        f"<h3>{badges}<code>{e(f.rule_id)}</code> {e(f.title)}</h3>"
        f'<p class="where"><strong>{e(name)}</strong>{where} in {e(subscription)}</p>'
        f'<p class="id">{e(f.resource_id)}</p>'
        f'<p class="message">{e(f.message, multiline=True)}</p>'
        f'<p class="fix"><strong>Fix:</strong> {e(f.remediation, multiline=True)}</p>'
        f"<details><summary>Evidence</summary><pre>{escape(evidence)}</pre></details>"
        + (f'<p><a href="{e(docs)}">Microsoft documentation</a></p>' if docs else "")
        + "</article>"
    )


def _checks(checks: list[Check]) -> str:
    rows = [
        (c.resource_name or ids.name_of(c.resource_id), c.resource_type, c.region, c.resource_id)
        for c in checks
    ]
    return _table(("Resource", "Type", "Region", "Id"), rows)


def _others(report: Report) -> str:
    """Suppressed findings, suppression-file notes and baseline resolutions: kept out of the way."""
    parts = []
    suppressed = [f for f in report.findings if f.suppressed]
    if suppressed:
        rows = [(f.rule_id, f.severity.value, f.resource_id, f.suppression_reason) for f in suppressed]
        parts.append(
            f"<details><summary>Suppressed findings ({len(suppressed)})</summary>"
            f"{_table(('Rule', 'Severity', 'Resource', 'Reason'), rows)}</details>"
        )
    if report.suppression_notes:
        notes = "".join(f"<li>{e(describe_note(n))}</li>" for n in report.suppression_notes)
        parts.append(f"<h3>Suppression file notes</h3><ul>{notes}</ul>")
    if report.resolved:
        keys = ("rule_id", "severity", "resource_id", "title")
        resolved = [[r.get(k) for k in keys] for r in report.resolved]
        parts.append(
            f"<h3>Resolved since the baseline ({len(report.resolved)})</h3>"
            f"{_table(('Rule', 'Severity', 'Resource', 'Title'), resolved)}"
        )
    if report.passed is not None:
        blocks = "".join(
            f"<details><summary>{e(rule_id)}: {len(checks)} passed</summary>{_checks(checks)}</details>"
            for rule_id, checks in report.passed_by_rule().items()
        )
        parts.append(f"<h3>Passed checks ({len(report.passed)})</h3>{blocks or '<p>None.</p>'}")
    if not parts:
        return ""
    return f'<section id="more"><h2>Also in this run</h2>{"".join(parts)}</section>'
