"""Sets of addresses: parsing prefixes, set algebra on merged ranges, overlap by sort and sweep.

Routes, NSG and firewall evaluation all ask "which addresses" in the same terms, so the answers
live here once. Everything works on integer ranges per IP version; IPv4 and IPv6 are never
compared with each other. Input text that is not a prefix (a service tag name, `*`, junk from a
malformed response) never raises here: parsers return None and callers decide what an
unparsable value means.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
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
    if not isinstance(text, str):
        return None
    return _parse_text(text)


# Analyses meet the same prefixes again and again (service tags in every NSG, a VNet's space in
# every peering): parsed once per distinct text. Networks are immutable, so sharing them is safe.
_CACHE = 1 << 18


@functools.lru_cache(maxsize=_CACHE)
def _parse_text(text: str) -> Network | None:
    span = text_span(text)
    if span is None:
        return None
    version, start, end = span
    length = BITS[version] - (end - start + 1).bit_length() + 1
    if version == 4:
        return ipaddress.IPv4Network((start, length))
    return ipaddress.IPv6Network((start, length))


# Dotted-quad IPv4 with an optional decimal length, octets without leading zeros (ipaddress
# refuses those); anything else (IPv6, netmask forms, junk) goes to ipaddress itself.
_IPV4 = re.compile(
    r"(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})(?:/([0-9]{1,2}))?"
)


def text_span(text: str) -> tuple[int, int, int] | None:
    """(IP version, first, last address) of a prefix text, as `ipaddress.ip_network(text,
    strict=False)` reads it; None where it refuses. IPv4 CIDRs, nearly all of what ARM returns,
    are read without building `ipaddress` objects: parsing dominated large analyses."""
    found = _text_range(text)
    return None if found is None else (found[0], *found[1])


@functools.lru_cache(maxsize=_CACHE)
def _text_range(text: str) -> tuple[int, Range] | None:
    """(IP version, range) of a prefix text, one range object per distinct text: every set
    parsed from the same prefix holds that object, not a copy of its own (sets built from the
    same prefixes, such as every rule naming 10.0.0.0/8, held a million copies at 100k resources)."""
    stripped = text.strip()
    found = _IPV4.fullmatch(stripped)
    if found is not None:
        a, b, c, d, length_text = found.groups()
        octets = (int(a), int(b), int(c), int(d))
        length = 32 if length_text is None else int(length_text)
        if max(octets) <= 255 and length <= 32:
            address = octets[0] << 24 | octets[1] << 16 | octets[2] << 8 | octets[3]
            size = 1 << (32 - length)
            start = address & ~(size - 1)
            return 4, (start, start + size - 1)
    if not stripped:
        return None
    try:
        net = ipaddress.ip_network(stripped, strict=False)
    except ValueError:
        return None
    return net.version, _span(net)


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
    """Sorted, with touching and overlapping ranges joined. A range that joins nothing is kept as
    the same object: sets share their ranges rather than copies (a union of a VNet's space and a
    route table's prefixes, made per address book, copied both)."""
    out: list[Range] = []
    for item in sorted(ranges):
        start, end = item
        if out and start <= out[-1][1] + 1:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append(item)
    return out


# Past this size ratio a range list is searched by bisection instead of walked: a rule on a tag
# such as AzureCloud holds thousands of ranges while the destination left to decide holds a few.
_LOPSIDED = 16


def _first_reaching(b: Sequence[Range], start: int) -> int:
    """Index of the first range of `b` (sorted, disjoint) that ends at or after `start`."""
    i = bisect_right(b, (start, math.inf)) - 1
    return i if i >= 0 and b[i][1] >= start else i + 1


def _reaching_from(b: Sequence[Range], start: int, lo: int) -> int:
    """`_first_reaching`, looking only at index `lo` on."""
    i = bisect_right(b, (start, math.inf), lo) - 1
    if i < lo:
        return lo
    return i if b[i][1] >= start else i + 1


def _intersect(a: Sequence[Range], b: Sequence[Range]) -> list[Range]:
    if len(a) * _LOPSIDED < len(b) or len(b) * _LOPSIDED < len(a):
        return _intersect_by_search(*((a, b) if len(a) <= len(b) else (b, a)))
    # Comparisons inline rather than max()/min(): NSG evaluation runs this loop millions of times.
    # A range that misses is stepped over; a second miss in a row jumps by bisection, so sparse
    # lists (a tag's prefixes against a rule's few blocks) cost their overlaps, not their length.
    out: list[Range] = []
    i = j = 0
    len_a, len_b = len(a), len(b)
    while i < len_a and j < len_b:
        a_start, a_end = a[i]
        b_start, b_end = b[j]
        if a_end < b_start:
            i += 1
            if i < len_a and a[i][1] < b_start:
                i = _reaching_from(a, b_start, i + 1)
        elif b_end < a_start:
            j += 1
            if j < len_b and b[j][1] < a_start:
                j = _reaching_from(b, a_start, j + 1)
        else:
            # Where one range lies inside the other, the answer shares it rather than a copy.
            if a_start >= b_start and a_end <= b_end:
                out.append(a[i])
            elif b_start >= a_start and b_end <= a_end:
                out.append(b[j])
            else:
                out.append((a_start if a_start > b_start else b_start, a_end if a_end < b_end else b_end))
            if a_end < b_end:
                i += 1
            else:
                j += 1
    return out


def _intersect_by_search(small: Sequence[Range], large: Sequence[Range]) -> list[Range]:
    out: list[Range] = []
    size = len(large)
    for item in small:
        start, end = item
        k = _first_reaching(large, start)
        while k < size:
            held = large[k]
            l_start, l_end = held
            if l_start > end:
                break
            if start >= l_start and end <= l_end:  # shared, as in `_intersect`
                out.append(item)
            elif l_start >= start and l_end <= end:
                out.append(held)
            else:
                out.append((start if start > l_start else l_start, end if end < l_end else l_end))
            k += 1
    return out


def _subtract(a: Sequence[Range], b: Sequence[Range]) -> list[Range]:
    return _split(a, b)[1]


def _split(a: Sequence[Range], b: Sequence[Range]) -> tuple[list[Range], list[Range]]:
    """(`a` & `b`, `a` - `b`) in one pass. Ranges of `a` that no range of `b` touches are copied a
    stretch at a time and the ranges of `b` that fall between are jumped over, both by bisection
    after a second miss: NSG evaluation takes a rule's few blocks out of a tag's hundreds of
    prefixes, and cuts what is left of a destination by each rule that reaches it."""
    inside: list[Range] = []
    outside: list[Range] = []
    i = j = 0
    len_a, len_b = len(a), len(b)
    while i < len_a and j < len_b:
        start, end = a[i]
        if b[j][1] < start:
            j += 1
            if j < len_b and b[j][1] < start:
                j = _reaching_from(b, start, j + 1)
            continue
        b_start = b[j][0]
        if b_start > end:
            k = i + 1
            if k < len_a and a[k][1] < b_start:
                k = _reaching_from(a, b_start, k + 1)
            outside.extend(a[i:k])
            i = k
            continue
        if b_start <= start and b[j][1] >= end:  # all of it inside: shared, not copied
            inside.append(a[i])
            if b[j][1] == end:
                j += 1
            i += 1
            continue
        cursor = start
        while j < len_b:
            b_start, b_end = b[j]
            if b_start > end:
                break
            if b_start > cursor:
                outside.append((cursor, b_start - 1))
                cursor = b_start
            last = b_end if b_end < end else end
            inside.append((cursor, last))
            cursor = last + 1
            if b_end > end:  # it reaches into the next ranges of `a` too
                break
            j += 1
        if cursor <= end:
            outside.append((cursor, end))
        i += 1
    outside.extend(a[i:])
    return inside, outside


def _holds_all(few: Sequence[Range], many: Sequence[Range]) -> bool:
    """Every range of `many` lies within one of `few` (both sorted, disjoint), by bisection of
    `many` for each of `few`: a catch-all rule's few ranges against what is left of a tag's
    hundreds. The ranges starting inside one of `few` must end inside it (only the last can
    cross its end), and together they must be all of `many`."""
    held = 0
    for start, end in few:
        first = bisect_left(many, (start, -1))
        last = bisect_right(many, (end, math.inf))
        if last > first:
            if many[last - 1][1] > end:
                return False
            held += last - first
    return held == len(many)


# A set of at least this many ranges remembers how it split others (`PrefixSet.split`): below, the
# walk costs about what the lookup does. At 100k resources 8 left 8,100 of 67,700 splits to walk
# and took the NSG rules' CPU from 11.8 to 9.5 s; 64 left 39,000 and took it to 10.2 s.
_REMEMBERED = 8


def blocks_between(version: int, start: int, end: int) -> Iterator[tuple[int, int]]:
    """(first address, prefix length) of the fewest CIDR blocks that cover [start, end] exactly,
    in integers: `ipaddress.summarize_address_range` did the same at many times the cost."""
    bits = BITS[version]
    while start <= end:
        # The largest block aligned at `start` (its lowest set bit) that does not pass `end`.
        size = (start & -start) if start else 1 << bits
        while size > end - start + 1:
            size >>= 1
        yield start, bits - size.bit_length() + 1
        start += size


def networks_between(version: int, start: int, end: int) -> Iterator[Network]:
    """The fewest CIDR blocks that cover [start, end] exactly."""
    make = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network
    return (make(block) for block in blocks_between(version, start, end))


# The range list of every set without addresses of a version: lists of sets are never changed.
_NONE: list[Range] = []


class PrefixSet:
    """A set of IPv4 and IPv6 addresses, kept as merged ranges per version.

    Set algebra on ranges answers "is every address of tag X allowed/routed" without caring
    how the prefixes were cut; `networks()` gives the minimal CIDR list back. Entries that are
    not prefixes are ignored (use `parse_prefixes` first where they matter).

    The two versions' lists are two slots, and a version without addresses holds the one shared
    empty list: NSG evaluation keeps about 100,000 sets at 100k resources, nearly all of them
    IPv4 only, and a dict of both lists per set took a quarter of their memory.
    """

    __slots__ = ("_blocks", "_cuts", "_key", "_only", "_v4", "_v6")

    def __init__(self, prefixes: Iterable[Network | str] = ()) -> None:
        raw: dict[int, list[Range]] = {4: [], 6: []}
        for item in prefixes:
            if isinstance(item, str):
                found = _text_range(item)
                if found is not None:
                    raw[found[0]].append(found[1])
            elif isinstance(item, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
                raw[item.version].append(_span(item))
        self._v4 = _merge(raw[4]) if raw[4] else _NONE
        self._v6 = _merge(raw[6]) if raw[6] else _NONE
        self._blocks: int | None = None
        self._cuts: dict[tuple[int, int], _Cut] | None = None
        self._key: RangesKey | None = None
        self._only: dict[tuple[int, ...], PrefixSet] | None = None

    @classmethod
    def _of(cls, v4: list[Range], v6: list[Range]) -> PrefixSet:
        new = cls.__new__(cls)  # not cls(): every set operation makes one, parsing nothing
        new._v4 = v4 or _NONE
        new._v6 = v6 or _NONE
        new._blocks = None
        new._cuts = None
        new._key = None
        new._only = None
        return new

    @classmethod
    def of_spans(cls, spans: Iterable[tuple[int, int, int]]) -> PrefixSet:
        """From (IP version, first, last address) triples, parsing nothing."""
        raw: dict[int, list[Range]] = {4: [], 6: []}
        for version, start, end in spans:
            raw[version].append((start, end))
        return cls._of(_merge(raw[4]), _merge(raw[6]))

    @staticmethod
    def of(value: Addresses) -> PrefixSet:
        if isinstance(value, PrefixSet):
            return value
        if isinstance(value, (str, ipaddress.IPv4Network, ipaddress.IPv6Network)):
            return PrefixSet([value])
        return PrefixSet(value)

    def ranges(self, version: int) -> list[Range]:
        """The merged ranges of one IP version. Shared: do not change the list."""
        return self._v4 if version == 4 else self._v6 if version == 6 else _NONE

    def _by_version(self) -> tuple[tuple[int, list[Range]], tuple[int, list[Range]]]:
        return (4, self._v4), (6, self._v6)

    def versions(self) -> tuple[int, ...]:
        """The IP versions it holds addresses of."""
        return tuple(v for v, ranges in self._by_version() if ranges)

    def only(self, versions: tuple[int, ...]) -> PrefixSet:
        """Its addresses of those IP versions, sharing the range lists (sets never change)."""
        if versions == (4, 6):
            return self
        # Kept per set: NSG evaluation asks the same destination once per sender, and a stable
        # answer keeps its `key()` and remembered splits for the next one.
        if self._only is None:
            self._only = {}
        found = self._only.get(versions)
        if found is None:
            found = self._only[versions] = PrefixSet._of(
                self._v4 if 4 in versions else _NONE, self._v6 if 6 in versions else _NONE
            )
        return found

    def key(self) -> RangesKey:
        """The set's addresses as a dict key, made once per set (sets never change)."""
        if self._key is None:
            self._key = RangesKey(self._v4, self._v6)
        return self._key

    def networks(self) -> list[Network]:
        return [n for v, ranges in self._by_version() for s, e in ranges for n in networks_between(v, s, e)]

    def block_count(self) -> int:
        """len(self.networks()), without building them; kept, as sets never change (NSG evidence
        counts a destination tag's blocks once per verdict)."""
        if self._blocks is None:
            self._blocks = sum(
                1 for v, ranges in self._by_version() for s, e in ranges for _ in blocks_between(v, s, e)
            )
        return self._blocks

    def address_count(self) -> int:
        return sum(e - s + 1 for ranges in (self._v4, self._v6) for s, e in ranges)

    def _combine(self, other: Addresses, op: Callable[[list[Range], list[Range]], list[Range]]) -> PrefixSet:
        theirs = PrefixSet.of(other)
        return PrefixSet._of(op(self._v4, theirs._v4), op(self._v6, theirs._v6))

    def __or__(self, other: Addresses) -> PrefixSet:
        o = PrefixSet.of(other)
        if not o:  # sets are never changed in place, so an operand can be the answer
            return self
        if not self:
            return o
        return self._combine(o, lambda a, b: _merge([*a, *b]))

    def __and__(self, other: Addresses) -> PrefixSet:
        return self._combine(other, _intersect)

    def __sub__(self, other: Addresses) -> PrefixSet:
        return self._combine(other, _subtract)

    def split(self, other: Addresses) -> tuple[PrefixSet, PrefixSet]:
        """(self & other, self - other), walking this set once.

        A large `other` remembers its answers by the identity of this set's range lists, which
        never change and are pinned by the entry: NSG evaluation cuts the same destinations by the
        same few tag rules in NSG after NSG, and the pieces it gets back, being the remembered
        ones, are what it cuts next."""
        o = PrefixSet.of(other)
        if len(o._v4) + len(o._v6) < _REMEMBERED:
            return self._split_by(o)
        cuts = o._cuts
        if cuts is _NEVER:
            return self._split_by(o)
        if cuts is None:
            cuts = o._cuts = {}
        mine = (self._v4, self._v6)
        key = (id(mine[0]) if mine[0] else 0, id(mine[1]) if mine[1] else 0)
        found = cuts.get(key)
        if found is None:
            found = cuts[key] = _Cut(mine, *self._split_by(o))
        return found.inside, found.outside

    def _split_by(self, other: PrefixSet) -> tuple[PrefixSet, PrefixSet]:
        v4, v6 = _split(self._v4, other._v4), _split(self._v6, other._v6)
        return PrefixSet._of(v4[0], v6[0]), PrefixSet._of(v4[1], v6[1])

    def contains(self, other: Addresses) -> bool:
        """Every address of `other` is in this set (an empty `other` is contained). By bisection,
        building no set: NSG evaluation asks it of every rule for every sender."""
        o = PrefixSet.of(other)
        for mine, theirs in ((self._v4, o._v4), (self._v6, o._v6)):
            if len(theirs) <= len(mine):
                for start, end in theirs:
                    k = _first_reaching(mine, start)  # merged ranges: one of them must hold it all
                    if k >= len(mine) or mine[k][0] > start or mine[k][1] < end:
                        return False
            elif not _holds_all(mine, theirs):
                return False
        return True

    def intersects(self, other: Addresses) -> bool:
        """By bisection of the larger side's ranges for each of the smaller side's: a NIC's one
        address or a rule's few blocks against a tag's hundreds of prefixes, in either order."""
        o = PrefixSet.of(other)
        for mine, theirs in ((self._v4, o._v4), (self._v6, o._v6)):
            if len(theirs) > len(mine):
                mine, theirs = theirs, mine
            for start, end in theirs:
                k = _first_reaching(mine, start)
                if k < len(mine) and mine[k][0] <= end:
                    return True
        return False

    def __bool__(self) -> bool:
        return bool(self._v4 or self._v6)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrefixSet) and self._v4 == other._v4 and self._v6 == other._v6

    # Equal by value but mutable-looking, so unhashable; mypy expects a method here.
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PrefixSet({[str(n) for n in self.networks()]})"


class RangesKey:
    """A set's range lists as a key with its hash worked out once. NSG evaluation looks up its
    remembered decisions by destination for every sender and NSG: a tuple of a tag's hundreds of
    ranges was copied for each lookup (32 MiB held as keys at 100k resources) and hashed again
    each time. Equal keys hold equal lists; the same key is found by identity first."""

    __slots__ = ("_hash", "v4", "v6")

    def __init__(self, v4: list[Range], v6: list[Range]) -> None:
        self.v4, self.v6 = v4, v6
        self._hash = hash((tuple(v4), tuple(v6)))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or (
            isinstance(other, RangesKey)
            and self._hash == other._hash
            and (self.v4, self.v6) == (other.v4, other.v6)
        )


class _Cut(NamedTuple):
    """A remembered `PrefixSet.split`: the ranges split (held, so their ids stay theirs), the answer."""

    ranges: tuple[list[Range], list[Range]]
    inside: PrefixSet
    outside: PrefixSet


_NEVER: dict[tuple[int, int], _Cut] = {}  # the `_cuts` of a set that remembers nothing


def lasting(addresses: PrefixSet) -> PrefixSet:
    """`addresses`, kept for the life of the process (a module constant): it remembers no split,
    as what it remembered would outlive the analysis that asked and pin its sets."""
    addresses._cuts = _NEVER
    return addresses


NOWHERE = lasting(PrefixSet())


def nowhere() -> PrefixSet:
    """NOWHERE, as a dataclass field's default: sets never change, so every empty field can share
    one (NSG evaluation made ~400,000 empty sets at 100k resources)."""
    return NOWHERE


EVERYWHERE = lasting(PrefixSet(["0.0.0.0/0", "::/0"]))
VERSIONS = {
    v: lasting(PrefixSet([p])) for v, p in ((4, "0.0.0.0/0"), (6, "::/0"))
}  # every address of one version

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


K = TypeVar("K", bound=Hashable)
L = TypeVar("L", bound=Hashable)


def overlapping(
    a_sides: Mapping[K, Iterable[Network | str]], b_sides: Mapping[L, Iterable[Network | str]]
) -> dict[tuple[K, L], list[Overlap]]:
    """Every overlapping pair of prefixes between any owner of `a_sides` and any of `b_sides`
    (e.g. every source VNet against every recovery VNet), keyed by the owners, in one sort and
    sweep over all their ranges: O((n + k) log n) for n prefixes and k overlapping pairs, never
    one comparison per pair of owners.

    Sorted by start (larger block first on ties), the blocks of one side that hold the current
    start form a nested chain (CIDR blocks nest or are disjoint), so each side keeps a stack; an
    arriving block overlaps exactly the other side's stack (each of those contains it).
    Adjacent blocks do not overlap. Each owner's prefixes are parsed once, duplicates dropped.
    Per pair of owners, the overlaps come in the order a sweep over just their two lists gives.
    """
    a_owners, b_owners = list(a_sides), list(b_sides)
    events: list[tuple[int, int, int, int, int, Network]] = []  # version, start, -end, side, owner
    sides: tuple[Iterable[Iterable[Network | str]], ...] = (a_sides.values(), b_sides.values())
    for side, lists in enumerate(sides):
        for n, prefixes in enumerate(lists):
            for net in dict.fromkeys(p for p in map(parse_prefix, prefixes) if p is not None):
                start, end = _span(net)
                events.append((net.version, start, -end, side, n, net))
    events.sort(key=lambda e: e[:5])
    out: dict[tuple[K, L], list[Overlap]] = {}
    stacks: tuple[list[tuple[int, int, Network]], ...] = ([], [])  # (end, owner, block) per side
    version = 0
    for v, start, neg_end, side, owner, net in events:
        if v != version:
            stacks, version = ([], []), v
        for stack in stacks:
            while stack and stack[-1][0] < start:
                stack.pop()
        for _, other_owner, other in stacks[1 - side]:
            if side == 0:
                key, found = (a_owners[owner], b_owners[other_owner]), Overlap(net, other, net)
            else:
                key, found = (a_owners[other_owner], b_owners[owner]), Overlap(other, net, net)
            out.setdefault(key, []).append(found)
        stacks[side].append((-neg_end, owner, net))
    return out
