"""Prefix sets, overlap, service tags and route selection (net.prefixes, net.service_tags, net.routes),
against hand cases and brute force."""

from __future__ import annotations

import gc
import ipaddress
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asr_audit.inventory import Peering, Route, RouteTable, ServiceTag, Subnet, VirtualNetwork
from asr_audit.net import nsg
from asr_audit.net.prefixes import (
    _REMEMBERED,
    Overlap,
    PrefixSet,
    _split,
    overlapping,
    parse_prefix,
    parse_prefixes,
)
from asr_audit.net.routes import (
    APPLIANCE,
    GATEWAY,
    INTERNET,
    NONE,
    PEERING,
    SERVICE_ENDPOINT,
    USER,
    VNET_LOCAL,
    RouteEntry,
    RouteSet,
    SubnetRouter,
    blocks,
    default_routes,
    user_routes,
    vnet_routes,
)
from asr_audit.net.service_tags import ServiceTagIndex

net = ipaddress.ip_network


def system_routes(v: VirtualNetwork) -> list[RouteEntry]:
    """Every subnet's system routes in `v`: its VNet's own and Azure's default route."""
    return [*vnet_routes(v), *default_routes()]


TAGS = [
    ServiceTag("Storage", None, "AzureStorage", ["20.38.0.0/16", "2603:1030::/32"]),
    ServiceTag("Storage.EastUS", "eastus", "AzureStorage", ["20.38.1.0/24", "20.60.2.0/24"]),
    ServiceTag("Storage.WestUS", "westus", "AzureStorage", ["20.61.0.0/24"]),
    ServiceTag("StorageSyncService", None, "AzureStorageSyncService", ["40.1.0.0/24"]),
    ServiceTag("AzureCloud", None, None, ["20.0.0.0/8"]),
    ServiceTag("AzureCloud.eastus", "eastus", None, ["20.38.0.0/16"]),
]


# --- prefixes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.0/16", "10.0.0.0/16"),
        (" 10.0.0.5/16 ", "10.0.0.0/16"),  # host bits tolerated, whitespace stripped
        ("10.0.0.5", "10.0.0.5/32"),
        ("2001:db8::/32", "2001:db8::/32"),
        ("Storage", None),
        ("*", None),
        ("", None),
        (None, None),
        ("10.0.0.0/33", None),
    ],
)
def test_parse_prefix(text: str | None, expected: str | None) -> None:
    parsed = parse_prefix(text)
    assert (str(parsed) if parsed else None) == expected


def test_parse_prefixes_keeps_order_drops_duplicates_and_returns_the_rest() -> None:
    nets, bad = parse_prefixes(["10.1.0.0/16", "Internet", "10.1.0.0/16", "::/0"])
    assert nets == [net("10.1.0.0/16"), net("::/0")]
    assert bad == ["Internet"]


def test_prefix_set_algebra_merges_adjacent_blocks_and_keeps_versions_apart() -> None:
    s = PrefixSet(["10.0.0.0/24", "10.0.1.0/24", "fd00::/64", "junk"])
    assert [str(n) for n in s.networks()] == ["10.0.0.0/23", "fd00::/64"]
    assert s.contains("10.0.1.128/25") and not s.contains("10.0.2.0/24")
    assert not s.contains(["10.0.0.0/24", "fd00:0:0:1::/64"])
    assert [str(n) for n in (s - "10.0.0.128/25").networks()] == ["10.0.0.0/25", "10.0.1.0/24", "fd00::/64"]
    assert [str(n) for n in (s & ["10.0.1.0/30", "::/0"]).networks()] == ["10.0.1.0/30", "fd00::/64"]
    assert not PrefixSet(["0.0.0.0/0"]).intersects("::/0")
    assert (s | "10.0.2.0/23") == PrefixSet(["10.0.0.0/22", "fd00::/64"])
    assert PrefixSet(["10.0.0.0/30"]).address_count() == 4


_small = st.builds(
    lambda a, n: ipaddress.ip_network(f"10.0.0.{a}/{n}", strict=False),
    st.integers(0, 255),
    st.integers(24, 32),
)


def _addresses(nets: list[ipaddress.IPv4Network]) -> set[int]:
    return {int(a) for n in nets for a in (n.network_address + i for i in range(n.num_addresses))}


@settings(max_examples=150, deadline=None)
@given(st.lists(_small, max_size=6), st.lists(_small, max_size=6))
def test_prefix_set_operations_match_sets_of_addresses(a: list, b: list) -> None:
    sa, sb = PrefixSet(a), PrefixSet(b)
    ea, eb = _addresses(a), _addresses(b)
    assert _addresses((sa | sb).networks()) == ea | eb
    assert _addresses((sa & sb).networks()) == ea & eb
    assert _addresses((sa - sb).networks()) == ea - eb
    assert sa.contains(sb) == (eb <= ea)


