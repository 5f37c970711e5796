"""NET-FORCED-TUNNEL: each trap with the case that fires and the case that must not."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from builders import (
    OTHER_SUBSCRIPTION,
    SUBSCRIPTION,
    a2a_item,
    asr_case,
    assert_catalogued,
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

from asr_audit.findings import Finding, Severity
from asr_audit.inventory import (
    AzureFirewall,
    Peering,
    Route,
    RouteTable,
    ServiceTag,
    VirtualNetworkGateway,
)
from asr_audit.rules.common.destinations import required_destinations

NVA_IP = "10.0.9.4"
FIREWALL_IP = "10.0.8.4"

STORAGE_EAST = ["20.38.1.0/24", "20.60.2.0/24", "2603:1030:10::/48"]
TAGS = [
    ServiceTag("Storage", None, "AzureStorage", ["20.38.0.0/16", "20.60.0.0/16", "20.61.0.0/16"]),
    ServiceTag("Storage.EastUS", "eastus", "AzureStorage", STORAGE_EAST),
    ServiceTag("Storage.WestUS", "westus", "AzureStorage", ["20.61.0.0/24"]),
    ServiceTag("AzureActiveDirectory", None, "AzureAD", ["20.190.128.0/18", "40.126.0.0/18"]),
    ServiceTag("EventHub.WestUS", "westus", "EventHub", ["13.88.0.0/24"]),
    ServiceTag("EventHub.EastUS", "eastus", "EventHub", ["13.90.0.0/24"]),
    ServiceTag("AzureSiteRecovery", None, "AzureSiteRecovery", ["52.10.0.0/24"]),
]
ALL = {"Storage.EastUS", "AzureActiveDirectory", "EventHub.WestUS", "AzureSiteRecovery"}
FORCE = Route("force-onprem", "0.0.0.0/0", "VirtualNetworkGateway")
TO_NVA = Route("to-nva", "0.0.0.0/0", "VirtualAppliance", NVA_IP)
BYPASS_ALL_BUT_EVENTHUB = [
    Route(f"bypass-{t}", t, "Internet")
    for t in ("Storage.EastUS", "AzureActiveDirectory", "AzureSiteRecovery")
]


@dataclass
class Scene:
    """A protected VM (East US -> West US) in one subnet, and what the subnet's routing holds."""

    routes: list[Route] | None = None  # None: no route table on the subnet
    disable_bgp: bool = False
    gateway: bool = False
    hub_gateway: bool = False  # a Connected peering that uses the (unread) hub's gateway
    service_endpoints: dict[str, list[str]] = field(default_factory=dict)
    tags: list[ServiceTag] = field(default_factory=lambda: list(TAGS))
    private_endpoint: bool = False
    candidate: bool = False  # readiness: an unprotected VM and --source-region only
    table_subscription: str | None = None
    extra: list[Any] = field(default_factory=list)

    def context(self) -> Any:
        vnet = virtual_network("vnet-app", "East US")
        sub = vnet.subnets[0]
        objects: list[Any] = [vnet, *self.tags, *self.extra]
        if self.routes is not None:
            table = RouteTable(
                id=resource_id(
                    "Microsoft.Network/routeTables",
                    "rt-app",
                    group="rg-net",
                    subscription=self.table_subscription or SUBSCRIPTION,
                ),
                name="rt-app",
                location="eastus",
                routes=self.routes,
                disable_bgp_route_propagation=self.disable_bgp,
            )
            sub.route_table_id = asr_case(table.id)  # case-variant reference
            if self.table_subscription is None:
                objects.append(table)
        sub.service_endpoints = list(self.service_endpoints)
        sub.service_endpoint_locations = dict(self.service_endpoints)
        if self.gateway:
            objects.append(
                VirtualNetworkGateway(
                    id=resource_id("Microsoft.Network/virtualNetworkGateways", "gw"),
                    name="gw",
                    location="eastus",
                    gateway_type="ExpressRoute",
                    virtual_network_id=vnet.id.upper(),
                )
            )
        if self.hub_gateway:
            hub = resource_id(
                "Microsoft.Network/virtualNetworks", "vnet-hub", subscription=OTHER_SUBSCRIPTION
            )
            vnet.peerings.append(
                Peering(
                    f"{vnet.id}/virtualNetworkPeerings/hub", "hub", hub, "Connected", use_remote_gateways=True
                )
            )
        vm, nic = vm_with_nic("vm1", "eastus", subnet_id(vnet))
        objects += [vm, nic]
        if self.candidate:
            return context(inventory(*objects), source_region="eastus")
        owner = vault(
            "rsv",
            "westus",
            private_endpoint_state_for_site_recovery=("Enabled" if self.private_endpoint else "None"),
        )
        objects += [owner, a2a_item(owner, vm, primary="eastus", recovery="westus")]
        return context(inventory(*objects))


