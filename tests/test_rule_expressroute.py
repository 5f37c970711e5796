"""ER-PREMIUM-XGEO, ER-TARGET-CONNECTIVITY, ER-TWO-CIRCUITS-ONE-LOCATION: each fires, each near miss
stays quiet, and unread circuits, hubs or recovery VNets give `unknown` where they could change the
verdict. The last tests check the demo estate against its expected.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from builders import OTHER_SUBSCRIPTION, assert_catalogued, assert_reportable, context, gap, inventory, run
from hybrid_builders import (
    circuit,
    circuit_id,
    gateway,
    hub_for,
    link,
    peer_hub,
    protected,
    site,
    vm_with_nic,
    vnet,
)

from asr_audit import ids
from asr_audit.access.clouds import CLOUDS
from asr_audit.app.replay import DEMO_CASSETTE, replay_scan
from asr_audit.collect import ScanRequest
from asr_audit.findings import Finding, Severity
from asr_audit.rules import analyze
from asr_audit.rules.base import Context

ROOT = Path(__file__).resolve().parent.parent


def findings(rule_id: str, ctx: Context) -> list[Finding]:
    found = run(rule_id, ctx)
    assert_reportable(found)
    return found


def test_metadata_is_catalogued() -> None:
    assert_catalogued("ER-", "expressroute")


def er_estate(
    src_region: str, peering_location: str | None, *, tier: str | None = "Standard", target: str = "westus2"
) -> tuple[Context, Any]:
    """A protected VM in `src_region` failing over to `target`; its VNet's ExpressRoute gateway is
    connected to one circuit; the recovery VNet has a gateway of its own."""
    src, rec = vnet("vnet-app", src_region), vnet("vnet-dr", target, "10.1.0.0/16")
    er = circuit("er-hq", peering_location, tier=tier)
    gw = gateway(src, kind="ExpressRoute")
    return protected(src, rec, gw, er, link(gw, er.id), gateway(rec, kind="ExpressRoute")), er


# --- ER-PREMIUM-XGEO --------------------------------------------------------------------------------


def test_standard_circuit_in_another_geopolitical_region_than_the_target_fires() -> None:
    ctx, er = er_estate("brazilsouth", "Sao Paulo")
    [finding] = findings("ER-PREMIUM-XGEO", ctx)
    assert (finding.rule_id, finding.status, finding.severity) == ("ER-PREMIUM-XGEO", "fail", Severity.MEDIUM)
    assert finding.resource_id == er.id
    [target] = finding.evidence["unreachable_targets"]
    assert (target["target_region"], target["target_geo"]) == ("westus2", "North America")
    assert "South America" in finding.message and "'vm1'" in finding.message
    assert "--sku-tier Premium" in finding.remediation and "-n er-hq" in finding.remediation
    assert "Seattle" in finding.remediation  # a peering location next to the target region


@pytest.mark.parametrize(
    ("src_region", "location", "tier", "target"),
    [
        ("brazilsouth", "Sao Paulo", "Premium", "westus2"),
        ("eastus", "Washington DC", "Standard", "westus2"),
        ("eastus", "Washington DC", "Standard", "canadacentral"),  # Canada is in North America too
        ("eastus", "washington dc", "Local", "eastus2"),  # a local region of Washington DC
    ],
)
def test_circuits_that_reach_the_target_stay_quiet(
    src_region: str, location: str, tier: str, target: str
) -> None:
    ctx, _ = er_estate(src_region, location, tier=tier, target=target)
    assert run("ER-PREMIUM-XGEO", ctx) == []


def test_a_local_circuit_does_not_reach_other_regions_of_its_geopolitical_region() -> None:
    ctx, _ = er_estate("eastus", "Washington DC", tier="Local", target="westus2")
    [finding] = findings("ER-PREMIUM-XGEO", ctx)
    assert "eastus, eastus2" in finding.evidence["unreachable_targets"][0]["reason"]
    assert "ExpressRoute Local" in finding.message
    assert "--sku-tier Standard" in finding.remediation  # westus2 is in the circuit's geopolitical region


def test_a_circuit_reached_through_hub_transit_serves_the_source_side() -> None:
    src, rec = vnet("vnet-app", "brazilsouth"), vnet("vnet-dr", "westus2", "10.1.0.0/16")
    hub = hub_for(src)
    er = circuit("er-hq", "Sao Paulo")
    gw = gateway(hub, kind="ExpressRoute")
    [finding] = findings("ER-PREMIUM-XGEO", protected(src, rec, hub, gw, er, link(gw, er.id)))
    assert finding.resource_id == er.id
    assert finding.evidence["unreachable_targets"][0]["source_vnets"] == [src.id]


def test_without_gateway_transit_the_hub_circuit_does_not_serve_the_spoke() -> None:
    src, rec = vnet("vnet-app", "brazilsouth"), vnet("vnet-dr", "westus2", "10.1.0.0/16")
    hub = hub_for(src, transit=False)  # the hub's own link (brazilsouth) is inside South America
    er = circuit("er-hq", "Sao Paulo")
    gw = gateway(hub, kind="ExpressRoute")
    assert run("ER-PREMIUM-XGEO", protected(src, rec, hub, gw, er, link(gw, er.id))) == []


def test_a_circuit_already_linked_outside_its_geopolitical_region_fires_without_any_workload() -> None:
    europe = vnet("vnet-weu", "westeurope")
    er = circuit("er-sao", "Sao Paulo")
    gw = gateway(europe, kind="ExpressRoute")
    [finding] = findings("ER-PREMIUM-XGEO", context(inventory(europe, gw, er, link(gw, er.id))))
    [linked] = finding.evidence["links_outside_reach"]
    assert (linked["region"], linked["geo"], linked["linked"]) == ("westeurope", "Europe", europe.id)
    assert finding.evidence["unreachable_targets"] == []


def test_a_link_whose_gateway_was_not_read_is_judged_by_the_connections_region() -> None:
    er = circuit("er-sao", "Sao Paulo")
    ghost = gateway(vnet("vnet-weu", "westeurope"), kind="ExpressRoute")  # not in the inventory
    [finding] = findings("ER-PREMIUM-XGEO", context(inventory(er, link(ghost, er.id))))
    assert finding.evidence["links_outside_reach"][0]["region"] == "westeurope"


def test_china_east_and_china_north_are_different_geopolitical_regions() -> None:
    ctx, _ = er_estate("chinaeast2", "Shanghai", target="chinanorth2")
    ctx.cloud = CLOUDS["AzureChinaCloud"]
    [finding] = findings("ER-PREMIUM-XGEO", ctx)
    assert finding.evidence["unreachable_targets"][0]["target_geo"] == "China North"


def test_a_peering_location_missing_from_the_table_is_unknown() -> None:
    ctx, er = er_estate("eastus", "Atlantis")
    [finding] = findings("ER-PREMIUM-XGEO", ctx)
    assert (finding.rule_id, finding.status, finding.resource_id) == ("ER-PREMIUM-XGEO", "unknown", er.id)
    assert "'Atlantis'" in finding.message


def test_a_circuit_in_an_unscanned_subscription_serving_the_source_is_unknown() -> None:
    src, rec = vnet("vnet-app", "brazilsouth"), vnet("vnet-dr", "westus2", "10.1.0.0/16")
    gw = gateway(src, kind="ExpressRoute")
    remote = circuit_id("er-shared", OTHER_SUBSCRIPTION)
    [finding] = findings("ER-PREMIUM-XGEO", protected(src, rec, gw, link(gw, remote)))
    assert (finding.status, ids.key(finding.resource_id)) == ("unknown", ids.key(remote))
    assert OTHER_SUBSCRIPTION in finding.message


def test_an_unread_circuit_that_serves_no_source_vnet_is_not_reported() -> None:
    other = vnet("vnet-other", "westeurope")
    gw = gateway(other, kind="ExpressRoute")
    ctx, _ = er_estate("eastus", "Washington DC")
    ctx.inventory.virtual_networks.append(other)
    ctx.inventory.virtual_network_gateways.append(gw)
    ctx.inventory.connections.append(link(gw, circuit_id("er-shared", OTHER_SUBSCRIPTION)))
    assert run("ER-PREMIUM-XGEO", ctx) == []


def test_a_source_hub_in_an_unscanned_subscription_is_unknown() -> None:
    src, rec = vnet("vnet-app", "brazilsouth"), vnet("vnet-dr", "westus2", "10.1.0.0/16")
    peer_hub(src, vnet("vnet-hub", "brazilsouth", subscription=OTHER_SUBSCRIPTION).id)
    [finding] = findings("ER-PREMIUM-XGEO", protected(src, rec))
    assert (finding.status, finding.resource_id, finding.key) == ("unknown", src.id, "hub")


def vpn_with_peer(gw: Any, lng: str) -> Any:
    """A site-to-site connection as ARM may return it: `peer` names the local network gateway too."""
    conn = link(gw, lng, vpn=True)
    conn.peer_id = lng
    return conn


@pytest.mark.parametrize("connection_type", ["IPsec", None])
def test_a_vpn_site_is_not_an_expressroute_circuit(connection_type: str | None) -> None:
    src, rec = vnet("vnet-app", "brazilsouth"), vnet("vnet-dr", "westus2", "10.1.0.0/16")
    gw = gateway(src)
    conn = vpn_with_peer(gw, site("lng-branch"))
    conn.connection_type = connection_type
    ctx = protected(src, rec, gw, conn, gateway(rec))
    assert run("ER-PREMIUM-XGEO", ctx) == []
    assert run("ER-TWO-CIRCUITS-ONE-LOCATION", ctx) == []


def test_a_circuit_next_to_a_vpn_site_is_still_judged() -> None:
    src, rec = vnet("vnet-app", "brazilsouth"), vnet("vnet-dr", "westus2", "10.1.0.0/16")
    gw = gateway(src, kind="ExpressRoute")
    er = circuit("er-hq", "Sao Paulo")
    ctx = protected(src, rec, gw, er, link(gw, er.id), vpn_with_peer(gw, site("lng-branch")), gateway(rec))
    [finding] = findings("ER-PREMIUM-XGEO", ctx)
    assert finding.resource_id == er.id and "lng-branch" not in finding.message


# --- ER-TARGET-CONNECTIVITY -------------------------------------------------------------------------


def hybrid_source(kind: str = "ExpressRoute") -> tuple[Any, list[Any]]:
    """A source VNet connected to on-premises over ExpressRoute or a site-to-site VPN."""
    src = vnet("vnet-app", "eastus")
    gw = gateway(src, kind=kind)
    if kind == "ExpressRoute":
        er = circuit("er-hq", "Washington DC")
        return src, [gw, er, link(gw, er.id)]
    return src, [gw, link(gw, site(), vpn=True)]


@pytest.mark.parametrize("kind", ["ExpressRoute", "Vpn"])
def test_a_recovery_vnet_without_a_gateway_fires(kind: str) -> None:
    src, extra = hybrid_source(kind)
    rec = vnet("vnet-dr", "westus2", "10.1.0.0/16")
    [finding] = findings("ER-TARGET-CONNECTIVITY", protected(src, rec, *extra))
    assert (finding.rule_id, finding.status, finding.severity) == (
        "ER-TARGET-CONNECTIVITY",
        "fail",
        Severity.LOW,
    )
    assert finding.resource_id == rec.id
    assert "'vnet-dr'" in finding.message and "'vm1'" in finding.message
    # the circuit by its own name; a local network gateway (never collected) as the connection spells it
    assert ("'er-hq'" if kind == "ExpressRoute" else "'LGW-HQ'") in finding.message


@pytest.mark.parametrize(
    "plan", ["own gateway, no connection", "hub gateway in use", "hub prepared, not used"]
)
def test_a_recovery_vnet_with_a_gateway_or_a_prepared_hub_stays_quiet(plan: str) -> None:
    src, extra = hybrid_source()
    rec = vnet("vnet-dr", "westus2", "10.1.0.0/16")
    if plan == "own gateway, no connection":  # IP retention keeps it disconnected on purpose
        extra.append(gateway(rec, kind="ExpressRoute"))
    else:
        hub = hub_for(rec, name="vnet-hub-dr")
        rec.peerings[0].use_remote_gateways = plan == "hub gateway in use"
        extra += [hub, gateway(hub, kind="ExpressRoute")]
    assert run("ER-TARGET-CONNECTIVITY", protected(src, rec, *extra)) == []


def test_a_hub_without_transit_is_not_a_gateway_for_the_recovery_vnet() -> None:
    src, extra = hybrid_source()
    rec = vnet("vnet-dr", "westus2", "10.1.0.0/16")
    hub = hub_for(rec, name="vnet-hub-dr", transit=False)
    rec.peerings[0].use_remote_gateways = False
    [finding] = findings(
        "ER-TARGET-CONNECTIVITY", protected(src, rec, *extra, hub, gateway(hub, kind="ExpressRoute"))
    )
    assert finding.resource_id == rec.id


def test_a_source_without_hybrid_connectivity_stays_quiet() -> None:
    src, rec = vnet("vnet-app", "eastus"), vnet("vnet-dr", "westus2", "10.1.0.0/16")
    assert (
        run("ER-TARGET-CONNECTIVITY", protected(src, rec, gateway(src))) == []
    )  # a gateway, but no connection


def test_readiness_without_a_chosen_network_looks_at_the_whole_target_region() -> None:
    src, extra = hybrid_source()
    candidate = vnet("vnet-dr", "westus2", "10.1.0.0/16")
    vm, nic = vm_with_nic("vm-new", "eastus", src.subnets[0].id)
    ctx = context(
        inventory(src, candidate, vm, nic, *extra), source_region="eastus", target_region="West US 2"
    )
    [finding] = findings("ER-TARGET-CONNECTIVITY", ctx)
    assert (finding.resource_id, finding.key) == (src.id, "target:westus2")
    assert finding.evidence["target_region_vnets"] == [candidate.id]
    ctx.inventory.virtual_network_gateways.append(gateway(candidate))
    assert (
        run("ER-TARGET-CONNECTIVITY", context(ctx.inventory, source_region="eastus", target_region="westus2"))
        == []
    )


def test_a_recovery_vnet_in_an_unscanned_subscription_is_unknown() -> None:
    src, extra = hybrid_source()
    rec = vnet("vnet-dr", "westus2", "10.1.0.0/16", subscription=OTHER_SUBSCRIPTION)
    ctx = protected(src, None, *extra, target="westus2")
    ctx.inventory.protected_items[0].recovery_network_id = rec.id.upper()
    [finding] = findings("ER-TARGET-CONNECTIVITY", ctx)
    assert (finding.status, ids.key(finding.resource_id)) == ("unknown", ids.key(rec.id))
    assert OTHER_SUBSCRIPTION in finding.message


def test_a_source_reaching_on_premises_only_through_an_unread_hub_is_unknown() -> None:
    src, rec = vnet("vnet-app", "eastus"), vnet("vnet-dr", "westus2", "10.1.0.0/16")
    peer_hub(src, vnet("vnet-hub", "eastus", subscription=OTHER_SUBSCRIPTION).id)
    [finding] = findings("ER-TARGET-CONNECTIVITY", protected(src, rec))
    assert (finding.status, finding.resource_id) == ("unknown", rec.id)
    assert "hub that was not read" in finding.message


# --- ER-TWO-CIRCUITS-ONE-LOCATION -------------------------------------------------------------------


def two_circuit_estate(first: str | None, second: str | None, **kw: Any) -> tuple[Context, Any]:
    """The source VNet's ExpressRoute gateway connected to circuits at two peering locations."""
    src, rec = vnet("vnet-app", "eastus"), vnet("vnet-dr", "westus2", "10.1.0.0/16")
    gw = gateway(src, kind="ExpressRoute")
    a = circuit("er-one", first)
    b = circuit("er-two", second, **kw)
    extra: list[Any] = [gw, a, link(gw, a.id), link(gw, b.id)]
    if kw.get("subscription") != OTHER_SUBSCRIPTION:
        extra.append(b)
    return protected(src, rec, *extra), gw


