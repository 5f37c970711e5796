"""Route selection as Azure does it: longest prefix match over a subnet's UDRs (service-tag
prefixes expanded), service endpoint routes and system routes.

A UDR with the same prefix as a system route wins; among tag routes with one prefix the regional
tag wins. Only what ARM shows is modelled: routes learned over BGP from on-premises are not.
"""

from __future__ import annotations

import functools
import ipaddress
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from asr_audit import ids
from asr_audit.inventory import Route, RouteTable, Subnet, VirtualNetwork
from asr_audit.net.connectivity import connected
from asr_audit.net.prefixes import (
    BITS,
    Address,
    Network,
    PrefixSet,
    Range,
    blocks_between,
    parse_prefix,
    parse_prefixes,
)
from asr_audit.net.service_tags import Analysis, ServiceTagIndex, memoised, shared_index

# --- route entries ------------------------------------------------------------------------------

GATEWAY = "VirtualNetworkGateway"
APPLIANCE = "VirtualAppliance"
INTERNET = "Internet"
VNET_LOCAL = "VnetLocal"
NONE = "None"
PEERING = "VNetPeering"
SERVICE_ENDPOINT = "VirtualNetworkServiceEndpoint"
_HOPS = {h.lower(): h for h in (GATEWAY, APPLIANCE, INTERNET, VNET_LOCAL, NONE, PEERING, SERVICE_ENDPOINT)}

USER = "User"
DEFAULT = "Default"

# Same-prefix preference among system routes: a VNet range replaces the reserved `None`
# route (Azure documents that), the rest cannot collide in practice.
_SYSTEM_RANK = {VNET_LOCAL: 10, PEERING: 11, SERVICE_ENDPOINT: 12, INTERNET: 13, NONE: 14}

RESERVED_PRIVATE = tuple(
    ipaddress.IPv4Network(p) for p in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
DEFAULT_ROUTES = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))

# Service endpoint service -> the service tag whose prefixes its system routes carry.
SERVICE_ENDPOINT_TAGS = {
    "microsoft.storage": "Storage",
    "microsoft.storage.global": "Storage",
    "microsoft.sql": "Sql",
    "microsoft.keyvault": "AzureKeyVault",
    "microsoft.eventhub": "EventHub",
    "microsoft.servicebus": "ServiceBus",
    "microsoft.azurecosmosdb": "AzureCosmosDB",
    "microsoft.web": "AppService",
    "microsoft.containerregistry": "AzureContainerRegistry",
}
_GLOBAL_ENDPOINTS = {"microsoft.storage.global"}


def next_hop_type(value: str | None) -> str:
    """ARM's spelling of a next hop type, whatever case it arrived in."""
    text = (value or NONE).strip()
    return _HOPS.get(text.lower(), text)


def _tag_rank(name: str) -> int:
    """Tie-break among tag routes with the same prefix, as Azure documents it: regional tags,
    then top-level tags, then AzureCloud regional tags, then AzureCloud."""
    base, dot, _ = name.partition(".")
    if base.lower() == "azurecloud":
        return 3 if dot else 4
    return 1 if dot else 2


class RouteEntry(NamedTuple):
    """One route. A tuple rather than a frozen dataclass: a route on a service tag becomes a route
    per tag prefix, and route tables are compiled into hundreds of thousands of them (building a
    frozen dataclass costs twice as much)."""

    prefix: Network
    next_hop_type: str
    source: str = DEFAULT  # User (a UDR) | Default (a system route)
    next_hop_ip: str | None = None
    name: str | None = None  # the UDR's name
    tag: str | None = None  # the service tag the prefix came from (UDR or service endpoint)

    @property
    def rank(self) -> int:
        """Lower wins among routes with the same prefix: UDR with an explicit prefix, UDRs on
        tags (regional first), then system routes."""
        if self.source == USER:
            return _tag_rank(self.tag) if self.tag else 0
        return _SYSTEM_RANK.get(self.next_hop_type, 15)

    def to_json(self) -> dict[str, str]:
        data = {
            "prefix": str(self.prefix),
            "next_hop_type": self.next_hop_type,
            "source": self.source,
            "next_hop_ip": self.next_hop_ip,
            "name": self.name,
            "tag": self.tag,
        }
        return {k: v for k, v in data.items() if v}