def findings(rule_id: str, scene: Scene) -> list[Finding]:
    found = run(rule_id, scene.context())
    assert_reportable(found)
    return found


def tunnelled(finding: Finding) -> set[str]:
    return {t["destination"] for t in finding.evidence["tunnelled"]}


def test_metadata_is_catalogued() -> None:
    assert_catalogued("NET-FORCED", "network")


def test_required_destinations_follow_source_and_target_regions() -> None:
    labels = [d.label for d in required_destinations("East US", "westus")]
    assert labels == ["Storage.eastus", "AzureActiveDirectory", "EventHub.westus", "AzureSiteRecovery"]
    assert required_destinations("eastus", None)[2].label == "EventHub.<target region>"


@pytest.mark.parametrize(
    ("scene", "severity", "expected"),
    [
        (Scene(routes=[FORCE]), Severity.HIGH, ALL),
        (Scene(routes=[TO_NVA]), Severity.MEDIUM, ALL),
        # a covering route that is not 0.0.0.0/0 tunnels what it covers (AAD only in part)
        (
            Scene(routes=[Route("wide", "32.0.0.0/3", "VirtualNetworkGateway")]),
            Severity.HIGH,
            {"AzureActiveDirectory", "AzureSiteRecovery"},
        ),
        # service endpoint: Storage goes direct, the rest stays tunnelled
        (
            Scene(routes=[FORCE], service_endpoints={"Microsoft.Storage": ["eastus"]}),
            Severity.HIGH,
            ALL - {"Storage.EastUS"},
        ),
        # vault private endpoint: AzureSiteRecovery goes to the endpoint
        (Scene(routes=[FORCE], private_endpoint=True), Severity.HIGH, ALL - {"AzureSiteRecovery"}),
        # the gateway wins where both kinds tunnel
        (
            Scene(routes=[TO_NVA, Route("aad", "AzureActiveDirectory", "VirtualNetworkGateway")]),
            Severity.HIGH,
            ALL,
        ),
        # a service-tag UDR (not 0.0.0.0/0) drags one destination to the appliance
        (
            Scene(routes=[Route("aad", "azureactivedirectory", "VirtualAppliance", NVA_IP)]),
            Severity.MEDIUM,
            {"AzureActiveDirectory"},
        ),
        # a candidate VM (readiness, no target region): EventHub cannot be resolved, the rest fails
        (Scene(routes=[FORCE], candidate=True), Severity.HIGH, ALL - {"EventHub.WestUS"}),
    ],
)
def test_tunnelled_destinations_fire(scene: Scene, severity: Severity, expected: set[str]) -> None:
    [finding] = findings("NET-FORCED-TUNNEL", scene)
    assert finding.rule_id == "NET-FORCED-TUNNEL"
    assert (finding.status, finding.severity) == ("fail", severity)
    assert tunnelled(finding) == expected
    assert "vm1" in finding.message and "vnet-app/default" in finding.message


