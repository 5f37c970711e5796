"""The NSG evaluator: each trap with the case that passes and the case that fails, and a brute-force
reference over random rule sets and addresses."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from builders import security_rule
from hypothesis import given, settings
from hypothesis import strategies as st

from asr_audit.inventory import (
    NetworkSecurityGroup,
    Route,
    RouteTable,
    SecurityRule,
    ServiceTag,
    VirtualNetwork,
)
from asr_audit.net.nsg import (
    INTERNET,
    AddressBook,
    Match,
    Source,
    Unread,
    Verdict,
    compile_nsg,
    decide,
    judge,
    virtual_network,
)
from asr_audit.net.prefixes import PrefixSet
from asr_audit.net.service_tags import ServiceTagIndex

STORAGE_EAST = ["20.38.1.0/24", "20.60.2.0/24", "2603:1030:10::/48"]
TAGS = ServiceTagIndex(
    [
        ServiceTag("Storage", None, "AzureStorage", ["20.38.0.0/16"]),  # lists 20.60.2.0/24 only regionally
        ServiceTag("Storage.EastUS", "eastus", "AzureStorage", STORAGE_EAST),
        ServiceTag("Storage.WestUS", "westus", "AzureStorage", ["20.61.0.0/24"]),
        ServiceTag("AzureActiveDirectory", None, "AzureAD", ["20.190.128.0/18", "40.126.0.0/18"]),
    ]
)
VNET = VirtualNetwork(
    id="/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v",
    name="v",
    location="eastus",
    address_prefixes=["10.0.0.0/16", "fd00::/48"],
)
NIC_IP = "10.0.0.4"
ASG_WEB = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/applicationSecurityGroups/asg-web"


rule = security_rule


def nsg(name: str, *rules: SecurityRule, defaults: Sequence[SecurityRule] = ()) -> NetworkSecurityGroup:
    return NetworkSecurityGroup(
        id=f"/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkSecurityGroups/{name}",
        name=name,
        location="eastus",
        security_rules=list(rules),
        default_security_rules=list(defaults),
    )


ALLOW_STORAGE = rule("allow-storage", 100, "Allow", ["Storage.EastUS"])
LATE_ALLOW_STORAGE = rule("late-allow-storage", 300, "Allow", ["Storage.EastUS"])
DENY_INTERNET = rule("deny-internet", 200, "Deny", ["Internet"], ports=["*"], protocol="*")


@dataclass
class Case:
    """One destination judged for one NIC ip configuration through a subnet NSG and a NIC NSG."""

    subnet: list[SecurityRule] | None = field(default_factory=list)  # None: no NSG on the subnet
    nic: list[SecurityRule] | None = None
    dest: str = "Storage.EastUS"
    source: str = NIC_IP
    asgs: Sequence[str] = ()
    routes: Sequence[Route] = ()
    on_premises: str | None = None
    tags: ServiceTagIndex = TAGS
    asg_members: dict[str, PrefixSet] = field(default_factory=lambda: {ASG_WEB: PrefixSet(["10.0.0.9"])})

    def run(self) -> Verdict:
        table = RouteTable("/rt", "rt", "eastus", list(self.routes)) if self.routes else None
        book = AddressBook(
            self.tags, virtual_network(VNET, table, self.tags, self.on_premises), self.asg_members
        )
        nsgs = [
            compile_nsg(nsg(name, *rules), book)
            for name, rules in (("nic-nsg", self.nic), ("subnet-nsg", self.subnet))
            if rules is not None
        ]
        source = Source(self.source, PrefixSet([self.source]), frozenset(a.lower() for a in self.asgs))
        prefixes = self.tags.expand(self.dest)
        assert prefixes is not None
        return judge({self.dest: prefixes}, nsgs, [source])[self.dest]


def blockers(verdict: Verdict) -> set[str]:
    return {f"{ref.nsg}/{ref.name}" for ref, _ in verdict.blocked_by}


def networks(prefixes: PrefixSet) -> list[str]:
    return [str(n) for n in prefixes.networks()]


# --- each trap: the case that passes and the case that fails ----------------------------------------

PASSES: list[Any] = [
    pytest.param(Case([ALLOW_STORAGE, DENY_INTERNET]), id="allow-before-deny"),
    pytest.param(Case([DENY_INTERNET, ALLOW_STORAGE]), id="listed-order-is-not-priority-order"),
    pytest.param(
        Case([rule("a", 100, "Allow", ["Storage.EastUS"], ports=["80", "443"]), DENY_INTERNET]),
        id="plural-ports",
    ),
    pytest.param(
        Case([rule("a", 100, "Allow", ["Storage.EastUS"], ports=["400-500"]), DENY_INTERNET]), id="port-range"
    ),
    pytest.param(
        Case([rule("a", 100, "Allow", ["Storage.EastUS"], ports=["*"]), DENY_INTERNET]), id="any-port"
    ),
    pytest.param(
        Case([rule("a", 100, "Allow", ["AzureActiveDirectory", "Storage.EastUS"]), DENY_INTERNET]),
        id="plural-prefixes",
    ),
    pytest.param(
        Case([rule("a", 100, "Allow", ["Storage"]), DENY_INTERNET]), id="top-level-tag-covers-regional"
    ),
    pytest.param(Case([rule("a", 100, "Allow", ["storage.eastus"]), DENY_INTERNET]), id="tag-name-case"),
    pytest.param(
        Case([rule("a", 100, "Allow", STORAGE_EAST), DENY_INTERNET]), id="cidrs-covering-every-prefix"
    ),
    pytest.param(Case([rule("a", 100, "Allow", ["20.0.0.0/8", "::/0"]), DENY_INTERNET]), id="wider-cidrs"),
    pytest.param(Case([rule("a", 100, "Allow", ["*"]), DENY_INTERNET]), id="star-destination"),
    pytest.param(Case([rule("a", 100, "Allow", ["0.0.0.0/0"]), DENY_INTERNET]), id="default-route-prefix"),
    pytest.param(
        Case(
            [
                rule("d", 100, "Deny", ports=["*"], dest_asgs=[ASG_WEB]),
                rule("a", 200, "Allow", ["Storage.EastUS"]),
            ]
        ),
        id="asg-destination-never-matches-a-service-tag",
    ),
    pytest.param(
        Case([rule("d", 100, "Deny", ["*"], source=[], source_asgs=[ASG_WEB])]),
        id="source-asg-nic-not-a-member",
    ),
    pytest.param(Case([]), id="default-allow-internet-outbound"),
    pytest.param(Case(None, nic=None), id="no-nsg-at-all"),
    pytest.param(Case([ALLOW_STORAGE, DENY_INTERNET], nic=[]), id="nic-and-subnet-both-allow"),
    pytest.param(Case([rule("d", 100, "Deny", ["Internet"], protocol="Udp")]), id="udp-rule-does-not-match"),
    pytest.param(
        Case([rule("d", 100, "Deny", ["Internet"], protocol="Icmp")]), id="icmp-rule-does-not-match"
    ),
    pytest.param(Case([rule("d", 100, "Deny", ["::/0"], ports=["*"])]), id="ipv6-deny-spares-an-ipv4-nic"),
    pytest.param(Case([rule("d", 100, "Deny", ["*"], source=["10.0.1.0/24"])]), id="source-cidr-not-the-nic"),
    pytest.param(
        Case([rule("d", 100, "Deny", ["Internet"], direction="Inbound")]), id="inbound-rule-ignored"
    ),
    pytest.param(
        Case([rule("d", 100, "Deny", ["VirtualNetwork"], ports=["*"])]), id="deny-vnet-not-a-public-tag"
    ),
    pytest.param(
        Case(
            [rule("a", 100, "Allow", ["VirtualNetwork"]), DENY_INTERNET],
            routes=[Route("f", "0.0.0.0/0", "VirtualAppliance")],
        ),
        id="udr-prefixes-join-virtualnetwork",
    ),
]

FAILS: list[Any] = [
    pytest.param(
        Case([DENY_INTERNET, rule("a", 300, "Allow", ["Storage.EastUS"])]),
        "subnet-nsg/deny-internet",
        id="deny-first",
    ),
    pytest.param(
        Case(
            [
                rule("a", 200, "Allow", ["Storage.EastUS"]),
                rule("d", 150, "Deny", ["20.0.0.0/8"], ports=["443"]),
            ]
        ),
        "subnet-nsg/d",
        id="deny-lower-number-listed-after-allow",
    ),
    pytest.param(
        Case([rule("a", 100, "Allow", ["Storage.EastUS"], ports=["80", "8443"]), DENY_INTERNET]),
        "subnet-nsg/deny-internet",
        id="plural-ports-without-443",
    ),
    pytest.param(
        Case([rule("a", 100, "Allow", ["Storage.EastUS"], ports=["444-500"]), DENY_INTERNET]),
        "subnet-nsg/deny-internet",
        id="range-just-above",
    ),
    pytest.param(
        Case([rule("a", 100, "Allow", ["AzureActiveDirectory", "Storage.WestUS"]), DENY_INTERNET]),
        "subnet-nsg/deny-internet",
        id="plural-prefixes-wrong-region",
    ),
    pytest.param(
        Case([rule("a", 100, "Allow", ["Storage.WestUS"]), DENY_INTERNET]),
        "subnet-nsg/deny-internet",
        id="regional-tag-other-region",
    ),
    pytest.param(
        Case([rule("d", 100, "Deny", ["*"], source=[], source_asgs=[ASG_WEB])], asgs=[ASG_WEB]),
        "subnet-nsg/d",
        id="source-asg-nic-is-a-member",
    ),
    pytest.param(
        Case([rule("custom-deny-all", 4096, "Deny", ["*"], ports=["*"], protocol="*")]),
        "subnet-nsg/custom-deny-all",
        id="custom-deny-all-before-default-allow",
    ),
    pytest.param(
        Case([ALLOW_STORAGE, DENY_INTERNET], nic=[DENY_INTERNET]),
        "nic-nsg/deny-internet",
        id="nic-nsg-alone-blocks",
    ),
    pytest.param(
        Case([DENY_INTERNET], nic=[ALLOW_STORAGE]), "subnet-nsg/deny-internet", id="subnet-nsg-alone-blocks"
    ),
    pytest.param(
        Case([rule("d", 100, "Deny", ["Internet"], protocol="Tcp")]), "subnet-nsg/d", id="tcp-rule-matches"
    ),
    pytest.param(
        Case([rule("d", 100, "Deny", ["Internet"], protocol="*")]), "subnet-nsg/d", id="any-protocol-matches"
    ),
    pytest.param(
        Case([rule("d", 100, "Deny", ["*"], source=["10.0.0.0/24"])]),
        "subnet-nsg/d",
        id="source-cidr-holds-the-nic",
    ),
    pytest.param(
        Case([rule("d", 100, "Deny", ["*"], source=["VirtualNetwork"])]),
        "subnet-nsg/d",
        id="source-virtualnetwork",
    ),
    pytest.param(
        Case([rule("a", 100, "Allow", ["VirtualNetwork"]), DENY_INTERNET]),
        "subnet-nsg/deny-internet",
        id="virtualnetwork-is-not-public-space",
    ),
]


@pytest.mark.parametrize("case", PASSES)
def test_allowed(case: Case) -> None:
    verdict = case.run()
    assert verdict.status == "allowed", verdict.to_json()
    assert not verdict.blocked and not verdict.unknown


@pytest.mark.parametrize(("case", "blocker"), FAILS)
def test_blocked_names_the_rule_that_decides(case: Case, blocker: str) -> None:
    verdict = case.run()
    assert verdict.status == "blocked", verdict.to_json()
    assert blockers(verdict) == {blocker}
    assert verdict.blocked == PrefixSet(STORAGE_EAST[:2])  # an IPv4 NIC: the IPv6 prefix is not judged


def test_names_nsg_rule_and_priority_in_evidence() -> None:
    verdict = Case([DENY_INTERNET]).run()
    [entry] = verdict.to_json()["blocked_by"]
    assert (entry["nsg"], entry["rule"], entry["priority"], entry["access"]) == (
        "subnet-nsg",
        "deny-internet",
        200,
        "Deny",
    )
    assert entry["source"] == NIC_IP and entry["prefixes"] == ["20.38.1.0/24", "20.60.2.0/24"]


# --- partial coverage: prefixes refined against rule prefixes -------------------------------------


def test_cidrs_covering_part_of_the_tag_give_a_partial_verdict_with_the_rest_blocked() -> None:
    verdict = Case([rule("a", 100, "Allow", ["20.38.1.0/24"]), DENY_INTERNET]).run()
    assert verdict.status == "partial"
    assert networks(verdict.blocked) == ["20.60.2.0/24"]
    assert blockers(verdict) == {"subnet-nsg/deny-internet"}


def test_a_rule_covering_half_a_prefix_splits_it() -> None:
    verdict = Case([rule("d", 100, "Deny", ["20.60.2.128/25"]), LATE_ALLOW_STORAGE]).run()
    assert verdict.status == "partial"
    assert networks(verdict.blocked) == ["20.60.2.128/25"]


def test_a_deny_covering_the_whole_tag_in_pieces_is_a_full_block() -> None:
    pieces = ["20.38.1.0/25", "20.38.1.128/25", "20.60.2.0/24"]
    assert Case([rule("d", 100, "Deny", pieces), LATE_ALLOW_STORAGE]).run().status == "blocked"
    assert Case([rule("d", 100, "Deny", pieces[1:]), LATE_ALLOW_STORAGE]).run().status == "partial"


def test_the_decisions_of_one_nsg_partition_the_destination() -> None:
    book = AddressBook(TAGS, virtual_network(VNET))
    deny_half = rule("d", 90, "Deny", ["20.60.2.128/25"])
    compiled = compile_nsg(nsg("n", DENY_INTERNET, ALLOW_STORAGE, deny_half), book)
    source = Source(NIC_IP, PrefixSet([NIC_IP]))
    dest = PrefixSet(["20.38.0.0/15", "20.60.2.0/24"])
    decisions = decide(compiled, source, dest)
    assert [(networks(d.prefixes), d.rule.name) for d in decisions] == [
        (["20.60.2.128/25"], "d"),
        (["20.38.1.0/24", "20.60.2.0/25"], "allow-storage"),
        (
            [
                "20.38.0.0/24",
                "20.38.2.0/23",
                "20.38.4.0/22",
                "20.38.8.0/21",
                "20.38.16.0/20",
                "20.38.32.0/19",
                "20.38.64.0/18",
                "20.38.128.0/17",
                "20.39.0.0/16",
            ],
            "deny-internet",
        ),
    ]


# --- IPv6 --------------------------------------------------------------------------------------


def test_an_ipv6_source_judges_the_ipv6_prefixes_of_the_tag() -> None:
    deny6 = rule("d6", 100, "Deny", ["::/0"], ports=["*"])
    verdict = Case([deny6, LATE_ALLOW_STORAGE], source="fd00::4").run()
    assert verdict.status == "blocked"
    assert networks(verdict.blocked) == ["2603:1030:10::/48"]
    assert networks(Case([ALLOW_STORAGE], source="fd00::4").run().judged) == ["2603:1030:10::/48"]


def test_a_dual_stack_nic_is_judged_per_ip_configuration() -> None:
    book = AddressBook(TAGS, virtual_network(VNET))
    deny6 = compile_nsg(nsg("n", rule("d6", 100, "Deny", ["2603::/16"], ports=["*"])), book)
    sources = [Source(NIC_IP, PrefixSet([NIC_IP])), Source("fd00::4", PrefixSet(["fd00::4"]))]
    verdict = judge({"Storage.EastUS": TAGS.expand("Storage.EastUS")}, [deny6], sources)["Storage.EastUS"]
    assert verdict.status == "partial"
    assert [(ref.name, src) for ref, src in verdict.blocked_by] == [("d6", "fd00::4")]
    assert networks(verdict.judged) == ["20.38.1.0/24", "20.60.2.0/24", "2603:1030:10::/48"]


# --- defaults --------------------------------------------------------------------------------------


def test_collected_defaults_replace_the_built_in_ones() -> None:
    # an NSG body whose outbound defaults were collected: they are used as given
    odd = [rule("DenyAllOutBound", 65500, "Deny", ["*"], ports=["*"], protocol="*")]
    book = AddressBook(TAGS, virtual_network(VNET))
    compiled = compile_nsg(nsg("n", defaults=odd), book)
    assert [r.ref.name for r in compiled.rules] == ["DenyAllOutBound"]
    built_in = compile_nsg(
        nsg("n", defaults=[rule("AllowVnetInBound", 65000, "Allow", ["*"], direction="Inbound")]), book
    )
    assert [r.ref.name for r in built_in.rules] == [
        "AllowVnetOutBound",
        "AllowInternetOutBound",
        "DenyAllOutBound",
    ]


def test_internet_is_public_space_and_excludes_private_ranges() -> None:
    assert INTERNET.contains(["1.0.0.0/8", "11.0.0.0/8", "20.38.0.0/16", "2603:1030::/32"])
    assert not INTERNET.intersects(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "0.0.0.0/8", "fd00::/8"])


# --- what ARM cannot show ---------------------------------------------------------------------------


def test_an_uncollected_tag_in_an_earlier_allow_makes_the_verdict_unknown() -> None:
    verdict = Case([rule("a", 100, "Allow", ["AzureFrontDoor.Backend"]), DENY_INTERNET]).run()
    assert verdict.status == "unknown"
    assert verdict.unknown == PrefixSet(STORAGE_EAST[:2])
    assert any("AzureFrontDoor.Backend" in r for r in verdict.reasons)


def test_an_uncollected_tag_with_the_same_access_as_the_decision_changes_nothing() -> None:
    assert Case([rule("d", 100, "Deny", ["AzureFrontDoor.Backend"]), DENY_INTERNET]).run().status == "blocked"
    assert Case([ALLOW_STORAGE, rule("d", 150, "Deny", ["AzureFrontDoor.Backend"])]).run().status == "allowed"


def test_on_premises_ranges_leave_virtualnetwork_rules_undecidable_only_where_they_decide() -> None:
    gateway = "the VNet reaches a gateway"
    deny_vnet = rule("d", 100, "Deny", ["VirtualNetwork"], ports=["*"])
    verdict = Case([deny_vnet, LATE_ALLOW_STORAGE], on_premises=gateway).run()
    assert verdict.status == "unknown" and gateway in verdict.reasons[0]
    assert (
        Case([deny_vnet, LATE_ALLOW_STORAGE]).run().status == "allowed"
    )  # no gateway: VirtualNetwork is known
    assert Case([], on_premises=gateway).run().status == "allowed"  # AllowVnet then AllowInternet: both allow


def test_a_service_tag_route_may_put_its_prefixes_in_virtualnetwork() -> None:
    case = Case(
        [rule("a", 100, "Allow", ["VirtualNetwork"]), DENY_INTERNET],
        routes=[Route("storage", "Storage.EastUS", "Internet")],
    )
    verdict = case.run()
    assert verdict.status == "unknown" and "route 'storage'" in verdict.reasons[0]


def test_an_unread_nsg_is_unknown_unless_the_other_nsg_blocks() -> None:
    book = AddressBook(TAGS, virtual_network(VNET))
    unread = Unread("/x/nsg", "NSG 'nsg' is in subscription x, which was not scanned")
    source = Source(NIC_IP, PrefixSet([NIC_IP]))
    dest = {"Storage.EastUS": TAGS.expand("Storage.EastUS")}
    allowing = compile_nsg(nsg("n", ALLOW_STORAGE), book)
    blocking = compile_nsg(nsg("n", DENY_INTERNET), book)
    unknown = judge(dest, [unread, allowing], [source])["Storage.EastUS"]
    assert (unknown.status, unknown.reasons) == ("unknown", [unread.reason])
    assert judge(dest, [unread, blocking], [source])["Storage.EastUS"].status == "blocked"


@pytest.mark.parametrize(
    ("ports", "status"), [(["junk"], "unknown"), ([], "unknown"), (["junk", "443"], "allowed")]
)
def test_unreadable_ports_are_undecidable(ports: list[str], status: str) -> None:
    assert (
        Case([rule("a", 100, "Allow", ["Storage.EastUS"], ports=ports), DENY_INTERNET]).run().status == status
    )


def test_a_rule_with_an_unknown_access_is_undecidable_not_an_allow() -> None:
    odd = rule("odd", 100, "Block", ["Storage.EastUS"])
    assert Case([odd, LATE_ALLOW_STORAGE]).run().status == "unknown"
    assert Case([odd, DENY_INTERNET]).run().status == "blocked"


def test_a_subnet_wide_source_is_split_where_a_rule_covers_part_of_it() -> None:
    book = AddressBook(TAGS, virtual_network(VNET))
    compiled = compile_nsg(nsg("n", rule("d", 100, "Deny", ["*"], source=["10.0.0.0/25"])), book)
    subnet = Source("any address in 10.0.0.0/24", PrefixSet(["10.0.0.0/24"]))
    verdict = judge({"AzureActiveDirectory": TAGS.expand("AzureActiveDirectory")}, [compiled], [subnet])
    [(ref, source)] = verdict["AzureActiveDirectory"].blocked_by
    assert (ref.name, source) == ("d", "10.0.0.0/25")
    assert verdict["AzureActiveDirectory"].status == "blocked"


def test_several_destinations_are_judged_in_one_pass() -> None:
    book = AddressBook(TAGS, virtual_network(VNET))
    compiled = compile_nsg(nsg("n", rule("a", 100, "Allow", ["AzureActiveDirectory"]), DENY_INTERNET), book)
    dests = {name: TAGS.expand(name) for name in ("Storage.EastUS", "AzureActiveDirectory")}
    found = judge(dests, [compiled], [Source(NIC_IP, PrefixSet([NIC_IP]))])
    assert {name: v.status for name, v in found.items()} == {
        "Storage.EastUS": "blocked",
        "AzureActiveDirectory": "allowed",
    }


def test_match_union_keeps_certain_and_maybe_apart() -> None:
    merged = Match(PrefixSet(["10.0.0.0/24"])) | Match(maybe=PrefixSet(["10.0.0.0/23"]), why="w")
    assert networks(merged.certain) == ["10.0.0.0/24"] and networks(merged.maybe) == ["10.0.1.0/24"]
    assert merged.why == "w"


# --- brute force reference ----------------------------------------------------------------------------

UNIVERSE = ipaddress.ip_network("20.0.0.0/24")  # small enough to hit edges, public (Internet)
PRIVATE = ipaddress.ip_network("10.0.0.0/24")
REF_VNET = ipaddress.ip_network("10.0.0.0/26")  # VirtualNetwork: part of the private sample space
REF_TAGS = {
    "TagA": ["20.0.0.0/26", "20.0.0.96/27"],
    "TagA.Region1": ["20.0.0.64/28"],
    "TagB": ["20.0.0.128/25", "10.0.0.0/25"],
}
REF_INDEX = ServiceTagIndex(
    [
        ServiceTag(name, "region1" if "." in name else None, None, prefixes)
        for name, prefixes in REF_TAGS.items()
    ]
)


def _in_entry(addr: ipaddress.IPv4Address, entry: str) -> bool:
    """Membership the slow, obvious way."""
    if entry == "*":
        return True
    if entry == "Internet":
        return not addr.is_private
    if entry == "VirtualNetwork":
        return addr in REF_VNET
    if entry in REF_TAGS:
        listed = REF_TAGS[entry] + [p for n, ps in REF_TAGS.items() if n.startswith(entry + ".") for p in ps]
        return any(addr in ipaddress.ip_network(p) for p in listed)
    return addr in ipaddress.ip_network(entry)


def _port_ok(spec: str, port: int) -> bool:
    if spec == "*":
        return True
    low, _, high = spec.partition("-")
    return int(low) <= port <= int(high or low)


def reference(rules: list[SecurityRule], addr: ipaddress.IPv4Address, port: int = 443) -> str:
    """First match in priority order; then Azure's defaults (VirtualNetwork is REF_VNET here)."""
    for r in sorted(rules, key=lambda r: r.priority):
        if r.protocol not in ("*", "Tcp"):
            continue
        if not any(_port_ok(p, port) for p in r.destination_port_ranges):
            continue
        if any(_in_entry(addr, e) for e in r.destination_address_prefixes):
            return r.access
    return "Allow" if addr in REF_VNET or _in_entry(addr, "Internet") else "Deny"


