"""NET-ADDRESS-OVERLAP: each trap with the case that fires and the case that must not."""

from __future__ import annotations

from collections.abc import Sequence
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
from asr_audit.inventory import Connection, Coverage, Peering, VirtualNetwork, VirtualNetworkGateway

CIRCUIT = resource_id("Microsoft.Network/expressRouteCircuits", "er-onprem", group="rg-hybrid")
CIRCUIT_2 = resource_id("Microsoft.Network/expressRouteCircuits", "er-dr", group="rg-hybrid")
SITE = resource_id("Microsoft.Network/localNetworkGateways", "hq", group="rg-hybrid")


def vnet(name: str, location: str, *prefixes: str, subscription: str | None = None) -> VirtualNetwork:
    kw = {"subscription": subscription} if subscription else {}
    space = prefixes or ("10.0.0.0/16",)
    return virtual_network(name, location, prefixes=space, subnets=(("default", space[0]),), **kw)


def linked(net: VirtualNetwork, *, circuit: str | None = None, site: str | None = None) -> list[Any]:
    """A gateway in `net` and a connection from it to a circuit (ExpressRoute) or a site (VPN)."""
    gw = VirtualNetworkGateway(
        id=resource_id("Microsoft.Network/virtualNetworkGateways", f"gw-{net.name}"),
        name=f"gw-{net.name}",
        location=net.location,
        gateway_type="ExpressRoute" if circuit else "Vpn",
        virtual_network_id=net.id.upper(),  # case-variant reference
    )
    conn = Connection(
        id=resource_id("Microsoft.Network/connections", f"cn-{net.name}"),
        name=f"cn-{net.name}",
        location=net.location,
        connection_type="ExpressRoute" if circuit else "IPsec",
        virtual_network_gateway1_id=asr_case(gw.id),
        peer_id=circuit,
        local_network_gateway2_id=site,
        connection_status="Connected",
    )
    return [gw, conn]


def peer(spoke: VirtualNetwork, hub_id: str, *, state: str = "Connected", use_remote: bool = True) -> None:
    spoke.peerings.append(
        Peering(
            id=f"{spoke.id}/virtualNetworkPeerings/to-hub",
            name="to-hub",
            remote_virtual_network_id=hub_id,
            peering_state=state,
            use_remote_gateways=use_remote,
        )
    )


def hub_for(spoke: VirtualNetwork, *, transit: bool = True) -> VirtualNetwork:
    hub = vnet("vnet-hub-dr", spoke.location, "10.200.0.0/16")
    hub.peerings.append(
        Peering(
            id=f"{hub.id}/virtualNetworkPeerings/to-spoke",
            name="to-spoke",
            remote_virtual_network_id=spoke.id.lower(),
            peering_state="Connected",
            allow_gateway_transit=transit,
        )
    )
    peer(spoke, hub.id)
    return hub


def scenario(src: VirtualNetwork, recs: Sequence[VirtualNetwork], *extra: Any, **ctx_kw: Any) -> Any:
    """A protected VM in `src` replicating into the first recovery VNet; the others are in the
    target region (readiness candidates)."""
    vm, nic = vm_with_nic("vm1", src.location, subnet_id(src))
    owner = vault("rsv", recs[0].location)
    item = a2a_item(
        owner, vm, primary=src.location, recovery=recs[0].location, recovery_network_id=asr_case(recs[0].id)
    )
    return context(
        inventory(src, *recs, vm, nic, owner, item, *extra), target_region=recs[0].location, **ctx_kw
    )


def findings(rule_id: str, ctx: Any) -> list[Finding]:
    found = run(rule_id, ctx)
    assert_reportable(found)
    return found


def test_metadata_is_catalogued() -> None:
    assert_catalogued("NET-ADDRESS", "network")


