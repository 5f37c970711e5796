"""What the names in NSG rules stand for, seen from one subnet: prefixes, `*`, `Internet`,
`VirtualNetwork` (the VNet, its peerings, its routes, what ARM cannot show of on-premises),
service tags and application security groups; each as what it covers for certain and what it
may cover. The NSG engine (`asr_audit.net.nsg`) matches rules against these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from asr_audit import ids
from asr_audit.inventory import RouteTable, VirtualNetwork
from asr_audit.net.connectivity import connected
from asr_audit.net.prefixes import (
    EVERYWHERE,
    NOWHERE,
    VERSIONS,
    WILDCARDS,
    PrefixSet,
    lasting,
    nowhere,
    text_span,
    union,
)
from asr_audit.net.service_tags import ServiceTagIndex

# `Internet` is public address space, whatever the VNet holds: Azure expands the tag to the
# IPv4 space less private and reserved blocks (effective rules list 1.0.0.0/8, 2.0.0.0/7,
# 4.0.0.0/6, 8.0.0.0/7, 11.0.0.0/8, ...: no 0/8, no 10/8), and an on-premises range outside
# RFC 1918 counts as both VirtualNetwork and Internet (MicrosoftDocs/azure-docs#81801). For
# IPv6, global unicast. Which reserved blocks beyond these Azure leaves out is not documented;
# every Azure service prefix lies inside either way.
_NOT_INTERNET = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/3",
)
INTERNET = lasting((VERSIONS[4] - PrefixSet(_NOT_INTERNET)) | PrefixSet(["2000::/3"]))
HOST_IP = "168.63.129.16/32"  # Azure's host address: in VirtualNetwork, and what AzureLoadBalancer means


# --- what names in a rule stand for ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Match:
    """The addresses a rule field covers for certain, and those it may cover (ARM cannot tell).

    The two may overlap, and then an address in both is covered for certain: NSG evaluation takes
    the certain part out first. `VirtualNetwork` seen from a subnet whose on-premises ranges are
    unseen may cover every address; subtracting its VNet's space from that, once per subnet's
    address book, held a copy of every book's ranges (111 MiB at 100k resources)."""

    certain: PrefixSet = field(default_factory=nowhere)
    maybe: PrefixSet = field(default_factory=nowhere)
    why: str | None = None  # why `maybe` is not known

    def __or__(self, other: Match) -> Match:
        certain = self.certain | other.certain
        why = "; ".join(dict.fromkeys(w for w in (self.why, other.why) if w)) or None
        return Match(certain, (self.maybe | other.maybe) - certain, why)

    @property
    def reach(self) -> PrefixSet:
        return self.certain | self.maybe


def vnet_space(vnet: VirtualNetwork) -> PrefixSet:
    """What `VirtualNetwork` holds for every subnet of `vnet`, whatever its route table: the
    VNet's address space, its connected peerings' spaces and the host address. A hub peered with
    hundreds of spokes has as many prefixes, so callers keep this per VNet."""
    certain: list[str] = [*vnet.address_prefixes, HOST_IP]
    for peering in vnet.peerings:
        if connected(peering):
            certain += peering.remote_address_prefixes
    return PrefixSet(certain)


def routed_space(route_table: RouteTable | None, tags: ServiceTagIndex | None = None) -> Match:
    """What a route table adds to `VirtualNetwork`: its routes' prefixes for certain, and a route
    on a service tag may add the tag's prefixes (the documents do not say, so those are maybe).
    The same for every subnet using the table, so callers keep it per table."""
    routed: list[str] = []
    maybe, why = NOWHERE, []
    for route in route_table.routes if route_table else ():
        if text_span(route.address_prefix) is not None:  # a prefix (no address object needed)
            routed.append(route.address_prefix)
            continue
        tagged = tags.expand(route.address_prefix) if tags else None
        maybe |= tagged if tagged is not None else EVERYWHERE
        why.append(f"route '{route.name}' on {route.address_prefix} may put its prefixes in VirtualNetwork")
    return Match(PrefixSet(routed), maybe, "; ".join(why) or None)