@dataclass(frozen=True, slots=True)
class Unresolved:
    """A route whose prefixes could not be known (a tag missing from the collected list)."""

    name: str  # the UDR or service endpoint
    address_prefix: str
    next_hop_type: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "address_prefix": self.address_prefix, "next_hop_type": self.next_hop_type}


# (IP version, first address, last address, the route it takes or None): a stretch one route takes.
Segment = tuple[int, int, int, "RouteEntry | None"]


class RoutedPrefix(NamedTuple):
    """One CIDR block of a destination and the route it takes. Kept as integers: a service tag
    splits into thousands of blocks per subnet and only a few are ever shown, so the `ipaddress`
    object is built on demand (`prefix`)."""

    version: int
    start: int
    length: int
    route: RouteEntry | None  # None: no route covers it (traffic is dropped)

    @property
    def prefix(self) -> Network:
        if self.version == 4:
            return ipaddress.IPv4Network((self.start, self.length))
        return ipaddress.IPv6Network((self.start, self.length))


@functools.lru_cache(maxsize=1 << 16)
def _private(net: Network) -> bool:
    return net.is_private


def _route_key(route: RouteEntry) -> tuple[int, int, int]:
    net = route.prefix
    return net.version, net.prefixlen, int(net.network_address)


def _span_of(version: int, length: int, start: int, route: RouteEntry) -> tuple[int, int, RouteEntry]:
    """A route's entry in `RouteSet._spans`: (start, -end, route)."""
    return start, -(start + (1 << (BITS[version] - length)) - 1), route