# Long, sparse and lopsided range lists: what steps over misses, jumps by bisection or copies
# stretches untouched (a tag's hundreds of prefixes against a rule's few blocks) in both orders.
_spans = st.lists(st.tuples(st.integers(0, 2047), st.integers(0, 24)), max_size=60)


def _set_of(spans: list[tuple[int, int]]) -> tuple[PrefixSet, set[int]]:
    addresses = {a for s, w in spans for a in range(s, s + w + 1)}
    return PrefixSet.of_spans((4, s, s + w) for s, w in spans), addresses


@settings(max_examples=300, deadline=None)
@given(_spans, _spans)
def test_set_operations_on_long_lopsided_lists_match_sets_of_addresses(a: list, b: list) -> None:
    (sa, ea), (sb, eb) = _set_of(a), _set_of(b)
    for x, y, ex, ey in ((sa, sb, ea, eb), (sb, sa, eb, ea)):
        assert {n for s, e in (x & y).ranges(4) for n in range(s, e + 1)} == ex & ey
        assert {n for s, e in (x - y).ranges(4) for n in range(s, e + 1)} == ex - ey
        assert x.intersects(y) == bool(ex & ey)
        assert x.split(y) == (x & y, x - y)
        assert x.contains(y) == (ey <= ex)


def _tag_like(seed: int, count: int) -> PrefixSet:
    """`count` disjoint ranges spread over 10.0.0.0/8: a service tag's hundreds of prefixes."""
    rng = random.Random(seed)
    starts = sorted(rng.sample(range(0, 1 << 24, 64), count))
    return PrefixSet.of_spans((4, (10 << 24) + s, (10 << 24) + s + rng.randrange(1, 48)) for s in starts)


def _plain_split(x: PrefixSet, y: PrefixSet) -> tuple[list, list]:
    inside, outside = _split(x.ranges(4), y.ranges(4))
    return inside, outside


def test_split_by_a_large_set_remembers_answers_that_match_a_fresh_walk() -> None:
    """NSG evaluation cuts each destination by the same tag rules, then cuts what is left."""
    tags = [_tag_like(seed, _REMEMBERED + 40) for seed in range(3)]
    destination = _tag_like(99, 80) | tags[1]
    for _ in range(2):  # the second round is answered from what the first remembered
        rest, seen = destination, []
        for tag in tags:
            inside, outside = rest.split(tag)
            assert (inside.ranges(4), outside.ranges(4)) == _plain_split(rest, tag)
            assert inside.split(tag)[0] is inside.split(tag)[0]  # remembered: the same set back
            seen.append((inside, outside))
            rest = outside
    equal = PrefixSet.of_spans((4, s, e) for s, e in destination.ranges(4))  # same addresses, new lists
    assert equal.split(tags[0]) == destination.split(tags[0])


def test_a_remembered_split_is_never_the_answer_for_other_addresses() -> None:
    """Answers are kept by the identity of the ranges split, so those are held with the answer:
    a list freed and its id reused by another set's would otherwise get the old answer."""
    tag = _tag_like(7, _REMEMBERED + 10)
    for seed in range(200):
        fresh = _tag_like(1000 + seed, 5) | PrefixSet.of_spans(
            [(4, (10 << 24) + seed * 64, (10 << 24) + seed * 64 + 9)]
        )
        inside, outside = fresh.split(tag)
        assert (inside.ranges(4), outside.ranges(4)) == _plain_split(fresh, tag)
        del fresh, inside, outside
        gc.collect()


def test_a_sets_key_is_made_once_and_equal_exactly_for_equal_addresses() -> None:
    a = PrefixSet(["10.0.0.0/24", "10.0.1.0/24", "2001:db8::/64"])
    same = PrefixSet(["10.0.0.0/23", "2001:db8::/64"])  # cut otherwise, the same addresses
    assert a.key() is a.key()
    assert a.key() == same.key() and hash(a.key()) == hash(same.key())
    assert {a.key(): "found"}[same.key()] == "found"
    assert a.key() != PrefixSet(["10.0.0.0/23"]).key()  # IPv6 part missing
    assert a.key() != PrefixSet(["10.0.0.0/23", "2001:db8::/63"]).key()
    assert a.key() != (
        ((167772160, 167772671),),
        ((42540766411282592856903984951653826560, 42540766411282592875350729025363378175),),
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(_small, max_size=6), st.lists(_small, max_size=6))
def test_the_nsg_overlap_key_is_the_key_of_the_intersection(a: list, b: list) -> None:
    """NSG decisions shared between address books are keyed by what each rule's side holds of the
    destination: found by bisection where it can be, it must still equal the intersection's key."""
    sa, sb = PrefixSet(a), PrefixSet(b)
    assert nsg._part(sa, sb) == (sa & sb).key()
    assert nsg._part(sa, sb) != (sa | PrefixSet(["192.0.2.0/24"])).key()