def test_two_circuits_at_one_peering_location_fire_on_the_gateway() -> None:
    ctx, gw = two_circuit_estate("Washington DC", "washington dc")  # case variant of the same place
    [finding] = findings("ER-TWO-CIRCUITS-ONE-LOCATION", ctx)
    assert (finding.rule_id, finding.status, finding.severity) == (
        "ER-TWO-CIRCUITS-ONE-LOCATION",
        "fail",
        Severity.HIGH,
    )
    assert finding.resource_id == gw.id
    assert "'er-one', 'er-two'" in finding.message and "Washington DC2" in finding.message
    [group] = finding.evidence["locations"]
    assert len(group["circuits"]) == 2


@pytest.mark.parametrize(
    ("first", "second"), [("Washington DC", "Washington DC2"), ("Washington DC", "Seattle")]
)
def test_circuits_at_different_peering_locations_stay_quiet(first: str, second: str) -> None:
    ctx, _ = two_circuit_estate(first, second)
    assert run("ER-TWO-CIRCUITS-ONE-LOCATION", ctx) == []


def test_one_circuit_linked_twice_is_not_two_circuits() -> None:
    src, rec = vnet("vnet-app", "eastus"), vnet("vnet-dr", "westus2", "10.1.0.0/16")
    gw = gateway(src, kind="ExpressRoute")
    er = circuit("er-one", "Washington DC")
    ctx = protected(src, rec, gw, er, link(gw, er.id, name="cn-a"), link(gw, er.id.lower(), name="cn-b"))
    assert run("ER-TWO-CIRCUITS-ONE-LOCATION", ctx) == []