_cidr = st.builds(
    lambda base, offset, length: str(ipaddress.ip_network((base + offset, length), strict=False)),
    st.sampled_from([int(UNIVERSE.network_address), int(PRIVATE.network_address)]),
    st.integers(0, 255),
    st.integers(24, 30),
)
_entry = st.one_of(
    _cidr, st.sampled_from(["*", "Internet", "VirtualNetwork", "TagA", "TagA.Region1", "TagB"])
)
_rule = st.builds(
    lambda i, access, protocol, ports, dest: rule(
        f"r{i}", 100 + i, access, dest, ports=ports, protocol=protocol
    ),
    st.integers(0, 3000),
    st.sampled_from(["Allow", "Deny"]),
    st.sampled_from(["Tcp", "Udp", "*"]),
    st.lists(st.sampled_from(["443", "80", "*", "400-500", "444-450"]), min_size=1, max_size=2),
    st.lists(_entry, min_size=1, max_size=3),
)
_rules = st.lists(_rule, max_size=8, unique_by=lambda r: r.priority)


def _samples(prefixes: PrefixSet, pick: int) -> list[ipaddress.IPv4Address]:
    out = []
    for net in prefixes.networks():
        out += [net.network_address, net.broadcast_address, net.network_address + pick % net.num_addresses]
    return out


