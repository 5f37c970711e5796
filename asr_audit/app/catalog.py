"""`asr-audit rules`, `asr-audit explain`: the rule catalog and the rule pages, from rule metadata.

Both are rendered from `RuleMeta` so the catalog, the pages and the findings cannot disagree;
`tools/gen_rule_docs.py` writes the pages into the package (`asr_audit/rule_pages/`) and a test
fails when a page has drifted from what this module renders. The pages ship inside the wheel, so
`explain` shows them offline, wherever asr-audit is installed: no report links to a web copy
that may not exist.
"""

from __future__ import annotations

import difflib
import json
import re
import textwrap
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from asr_audit import __version__
from asr_audit.errors import UsageError
from asr_audit.findings import RuleMeta
from asr_audit.rules import catalog as rule_catalog
from asr_audit.rules.catalog import Catalog
from asr_audit.rules.thresholds import THRESHOLDS

CATALOG_SCHEMA_VERSION = 1
FORMATS = ("table", "json", "markdown")
_DATE = re.compile(r"\b((?:19|20)\d{2}(?:-\d{2}-\d{2})?)\b")  # 2025-06-13, or a bare year
_WIDTH = 100  # rule pages, and the catalog when no width is given
PAGES = "rule_pages"  # the generated pages, package data of asr_audit
# Hand-written documents under docs/ that rule pages send readers to: shipped beside the pages, so
# a link from a page and `asr-audit explain <name>` work offline too.
DOCUMENTS = ("other-scanners",)


def explain_command(rule_id: str) -> str:
    """How a reader opens a rule's page: the catalog names this rather than a URL."""
    return f"asr-audit explain {rule_id}"


def source_date(meta: RuleMeta) -> str | None:
    """The date of the first source document named: `Title (site, YYYY-MM-DD)` or `Title (YYYY)`."""
    match = _DATE.search(meta.source)
    return match.group(1) if match else None


def rule_record(meta: RuleMeta) -> dict[str, Any]:
    return {
        "id": meta.id,
        "title": meta.title,
        "severity": meta.severity.value,
        "category": meta.category,
        "rationale": meta.rationale,
        "remediation": meta.remediation,
        "source": meta.source,
        "source_date": source_date(meta),
        "seed_value": meta.seed_value,
        "docs": meta.microsoft_docs,
        "page": explain_command(meta.id),
        "references": list(meta.references),
        "reads": list(meta.needs),
        "severities": [sev.value for sev in meta.severities],
    }


def _metas(catalog: Catalog | None) -> list[RuleMeta]:
    """The rules' metadata in id order; the default catalog (looked up when called) when None."""
    return list((catalog if catalog is not None else rule_catalog.default_catalog()).metas().values())


def render_catalog(fmt: str = "table", catalog: Catalog | None = None, *, width: int = _WIDTH) -> str:
    """The catalog (every rule when None) in `fmt` (table, json or markdown); the table wraps to
    `width` at spaces only."""
    metas = _metas(catalog)
    if fmt == "json":
        return _json(metas)
    if fmt == "markdown":
        return render_markdown(metas)
    if fmt == "table":
        return _table(metas, width)
    raise ValueError(f"unknown catalog format {fmt!r} (choose from {', '.join(FORMATS)})")


