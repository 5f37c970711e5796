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
    storage_account,
    subnet_id,
    vault,
    virtual_network,
    vm_with_nic,
)

from asr_audit.findings import Finding, FindingStatus, Severity
from asr_audit.inventory import (
    LoadBalancer,
    LoadBalancingRule,
    NatGateway,
    Peering,
    PrivateEndpoint,
    PrivateLinkConnection,
    PublicIpAddress,
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
NAT_ID = resource_id("Microsoft.Network/natGateways", "nat-app")
NAT_PIP = resource_id("Microsoft.Network/publicIPAddresses", "pip-nat")
VM_PIP = resource_id("Microsoft.Network/publicIPAddresses", "pip-vm1")


@dataclass
class Scene:
    """A protected VM (East US -> West US) in the private subnet of vnet-app."""

    private: bool | None = False
    nat_gateway: bool = False
    nat_ips: list[str] = field(default_factory=lambda: [NAT_PIP])  # its IPv4 public IPs and prefixes
    nat_ipv6: list[str] = field(default_factory=list)
    nat_id: str = NAT_ID
    nat_read: bool = True  # False: the NAT gateway is not in the inventory
    public_ip: bool = False
    pip_sku: str | None = "Standard"  # the NIC's public IP
    pip_version: str = "IPv4"
    pips_read: bool = True  # False: no public IP is in the inventory
    routes: list[Route] | None = None
    gateway: bool = False
    pools: list[str] = field(default_factory=list)
    extra: list[Any] = field(default_factory=list)
    vault_endpoint: bool = False  # the vault has a private endpoint for Site Recovery
    cache: list[str] = field(default_factory=list)  # the item's cache account ids

    def context(self) -> Context:
        vnet = virtual_network("vnet-app", "eastus")
        sub = vnet.subnets[0]
        sub.default_outbound_access = self.private
        objects: list[Any] = [vnet, *TAGS, *self.extra]
        if self.nat_gateway:
            sub.nat_gateway_id = self.nat_id.upper()
        if self.nat_gateway and self.nat_read:
            objects.append(
                NatGateway(self.nat_id, "nat-app", "eastus", "Standard", self.nat_ips, self.nat_ipv6)
            )
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
            ipc.public_ip_address_id = VM_PIP.upper()
        if self.pips_read:
            objects.append(
                PublicIpAddress(VM_PIP, "pip-vm1", "eastus", self.pip_sku, version=self.pip_version)
            )
            objects.append(PublicIpAddress(NAT_PIP, "pip-nat", "eastus", "Standard"))
        owner = vault("rsv", "westus")
        if self.vault_endpoint:
            owner.private_endpoint_state_for_site_recovery = "Enabled"
        item = a2a_item(owner, vm, primary="eastus", recovery="westus", cache=self.cache)
        objects += [vm, nic, owner, item]
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


# Entra ID and Site Recovery routed to a firewall: only Storage and Event Hubs lack a path.
FIREWALLED = [
    Route("aad", "AzureActiveDirectory", "VirtualAppliance", "10.0.9.4"),
    Route("asr", "AzureSiteRecovery", "VirtualAppliance", "10.0.9.4"),
]
EVENT_HUB_ROUTED = Route("eh", "EventHub.WestUS", "VirtualAppliance", "10.0.9.4")


def cache_with_endpoint(vnet_name: str = "vnet-app", group: str = "blob") -> tuple[Any, PrivateEndpoint]:
    """A cache account with one approved private endpoint in `vnet_name`."""
    pe_id = resource_id("Microsoft.Network/privateEndpoints", "pe-cache")
    account = storage_account("cache1", "eastus", private_endpoints=[pe_id])
    where = subnet_id(virtual_network(vnet_name, "eastus"))
    link = PrivateLinkConnection(account.id, [group], "Approved")
    return account, PrivateEndpoint(pe_id, "pe-cache", "eastus", where, [link])


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
    verdicts = {(v["destination"], v["verdict"]) for v in finding.evidence["private_endpoints"]}
    assert ("AzureActiveDirectory", "none") in verdicts
    assert "Microsoft Entra ID does not support private endpoints" in finding.message
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


def test_event_hubs_without_a_vault_endpoint_is_stuck_whatever_the_cache_endpoint() -> None:
    account, pe = cache_with_endpoint()
    scene = Scene(routes=FIREWALLED, cache=[account.id], extra=[account, pe])
    [finding] = findings(scene)
    assert finding.status == FindingStatus.FAIL
    assert no_path(finding) == {"Storage.EastUS", "EventHub.WestUS"}
    verdicts = {v["destination"]: v["verdict"] for v in finding.evidence["private_endpoints"]}
    assert verdicts == {"Storage.EastUS": "carried", "EventHub.WestUS": "none"}


def test_a_cache_account_without_a_private_endpoint_fires() -> None:
    account = storage_account("cache1", "eastus")
    scene = Scene(routes=[*FIREWALLED, EVENT_HUB_ROUTED], cache=[account.id], extra=[account])
    [finding] = findings(scene)
    assert finding.status == FindingStatus.FAIL
    assert "cache storage account 'cache1' has no approved private endpoint" in finding.message


@pytest.mark.parametrize("peered", [True, False], ids=["in-the-vnet", "in-a-peered-hub"])
def test_a_cache_endpoint_in_the_vnet_or_a_peer_carries_storage(peered: bool) -> None:
    account, pe = cache_with_endpoint("vnet-hub" if peered else "vnet-app")
    scene = Scene(routes=[*FIREWALLED, EVENT_HUB_ROUTED], cache=[account.id], extra=[account, pe])
    ctx = scene.context()
    if peered:
        hub = virtual_network("vnet-hub", "eastus")
        vnet = ctx.inventory.virtual_networks[0]
        vnet.peerings = [Peering(f"{vnet.id}/virtualNetworkPeerings/p", "p", hub.id, "Connected")]
        ctx.inventory.virtual_networks.append(hub)
    assert run(RULE, ctx) == []
    assert len(ctx.checks) == 1


def test_with_a_vault_endpoint_event_hubs_is_unknown_as_the_page_does_not_say() -> None:
    account, pe = cache_with_endpoint()
    scene = Scene(routes=FIREWALLED, cache=[account.id], extra=[account, pe], vault_endpoint=True)
    [finding] = findings(scene)
    assert finding.status == FindingStatus.UNKNOWN and finding.severity == Severity.HIGH
    assert no_path(finding) == {"Storage.EastUS", "EventHub.WestUS"}
    assert "does not say whether it also carries" in finding.message


@pytest.mark.parametrize(
    "where",
    ["elsewhere", "file-endpoint", "unread-endpoint", "unread-account"],
)
def test_an_endpoint_the_scan_cannot_place_leaves_storage_unknown(where: str) -> None:
    account, pe = cache_with_endpoint("vnet-far" if where == "elsewhere" else "vnet-app")
    extra: list[Any] = {
        "elsewhere": [account, pe],
        "file-endpoint": [account, cache_with_endpoint(group="file")[1]],
        "unread-endpoint": [account],
        "unread-account": [pe],
    }[where]
    scene = Scene(routes=[*FIREWALLED, EVENT_HUB_ROUTED], cache=[account.id], extra=extra)
    [finding] = findings(scene)
    if where == "file-endpoint":  # a file endpoint is read and carries no blob traffic: certain
        assert finding.status == FindingStatus.FAIL
        assert "no approved blob private endpoint" in finding.message
        return
    assert finding.status == FindingStatus.UNKNOWN
    assert [v["verdict"] for v in finding.evidence["private_endpoints"]] == ["unknown"]


def test_a_candidate_vm_has_no_vault_or_cache_yet_so_it_is_unknown() -> None:
    ctx = Scene(routes=[Route("aad", "AzureActiveDirectory", "VirtualAppliance", "10.0.9.4")]).context()
    ctx.inventory.protected_items.clear()
    ctx.source_region, ctx.target_region = "eastus", "westus"
    [finding] = findings_of(ctx)
    assert finding.status == FindingStatus.UNKNOWN
    assert "a candidate has no vault or cache account yet" in finding.message


def findings_of(ctx: Context) -> list[Finding]:
    found = run(RULE, ctx)
    assert_reportable(found)
    return found


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
    assert "was not scanned" in finding.evidence["ways_out_unread"][0]["reason"]


@pytest.mark.parametrize(
    "collector",
    [
        "load_balancers",
        "nat_gateways",
        "public_ip_addresses",
        "virtual_networks",
        "route_tables",
        "vault:rsv",
        "private_endpoints",
        "storage_accounts",
    ],
)
def test_a_gap_in_what_it_reads_is_unknown_never_a_pass(collector: str) -> None:
    ctx = Scene(nat_gateway=True).context()
    ctx.inventory.coverage.append(gap(collector))
    found = analyzed(RULE, ctx)
    assert [(f.status, f.gap) for f in found] == [(FindingStatus.UNKNOWN, collector)]


def test_a_nat_gateway_without_a_public_ip_is_no_way_out() -> None:
    [finding] = findings(Scene(nat_gateway=True, nat_ips=[]))
    assert (finding.status, finding.severity) == (FindingStatus.FAIL, Severity.HIGH)
    assert "NAT gateway 'nat-app', which holds no public IP address or prefix" in finding.message
    nat = finding.evidence["nat_gateway"]
    assert (nat["id"], nat["verdict"]) == (NAT_ID.upper(), "none")
    assert "az network nat gateway update -g rg-app -n nat-app" in finding.remediation.lower()


def test_a_nat_gateway_without_a_public_ip_does_not_undo_another_way_out() -> None:
    assert findings(Scene(nat_gateway=True, nat_ips=[], public_ip=True)) == []


@pytest.mark.parametrize(
    ("scene", "reason"),
    [
        (
            Scene(
                nat_gateway=True,
                nat_read=False,
                nat_id=resource_id(
                    "Microsoft.Network/natGateways", "nat-app", subscription=OTHER_SUBSCRIPTION
                ),
            ),
            "which was not scanned",
        ),
        (Scene(nat_gateway=True, nat_ips=[], nat_ipv6=[NAT_PIP + "-v6"]), "only IPv6 public IPs"),
    ],
    ids=["unscanned-subscription", "ipv6-only"],
)
def test_a_nat_gateway_not_read_or_ipv6_only_is_unknown_never_a_pass(scene: Scene, reason: str) -> None:
    [finding] = findings(scene)
    assert finding.status == FindingStatus.UNKNOWN
    assert reason in finding.message
    assert finding.evidence["nat_gateway"]["verdict"] == "unknown"


def test_a_nat_gateway_missing_from_its_list_is_unknown_never_a_pass() -> None:
    ctx = Scene(nat_gateway=True).context()
    ctx.inventory.nat_gateways.clear()
    ctx.inventory.coverage.append(gap("nat_gateways"))
    found = analyzed(RULE, ctx)
    assert {(f.status, f.gap) for f in found} == {
        (FindingStatus.UNKNOWN, "nat_gateways"),
        (FindingStatus.UNKNOWN, None),
    }
    [subnet] = [f for f in found if f.gap is None]
    assert "nat gateway 'nat-app' is not in the scanned inventory" in subnet.message.lower()


def test_a_basic_public_ip_on_the_nic_is_unknown_not_a_pass_nor_a_failure() -> None:
    """Retired on 2025-09-30, but Microsoft does not say it stopped carrying traffic: not counted
    as a way out, named with its upgrade, and the verdict is unknown (no false positive)."""
    [finding] = findings(Scene(public_ip=True, pip_sku="Basic"))
    assert finding.status == FindingStatus.UNKNOWN
    assert "does not say whether it still carries traffic" in finding.message
    [retired] = finding.evidence["retired_public_ips"]
    assert (retired["vm"], retired["public_ip"], retired["name"]) == ("vm1", VM_PIP.upper(), "pip-vm1")
    assert "az network public-ip update -g rg-app -n pip-vm1 --sku standard" in finding.remediation.lower()


def test_a_basic_public_ip_does_not_undo_another_way_out() -> None:
    assert findings(Scene(public_ip=True, pip_sku="Basic", nat_gateway=True)) == []


@pytest.mark.parametrize(
    ("scene", "reason"),
    [
        (Scene(public_ip=True, pips_read=False), "public ip 'pip-vm1' is not in the scanned inventory"),
        (Scene(public_ip=True, pip_sku=None), "public ip 'pip-vm1' has sku 'not set', not standard"),
        (Scene(public_ip=True, pip_sku="StandardV2"), "has sku 'standardv2', not standard"),
        (Scene(public_ip=True, pip_version="IPv6"), "is ipv6, which carries no ipv4 traffic"),
    ],
    ids=["missing", "no-sku", "other-sku", "ipv6"],
)
def test_a_nic_public_ip_not_read_or_not_plainly_standard_is_unknown_never_a_pass(
    scene: Scene, reason: str
) -> None:
    [finding] = findings(scene)
    assert finding.status == FindingStatus.UNKNOWN
    assert reason in finding.message.lower()
    assert reason in finding.evidence["ways_out_unread"][0]["reason"].lower()


def test_a_nic_public_ip_in_an_unscanned_subscription_is_unknown() -> None:
    ctx = Scene().context()
    other = resource_id("Microsoft.Network/publicIPAddresses", "pip-x", subscription=OTHER_SUBSCRIPTION)
    ctx.inventory.network_interfaces[0].ip_configurations[0].public_ip_address_id = other
    [finding] = run(RULE, ctx)
    assert finding.status == FindingStatus.UNKNOWN
    assert (
        f"public IP 'pip-x' is in subscription {OTHER_SUBSCRIPTION}, which was not scanned" in finding.message
    )


def test_a_public_ip_list_gap_leaves_the_nic_unknown_never_a_pass() -> None:
    ctx = Scene(public_ip=True, pips_read=False).context()
    ctx.inventory.coverage.append(gap("public_ip_addresses"))
    found = analyzed(RULE, ctx)
    assert {(f.status, f.gap) for f in found} == {
        (FindingStatus.UNKNOWN, "public_ip_addresses"),
        (FindingStatus.UNKNOWN, None),
    }


def test_a_nat_gateway_whose_public_ips_were_not_read_is_unknown() -> None:
    [finding] = findings(Scene(nat_gateway=True, pips_read=False))
    assert finding.status == FindingStatus.UNKNOWN
    assert "NAT gateway 'nat-app' holds public IPs this scan did not read" in finding.message


def test_a_nat_gateway_public_ip_prefix_counts_unread() -> None:
    prefix = resource_id("Microsoft.Network/publicIPPrefixes", "ippre-nat")
    assert findings(Scene(nat_gateway=True, nat_ips=[prefix], pips_read=False)) == []
