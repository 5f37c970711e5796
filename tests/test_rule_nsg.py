"""NET-NSG-OUTBOUND and NET-NSG-RECOVERY-SIDE: each case that fires next to one that must not."""

from __future__ import annotations

from collections.abc import Sequence
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
    inventory,
    network_mapping,
    resource_id,
    run,
    security_rule,
    subnet_id,
    vault,
    virtual_network,
    vm_with_nic,
)

from asr_audit.access.clouds import CLOUDS
from asr_audit.findings import Finding, Severity
from asr_audit.inventory import (
    IpConfiguration,
    NetworkSecurityGroup,
    SecurityRule,
    ServiceTag,
    VirtualNetworkGateway,
)

TAGS = [
    ServiceTag("Storage", None, "AzureStorage", ["20.38.0.0/16", "20.61.0.0/24"]),
    ServiceTag(
        "Storage.EastUS", "eastus", "AzureStorage", ["20.38.1.0/24", "20.60.2.0/24", "2603:1030:10::/48"]
    ),
    ServiceTag("Storage.WestUS", "westus", "AzureStorage", ["20.61.0.0/24"]),
    ServiceTag("AzureActiveDirectory", None, "AzureAD", ["20.190.128.0/18", "40.126.0.0/18"]),
    ServiceTag("EventHub.WestUS", "westus", "EventHub", ["13.88.0.0/24"]),
    ServiceTag("EventHub.EastUS", "eastus", "EventHub", ["13.90.0.0/24"]),
    ServiceTag("AzureSiteRecovery", None, "AzureSiteRecovery", ["52.10.0.0/24"]),
]
SOURCE_SIDE = ["Storage.EastUS", "AzureActiveDirectory", "EventHub.WestUS", "AzureSiteRecovery"]
RECOVERY_SIDE = ["Storage.WestUS", "AzureActiveDirectory", "EventHub.EastUS", "AzureSiteRecovery"]
ASG = resource_id("Microsoft.Network/applicationSecurityGroups", "asg-web")


def out(name: str, priority: int, access: str, dest: Sequence[str] = (), **kw: Any) -> SecurityRule:
    """A rule from the VNet, the usual source in these scenarios."""
    return security_rule(name, priority, access, dest, **{"source": ("VirtualNetwork",), **kw})


DENY_INTERNET = out("Deny-Internet", 300, "Deny", ["Internet"], ports=["*"], protocol="*", source=["*"])


def allows(tags: Sequence[str], first: int = 100) -> list[SecurityRule]:
    return [out(f"Allow-{t}", first + 10 * i, "Allow", [t]) for i, t in enumerate(tags)]


def nsg(name: str, rules: Sequence[SecurityRule], subscription: str = SUBSCRIPTION) -> NetworkSecurityGroup:
    rid = resource_id(
        "Microsoft.Network/networkSecurityGroups", name, group="rg-net", subscription=subscription
    )
    return NetworkSecurityGroup(id=rid, name=name, location="eastus", security_rules=list(rules))


