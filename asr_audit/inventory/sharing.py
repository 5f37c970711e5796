"""Equal tuples of texts, equal numbers and equal frozen records, kept once while an inventory
is built.

A large tenant's NSG rules repeat the same port and address fields: at 100k resources their 1.9
million tuples held 124,000 values, over a million of them `("*",)`; their priorities were
404,000 int objects (Python shares only those up to 256), 11 MiB. Whole rules and routes repeat
too: every NSG carries the same six default rules, and templates stamp the same rules and routes
on many NSGs and route tables. Both ways an inventory is built (a scan, a snapshot read) keep one
object per value while they build (`building`), then forget the tables: the inventory holds the
objects it uses, and a table kept for the process would hold every one ever read. Texts
themselves are interned where they are read (`sys.intern`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable, Iterable, Iterator
from typing import Any, TypeVar

R = TypeVar("R", bound=Hashable)

_TUPLES: dict[tuple[str, ...], tuple[str, ...]] = {}
_NUMBERS: dict[int, int] = {}
_RECORDS: dict[Any, Any] = {}
_builds = 0  # builds under way; outside any, nothing is kept


def shared(values: Iterable[str]) -> tuple[str, ...]:
    """The values as a tuple: during a build, the same object as an equal one built before in it;
    outside one (a parser called on its own), a new tuple, so the table never outlives a build."""
    made = tuple(values)
    return _TUPLES.setdefault(made, made) if _builds else made


def known(values: tuple[str, ...]) -> tuple[str, ...] | None:
    """The tuple equal to `values` kept before in this build, if any."""
    return _TUPLES.get(values) if _builds else None


def number(value: int) -> int:
    """`value`, during a build the same object as an equal number kept before in it."""
    return _NUMBERS.setdefault(value, value) if _builds else value


def record(value: R) -> R:
    """`value` (a frozen dataclass: equal means interchangeable), during a build the same object as
    an equal one kept before in it."""
    return _RECORDS.setdefault(value, value) if _builds else value


@contextlib.contextmanager
def building() -> Iterator[None]:
    """Sharing for the block; the table is emptied when the outermost build ends, however it ends.
    A build that outlives it (a scan's worker left behind at the deadline) only shares less."""
    global _builds
    _builds += 1
    try:
        yield
    finally:
        _builds -= 1
        if not _builds:
            _TUPLES.clear()
            _NUMBERS.clear()
            _RECORDS.clear()
