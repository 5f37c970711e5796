"""Time faults (DESIGN.md §8.2): stalled and trickled answers, the whole-scan deadline, Ctrl-C.

A nightly gate must never hang: a stalled list ends as a `timeout` gap after a bounded number of
short attempts, a body trickled byte by byte is cut after the read timeout, the deadline returns
what finished and lists the rest, and one Ctrl-C ends the process at once. The scans run against
the loopback fake ARM, so the sockets, the TLS and the SDK's retry loop are the real ones.

Each scan runs under `finishes_within`, so that without these limits a test fails after a few
seconds instead of hanging for the stall's length.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from azure.core.exceptions import ServiceResponseTimeoutError
from fakearm import FakeArm
from test_collect_transport import FakeTransport, RecordingCredential, ok

from asr_audit.access.clients import ClientFactory
from asr_audit.access.clouds import CLOUDS
from asr_audit.access.credential import StaticTokenCredential
from asr_audit.access.policies import RetrySettings
from asr_audit.access.timeouts import DeadlineExceeded, ScanClock
from asr_audit.collect import ScanRequest, scan
from asr_audit.collect.reads import get_json
from asr_audit.inventory import Coverage, Inventory

REPO = Path(__file__).resolve().parents[1]
HEALTHY = "3c9d2e71-5b4a-4f86-a0d3-7e1b9c6f2a58"  # tests/scenarios/healthy
ROUTE_TABLES = r"/providers/Microsoft\.Network/routeTables$"
# Short waits between attempts; the timeout budget is the default one (2 retries).
SHORT = RetrySettings(retry_after_cap=0.1, backoff_factor=0.01, backoff_max=0.05)
T = TypeVar("T")


@pytest.fixture(scope="module", autouse=True)
def sdk_imported() -> None:
    """Import the SDK clients before any clock starts: a cold import takes seconds on a loaded
    machine, and the deadline counts from the start of `scan()`."""
    ClientFactory(RecordingCredential(), CLOUDS["AzureCloud"], transport=FakeTransport()).close()


def finishes_within(seconds: float, work: Callable[[], T]) -> tuple[T, float]:
    """`work()`'s result and how long it took; fails the test if it has not returned in `seconds`."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:
            outcome["error"] = exc

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"still running after {seconds} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"], time.monotonic() - started


def scan_arm(arm: FakeArm, **request: Any) -> Inventory:
    cloud = CLOUDS["AzureCloud"].with_arm_endpoint(arm.url)
    return scan(ScanRequest([HEALTHY], cloud, **request), StaticTokenCredential(arm.token), retry=SHORT)


def gaps(inventory: Inventory) -> list[Coverage]:
    return [c for c in inventory.coverage if c.status != "ok"]


def requested(arm: FakeArm, pattern: str) -> int:
    return sum(1 for r in arm.requests if re.search(pattern, r.path, re.IGNORECASE))


# --- per-request timeouts -------------------------------------------------------------------------


def test_a_stalled_list_and_a_trickled_body_are_timeout_gaps_after_three_short_attempts(
    fake_arm: Callable[..., FakeArm],
) -> None:
    """The issue's acceptance, scaled down: a 60 s stall with a 1 s read timeout ends in seconds.
    A body trickled byte by byte resets the socket's timeout with each byte; it still has to
    come whole within the read timeout."""
    nsgs = r"/providers/Microsoft\.Network/networkSecurityGroups$"
    arm = fake_arm("healthy")
    arm.add_stall(ROUTE_TABLES, 60)
    arm.add_trickle(nsgs, 0.2)  # the page is kilobytes: minutes at this pace
    inventory, elapsed = finishes_within(30, lambda: scan_arm(arm, timeout=(2, 1)))
    stalled, trickled = sorted(gaps(inventory), key=lambda c: c.collector != "route_tables")
    assert (stalled.collector, stalled.status) == ("route_tables", "timeout")
    assert "timed out" in (stalled.detail or "")
    assert (trickled.collector, trickled.status) == ("network_security_groups", "timeout")
    assert "response body not received within 1 s" in (trickled.detail or "")
    assert requested(arm, ROUTE_TABLES) == requested(arm, nsgs) == 3  # the first and 2 timeout retries
    assert inventory.virtual_networks and inventory.virtual_machines
    assert elapsed < 15


def test_each_attempt_gets_the_timeouts_capped_at_the_time_left() -> None:
    now = [100.0]
    recorded: list[tuple[Any, Any]] = []

    class Recording(FakeTransport):
        def send(self, request: Any, **kwargs: Any) -> Any:
            recorded.append((kwargs.get("connection_timeout"), kwargs.get("read_timeout")))
            return super().send(request, **kwargs)

    transport = Recording([("GET", "", [ok({})])])
    clock = ScanClock(10, 30, deadline=60, now=lambda: now[0])
    factory = ClientFactory(RecordingCredential(), CLOUDS["AzureCloud"], transport=transport, clock=clock)
    url = "/subscriptions/x?api-version=1"
    get_json(factory.client, url)
    now[0] += 55  # 5 s left
    get_json(factory.client, url)
    assert recorded == [(10, 30), (5, 5)]
    now[0] += 5  # the deadline: a call fails at once, with no request sent and no retry
    with pytest.raises(ServiceResponseTimeoutError):
        get_json(factory.client, url)
    assert len(transport.requests) == 2 and not transport.sleeps


