"""Write the rule pages into asr_audit/rule_pages/ from the rule metadata and docs/rules/src/.

One page per rule (<ID>.md), the catalog (README.md) and copies of the documents under docs/ that
pages link to (other-scanners.md). The pages are package data, so `asr-audit explain` prints them
from an installed wheel.

    python tools/gen_rule_docs.py           # (re)write the pages
    python tools/gen_rule_docs.py --check   # exit 1 if any page is missing or out of date

tests/test_docs.py runs the same comparison, so a page that drifts from its rule fails CI.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from asr_audit.app.catalog import PageSourceError, generated_docs

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES_DIR = ROOT / "asr_audit" / "rule_pages"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report drift instead of writing")
    args = parser.parse_args(argv)
    try:
        files = generated_docs(DOCS)
    except PageSourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    stale = sorted(p.name for p in PAGES_DIR.glob("*.md") if p.name not in files)
    drift = sorted(
        n
        for n, text in files.items()
        if not (PAGES_DIR / n).is_file() or (PAGES_DIR / n).read_text("utf-8") != text
    )
    if args.check:
        for name in drift:
            print(f"out of date: asr_audit/rule_pages/{name}", file=sys.stderr)
        for name in stale:
            print(f"no such rule or document: asr_audit/rule_pages/{name}", file=sys.stderr)
        return 1 if drift or stale else 0
    for name in drift:
        (PAGES_DIR / name).write_text(files[name], encoding="utf-8")
        print(f"wrote asr_audit/rule_pages/{name}")
    for name in stale:
        print(f"warning: asr_audit/rule_pages/{name} names no rule or document; delete it", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
