"""The fields catalog v2 reads from bodies the scan already GETs: protected-item agent, test-failover
and RPO fields, VM security and controller settings, disk encryption, VNet DNS servers; and the
tolerant date reader the rules judge them with."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from asr_audit.collect.compute import parse_disk, parse_virtual_machine
from asr_audit.collect.fields import Malformed
from asr_audit.collect.network import parse_virtual_network
from asr_audit.collect.recovery import parse_protected_item
from asr_audit.rules.common.dates import parse_time

VAULT = "/Subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v"
ITEM = f"{VAULT}/replicationFabrics/f/replicationProtectionContainers/c/replicationProtectedItems/i"
VM = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
TEST_VNET = "/subscriptions/s/resourceGroups/n/providers/Microsoft.Network/virtualNetworks/t"


def item(details: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"id": ITEM, "properties": {"providerSpecificDetails": details, **props}}


def test_a2a_item_fields_for_agent_test_failover_rpo_and_target_encryption() -> None:
    parsed = parse_protected_item(
        item(
            {
                "instanceType": "A2A",
                "isReplicationAgentUpdateRequired": True,
                "isReplicationAgentCertificateUpdateRequired": "true",
                "agentExpiryDate": "2027-01-01T00:00:00",
                "agentCertificateExpiryDate": "2026-12-20T10:11:06Z",
                "rpoInSeconds": 1800,
                "selectedTfoAzureNetworkId": TEST_VNET,
                "protectedManagedDisks": [
                    {"diskId": "d1", "recoveryDiskEncryptionSetId": "/subscriptions/s/x/des1"},
                    {"diskId": "d2", "recoveryDiskEncryptionSetId": ""},
                ],
            },
            failoverHealth="Warning",
            testFailoverState="InProgress",
            lastSuccessfulTestFailoverTime="2026-05-01T08:00:00Z",
        )
    )
    assert parsed.agent_update_required and parsed.agent_certificate_update_required
    assert (parsed.agent_expiry_date, parsed.agent_certificate_expiry_date) == (
        "2027-01-01T00:00:00",
        "2026-12-20T10:11:06Z",
    )
    assert (parsed.rpo_seconds, parsed.failover_health, parsed.test_failover_state) == (
        1800,
        "Warning",
        "InProgress",
    )
    assert parsed.last_successful_test_failover_time == "2026-05-01T08:00:00Z"
    assert parsed.test_failover_network_id == TEST_VNET
    assert [d.recovery_disk_encryption_set_id for d in parsed.protected_disks] == [
        "/subscriptions/s/x/des1",
        None,
    ]


def test_agent_fields_are_a2a_only_and_absent_values_read_as_not_set() -> None:
    hyperv = parse_protected_item(
        item(
            {
                "instanceType": "HyperVReplicaAzure",
                "isReplicationAgentUpdateRequired": True,
                "rpoInSeconds": 300,
            }
        )
    )
    assert not hyperv.agent_update_required and hyperv.agent_expiry_date is None
    assert hyperv.rpo_seconds == 300  # RPO is every provider's
    bare = parse_protected_item(item({"instanceType": "A2A"}))
    assert (bare.rpo_seconds, bare.last_successful_test_failover_time, bare.test_failover_network_id) == (
        None,
        None,
        None,
    )


def test_vm_security_profile_controller_and_creation_time() -> None:
    vm = parse_virtual_machine(
        {
            "id": VM,
            "location": "eastus",
            "properties": {
                "storageProfile": {"diskControllerType": "NVMe", "osDisk": {"osType": "Linux"}},
                "securityProfile": {"securityType": "ConfidentialVM", "encryptionAtHost": True},
                "timeCreated": "2024-02-19T11:05:37.6283419+00:00",
            },
        }
    )
    assert (vm.disk_controller_type, vm.security_type, vm.encryption_at_host) == (
        "NVMe",
        "ConfidentialVM",
        True,
    )
    assert vm.time_created == "2024-02-19T11:05:37.6283419+00:00"
    plain = parse_virtual_machine({"id": VM, "properties": {}})
    assert (plain.disk_controller_type, plain.security_type, plain.encryption_at_host) == (None, None, False)


def test_a_security_profile_of_the_wrong_shape_is_an_unread_vm_not_a_plain_one() -> None:
    with pytest.raises(Malformed, match="securityProfile"):
        parse_virtual_machine({"id": VM, "properties": {"securityProfile": "ConfidentialVM"}})


def test_disk_encryption_type_and_set() -> None:
    disk = parse_disk(
        {
            "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/d1",
            "location": "eastus",
            "properties": {
                "encryption": {"type": "EncryptionAtRestWithCustomerKey", "diskEncryptionSetId": "/x/des"}
            },
        }
    )
    assert (disk.encryption_type, disk.disk_encryption_set_id) == (
        "EncryptionAtRestWithCustomerKey",
        "/x/des",
    )


def test_vnet_custom_dns_servers_and_azure_dns() -> None:
    body = {
        "id": "/subscriptions/s/resourceGroups/n/providers/Microsoft.Network/virtualNetworks/v",
        "properties": {},
    }
    assert parse_virtual_network(body).dns_servers == []
    body["properties"] = {"dhcpOptions": {"dnsServers": ["10.0.0.4", "10.0.0.5"]}}
    assert parse_virtual_network(body).dns_servers == ["10.0.0.4", "10.0.0.5"]


UTC = timezone.utc


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2027-08-14T00:00:00", datetime(2027, 8, 14, tzinfo=UTC)),
        ("2027-05-02T10:11:06Z", datetime(2027, 5, 2, 10, 11, 6, tzinfo=UTC)),
        ("2024-02-19T11:05:37.6283419+00:00", datetime(2024, 2, 19, 11, 5, 37, tzinfo=UTC)),
        ("2024-02-19T11:05:37+02:00", datetime(2024, 2, 19, 9, 5, 37, tzinfo=UTC)),
        ("2026-11-23", datetime(2026, 11, 23, tzinfo=UTC)),
    ],
)
def test_dates_as_arm_writes_them(text: str, moment: datetime) -> None:
    assert parse_time(text) == moment


@pytest.mark.parametrize("text", [None, "", "soon", "2026-13-01T00:00:00Z", "1753-01-01T01:01:01Z"])
def test_what_is_not_a_date_reads_as_none(text: str | None) -> None:
    assert parse_time(text) is None
