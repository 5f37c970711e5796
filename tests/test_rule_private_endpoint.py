"""ASR-PRIVATE-ENDPOINT: a vault reached through Site Recovery private endpoints from a replication VNet
without one (in itself or a peered VNet), or resolving with Azure DNS but linked to no
privatelink.siterecovery.windowsazure.com zone; the three new reads, their parsers, and their gaps."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from builders import (
    a2a_item,
    analyzed,
    context,
    gap,
    inventory,
    network_mapping,
    run,
    vault,
    virtual_network,
    vm_with_nic,
)
from builders import resource_id as rid
from fakearm import FakeArm
from record_cassettes import scenario_request

from asr_audit import ids
from asr_audit.access.credential import StaticTokenCredential
from asr_audit.app import runner
from asr_audit.collect import scan
from asr_audit.collect.fields import Malformed
from asr_audit.collect.private_link import parse_private_endpoint, parse_virtual_network_link
from asr_audit.findings import FindingStatus, Severity
from asr_audit.inventory import (
    SITE_RECOVERY_ZONE,
    Peering,
    PrivateDnsZone,
    PrivateEndpoint,
    PrivateLinkConnection,
    Vault,
    VirtualNetwork,
    VirtualNetworkLink,
)

RULE = "ASR-PRIVATE-ENDPOINT"
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
BROKEN_PROD = "b7e4a1d9-2c3f-4e58-9a6b-1d0f8e7c5a32"


def endpoint(owner: Vault, vnet: VirtualNetwork, group: str = "AzureSiteRecovery") -> PrivateEndpoint:
    return PrivateEndpoint(
        id=rid("Microsoft.Network/privateEndpoints", f"pe-{vnet.name}"),
        name=f"pe-{vnet.name}",
        location=vnet.location,
        subnet_id=f"{vnet.id}/subnets/default",
        connections=[PrivateLinkConnection(private_link_service_id=owner.id.upper(), group_ids=[group])],
    )


ZONE = PrivateDnsZone(
    id=rid("Microsoft.Network/privateDnsZones", SITE_RECOVERY_ZONE), name=SITE_RECOVERY_ZONE
)


def link(vnet: VirtualNetwork, zone: PrivateDnsZone = ZONE) -> VirtualNetworkLink:
    return VirtualNetworkLink(
        id=f"{zone.id}/virtualNetworkLinks/{vnet.name}", zone_id=zone.id, virtual_network_id=vnet.id
    )


def estate(*extra: Any) -> tuple[Vault, VirtualNetwork, VirtualNetwork, list[Any]]:
    """A vault protecting one VM from vnet-src (eastus) to vnet-dr (westus2), by mapping and item."""
    owner = vault("rsv-dr", "westus2")
    src, dr = (
        virtual_network("vnet-src", "eastus"),
        virtual_network("vnet-dr", "westus2", prefixes=["10.1.0.0/16"]),
    )
    vm, nic = vm_with_nic("vm1", "eastus", f"{src.id}/subnets/default")
    mapping = network_mapping(owner, "map", primary_network_id=src.id, recovery_network_id=dr.id)
    item = a2a_item(owner, vm, recovery_network_id=dr.id.lower())
    return owner, src, dr, [owner, src, dr, vm, nic, mapping, item, *extra]


def complete(owner: Vault, src: VirtualNetwork, dr: VirtualNetwork) -> list[Any]:
    return [endpoint(owner, src), endpoint(owner, dr), ZONE, link(src), link(dr)]


def test_fires_on_the_recovery_vnet_without_an_endpoint_or_a_zone_link() -> None:
    owner, src, dr, objects = estate()
    ctx = context(inventory(*objects, endpoint(owner, src), ZONE, link(src)))
    [finding] = run("ASR-PRIVATE-ENDPOINT", ctx)
    assert (finding.resource_id, finding.key, finding.severity) == (dr.id, "rsv-dr", Severity.HIGH)
    assert finding.evidence["roles"] == ["recovery"]
    assert (
        finding.evidence["private_endpoint_in_vnet_or_peer"],
        finding.evidence["linked_to_site_recovery_zone"],
    ) == (
        False,
        False,
    )
    assert "reprotected" in finding.message
    assert {c.resource_id for c in ctx.checks} == {src.id, dr.id}


def test_fires_on_a_source_vnet_linked_but_without_an_endpoint() -> None:
    owner, src, dr, objects = estate()
    [finding] = run(
        "ASR-PRIVATE-ENDPOINT", context(inventory(*objects, endpoint(owner, dr), ZONE, link(src), link(dr)))
    )
    assert (finding.resource_id, finding.evidence["roles"]) == (src.id, ["source"])
    assert finding.evidence["linked_to_site_recovery_zone"] is True


def test_silent_with_an_endpoint_and_a_link_on_both_sides() -> None:
    owner, src, dr, objects = estate()
    assert run("ASR-PRIVATE-ENDPOINT", context(inventory(*objects, *complete(owner, src, dr)))) == []


def test_silent_for_a_hub_endpoint_reached_by_peering_and_custom_dns() -> None:
    """The page's hub and spoke: one endpoint in the hub; a VNet on custom DNS forwards its lookups."""
    owner, src, dr, objects = estate()
    hub = virtual_network("vnet-hub", "eastus", prefixes=["10.9.0.0/16"])
    src.peerings.append(
        Peering(id=f"{src.id}/virtualNetworkPeerings/hub", name="hub", remote_virtual_network_id=hub.id)
    )
    src.dns_servers.append("10.9.0.4")
    ctx = context(inventory(*objects, hub, endpoint(owner, hub), endpoint(owner, dr), ZONE, link(dr)))
    assert run("ASR-PRIVATE-ENDPOINT", ctx) == []


