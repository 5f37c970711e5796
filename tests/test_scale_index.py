"""The integer fast paths of issue 10 against `ipaddress` and brute force: the overlap index
(`prefixes.overlapping`), the prefix parser, CIDR block splitting, and the bisection answers of
`PrefixSet.contains`/`intersects`. Findings rest on them, so each must agree exactly."""

from __future__ import annotations

import ipaddress
from itertools import product

from hypothesis import given, settings
from hypothesis import strategies as st

from asr_audit.net.prefixes import (
    Network,
    Overlap,
    PrefixSet,
    blocks_between,
    networks_between,
    overlapping,
    parse_prefix,
    text_span,
)

# Small address pools so that overlaps, nesting, duplicates and adjacency are common.
v4 = st.builds(
    lambda a, n: str(ipaddress.IPv4Network((a << 20, n), strict=False)),
    st.integers(0, 15),
    st.integers(4, 14),
)
v6 = st.builds(
    lambda a, n: str(ipaddress.IPv6Network((a << 116, n), strict=False)),
    st.integers(0, 7),
    st.integers(8, 20),
)
prefix_text = st.one_of(v4, v6, st.sampled_from(["Storage", "*", "", "10.0.0.1", " 10.1.0.0/16 "]))
owners = st.dictionaries(st.integers(0, 6), st.lists(prefix_text, max_size=4), max_size=6)


def brute(a: dict[int, list[str]], b: dict[int, list[str]]) -> dict[tuple[int, int], set[Overlap]]:
    """Every pair of owners, every pair of their prefixes: what the index must find, quadratically."""
    out: dict[tuple[int, int], set[Overlap]] = {}
    for (ka, pa), (kb, pb) in product(a.items(), b.items()):
        for x, y in product(filter(None, map(parse_prefix, pa)), filter(None, map(parse_prefix, pb))):
            if x.version == y.version and x.overlaps(y):
                smaller: Network = x if x.prefixlen >= y.prefixlen else y
                out.setdefault((ka, kb), set()).add(Overlap(x, y, smaller))
    return out


@settings(max_examples=300, deadline=None)
@given(owners, owners)
def test_the_overlap_index_finds_exactly_the_brute_force_pairs(
    a: dict[int, list[str]], b: dict[int, list[str]]
) -> None:
    found = overlapping(a, b)
    assert {k: set(v) for k, v in found.items()} == brute(a, b)
    for key, pairs in found.items():  # no duplicates, and the order a sweep of just that pair gives
        assert len(pairs) == len(set(pairs))
        assert pairs == overlapping({0: a[key[0]]}, {0: b[key[1]]}).get((0, 0), [])


def test_the_overlap_index_keeps_owners_apart_and_ignores_adjacent_blocks() -> None:
    found = overlapping(
        {"src-1": ["10.0.0.0/16"], "src-2": ["10.0.0.0/24", "10.1.0.0/16"]},
        {"rec-1": ["10.0.0.0/24"], "rec-2": ["10.2.0.0/16", "fd00::/8"], "rec-3": ["10.1.0.0/17"]},
    )
    assert sorted(found) == [("src-1", "rec-1"), ("src-2", "rec-1"), ("src-2", "rec-3")]
    assert [str(o.range) for o in found[("src-2", "rec-3")]] == ["10.1.0.0/17"]


ipv4ish = st.builds(
    lambda parts, length: ".".join(parts) + (f"/{length}" if length is not None else ""),
    st.lists(
        st.sampled_from(["0", "1", "10", "255", "256", "01", "192", "999", "", "a"]), min_size=3, max_size=5
    ),
    st.one_of(st.none(), st.integers(0, 40).map(str), st.sampled_from(["08", "255.255.0.0", "x", ""])),
)


@settings(max_examples=500, deadline=None)
@given(st.one_of(ipv4ish, v4, v6, st.text(max_size=12)))
def test_the_fast_parser_reads_exactly_what_ipaddress_reads(text: str) -> None:
    try:
        want = ipaddress.ip_network(text.strip(), strict=False) if text.strip() else None
    except ValueError:
        want = None
    assert parse_prefix(text) == want
    expected = (want.version, int(want.network_address), int(want.broadcast_address)) if want else None
    assert text_span(text) == expected


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([4, 6]), st.integers(0, 2**128 - 1), st.integers(0, 128))
def test_cidr_blocks_are_what_summarize_address_range_gives(version: int, seed: int, width: int) -> None:
    bits = 32 if version == 4 else 128
    start = seed % (1 << bits)
    end = min((1 << bits) - 1, start + (seed >> 7) % (1 << min(width, bits)))
    make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    want = list(ipaddress.summarize_address_range(make(start), make(end)))
    assert list(networks_between(version, start, end)) == want
    assert len(list(blocks_between(version, start, end))) == len(want)


prefix_lists = st.lists(st.one_of(v4, v6), max_size=6)


@settings(max_examples=300, deadline=None)
@given(prefix_lists, prefix_lists)
def test_contains_and_intersects_agree_with_set_algebra(a: list[str], b: list[str]) -> None:
    x, y = PrefixSet(a), PrefixSet(b)
    assert x.contains(y) == (not (y - x))
    assert x.intersects(y) == bool(x & y) == y.intersects(x)
    assert x.block_count() == len(x.networks())
    spans = [text_span(p) for p in a]
    assert PrefixSet.of_spans(s for s in spans if s) == x