@dataclass
class Scene:
    """A protected VM (East US -> West US) in vnet-app/default, and the NSGs on its path."""

    subnet_rules: list[SecurityRule] | None = None  # None: no NSG on the subnet
    nic_rules: list[SecurityRule] | None = None
    tags: list[ServiceTag] = field(default_factory=lambda: list(TAGS))
    ip: str | None = "10.0.0.4"
    ipv6: str | None = None
    asgs: list[str] = field(default_factory=list)
    candidate: bool = False
    private_endpoint: bool = False
    nsg_subscription: str = SUBSCRIPTION  # another one: the NSG was not scanned
    gateway: bool = False
    extra: list[Any] = field(default_factory=list)
    kw: dict[str, Any] = field(default_factory=dict)

    def context(self) -> Any:
        vnet = virtual_network("vnet-app", "eastus", prefixes=("10.0.0.0/16", "fd00::/48"))
        vm, nic = vm_with_nic("vm1", "eastus", subnet_id(vnet))
        objects: list[Any] = [vnet, vm, nic, *self.tags, *self.extra]
        nic.ip_configurations[0].private_ip_address = self.ip
        nic.ip_configurations[0].application_security_group_ids = list(self.asgs)
        if self.ipv6:
            nic.ip_configurations.append(IpConfiguration("ipv6", subnet_id(vnet).upper(), self.ipv6))
        if self.subnet_rules is not None:
            subnet_nsg = nsg("nsg-subnet", self.subnet_rules, self.nsg_subscription)
            vnet.subnets[0].network_security_group_id = asr_case(subnet_nsg.id)
            if self.nsg_subscription == SUBSCRIPTION:
                objects.append(subnet_nsg)
        if self.nic_rules is not None:
            nic_nsg = nsg("nsg-nic", self.nic_rules)
            nic.network_security_group_id = nic_nsg.id.upper()
            objects.append(nic_nsg)
        if self.gateway:
            objects.append(
                VirtualNetworkGateway(
                    id=resource_id("Microsoft.Network/virtualNetworkGateways", "gw"),
                    name="gw",
                    location="eastus",
                    virtual_network_id=vnet.id,
                )
            )
        if self.candidate:
            return context(inventory(*objects), source_region="eastus", target_region="westus", **self.kw)
        owner = vault(
            "rsv",
            "westus",
            private_endpoint_state_for_site_recovery="Enabled" if self.private_endpoint else None,
        )
        objects += [owner, a2a_item(owner, vm, primary="eastus", recovery="westus")]
        return context(inventory(*objects), **self.kw)


def findings(rule_id: str, scene: Scene) -> list[Finding]:
    found = run(rule_id, scene.context())
    assert_reportable(found)
    return found


def statuses(finding: Finding) -> dict[str, str]:
    return {d["destination"]: d["status"] for d in finding.evidence["destinations"]}


def blocked(finding: Finding) -> set[str]:
    return {k for k, v in statuses(finding).items() if v in ("blocked", "partial")}


def test_metadata_is_catalogued() -> None:
    assert_catalogued("NET-NSG", "network")


# --- NET-NSG-OUTBOUND ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scene", "expected"),
    [
        # allows for two tags, then a deny of the Internet: the other two are blocked
        (Scene(subnet_rules=[*allows(SOURCE_SIDE[:2]), DENY_INTERNET]), set(SOURCE_SIDE[2:])),
        # the NIC's NSG blocks while the subnet's allows everything
        (Scene(subnet_rules=allows(SOURCE_SIDE), nic_rules=[DENY_INTERNET]), set(SOURCE_SIDE)),
        # the subnet's NSG blocks while the NIC's allows everything
        (Scene(subnet_rules=[DENY_INTERNET], nic_rules=allows(SOURCE_SIDE)), set(SOURCE_SIDE)),
        # an allow for the wrong region's tags (copied from the recovery side)
        (Scene(subnet_rules=[*allows(RECOVERY_SIDE), DENY_INTERNET]), {"Storage.EastUS", "EventHub.WestUS"}),
        # a deny with a lower priority number, listed after the allows
        (
            Scene(
                subnet_rules=[
                    *allows(SOURCE_SIDE, 200),
                    out("Deny-AAD", 150, "Deny", ["AzureActiveDirectory"]),
                ]
            ),
            {"AzureActiveDirectory"},
        ),
        # a custom deny-all before the default AllowInternetOutBound
        (
            Scene(nic_rules=[out("Deny-All", 4096, "Deny", ["*"], ports=["*"], protocol="*")]),
            set(SOURCE_SIDE),
        ),
        # a readiness candidate (no ASR objects yet) is judged the same way
        (Scene(subnet_rules=[*allows(SOURCE_SIDE[:2]), DENY_INTERNET], candidate=True), set(SOURCE_SIDE[2:])),
    ],
)
def test_blocked_destinations_fire(scene: Scene, expected: set[str]) -> None:
    [finding] = findings("NET-NSG-OUTBOUND", scene)
    assert finding.rule_id == "NET-NSG-OUTBOUND"
    assert (finding.status, finding.severity) == ("fail", Severity.HIGH)
    assert blocked(finding) == expected
    assert finding.resource_id.endswith("/networkInterfaces/vm1-nic")
    assert "vm1" in finding.message and "vnet-app/default" in finding.message


