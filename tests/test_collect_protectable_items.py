"""The protectable items of Hyper-V protection containers: the REST shape, which containers are
read, paging, and both backends (Resource Graph holds no protectable items)."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fakearm import FakeArm
from record_cassettes import scenario_request

from asr_audit import ids
from asr_audit.access.credential import StaticTokenCredential
from asr_audit.collect import scan
from asr_audit.collect.fields import Malformed
from asr_audit.collect.recovery import parse_protectable_item, parse_protected_item
from asr_audit.inventory import Inventory

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
CONTAINER = (
    "/Subscriptions/b7e4a1d9-2c3f-4e58-9a6b-1d0f8e7c5a32/resourceGroups/rg-asr-wus2/providers/"
    "Microsoft.RecoveryServices/vaults/rsv-fabrikam-dr-wus2/replicationFabrics/fabrikam-hq-hyperv/"
    "replicationProtectionContainers/cloud_3f5f027b-4351-5f0d-bcd7-9e20f86a1d03"
)


def _bodies(scenario: str, stem: str) -> list[dict[str, Any]]:
    path = SCENARIOS / scenario / "resources" / f"{stem}.json"
    loaded: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


# --- the REST shape -------------------------------------------------------------------------------


def test_the_upstream_example_links_both_ways_and_has_no_generation() -> None:
    """ReplicationProtectableItems_ListByReplicationProtectionContainers (2025-08-01): the custom
    details are `ReplicationGroupDetails`, with no generation; the protectable item does not name
    a replicated item (it is unprotected), the replicated item names it (`protectableItemId`)."""
    items = [parse_protectable_item(b) for b in _bodies("api-examples", "replicationProtectableItems")]
    assert [(ids.name_of(p.id), p.replicated_item_id, p.generation) for p in items] == [
        ("c0c14913-3d7a-48ea-9531-cc99e0e686e6", None, None),
        ("f8491e4f-817a-40dd-a90c-af773978c75b", None, None),
    ]
    [replicated] = [parse_protected_item(b) for b in _bodies("api-examples", "replicationProtectedItems")]
    assert ids.key(replicated.protectable_item_id) == ids.key(items[1].id)


def _hyper_v(generation: Any) -> dict[str, Any]:
    body = copy.deepcopy(_bodies("broken", "replicationProtectableItems")[0])
    body["properties"]["customDetails"]["generation"] = generation
    return body


@pytest.mark.parametrize(
    ("raw", "generation"), [("1", 1), ("2", 2), (2, 2), (" 2 ", 2), (None, None), ("", None)]
)
def test_the_generation_of_a_hyper_v_vm(raw: Any, generation: int | None) -> None:
    parsed = parse_protectable_item(_hyper_v(raw))
    assert parsed.generation == generation
    assert parsed.replicated_item_id and "/replicationProtectedItems/" in parsed.replicated_item_id


@pytest.mark.parametrize("raw", ["3", "Gen2", True, ["2"]])
def test_a_generation_that_is_neither_1_nor_2_is_an_unreadable_item(raw: Any) -> None:
    """Read as "none", it would leave a generation 2 OS disk undecided instead of flagged."""
    with pytest.raises(Malformed, match="neither 1 nor 2"):
        parse_protectable_item(_hyper_v(raw))


def test_other_custom_details_carry_no_generation() -> None:
    body = _hyper_v("2")
    body["properties"]["customDetails"]["instanceType"] = "VMwareVirtualMachine"
    assert parse_protectable_item(body).generation is None


# --- what a scan reads ----------------------------------------------------------------------------


def _scan(arm: FakeArm, backend: str = "arm") -> Inventory:
    request = dataclasses.replace(scenario_request(arm, arm.url, concurrency=4), backend=backend)
    return scan(request, StaticTokenCredential(arm.token))


def test_only_containers_holding_hyper_v_items_are_read_and_every_page_is_followed(
    fake_arm: Callable[..., FakeArm],
) -> None:
    arm = fake_arm("broken", page_size=2)  # six protectable items: three pages
    inventory = _scan(arm)
    listed = [r for r in arm.requests if r.path.endswith("/replicationProtectableItems")]
    assert {ids.key(r.path.rsplit("/", 1)[0]) for r in listed} == {ids.key(CONTAINER)}
    assert len(listed) == 3 and [r.query.get("$skiptoken") for r in listed[1:]] == ["2", "4"]
    assert {(ids.name_of(p.id), p.generation) for p in inventory.protectable_items} == {
        (ids.name_of(b["id"]), int(b["properties"]["customDetails"]["generation"]))
        for b in _bodies("broken", "replicationProtectableItems")
    }
    [record] = [c for c in inventory.coverage if c.kind == "protectable_items"]
    assert (record.status, record.items, ids.key(record.object_id)) == ("ok", 6, ids.key(CONTAINER))


def test_the_graph_backend_reads_them_from_arm_alike(fake_arm: Callable[..., FakeArm]) -> None:
    arm = fake_arm("broken")
    by_arm = _scan(arm)
    before = len(arm.requests)
    by_graph = _scan(arm, backend="graph")
    assert by_graph.protectable_items == by_arm.protectable_items
    assert [r for r in arm.requests[before:] if r.path.endswith("/replicationProtectableItems")]
    assert arm.graph_queries and all("protectable" not in q.type for q in arm.graph_queries)


def test_a_403_is_a_forbidden_gap_of_that_container(fake_arm: Callable[..., FakeArm]) -> None:
    arm = fake_arm("broken")
    arm.add_fault(r"/replicationProtectableItems$", 403)
    inventory = _scan(arm)
    [record] = [c for c in inventory.coverage if c.kind == "protectable_items"]
    assert record.status == "forbidden" and ids.key(record.object_id) == ids.key(CONTAINER)
    assert inventory.protectable_items == []