def test_the_clock_caps_and_stops() -> None:
    now = [0.0]
    clock = ScanClock(10, 30, deadline=20, now=lambda: now[0])
    assert (clock.cap(30), clock.left()) == (20, 20)
    now[0] = 15
    assert clock.cap(30) == 5 and clock.cap(1) == 1
    clock.stop()
    assert clock.expired
    with pytest.raises(DeadlineExceeded):
        clock.cap(1)
    assert ScanClock(10, 30).left() is None and ScanClock(10, 30).cap(30) == 30


# --- the deadline ---------------------------------------------------------------------------------


def test_the_deadline_returns_what_finished_and_lists_the_stalled_list(
    fake_arm: Callable[..., FakeArm],
) -> None:
    arm = fake_arm("healthy")
    arm.add_stall(ROUTE_TABLES, 60)  # the default 30 s read timeout would wait; the deadline does not
    inventory, elapsed = finishes_within(20, lambda: scan_arm(arm, deadline=2.5))
    (gap,) = gaps(inventory)
    assert (gap.collector, gap.status) == ("route_tables", "timeout")
    assert gap.detail == "not finished by the 2.5 s deadline"
    assert inventory.virtual_networks and inventory.protected_items  # merged before the deadline, kept
    assert elapsed < 2.5 + 2


def test_at_the_deadline_running_and_queued_jobs_are_gaps_and_nothing_more_is_sent(
    fake_arm: Callable[..., FakeArm],
) -> None:
    arm = fake_arm("healthy")
    arm.add_stall(r"^/subscriptions/[^/]+/.", 60)  # every list stalls; the subscription itself answers
    inventory, elapsed = finishes_within(20, lambda: scan_arm(arm, deadline=1.5, concurrency=2))
    sent = len(arm.requests)
    assert elapsed < 1.5 + 2
    statuses = {c.collector: c.status for c in inventory.coverage}
    assert statuses.pop("subscription") == "ok"
    assert len(statuses) > 10 and set(statuses.values()) == {"timeout"}
    assert sent == 1 + 2  # the subscription, then one list per worker: the queued ones never started
    time.sleep(0.5)  # the two stalled attempts were cut at the deadline and are not retried
    assert len(arm.requests) == sent


# --- the fake server ------------------------------------------------------------------------------


@pytest.mark.parametrize("slow", ["stall", "trickle"])
def test_a_slow_answer_does_not_hold_the_fake_servers_shutdown(
    fake_arm: Callable[..., FakeArm], slow: str
) -> None:
    arm = fake_arm("healthy")
    if slow == "stall":
        arm.add_stall(ROUTE_TABLES, 60)
    else:
        arm.add_trickle(ROUTE_TABLES, 60)
    url = f"{arm.url}/subscriptions/{HEALTHY}/providers/Microsoft.Network/routeTables?api-version=1"
    headers = {"Authorization": f"Bearer {arm.token}"}
    client = threading.Thread(
        target=lambda: _ignore_errors(requests.get, url, headers=headers, verify=arm.ca_bundle, timeout=90),
        daemon=True,
    )
    client.start()
    _until(lambda: requested(arm, ROUTE_TABLES) == 1, 10)
    time.sleep(0.2)  # into the stall, or past the headers of the trickle
    started = time.monotonic()
    arm.stop()
    assert time.monotonic() - started < 1.5
    client.join(5)
    assert not client.is_alive()  # the server hung up on it


def _ignore_errors(call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    with contextlib.suppress(requests.RequestException):
        call(*args, **kwargs).content  # noqa: B018 - read the body too


def _until(condition: Callable[[], bool], seconds: float) -> None:
    limit = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > limit:
            pytest.fail(f"condition not met within {seconds} s")
        time.sleep(0.05)


# --- Ctrl-C ---------------------------------------------------------------------------------------


def test_ctrl_c_ends_a_scan_stalled_mid_read_within_2_s(fake_arm: Callable[..., FakeArm]) -> None:
    """As an operator runs it; the signal arrives while a list read is stalled in a worker."""
    arm = fake_arm("healthy")
    arm.add_stall(ROUTE_TABLES, 60)
    env = {
        **os.environ,
        "ASR_AUDIT_ACCESS_TOKEN": arm.token,
        "REQUESTS_CA_BUNDLE": arm.ca_bundle,
        "SSL_CERT_FILE": arm.ca_bundle,
    }
    argv = [sys.executable, "-m", "asr_audit", "--subscription", HEALTHY, "--arm-endpoint", arm.url]
    launched = time.monotonic()
    process = subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        _until(lambda: requested(arm, ROUTE_TABLES) == 1, 30)
        time.sleep(max(0.0, 1.5 - (time.monotonic() - launched)))
        process.send_signal(signal.SIGINT)
        signalled = time.monotonic()
        _, err = process.communicate(timeout=10)
        took = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130
    assert took < 2.0
    assert err.count("\n") == 1 and "interrupted" in err and "Traceback" not in err