@pytest.mark.parametrize(
    "scene",
    [
        Scene(),  # no route table
        Scene(routes=[Route("out", "0.0.0.0/0", "Internet")]),  # 0.0.0.0/0 -> Internet is not tunnelling
        Scene(routes=[Route("onprem", "192.168.0.0/16", "VirtualNetworkGateway")]),  # private range only
        Scene(
            routes=[
                Route("fw", "0.0.0.0/0", "VirtualAppliance", f" {FIREWALL_IP}")
            ],  # NET-FIREWALL-FQDN's path
            extra=[
                AzureFirewall(
                    id="/subscriptions/x/fw", name="fw", location="eastus", private_ip_addresses=[FIREWALL_IP]
                )
            ],
        ),
        Scene(  # every destination bypassed by service-tag routes (case-variant tag names)
            routes=[
                FORCE,
                *(
                    Route(f"bypass{i}", t, "Internet")
                    for i, t in enumerate(
                        ["storage.eastus", "AzureActiveDirectory", "EVENTHUB.WESTUS", "AzureSiteRecovery"]
                    )
                ),
            ],
        ),
        Scene(  # the global Storage tag covers Storage.EastUS; endpoint and PE cover the rest
            routes=[
                FORCE,
                Route("storage", "Storage", "Internet"),
                Route("aad", "AzureActiveDirectory", "Internet"),
                Route("eh", "EventHub.WestUS", "Internet"),
            ],
            private_endpoint=True,
        ),
        Scene(routes=[], tags=[]),  # no tags collected, but nothing could tunnel
        Scene(routes=[Route("onprem", "192.168.0.0/16", "VirtualNetworkGateway")], tags=[]),  # nor here
        Scene(routes=[*BYPASS_ALL_BUT_EVENTHUB, Route("out", "0.0.0.0/0", "Internet")], candidate=True),
        Scene(gateway=True, disable_bgp=True, routes=[]),  # gateway, but propagation disabled
    ],
)
def test_no_tunnel_no_finding(scene: Scene) -> None:
    assert findings("NET-FORCED-TUNNEL", scene) == []


def test_partial_coverage_by_ip_prefixes_still_tunnels_the_rest() -> None:
    bypass_one = Route("s1", "20.38.1.0/24", "Internet")
    [finding] = findings("NET-FORCED-TUNNEL", Scene(routes=[FORCE, bypass_one]))
    [storage] = [t for t in finding.evidence["tunnelled"] if t["destination"] == "Storage.EastUS"]
    assert storage["partial"] is True
    assert storage["examples"] == ["20.60.2.0/24"]  # the IPv6 range goes by ::/0 -> Internet
    assert "partial" in finding.message


def test_ip_prefixes_covering_every_range_of_the_tag_bypass_it() -> None:
    routes = [FORCE, *(Route(f"s{i}", p, "Internet") for i, p in enumerate(STORAGE_EAST))]
    [finding] = findings("NET-FORCED-TUNNEL", Scene(routes=routes))
    assert "Storage.EastUS" not in tunnelled(finding)


def test_ipv6_default_route_tunnels_only_the_ipv6_part() -> None:
    [finding] = findings("NET-FORCED-TUNNEL", Scene(routes=[Route("v6", "::/0", "VirtualNetworkGateway")]))
    [storage] = finding.evidence["tunnelled"]
    assert (storage["destination"], storage["examples"], storage["partial"]) == (
        "Storage.EastUS",
        ["2603:1030:10::/48"],
        True,
    )


def test_a_udr_beats_the_service_endpoint_route_with_the_same_prefixes() -> None:
    scene = Scene(
        routes=[Route("storage-nva", "Storage.EastUS", "VirtualAppliance", NVA_IP)],
        service_endpoints={"Microsoft.Storage": ["eastus"]},
    )
    [finding] = findings("NET-FORCED-TUNNEL", scene)
    assert tunnelled(finding) == {"Storage.EastUS"}
    assert finding.severity is Severity.MEDIUM
    assert "--service-endpoints Microsoft.Storage" in finding.remediation


def test_remediation_names_the_route_table_and_the_tags() -> None:
    [finding] = findings("NET-FORCED-TUNNEL", Scene(routes=[FORCE]))
    assert "--route-table-name rt-app" in finding.remediation
    assert "--address-prefix AzureActiveDirectory --next-hop-type Internet" in finding.remediation
    assert "--vnet-name vnet-app -n default" in finding.remediation


@pytest.mark.parametrize(
    ("scene", "reason"),
    [
        (Scene(routes=[FORCE], tags=[]), "service tags were not collected"),
        (Scene(routes=[FORCE, *BYPASS_ALL_BUT_EVENTHUB], candidate=True), "the target region is not known"),
        (Scene(gateway=True), "BGP route propagation is enabled"),  # no route table: propagation on
        (Scene(gateway=True, routes=[]), "BGP route propagation is enabled"),
        (Scene(hub_gateway=True), "BGP route propagation is enabled"),  # the hub's gateway counts
        (Scene(routes=[FORCE], table_subscription=OTHER_SUBSCRIPTION), "which was not scanned"),
        (
            Scene(routes=[Route("x", "AzureFrontDoor.Backend", "VirtualAppliance", NVA_IP)]),
            "use a service tag that was not collected",
        ),
    ],
)
def test_what_arm_cannot_show_is_unknown(scene: Scene, reason: str) -> None:
    [finding] = findings("NET-FORCED-TUNNEL", scene)
    assert finding.rule_id == "NET-FORCED-TUNNEL"
    assert finding.status == "unknown"
    assert reason in finding.message
    assert finding.evidence["tunnelled"] == []


