"""DSK-SIZE on a Hyper-V OS disk by VM generation: 2,048 GB for generation 1, 300 GB for
generation 2, the generation read from the container's protectable items."""

from __future__ import annotations

import pytest
from builders import SUBSCRIPTION, analyzed, context, gap, inventory, onprem_item, run, vault

from asr_audit import ids
from asr_audit.findings import FindingStatus
from asr_audit.inventory import Coverage, CoverageStatus, ProtectableItem, ProtectedDisk, ProtectedItem

OWNER = vault("rsv-dr", "westus2")
GB = 1024**3


def _item(os_gb: int, name: str = "hv-app-01", **kw: object) -> ProtectedItem:
    disk = ProtectedDisk(disk_id=f"{name}-os", is_os_disk=True, disk_capacity_bytes=os_gb * GB)
    return onprem_item(OWNER, name, protected_disks=[disk], **kw)  # type: ignore[arg-type]


def _container(item: ProtectedItem) -> str:
    return ids.parent_of(item.id)


def _read(item: ProtectedItem, status: CoverageStatus = CoverageStatus.OK) -> Coverage:
    """The coverage record of the item's container's protectable-items list."""
    container = _container(item)
    return Coverage(SUBSCRIPTION, f"protectable_items:{ids.name_of(container)}", status, object_id=container)


def _protectable(item: ProtectedItem, generation: int | None, *, linked: bool = True) -> ProtectableItem:
    return ProtectableItem(
        id=f"{_container(item)}/replicationProtectableItems/{item.name}",
        replicated_item_id=item.id if linked else None,
        generation=generation,
    )


def _judged(item: ProtectedItem, *records: object) -> tuple[list[str], list[str], list[object]]:
    """(the thresholds of its fail findings, the resources it counts as examined, its unknowns)."""
    ctx = context(inventory(item, *records))
    findings = run("DSK-SIZE", ctx)
    fails = [f.evidence["threshold"] for f in findings if f.status == FindingStatus.FAIL]
    unknowns = [f for f in findings if f.status == FindingStatus.UNKNOWN]
    return fails, [c.resource_id for c in ctx.checks if c.rule_id == "DSK-SIZE"], unknowns


def test_a_generation_2_vm_with_a_400_gb_os_disk_fires() -> None:
    hv = _item(400)
    ctx = context(inventory(hv, _protectable(hv, 2), _read(hv)))
    [finding] = run("DSK-SIZE", ctx)
    assert finding.resource_id == hv.id and finding.status == FindingStatus.FAIL
    assert finding.evidence["threshold"] == "hyperv_gen2_os_disk_max_gb"
    assert finding.evidence["limit_gb"] == 300 and finding.evidence["generation"] == 2
    assert "generation 2" in finding.message and "300 GB" in finding.message


@pytest.mark.parametrize(
    ("os_gb", "generation"),
    [(250, 2), (300, 2), (400, 1), (2048, 1)],
    ids=["gen2-250", "gen2-at-limit", "gen1-400", "gen1-at-limit"],
)
def test_an_os_disk_within_its_generations_limit_passes(os_gb: int, generation: int) -> None:
    hv = _item(os_gb)
    fails, examined, unknowns = _judged(hv, _protectable(hv, generation), _read(hv))
    assert (fails, unknowns) == ([], [])
    assert examined == [hv.id]  # decided: listed as passed


def test_a_generation_1_vm_above_2048_gb_fires_on_the_generation_1_limit() -> None:
    hv = _item(2560)
    fails, _, unknowns = _judged(hv, _protectable(hv, 1), _read(hv))
    assert (fails, unknowns) == (["hyperv_os_disk_max_gb"], [])


def test_the_replicated_items_protectable_item_id_links_them_too() -> None:
    """The protectable item of a replicated item may not name it back; the item's own
    `protectableItemId` then finds it."""
    bare = _item(400)
    hv = _item(400, protectable_item_id=_protectable(bare, 2).id.upper())
    fails, _, _ = _judged(hv, _protectable(hv, 2, linked=False), _read(hv))
    assert fails == ["hyperv_gen2_os_disk_max_gb"]


def test_no_generation_in_a_read_body_leaves_300_to_2048_gb_undecided() -> None:
    """Read, but the body names no generation (as the REST reference's ReplicationGroupDetails
    example): neither a finding nor a pass, as before generations were read."""
    hv = _item(400)
    fails, examined, unknowns = _judged(hv, _protectable(hv, None), _read(hv))
    assert (fails, examined, unknowns) == ([], [], [])


def test_a_container_whose_protectable_items_were_not_read_makes_the_disk_unknown() -> None:
    hv = _item(400)
    refused = gap(f"protectable_items:{ids.name_of(_container(hv))}", object_id=_container(hv))
    ctx = context(inventory(hv, refused))
    [unknown] = run("DSK-SIZE", ctx)
    assert unknown.status == FindingStatus.UNKNOWN and unknown.resource_id == hv.id
    assert unknown.evidence["limit_gb_generation_2"] == 300
    assert unknown.evidence["protection_container"] == _container(hv)
    assert "generation was not read" in unknown.message
    assert not ctx.checks  # never a pass
    # a scan also reports the gap itself, on the container
    assert {f.resource_id for f in analyzed("DSK-SIZE", ctx)} == {hv.id, _container(hv)}


@pytest.mark.parametrize("record", ["partial", "none"])
def test_a_partial_list_or_no_record_at_all_is_unknown_too(record: str) -> None:
    """A list cut short may have held the item's generation; an older snapshot never read one."""
    hv = _item(1000)
    records = [_read(hv, CoverageStatus.PARTIAL)] if record == "partial" else []
    _, examined, unknowns = _judged(hv, *records)
    assert [u.resource_id for u in unknowns] == [hv.id] and examined == []


def test_a_partial_list_that_holds_the_items_generation_decides_it() -> None:
    hv = _item(400)
    fails, _, unknowns = _judged(hv, _protectable(hv, 2), _read(hv, CoverageStatus.PARTIAL))
    assert (fails, unknowns) == (["hyperv_gen2_os_disk_max_gb"], [])


def test_without_the_generation_the_limits_outside_300_to_2048_still_decide() -> None:
    """Below 300 GB passes and above 2,048 GB fails whatever the generation: no unknown there."""
    small, big = _item(250, "hv-small"), _item(2560, "hv-big")
    assert _judged(small)[::2] == ([], [])
    assert _judged(big)[::2] == (["hyperv_os_disk_max_gb"], [])