def test_silent_for_a_vault_whose_endpoints_serve_another_sub_resource() -> None:
    owner, src, _, objects = estate()
    assert (
        run("ASR-PRIVATE-ENDPOINT", context(inventory(*objects, endpoint(owner, src, group="AzureBackup"))))
        == []
    )


def test_links_of_another_zone_do_not_count() -> None:
    owner, src, dr, objects = estate()
    name = "privatelink.blob.core.windows.net"
    blob = PrivateDnsZone(id=rid("Microsoft.Network/privateDnsZones", name), name=name)
    found = run(
        RULE,
        context(
            inventory(
                *objects, endpoint(owner, src), endpoint(owner, dr), blob, link(src, blob), link(dr, blob)
            )
        ),
    )
    assert sorted(f.resource_id for f in found) == sorted([src.id, dr.id])
    assert {f.evidence["linked_to_site_recovery_zone"] for f in found} == {False}


@pytest.mark.parametrize(
    ("collector", "half"),
    [
        ("private_endpoints", "private_endpoint_in_vnet_or_peer"),
        ("virtual_network_links:zone", "linked_to_site_recovery_zone"),
    ],
)
def test_a_gap_in_one_input_is_unknown_and_leaves_the_other_half_judged(collector: str, half: str) -> None:
    owner, src, dr, objects = estate()
    inv = inventory(*objects, endpoint(owner, src), ZONE, link(src))
    inv.coverage.append(gap(collector, object_id=ZONE.id if ":" in collector else None))
    found = analyzed("ASR-PRIVATE-ENDPOINT", context(inv))
    unknown = [f for f in found if f.status == FindingStatus.UNKNOWN]
    [failed] = [f for f in found if f.status == FindingStatus.FAIL]
    assert unknown and unknown[0].severity is Severity.HIGH
    assert failed.evidence[half] is None and failed.resource_id == dr.id


def test_an_unread_vnet_is_not_judged() -> None:
    owner, src, dr, objects = estate()
    objects.remove(dr)
    ctx = context(inventory(*objects, endpoint(owner, src), ZONE, link(src)))
    assert run("ASR-PRIVATE-ENDPOINT", ctx) == [] and {c.resource_id for c in ctx.checks} == {src.id}


