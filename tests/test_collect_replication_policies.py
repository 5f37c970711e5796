"""The vaults' replication policies: the REST shape per provider (A2A, HyperVReplicaAzure, others),
paging, both backends (Resource Graph holds them in `recoveryservicesresources`), and a 403 as
the vault's gap, which the estate shows instead of an empty list."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fakearm import FakeArm
from record_cassettes import scenario_request

from asr_audit import ids
from asr_audit.access.credential import StaticTokenCredential
from asr_audit.collect import scan
from asr_audit.collect.graph_queries import REPLICATION_POLICY_TYPE
from asr_audit.collect.recovery import parse_replication_policy
from asr_audit.inventory import Inventory, ReplicationPolicy
from asr_audit.report import estate

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
VAULT = (
    "/subscriptions/b7e4a1d9-2c3f-4e58-9a6b-1d0f8e7c5a32/resourceGroups/rg-asr-wus2/providers/"
    "Microsoft.RecoveryServices/vaults/rsv-fabrikam-dr-wus2"
)


def _bodies(scenario: str) -> list[dict[str, Any]]:
    path = SCENARIOS / scenario / "resources" / "replicationPolicies.json"
    loaded: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def _policy(details: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"/Subscriptions/{VAULT.split('/')[2]}/{VAULT.split('/', 3)[3]}/replicationPolicies/p1",
        "name": "p1",
        "type": "Microsoft.RecoveryServices/vaults/replicationPolicies",
        "properties": {"friendlyName": "p1"},
    }
    if details is not None:
        body["properties"]["providerSpecificDetails"] = details
    return body


# --- the REST shape -------------------------------------------------------------------------------


def test_the_official_example_is_a_hyper_v_policy_with_no_settings() -> None:
    """ReplicationPolicies_List's own item: `/Subscriptions/` id, details of `instanceType` only."""
    [policy] = [parse_replication_policy(b) for b in _bodies("api-examples")]
    assert (policy.name, policy.instance_type) == ("protectionprofile1", "HyperVReplicaAzure")
    assert policy.vault_id.endswith("/vaults/vault1")
    assert estate.policy_detail(estate.estate_policy(policy)) == "HyperVReplicaAzure"


def test_a2a_details_are_read_in_minutes() -> None:
    policy = parse_replication_policy(
        _policy(
            {
                "instanceType": "A2A",
                "recoveryPointThresholdInMinutes": 60,
                "recoveryPointHistory": 4320,
                "appConsistentFrequencyInMinutes": 240,
                "crashConsistentFrequencyInMinutes": 5,
                "multiVmSyncStatus": "Enable",
            }
        )
    )
    assert (
        policy.recovery_point_history_minutes,
        policy.app_consistent_frequency_minutes,
        policy.crash_consistent_frequency_minutes,
        policy.multi_vm_sync_status,
    ) == (4320, 240, 5, "Enable")
    assert ids.key(policy.vault_id) == ids.key(VAULT)
    assert estate.policy_detail(estate.estate_policy(policy)) == (
        "A2A: recovery points kept 3 days, app-consistent every 4 hours, crash-consistent every "
        "5 minutes, multi-VM sync Enable"
    )


def test_hyper_v_details_use_the_response_names_not_the_input_ones() -> None:
    """HyperVReplicaAzurePolicyDetails says `recoveryPointHistoryDurationInHours`; the create input's
    `recoveryPointHistoryDuration` is not in a response and is not read."""
    policy = parse_replication_policy(
        _policy(
            {
                "instanceType": "HyperVReplicaAzure",
                "recoveryPointHistoryDurationInHours": 24,
                "recoveryPointHistoryDuration": 99,
                "applicationConsistentSnapshotFrequencyInHours": 1,
                "replicationInterval": 300,
            }
        )
    )
    assert (
        policy.recovery_point_history_hours,
        policy.app_consistent_frequency_hours,
        policy.replication_interval_seconds,
    ) == (24, 1, 300)
    assert estate.policy_detail(estate.estate_policy(policy)) == (
        "HyperVReplicaAzure: recovery points kept 1 day, app-consistent every 1 hour, replication "
        "every 5 minutes"
    )