def test_a_recovery_vnet_gateway_is_in_scope_and_an_unrelated_one_is_not() -> None:
    src, rec = vnet("vnet-app", "eastus"), vnet("vnet-dr", "westus2", "10.1.0.0/16")
    other = vnet("vnet-lab", "northeurope", "10.9.0.0/16")
    rec_gw, lab_gw = gateway(rec, kind="ExpressRoute"), gateway(other, kind="ExpressRoute")
    a, b = circuit("er-one", "Seattle"), circuit("er-two", "Seattle")
    c, d = circuit("er-lab1", "Dublin"), circuit("er-lab2", "Dublin")
    links = [link(rec_gw, a.id), link(rec_gw, b.id), link(lab_gw, c.id), link(lab_gw, d.id)]
    found = findings(
        "ER-TWO-CIRCUITS-ONE-LOCATION", protected(src, rec, other, rec_gw, lab_gw, a, b, c, d, *links)
    )
    assert [f.resource_id for f in found] == [rec_gw.id]


def test_a_second_circuit_in_an_unscanned_subscription_is_unknown() -> None:
    ctx, gw = two_circuit_estate("Washington DC", "Washington DC", subscription=OTHER_SUBSCRIPTION)
    [finding] = findings("ER-TWO-CIRCUITS-ONE-LOCATION", ctx)
    assert (finding.status, finding.resource_id) == ("unknown", gw.id)
    assert OTHER_SUBSCRIPTION in finding.message


