"""Loading a snapshot fails closed (DESIGN.md §8.2): what the file does not show was read is a
`not_collected` gap, never an empty and complete list, and a coverage entry the rules could not
interpret is an input error (exit 2). A snapshot the tool saved from a complete scan loads
unchanged."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from asr_audit.access.clouds import CLOUDS
from asr_audit.app import runner
from asr_audit.app.cli import main
from asr_audit.errors import UsageError, json_error
from asr_audit.inventory import (
    SERVICE_TAGS,
    SUBSCRIPTION_COLLECTORS,
    Coverage,
    CoverageStatus,
    Inventory,
    Subscription,
    VirtualMachine,
    VirtualNetwork,
    snapshot,
)

SUB = "7b1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
OTHER = "5d2c8f1a-7e9b-4a3c-b6d4-0e1f2a3b4c5d"
EVERY_COLLECTOR = (*SUBSCRIPTION_COLLECTORS, SERVICE_TAGS)


def complete(*subscriptions: str) -> Inventory:
    """A two-subscription estate whose every subscription-wide collector read its data."""
    return Inventory(
        subscriptions=[Subscription(s) for s in subscriptions],
        coverage=[
            Coverage(s, c, "ok")
            for s in subscriptions
            for c in EVERY_COLLECTOR
            if c != "service_tags" or s == subscriptions[0]
        ],
        virtual_networks=[
            VirtualNetwork(
                id=f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v",
                name="v",
                location="westeurope",
                address_prefixes=["10.0.0.0/16"],
            )
        ],
    )


def document(inventory: Inventory) -> dict[str, Any]:
    return json.loads(json.dumps(inventory.to_json()))


def not_collected(inventory: Inventory) -> list[tuple[str, str]]:
    gaps = [c for c in inventory.coverage if c.status == CoverageStatus.NOT_COLLECTED]
    return [(c.subscription_id, c.collector) for c in gaps]


def test_a_complete_snapshot_loads_unchanged() -> None:
    original = complete(SUB, OTHER)
    loaded = Inventory.from_json(document(original))
    assert loaded == original
    assert not [c for c in loaded.coverage if c.is_gap]


def test_a_missing_section_is_not_collected_for_every_subscription_not_an_empty_list() -> None:
    doc = document(complete(SUB, OTHER))
    del doc["virtual_networks"]
    loaded = Inventory.from_json(doc)
    assert loaded.virtual_networks == []
    gaps = [c for c in loaded.coverage if c.status == CoverageStatus.NOT_COLLECTED]
    assert [(c.subscription_id, c.collector) for c in gaps] == [
        (SUB, "virtual_networks"),
        (OTHER, "virtual_networks"),
    ]
    assert gaps[0].detail == "section virtual_networks is absent from the snapshot"
    assert gaps[0].is_gap


def test_missing_service_tags_section_is_one_gap_per_snapshot() -> None:
    doc = document(complete(SUB, OTHER))
    del doc["service_tags"]
    assert not_collected(Inventory.from_json(doc)) == [(SUB, "service_tags")]


def test_a_subscription_without_coverage_records_is_not_assumed_complete() -> None:
    doc = document(complete(SUB, OTHER))
    doc["coverage"] = [c for c in doc["coverage"] if c["subscription_id"] == SUB]
    gaps = not_collected(Inventory.from_json(doc))
    assert gaps == [(OTHER, c) for c in SUBSCRIPTION_COLLECTORS]


def test_a_deleted_coverage_record_is_a_gap() -> None:
    doc = document(complete(SUB))
    doc["coverage"] = [c for c in doc["coverage"] if c["collector"] != "route_tables"]
    assert not_collected(Inventory.from_json(doc)) == [(SUB, "route_tables")]


def test_per_object_records_count_for_their_collector() -> None:
    """`virtual_network_gateways:rg-hub` is a record of the virtual_network_gateways kind, so a
    snapshot with it needs nothing added; the collectors listed per subscription are the lists."""
    doc = document(complete(SUB))
    doc["coverage"].append(
        {"subscription_id": SUB, "collector": "protected_items:rsv", "status": "ok", "detail": None}
    )
    assert not_collected(Inventory.from_json(doc)) == []


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"status": "okay"}, "snapshot.coverage[1] (storage_accounts in "),
        ({"status": "OK"}, "status 'OK' is not one of"),
        ({"status": 1}, "snapshot.coverage[1].status: expected a string"),
        ({"items": "3"}, "snapshot.coverage[1].items: expected an integer"),
        ({"unread": "vm-a"}, "snapshot.coverage[1].unread: expected a list"),
        ({"collector": ""}, "snapshot.coverage[1]: empty collector"),
    ],
)
def test_a_bad_coverage_entry_is_an_input_error_naming_it(entry: dict[str, Any], message: str) -> None:
    doc = document(complete(SUB))
    doc["coverage"][1].update(entry)
    with pytest.raises(UsageError) as caught:
        Inventory.from_json(doc)
    assert message in str(caught.value)


def test_a_hand_edited_snapshot_exits_4_not_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = document(complete(SUB))
    del doc["network_security_groups"]
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(doc), "utf-8")
    code = main(["--snapshot", str(path), "--output", "json", "--fail-on", "none"])
    out, err = capsys.readouterr()
    assert code == 4
    gaps = [c for c in json.loads(out)["coverage"] if c["status"] == "not_collected"]
    assert [g["collector"] for g in gaps] == ["network_security_groups"]
    assert "scan incomplete" in err


def test_a_bad_status_exits_2_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = document(complete(SUB))
    doc["coverage"][0]["status"] = "fine"
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(doc), "utf-8")
    code = main(["--snapshot", str(path)])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "status 'fine'" in err


def test_statuses_load_as_the_enum_and_save_as_their_values() -> None:
    loaded = Inventory.from_json(document(complete(SUB)))
    assert {type(c.status) for c in loaded.coverage} == {CoverageStatus}
    assert {c["status"] for c in document(loaded)["coverage"]} == {"ok"}


def test_save_then_load_gives_identical_findings(tmp_path: Path) -> None:
    inventory = complete(SUB)
    inventory.virtual_machines = [
        VirtualMachine(
            id=f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-{i}",
            name=f"vm-{i}",
            location="westeurope",
        )
        for i in range(3)
    ]
    path = tmp_path / "estate.json"
    inventory.save(path)
    again = Inventory.load(path)
    assert again == inventory
    before = runner.audit(inventory, cloud=CLOUDS["AzureCloud"])
    after = runner.audit(again, cloud=CLOUDS["AzureCloud"])
    assert [f.to_json() for f in after.findings] == [f.to_json() for f in before.findings]


def test_loading_resolves_type_hints_once_per_class(monkeypatch: pytest.MonkeyPatch) -> None:
    """typing.get_type_hints per object was the hot spot of loading large snapshots."""
    import typing

    doc = document(complete(SUB))
    doc["virtual_machines"] = [
        {"id": f"/subscriptions/{SUB}/x/vm-{i}", "name": f"vm-{i}", "location": "westeurope"}
        for i in range(2000)
    ]
    calls: list[Any] = []
    real = typing.get_type_hints
    monkeypatch.setattr(
        typing, "get_type_hints", lambda cls, *a, **k: calls.append(cls) or real(cls, *a, **k)
    )
    started = time.perf_counter()
    loaded = Inventory.from_json(doc)
    assert len(loaded.virtual_machines) == 2000
    assert calls.count(VirtualMachine) <= 1  # cached from an earlier load, or resolved once now
    assert time.perf_counter() - started < 5


# --- reading a saved snapshot a record at a time ------------------------------------------------


def _saved(tmp_path: Path, inventory: Inventory) -> Path:
    path = tmp_path / "estate.json"
    inventory.save(path)
    return path


def _with_vms(count: int) -> Inventory:
    inventory = complete(SUB, OTHER)
    inventory.virtual_machines = [
        VirtualMachine(id=f"/subscriptions/{SUB}/x/vm-{i}", name=f"vm-{i}", location="westeurope")
        for i in range(count)
    ]
    return inventory


def test_a_saved_snapshot_is_read_a_record_at_a_time_and_gives_what_a_whole_parse_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _saved(tmp_path, _with_vms(5))
    whole = Inventory.from_json(json.loads(path.read_text(encoding="utf-8")))
    parsed: list[int] = []
    real = json.loads
    monkeypatch.setattr(snapshot.json, "loads", lambda text, *a, **k: parsed.append(len(text)) or real(text))
    assert Inventory.load(path) == whole
    assert parsed and max(parsed) < len(path.read_text(encoding="utf-8")) / 2  # never the whole file


@pytest.mark.parametrize(
    "layout",
    [
        lambda doc: json.dumps(doc, indent=2),  # reformatted by a tool
        lambda doc: json.dumps({"schema_version": doc["schema_version"], **doc}),  # keys reordered
        lambda doc: json.dumps(doc),  # one line
    ],
)
def test_any_other_layout_of_the_same_json_loads_the_same(tmp_path: Path, layout: Any) -> None:
    original = _with_vms(3)
    path = tmp_path / "edited.json"
    path.write_text(layout(document(original)), encoding="utf-8")
    assert Inventory.load(path) == Inventory.load(_saved(tmp_path, original))


def test_a_bad_record_in_a_saved_snapshot_is_named_as_a_whole_parse_names_it(tmp_path: Path) -> None:
    path = _saved(tmp_path, _with_vms(4))
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if '"name":"vm-2"' in line)
    lines[at] = lines[at].replace('"name":"vm-2"', '"name":7')
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(UsageError) as streamed:
        Inventory.load(path)
    with pytest.raises(UsageError) as whole:
        Inventory.from_json(json.loads(path.read_text(encoding="utf-8")))
    assert (
        str(streamed.value)
        == str(whole.value)
        == ("invalid snapshot: snapshot.virtual_machines[2].name: expected a string")
    )


def test_a_snapshot_cut_short_in_a_record_list_is_invalid_json_with_its_line(tmp_path: Path) -> None:
    path = _saved(tmp_path, _with_vms(4))
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: text.index('"name":"vm-2"')], encoding="utf-8")
    with pytest.raises(UsageError) as raised:
        Inventory.load(path)
    assert str(raised.value).startswith(f"snapshot {path} is not valid JSON: ")
    assert " at line " in str(raised.value)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"kind": ', "Expecting value at line 1, column 10"),
        ('{"kind": "asr-audit-inventory\n', "Invalid control character at line 1, column 30"),
        ('{"kind": "asr-audit-inventory}', "Unterminated string starting at line 1, column 10"),
        ("{}\n{}", "Extra data at line 2, column 1"),
    ],
)
def test_invalid_json_says_what_and_where_in_one_line(text: str, reason: str) -> None:
    with pytest.raises(json.JSONDecodeError) as raised:
        json.loads(text)
    assert json_error(raised.value) == reason


def test_a_snapshot_that_is_not_json_is_refused_with_what_and_where(tmp_path: Path) -> None:
    path = tmp_path / "snap.json"
    path.write_text('{"kind": ', encoding="utf-8")
    with pytest.raises(UsageError) as raised:
        Inventory.load(path)
    assert str(raised.value) == f"snapshot {path} is not valid JSON: Expecting value at line 1, column 10"


def test_the_wrong_kind_in_a_saved_layout_is_refused_before_any_record(tmp_path: Path) -> None:
    path = _saved(tmp_path, _with_vms(2))
    text = path.read_text(encoding="utf-8").replace('"asr-audit-inventory"', '"something-else"', 1)
    path.write_text(text.replace('"name":"vm-1"', '"name":1'), encoding="utf-8")
    with pytest.raises(UsageError, match="not an asr-audit inventory snapshot"):
        Inventory.load(path)