@settings(max_examples=200, deadline=None)
@given(_rules, _rules, st.lists(_cidr, min_size=1, max_size=4), st.integers(0, 2**16))
def test_verdicts_match_a_brute_force_reference(
    subnet_rules: list[SecurityRule], nic_rules: list[SecurityRule], dest: list[str], pick: int
) -> None:
    book = AddressBook(REF_INDEX, Match(PrefixSet([str(REF_VNET)])))
    subnet = compile_nsg(nsg("subnet", *subnet_rules), book)
    nic = compile_nsg(nsg("nic", *nic_rules), book)
    source = Source("10.0.0.4", PrefixSet(["10.0.0.4"]))  # in VirtualNetwork, as a NIC is
    destination = PrefixSet(dest)
    for compiled, rules in ((subnet, subnet_rules), (nic, nic_rules)):
        decisions = decide(compiled, source, destination)
        covered = PrefixSet()
        for d in decisions:
            assert not d.doubts
            covered |= d.prefixes
            for addr in _samples(d.prefixes, pick):
                assert reference(rules, addr) == d.access, (str(addr), d.rule)
        assert covered == destination
    verdict = judge({"d": destination}, [nic, subnet], [source])["d"]
    for net in destination.networks():
        for addr in (
            net.network_address,
            net.broadcast_address,
            net.network_address + pick % net.num_addresses,
        ):
            allowed = reference(subnet_rules, addr) == "Allow" and reference(nic_rules, addr) == "Allow"
            assert verdict.blocked.contains(f"{addr}/32") == (not allowed), str(addr)
    assert not verdict.unknown


