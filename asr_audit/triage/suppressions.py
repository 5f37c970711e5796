"""Suppressions: accepted risks, each with a reason and an expiry (`--suppressions FILE`).

File format (YAML), either a bare list or a mapping with a `suppressions:` key::

    suppressions:
      - rule: STG-CACHE-REDUNDANCY          # rule id or fnmatch glob (NET-*)
        resource: "*/resourceGroups/rg-dr/*" # ARM id glob, case-insensitive
        subscription: 00000000-0000-0000-0000-000000000000   # optional, id or glob
        reason: GRS cache accepted until the storage migration (CHG-1234)
        expires: 2025-06-30                  # YYYY-MM-DD; suppresses through that day

Every key is checked: an unknown key (a typo such as `expiry`) is an error rather than a
silently ignored condition, because a suppression that matches more than intended hides
findings. Errors are `UsageError`s naming the file and the line at fault (exit 2).

API: `load(path) -> list[Suppression]`; `apply(findings, suppressions, today) -> notes`
marks matching findings `suppressed` (first matching entry's reason wins) and returns one
note per entry that needs attention: `expired` (no longer suppresses; `matched` says how
many findings it would have covered) or `unused` (matched nothing: stale or mistyped).
`describe_note(note)` words a note for humans. Suppressed findings stay in every report;
only the exit code ignores them (`Report.active`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

from asr_audit import ids
from asr_audit.errors import UsageError
from asr_audit.findings import Finding
from asr_audit.strict_yaml import Document, is_null, line

_KEYS = ("rule", "resource", "subscription", "reason", "expires")
_REQUIRED = ("rule", "resource", "reason", "expires")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class Suppression:
    rule: str
    resource: str
    reason: str
    expires: date
    subscription: str | None = None
    file: str = ""
    line: int = 0

    def matches(self, finding: Finding) -> bool:
        if not fnmatchcase(finding.rule_id.lower(), self.rule.lower()):
            return False
        if not fnmatchcase(ids.key(finding.resource_id), _resource_pattern(self.resource)):
            return False
        return self.subscription is None or fnmatchcase(
            (finding.subscription_id or "").lower(), self.subscription.lower()
        )

    def expired(self, today: date) -> bool:
        return today > self.expires

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "resource": self.resource,
            "subscription": self.subscription,
            "reason": self.reason,
            "expires": self.expires.isoformat(),
            "file": self.file,
            "line": self.line,
        }


def _resource_pattern(pattern: str) -> str:
    """Normalise like `ids.key()` so `subscriptions/x/...` and `/Subscriptions/X/.../` match."""
    return pattern.lower().rstrip("/") if pattern.startswith("*") else ids.key(pattern)


def load(path: str | Path) -> list[Suppression]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read suppressions file {path}: {exc}") from exc
    doc = Document(f"suppressions file {path}")
    return [_entry(node, doc, str(path)) for node in _entries(doc.compose(text), doc)]


def _entries(root: yaml.Node | None, doc: Document) -> list[yaml.Node]:
    if root is None or is_null(root):
        return []
    if isinstance(root, yaml.MappingNode):
        pairs = {doc.key(k): v for k, v in root.value}
        unknown = [k for k in pairs if k != "suppressions"]
        if unknown:
            raise doc.fail(root, f"unknown top-level key {unknown[0]!r} (expected 'suppressions')")
        listed = pairs.get("suppressions")
        if listed is None or is_null(listed):
            return []
        root = listed
    if not isinstance(root, yaml.SequenceNode):
        raise doc.fail(root, "expected a list of suppression entries")
    return list(root.value)


def _entry(node: yaml.Node, doc: Document, path: str) -> Suppression:
    if not isinstance(node, yaml.MappingNode):
        raise doc.fail(node, "each suppression must be a mapping with rule, resource, reason, expires")
    fields: dict[str, tuple[str, yaml.Node]] = {}
    for key_node, value_node in node.value:
        name = doc.key(key_node)
        if name not in _KEYS:
            raise doc.fail(key_node, f"unknown key {name!r} (expected one of {', '.join(_KEYS)})")
        if name in fields:
            raise doc.fail(key_node, f"duplicate key {name!r}")
        if not isinstance(value_node, yaml.ScalarNode):
            raise doc.fail(value_node, f"{name!r} must be a single value, not a list or mapping")
        value = "" if is_null(value_node) else str(value_node.value).strip()
        if not value:
            raise doc.fail(value_node, f"{name!r} is empty")
        fields[name] = (value, value_node)
    missing = [k for k in _REQUIRED if k not in fields]
    if missing:
        raise doc.fail(node, f"missing required {', '.join(repr(k) for k in missing)}")
    subscription = fields.get("subscription")
    return Suppression(
        rule=fields["rule"][0],
        resource=fields["resource"][0],
        reason=fields["reason"][0],
        expires=_date(*fields["expires"], doc),
        subscription=subscription[0] if subscription else None,
        file=path,
        line=line(node),
    )


def _date(value: str, node: yaml.Node, doc: Document) -> date:
    if _DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise doc.fail(node, f"'expires' must be a calendar date YYYY-MM-DD, got {value!r}")


def apply(findings: Iterable[Finding], suppressions: list[Suppression], today: date) -> list[dict[str, Any]]:
    matched = [0] * len(suppressions)
    for finding in findings:
        for i, entry in enumerate(suppressions):
            if not entry.matches(finding):
                continue
            matched[i] += 1
            if not finding.suppressed and not entry.expired(today):
                finding.suppressed = True
                finding.suppression_reason = entry.reason
    notes: list[dict[str, Any]] = []
    for entry, count in zip(suppressions, matched, strict=True):
        if entry.expired(today):
            notes.append({"status": "expired", **entry.to_json(), "matched": count})
        elif count == 0:
            notes.append({"status": "unused", **entry.to_json(), "matched": 0})
    return notes


def describe_note(note: dict[str, Any]) -> str:
    where = f"{note.get('file') or 'suppressions'}:{note.get('line')}"
    what = f"rule {note.get('rule')}, resource {note.get('resource')}"
    if note.get("status") == "expired":
        return (
            f"{where}: suppression ({what}) expired on {note.get('expires')} and no longer "
            f"suppresses; it would match {note.get('matched', 0)} finding(s)"
        )
    return f"{where}: suppression ({what}) matched no finding; remove it or fix its patterns"