class RouteSet:
    """A subnet's effective routes: the winning route per prefix, queried by longest prefix match.

    Routes are keyed by integers, not Network objects: a tag route expands to thousands of
    prefixes and hashing ipaddress objects dominated the cost. Per version, `_spans` holds
    (start, -end, route) sorted by start, larger block first: the negated end makes the list its
    own bisect index (a second list of keys took over 100 MiB at 100k resources).
    """

    def __init__(self, routes: Iterable[RouteEntry] = (), unresolved: Iterable[Unresolved] = ()) -> None:
        best: dict[tuple[int, int, int], RouteEntry] = {}
        for route in routes:
            key = _route_key(route)
            current = best.get(key)
            if current is None or route.rank < current.rank:
                best[key] = route
        self.unresolved = list(unresolved)
        self._exact: dict[tuple[int, int], dict[int, RouteEntry]] = {}
        self._spans: dict[int, list[tuple[int, int, RouteEntry]]] = {4: [], 6: []}
        for (version, length, start), route in best.items():
            self._exact.setdefault((version, length), {})[start] = route
            self._spans[version].append(_span_of(version, length, start, route))
        for spans in self._spans.values():
            spans.sort()  # (start, -end) is unique per route: the routes are never compared
        self._lengths = self._lengths_of(self._exact)
        self._segments: dict[int, tuple[PrefixSet, list[Segment]]] = {}
        self._public: list[RouteEntry] | None = None

    @staticmethod
    def _lengths_of(exact: dict[tuple[int, int], dict[int, RouteEntry]]) -> dict[int, list[int]]:
        """Prefix lengths in use per version, shortest first: the probes of a lookup."""
        return {v: sorted(n for (ver, n), routes in exact.items() if ver == v and routes) for v in (4, 6)}

    def extended(self, routes: Iterable[RouteEntry], unresolved: Iterable[Unresolved] = ()) -> RouteSet:
        """This set plus a few more routes, without sorting the whole table again: subnets that
        share a large route table differ only in their system and service endpoint routes."""
        spans = []
        for route in routes:
            version, length, start = _route_key(route)
            spans.append((version, _span_of(version, length, start, route)))
        return self._with(spans, unresolved)

    def joined(self, layer: RouteSet) -> RouteSet:
        """`extended` by a layer's routes and unresolved routes, sharing the layer's spans rather
        than making them again: subnets of many route tables have the same service endpoints,
        whose routes are a service tag's prefixes."""
        return self._with([(v, span) for v in (4, 6) for span in layer._spans[v]], layer.unresolved)

    def _with(
        self, added: Iterable[tuple[int, tuple[int, int, RouteEntry]]], unresolved: Iterable[Unresolved]
    ) -> RouteSet:
        new = RouteSet.__new__(RouteSet)
        new.unresolved = [*self.unresolved, *unresolved]
        # The routes of each prefix length stay shared with this set until a new route changes
        # them: the few added lengths are copied, not the whole table (50 MiB at 100k resources).
        new._exact = dict(self._exact)
        changed: set[tuple[int, int]] = set()
        new._spans = {v: list(spans) for v, spans in self._spans.items()}
        for version, span in added:
            start, negated_end, route = span
            slot = (version, route.prefix.prefixlen)
            current = new._exact.get(slot, {}).get(start)
            if current is not None and current.rank <= route.rank:
                continue
            if slot not in changed:
                changed.add(slot)
                new._exact[slot] = dict(new._exact.get(slot, {}))
            new._exact[slot][start] = route
            spans = new._spans[version]
            at = bisect_left(spans, (start, negated_end))  # sorts before any route of its prefix
            if current is not None:
                spans[at] = span
            else:
                spans.insert(at, span)
        new._lengths = self._lengths_of(new._exact)
        new._segments = {}
        new._public = None
        return new

    def routes(self) -> list[RouteEntry]:
        return [route for v in (4, 6) for _, _, route in self._spans[v]]

    def public_routes(self) -> list[RouteEntry]:
        """Routes to public prefixes (what can tunnel a service tag), found once per route set:
        `is_private` is slow, and two rules ask each subnet. Shared: do not change the list."""
        if self._public is None:
            self._public = [r for r in self.routes() if not _private(r.prefix)]
        return self._public

    def _containing(self, version: int, point: int) -> list[RouteEntry]:
        """Routes whose prefix holds `point`, least specific first."""
        bits = BITS[version]
        found = []
        for length in self._lengths[version]:
            shift = bits - length
            route = self._exact[(version, length)].get(point >> shift << shift)
            if route is not None:
                found.append(route)
        return found

    def effective_route(self, address: Address | str) -> RouteEntry | None:
        """The route Azure picks for one destination address (longest prefix match)."""
        addr = ipaddress.ip_address(address.strip() if isinstance(address, str) else address)
        found = self._containing(addr.version, int(addr))
        return found[-1] if found else None

    def segments(self, destination: PrefixSet) -> list[Segment]:
        """Split a destination (e.g. a service tag's prefixes) by the route each part takes: one
        range per stretch that one route takes, in address order (`blocks` cuts them into CIDR
        blocks where a finding counts or shows them; a tag splits into thousands per subnet).

        Remembered per destination set (by identity, which `ServiceTagIndex.listed` keeps
        stable): NET-FORCED-TUNNEL, NET-FIREWALL-FQDN and the outbound path ask the same subnet
        about the same tags. The list is shared: do not change it."""
        known = self._segments.get(id(destination))
        if known is None:
            found = self._sweep(4, destination.ranges(4))
            found += self._sweep(6, destination.ranges(6))
            known = self._segments[id(destination)] = (destination, found)
        return known[1]

    def _sweep(self, version: int, ranges: Sequence[Range]) -> list[Segment]:
        """One left-to-right pass over the routes (one IP version) for the sorted ranges of a
        destination. The stack holds the routes covering the cursor, innermost on top (route
        prefixes nest or are disjoint); between two ranges it walks the few routes that start in
        the gap instead of looking up every prefix length again at the next range. Adjacent
        stretches of one route are merged. A segment that ends where its range does holds the
        range's own end: segments are remembered (`segments`), a tag's thousands per subnet."""
        spans = self._spans[version]
        size = len(spans)
        stack: list[tuple[int, RouteEntry]] = []
        out: list[Segment] = []
        i = 0  # the first route not yet on the stack, by start
        for start, end in ranges:
            upto = bisect_right(spans, (start, math.inf), i)
            if upto - i > _WALK:
                stack[:] = [(int(r.prefix.broadcast_address), r) for r in self._containing(version, start)]
            else:
                for first, negated_last, held in spans[i:upto]:
                    while stack and stack[-1][0] < first:
                        stack.pop()
                    stack.append((-negated_last, held))
            i = upto
            cursor = start
            while cursor <= end:
                if i < size and spans[i][0] <= end:
                    span_start, negated_end, route = spans[i]
                else:
                    span_start, negated_end, route = end + 1, 0, None
                while cursor < span_start:
                    while stack and stack[-1][0] < cursor:
                        stack.pop()
                    if stack:
                        top_end, top = stack[-1]
                        last = top_end if top_end < span_start else span_start - 1
                    else:
                        top, last = None, span_start - 1
                    if last == end:
                        last = end  # the range's own int object, not an equal copy: segments are kept
                    if out and out[-1][3] is top and out[-1][2] + 1 == cursor:
                        out[-1] = (version, out[-1][1], last, top)
                    else:
                        out.append((version, cursor, last, top))
                    cursor = last + 1
                if route is not None:
                    while stack and stack[-1][0] < span_start:
                        stack.pop()
                    stack.append((-negated_end, route))
                    i += 1
        return out


