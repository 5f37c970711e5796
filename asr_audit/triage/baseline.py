"""Baseline comparison (`--baseline PREVIOUS.json`): what is new since the last scan.

The previous file is an earlier `--output json` report. Findings are matched by
`fingerprint` alone (rule id + lower-cased resource id + rule key), so a resource id that
comes back in another case, or a reworded message, is still "unchanged". Suppression does
not matter here: a suppressed finding that persists is unchanged, one that disappears is
resolved.

API: `load(path) -> list[dict]` (the previous findings, validated; anything else is a
`UsageError`, exit 2) and `apply(findings, previous) -> resolved`, which sets each current
finding's `baseline` to `"new"` or `"unchanged"` and returns one entry per previous
fingerprint no longer reported: `{rule_id, resource_id, fingerprint, title, severity}`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from asr_audit.errors import UsageError, json_error
from asr_audit.findings import Finding

_REQUIRED = ("fingerprint", "rule_id", "resource_id")


def load(path: str | Path) -> list[dict[str, Any]]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read baseline {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise UsageError(f"baseline {path} is not valid JSON: {json_error(exc)}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("findings"), list):
        raise UsageError(f"baseline {path} is not an asr-audit JSON report (--output json): no findings list")
    findings: list[dict[str, Any]] = doc["findings"]
    for i, item in enumerate(findings):
        bad = [k for k in _REQUIRED if not isinstance(item, dict) or not isinstance(item.get(k), str)]
        if bad:
            raise UsageError(f"baseline {path}: findings[{i}] has no string {bad[0]!r}")
    return findings


def apply(findings: Iterable[Finding], previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
    before = {p["fingerprint"]: p for p in previous}
    now: set[str] = set()
    for finding in findings:
        fp = finding.fingerprint
        now.add(fp)
        finding.baseline = "unchanged" if fp in before else "new"
    resolved = [
        {
            "rule_id": p["rule_id"],
            "resource_id": p["resource_id"],
            "fingerprint": fp,
            "title": p.get("title") if isinstance(p.get("title"), str) else None,
            "severity": p.get("severity") if isinstance(p.get("severity"), str) else None,
        }
        for fp, p in before.items()
        if fp not in now
    ]
    resolved.sort(key=lambda r: (r["rule_id"], r["resource_id"].lower()))
    return resolved