def virtual_network(
    vnet: VirtualNetwork,
    route_table: RouteTable | None = None,
    tags: ServiceTagIndex | None = None,
    unseen: str | None = None,
) -> Match:
    """The `VirtualNetwork` tag seen from a subnet of `vnet`, as the service-tags overview
    defines it: the VNet's address space, connected peerings' spaces, the host address, the
    prefixes of user-defined routes, and connected on-premises spaces. ARM shows on-premises
    spaces only in part (local network gateways and BGP are not collected), so when the VNet
    reaches a gateway, or its route table was not read, every other address *may* be in it
    (`unseen` says why)."""
    return joined_virtual_network(vnet_space(vnet), routed_space(route_table, tags), unseen)


def joined_virtual_network(space: PrefixSet, routed: Match, unseen: str | None = None) -> Match:
    """`virtual_network` from its parts (`vnet_space`, `routed_space`), which callers judging
    many subnets keep per VNet and per route table."""
    certain = space | routed.certain
    maybe, why = routed.maybe, [routed.why] if routed.why else []
    if unseen:
        maybe, why = EVERYWHERE, [*why, unseen]
    return Match(certain, maybe, "; ".join(why) or None)


_VNET_NAMES = frozenset({"virtualnetwork", "virtual_network"})


class AddressBook:
    """What the names in rules stand for, seen from one subnet (cached per name).

    Only `VirtualNetwork` differs from one subnet to another: with `common` (a book of the same
    tags and ASG members), every other name and every rule side without it is resolved once
    there and shared by all the books of an analysis."""

    def __init__(
        self,
        tags: ServiceTagIndex,
        virtual_network: Match | None = None,
        asg_members: Mapping[str, PrefixSet] | None = None,
        common: AddressBook | None = None,
    ) -> None:
        self.tags = tags
        self.common = common
        self.virtual_network = virtual_network or Match()
        self.asg_members = {ids.key(k): v for k, v in (asg_members or {}).items()}
        self._names: dict[str, Match] = {}
        self._sides: dict[tuple[tuple[str, ...], tuple[str, ...]], Match] = {}

    def resolve(self, entry: str) -> Match:
        key = entry.strip().lower()
        if self.common is not None and key not in _VNET_NAMES:
            return self.common.resolve(entry)
        found = self._names.get(key)
        if found is None:
            found = self._names[key] = self._resolve(entry.strip(), key)
        return found

    def _resolve(self, text: str, key: str) -> Match:
        if key in WILDCARDS:
            return Match(EVERYWHERE)
        if text_span(text) is not None:  # a prefix: the set shares its parsed range, no address object
            return Match(PrefixSet([text]))
        if key == "internet":
            return Match(INTERNET)
        if key in ("virtualnetwork", "virtual_network"):
            return self.virtual_network
        tagged = self.tags.expand(key)
        if tagged is not None:
            return Match(tagged)
        if key in ("azureloadbalancer", "azure_loadbalancer"):
            return Match(PrefixSet([HOST_IP]))
        if not self.tags:
            return Match(maybe=EVERYWHERE, why=f"service tags were not collected, so '{text}' is unknown")
        return Match(maybe=EVERYWHERE, why=f"'{text}' is neither a prefix nor a collected service tag")

    def resolves_locally(self, prefixes: Sequence[str]) -> bool:
        """Whether a rule side with these prefixes reads this book's own `VirtualNetwork`, not
        only what every book of the analysis sees alike (`common`)."""
        return self.common is None or any(p.strip().lower() in _VNET_NAMES for p in prefixes)

    def side(self, prefixes: Sequence[str], asgs: Sequence[str], what: str) -> Match:
        """One side of a rule: its prefixes and tags, plus the addresses of its ASGs' members."""
        if not prefixes and not asgs:
            return Match(maybe=EVERYWHERE, why=f"a rule lists no {what}")
        if self.common is not None and not self.resolves_locally(prefixes):
            return self.common.side(prefixes, asgs, what)
        key = (tuple(prefixes), tuple(asgs))
        found = self._sides.get(key)
        if found is None:  # many rules name the same few tags: union them once
            members = [Match(_members(self.asg_members, asgs))] if asgs else []
            found = self._sides[key] = union([*map(self.resolve, prefixes), *members], Match())
        return found


def _members(table: Mapping[str, PrefixSet], asgs: Sequence[str]) -> PrefixSet:
    return union((table.get(ids.key(asg), NOWHERE) for asg in asgs), NOWHERE)
