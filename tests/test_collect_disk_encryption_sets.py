"""What ENC-TARGET-DES reads to place a recovery disk encryption set: the subscription's DES list
(DiskEncryptionSets_List, DiskRP 2025-01-02) in its upstream shape, paged through nextLink, and a
403 on it as a gap that leaves the items it would have judged `unknown`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fakearm import FakeArm
from record_cassettes import scenario_request

from asr_audit.access.credential import StaticTokenCredential
from asr_audit.app import runner
from asr_audit.collect import scan
from asr_audit.collect.compute import parse_disk_encryption_set
from asr_audit.collect.endpoints import SUBSCRIPTION_LISTS, subscription_list
from asr_audit.collect.fields import Malformed

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
EXAMPLES_SUB = "00000000-0000-0000-0000-000000000000"
BROKEN_PROD = "b7e4a1d9-2c3f-4e58-9a6b-1d0f8e7c5a32"
DES = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/des"
# vm-stream-01, whose recovery DES is des-fabrikam-eus (broken/expected.yaml)
STREAM_ITEM = "a1e2074c-1f79-50f5-ae28-dc9af61e7080"


def test_the_list_url_is_the_diskrp_one() -> None:
    path, version = SUBSCRIPTION_LISTS["disk_encryption_sets"]
    assert subscription_list("s", path, version) == (
        "/subscriptions/s/providers/Microsoft.Compute/diskEncryptionSets?api-version=2025-01-02"
    )


def test_the_upstream_example_parses() -> None:
    bodies = json.loads(
        (SCENARIOS / "api-examples/resources/diskEncryptionSets.json").read_text(encoding="utf-8")
    )
    first, second = (parse_disk_encryption_set(b) for b in bodies)
    assert (first.name, first.location, first.encryption_type) == (
        "myDiskEncryptionSet",
        "westus",
        "EncryptionAtRestWithCustomerKey",
    )
    assert first.key_vault_id == (
        f"/subscriptions/{EXAMPLES_SUB}/resourceGroups/myResourceGroup/providers/Microsoft.KeyVault/vaults/myVMVault"
    )
    assert second.id.endswith(
        "/mySecondResourceGroup/providers/Microsoft.Compute/diskEncryptionSets/myDiskEncryptionSet2"
    )


def test_optional_properties_omitted_read_as_unset() -> None:
    des = parse_disk_encryption_set({"id": DES, "location": "westus2"})
    assert (des.name, des.location, des.encryption_type, des.key_vault_id) == ("des", "westus2", None, None)


@pytest.mark.parametrize(
    "body",
    [
        {"id": DES},  # no location: a DES that cannot be placed is unreadable, never in "no region"
        {"id": DES, "location": "westus2", "properties": {"activeKey": {"sourceVault": "kv"}}},
        {"id": DES, "location": "westus2", "properties": []},
    ],
    ids=["no-location", "junk-source-vault", "junk-properties"],
)
def test_a_junk_body_is_unreadable(body: dict[str, Any]) -> None:
    with pytest.raises(Malformed):
        parse_disk_encryption_set(body)


def test_the_list_is_followed_through_next_link(fake_arm: Callable[..., FakeArm]) -> None:
    arm = fake_arm("api-examples", page_size=1)
    request = scenario_request(arm, arm.url, concurrency=4)
    inventory = scan(request, StaticTokenCredential(arm.token))
    assert sorted(d.name for d in inventory.disk_encryption_sets) == [
        "myDiskEncryptionSet",
        "myDiskEncryptionSet2",
    ]
    listed = [r for r in arm.requests if r.path.endswith("/providers/Microsoft.Compute/diskEncryptionSets")]
    assert [r.path.split("/")[2] for r in listed].count(EXAMPLES_SUB) == 2  # two pages of one item
    assert all(r.query.get("api-version") == "2025-01-02" for r in listed)
    assert [c.status for c in inventory.coverage if c.kind == "disk_encryption_sets"] == ["ok"] * len(
        inventory.subscriptions
    )


def test_a_403_on_the_list_is_its_gap_and_the_item_is_unknown_not_passed(
    fake_arm: Callable[..., FakeArm],
) -> None:
    arm = fake_arm("broken")
    arm.add_fault(rf"^/subscriptions/{BROKEN_PROD}/providers/Microsoft\.Compute/diskEncryptionSets$", 403)
    request = scenario_request(arm, arm.url, concurrency=4)
    inventory = scan(request, StaticTokenCredential(arm.token))
    [refused] = [c for c in inventory.coverage if c.kind == "disk_encryption_sets" and c.status != "ok"]
    assert (refused.subscription_id, refused.status) == (BROKEN_PROD, "forbidden")
    findings = [
        f for f in runner.audit(inventory, cloud=request.cloud).findings if f.rule_id == "ENC-TARGET-DES"
    ]
    by_item = {(f.resource_id.rsplit("/", 1)[-1], f.key): f.status for f in findings}
    assert by_item[(STREAM_ITEM, "des-region")] == "unknown"  # fails with the list read
    assert ("unknown", f"/subscriptions/{BROKEN_PROD}") in {(f.status, f.resource_id) for f in findings}
    assert "fail" not in {s for (_, key), s in by_item.items() if key == "des-region"}