def test_sets_share_their_ranges_rather_than_copies() -> None:
    """Address books union a VNet's space with a route table's prefixes, and rules' sides cut
    destinations: a range that comes through whole is the same object, never a copy."""
    space = PrefixSet(["10.1.0.0/16", "192.168.0.0/24"])
    assert PrefixSet(["10.1.0.0/16"]).ranges(4)[0] is space.ranges(4)[0]  # one per distinct text
    joined = space | PrefixSet(["172.16.0.0/12", "10.3.0.0/16"])
    assert [any(r is j for j in joined.ranges(4)) for r in space.ranges(4)] == [True, True]
    assert (space | PrefixSet(["10.0.0.0/16"])).ranges(4)[0] == (10 << 24, (10 << 24) + (2 << 16) - 1)
    wide = PrefixSet(["10.0.0.0/8"])
    for inside in ((space & wide), (wide & space), space.split(wide)[0]):
        assert inside.ranges(4) == [space.ranges(4)[0]] and inside.ranges(4)[0] is space.ranges(4)[0]
    tag = _tag_like(3, 200)  # lopsided: found by bisection
    piece = PrefixSet.of_spans([(4, tag.ranges(4)[7][0], tag.ranges(4)[9][1])])
    assert [r is t for r, t in zip((piece & tag).ranges(4), tag.ranges(4)[7:10], strict=True)] == [True] * 3
    narrow = PrefixSet(["10.1.2.0/24"])
    assert (space & narrow).ranges(4)[0] is narrow.ranges(4)[0]  # the other side's, when it lies inside
    # A version without addresses, given or left by an operation, is the one shared empty list.
    empties = [
        space.ranges(6),
        PrefixSet(["2001:db8::/32"]).ranges(4),
        (space & PrefixSet(["172.16.0.0/12"])).ranges(4),
    ]
    assert empties == [[], [], []] and all(e is empties[0] for e in empties)
    assert space.only((6,)).ranges(4) is empties[0] and space.ranges(5) == []


def test_one_version_of_a_set_is_kept_and_holds_only_that_version() -> None:
    a = PrefixSet(["10.0.0.0/24", "2001:db8::/64"])
    v4 = a.only((4,))
    assert v4 is a.only((4,)) and a.only((4, 6)) is a
    assert v4 == PrefixSet(["10.0.0.0/24"]) and a.only((6,)) == PrefixSet(["2001:db8::/64"])
    assert v4.key() is a.only((4,)).key()


def test_module_constants_remember_no_split() -> None:
    """They outlive every analysis: what they remembered would pin its sets for the process."""
    from asr_audit.net import prefixes
    from asr_audit.net.address_book import INTERNET

    for constant in (INTERNET, prefixes.EVERYWHERE, *prefixes.VERSIONS.values()):
        assert len(constant.ranges(4)) + len(constant.ranges(6)) >= 1
        for seed in range(3):
            inside, outside = _tag_like(seed, 20).split(constant)
            assert inside | outside == _tag_like(seed, 20)
    assert len(INTERNET.ranges(4)) + len(INTERNET.ranges(6)) >= _REMEMBERED  # large enough to remember
    assert prefixes._NEVER == {}


# --- overlap -------------------------------------------------------------------------------------


def overlaps(a: list[Any], b: list[Any]) -> list[Overlap]:
    """The overlapping pairs of two prefix lists: the index with one owner on each side."""
    return overlapping({0: a}, {0: b}).get((0, 0), [])


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (["10.0.0.0/16"], ["10.1.0.0/16"], []),  # adjacent, not overlapping
        (["10.0.0.0/24"], ["10.0.1.0/24", "10.0.0.0/25"], [("10.0.0.0/24", "10.0.0.0/25", "10.0.0.0/25")]),
        (["10.0.0.0/16"], ["10.0.0.0/16"], [("10.0.0.0/16", "10.0.0.0/16", "10.0.0.0/16")]),
        (["10.0.5.0/24"], ["10.0.0.0/8"], [("10.0.5.0/24", "10.0.0.0/8", "10.0.5.0/24")]),
        (["fd00::/48"], ["fd00:0:0:ff::/64"], [("fd00::/48", "fd00:0:0:ff::/64", "fd00:0:0:ff::/64")]),
        (["0.0.0.0/0"], ["::/0"], []),  # never v4 against v6
        (["::ffff:10.0.0.0/104"], ["10.0.0.0/8"], []),
        (["Storage", "10.0.0.0/8"], ["*", "10.2.0.0/16"], [("10.0.0.0/8", "10.2.0.0/16", "10.2.0.0/16")]),
    ],
)
def test_overlaps(a: list[str], b: list[str], expected: list[tuple[str, str, str]]) -> None:
    found = [(str(o.a), str(o.b), str(o.range)) for o in overlaps(a, b)]
    assert found == expected