# Past this many routes starting between two ranges of a destination, the sweep finds the routes
# holding the next range's start by lookup rather than by walking them.
_WALK = 8


def blocks(segments: Iterable[Segment]) -> list[RoutedPrefix]:
    """The segments' CIDR blocks, each with its route."""
    return [RoutedPrefix(v, b, n, route) for v, s, e, route in segments for b, n in blocks_between(v, s, e)]


# --- a subnet's routes ---------------------------------------------------------------------------


def default_routes() -> list[RouteEntry]:
    """Azure's default route to the Internet, the same in every subnet."""
    return [RouteEntry(net, INTERNET) for net in DEFAULT_ROUTES]


def vnet_routes(vnet: VirtualNetwork) -> list[RouteEntry]:
    """The system routes that differ from one VNet to another: its address space, its connected
    peerings' spaces, and the reserved ranges it does not use (next hop None)."""
    space, _ = parse_prefixes(vnet.address_prefixes)
    routes = [RouteEntry(net, VNET_LOCAL) for net in space]
    for peering in vnet.peerings:
        if connected(peering):
            peered, _ = parse_prefixes(peering.remote_address_prefixes)
            routes += [RouteEntry(net, PEERING, name=peering.name) for net in peered]
    # A VNet range that includes a reserved range removes its `None` route (Azure's rule).
    routes += [
        RouteEntry(r, NONE)
        for r in RESERVED_PRIVATE
        if not any(isinstance(n, ipaddress.IPv4Network) and r.subnet_of(n) for n in space)
    ]
    return routes


def service_endpoint_routes(
    vnet: VirtualNetwork, subnet: Subnet, tags: ServiceTagIndex
) -> tuple[list[RouteEntry], list[Unresolved]]:
    """System routes a subnet's service endpoints add: the service's prefixes in the
    endpoint's locations (the VNet's region when none are listed), next hop
    VirtualNetworkServiceEndpoint."""
    routes: list[RouteEntry] = []
    unresolved: list[Unresolved] = []
    locations = {k.lower(): v for k, v in subnet.service_endpoint_locations.items()}
    for service in subnet.service_endpoints:
        key = service.strip().lower()
        base = SERVICE_ENDPOINT_TAGS.get(key)
        if base is None:
            continue
        where = locations.get(key) or [vnet.location]
        if key in _GLOBAL_ENDPOINTS or "*" in where:
            wanted = [(base, tags.get(base))]
        else:
            wanted = [(f"{base}.{ids.region(loc)}", tags.regional(base, loc)) for loc in where]
        for label, tag in wanted:
            nets = tags.prefixes(tag.name) if tag else None
            if tag is None or nets is None:
                unresolved.append(Unresolved(service, label, SERVICE_ENDPOINT))
                continue
            routes += [RouteEntry(n, SERVICE_ENDPOINT, tag=tag.name) for n in nets]
    return routes, unresolved


def user_routes(udrs: Iterable[Route], tags: ServiceTagIndex) -> tuple[list[RouteEntry], list[Unresolved]]:
    """UDRs as routes; a service-tag address prefix becomes one route per tag prefix."""
    routes: list[RouteEntry] = []
    unresolved: list[Unresolved] = []
    for udr in udrs:
        hop = next_hop_type(udr.next_hop_type)
        net = parse_prefix(udr.address_prefix)
        if net is not None:
            routes.append(RouteEntry(net, hop, USER, udr.next_hop_ip_address, udr.name))
            continue
        tag = tags.get(udr.address_prefix)
        nets = tags.prefixes(udr.address_prefix) if tag else None
        if tag is None or nets is None:
            unresolved.append(Unresolved(udr.name, udr.address_prefix, hop))
            continue
        routes += [RouteEntry(n, hop, USER, udr.next_hop_ip_address, udr.name, tag.name) for n in nets]
    return routes, unresolved