# --- parsers ------------------------------------------------------------------------------------


def test_the_parsers_read_both_connection_kinds_and_the_link_zone() -> None:
    body = yaml.safe_load(
        (SCENARIOS / "api-examples/resources/privateEndpoints.json").read_text(encoding="utf-8")
    )
    pe1, pe2, _ = (parse_private_endpoint(b) for b in body)
    assert [(c.group_ids, c.manual, c.status) for c in pe1.connections + pe2.connections] == [
        (["groupIdFromResource"], False, "Approved"),
        (["groupIdFromResource"], True, "Pending"),
    ]
    assert pe2.subnet_id and pe2.subnet_id.endswith("/mySubnet2")
    parsed = parse_virtual_network_link(
        {"id": f"{ZONE.id}/virtualNetworkLinks/l1", "properties": {"virtualNetwork": {"id": "v"}}}
    )
    assert (parsed.zone_id, parsed.virtual_network_id) == (ZONE.id, "v")


@pytest.mark.parametrize(
    "junk",
    [
        {"privateLinkServiceConnections": [{"properties": {"groupIds": "AzureSiteRecovery"}}]},
        {"manualPrivateLinkServiceConnections": ["AzureSiteRecovery"]},
        {"subnet": "snet"},
    ],
)
def test_junk_in_an_endpoint_is_unreadable_never_no_endpoint(junk: dict[str, Any]) -> None:
    with pytest.raises(Malformed):
        parse_private_endpoint({"id": "/subscriptions/s/pe", "properties": junk})
    with pytest.raises(Malformed):
        parse_virtual_network_link({"id": f"{ZONE.id}/other/l1"})


# --- the demo estate and a 403 on each new read -----------------------------------------------------


def _expected(section: str) -> set[tuple[str, str]]:
    doc = yaml.safe_load((SCENARIOS / "broken/expected.yaml").read_text(encoding="utf-8"))
    return {(ids.key(e["resource_id"]), e["key"]) for e in doc[section] if e["rule_id"] == RULE}


def _scan(arm: FakeArm) -> tuple[Any, list[Any]]:
    request = scenario_request(arm, arm.url, concurrency=4)
    inventory_ = scan(request, StaticTokenCredential(arm.token))
    return inventory_, runner.audit(inventory_, cloud=request.cloud).findings


def test_the_demo_fires_as_expected_and_its_near_misses_stay_quiet(fake_arm: Callable[..., FakeArm]) -> None:
    _, findings = _scan(fake_arm("broken"))
    fired = {(ids.key(f.resource_id), f.key) for f in findings if f.rule_id == RULE}
    assert fired == _expected("findings")
    assert not fired & _expected("near_misses")


@pytest.mark.parametrize(
    ("path", "collector"),
    [
        (
            rf"^/subscriptions/{BROKEN_PROD}/providers/Microsoft\.Network/privateEndpoints$",
            "private_endpoints",
        ),
        (
            rf"^/subscriptions/{BROKEN_PROD}/providers/Microsoft\.Network/privateDnsZones$",
            "private_dns_zones",
        ),
        (
            r"/privateDnsZones/privatelink\.siterecovery\.windowsazure\.com/virtualNetworkLinks$",
            "virtual_network_links",
        ),
    ],
)
def test_a_403_on_a_new_read_is_a_forbidden_gap_and_the_rule_says_unknown(
    fake_arm: Callable[..., FakeArm], path: str, collector: str
) -> None:
    arm = fake_arm("broken")
    arm.add_fault(path, 403)
    inventory_, findings = _scan(arm)
    assert {(c.kind, c.status) for c in inventory_.coverage if c.status != "ok"} >= {(collector, "forbidden")}
    assert any(
        f.rule_id == RULE and f.status == "unknown" and f.gap and f.gap.startswith(collector)
        for f in findings
    )