def test_overlaps_reports_every_pair_under_a_wide_block() -> None:
    found = overlaps(["10.0.0.0/8", "10.1.0.0/16"], ["10.1.2.0/24", "10.9.0.0/16", "11.0.0.0/8"])
    assert {(str(o.a), str(o.b)) for o in found} == {
        ("10.0.0.0/8", "10.1.2.0/24"),
        ("10.0.0.0/8", "10.9.0.0/16"),
        ("10.1.0.0/16", "10.1.2.0/24"),
    }


@settings(max_examples=200, deadline=None)
@given(st.lists(_small, max_size=8), st.lists(_small, max_size=8))
def test_overlaps_match_the_quadratic_reference(a: list, b: list) -> None:
    expected = {(x, y, x if x.prefixlen >= y.prefixlen else y) for x in a for y in b if x.overlaps(y)}
    found = overlaps(a, b)
    assert set(found) == expected
    assert len(found) == len(expected)  # each pair once


# --- service tags --------------------------------------------------------------------------------


def test_service_tags_are_found_case_insensitively_and_regionally_by_the_region_field() -> None:
    tags = ServiceTagIndex(TAGS)
    assert tags.get("storage.eastus").name == "Storage.EastUS"
    assert tags.regional("storage", "East US").name == "Storage.EastUS"
    assert tags.regional("Storage", "centralus") is None
    assert tags.get("Storage.Nowhere") is None
    renamed = ServiceTagIndex([ServiceTag("EventHub.Region7", "westeurope", None, ["1.1.1.0/24"])])
    assert renamed.regional("EventHub", "westeurope").name == "EventHub.Region7"


def test_a_top_level_tag_covers_its_regional_tags() -> None:
    tags = ServiceTagIndex(TAGS)
    storage = tags.expand("Storage")
    assert storage.contains(tags.expand("Storage.EastUS"))  # 20.60.2.0/24 is listed only regionally
    assert not storage.contains("40.1.0.0/24")  # StorageSyncService is not a Storage region
    assert tags.expand("Storage.EastUS") == PrefixSet(["20.38.1.0/24", "20.60.2.0/24"])
    assert tags.prefixes("Nope") is None
    assert ServiceTagIndex.name_covers("Storage", "storage.EastUS")
    assert not ServiceTagIndex.name_covers("Storage", "StorageSyncService")
    assert not ServiceTagIndex([])


# --- route selection -----------------------------------------------------------------------------


def entry(prefix: str, hop: str, source: str = USER, **kw: str) -> RouteEntry:
    return RouteEntry(net(prefix), hop, source, **kw)


def test_longest_prefix_wins_and_a_udr_beats_a_system_route_with_the_same_prefix() -> None:
    routes = RouteSet(
        [
            entry("0.0.0.0/0", INTERNET, "Default"),
            entry("10.0.0.0/16", VNET_LOCAL, "Default"),
            entry("0.0.0.0/0", GATEWAY, name="force"),
            entry("10.0.0.0/16", APPLIANCE, next_hop_ip="10.0.9.4", name="inspect"),
            entry("20.38.0.0/16", INTERNET, name="storage"),
        ]
    )
    assert routes.effective_route("20.38.1.1").name == "storage"
    assert routes.effective_route("20.39.0.1").name == "force"
    assert routes.effective_route("10.0.3.4").name == "inspect"
    assert routes.effective_route("2001:db8::1") is None  # no IPv6 route given
    assert len(routes.routes()) == 3


def test_same_prefix_explicit_udr_beats_tag_udrs_and_regional_tags_beat_top_level() -> None:
    prefix = "20.38.1.0/24"
    best_first = [
        entry(prefix, APPLIANCE, next_hop_ip="10.0.9.4"),
        entry(prefix, GATEWAY, tag="Storage.EastUS"),
        entry(prefix, INTERNET, tag="Storage"),
        entry(prefix, NONE, tag="AzureCloud.eastus"),
        entry(prefix, NONE, tag="AzureCloud"),
        entry(prefix, INTERNET, "Default"),
    ]
    for i in range(len(best_first)):
        # offered worst first, so winning does not depend on coming first
        assert RouteSet(reversed(best_first[i:])).effective_route("20.38.1.7") is best_first[i]


