"""NET-GATEWAY-DEFAULT-SITE: a VPN gateway's Default Site tunnelling a source VNet's traffic."""

from __future__ import annotations

from typing import Any

import pytest
from builders import OTHER_SUBSCRIPTION, assert_catalogued, assert_reportable, run
from hybrid_builders import gateway, hub_for, peer_hub, protect, protected, route_table, site, vnet

from asr_audit.access.clouds import CLOUDS
from asr_audit.findings import Finding, Severity
from asr_audit.inventory import Route


def findings(ctx: Any) -> list[Finding]:
    found = run("NET-GATEWAY-DEFAULT-SITE", ctx)
    assert_reportable(found)
    return found


def test_metadata_is_catalogued() -> None:
    assert_catalogued("NET-GATEWAY-DEFAULT-SITE", "network")


def test_own_gateway_with_a_default_site_fires_with_the_clouds_endpoints() -> None:
    src, rec = vnet("vnet-app", "eastus"), vnet("vnet-dr", "westus2", "10.1.0.0/16")
    gw = gateway(src, default_site=site("lgw-hq"))
    [finding] = findings(protected(src, rec, gw))
    assert (finding.rule_id, finding.status, finding.severity) == (
        "NET-GATEWAY-DEFAULT-SITE",
        "fail",
        Severity.MEDIUM,
    )
    assert finding.resource_id == gw.id
    assert "'lgw-hq'" in finding.message and "'vnet-app'" in finding.message and "vm1" in finding.message
    assert "*.blob.core.windows.net" in finding.message and "login.microsoftonline.com" in finding.message
    assert finding.evidence["tunnelled_subnets"] == [src.subnets[0].id]
    assert "Storage.eastus" in finding.remediation and "EventHub.westus2" in finding.remediation


def test_a_sovereign_cloud_shows_its_own_endpoints() -> None:
    src, rec = vnet("vnet-app", "chinaeast2"), vnet("vnet-dr", "chinanorth2", "10.1.0.0/16")
    [finding] = findings(
        protected(src, rec, gateway(src, default_site=site()), cloud=CLOUDS["AzureChinaCloud"])
    )
    assert "*.blob.core.chinacloudapi.cn" in finding.message and "login.chinacloudapi.cn" in finding.message
    assert "windows.net" not in finding.message
    assert (
        finding.evidence["required_endpoints"]["AzureSiteRecovery"]
        == "*.hypervrecoverymanager.windowsazure.cn"
    )


def test_a_hub_gateway_used_through_transit_fires_once_for_all_its_spokes() -> None:
    web, app = vnet("vnet-web", "eastus"), vnet("vnet-app", "eastus", "10.1.0.0/16")
    hub = hub_for(web, app)
    gw = gateway(hub, default_site=site())
    ctx = protected(web, None, hub, app, gw, target="westus2")
    protect(ctx.inventory, app, None, "westus2", "vm2")
    [finding] = findings(ctx)
    assert finding.resource_id == gw.id
    served = {s["vnet"]: s["via_hub"] for s in finding.evidence["served_vnets"]}
    assert served == {web.id: hub.id, app.id: hub.id}
    assert "through hub 'vnet-hub'" in finding.message
    assert len(finding.evidence["tunnelled_subnets"]) == 2


@pytest.mark.parametrize(
    "why",
    [
        "no default site",
        "hub without gateway transit",
        "peering not connected",
        "gateway of a recovery VNet only",
    ],
)
def test_near_misses_stay_quiet(why: str) -> None:
    src, rec = vnet("vnet-app", "eastus"), vnet("vnet-dr", "westus2", "10.1.0.0/16")
    extra: list[Any] = []
    if why == "no default site":
        extra = [gateway(src)]
    elif why in ("hub without gateway transit", "peering not connected"):
        hub = hub_for(src, transit=why != "hub without gateway transit")
        if why == "peering not connected":
            src.peerings[0].peering_state = "Initiated"
        extra = [hub, gateway(hub, default_site=site())]
    else:
        extra = [gateway(rec, default_site=site())]  # serves no source VNet
    assert run("NET-GATEWAY-DEFAULT-SITE", protected(src, rec, *extra)) == []


def test_a_subnet_with_its_own_default_route_to_internet_escapes_the_default_site() -> None:
    src, rec = vnet("vnet-app", "eastus"), vnet("vnet-dr", "westus2", "10.1.0.0/16")
    table = route_table(src, Route(name="to-internet", address_prefix="0.0.0.0/0", next_hop_type="internet"))
    assert (
        run("NET-GATEWAY-DEFAULT-SITE", protected(src, rec, gateway(src, default_site=site()), table)) == []
    )


def test_a_default_route_to_an_appliance_does_not_escape_it() -> None:
    src, rec = vnet("vnet-app", "eastus"), vnet("vnet-dr", "westus2", "10.1.0.0/16")
    table = route_table(
        src,
        Route(
            name="to-nva",
            address_prefix="0.0.0.0/0",
            next_hop_type="VirtualAppliance",
            next_hop_ip_address="10.0.9.4",
        ),
        Route(
            name="storage", address_prefix="Storage", next_hop_type="Internet"
        ),  # one tag is not all of them
    )
    [finding] = findings(protected(src, rec, gateway(src, default_site=site()), table))
    assert finding.evidence["exempt_subnets"] == []


def test_a_hub_in_an_unscanned_subscription_is_unknown() -> None:
    src, rec = vnet("vnet-app", "eastus"), vnet("vnet-dr", "westus2", "10.1.0.0/16")
    peer_hub(src, vnet("vnet-hub", "eastus", subscription=OTHER_SUBSCRIPTION).id)
    [finding] = findings(protected(src, rec))
    assert (finding.rule_id, finding.status, finding.resource_id) == (
        "NET-GATEWAY-DEFAULT-SITE",
        "unknown",
        src.id,
    )
    assert OTHER_SUBSCRIPTION in finding.message and "not scanned" in finding.message


def test_an_unread_hub_cannot_matter_when_every_subnet_escapes() -> None:
    src, rec = vnet("vnet-app", "eastus"), vnet("vnet-dr", "westus2", "10.1.0.0/16")
    peer_hub(src, vnet("vnet-hub", "eastus", subscription=OTHER_SUBSCRIPTION).id)
    table = route_table(src, Route(name="to-internet", address_prefix="0.0.0.0/0", next_hop_type="Internet"))
    assert run("NET-GATEWAY-DEFAULT-SITE", protected(src, rec, table)) == []