@pytest.mark.parametrize(
    "scene",
    [
        Scene(),  # no NSG at all
        Scene(subnet_rules=[]),  # defaults only: AllowInternetOutBound
        Scene(subnet_rules=[*allows(SOURCE_SIDE), DENY_INTERNET]),
        Scene(subnet_rules=[*allows(SOURCE_SIDE), DENY_INTERNET], nic_rules=[]),
        # one rule, plural tags and ports (top-level Storage covers Storage.EastUS), then deny all
        Scene(
            subnet_rules=[
                out(
                    "Allow-All",
                    100,
                    "Allow",
                    ["Storage", "AzureActiveDirectory", "EventHub.WestUS", "AzureSiteRecovery"],
                    ports=["80", "440-450"],
                ),
                out("Deny-All", 4096, "Deny", ["*"], ports=["*"], protocol="*", source=["*"]),
            ]
        ),
        # NIC-side denies that cannot match TCP 443 to a service tag: an ASG destination, UDP
        Scene(
            subnet_rules=[*allows(SOURCE_SIDE), DENY_INTERNET],
            nic_rules=[
                out("Deny-Web", 100, "Deny", ports=["*"], protocol="*", dest_asgs=[ASG]),
                out("Deny-QUIC", 110, "Deny", ["Internet"], protocol="Udp"),
            ],
            asgs=[ASG],
        ),
        # a deny for other sources only
        Scene(subnet_rules=[out("Deny-Other", 100, "Deny", ["*"], ports=["*"], source=["10.0.9.0/24"])]),
        # the vault has a private endpoint: AzureSiteRecovery goes there, not to the tag
        Scene(subnet_rules=[*allows(SOURCE_SIDE[:3]), DENY_INTERNET], private_endpoint=True),
    ],
)
def test_allowed_destinations_do_not_fire(scene: Scene) -> None:
    assert findings("NET-NSG-OUTBOUND", scene) == []


def test_message_and_evidence_name_nsg_rule_priority_and_fqdn() -> None:
    [finding] = findings("NET-NSG-OUTBOUND", Scene(subnet_rules=[*allows(SOURCE_SIDE[:3]), DENY_INTERNET]))
    fqdn = "*.hypervrecoverymanager.windowsazure.com"
    assert f"AzureSiteRecovery ({fqdn}) blocked by nsg-subnet rule Deny-Internet (300)" in finding.message
    [asr] = [d for d in finding.evidence["destinations"] if d["destination"] == "AzureSiteRecovery"]
    assert asr["blocked_by"][0]["priority"] == 300 and asr["blocked_by"][0]["nsg"] == "nsg-subnet"
    assert asr["fqdn"] == "*.hypervrecoverymanager.windowsazure.com"
    assert [n["attached_to"] for n in finding.evidence["nsgs"]] == ["subnet"]


def test_remediation_allows_the_tag_below_the_blocking_rule_with_a_free_priority() -> None:
    taken = out("Something-Else", 299, "Allow", ["10.9.0.0/16"])
    [finding] = findings(
        "NET-NSG-OUTBOUND", Scene(subnet_rules=[*allows(SOURCE_SIDE[:3]), taken, DENY_INTERNET])
    )
    assert (
        "az network nsg rule create -g rg-net --nsg-name nsg-subnet -n Allow-ASR-AzureSiteRecovery-443 "
        "--priority 298 --direction Outbound --access Allow --protocol Tcp "
        "--destination-address-prefixes AzureSiteRecovery --destination-port-ranges 443"
    ) in finding.remediation


def test_the_cloud_gives_the_fqdns() -> None:
    scene = Scene(
        subnet_rules=[*allows(SOURCE_SIDE[:3]), DENY_INTERNET], kw={"cloud": CLOUDS["AzureChinaCloud"]}
    )
    [finding] = findings("NET-NSG-OUTBOUND", scene)
    assert "*.hypervrecoverymanager.windowsazure.cn" in finding.message


