"""NET-OUTBOUND-PATH: a private subnet's workloads and the ways out it does or does not give them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from builders import (
    OTHER_SUBSCRIPTION,
    a2a_item,
    analyzed,
    assert_reportable,
    context,
    gap,
    inventory,
    resource_id,
    run,
    subnet_id,
    vault,
    virtual_network,
    vm_with_nic,
)

from asr_audit.findings import Finding, FindingStatus, Severity
from asr_audit.inventory import (
    LoadBalancer,
    LoadBalancingRule,
    Route,
    RouteTable,
    ServiceTag,
    VirtualNetworkGateway,
)
from asr_audit.rules.base import Context

RULE = "NET-OUTBOUND-PATH"
TAGS = [
    ServiceTag("Storage.EastUS", "eastus", "AzureStorage", ["20.38.1.0/24", "2603:1030:10::/48"]),
    ServiceTag("AzureActiveDirectory", None, "AzureAD", ["20.190.128.0/18"]),
    ServiceTag("EventHub.WestUS", "westus", "EventHub", ["13.88.0.0/24"]),
    ServiceTag("AzureSiteRecovery", None, "AzureSiteRecovery", ["52.10.0.0/24"]),
]
LB_ID = resource_id("Microsoft.Network/loadBalancers", "lb-app")
POOL = f"{LB_ID}/backendAddressPools/pool"
FRONTEND = f"{LB_ID}/frontendIPConfigurations/fe"


@dataclass
class Scene:
    """A protected VM (East US -> West US) in the private subnet of vnet-app."""

    private: bool | None = False
    nat_gateway: bool = False
    public_ip: bool = False
    routes: list[Route] | None = None
    gateway: bool = False
    pools: list[str] = field(default_factory=list)
    extra: list[Any] = field(default_factory=list)

    def context(self) -> Context:
        vnet = virtual_network("vnet-app", "eastus")
        sub = vnet.subnets[0]
        sub.default_outbound_access = self.private
        if self.nat_gateway:
            sub.nat_gateway_id = resource_id("Microsoft.Network/natGateways", "nat-app")
        objects: list[Any] = [vnet, *TAGS, *self.extra]
        if self.routes is not None:
            table = RouteTable(
                resource_id("Microsoft.Network/routeTables", "rt"), "rt", "eastus", self.routes
            )
            table.disable_bgp_route_propagation = True
            sub.route_table_id = table.id.upper()
            objects.append(table)
        if self.gateway:
            gw_id = resource_id("Microsoft.Network/virtualNetworkGateways", "gw")
            objects.append(VirtualNetworkGateway(gw_id, "gw", "eastus", "Vpn", virtual_network_id=vnet.id))
        vm, nic = vm_with_nic("vm1", "eastus", subnet_id(vnet))
        ipc = nic.ip_configurations[0]
        ipc.load_balancer_backend_address_pool_ids = [p.upper() for p in self.pools]
        if self.public_ip:
            ipc.public_ip_address_id = resource_id("Microsoft.Network/publicIPAddresses", "pip-vm1")
        owner = vault("rsv", "westus")
        objects += [vm, nic, owner, a2a_item(owner, vm, primary="eastus", recovery="westus")]
        return context(inventory(*objects))


def load_balancer(sku: str, *, public: bool = True, outbound: bool = False, **rule: Any) -> LoadBalancer:
    rules = [LoadBalancingRule(FRONTEND, [POOL], **rule)] if rule else []
    return LoadBalancer(
        LB_ID,
        "lb-app",
        "eastus",
        sku,
        public_frontend_ids=[FRONTEND] if public else [],
        backend_address_pool_ids=[POOL],
        outbound_rule_pool_ids=[POOL] if outbound else [],
        load_balancing_rules=rules,
    )


def findings(scene: Scene) -> list[Finding]:
    found = run(RULE, scene.context())
    assert_reportable(found)
    return found


def no_path(finding: Finding) -> set[str]:
    return {entry["destination"] for entry in finding.evidence["no_path"]}


def test_a_private_subnet_with_no_way_out_fires_high() -> None:
    ctx = Scene().context()
    [finding] = run("NET-OUTBOUND-PATH", ctx)
    assert (finding.severity, finding.status) == (Severity.HIGH, FindingStatus.FAIL)
    assert finding.resource_id.endswith("/subnets/default")
    assert no_path(finding) == {t.name for t in TAGS}
    assert "not read" in finding.evidence["private_endpoints"]
    assert [c.resource_id for c in ctx.checks] == [finding.resource_id]


@pytest.mark.parametrize(
    "scene",
    [
        Scene(nat_gateway=True),
        Scene(public_ip=True),
        Scene(pools=[POOL], extra=[load_balancer("Standard", outbound=True)]),
        Scene(pools=[POOL], extra=[load_balancer("Standard", disable_outbound_snat=False)]),
        Scene(pools=[POOL], extra=[load_balancer("Basic")]),
        Scene(routes=[Route("to-fw", "0.0.0.0/0", "VirtualAppliance", "10.0.9.4")]),
        Scene(routes=[Route("to-onprem", "0.0.0.0/0", "VirtualNetworkGateway")]),
    ],
    ids=["nat", "public-ip", "outbound-rule", "lb-rule-snat", "basic-public", "nva", "gateway"],
)
def test_any_explicit_way_out_keeps_it_quiet(scene: Scene) -> None:
    assert findings(scene) == []


@pytest.mark.parametrize("private", [None, True])
def test_a_subnet_with_default_outbound_access_is_not_judged(private: bool | None) -> None:
    ctx = Scene(private=private).context()
    assert run("NET-OUTBOUND-PATH", ctx) == []
    assert ctx.checks == []


@pytest.mark.parametrize(
    "lb",
    [
        load_balancer("Standard", public=False, outbound=False),  # internal
        load_balancer("Standard", disable_outbound_snat=True),  # SNAT off, no outbound rule
        load_balancer("Basic", public=False),  # internal Basic
        load_balancer("Gateway", outbound=True),
    ],
    ids=["internal", "snat-off", "basic-internal", "gateway-sku"],
)
def test_a_load_balancer_that_lets_nothing_out_is_no_way_out(lb: LoadBalancer) -> None:
    [finding] = findings(Scene(pools=[POOL], extra=[lb]))
    assert finding.status == FindingStatus.FAIL


def test_internet_routes_lead_nowhere_and_only_the_ipv4_part_of_a_tag_counts() -> None:
    routes = [
        Route("fw", "0.0.0.0/0", "VirtualAppliance", "10.0.9.4"),  # IPv4 only; Storage's IPv6 prefix stays
        Route("aad", "AzureActiveDirectory", "Internet"),
    ]
    [finding] = findings(Scene(routes=routes))
    assert no_path(finding) == {"AzureActiveDirectory"}
    assert finding.evidence["routed"]["Storage.EastUS"] == "VirtualAppliance"


def test_only_destinations_a_private_endpoint_could_carry_leave_it_unknown() -> None:
    routes = [
        Route("aad", "AzureActiveDirectory", "VirtualAppliance", "10.0.9.4"),
        Route("asr", "AzureSiteRecovery", "VirtualAppliance", "10.0.9.4"),
    ]
    [finding] = findings(Scene(routes=routes))
    assert finding.status == FindingStatus.UNKNOWN and finding.severity == Severity.HIGH
    assert no_path(finding) == {"Storage.EastUS", "EventHub.WestUS"}
    assert "private endpoints are not read" in finding.message


def test_bgp_from_a_gateway_may_route_it_out_so_it_is_unknown() -> None:
    [finding] = findings(Scene(gateway=True))
    assert finding.status == FindingStatus.UNKNOWN
    assert {u["destination"] for u in finding.evidence["unknown"]} == {t.name for t in TAGS}


def test_a_load_balancer_that_was_not_read_leaves_it_unknown() -> None:
    pool = (
        resource_id("Microsoft.Network/loadBalancers", "lb-x", subscription=OTHER_SUBSCRIPTION)
        + "/backendAddressPools/p"
    )
    [finding] = findings(Scene(pools=[pool]))
    assert finding.status == FindingStatus.UNKNOWN
    assert "was not scanned" in finding.evidence["load_balancers_unread"][0]["reason"]


@pytest.mark.parametrize("collector", ["load_balancers", "virtual_networks", "route_tables", "vault:rsv"])
def test_a_gap_in_what_it_reads_is_unknown_never_a_pass(collector: str) -> None:
    ctx = Scene(nat_gateway=True).context()
    ctx.inventory.coverage.append(gap(collector))
    found = analyzed(RULE, ctx)
    assert [(f.status, f.gap) for f in found] == [(FindingStatus.UNKNOWN, collector)]
