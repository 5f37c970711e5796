"""What NET-OUTBOUND-PATH reads to count a NIC's or NAT gateway's public IP as a way out: the
subscription's public IP list (PublicIPAddresses_ListAll, network 2025-03-01) in its upstream shape,
paged through nextLink, and a 403 on it as a gap that leaves the subnet `unknown`, never passed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fakearm import FakeArm
from record_cassettes import scenario_request

from asr_audit.access.credential import StaticTokenCredential
from asr_audit.app import runner
from asr_audit.collect import scan
from asr_audit.collect.endpoints import SUBSCRIPTION_LISTS, subscription_list
from asr_audit.collect.fields import Malformed
from asr_audit.collect.network import parse_public_ip_address

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
EXAMPLES_SUB = "00000000-0000-0000-0000-000000000000"
BROKEN_PROD = "b7e4a1d9-2c3f-4e58-9a6b-1d0f8e7c5a32"
PIP = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/pip"
SNET = f"/subscriptions/{BROKEN_PROD}/resourceGroups/{{}}/providers/Microsoft.Network/virtualNetworks/{{}}"


def test_the_list_url_is_the_network_one() -> None:
    path, version = SUBSCRIPTION_LISTS["public_ip_addresses"]
    assert subscription_list("s", path, version) == (
        "/subscriptions/s/providers/Microsoft.Network/publicIPAddresses?api-version=2025-03-01"
    )


def test_the_upstream_example_parses_without_a_sku() -> None:
    bodies = json.loads(
        (SCENARIOS / "api-examples/resources/publicIPAddresses.json").read_text(encoding="utf-8")
    )
    first, second, _ = (parse_public_ip_address(b) for b in bodies)
    assert (first.name, first.location, first.sku_name) == ("testDNS-ip", "westus", None)
    assert first.ip_address is None  # Dynamic and not allocated
    assert (first.version, first.allocation_method) == ("IPv4", "Dynamic")
    assert (second.name, second.ip_address) == ("ip01", "40.85.154.247")


def test_the_scenario_shape_reads_sku_and_address() -> None:
    pip = parse_public_ip_address(
        {
            "id": PIP,
            "location": "eastus",
            "sku": {"name": "Basic", "tier": "Regional"},
            "properties": {
                "ipAddress": "40.76.112.9",
                "publicIPAddressVersion": "IPv4",
                "publicIPAllocationMethod": "Dynamic",
            },
        }
    )
    assert (pip.sku_name, pip.ip_address, pip.version, pip.allocation_method) == (
        "Basic",
        "40.76.112.9",
        "IPv4",
        "Dynamic",
    )


def test_optional_properties_omitted_read_as_none() -> None:
    pip = parse_public_ip_address({"id": PIP})
    assert (pip.name, pip.sku_name, pip.ip_address, pip.version, pip.allocation_method) == (
        "pip",
        None,
        None,
        None,
        None,
    )


def test_a_junk_sku_is_unreadable_never_guessed() -> None:
    with pytest.raises(Malformed):
        parse_public_ip_address({"id": PIP, "sku": "Basic"})


def test_the_list_is_followed_through_next_link(fake_arm: Callable[..., FakeArm]) -> None:
    arm = fake_arm("api-examples", page_size=1)
    request = scenario_request(arm, arm.url, concurrency=4)
    inventory = scan(request, StaticTokenCredential(arm.token))
    assert sorted(p.name for p in inventory.public_ip_addresses) == ["ip01", "ip02", "testDNS-ip"]
    listed = [r for r in arm.requests if r.path.endswith("/providers/Microsoft.Network/publicIPAddresses")]
    assert [r.path.split("/")[2] for r in listed].count(EXAMPLES_SUB) == 3  # three pages of one item
    assert all(r.query.get("api-version") == "2025-03-01" for r in listed)
    assert {c.status for c in inventory.coverage if c.kind == "public_ip_addresses"} == {"ok"}


def test_a_403_on_the_list_is_its_gap_and_the_subnets_are_unknown_not_passed(
    fake_arm: Callable[..., FakeArm],
) -> None:
    arm = fake_arm("broken")
    arm.add_fault(rf"^/subscriptions/{BROKEN_PROD}/providers/Microsoft\.Network/publicIPAddresses$", 403)
    request = scenario_request(arm, arm.url, concurrency=4)
    inventory = scan(request, StaticTokenCredential(arm.token))
    [refused] = [c for c in inventory.coverage if c.kind == "public_ip_addresses" and c.status != "ok"]
    assert (refused.subscription_id, refused.status) == (BROKEN_PROD, "forbidden")
    findings = runner.audit(inventory, cloud=request.cloud).findings
    outbound = {(f.resource_id, f.status) for f in findings if f.rule_id == "NET-OUTBOUND-PATH"}
    assert (f"/subscriptions/{BROKEN_PROD}", "unknown") in outbound
    # snet-legacy's NAT gateway holds pip-nat-legacy-eus: unread, it is no pass
    snet_legacy = SNET.format("rg-legacy-eus", "vnet-legacy-eus") + "/subnets/snet-legacy"
    assert (snet_legacy, "unknown") in outbound