def test_segments_split_a_destination_by_route() -> None:
    routes = RouteSet(
        [
            entry("0.0.0.0/0", GATEWAY, name="force"),
            entry("20.38.1.0/24", INTERNET, name="bypass"),
            entry("20.38.1.128/25", APPLIANCE, next_hop_ip="10.0.9.4", name="inner"),
            entry("::/0", INTERNET, "Default"),
        ]
    )
    pieces = blocks(routes.segments(PrefixSet(["20.38.0.0/23", "2603:1030::/48"])))
    assert [(str(p.prefix), p.route.name) for p in pieces] == [
        ("20.38.0.0/24", "force"),
        ("20.38.1.0/25", "bypass"),
        ("20.38.1.128/25", "inner"),
        ("2603:1030::/48", None),
    ]
    assert pieces[-1].route.next_hop_type == INTERNET


def test_remembered_segments_hold_the_destinations_ends_rather_than_copies() -> None:
    routes = RouteSet([entry("0.0.0.0/0", GATEWAY), entry("20.38.1.128/25", INTERNET)])
    destination = PrefixSet(["20.38.1.0/24", "20.39.0.0/24"])
    segments = routes.segments(destination)
    assert segments is routes.segments(destination)
    (_, first_end), (_, second_end) = destination.ranges(4)
    assert [(s[2], s[3].next_hop_type) for s in segments] == [
        (first_end - 128, GATEWAY),
        (first_end, INTERNET),
        (second_end, GATEWAY),
    ]
    assert segments[1][2] is first_end and segments[2][2] is second_end


def test_segments_leave_uncovered_space_without_a_route() -> None:
    routes = RouteSet([entry("10.0.0.0/25", INTERNET)])
    assert [(str(p.prefix), p.route) for p in blocks(routes.segments(PrefixSet(["10.0.0.0/24"])))] == [
        ("10.0.0.0/25", routes.effective_route("10.0.0.1")),
        ("10.0.0.128/25", None),
    ]


_route_prefix = st.builds(
    lambda a, n: ipaddress.ip_network(f"10.0.{a >> 8}.{a & 255}/{n}", strict=False),
    st.integers(0, 1023),
    st.integers(20, 32),
)
_route = st.builds(
    lambda p, hop, user: RouteEntry(p, hop, USER if user else "Default"),
    _route_prefix,
    st.sampled_from([INTERNET, GATEWAY, APPLIANCE, VNET_LOCAL, NONE]),
    st.booleans(),
)


def _reference(routes: list[RouteEntry], address: ipaddress.IPv4Address) -> RouteEntry | None:
    matching = [r for r in routes if address in r.prefix]
    if not matching:
        return None
    longest = max(r.prefix.prefixlen for r in matching)
    best = [r for r in matching if r.prefix.prefixlen == longest]
    return min(best, key=lambda r: r.rank)


@settings(max_examples=150, deadline=None)
@given(st.lists(_route, max_size=10), st.lists(st.integers(0, 4095), min_size=1, max_size=20), _route_prefix)
def test_route_selection_matches_brute_force(
    routes: list, offsets: list[int], dest: ipaddress.IPv4Network
) -> None:
    table = RouteSet(routes)
    for offset in offsets:
        address = ipaddress.ip_address("10.0.0.0") + offset
        assert table.effective_route(address) is _reference(routes, address)
    # every address of a destination is routed by the piece `segments` puts it in
    pieces = blocks(table.segments(PrefixSet([dest])))
    assert PrefixSet([p.prefix for p in pieces]) == PrefixSet([dest])
    for piece in pieces:
        for address in (piece.prefix.network_address, piece.prefix.broadcast_address):
            assert piece.route is table.effective_route(address)


@settings(max_examples=150, deadline=None)
@given(st.lists(_route, max_size=30), st.lists(_route_prefix, min_size=1, max_size=6))
def test_segments_of_a_destination_in_many_ranges_match_the_route_of_each_address(
    routes: list, dest: list[ipaddress.IPv4Network]
) -> None:
    # Several ranges, many routes between them: one sweep carries its stack from range to range,
    # walking the routes in a gap or looking them up again past a few.
    table = RouteSet(routes)
    pieces = blocks(table.segments(PrefixSet(dest)))
    assert PrefixSet([p.prefix for p in pieces]) == PrefixSet(dest)
    for piece in pieces:
        for address in (piece.prefix.network_address, piece.prefix.broadcast_address):
            assert piece.route is _reference(routes, address)


# --- a subnet's routes ---------------------------------------------------------------------------