def test_a_single_unread_circuit_cannot_share_a_location_with_anything() -> None:
    src, rec = vnet("vnet-app", "eastus"), vnet("vnet-dr", "westus2", "10.1.0.0/16")
    gw = gateway(src, kind="ExpressRoute")
    assert (
        run(
            "ER-TWO-CIRCUITS-ONE-LOCATION",
            protected(src, rec, gw, link(gw, circuit_id("er-x", OTHER_SUBSCRIPTION))),
        )
        == []
    )


# --- the demo estate ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_findings() -> list[Finding]:
    request = ScanRequest(subscriptions=[], cloud=CLOUDS["AzureCloud"], all_subscriptions=True, concurrency=4)
    inv = replay_scan(DEMO_CASSETTE, request)
    return analyze(
        Context(inventory=inv),
        select=[
            "ER-PREMIUM-XGEO",
            "ER-TARGET-CONNECTIVITY",
            "ER-TWO-CIRCUITS-ONE-LOCATION",
            "NET-GATEWAY-DEFAULT-SITE",
        ],
    )


def _expected(section: str, rule_id: str) -> list[dict[str, Any]]:
    data = yaml.safe_load((ROOT / "tests/scenarios/broken/expected.yaml").read_text(encoding="utf-8"))
    return [e for e in data[section] if e["rule_id"] == rule_id]