@pytest.mark.parametrize(
    ("src_prefixes", "rec_prefixes"),
    [
        (["10.0.0.0/16"], ["10.1.0.0/16"]),  # adjacent
        (["10.0.0.0/24", "fd00:1::/48"], ["10.0.1.0/24", "fd00:2::/48"]),
        (["10.0.0.0/8"], ["fd00::/8"]),  # v4 and v6 never compared
        (["10.0.0.0/16"], ["Junk", ""]),  # unparsable spaces are not overlaps
    ],
)
def test_disjoint_address_spaces_do_not_fire(src_prefixes: list[str], rec_prefixes: list[str]) -> None:
    src, rec = vnet("vnet-app", "eastus", *src_prefixes), vnet("vnet-dr", "westus", *rec_prefixes)
    assert (
        findings(
            "NET-ADDRESS-OVERLAP",
            scenario(src, [rec], *linked(src, circuit=CIRCUIT), *linked(rec, circuit=CIRCUIT)),
        )
        == []
    )


def test_overlap_without_shared_connection_is_info_with_the_ranges() -> None:
    src = vnet("vnet-app", "eastus", "10.0.0.0/16", "fd00:1::/48")
    rec = vnet("vnet-dr", "westus", "10.0.128.0/17", "192.168.0.0/24", "fd00:1:0:5::/64")
    [finding] = findings("NET-ADDRESS-OVERLAP", scenario(src, [rec]))
    assert (finding.rule_id, finding.status, finding.severity) == (
        "NET-ADDRESS-OVERLAP",
        "fail",
        Severity.INFO,
    )
    assert finding.resource_id == src.id and finding.key == asr_case(rec.id).lower()
    assert [o["overlap"] for o in finding.evidence["overlaps"]] == ["10.0.128.0/17", "fd00:1:0:5::/64"]
    assert "disconnected" in finding.message and "vnet-dr" in finding.message


@pytest.mark.parametrize(
    ("extra_src", "extra_rec", "shared"),
    [
        ({"circuit": CIRCUIT}, {"circuit": CIRCUIT.upper()}, "er-onprem"),  # same circuit, case-variant id
        ({"site": SITE}, {"site": asr_case(SITE)}, "hq"),  # same VPN site
    ],
)
def test_both_connected_to_the_same_link_is_high(extra_src: dict, extra_rec: dict, shared: str) -> None:
    src, rec = vnet("vnet-app", "eastus"), vnet("vnet-dr", "westus")
    [finding] = findings(
        "NET-ADDRESS-OVERLAP", scenario(src, [rec], *linked(src, **extra_src), *linked(rec, **extra_rec))
    )
    assert (finding.status, finding.severity) == ("fail", Severity.HIGH)
    assert f"'{shared}'" in finding.message
    assert len(finding.evidence["shared_connections"]) == 1


def test_different_circuits_stay_info_but_say_so() -> None:
    src, rec = vnet("vnet-app", "eastus"), vnet("vnet-dr", "westus")
    [finding] = findings(
        "NET-ADDRESS-OVERLAP",
        scenario(src, [rec], *linked(src, circuit=CIRCUIT), *linked(rec, circuit=CIRCUIT_2)),
    )
    assert finding.severity is Severity.INFO
    assert "different links" in finding.message


@pytest.mark.parametrize(
    ("transit", "state", "severity"),
    [
        (True, "Connected", Severity.HIGH),  # spoke reaches the circuit through the hub's gateway
        (False, "Connected", Severity.INFO),  # hub side does not allow gateway transit
        (True, "Initiated", Severity.INFO),  # peering not up
    ],
)
def test_connection_through_a_hub(transit: bool, state: str, severity: Severity) -> None:
    src, rec = vnet("vnet-app", "eastus"), vnet("vnet-dr", "westus")
    hub = hub_for(rec, transit=transit)
    rec.peerings[0].peering_state = state
    ctx = scenario(src, [rec], hub, *linked(src, circuit=CIRCUIT), *linked(hub, circuit=CIRCUIT))
    [finding] = findings("NET-ADDRESS-OVERLAP", ctx)
    assert finding.severity is severity
    if severity is Severity.HIGH:
        [via] = finding.evidence["recovery_connections"]
        assert via["via_hub"] == hub.id


