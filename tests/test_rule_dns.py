"""NET-DNS-REACH: a source VNet's custom DNS servers against the recovery VNet's reach."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from builders import a2a_item, analyzed, asr_case, context, gap, inventory, run, subnet_id, vault, vm_with_nic
from hybrid_builders import gateway, vnet

from asr_audit.findings import Finding, Severity
from asr_audit.inventory import Peering, VirtualNetwork
from asr_audit.rules.base import Context

OWNER = vault("rsv-dr", "westus2")


def estate(dns: Sequence[str], *extra: object, recovery_prefix: str = "10.20.0.0/16") -> Context:
    src = vnet("vnet-app", "eastus", "10.10.0.0/16")
    src.dns_servers = list(dns)
    rec = vnet("vnet-dr", "westus2", recovery_prefix)
    vm, nic = vm_with_nic("vm1", "eastus", subnet_id(src))
    item = a2a_item(OWNER, vm, recovery="westus2", recovery_network_id=asr_case(rec.id))
    return context(inventory(OWNER, src, rec, vm, nic, item, *extra))


def recovery(ctx: Context) -> VirtualNetwork:
    return next(v for v in ctx.inventory.virtual_networks if v.name == "vnet-dr")


def findings(ctx: Context) -> list[Finding]:
    return run("NET-DNS-REACH", ctx)


def test_dns_reach_fires_when_no_dns_server_is_reachable_from_the_recovery_vnet() -> None:
    ctx = estate(["10.10.0.4", "10.10.0.5"])
    [finding] = findings(ctx)
    assert (finding.rule_id, finding.severity, finding.status) == ("NET-DNS-REACH", Severity.MEDIUM, "fail")
    assert finding.resource_id.endswith("/virtualNetworks/vnet-app")
    assert finding.evidence["unreachable"] == ["10.10.0.4", "10.10.0.5"]
    assert [c.resource_id for c in ctx.checks] == [finding.resource_id]


@pytest.mark.parametrize(
    "dns",
    [
        ["10.10.0.4", "10.20.0.4"],  # one server in the recovery VNet is enough for a resolver list
        ["10.10.0.4", "168.63.129.16"],  # a public address is reached over Azure's outbound path
        [],  # Azure-provided DNS
    ],
)
def test_dns_reach_silent_when_a_server_is_in_the_recovery_vnet_or_public(dns: list[str]) -> None:
    assert "NET-DNS-REACH" not in [f.rule_id for f in findings(estate(dns))]


def test_dns_reach_silent_when_the_recovery_vnet_is_peered_with_the_dns_vnet_or_has_a_gateway() -> None:
    hub = vnet("vnet-hub", "westus2", "10.10.0.0/16")
    peered = estate(["10.10.0.4"], hub)
    recovery(peered).peerings.append(
        Peering(id="p1", name="to-hub", remote_virtual_network_id=hub.id.upper(), peering_state="Connected")
    )
    assert findings(peered) == []
    with_gateway = estate(["10.10.0.4"])
    with_gateway.inventory.virtual_network_gateways.append(gateway(recovery(with_gateway)))
    assert findings(with_gateway) == []


def test_dns_reach_does_not_count_a_disconnected_peering() -> None:
    ctx = estate(["10.10.0.4"])
    recovery(ctx).peerings.append(
        Peering(
            id="p1", name="to-hub", peering_state="Disconnected", remote_address_prefixes=["10.10.0.0/16"]
        )
    )
    assert [f.status for f in findings(ctx)] == ["fail"]


def test_dns_reach_is_unknown_when_the_recovery_vnet_or_its_gateways_were_not_read() -> None:
    ctx = estate(["10.10.0.4"])
    ctx.inventory.virtual_networks.remove(recovery(ctx))
    [finding] = findings(ctx)
    assert finding.status == "unknown" and "not in the scanned inventory" in finding.message
    gateways_unread = estate(["10.10.0.4"], gap("virtual_network_gateways"))
    assert [f.status for f in findings(gateways_unread)] == ["unknown"]


def test_dns_reach_is_unknown_when_the_vnets_could_not_be_listed() -> None:
    ctx = context(inventory(OWNER, gap("virtual_networks")))
    [finding] = analyzed("NET-DNS-REACH", ctx)
    assert finding.status == "unknown"
