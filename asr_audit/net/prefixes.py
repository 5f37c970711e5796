"""Sets of addresses: parsing prefixes, set algebra on merged ranges, overlap by sort and sweep.

Routes, NSG and firewall evaluation all ask "which addresses" in the same terms, so the answers
live here once. Everything works on integer ranges per IP version; IPv4 and IPv6 are never
compared with each other. Input text that is not a prefix (a service tag name, `*`, junk from a
malformed response) never raises here: parsers return None and callers decide what an
unparsable value means.
"""

from __future__ import annotations

import ipaddress
import math
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple, Protocol, TypeAlias, TypeVar

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Range = tuple[int, int]  # first and last address, inclusive
Addresses: TypeAlias = "PrefixSet | Network | str | Iterable[Network | str]"  # what set operations accept

BITS = {4: 32, 6: 128}


# --- prefixes ------------------------------------------------------------------------------------


def parse_prefix(text: object) -> Network | None:
    """A CIDR (host bits tolerated) or a bare address; None for a tag name, `*` or junk."""
    if isinstance(text, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return text
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def parse_prefixes(texts: Iterable[object]) -> tuple[list[Network], list[str]]:
    """(the prefixes, the entries that are not prefixes), order kept, duplicates dropped."""
    nets: dict[Network, None] = {}
    bad: list[str] = []
    for text in texts:
        net = parse_prefix(text)
        if net is None:
            bad.append(str(text))
        else:
            nets[net] = None
    return list(nets), bad


def _span(net: Network) -> Range:
    return int(net.network_address), int(net.broadcast_address)


def _merge(ranges: Iterable[Range]) -> list[Range]:
    out: list[Range] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1] + 1:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


# Past this size ratio a range list is searched by bisection instead of walked: a rule on a tag
# such as AzureCloud holds thousands of ranges while the destination left to decide holds a few.
_LOPSIDED = 16


def _first_reaching(b: Sequence[Range], start: int) -> int:
    """Index of the first range of `b` (sorted, disjoint) that ends at or after `start`."""
    i = bisect_right(b, (start, math.inf)) - 1
    return i if i >= 0 and b[i][1] >= start else i + 1


def _intersect(a: Sequence[Range], b: Sequence[Range]) -> list[Range]:
    if len(a) * _LOPSIDED < len(b) or len(b) * _LOPSIDED < len(a):
        return _intersect_by_search(*((a, b) if len(a) <= len(b) else (b, a)))
    out: list[Range] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start <= end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _intersect_by_search(small: Sequence[Range], large: Sequence[Range]) -> list[Range]:
    out: list[Range] = []
    for start, end in small:
        k = _first_reaching(large, start)
        while k < len(large) and large[k][0] <= end:
            out.append((max(start, large[k][0]), min(end, large[k][1])))
            k += 1
    return out


def _subtract(a: Sequence[Range], b: Sequence[Range]) -> list[Range]:
    out: list[Range] = []
    search = len(a) * _LOPSIDED < len(b)
    j = 0
    for start, end in a:
        if search:
            j = _first_reaching(b, start)
        while j < len(b) and b[j][1] < start:
            j += 1
        cursor, k = start, j
        while k < len(b) and b[k][0] <= end and cursor <= end:
            if b[k][0] > cursor:
                out.append((cursor, b[k][0] - 1))
            cursor = max(cursor, b[k][1] + 1)
            k += 1
        if cursor <= end:
            out.append((cursor, end))
    return out


def networks_between(version: int, start: int, end: int) -> Iterator[Network]:
    """The fewest CIDR blocks that cover [start, end] exactly."""
    if version == 4:
        return ipaddress.summarize_address_range(ipaddress.IPv4Address(start), ipaddress.IPv4Address(end))
    return ipaddress.summarize_address_range(ipaddress.IPv6Address(start), ipaddress.IPv6Address(end))