# /31 blocks two addresses apart: they never merge, so the large side keeps 40+ ranges
_block = st.builds(
    lambda i: ipaddress.ip_network((int(UNIVERSE.network_address) + 4 * i, 31)), st.integers(0, 63)
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_block, min_size=40, max_size=64, unique=True), st.lists(_cidr, min_size=1, max_size=2))
def test_a_large_rule_set_against_a_small_destination_is_exact(large: list, small: list[str]) -> None:
    """A tag rule holds thousands of ranges and the destination left a few: the set algebra then
    searches instead of walking, and must give the same addresses."""
    big, few = PrefixSet(large), PrefixSet(small)

    def addresses(s: PrefixSet) -> set[int]:
        return {int(a) for n in s.networks() for a in n}

    assert addresses(few & big) == addresses(few) & addresses(big)
    assert addresses(big & few) == addresses(few) & addresses(big)
    assert addresses(few - big) == addresses(few) - addresses(big)


@settings(max_examples=200, deadline=None)
@given(
    _rules,
    st.lists(_cidr, max_size=3),
    st.lists(_cidr, max_size=2),
    st.lists(_cidr, min_size=1, max_size=4),
    st.sampled_from(["10.0.0.4", "10.0.0.0/24", "20.0.0.0/25"]),
)
def test_virtualnetwork_that_may_cover_its_own_space_judges_as_if_it_did_not(
    rules: list[SecurityRule], certain: list[str], maybe: list[str], dest: list[str], sender: str
) -> None:
    """A book's VirtualNetwork may hold its certain space in `maybe` too (every address, when
    on-premises ranges are unseen, without a copy per book minus its space): an address in both
    is certain, so every verdict must be that of the disjoint form."""
    vnet_rules = [
        rule("vnet", 150, "Deny", ["VirtualNetwork"]),
        rule("from-vnet", 160, "Allow", ["*"], source=["VirtualNetwork"]),
    ]
    overlapping = Match(PrefixSet(certain), PrefixSet(maybe) | PrefixSet(certain), "on-premises unseen")
    disjoint = Match(overlapping.certain, overlapping.maybe - overlapping.certain, overlapping.why)
    source = Source(sender, PrefixSet([sender]))
    verdicts = [
        judge(
            {"d": PrefixSet(dest)},
            [compile_nsg(nsg("n", *rules, *vnet_rules), AddressBook(REF_INDEX, vnet))],
            [source],
        )["d"].to_json()
        for vnet in (overlapping, disjoint)
    ]
    assert verdicts[0] == verdicts[1]