def vnet(
    prefixes: list[str], *, peerings: list[Peering] = (), subnet: Subnet | None = None
) -> VirtualNetwork:
    sub = subnet or Subnet(
        id="/subscriptions/s/resourceGroups/g/providers/x/virtualNetworks/v/subnets/a", name="a"
    )
    return VirtualNetwork(
        id="/subscriptions/s/resourceGroups/g/providers/x/virtualNetworks/v",
        name="v",
        location="East US",
        address_prefixes=prefixes,
        subnets=[sub],
        peerings=list(peerings),
    )


def test_system_routes_vnet_space_peerings_defaults_and_reserved_ranges() -> None:
    peered = Peering(
        id="p1", name="to-hub", peering_state="Connected", remote_address_prefixes=["10.9.0.0/16"]
    )
    pending = Peering(
        id="p2", name="to-x", peering_state="Initiated", remote_address_prefixes=["10.8.0.0/16"]
    )
    routes = RouteSet(system_routes(vnet(["10.1.0.0/16", "fd00::/48"], peerings=[peered, pending])))
    hops = {
        a: routes.effective_route(a).next_hop_type for a in ("10.1.2.3", "10.9.0.1", "10.8.0.1", "8.8.8.8")
    }
    assert hops == {"10.1.2.3": VNET_LOCAL, "10.9.0.1": PEERING, "10.8.0.1": NONE, "8.8.8.8": INTERNET}
    assert routes.effective_route("fd00::1").next_hop_type == VNET_LOCAL
    assert routes.effective_route("2001:db8::1").next_hop_type == INTERNET
    # a VNet range holding a reserved range removes its None route
    wide = RouteSet(system_routes(vnet(["10.0.0.0/7"])))
    assert net("10.0.0.0/8") not in {r.prefix for r in wide.routes()}
    assert wide.effective_route("11.0.0.1").next_hop_type == VNET_LOCAL


def test_service_tag_udrs_expand_and_unknown_tags_are_reported_unresolved() -> None:
    tags = ServiceTagIndex(TAGS)
    table = RouteTable(
        id="rt",
        name="rt",
        location="eastus",
        routes=[
            Route("force", "0.0.0.0/0", "virtualnetworkgateway"),
            Route("storage", "storage.eastus", "Internet"),
            Route("sql", "Sql.EastUS", "Internet"),
        ],
    )
    v = vnet(["10.1.0.0/16"])
    routes = SubnetRouter(tags).routes(v, v.subnets[0], table)
    assert routes.effective_route("20.60.2.9").tag == "Storage.EastUS"
    assert routes.effective_route("20.61.0.1").next_hop_type == GATEWAY  # next hop case normalised
    assert [(u.name, u.address_prefix) for u in routes.unresolved] == [("sql", "Sql.EastUS")]


@pytest.mark.parametrize(
    ("locations", "covered", "uncovered", "unresolved"),
    [
        ({}, ["20.38.1.1"], ["20.61.0.1"], []),  # no locations listed: the VNet's region
        ({"Microsoft.Storage": ["eastus", "West US"]}, ["20.38.1.1", "20.61.0.1"], [], []),
        ({"microsoft.storage": ["*"]}, ["20.38.200.1", "20.61.0.1"], [], []),
        ({"Microsoft.Storage": ["centralus"]}, [], ["20.38.1.1"], ["Storage.centralus"]),
    ],
)
def test_service_endpoint_routes(
    locations: dict[str, list[str]], covered: list[str], uncovered: list[str], unresolved: list[str]
) -> None:
    sub = Subnet(
        id="/x/subnets/a",
        name="a",
        service_endpoints=["Microsoft.Storage"],
        service_endpoint_locations=locations,
    )
    v = vnet(["10.1.0.0/16"], subnet=sub)
    routes = SubnetRouter(ServiceTagIndex(TAGS)).routes(v, sub, None)
    assert [routes.effective_route(a).next_hop_type for a in covered] == [SERVICE_ENDPOINT] * len(covered)
    assert [routes.effective_route(a).next_hop_type for a in uncovered] == [INTERNET] * len(uncovered)
    assert [u.address_prefix for u in routes.unresolved] == unresolved