class PrefixSet:
    """A set of IPv4 and IPv6 addresses, kept as merged ranges per version.

    Set algebra on ranges answers "is every address of tag X allowed/routed" without caring
    how the prefixes were cut; `networks()` gives the minimal CIDR list back. Entries that are
    not prefixes are ignored (use `parse_prefixes` first where they matter).
    """

    __slots__ = ("_ranges",)

    def __init__(self, prefixes: Iterable[Network | str] = ()) -> None:
        raw: dict[int, list[Range]] = {4: [], 6: []}
        for item in prefixes:
            net = parse_prefix(item)
            if net is not None:
                raw[net.version].append(_span(net))
        self._ranges = {v: _merge(r) for v, r in raw.items()}

    @classmethod
    def _of(cls, ranges: dict[int, list[Range]]) -> PrefixSet:
        new = cls.__new__(cls)  # not cls(): every set operation makes one, parsing nothing
        new._ranges = ranges
        return new

    @staticmethod
    def of(value: Addresses) -> PrefixSet:
        if isinstance(value, PrefixSet):
            return value
        if isinstance(value, (str, ipaddress.IPv4Network, ipaddress.IPv6Network)):
            return PrefixSet([value])
        return PrefixSet(value)

    def ranges(self, version: int) -> list[Range]:
        return self._ranges.get(version, [])

    def networks(self) -> list[Network]:
        return [n for v in (4, 6) for s, e in self._ranges[v] for n in networks_between(v, s, e)]

    def address_count(self) -> int:
        return sum(e - s + 1 for v in (4, 6) for s, e in self._ranges[v])

    def _combine(self, other: Addresses, op: Callable[[list[Range], list[Range]], list[Range]]) -> PrefixSet:
        o = PrefixSet.of(other)
        return PrefixSet._of({v: op(self._ranges[v], o._ranges[v]) for v in (4, 6)})

    def __or__(self, other: Addresses) -> PrefixSet:
        return self._combine(other, lambda a, b: _merge([*a, *b]))

    def __and__(self, other: Addresses) -> PrefixSet:
        return self._combine(other, _intersect)

    def __sub__(self, other: Addresses) -> PrefixSet:
        return self._combine(other, _subtract)

    def contains(self, other: Addresses) -> bool:
        """Every address of `other` is in this set (an empty `other` is contained)."""
        return not (PrefixSet.of(other) - self)

    def intersects(self, other: Addresses) -> bool:
        return bool(self & other)

    def __bool__(self) -> bool:
        return bool(self._ranges[4] or self._ranges[6])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrefixSet) and self._ranges == other._ranges

    # Equal by value but mutable-looking, so unhashable; mypy expects a method here.
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PrefixSet({[str(n) for n in self.networks()]})"


NOWHERE = PrefixSet()
EVERYWHERE = PrefixSet(["0.0.0.0/0", "::/0"])
VERSIONS = {4: PrefixSet(["0.0.0.0/0"]), 6: PrefixSet(["::/0"])}  # every address of one IP version

# How NSG and firewall rules spell "every address" (and every port or protocol) besides 0.0.0.0/0.
WILDCARDS = frozenset({"*", "any"})


_J = TypeVar("_J", bound="_Joinable")


class _Joinable(Protocol):
    def __or__(self: _J, other: _J, /) -> _J: ...


def union(items: Iterable[_J], empty: _J) -> _J:
    """Everything the items hold, `empty` when there are none. A fold over `|`, so it serves both
    address sets and the NSG engine's certain/maybe pairs, which join their doubts on the way."""
    out: _J | None = None
    for item in items:
        out = item if out is None else out | item
    return empty if out is None else out


# --- overlap -------------------------------------------------------------------------------------


class Overlap(NamedTuple):
    a: Network
    b: Network
    range: Network  # the addresses both hold: CIDR blocks nest or are disjoint, so the smaller one


def overlaps(a_prefixes: Iterable[Network | str], b_prefixes: Iterable[Network | str]) -> list[Overlap]:
    """Every (a, b) pair of overlapping prefixes, by sort and sweep: O((n + k) log n), not O(n*m).

    Sorted by start (larger block first on ties), the blocks of one side that hold the current
    start form a nested chain, so each side keeps a stack; an arriving block overlaps exactly
    the other side's stack (each of those contains it). Adjacent blocks do not overlap.
    """
    events: list[tuple[int, int, int, int, Network]] = []
    for side, prefixes in enumerate((a_prefixes, b_prefixes)):
        for net in dict.fromkeys(n for n in map(parse_prefix, prefixes) if n is not None):
            start, end = _span(net)
            events.append((net.version, start, -end, side, net))
    events.sort(key=lambda e: e[:4])
    out: list[Overlap] = []
    stacks: tuple[list[tuple[int, Network]], list[tuple[int, Network]]] = ([], [])
    version = 0
    for v, start, neg_end, side, net in events:
        if v != version:
            stacks, version = ([], []), v
        for stack in stacks:
            while stack and stack[-1][0] < start:
                stack.pop()
        for _, other in stacks[1 - side]:
            out.append(Overlap(net, other, net) if side == 0 else Overlap(other, net, net))
        stacks[side].append((-neg_end, net))
    return out
