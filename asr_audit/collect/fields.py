"""Readers for ARM JSON: tolerant for leaf values, strict for the structure around them.

ARM omits optional properties and examples carry junk, so a leaf value of the wrong type
(a string where a number belongs) reads as "not set" and a parser states what it wants in
one line per field. A structural field is different: a `storageProfile` that is a string, or
`dataDisks` that is not a list, would read as "no disks" and every finding on those disks
would silently vanish. `obj_field` and `list_field` therefore accept absent or null (ARM
omits it) but raise `Malformed` for a present value of the wrong type, and the item becomes
an unread one in its collector's coverage (DESIGN.md §8.2), never a quiet pass.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from asr_audit import ids

T = TypeVar("T")


class Malformed(ValueError):
    """An item that cannot become an inventory record (no id, wrong type)."""


def obj(value: Any) -> dict[str, Any]:
    """A leaf object (a `sku`, a `plan`): anything else reads as empty."""
    return value if isinstance(value, dict) else {}


def obj_field(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """A structural object: {} when absent or null, `Malformed` when of another type."""
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Malformed(f"'{key}' is {_kind(value)}, not an object")
    return value


def list_field(parent: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """A structural list of objects: [] when absent or null, `Malformed` when it is not a
    list or holds something other than objects (a lost disk or rule is a lost finding)."""
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise Malformed(f"'{key}' is {_kind(value)}, not a list")
    for position, entry in enumerate(value, 1):
        if not isinstance(entry, dict):
            raise Malformed(f"'{key}' entry {position} is {_kind(entry)}, not an object")
    return value


def bool_field(parent: dict[str, Any], key: str, default: bool) -> bool:
    """A boolean a verdict rests on: `default` (what ARM means by omitting it) when absent or
    null, `Malformed` when it is neither a boolean nor "true"/"false" (a junk value read as
    `default` would pass what should fail)."""
    value = parent.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise Malformed(f"'{key}' is {_kind(value)}, not a boolean")


def choice_field(parent: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str | None:
    """A setting a verdict rests on that takes one of a few values: None when absent or null
    (the service default applies), `Malformed` for any other value (read as "not set" it would
    stand for the default and hide the setting it really has). Compared without case; the
    value is kept as ARM spelled it."""
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or value.lower() not in {a.lower() for a in allowed}:
        raise Malformed(f"'{key}' is {value!r}, not {' or '.join(allowed)}")
    return value


def props(item: dict[str, Any]) -> dict[str, Any]:
    return obj_field(item, "properties")


def _kind(value: Any) -> str:
    """What a value is, with its article, for a message: "a string", "an object"."""
    names = {str: "string", list: "list", dict: "object", bool: "boolean", int: "number", float: "number"}
    name = names.get(type(value), type(value).__name__)
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def text(value: Any) -> str | None:
    """A non-empty string, else None (ARM uses "" for "not set" in places, e.g. tag region).

    One copy of each distinct text is kept (`sys.intern`): each page's JSON makes a new string
    per occurrence, and a tenant's inventory repeats the same subnet, VNet and NIC ids, regions
    and rule fields across its records (the copies were 40 % of a 100k-resource inventory)."""
    return sys.intern(value) if isinstance(value, str) and value else None


def texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [sys.intern(value)] if value else []
    return [sys.intern(v) for v in value if isinstance(v, str) and v] if isinstance(value, list) else []


def merged(*values: Any) -> list[str]:
    """Singular and plural variants of one field (`addressPrefix` + `addressPrefixes`), de-duplicated."""
    out: list[str] = []
    for value in values:
        for v in texts(value):
            if v not in out:
                out.append(v)
    return out


def ref(value: Any) -> str | None:
    """The `id` of a `{"id": ...}` sub-resource reference; a reference that is present but
    not an object is `Malformed` (a dropped NSG or route table reads as "none attached")."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Malformed(f"reference is {_kind(value)}, not an object")
    return text(value.get("id"))


def refs(parent: dict[str, Any], key: str) -> list[str]:
    return [r for r in (ref(v) for v in list_field(parent, key)) if r]


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


def _printable(value: str, limit: int = 2048) -> str:
    """An id from data as a report may show it: no control characters, bounded length (ARM ids
    of nested ASR objects run past 300 characters, and a truncated id identifies nothing)."""
    return "".join(c if c.isprintable() else "?" for c in value.strip())[:limit]


# How many unread ids a coverage record names; the count in its detail covers the rest.
MAX_UNREAD_IDS = 100


@dataclass
class Unread:
    """The items of one collector run that could not be read, for its coverage record."""

    count: int = 0
    ids: list[str] = field(default_factory=list)  # the first MAX_UNREAD_IDS, ids or positions
    first_reason: str | None = None

    def add(self, label: str, reason: str) -> None:
        self.count += 1
        if len(self.ids) < MAX_UNREAD_IDS:
            self.ids.append(label)
        if self.first_reason is None:
            self.first_reason = f"{label}: {reason}"

    def detail(self) -> str | None:
        if not self.count:
            return None
        return f"{self.count} item(s) could not be read (first: {self.first_reason})"


def parse_items(
    items: Iterable[Any],
    parse: Callable[[dict[str, Any]], T | None],
    unread: Unread | None = None,
    page: int | None = None,
) -> tuple[list[T], Unread]:
    """Parse each item; one the parser cannot read is noted in `unread` (by its id when it
    has a readable one, else by its position), the rest kept, except those the parser answers
    None for: items of another kind sharing the list (the skus list holds every compute type).
    Pass the `unread` of earlier pages to count a whole list in one."""
    unread = Unread() if unread is None else unread
    out: list[T] = []
    for position, item in enumerate(items, 1):
        try:
            if not isinstance(item, dict):
                raise Malformed(f"item is {_kind(item)}, not an object")
            record = parse(item)
            if record is not None:
                out.append(record)
        except (Malformed, TypeError, ValueError, AttributeError, KeyError) as exc:
            rid = item.get("id") if isinstance(item, dict) else None
            where = f"item {position}" if page is None else f"page {page} item {position}"
            label = _printable(rid) if isinstance(rid, str) and rid.strip() else where
            unread.add(label, str(exc) if isinstance(exc, Malformed) else f"{type(exc).__name__}: {exc}")
    return out, unread