def _content(udrs: Iterable[Route]) -> tuple[tuple[str | None, ...], ...]:
    """What a list of UDRs compiles from: equal lists make equal routes."""
    return tuple((u.name, u.address_prefix, u.next_hop_type, u.next_hop_ip_address) for u in udrs)


class SubnetRoutes:
    """A subnet's effective routes, in two parts: `base`, the routes every subnet with the same
    route table and service endpoints shares (user routes, endpoint routes, Azure's default
    route), and `local`, its VNet's own (address space, peerings, reserved ranges).

    Rules ask where service tags' public prefixes go, and a VNet's own routes are mostly private:
    a question they cannot touch is answered by `base`, once for all the subnets sharing it (a
    landing zone's one route table serves hundreds). Anything else is answered by the whole set,
    built on first need."""

    __slots__ = ("_local_public", "_span", "_whole", "base", "local")

    def __init__(self, base: RouteSet, local: list[RouteEntry]) -> None:
        self.base = base
        self.local = local
        self._span = PrefixSet(r.prefix for r in local)
        self._local_public = any(not _private(r.prefix) for r in local)
        self._whole: RouteSet | None = None

    @property
    def unresolved(self) -> list[Unresolved]:
        return self.base.unresolved

    def whole(self) -> RouteSet:
        if self._whole is None:
            self._whole = self.base.extended(self.local)
        return self._whole

    def routes(self) -> list[RouteEntry]:
        return self.whole().routes()

    def public_routes(self) -> list[RouteEntry]:
        """As `RouteSet.public_routes`. With no public local route, no base route is replaced
        (a replacing route has the same prefix), so the base's list is the answer."""
        return self.whole().public_routes() if self._local_public else self.base.public_routes()

    def effective_route(self, address: Address | str) -> RouteEntry | None:
        addr = ipaddress.ip_address(address.strip() if isinstance(address, str) else address)
        inside = self._span.intersects(PrefixSet([ipaddress.ip_network(addr)]))
        return (self.whole() if inside else self.base).effective_route(addr)

    def segments(self, destination: PrefixSet) -> list[Segment]:
        """As `RouteSet.segments`: a local route holding none of the destination's addresses
        cannot be the longest match for any of them. Shared: do not change the list."""
        routes = self.whole() if self._span.intersects(destination) else self.base
        return routes.segments(destination)