@pytest.mark.parametrize(
    "rule_id",
    ["ER-PREMIUM-XGEO", "ER-TARGET-CONNECTIVITY", "ER-TWO-CIRCUITS-ONE-LOCATION", "NET-GATEWAY-DEFAULT-SITE"],
)
def test_the_demo_estate_fires_as_expected_and_its_near_misses_stay_quiet(
    rule_id: str, demo_findings: list[Finding]
) -> None:
    got = {
        (ids.key(f.resource_id), f.severity.value, f.status) for f in demo_findings if f.rule_id == rule_id
    }
    want = {
        (ids.key(e["resource_id"]), e["severity"], e.get("status", "fail"))
        for e in _expected("findings", rule_id)
    }
    assert got == want
    assert got  # each rule fires at least once in the demo
    quiet = {ids.key(e["resource_id"]) for e in _expected("near_misses", rule_id)}
    assert quiet, "a near miss next to every firing"
    assert not quiet & {key for key, _, _ in got}


def test_a_recovery_vnet_whose_gateways_could_not_be_read_is_unknown_not_failing() -> None:
    src, extra = hybrid_source()
    rec = vnet("vnet-dr", "westus2", "10.1.0.0/16")
    unread = gap("virtual_network_gateways:rg-dr", "timeout")
    [finding] = findings("ER-TARGET-CONNECTIVITY", protected(src, rec, *extra, unread))
    assert (finding.rule_id, finding.status, finding.severity) == (
        "ER-TARGET-CONNECTIVITY",
        "unknown",
        Severity.LOW,
    )
    assert "virtual_network_gateways:rg-dr (timeout)" in finding.message
    elsewhere = gap("virtual_network_gateways:rg-dr", subscription=OTHER_SUBSCRIPTION)
    [finding] = findings("ER-TARGET-CONNECTIVITY", protected(src, rec, *extra, elsewhere))
    assert finding.status == "fail"