def test_missing_tags_next_to_a_tunnel_leave_the_finding_failing_with_the_gap_listed() -> None:
    tags = [t for t in TAGS if t.name != "AzureSiteRecovery"]
    [finding] = findings("NET-FORCED-TUNNEL", Scene(routes=[FORCE], tags=tags))
    assert finding.status == "fail"
    assert tunnelled(finding) == ALL - {"AzureSiteRecovery"}
    assert [u["destination"] for u in finding.evidence["unknown"]] == ["AzureSiteRecovery"]


def test_bgp_does_not_turn_a_tunnel_verdict_into_unknown() -> None:
    [finding] = findings("NET-FORCED-TUNNEL", Scene(routes=[FORCE], gateway=True))
    assert (finding.status, finding.severity) == ("fail", Severity.HIGH)
    assert tunnelled(finding) == ALL


def test_bgp_is_moot_where_a_udr_or_service_endpoint_decides_every_destination() -> None:
    # UDRs decide it (BGP cannot override a UDR); IPv6 needs its own, or ::/0 is left to BGP
    decided = [Route("out", "0.0.0.0/0", "Internet"), Route("out6", "::/0", "Internet")]
    assert findings("NET-FORCED-TUNNEL", Scene(routes=decided, gateway=True)) == []
    # only the destinations left to the system default route are unknown
    [finding] = findings(
        "NET-FORCED-TUNNEL", Scene(gateway=True, service_endpoints={"Microsoft.Storage": []})
    )
    assert finding.status == "unknown"
    assert {u["destination"] for u in finding.evidence["unknown"]} == ALL - {"Storage.EastUS"}


def test_one_finding_per_subnet_listing_both_vms() -> None:
    scene = Scene(routes=[FORCE])
    ctx = scene.context()
    vnet = ctx.inventory.virtual_networks[0]
    vm2, nic2 = vm_with_nic("vm2", "eastus", subnet_id(vnet).upper())
    ctx.inventory.virtual_machines.append(vm2)
    ctx.inventory.network_interfaces.append(nic2)
    owner = ctx.inventory.vaults[0]
    ctx.inventory.protected_items.append(a2a_item(owner, vm2, primary="eastus", recovery="westus"))
    [finding] = run("NET-FORCED-TUNNEL", ctx)
    assert sorted(w["vm"] for w in finding.evidence["workloads"]) == ["vm1", "vm2"]
    assert finding.resource_id == vnet.subnets[0].id


def test_a_vm_with_two_nics_in_the_subnet_is_reported_once() -> None:
    ctx = Scene(routes=[FORCE]).context()
    vm, vnet = ctx.inventory.virtual_machines[0], ctx.inventory.virtual_networks[0]
    _, second = vm_with_nic("vm1-second", "eastus", subnet_id(vnet))
    second.virtual_machine_id = vm.id
    ctx.inventory.network_interfaces.append(second)
    [finding] = run("NET-FORCED-TUNNEL", ctx)
    assert finding.resource_id == vnet.subnets[0].id
    assert tunnelled(finding) == ALL
    assert [w["vm"] for w in finding.evidence["workloads"]] == ["vm1"]
    assert "(protected VM 'vm1')" in finding.message


# --- missing data never lowers the severity -------------------------------------------------------


def test_an_appliance_tunnel_with_an_undecided_destination_is_reported_high() -> None:
    """The undecided destination may leave through a gateway (high): medium would understate it."""
    tags = [t for t in TAGS if t.name != "AzureSiteRecovery"]
    [finding] = findings("NET-FORCED-TUNNEL", Scene(routes=[TO_NVA], tags=tags))
    assert finding.rule_id == "NET-FORCED-TUNNEL"
    assert (finding.status, finding.severity) == ("fail", Severity.HIGH)
    assert [u["destination"] for u in finding.evidence["unknown"]] == ["AzureSiteRecovery"]


