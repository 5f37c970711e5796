"""Replaying recordings: faithful to a live scan, offline, scrubbed, and in step with the scenarios."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import SCENARIOS_DIR
from fakearm import FakeArm
from record_cassettes import cassette_path, record, scenario_request

from asr_audit.access.clouds import CLOUDS
from asr_audit.access.credential import StaticTokenCredential
from asr_audit.app.replay import DEMO_CASSETTE, FILTERED_REQUEST_HEADERS, RECORDED_ENDPOINT, replay_scan
from asr_audit.collect import ScanRequest, scan
from asr_audit.errors import AuthError, UsageError
from asr_audit.inventory import Inventory

RECORDED = ["api-examples", "broken", "healthy"]
HEALTHY_SUB = "3c9d2e71-5b4a-4f86-a0d3-7e1b9c6f2a58"


def _request(**overrides: Any) -> ScanRequest:
    return ScanRequest(**{"subscriptions": [], "cloud": CLOUDS["AzureCloud"], **overrides})


def _comparable(inventory: Inventory) -> dict[str, Any]:
    data = inventory.to_json()
    data.pop("collected_at")
    data["coverage"] = sorted(
        (c["subscription_id"], c["collector"], c["status"], c["items"]) for c in data["coverage"]
    )
    return data


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: socket.socket, address: Any) -> None:
        raise AssertionError(f"replay opened a connection to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def _interactions(path: Path) -> list[tuple[str, str, int, str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        (
            i["request"]["method"],
            i["request"]["uri"],
            i["response"]["status"]["code"],
            i["response"]["body"]["string"],
        )
        for i in data["interactions"]
    ]


@pytest.mark.parametrize("name", RECORDED)
def test_shipped_recording_is_up_to_date(name: str, tmp_path: Path) -> None:
    """Re-recording the scenario gives the same exchanges: scenarios, collectors and files agree."""
    fresh = tmp_path / f"{name}.yaml"
    record(name, out=fresh)
    assert _interactions(fresh) == _interactions(cassette_path(name)), (
        f"re-record: python tests/record_cassettes.py {name}"
    )


@pytest.mark.parametrize("name", RECORDED)
def test_replay_equals_a_live_scan_and_opens_no_socket(
    name: str, fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch
) -> None:
    arm = fake_arm(name)
    live = scan(scenario_request(arm, arm.url, concurrency=4), StaticTokenCredential(arm.token))
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: pytest.fail(f"connect {address!r}"))
    replayed = replay_scan(cassette_path(name), _request(concurrency=8))
    assert _comparable(replayed) == _comparable(live)
    assert replayed.subscriptions and replayed.virtual_networks


def test_recorded_throttle_is_answered_in_order(no_sockets: None) -> None:
    """The healthy recording holds a 429 then the retried 200; playback must not repeat the 429."""
    storage = [i for i in _interactions(cassette_path("healthy")) if "/storageAccounts?" in i[1]]
    assert [code for _, _, code, _ in storage] == [429, 200]
    inventory = replay_scan(cassette_path("healthy"), _request())
    coverage = {c.collector: c.status for c in inventory.coverage}
    assert coverage["storage_accounts"] == "ok"
    assert len(inventory.storage_accounts) == 2


def test_demo_recording_shows_the_forbidden_collector(no_sockets: None) -> None:
    """Display names resolve through the recorded subscription list; the 403 stays a coverage gap."""
    inventory = replay_scan(DEMO_CASSETTE, _request(subscriptions=["Fabrikam Prod", "fabrikam connectivity"]))
    gaps = [(c.subscription_id, c.collector, c.status) for c in inventory.coverage if c.status != "ok"]
    assert gaps == [("5d2c8f1a-7e9b-4a3c-b6d4-0e1f2a3b4c5d", "route_tables", "forbidden")]
    assert {s.display_name for s in inventory.subscriptions} == {"Fabrikam Prod", "Fabrikam Connectivity"}


def test_unrecorded_subscription_is_an_auth_error_not_a_crash(no_sockets: None) -> None:
    with pytest.raises(AuthError, match="not found"):
        replay_scan(
            cassette_path("healthy"), _request(subscriptions=["99999999-9999-4999-8999-999999999999"])
        )


def test_unrecorded_request_becomes_not_found_coverage(no_sockets: None) -> None:
    inventory = replay_scan(
        cassette_path("healthy"), _request(subscriptions=[HEALTHY_SUB], regions=["westus2"])
    )
    tags = [c for c in inventory.coverage if c.collector == "service_tags"]
    assert [(c.status, "NotInRecording" in (c.detail or "")) for c in tags] == [("not_found", True)]
    assert len(inventory.virtual_machines) == 4  # everything else still replays


def test_missing_or_empty_recording_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        replay_scan(tmp_path / "nope.yaml", _request())
    empty = tmp_path / "empty.yaml"
    empty.write_text("interactions: []\n", encoding="utf-8")
    with pytest.raises(UsageError, match="with interactions"):
        replay_scan(empty, _request())


@pytest.mark.parametrize(
    "content", ["::::\n- [", "kind: asr-audit-inventory\n", '{"interactions": 3}', "- 1\n"]
)
def test_a_file_that_is_not_a_recording_is_a_usage_error(tmp_path: Path, content: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(UsageError, match="is not a vcrpy recording"):
        replay_scan(bad, _request())


@pytest.mark.parametrize("name", RECORDED)
def test_recordings_are_scrubbed(name: str) -> None:
    text = cassette_path(name).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    filtered = {h.lower() for h in FILTERED_REQUEST_HEADERS}
    for interaction in data["interactions"]:
        assert not filtered & {h.lower() for h in interaction["request"]["headers"]}
        assert interaction["request"]["uri"].startswith(RECORDED_ENDPOINT + "/")
    meta = yaml.safe_load((SCENARIOS_DIR / name / "scenario.yaml").read_text(encoding="utf-8"))
    tenants = {s["tenantId"] for s in meta["subscriptions"]} - {"00000000-0000-0000-0000-000000000000"}
    for secret in (*tenants, "test-token", "Bearer", "127.0.0.1"):
        assert secret not in text


def test_demo_recording_ships_inside_the_package() -> None:
    assert DEMO_CASSETTE.is_file()
    assert DEMO_CASSETTE.parent.name == "demo" and DEMO_CASSETTE.parent.parent.name == "asr_audit"