def _json(metas: list[RuleMeta]) -> str:
    doc = {
        "schema_version": CATALOG_SCHEMA_VERSION,
        "tool": {"name": "asr-audit", "version": __version__},
        "rules": [rule_record(m) for m in metas],
        "thresholds": [
            {
                "key": t.key,
                "default": t.default,
                "unit": t.unit,
                "description": t.description,
                "source": t.source,
                "seed_value": t.seed,
            }
            for t in THRESHOLDS.values()
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def _wrap(text: str, width: int, first: str, rest: str) -> str:
    """Wrapped at spaces only: a URL or id wider than the line stays whole on a line of its own."""
    return textwrap.fill(
        text,
        width=width,
        initial_indent=first,
        subsequent_indent=rest,
        break_on_hyphens=False,
        break_long_words=False,
    )


def _table(metas: list[RuleMeta], width: int) -> str:
    """One block per rule: a header line to scan, then the full text wrapped for a terminal."""
    head = f"asr-audit rule catalog: {len(metas)} rules (a rule's page: {explain_command('RULE-ID')})"
    blocks = [_wrap(head, width, "", "")]
    for m in metas:
        fields = [("Why", m.rationale), ("Fix", m.remediation), ("Source", m.source)]
        fields += [("Seed", m.seed_value)] if m.seed_value else []
        fields.append(("Docs", m.microsoft_docs))
        lines = [_wrap(f"{m.id}  [{m.severity.value}, {m.category}]  {m.title}", width, "", " " * 10)]
        lines += [_wrap(text, width, f"  {label:<8}", " " * 10) for label, text in fields]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def render_markdown(metas: Iterable[RuleMeta]) -> str:
    """The catalog as a Markdown document (also asr_audit/rule_pages/README.md)."""
    metas = list(metas)
    out = [
        "# asr-audit rule catalog",
        "",
        f"{len(metas)} rules. Each id links to its page: why it matters, the exact ARM properties it "
        "reads, and how to fix it.",
        "",
        "| id | severity | category | title | source date | seed value |",
        "|---|---|---|---|---|---|",
    ]
    out += [
        f"| [{m.id}]({m.id}.md) | {m.severity.value} | {m.category} | {_cell(m.title)} | "
        f"{source_date(m) or ''} | {_cell(m.seed_value)} |"
        for m in metas
    ]
    for m in metas:
        out += ["", f"## {m.id}: {m.title}", "", m.rationale, "", f"**Fix.** {m.remediation}", ""]
        out.append(f"**Source.** {m.source}" + (f" **Seed value:** {m.seed_value}." if m.seed_value else ""))
        out += ["", f"[Rule page]({m.id}.md) · [Microsoft documentation]({m.microsoft_docs})"]
    return "\n".join(out) + "\n"


# --- rule pages ------------------------------------------------------------------------------

PAGE_SECTIONS = ("Synopsis", "How it is evaluated", "How to fix it")
FIX_SUBSECTIONS = ("Portal", "Azure CLI", "Bicep")
GENERATED_NOTE = (
    "<!-- Generated by tools/gen_rule_docs.py from the rule's metadata and docs/rules/src/{id}.md. "
    "Edit those, then run: python tools/gen_rule_docs.py -->"
)


DOCUMENT_NOTE = (
    "<!-- Generated by tools/gen_rule_docs.py from docs/{name}.md. "
    "Edit that, then run: python tools/gen_rule_docs.py -->"
)


class PageSourceError(ValueError):
    """A hand-written page source that lacks a required section."""


def split_sections(text: str) -> dict[str, str]:
    """Level-2 sections of a Markdown text by heading; text before the first heading is dropped."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = sections.setdefault(line[3:].strip(), [])
        elif current is not None:
            current.append(line)
    return {name: "\n".join(body).strip() for name, body in sections.items()}


def check_page_source(rule_id: str, text: str) -> dict[str, str]:
    sections = split_sections(text)
    missing = [s for s in PAGE_SECTIONS if not sections.get(s)]
    extra = [s for s in sections if s not in PAGE_SECTIONS]
    fix = sections.get("How to fix it", "")
    missing += [f"How to fix it / {s}" for s in FIX_SUBSECTIONS if f"### {s}" not in fix]
    if missing or extra:
        raise PageSourceError(
            f"docs/rules/src/{rule_id}.md: missing sections {missing or 'none'}, unexpected {extra or 'none'}"
        )
    return sections


def reads_paragraph(meta: RuleMeta) -> str:
    """What a page says about the rule's inputs and the trust contract (DESIGN.md §8.2)."""
    reads = ", ".join(f"`{c}`" for c in meta.needs)
    return textwrap.fill(
        f"Reads: {reads} (collector names, as in the report's coverage section). When any of them "
        "could not be read in a subscription (forbidden, throttled, timeout, error, not found, only "
        "partly read, or absent from a snapshot), or the subscription itself could not be read, the "
        "rule still judges what was read and adds one `unknown` finding per gap, at "
        f"{meta.worst.value} (the worst it reports): on the subscription, or on the vault, resource "
        "group or firewall policy of a per-object read, naming the collector, its status and the ids "
        "it could not read. It never passes what it could not see.",
        width=_WIDTH,
        break_on_hyphens=False,
        break_long_words=False,
    )


def render_rule_page(meta: RuleMeta, source_text: str) -> str:
    """A rule's page: metadata (severity, rationale, remediation, sources) plus hand-written sections."""
    sections = check_page_source(meta.id, source_text)
    facts = [
        ("Rule id", f"`{meta.id}`"),
        ("Severity", " / ".join(s.value for s in (meta.severity, *meta.other_severities))),
        ("Category", meta.category),
        ("Reads", ", ".join(f"`{c}`" for c in meta.needs)),
        ("Source", _cell(meta.source)),
    ]
    if meta.seed_value:
        facts.append(("Seed value (superseded)", _cell(meta.seed_value)))
    out = [GENERATED_NOTE.format(id=meta.id), "", f"# {meta.id}: {meta.title}", "", "| | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in facts]
    out += ["", "## Synopsis", "", sections["Synopsis"], "", "## Why it matters", "", meta.rationale]
    out += ["", "## How it is evaluated", "", sections["How it is evaluated"]]
    out += ["", "## When its data could not be read", "", reads_paragraph(meta)]
    out += ["", "## How to fix it", "", meta.remediation, "", sections["How to fix it"]]
    out += ["", "## References", "", f"- {meta.microsoft_docs}"]
    out += [f"- {ref}" for ref in meta.references]
    out += [f"- Source: {meta.source}", "- [All rules](README.md)"]
    return "\n".join(out) + "\n"


def explain(rule_id: str, catalog: Catalog | None = None) -> str:
    """The page of `rule_id` (any case), or of one of the `DOCUMENTS`, as shipped, without the note
    for its editors; an unknown id is a `UsageError` naming the closest ids."""
    known = [m.id for m in _metas(catalog)] + [d.upper() for d in DOCUMENTS]
    wanted = rule_id.strip().upper()
    if wanted not in known:
        close = difflib.get_close_matches(wanted, known, n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(close)}?" if close else "see: asr-audit rules"
        raise UsageError(f"no rule {rule_id!r}: {hint}")
    name, note = wanted, GENERATED_NOTE.format(id=wanted)
    if wanted.lower() in DOCUMENTS:
        name = wanted.lower()
        note = DOCUMENT_NOTE.format(name=name)
    page = resources.files("asr_audit") / PAGES / f"{name}.md"
    try:
        text = page.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"this installation has no page for {wanted}: reinstall asr-audit") from None
    return text.removeprefix(note + "\n\n")


def generated_docs(docs_dir: Path, catalog: Catalog | None = None) -> dict[str, str]:
    """Every generated file of the pages directory (file name -> text): one page per rule of the catalog
    (the default one when None), README.md (the catalog) and a copy of each of the `DOCUMENTS`.
    `docs_dir` is the repository's docs/: the hand-written `<ID>.md` sources are in its rules/src/."""
    src_dir = docs_dir / "rules" / "src"
    metas = _metas(catalog)
    missing = [m.id for m in metas if not (src_dir / f"{m.id}.md").is_file()]
    if missing:
        raise PageSourceError(f"no page source in {src_dir} for: {', '.join(missing)}")
    files = {f"{m.id}.md": render_rule_page(m, (src_dir / f"{m.id}.md").read_text("utf-8")) for m in metas}
    files["README.md"] = render_markdown(metas)
    for name in DOCUMENTS:
        text = (docs_dir / f"{name}.md").read_text("utf-8")
        files[f"{name}.md"] = f"{DOCUMENT_NOTE.format(name=name)}\n\n{text}"
    return files