def test_unread_gateways_leave_bgp_routes_possible() -> None:
    """No gateway in sight, but the gateway listing failed: one may exist and bring a BGP default."""
    unread = gap(
        "virtual_network_gateways:rg-net", object_id=resource_id("Microsoft.Resources/resourceGroups", "x")
    )
    [finding] = findings("NET-FORCED-TUNNEL", Scene(routes=[], extra=[unread]))
    assert (finding.status, finding.severity) == ("unknown", Severity.HIGH)
    assert "virtual_network_gateways:rg-net (forbidden)" in finding.message
    # propagation disabled, or a gap in another subscription: nothing to doubt
    assert findings("NET-FORCED-TUNNEL", Scene(routes=[], disable_bgp=True, extra=[unread])) == []
    elsewhere = gap("virtual_network_gateways:rg", subscription=OTHER_SUBSCRIPTION)
    assert findings("NET-FORCED-TUNNEL", Scene(routes=[], extra=[elsewhere])) == []


def test_remediation_prefers_the_endpoint_and_firewall_rules_and_never_suggests_ip_routes() -> None:
    """The networking guide: Storage through its service endpoint, the rest allowed by service-tag
    rules where the tunnel leads; routes only on service tags, never on Site Recovery's IPs."""
    [finding] = findings("NET-FORCED-TUNNEL", Scene(routes=[FORCE]))
    fix = finding.remediation
    assert fix.index("--service-endpoints") < fix.index("service-tag rules") < fix.index("route create")
    assert "never Site Recovery's IP addresses" in fix
    prefixes = [
        fix.split("--address-prefix ")[i].split()[0] for i in range(1, fix.count("--address-prefix ") + 1)
    ]
    assert prefixes and all(not p[0].isdigit() for p in prefixes)  # tags, not IP ranges


def test_spokes_whose_route_tables_are_alike_are_each_judged_as_their_own() -> None:
    """Equal tables share their compiled routes and verdicts (SubnetRouter), never their subnet,
    table, workloads or BGP doubt: a spoke with a gateway is `unknown`, its twin without is not."""
    objects: list[Any] = list(TAGS)
    onprem = Route("onprem", "192.168.0.0/16", "VirtualNetworkGateway")  # private: tunnels nothing
    for n, (routes, gateway) in enumerate(
        [([TO_NVA], False), ([TO_NVA], False), ([onprem], True), ([onprem], False)]
    ):
        vnet = virtual_network(
            f"vnet-{n}", "East US", prefixes=[f"10.{n}.0.0/16"], subnets=[("app", f"10.{n}.0.0/24")]
        )
        table = RouteTable(
            id=resource_id("Microsoft.Network/routeTables", f"rt-{n}"),
            name=f"rt-{n}",
            location="eastus",
            routes=routes,
        )
        vnet.subnets[0].route_table_id = table.id
        vm, nic = vm_with_nic(f"vm{n}", "eastus", subnet_id(vnet, "app"))
        objects += [vnet, table, vm, nic]
        if gateway:
            objects.append(
                VirtualNetworkGateway(
                    id=resource_id("Microsoft.Network/virtualNetworkGateways", f"gw-{n}"),
                    name=f"gw-{n}",
                    location="eastus",
                    gateway_type="ExpressRoute",
                    virtual_network_id=vnet.id,
                )
            )
    found = run("NET-FORCED-TUNNEL", context(inventory(*objects), source_region="eastus"))
    assert_reportable(found)
    by_subnet = {f.resource_id.split("/")[8]: f for f in found}
    assert set(by_subnet) == {"vnet-0", "vnet-1", "vnet-2"}  # vnet-3: no gateway, nothing can tunnel
    for n in (0, 1):
        finding = by_subnet[f"vnet-{n}"]
        assert finding.status == "fail" and f"vm{n}" in finding.message
        assert finding.evidence["route_table"].endswith(f"/rt-{n}")
        assert f"--route-table-name rt-{n} " in finding.remediation
    assert by_subnet["vnet-0"].evidence["tunnelled"] == by_subnet["vnet-1"].evidence["tunnelled"]
    assert by_subnet["vnet-0"].evidence["tunnelled"][0] is not by_subnet["vnet-1"].evidence["tunnelled"][0]
    assert by_subnet["vnet-2"].status == "unknown" and "vm2" in by_subnet["vnet-2"].message
