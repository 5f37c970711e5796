"""Replaying recordings: faithful to a live scan, offline, scrubbed, and in step with the scenarios."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
import yaml
from conftest import SCENARIOS_DIR
from fakearm import FakeArm
from record_cassettes import FILTERED_REQUEST_HEADERS, cassette_path, scenario_request

from asr_audit.access.clouds import CLOUDS
from asr_audit.access.credential import StaticTokenCredential
from asr_audit.app.replay import (
    DEMO_CASSETTE,
    RECORDED_ENDPOINT,
    RecordedTransport,
    Recording,
    RequestKey,
    replay_scan,
    scan_recording,
)
from asr_audit.collect import ScanRequest, scan
from asr_audit.errors import AuthError, UsageError
from asr_audit.inventory import Inventory

RECORDED = ["api-examples", "broken", "healthy"]
HEALTHY_SUB = "3c9d2e71-5b4a-4f86-a0d3-7e1b9c6f2a58"
Sent = tuple[str, str, tuple[tuple[str, str], ...]]


def _request(**overrides: Any) -> ScanRequest:
    return ScanRequest(**{"subscriptions": [], "cloud": CLOUDS["AzureCloud"], **overrides})


def _comparable(inventory: Inventory) -> dict[str, Any]:
    data = inventory.to_json()
    data["coverage"] = sorted(
        (c["subscription_id"], c["collector"], c["status"], c["items"]) for c in data["coverage"]
    )
    return data


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: socket.socket, address: Any) -> None:
        raise AssertionError(f"replay opened a connection to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def _load(text: str) -> Any:
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # 10x faster when built


def _interactions(path: Path) -> list[tuple[str, str, int, str]]:
    data = _load(path.read_text(encoding="utf-8"))
    return [
        (
            i["request"]["method"],
            i["request"]["uri"],
            i["response"]["status"]["code"],
            i["response"]["body"]["string"],
        )
        for i in data["interactions"]
    ]


def _sent(requests: Iterable[tuple[str, str, Any]]) -> Counter[Sent]:
    """(method, decoded path, sorted query) of each request, counted: concurrency changes their order."""
    return Counter((m, unquote(p), tuple(sorted(dict(q).items()))) for m, p, q in requests)


def _recorded_requests(path: Path) -> Counter[Sent]:
    return _sent(
        (m, urlsplit(uri).path, parse_qsl(urlsplit(uri).query, keep_blank_values=True))
        for m, uri, _, _ in _interactions(path)
    )


@pytest.mark.parametrize("name", RECORDED)
def test_replay_equals_a_live_scan_and_opens_no_socket(
    name: str, fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recording is in step with the scenario and the collectors: a live scan of the scenario
    sends exactly the recorded requests (same method, path and query, as often), and replaying
    the recording gives the inventory that live scan built."""
    arm = fake_arm(name)
    live = scan(scenario_request(arm, arm.url, concurrency=4), StaticTokenCredential(arm.token))
    assert _sent(arm.requests) == _recorded_requests(cassette_path(name)), (
        f"the collectors ask for other things than the recording holds; re-record: "
        f"python tests/record_cassettes.py {name}"
    )
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: pytest.fail(f"connect {address!r}"))
    replayed = replay_scan(cassette_path(name), _request(concurrency=8))
    assert _comparable(replayed) == _comparable(live)
    assert replayed.subscriptions and replayed.virtual_networks


@pytest.mark.parametrize("name", RECORDED)
def test_a_replay_asks_for_every_recorded_exchange_and_nothing_else(name: str, no_sockets: None) -> None:
    """Replaying the scan the recording was made of plays each interaction once: nothing
    unrecorded is asked for (it would get NotInRecording), nothing recorded is left unused."""
    transport = RecordedTransport(Recording.load(cassette_path(name)))
    request = _request(subscriptions=_recorded_subscriptions(name), all_subscriptions=True, concurrency=4)
    scan_recording(transport, request)
    recorded = [RequestKey.of(m, uri) for m, uri, _, _ in _interactions(cassette_path(name))]
    assert Counter(transport.sent) == Counter(recorded)


def _recorded_subscriptions(name: str) -> list[str]:
    meta = yaml.safe_load((SCENARIOS_DIR / name / "scenario.yaml").read_text(encoding="utf-8"))
    return [s["id"] for s in meta["subscriptions"]]


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
    data = _load(text)
    filtered = {h.lower() for h in FILTERED_REQUEST_HEADERS}
    for interaction in data["interactions"]:
        assert not filtered & {h.lower() for h in interaction["request"]["headers"]}
        assert interaction["request"]["uri"].startswith(RECORDED_ENDPOINT + "/")
    meta = yaml.safe_load((SCENARIOS_DIR / name / "scenario.yaml").read_text(encoding="utf-8"))
    tenants = {s["tenantId"] for s in meta["subscriptions"]} - {"00000000-0000-0000-0000-000000000000"}
    for secret in (*tenants, "test-token", "Bearer", "127.0.0.1"):
        assert secret not in text


# Packages a runtime install lacks: vcrpy is a test dependency, and every read goes through one
# client's pipeline (access/clients.py), so no provider's management package is installed.
ABSENT = {
    "vcrpy": ("vcr",),
    "provider-sdks": (
        "azure.mgmt.network",
        "azure.mgmt.compute",
        "azure.mgmt.storage",
        "azure.mgmt.recoveryservices",
        "azure.mgmt.recoveryservicessiterecovery",
    ),
}


@pytest.mark.parametrize("absent", ABSENT.values(), ids=ABSENT.keys())
def test_the_demo_runs_with_the_runtime_dependencies_alone(absent: tuple[str, ...]) -> None:
    """A wheel installed with the runtime dependencies alone must replay the demo, through the SDK
    as a real scan. A fresh interpreter where importing those packages fails stands in for it."""
    program = (
        "import sys\n"
        f"sys.modules.update(dict.fromkeys({absent!r}))\n"
        "from asr_audit.app.cli import main\n"
        "code = main(['demo', '--output', 'json', '--quiet'])\n"
        "assert 'azure.mgmt.resource.resources' in sys.modules\n"
        "raise SystemExit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert len(report["findings"]) > 40 and len(report["scope"]["subscriptions"]) == 2


def test_demo_recording_ships_inside_the_package() -> None:
    assert DEMO_CASSETTE.is_file()
    assert DEMO_CASSETTE.parent.name == "demo" and DEMO_CASSETTE.parent.parent.name == "asr_audit"
