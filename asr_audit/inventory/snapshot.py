"""Snapshots: the inventory as versioned JSON (`--save-snapshot`) and back (`--snapshot`).

Loading fails closed. A snapshot may be hand-edited or cut short, and an empty list in it reads
as "nothing there": so what the file does not show was read (a missing section, a subscription
without a record for a subscription-wide collector) comes back as a `not_collected` gap, and a
value the rules could not interpret is an input error (exit 2), never a silent pass.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from asr_audit.atomic_write import write_text_atomic
from asr_audit.errors import UsageError
from asr_audit.inventory.model import (
    SERVICE_TAGS,
    SUBSCRIPTION_COLLECTORS,
    Coverage,
    CoverageStatus,
    Inventory,
)
from asr_audit.redact import scrub

SNAPSHOT_SCHEMA_VERSION = 1
SNAPSHOT_KIND = "asr-audit-inventory"


def to_json(inventory: Inventory) -> dict[str, Any]:
    return {"kind": SNAPSHOT_KIND, "schema_version": SNAPSHOT_SCHEMA_VERSION, **dataclasses.asdict(inventory)}


def dumps(inventory: Inventory) -> str:
    """The snapshot text, with every token-like value redacted (DESIGN.md §8.2).

    Redaction looks at the serialised text first (one pass over it, usually finding nothing)
    and redoes only the string literals when something matched: scrubbing the JSON text as a
    whole could cut an escape sequence in half. Each literal is decoded, scrubbed and encoded
    again, which gives back an unchanged literal byte for byte.
    """
    text = json.dumps(to_json(inventory), indent=1) + "\n"
    if scrub(text) != text:
        text = _STRING_LITERAL.sub(lambda m: json.dumps(scrub(json.loads(m.group()))), text)
    return text


_STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"')


def save(inventory: Inventory, path: str | Path) -> None:
    """Write the snapshot atomically (a kill mid-write must not destroy yesterday's)."""
    write_text_atomic(path, dumps(inventory), what="snapshot")


def from_json(data: Any) -> Inventory:
    """Rebuild a snapshot, failing closed: what it does not show was not read.

    A section missing from the file, or a subscription without a coverage record for a
    subscription-wide collector, becomes a `not_collected` gap instead of an empty,
    complete list; a coverage entry with an unknown status is an error (exit 2).
    """
    if not isinstance(data, dict) or data.get("kind") != SNAPSHOT_KIND:
        raise UsageError("not an asr-audit inventory snapshot (missing kind: asr-audit-inventory)")
    version = data.get("schema_version")
    if version != SNAPSHOT_SCHEMA_VERSION:
        raise UsageError(
            f"snapshot schema_version {version!r} is not supported (expected {SNAPSHOT_SCHEMA_VERSION})"
        )
    body = {k: v for k, v in data.items() if k not in ("kind", "schema_version")}
    try:
        inventory = _build(Inventory, body, "snapshot")
    except (TypeError, ValueError) as exc:
        raise UsageError(f"invalid snapshot: {exc}") from None
    _check_coverage(inventory.coverage)
    inventory.coverage.extend(_unread_sections(inventory, present=set(body)))
    return inventory


def load(path: str | Path) -> Inventory:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise UsageError(f"cannot read snapshot {path}: {reason}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"snapshot {path} is not valid JSON: line {exc.lineno}: {exc.msg}") from None
    return from_json(data)


# Sections that are not resource records: what was scanned and how it went.
_BOOKKEEPING = frozenset({"cloud", "collected_at", "subscriptions", "coverage"})


def _check_coverage(coverage: list[Coverage]) -> None:
    """Types are checked by `_build`; the status must also be one the rules know how to read."""
    for i, entry in enumerate(coverage):
        if not isinstance(entry.status, CoverageStatus):  # `_convert` left it as read
            raise UsageError(
                f"invalid snapshot: snapshot.coverage[{i}] ({entry.collector} in {entry.subscription_id}): "
                f"status {entry.status!r} is not one of {', '.join(sorted(CoverageStatus))}"
            )
        if not entry.collector:
            raise UsageError(f"invalid snapshot: snapshot.coverage[{i}]: empty collector")


def _unread_sections(inventory: Inventory, present: set[str]) -> list[Coverage]:
    """`not_collected` records for what the snapshot does not show was read.

    A section key absent from the file gets one per subscription (once per snapshot for
    service tags); a subscription-wide collector with no record for a subscription gets one too.
    Both are what a hand-edited or truncated snapshot looks like; a saved one never has them.
    """
    subscriptions = [s.id for s in inventory.subscriptions]
    if not subscriptions:
        return []
    recorded = {(c.subscription_id.lower(), c.kind) for c in inventory.coverage}
    added: list[Coverage] = []

    def add(subscription_id: str, collector: str, detail: str) -> None:
        recorded.add((subscription_id.lower(), collector))
        added.append(Coverage(subscription_id, collector, CoverageStatus.NOT_COLLECTED, detail))

    for f in dataclasses.fields(inventory):
        if f.name in _BOOKKEEPING or f.name in present:
            continue
        scope = subscriptions[:1] if f.name == SERVICE_TAGS else subscriptions
        for sid in scope:
            add(sid, f.name, f"section {f.name} is absent from the snapshot")
    for collector in SUBSCRIPTION_COLLECTORS:
        for sid in subscriptions:
            if (sid.lower(), collector) not in recorded:
                add(sid, collector, f"the snapshot has no coverage record for {collector} here")
    if not any(kind == SERVICE_TAGS for _, kind in recorded):
        add(subscriptions[0], SERVICE_TAGS, "the snapshot has no coverage record for service_tags")
    return added


T = TypeVar("T")


@functools.cache
def _schema(cls: type) -> tuple[tuple[str, Any, bool], ...]:
    """(name, type hint, required) per field of a dataclass, resolved once per class:
    `typing.get_type_hints` per object made loading large snapshots slow."""
    hints = typing.get_type_hints(cls)
    return tuple(
        (
            f.name,
            hints[f.name],
            f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
        )
        for f in dataclasses.fields(cls)
    )


def _build(cls: type[T], data: Any, where: str) -> T:
    """Rebuild a dataclass tree from JSON, checking types so a bad snapshot fails clearly."""
    if not isinstance(data, dict):
        raise TypeError(f"{where}: expected an object")
    kwargs: dict[str, Any] = {}
    missing: list[str] = []
    schema: tuple[tuple[str, Any, bool], ...] = _schema(cls)  # type: ignore[arg-type]  # a class is hashable
    for name, hint, required in schema:
        if name in data:
            kwargs[name] = _convert(hint, data[name], f"{where}.{name}")
        elif required:
            missing.append(name)
    if missing:
        raise TypeError(f"{where}: missing {', '.join(missing)}")
    return cls(**kwargs)


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, where)
    if origin is list:
        if not isinstance(value, list):
            raise TypeError(f"{where}: expected a list")
        (inner,) = typing.get_args(hint)
        return [_convert(inner, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError(f"{where}: expected an object")
        _, inner = typing.get_args(hint)
        return {str(k): _convert(inner, v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if hint is bool:
        if not isinstance(value, bool):
            raise TypeError(f"{where}: expected true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{where}: expected an integer")
        return value
    if hint is str or (isinstance(hint, type) and issubclass(hint, enum.Enum)):
        if not isinstance(value, str):
            raise TypeError(f"{where}: expected a string")
        if hint is str:
            return value
        try:
            return hint(value)
        except ValueError:  # left as read, for `_check_coverage` to name with its entry
            return value
    return value
