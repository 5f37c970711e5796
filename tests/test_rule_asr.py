"""ASR-HEALTH and ASR-NETMAP-REVERSE on small inventories."""

from __future__ import annotations

from typing import Any

import pytest

from asr_audit.findings import Finding, Severity
from asr_audit.inventory import HealthError, Inventory, NetworkMapping, ProtectedItem, Vault
from asr_audit.rules.base import Context
from asr_audit.rules.catalog import default_catalog

SUB = "00000000-0000-0000-0000-000000000001"
VAULT_ID = f"/Subscriptions/{SUB}/resourceGroups/dr/providers/Microsoft.RecoveryServices/vaults/v1"
OTHER_VAULT_ID = f"/Subscriptions/{SUB}/resourceGroups/dr2/providers/Microsoft.RecoveryServices/vaults/v2"
VNET = f"/subscriptions/{SUB}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/"
EAST, WEST = VNET + "vnet-east", VNET + "vnet-west"


def run(rule_id: str, inventory: Inventory) -> list[Finding]:
    return list(default_catalog()[rule_id].check(Context(inventory)))


def item(health: str | None, errors: list[HealthError] | None = None, **kwargs: Any) -> ProtectedItem:
    return ProtectedItem(
        id=f"{VAULT_ID}/replicationFabrics/f/replicationProtectionContainers/c/replicationProtectedItems/vm1",
        name="vm1",
        vault_id=VAULT_ID,
        friendly_name="app-vm1",
        instance_type="A2A",
        replication_health=health,
        health_errors=errors or [],
        **kwargs,
    )


def mapping(
    name: str, primary: str, recovery: str, src: str | None, dst: str | None, **kwargs: Any
) -> NetworkMapping:
    kwargs.setdefault("vault_id", VAULT_ID)
    kwargs.setdefault("instance_type", "AzureToAzure")
    return NetworkMapping(
        id=f"{kwargs['vault_id']}/replicationFabrics/f/replicationNetworks/n/replicationNetworkMappings/{name}",
        name=name,
        primary_network_id=primary,
        recovery_network_id=recovery,
        primary_location=src,
        recovery_location=dst,
        **kwargs,
    )


# --- ASR-HEALTH ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("health", "severity"),
    [("Critical", Severity.HIGH), ("Warning", Severity.MEDIUM), ("critical", Severity.HIGH)],
)
def test_asr_health_fires_with_severity_by_health(health: str, severity: Severity) -> None:
    errors = [
        HealthError(code="150097", message="Replication is not progressing for the VM.", severity="Critical"),
        HealthError(code="153039", message=None),
    ]
    inv = Inventory(
        vaults=[Vault(VAULT_ID.lower(), "v1", "West US 2")],
        protected_items=[item(health, errors, protection_state="Protected")],
    )
    [finding] = run("ASR-HEALTH", inv)
    assert finding.rule_id == "ASR-HEALTH"
    assert finding.severity is severity
    assert finding.region == "westus2"
    assert "Replication is not progressing for the VM." in finding.message
    assert "153039" in finding.message  # no message: the code stands in
    assert finding.evidence["health_errors"][0] == {
        "code": "150097",
        "message": "Replication is not progressing for the VM.",
        "severity": "Critical",
    }


def test_asr_health_says_when_asr_lists_no_errors() -> None:
    [finding] = run("ASR-HEALTH", Inventory(protected_items=[item("Warning")]))
    assert finding.rule_id == "ASR-HEALTH"
    assert "no health errors" in finding.message
    assert finding.region is None  # vault not in the inventory: no region rather than a guess


@pytest.mark.parametrize("health", ["Normal", None, "None"])
def test_asr_health_silent_on_healthy_or_unreported_items(health: str | None) -> None:
    assert run("ASR-HEALTH", Inventory(protected_items=[item(health)])) == []


# --- ASR-NETMAP-REVERSE --------------------------------------------------------------------------


def test_asr_netmap_reverse_fires_on_one_way_mapping() -> None:
    forward = mapping("east-to-west", EAST, WEST, "eastus", "westus")
    [finding] = run("ASR-NETMAP-REVERSE", Inventory(network_mappings=[forward]))
    assert finding.rule_id == "ASR-NETMAP-REVERSE"
    assert finding.resource_id == forward.id
    assert finding.severity is Severity.LOW
    assert finding.evidence["missing"] == {"primary_network_id": WEST, "recovery_network_id": EAST}
    assert "vnet-west back to vnet-east" in finding.message


def test_asr_netmap_reverse_silent_when_any_vault_maps_back_with_other_id_case() -> None:
    forward = mapping("east-to-west", EAST, WEST, "eastus", "westus")
    back = mapping("west-to-east", WEST.upper(), EAST.upper(), "West US", "East US", vault_id=OTHER_VAULT_ID)
    assert run("ASR-NETMAP-REVERSE", Inventory(network_mappings=[forward, back])) == []


def test_asr_netmap_reverse_fires_when_the_back_mapping_names_other_regions() -> None:
    forward = mapping("east-to-west", EAST, WEST, "eastus", "westus")
    wrong = mapping("west-to-east", WEST, EAST, "westus", "centralus")
    findings = run("ASR-NETMAP-REVERSE", Inventory(network_mappings=[forward, wrong]))
    assert {f.resource_id for f in findings} == {forward.id, wrong.id}


def test_asr_netmap_reverse_matches_on_networks_when_regions_are_not_reported() -> None:
    forward = mapping("east-to-west", EAST, WEST, None, None)
    back = mapping("west-to-east", WEST, EAST, "westus", "eastus")
    assert run("ASR-NETMAP-REVERSE", Inventory(network_mappings=[forward, back])) == []


def test_asr_netmap_reverse_silent_on_non_a2a_and_incomplete_mappings() -> None:
    vmm = mapping("vmm", EAST, WEST, None, None, instance_type="VmmToAzure")
    incomplete = mapping("half", EAST, "", "eastus", "westus")
    assert run("ASR-NETMAP-REVERSE", Inventory(network_mappings=[vmm, incomplete])) == []