def test_cidrs_covering_part_of_a_tag_give_a_partial_block_with_the_prefixes() -> None:
    storage_by_ip = out("Allow-Storage-IPs", 100, "Allow", ["20.38.1.0/24"])
    rules = [storage_by_ip, *allows(SOURCE_SIDE[1:], 110), DENY_INTERNET]
    [finding] = findings("NET-NSG-OUTBOUND", Scene(subnet_rules=rules))
    assert statuses(finding)["Storage.EastUS"] == "partial"
    [storage] = [d for d in finding.evidence["destinations"] if d["destination"] == "Storage.EastUS"]
    assert storage["blocked_prefixes"] == ["20.60.2.0/24"]
    assert (
        "Storage.EastUS (*.blob.core.windows.net) partly blocked: 1 prefix(es) (20.60.2.0/24)"
        in finding.message
    )


def test_an_ipv6_ip_configuration_needs_the_ipv6_prefixes_too() -> None:
    v4_only = [
        out("Allow-Storage-v4", 100, "Allow", ["20.38.1.0/24", "20.60.2.0/24"]),
        *allows(SOURCE_SIDE[1:], 110),
        DENY_INTERNET,
    ]
    assert findings("NET-NSG-OUTBOUND", Scene(subnet_rules=v4_only)) == []
    [finding] = findings("NET-NSG-OUTBOUND", Scene(subnet_rules=v4_only, ipv6="fd00::4"))
    [storage] = [d for d in finding.evidence["destinations"] if d["destination"] == "Storage.EastUS"]
    assert (storage["status"], storage["blocked_prefixes"]) == ("partial", ["2603:1030:10::/48"])
    assert storage["blocked_by"][0]["source"] == "fd00::4"


def test_a_source_asg_rule_blocks_only_members() -> None:
    deny_members = SecurityRule(
        name="Deny-Web-Out",
        priority=100,
        direction="Outbound",
        access="Deny",
        protocol="*",
        destination_port_ranges=("*",),
        destination_address_prefixes=("Internet",),
        source_application_security_groups=(ASG,),
    )
    assert findings("NET-NSG-OUTBOUND", Scene(subnet_rules=[deny_members])) == []
    [finding] = findings("NET-NSG-OUTBOUND", Scene(subnet_rules=[deny_members], asgs=[ASG.upper()]))
    assert blocked(finding) == set(SOURCE_SIDE)


@pytest.mark.parametrize(
    ("scene", "reason"),
    [
        (Scene(subnet_rules=[DENY_INTERNET], nsg_subscription=OTHER_SUBSCRIPTION), "which was not scanned"),
        (
            Scene(subnet_rules=[*allows(SOURCE_SIDE), DENY_INTERNET], tags=[]),
            "service tags were not collected",
        ),
        (
            Scene(subnet_rules=[out("Allow-FD", 100, "Allow", ["AzureFrontDoor.Backend"]), DENY_INTERNET]),
            "'AzureFrontDoor.Backend' is neither a prefix nor a collected service tag",
        ),
        (
            Scene(
                subnet_rules=[
                    out("Deny-VNet", 100, "Deny", ["VirtualNetwork"], ports=["*"]),
                    *allows(SOURCE_SIDE, 200),
                ],
                gateway=True,
            ),
            "on-premises ranges",
        ),
    ],
)
def test_what_arm_cannot_show_is_unknown(scene: Scene, reason: str) -> None:
    [finding] = findings("NET-NSG-OUTBOUND", scene)
    assert finding.rule_id == "NET-NSG-OUTBOUND"
    assert finding.status == "unknown"
    assert reason in finding.message
    assert "az network nic list-effective-nsg -g rg-app -n vm1-nic" in finding.remediation


def test_a_block_next_to_an_undecidable_destination_fails_and_lists_the_gap() -> None:
    tags = [t for t in TAGS if t.name != "AzureSiteRecovery"]
    [finding] = findings(
        "NET-NSG-OUTBOUND", Scene(subnet_rules=[*allows(SOURCE_SIDE[:2]), DENY_INTERNET], tags=tags)
    )
    assert finding.status == "fail"
    assert blocked(finding) == {"EventHub.WestUS"}
    assert [u["destination"] for u in finding.evidence["unknown"]] == ["AzureSiteRecovery"]
    assert "Not decidable" in finding.message


