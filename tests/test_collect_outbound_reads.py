"""What NET-OUTBOUND-PATH reads: the subnet's outbound fields, the NIC's public IP and load balancer
pools (both in bodies the scan already lists), the new load balancer list, and a 403 on it."""

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
from asr_audit.collect.fields import Malformed
from asr_audit.collect.network import parse_load_balancer, parse_network_interface, parse_virtual_network

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
BROKEN_PROD = "b7e4a1d9-2c3f-4e58-9a6b-1d0f8e7c5a32"
VNET = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v"
NIC = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/n"
LB = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/lb"


def vnet_with(subnet: dict[str, Any]) -> dict[str, Any]:
    return {"id": VNET, "properties": {"subnets": [{"name": "a", "properties": subnet}]}}


def test_subnet_outbound_fields_and_their_absence() -> None:
    nat = {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/natGateways/nat"}
    [private] = parse_virtual_network(vnet_with({"defaultOutboundAccess": False, "natGateway": nat})).subnets
    assert (private.default_outbound_access, private.nat_gateway_id) == (False, nat["id"])
    [omitted] = parse_virtual_network(vnet_with({})).subnets
    assert (omitted.default_outbound_access, omitted.nat_gateway_id) == (None, None)


@pytest.mark.parametrize("junk", [{"defaultOutboundAccess": "no"}, {"natGateway": "nat"}])
def test_junk_in_a_subnet_outbound_field_is_unreadable_never_allowed(junk: dict[str, Any]) -> None:
    with pytest.raises(Malformed):
        parse_virtual_network(vnet_with(junk))


def test_nic_public_ip_and_load_balancer_pools() -> None:
    pip = {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/p"}
    pools = [{"id": f"{LB}/backendAddressPools/a"}, {"id": f"{LB}/backendAddressPools/b"}]
    config = {"name": "c", "properties": {"publicIPAddress": pip, "loadBalancerBackendAddressPools": pools}}
    [ipc] = parse_network_interface(
        {"id": NIC, "properties": {"ipConfigurations": [config]}}
    ).ip_configurations
    assert ipc.public_ip_address_id == pip["id"]
    assert ipc.load_balancer_backend_address_pool_ids == [p["id"] for p in pools]


def test_the_upstream_load_balancer_example_parses() -> None:
    bodies = json.loads((SCENARIOS / "api-examples/resources/loadBalancers.json").read_text(encoding="utf-8"))
    lb, empty = (parse_load_balancer(b) for b in bodies)
    assert (lb.sku_name, lb.public_frontend_ids, lb.outbound_rule_pool_ids) == ("Basic", [], [])
    assert [r.backend_address_pool_ids for r in lb.load_balancing_rules] == [lb.backend_address_pool_ids]
    assert (empty.backend_address_pool_ids, empty.load_balancing_rules) == ([], [])


def test_outbound_rules_public_frontends_and_plural_rule_pools() -> None:
    fe = f"{LB}/frontendIPConfigurations/fe"
    body = {
        "id": LB,
        "sku": {"name": "Standard"},
        "properties": {
            "frontendIPConfigurations": [
                {"id": fe, "properties": {"publicIPAddress": {"id": "pip"}}},
                {"id": f"{LB}/frontendIPConfigurations/internal", "properties": {"subnet": {"id": "s"}}},
            ],
            "backendAddressPools": [{"id": f"{LB}/backendAddressPools/a"}],
            "outboundRules": [{"properties": {"backendAddressPool": {"id": f"{LB}/backendAddressPools/a"}}}],
            "loadBalancingRules": [
                {
                    "properties": {
                        "frontendIPConfiguration": {"id": fe},
                        "backendAddressPools": [{"id": f"{LB}/backendAddressPools/a"}, {"id": "b"}],
                        "disableOutboundSnat": True,
                    }
                }
            ],
        },
    }
    lb = parse_load_balancer(body)
    assert (lb.public_frontend_ids, lb.outbound_rule_pool_ids) == ([fe], [f"{LB}/backendAddressPools/a"])
    [rule] = lb.load_balancing_rules
    assert (rule.backend_address_pool_ids, rule.disable_outbound_snat) == (
        [f"{LB}/backendAddressPools/a", "b"],
        True,
    )
    with pytest.raises(Malformed):
        parse_load_balancer({"id": LB, "properties": {"outboundRules": "all"}})


def test_a_403_on_the_load_balancer_list_is_its_gap_and_the_rule_says_unknown(
    fake_arm: Callable[..., FakeArm],
) -> None:
    arm = fake_arm("broken")
    arm.add_fault(rf"^/subscriptions/{BROKEN_PROD}/providers/Microsoft\.Network/loadBalancers$", 403)
    request = scenario_request(arm, arm.url, concurrency=4)
    inventory = scan(request, StaticTokenCredential(arm.token))
    [refused] = [c for c in inventory.coverage if c.kind == "load_balancers" and c.status != "ok"]
    assert (refused.subscription_id, refused.status) == (BROKEN_PROD, "forbidden")
    findings = runner.audit(inventory, cloud=request.cloud).findings
    outbound = {(f.status, f.resource_id) for f in findings if f.rule_id == "NET-OUTBOUND-PATH"}
    assert ("unknown", f"/subscriptions/{BROKEN_PROD}") in outbound
