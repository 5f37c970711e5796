"""Tolerant readers for ARM JSON: optional properties are omitted, and examples carry junk.

Every reader returns a typed value or an empty default, never raises on a wrong type, so
a parser states what it wants in one line per field. Only a missing `id` (or another field
without which an object means nothing) makes an item malformed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from asr_audit import ids

T = TypeVar("T")


class Malformed(ValueError):
    """An item that cannot become an inventory record (no id, wrong type)."""


def obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def objs(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def props(item: Any) -> dict[str, Any]:
    return obj(obj(item).get("properties"))


def text(value: Any) -> str | None:
    """A non-empty string, else None (ARM uses "" for "not set" in places, e.g. tag region)."""
    return value if isinstance(value, str) and value else None


def texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    return [v for v in value if isinstance(v, str) and v] if isinstance(value, list) else []


def merged(*values: Any) -> list[str]:
    """Singular and plural variants of one field (`addressPrefix` + `addressPrefixes`), de-duplicated."""
    out: list[str] = []
    for value in values:
        for v in texts(value):
            if v not in out:
                out.append(v)
    return out


def ref(value: Any) -> str | None:
    """The `id` of a `{"id": ...}` sub-resource reference."""
    return text(obj(value).get("id"))


def refs(value: Any) -> list[str]:
    return [r for r in (ref(v) for v in objs(value)) if r]


def flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def required_id(item: Any) -> str:
    rid = text(obj(item).get("id"))
    if not rid:
        raise Malformed("item has no id")
    return rid


def identity(item: dict[str, Any]) -> tuple[str, str, str]:
    """id, name (from the id when absent) and location ("" when absent) of a tracked resource."""
    rid = required_id(item)
    return rid, text(item.get("name")) or ids.name_of(rid), text(item.get("location")) or ""


def parse_items(items: Iterable[Any], parse: Callable[[dict[str, Any]], T]) -> tuple[list[T], int]:
    """Parse each item; a malformed one is skipped and counted, the rest kept."""
    out: list[T] = []
    skipped = 0
    for item in items:
        if not isinstance(item, dict):
            skipped += 1
            continue
        try:
            out.append(parse(item))
        except (Malformed, TypeError, ValueError, AttributeError, KeyError):
            skipped += 1
    return out, skipped