def test_an_unread_nic_nsg_cannot_hide_a_block_by_the_subnet_nsg() -> None:
    scene = Scene(
        subnet_rules=[DENY_INTERNET], nsg_subscription=OTHER_SUBSCRIPTION, nic_rules=[DENY_INTERNET]
    )
    [finding] = findings("NET-NSG-OUTBOUND", scene)
    assert finding.status == "fail" and blocked(finding) == set(SOURCE_SIDE)
    assert [n["read"] for n in finding.evidence["nsgs"]] == [True, False]


@pytest.mark.parametrize(
    ("second_nic_rules", "fires"),
    [([DENY_INTERNET], True), ([*allows(SOURCE_SIDE), DENY_INTERNET], False)],
)
def test_a_second_nic_in_the_same_subnet_is_judged_by_its_own_nsg(
    second_nic_rules: list[SecurityRule], fires: bool
) -> None:
    ctx = Scene().context()  # vm1-nic: no NSG on it nor on the subnet, so it passes
    vm, vnet = ctx.inventory.virtual_machines[0], ctx.inventory.virtual_networks[0]
    _, second = vm_with_nic("vm1-second", "eastus", subnet_id(vnet))
    second.virtual_machine_id = vm.id
    second.ip_configurations[0].private_ip_address = "10.0.0.5"
    own = nsg("nsg-second", second_nic_rules)
    second.network_security_group_id = own.id
    ctx.inventory.network_interfaces.append(second)
    ctx.inventory.network_security_groups.append(own)
    found = run("NET-NSG-OUTBOUND", ctx)
    assert_reportable(found)
    if not fires:
        assert found == []
        return
    [finding] = found
    assert finding.resource_id == second.id
    assert blocked(finding) == set(SOURCE_SIDE)
    assert finding.evidence["nsgs"] == [{"id": own.id, "attached_to": "nic", "read": True}]
    assert "NIC 'vm1-second-nic' of protected VM 'vm1'" in finding.message


# --- NET-NSG-RECOVERY-SIDE ----------------------------------------------------------------------------


@dataclass
class Recovery:
    """A West US recovery VNet for an East US -> West US workload, with an NSG on its subnets."""

    rules: list[SecurityRule] | None = field(default_factory=lambda: [*allows(RECOVERY_SIDE), DENY_INTERNET])
    subnets: tuple[tuple[str, str], ...] = (("default", "10.1.0.0/24"),)
    by: str = "item"  # item | mapping | flags
    # the recovery VNet also holds a VM protected the other way (West US -> East US)
    shared_with_source: bool = False
    nsg_subscription: str = SUBSCRIPTION

    def context(self) -> Any:
        dr = virtual_network("vnet-dr", "westus", prefixes=("10.1.0.0/16",), subnets=self.subnets)
        objects: list[Any] = [dr, *TAGS]
        if self.rules is not None:
            dr_nsg = nsg("nsg-dr", self.rules, self.nsg_subscription)
            if self.nsg_subscription == SUBSCRIPTION:
                objects.append(dr_nsg)
            for s in dr.subnets:
                s.network_security_group_id = dr_nsg.id
        source = virtual_network("vnet-app", "eastus")
        vm, nic = vm_with_nic("vm1", "eastus", subnet_id(dr if self.shared_with_source else source))
        objects += [source, vm, nic]
        owner = vault("rsv", "westus")
        if self.by == "flags":
            return context(inventory(*objects), source_region="eastus", target_region="westus")
        objects.append(owner)
        if self.shared_with_source:
            objects.append(
                a2a_item(owner, vm, primary="westus", recovery="eastus", recovery_network_id=source.id)
            )
        if self.by == "mapping":
            objects.append(
                network_mapping(
                    owner,
                    "map",
                    primary_network_id=source.id,
                    recovery_network_id=asr_case(dr.id),
                    primary_location="eastus",
                    recovery_location="westus",
                )
            )
        elif not self.shared_with_source:
            objects.append(a2a_item(owner, vm, recovery_network_id=asr_case(dr.id)))
        return context(inventory(*objects))