@settings(max_examples=150, deadline=None)
@given(
    st.lists(_route, max_size=10), st.lists(_route, max_size=6), st.lists(st.integers(0, 4095), max_size=20)
)
def test_extending_a_route_set_equals_building_it_whole(base: list, more: list, offsets: list[int]) -> None:
    original = RouteSet(base)
    whole, extended = RouteSet([*base, *more]), original.extended(more)
    assert [(r.prefix, r.rank) for r in extended.routes()] == [(r.prefix, r.rank) for r in whole.routes()]
    for offset in offsets:
        address = ipaddress.ip_address("10.0.0.0") + offset
        assert extended.effective_route(address) is _reference([*base, *more], address)
        # The extended set shares the original's lookups until it changes them: never in place.
        assert original.effective_route(address) is _reference(base, address)
    assert original.routes() == RouteSet(base).routes() == RouteSet(base).extended([]).routes()
    # Joined by a layer of the same routes, it is the same set, and shares the layer's spans.
    layer = RouteSet(more)
    joined = original.joined(layer)
    assert [(r.prefix, r.rank) for r in joined.routes()] == [(r.prefix, r.rank) for r in whole.routes()]
    for offset in offsets:
        address = ipaddress.ip_address("10.0.0.0") + offset
        assert joined.effective_route(address) is _reference([*base, *more], address)
    layer_spans = {id(span) for v in (4, 6) for span in layer._spans[v]}
    for v in (4, 6):
        for span in joined._spans[v]:
            assert (id(span) in layer_spans) == any(span[2] is r for r in layer.routes())


_udr = st.builds(
    Route,
    st.sampled_from(["a", "b"]),
    st.sampled_from(
        ["20.38.0.0/16", "20.38.1.0/24", "20.61.0.0/24", "0.0.0.0/0", "Storage", "Storage.EastUS", "Sql"]
    ),
    st.sampled_from([INTERNET, GATEWAY, APPLIANCE]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_udr, max_size=6), st.lists(_udr, max_size=6))
def test_tables_sharing_their_tag_udrs_route_as_if_each_were_compiled_alone(
    first: list, second: list
) -> None:
    """The router compiles tag UDRs once per distinct list and adds each table's prefix UDRs to
    that layer: what each table routes must not change, whatever else shares the layer."""
    tags = ServiceTagIndex(TAGS)
    tagged = [u for u in first if u.address_prefix[0].isalpha()]
    tables = [
        RouteTable(id=f"rt{i}", name=f"rt{i}", location="eastus", routes=[*udrs, *tagged])
        for i, udrs in enumerate((first, second))
    ]
    router = SubnetRouter(tags)
    for table in tables:
        alone = RouteSet(*user_routes(table.routes, tags))
        v = vnet(["10.1.0.0/16"])
        layered = router.routes(v, v.subnets[0], table).base
        assert [(r.prefix, r.name, r.next_hop_type, r.tag) for r in layered.routes() if r.source == USER] == [
            (r.prefix, r.name, r.next_hop_type, r.tag) for r in alone.routes()
        ]
        assert layered.unresolved == alone.unresolved
        for address in ("20.38.1.7", "20.38.9.9", "20.61.0.1", "8.8.8.8"):
            assert layered.effective_route(address) == router.routes(v, v.subnets[0], table).effective_route(
                address
            )


def test_tables_with_the_same_tag_udrs_share_their_expanded_routes() -> None:
    tags = ServiceTagIndex(TAGS)
    bypass = Route("storage-direct", "Storage", INTERNET)

    def table(name: str, *udrs: Route) -> RouteTable:
        return RouteTable(id=name, name=name, location="eastus", routes=[*udrs, bypass])

    spoke_a = table("a", Route("force", "0.0.0.0/0", APPLIANCE, "10.0.0.4"))
    spoke_b = table("b", Route("force", "0.0.0.0/0", GATEWAY), Route("exact", "20.38.0.0/16", GATEWAY))
    router = SubnetRouter(tags)
    v = vnet(["10.1.0.0/16"])
    routes_a = router.routes(v, v.subnets[0], spoke_a)
    routes_b = router.routes(v, v.subnets[0], spoke_b)
    assert routes_a.effective_route("2603:1030::1") is routes_b.effective_route("2603:1030::1")
    assert routes_a.effective_route("2603:1030::1").name == "storage-direct"
    # Each table's own UDRs stay its own: B's prefix UDR outranks the tag route on the same prefix.
    assert routes_a.effective_route("20.38.9.9").name == "storage-direct"
    assert routes_b.effective_route("20.38.9.9").name == "exact"
    assert routes_a.effective_route("8.8.8.8").next_hop_type == APPLIANCE
    assert routes_b.effective_route("8.8.8.8").next_hop_type == GATEWAY
    # A table whose tag UDRs differ (another next hop) gets routes of its own.
    gateway = RouteTable(
        id="c", name="c", location="eastus", routes=[Route("storage-direct", "Storage", GATEWAY)]
    )
    other = router.routes(v, v.subnets[0], gateway)
    assert other.effective_route("2603:1030::1").next_hop_type == GATEWAY
    assert routes_a.effective_route("2603:1030::1").next_hop_type == INTERNET