def test_hub_in_an_unscanned_subscription_is_unknown_when_it_could_clash() -> None:
    src, rec = vnet("vnet-app", "eastus"), vnet("vnet-dr", "westus")
    peer(rec, vnet("vnet-hub", "westus", subscription=OTHER_SUBSCRIPTION).id)
    [finding] = findings("NET-ADDRESS-OVERLAP", scenario(src, [rec], *linked(src, circuit=CIRCUIT)))
    assert (finding.rule_id, finding.status) == ("NET-ADDRESS-OVERLAP", "unknown")
    assert OTHER_SUBSCRIPTION in finding.message and "not scanned" in finding.message


def test_hub_in_an_unscanned_subscription_cannot_clash_with_an_unconnected_source() -> None:
    src, rec = vnet("vnet-app", "eastus"), vnet("vnet-dr", "westus")
    peer(rec, vnet("vnet-hub", "westus", subscription=OTHER_SUBSCRIPTION).id)
    [finding] = findings("NET-ADDRESS-OVERLAP", scenario(src, [rec]))
    assert (finding.status, finding.severity) == ("fail", Severity.INFO)


def test_one_finding_per_pair_and_none_for_a_vnet_against_itself() -> None:
    src = vnet("vnet-app", "eastus")
    rec, candidate = vnet("vnet-dr", "westus"), vnet("vnet-dr2", "westus", "10.0.64.0/18")
    ctx = scenario(src, [rec, candidate])
    found = findings("NET-ADDRESS-OVERLAP", ctx)
    assert sorted(f.evidence["recovery_vnet"] for f in found) == sorted([rec.id, candidate.id])
    # same-region readiness: the source VNet is also a "recovery" VNet, never paired with itself
    ctx.inventory.protected_items.clear()
    assert (
        run("NET-ADDRESS-OVERLAP", context(ctx.inventory, source_region="eastus", target_region="eastus"))
        == []
    )


# --- missing hybrid data never lowers the severity ------------------------------------------------


@pytest.mark.parametrize(
    "missing",
    [
        gap(
            "virtual_network_gateways:rg-hybrid",
            object_id=f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-hybrid",
        ),
        gap("connections:rg-hybrid", "timeout"),
        gap("gateway_resource_groups", "throttled"),
        gap("express_route_circuits", "partial", unread=["er-x"]),
    ],
    ids=lambda c: c.collector,
)
def test_an_overlap_with_unread_gateway_data_is_unknown_at_high_not_info(missing: Coverage) -> None:
    src, rec = vnet("vnet-app", "eastus"), vnet("vnet-dr", "westus")
    [finding] = findings("NET-ADDRESS-OVERLAP", scenario(src, [rec], missing))
    assert (finding.rule_id, finding.status, finding.severity) == (
        "NET-ADDRESS-OVERLAP",
        "unknown",
        Severity.HIGH,
    )
    assert missing.collector in finding.message
    assert any(missing.collector in u for u in finding.evidence["unknown"])


def test_an_overlap_on_one_link_stays_a_high_failure_with_gaps_around() -> None:
    src, rec = vnet("vnet-app", "eastus"), vnet("vnet-dr", "westus")
    ctx = scenario(
        src, [rec], *linked(src, circuit=CIRCUIT), *linked(rec, circuit=CIRCUIT), gap("connections:x")
    )
    [finding] = findings("NET-ADDRESS-OVERLAP", ctx)
    assert (finding.status, finding.severity) == ("fail", Severity.HIGH)


def test_gaps_in_an_unrelated_subscription_or_collector_leave_the_info() -> None:
    src, rec = vnet("vnet-app", "eastus"), vnet("vnet-dr", "westus")
    elsewhere = gap("virtual_network_gateways:rg", subscription=OTHER_SUBSCRIPTION)
    [finding] = findings("NET-ADDRESS-OVERLAP", scenario(src, [rec], elsewhere, gap("disks")))
    assert (finding.status, finding.severity) == ("fail", Severity.INFO)