@pytest.mark.parametrize(
    ("recovery", "expected"),
    [
        # the source side's NSG copied unchanged: the mirrored Storage and EventHub tags are blocked
        (Recovery(rules=[*allows(SOURCE_SIDE), DENY_INTERNET]), {"Storage.WestUS", "EventHub.EastUS"}),
        (
            Recovery(rules=[*allows(SOURCE_SIDE), DENY_INTERNET], by="mapping"),
            {"Storage.WestUS", "EventHub.EastUS"},
        ),
        (
            Recovery(rules=[*allows(SOURCE_SIDE), DENY_INTERNET], by="flags"),
            {"Storage.WestUS", "EventHub.EastUS"},
        ),
        (
            Recovery(rules=[out("Deny-All", 4000, "Deny", ["*"], ports=["*"], protocol="*")]),
            set(RECOVERY_SIDE),
        ),
    ],
)
def test_recovery_subnet_blocking_re_protection_fires(recovery: Recovery, expected: set[str]) -> None:
    [finding] = run("NET-NSG-RECOVERY-SIDE", recovery.context())
    assert_reportable([finding])
    assert (finding.rule_id, finding.status, finding.severity) == (
        "NET-NSG-RECOVERY-SIDE",
        "fail",
        Severity.MEDIUM,
    )
    assert blocked(finding) == expected
    assert finding.resource_id.endswith("/virtualNetworks/vnet-dr/subnets/default")
    assert "vnet-dr/default" in finding.message and "eastus -> westus" in finding.message


@pytest.mark.parametrize(
    "recovery",
    [
        Recovery(),  # mirrored correctly
        Recovery(rules=None),  # no NSG
        Recovery(rules=[]),  # defaults only
        # infrastructure subnets never host a failed-over VM
        Recovery(
            rules=[DENY_INTERNET],
            subnets=(("GatewaySubnet", "10.1.255.0/27"), ("AzureBastionSubnet", "10.1.254.0/26")),
        ),
        # the recovery VNet of East US -> West US also holds a VM protected West US -> East US:
        # its subnet needs the tags NET-NSG-OUTBOUND judges for that NIC, reported there, once
        Recovery(rules=[*allows(SOURCE_SIDE), DENY_INTERNET], by="mapping", shared_with_source=True),
    ],
)
def test_recovery_subnet_that_allows_re_protection_does_not_fire(recovery: Recovery) -> None:
    assert run("NET-NSG-RECOVERY-SIDE", recovery.context()) == []


def test_a_vnet_used_both_ways_is_reported_once_by_the_nic_rule() -> None:
    ctx = Recovery(
        rules=[*allows(SOURCE_SIDE), DENY_INTERNET], by="mapping", shared_with_source=True
    ).context()
    [finding] = run("NET-NSG-OUTBOUND", ctx)
    assert blocked(finding) == {"Storage.WestUS", "EventHub.EastUS"}
    assert run("NET-NSG-RECOVERY-SIDE", ctx) == []


def test_recovery_side_remediation_and_partial_source_ranges() -> None:
    half = out("Deny-Lower-Half", 100, "Deny", ["*"], ports=["*"], source=["10.1.0.0/25"])
    [finding] = run("NET-NSG-RECOVERY-SIDE", Recovery(rules=[half, *allows(RECOVERY_SIDE, 200)]).context())
    assert blocked(finding) == set(RECOVERY_SIDE)
    sources = {b["source"] for d in finding.evidence["destinations"] for b in d["blocked_by"]}
    assert sources == {"10.1.0.0/25"}
    assert (
        "--nsg-name nsg-dr -n Allow-ASR-Storage-WestUS-443 --priority 99" not in finding.remediation
    )  # 99 is not valid
    assert "<free priority below 100>" in finding.remediation


def test_recovery_side_unread_nsg_is_unknown() -> None:
    [finding] = run("NET-NSG-RECOVERY-SIDE", Recovery(nsg_subscription=OTHER_SUBSCRIPTION).context())
    assert (finding.rule_id, finding.status) == ("NET-NSG-RECOVERY-SIDE", "unknown")
    assert "which was not scanned" in finding.message