def test_subnets_with_the_same_service_endpoints_share_their_endpoint_routes() -> None:
    router = SubnetRouter(ServiceTagIndex(TAGS))
    v = vnet(["10.1.0.0/16"])
    forced = RouteTable(id="a", name="a", location="eastus", routes=[Route("force", "0.0.0.0/0", GATEWAY)])
    exact = RouteTable(id="b", name="b", location="eastus", routes=[Route("exact", "20.38.1.0/24", GATEWAY)])
    found = []
    for n, table in enumerate((forced, exact, forced)):
        sub = Subnet(id=f"/x/subnets/s{n}", name=f"s{n}", service_endpoints=["Microsoft.Storage"])
        found.append(router.routes(v, sub, table))
    a, b, a_again = found
    storage = a.effective_route("20.60.2.9")  # Storage.EastUS, the VNet's region
    assert storage.next_hop_type == SERVICE_ENDPOINT and b.effective_route("20.60.2.9") is storage
    assert a.base is a_again.base  # one base per table and endpoints
    assert b.effective_route("20.38.1.7").name == "exact"  # a UDR on the same prefix outranks it
    assert a.effective_route("8.8.8.8").name == "force" and b.effective_route("8.8.8.8").source == "Default"

    def endpoint_spans(routes: Any) -> dict[int, Any]:
        return {
            id(span[2]): span for span in routes.base._spans[4] if span[2].next_hop_type == SERVICE_ENDPOINT
        }

    in_a, in_b = endpoint_spans(a), endpoint_spans(b)
    assert set(in_a) & set(in_b) and all(in_b[k] is span for k, span in in_a.items() if k in in_b)


def test_a_shared_route_table_does_not_carry_one_vnets_routes_into_another() -> None:
    table = RouteTable(id="rt", name="rt", location="eastus", routes=[Route("force", "0.0.0.0/0", GATEWAY)])
    router = SubnetRouter(ServiceTagIndex(TAGS))
    a, b = vnet(["10.1.0.0/16"]), vnet(["10.2.0.0/16"])
    routes_a = router.routes(a, a.subnets[0], table)
    routes_b = router.routes(b, b.subnets[0], table)
    assert routes_a.effective_route("10.1.0.4").next_hop_type == VNET_LOCAL
    assert routes_b.effective_route("10.1.0.4").next_hop_type == NONE  # reserved range, not B's space
    assert routes_b.effective_route("10.2.0.4").next_hop_type == VNET_LOCAL
    assert routes_a.effective_route("8.8.8.8").name == routes_b.effective_route("8.8.8.8").name == "force"


def test_route_tables_with_the_same_udrs_share_one_route_set() -> None:
    """Landing zones stamp one list of UDRs into every spoke's own table: those tables compile
    once, and a table that differs in any UDR field keeps routes of its own."""
    router = SubnetRouter(ServiceTagIndex(TAGS))
    udrs = [Route("force", "0.0.0.0/0", APPLIANCE, "10.0.0.4"), Route("onprem", "192.168.0.0/16", GATEWAY)]

    def table(name: str, *routes: Route) -> RouteTable:
        return RouteTable(id=f"/rt/{name}", name=name, location="eastus", routes=list(routes))

    a, b = vnet(["10.1.0.0/16"]), vnet(["10.2.0.0/16"])
    spoke_a = router.routes(a, a.subnets[0], table("rt-a", *udrs))
    spoke_b = router.routes(b, b.subnets[0], table("rt-b", *udrs))
    assert spoke_a.base is spoke_b.base
    storage = PrefixSet(["20.38.0.0/16"])
    assert spoke_a.segments(storage) is spoke_b.segments(storage)  # asked once for both tables
    # One field apart: another next hop address, another name.
    moved = table("rt-c", Route("force", "0.0.0.0/0", APPLIANCE, "10.0.0.5"), udrs[1])
    renamed = table("rt-d", Route("default", "0.0.0.0/0", APPLIANCE, "10.0.0.4"), udrs[1])
    other_ip = router.routes(a, a.subnets[0], moved)
    other_name = router.routes(a, a.subnets[0], renamed)
    assert len({id(spoke_a.base), id(other_ip.base), id(other_name.base)}) == 3
    assert other_ip.effective_route("8.8.8.8").next_hop_ip == "10.0.0.5"
    assert other_name.effective_route("8.8.8.8").name == "default"
    assert spoke_a.effective_route("8.8.8.8").name == "force"
    # Each VNet's own routes stay its own although the table's routes are shared.
    assert spoke_a.effective_route("10.1.0.4").next_hop_type == VNET_LOCAL
    assert spoke_b.effective_route("10.1.0.4").next_hop_type == NONE