class SubnetRouter:
    """Builds subnets' routes over one inventory, compiling each route table's UDRs once (a
    table on a service tag such as AzureCloud expands to thousands of routes, and many subnets
    share one table), and each (table, service endpoints) base once.

    Tables are compiled by content, not by resource: landing zones stamp the same UDRs (a default
    route to the hub's appliance) into every spoke's own table, and a route set holds nothing of
    the table it came from, so equal tables share one route set, its bases and what rules ask of
    them (`RouteSet.segments`): 1,000 such tables took NET-FORCED-TUNNEL 0.25 s (bench/README.md)."""

    def __init__(self, tags: ServiceTagIndex) -> None:
        self.tags = tags
        # By content: (a number for it, its route set); and by id: (the table, kept alive so ids
        # stay unique, with its content's number and route set).
        self._tables: dict[tuple[tuple[str | None, ...], ...], tuple[int, RouteSet]] = {}
        self._contents: dict[int, tuple[RouteTable, int, RouteSet]] = {}
        self._layers: dict[tuple[tuple[str | None, ...], ...], RouteSet] = {}  # by the tag UDRs they hold
        self._bases: dict[tuple[object, ...], RouteSet] = {}
        # The endpoint and default routes, by the endpoints they come from: shared by every base
        # that adds them to its table (`RouteSet.joined`).
        self._endpoints: dict[tuple[object, ...], RouteSet] = {}
        self._vnets: dict[int, tuple[VirtualNetwork, list[RouteEntry]]] = {}
        self._subnets: dict[tuple[int, int, int], tuple[object, SubnetRoutes]] = {}

    def release(self) -> None:
        """Forget what was built per route table, VNet and subnet, and keep the layers, which are
        keyed by content (tag UDRs, service endpoints) and which every group of VNets that
        `rules.analyze` takes up in turn shares."""
        self._contents.clear()
        self._tables.clear()
        self._bases.clear()
        self._vnets.clear()
        self._subnets.clear()

    def _table(self, route_table: RouteTable | None) -> tuple[int, RouteSet]:
        """(a number for the table's content, its routes); -1 and no routes without a table."""
        if route_table is None:
            return -1, RouteSet()
        known = self._contents.get(id(route_table))
        if known is None:
            content = _content(route_table.routes)
            compiled = self._tables.get(content)
            if compiled is None:
                compiled = self._tables[content] = (len(self._tables), self._compiled(route_table))
            known = self._contents[id(route_table)] = (route_table, *compiled)
        return known[1], known[2]

    def _compiled(self, route_table: RouteTable) -> RouteSet:
        """A table's UDRs as one route set. A UDR on a service tag is a route per tag prefix
        (hundreds for Storage, thousands for AzureCloud), and landing zones stamp the same tag
        UDRs (a Storage or AzureActiveDirectory bypass) into every spoke's table: those are compiled
        once per distinct list, as a layer each such table adds its prefix UDRs to, sharing the
        layer's routes rather than copying them (`RouteSet.extended`). A table's routes are the
        same either way: a prefix UDR outranks a tag route with its prefix in both."""
        tagged: list[Route] = []
        explicit: list[Route] = []
        for udr in route_table.routes:
            (tagged if parse_prefix(udr.address_prefix) is None else explicit).append(udr)
        if not tagged:
            return RouteSet(*user_routes(explicit, self.tags))
        key = _content(tagged)
        layer = self._layers.get(key)
        if layer is None:
            layer = self._layers[key] = RouteSet(*user_routes(tagged, self.tags))
        return layer.extended(*user_routes(explicit, self.tags))

    def _base(self, vnet: VirtualNetwork, subnet: Subnet, route_table: RouteTable | None) -> RouteSet:
        """The table's routes with the subnet's endpoint routes and the default route. Endpoint
        routes depend on the services, their locations and (when none are listed) the VNet's
        region, so those make the key with the table."""
        endpoints = (
            tuple(sorted(e.strip().lower() for e in subnet.service_endpoints)),
            tuple(
                sorted((k.lower(), tuple(sorted(v))) for k, v in subnet.service_endpoint_locations.items())
            ),
            ids.region(vnet.location) if subnet.service_endpoints else None,
        )
        content, table = self._table(route_table)
        key = (content, *endpoints)
        base = self._bases.get(key)
        if base is None:
            layer = self._endpoints.get(endpoints)
            if layer is None:
                endpoint, unresolved = service_endpoint_routes(vnet, subnet, self.tags)
                layer = self._endpoints[endpoints] = RouteSet([*endpoint, *default_routes()], unresolved)
            base = self._bases[key] = table.joined(layer)
        return base

    def _local(self, vnet: VirtualNetwork) -> list[RouteEntry]:
        cached = self._vnets.get(id(vnet))
        if cached is None:
            cached = self._vnets[id(vnet)] = (vnet, vnet_routes(vnet))  # kept alive: ids stay unique
        return cached[1]

    def routes(self, vnet: VirtualNetwork, subnet: Subnet, route_table: RouteTable | None) -> SubnetRoutes:
        """What ARM can show of a subnet's effective routes: system, peering, service endpoint
        and user-defined routes. Routes learned over BGP from on-premises are not visible."""
        key = (id(vnet), id(subnet), id(route_table))
        cached = self._subnets.get(key)
        if cached is None:
            routes = SubnetRoutes(self._base(vnet, subnet, route_table), self._local(vnet))
            cached = self._subnets[key] = ((vnet, subnet, route_table), routes)  # kept alive: ids stay unique
        return cached[1]


ROUTER_MEMO = "subnet_router"  # where `shared_router` keeps it in the analysis's memo


def shared_router(analysis: Analysis) -> SubnetRouter:
    """The analysis's one router: each route table is compiled once, and each subnet's routes
    built once, for every rule that follows routes (NET-FORCED-TUNNEL, NET-FIREWALL-FQDN,
    NET-OUTBOUND-PATH), per group of VNets those rules judge together (`rules.BY_VNET`)."""
    return memoised(analysis, ROUTER_MEMO, SubnetRouter, lambda: SubnetRouter(shared_index(analysis)))
