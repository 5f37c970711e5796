"""What NET-OUTBOUND-PATH reads to count a subnet's NAT gateway as a way out: the subscription's
NAT gateway list (NatGateways_ListAll, network 2025-03-01) in its upstream shape, paged through
nextLink, and a 403 on it as a gap that leaves the subnet `unknown`, never passed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fakearm import FakeArm
from record_cassettes import scenario_request

from asr_audit.access.credential import StaticTokenCredential
from asr_audit.app import runner
from asr_audit.collect import scan
from asr_audit.collect.endpoints import SUBSCRIPTION_LISTS, subscription_list
from asr_audit.collect.fields import Malformed
from asr_audit.collect.network import parse_nat_gateway

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
EXAMPLES_SUB = "00000000-0000-0000-0000-000000000000"
BROKEN_PROD = "b7e4a1d9-2c3f-4e58-9a6b-1d0f8e7c5a32"
NAT = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/natGateways/nat"
SNET_LEGACY = (
    f"/subscriptions/{BROKEN_PROD}/resourceGroups/rg-legacy-eus/providers/Microsoft.Network/"
    "virtualNetworks/vnet-legacy-eus/subnets/snet-legacy"
)


def test_the_list_url_is_the_network_one() -> None:
    path, version = SUBSCRIPTION_LISTS["nat_gateways"]
    assert subscription_list("s", path, version) == (
        "/subscriptions/s/providers/Microsoft.Network/natGateways?api-version=2025-03-01"
    )


def test_the_upstream_example_parses() -> None:
    bodies = json.loads((SCENARIOS / "api-examples/resources/natGateways.json").read_text(encoding="utf-8"))
    first, _, v2 = (parse_nat_gateway(b) for b in bodies)
    prefix = f"/subscriptions/{EXAMPLES_SUB}/resourceGroups/rg1/providers/Microsoft.Network"
    assert (first.name, first.location, first.sku_name, first.public_ipv6_ids) == (
        "test-natGateway",
        "westus",
        "Standard",
        [],
    )
    assert first.public_ip_ids == [
        f"{prefix}/publicIPAddresses/PublicIpAddress1",
        f"{prefix}/publicIPPrefixes/PublicIpPrefix1",
    ]
    assert v2.sku_name == "StandardV2"
    assert [i.rsplit("/", 1)[-1] for i in v2.public_ipv6_ids] == ["PublicIpAddress2", "PublicIpPrefix2"]


def test_optional_properties_omitted_read_as_no_public_ip() -> None:
    nat = parse_nat_gateway({"id": NAT})
    assert (nat.name, nat.location, nat.sku_name, nat.public_ip_ids, nat.public_ipv6_ids) == (
        "nat",
        "",
        None,
        [],
        [],
    )


@pytest.mark.parametrize(
    "properties",
    [
        {"publicIpAddresses": [{}]},  # a reference without an id: read as "none", a false alarm
        {"publicIpPrefixes": "pip"},
        {"publicIpAddressesV6": ["pip"]},
    ],
    ids=["reference-without-id", "junk-list", "junk-reference"],
)
def test_a_junk_public_ip_reference_is_unreadable_never_none(properties: dict[str, Any]) -> None:
    with pytest.raises(Malformed):
        parse_nat_gateway({"id": NAT, "properties": properties})


def test_the_list_is_followed_through_next_link(fake_arm: Callable[..., FakeArm]) -> None:
    arm = fake_arm("api-examples", page_size=1)
    request = scenario_request(arm, arm.url, concurrency=4)
    inventory = scan(request, StaticTokenCredential(arm.token))
    assert sorted(n.name for n in inventory.nat_gateways) == [
        "test-natGateway",
        "test-natGateway2",
        "test-natGateway3",
    ]
    listed = [r for r in arm.requests if r.path.endswith("/providers/Microsoft.Network/natGateways")]
    assert [r.path.split("/")[2] for r in listed].count(EXAMPLES_SUB) == 3  # three pages of one item
    assert all(r.query.get("api-version") == "2025-03-01" for r in listed)
    assert {c.status for c in inventory.coverage if c.kind == "nat_gateways"} == {"ok"}


def test_a_403_on_the_list_is_its_gap_and_the_subnet_is_unknown_not_passed(
    fake_arm: Callable[..., FakeArm],
) -> None:
    arm = fake_arm("broken")
    arm.add_fault(rf"^/subscriptions/{BROKEN_PROD}/providers/Microsoft\.Network/natGateways$", 403)
    request = scenario_request(arm, arm.url, concurrency=4)
    inventory = scan(request, StaticTokenCredential(arm.token))
    [refused] = [c for c in inventory.coverage if c.kind == "nat_gateways" and c.status != "ok"]
    assert (refused.subscription_id, refused.status) == (BROKEN_PROD, "forbidden")
    findings = runner.audit(inventory, cloud=request.cloud).findings
    outbound = {(f.resource_id, f.status) for f in findings if f.rule_id == "NET-OUTBOUND-PATH"}
    assert (f"/subscriptions/{BROKEN_PROD}", "unknown") in outbound
    # snet-legacy's NAT gateway holds a public IP, but unread it is no pass: its VPN gateway may
    # advertise a default route, so the subnet itself is unknown
    assert (SNET_LEGACY, "unknown") in outbound