def test_omitted_settings_stay_none_and_show_only_what_is_given() -> None:
    bare = parse_replication_policy(_policy({"instanceType": "A2A", "multiVmSyncStatus": "Disable"}))
    assert dataclasses.astuple(bare)[4:] == (None, None, None, "Disable", None, None, None)
    assert estate.policy_detail(estate.estate_policy(bare)) == "A2A: multi-VM sync Disable"
    assert (
        estate.policy_detail(estate.estate_policy(parse_replication_policy(_policy(None))))
        == "type not given"
    )


def test_another_providers_policy_keeps_its_name_and_type_only() -> None:
    """InMageRcm details name settings alike (`appConsistentFrequencyInMinutes`), but the overview
    details A2A and Hyper-V only: a look-alike value from another schema is not shown as one."""
    details = {"instanceType": "InMageRcm", "appConsistentFrequencyInMinutes": 60}
    policy = parse_replication_policy(_policy(details))
    assert policy == ReplicationPolicy(
        id=policy.id, name="p1", vault_id=policy.vault_id, instance_type="InMageRcm"
    )
    assert estate.policy_detail(estate.estate_policy(policy)) == "InMageRcm"


# --- scans -----------------------------------------------------------------------------------------


def _scan(arm: FakeArm, backend: str = "arm") -> Inventory:
    request = dataclasses.replace(scenario_request(arm, arm.url, concurrency=4), backend=backend)
    return scan(request, StaticTokenCredential(arm.token))


def test_each_vault_is_listed_and_every_page_followed(fake_arm: Callable[..., FakeArm]) -> None:
    arm = fake_arm("broken", page_size=3)  # rsv-fabrikam-dr-wus2 holds four: two pages
    inventory = _scan(arm)
    listed = [r for r in arm.requests if r.path.endswith("/replicationPolicies")]
    assert all(r.method == "GET" for r in listed)
    assert {ids.key(r.path.rsplit("/", 1)[0]) for r in listed} == {ids.key(v.id) for v in inventory.vaults}
    pages = [r for r in listed if ids.key(r.path.rsplit("/", 1)[0]) == ids.key(VAULT)]
    assert [r.query.get("$skiptoken") for r in pages] == [None, "3"]
    assert sorted(
        p.name for p in inventory.replication_policies if ids.key(p.vault_id) == ids.key(VAULT)
    ) == [
        "24-hour-retention-policy",
        "hyperv-24-hour-policy",
        "hyperv-4h-policy",
        "vmware-rcm-policy",
    ]
    assert len(inventory.replication_policies) == len(_bodies("broken"))
    [record] = [c for c in inventory.coverage if c.collector == "replication_policies:rsv-fabrikam-dr-wus2"]
    assert (record.status, record.items) == ("ok", 4)


def test_the_graph_backend_reads_them_from_resource_graph(fake_arm: Callable[..., FakeArm]) -> None:
    arm = fake_arm("broken")
    by_arm = _scan(arm)
    before = len(arm.requests)
    by_graph = _scan(arm, backend="graph")
    assert by_graph.replication_policies == by_arm.replication_policies
    assert not [r for r in arm.requests[before:] if r.path.endswith("/replicationPolicies")]
    assert REPLICATION_POLICY_TYPE in {q.type for q in arm.graph_queries}


def test_a_403_is_the_vaults_gap_and_the_estate_says_so(fake_arm: Callable[..., FakeArm]) -> None:
    arm = fake_arm("broken")
    arm.add_fault(r"/vaults/rsv-fabrikam-dr-wus2/replicationPolicies$", 403)
    inventory = _scan(arm)
    [record] = [c for c in inventory.coverage if c.kind == "replication_policies" and c.is_gap]
    assert (record.status, ids.key(record.object_id)) == ("forbidden", ids.key(VAULT))
    assert not [p for p in inventory.replication_policies if ids.key(p.vault_id) == ids.key(VAULT)]
    vaults = {v.name: v for v in estate.build(inventory, estate.DrScope()).vaults}
    assert (vaults["rsv-fabrikam-dr-wus2"].policies, vaults["rsv-fabrikam-dr-wus2"].policies_unread) == (
        (),
        "forbidden",
    )
    assert vaults["rsv-fabrikam-eus"].policies_unread is None  # the other vaults were read
    assert [p.name for p in vaults["rsv-fabrikam-eus"].policies] == ["24-hour-retention-policy"]
