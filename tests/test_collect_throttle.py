"""Client-side pacing: the token bucket on a fake clock, and the budget in the SDK pipeline."""

from __future__ import annotations

import threading

import pytest
from azure.core.rest import HttpRequest
from test_collect_transport import FAST, FakeTransport, RecordingCredential, ok

from asr_audit.access.clients import ClientFactory
from asr_audit.access.clouds import CLOUDS
from asr_audit.access.policies import ReadOnlyViolation
from asr_audit.access.throttle import (
    ARM_READ_BUCKET,
    ARM_READ_REFILL,
    TENANT_SCOPE,
    ReadBudget,
    TokenBucket,
    scope_of,
)
from asr_audit.collect.reads import get_json

SUB = "11111111-2222-4333-8444-555555555555"
OTHER = "11111111-2222-4333-8444-666666666666"


class FakeClock:
    """Time that passes only when someone sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)


def bucket(clock: FakeClock, capacity: float = 3, rate: float = 2.0) -> TokenBucket:
    return TokenBucket(capacity, rate, clock=clock, sleep=clock.sleep)


# --- the bucket ----------------------------------------------------------------------------------


def test_a_full_bucket_serves_its_capacity_without_waiting() -> None:
    clock = FakeClock()
    tokens = bucket(clock, capacity=3)
    assert [tokens.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert clock.sleeps == []


def test_an_empty_bucket_waits_one_refill_interval_per_request_queued() -> None:
    clock = FakeClock()
    tokens = bucket(clock, capacity=3, rate=2.0)
    for _ in range(3):
        tokens.take()
    # no time passes: each further request reserves the next token to come, 0.5 s apart
    assert [tokens.take() for _ in range(3)] == pytest.approx([0.5, 1.0, 1.5])
    assert clock.sleeps == pytest.approx([0.5, 1.0, 1.5])


def test_elapsed_time_refills_but_never_beyond_capacity() -> None:
    clock = FakeClock()
    tokens = bucket(clock, capacity=3, rate=2.0)
    for _ in range(3):
        tokens.take()
    clock.now += 1.0  # two tokens back
    assert [tokens.take() for _ in range(2)] == [0.0, 0.0]
    assert tokens.take() == pytest.approx(0.5)
    clock.now += 3600  # idle for an hour: full again, not 7,200 tokens
    assert [tokens.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert tokens.take() > 0


def test_bucket_rejects_a_useless_shape() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0, 1)
    with pytest.raises(ValueError):
        TokenBucket(10, 0)


def test_concurrent_takers_get_distinct_slots() -> None:
    clock = FakeClock()
    tokens = bucket(clock, capacity=1, rate=10.0)
    threads = [threading.Thread(target=tokens.take) for _ in range(21)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # one token in the bucket, twenty reservations 0.1 s apart: no two waiters share a slot
    assert sorted(round(s, 6) for s in clock.sleeps) == [round(0.1 * n, 6) for n in range(1, 21)]


def test_default_budget_models_arm_reads() -> None:
    """250 reads at once, then 25 per second (ARM's documented per-subscription read bucket)."""
    clock = FakeClock()
    budget = ReadBudget(clock=clock, sleep=clock.sleep)
    path = f"/subscriptions/{SUB}/providers/Microsoft.Network/virtualNetworks"
    assert (ARM_READ_BUCKET, ARM_READ_REFILL) == (250, 25.0)
    assert sum(budget.take(path) for _ in range(250)) == 0
    assert budget.take(path) == pytest.approx(1 / 25)


# --- scopes --------------------------------------------------------------------------------------


def test_scope_is_the_subscription_case_insensitively_else_the_tenant() -> None:
    assert scope_of(f"/subscriptions/{SUB}/providers/Microsoft.Network/routeTables") == SUB
    assert scope_of(f"/Subscriptions/{SUB.upper()}/resourceGroups/rg/providers/X/vaults/v/items") == SUB
    assert scope_of(f"/subscriptions/{SUB}") == SUB
    assert scope_of("/subscriptions") == TENANT_SCOPE
    assert scope_of("/providers/Microsoft.ResourceGraph/resources") == TENANT_SCOPE


def test_each_subscription_has_its_own_bucket() -> None:
    clock = FakeClock()
    budget = ReadBudget(2, 1.0, clock=clock, sleep=clock.sleep)
    for _ in range(2):
        budget.take(f"/subscriptions/{SUB}/a")
    assert budget.take(f"/subscriptions/{OTHER}/a") == 0.0
    assert budget.take("/subscriptions") == 0.0
    assert budget.take(f"/Subscriptions/{SUB.upper()}/b") == pytest.approx(1.0)


# --- in the pipeline -----------------------------------------------------------------------------


def paced_factory(transport: FakeTransport, clock: FakeClock) -> ClientFactory:
    budget = ReadBudget(1, 4.0, clock=clock, sleep=clock.sleep)
    return ClientFactory(
        RecordingCredential(), CLOUDS["AzureCloud"], retry=FAST, transport=transport, budget=budget
    )


def test_every_request_draws_on_its_subscription_budget() -> None:
    clock, transport = FakeClock(), FakeTransport()
    transport.add("GET", "", ok({"value": []}))
    factory = paced_factory(transport, clock)
    get_json(factory.client, f"/subscriptions/{SUB}/providers/Microsoft.Network/routeTables")
    get_json(factory.client, f"/subscriptions/{SUB}/providers/Microsoft.Compute/disks")
    get_json(factory.client, f"/subscriptions/{OTHER}/providers/Microsoft.Storage/storageAccounts")
    get_json(factory.client, f"/subscriptions/{SUB}")
    assert clock.sleeps == pytest.approx([0.25, 0.5])  # SUB's 2nd and 3rd request; OTHER's 1st is free
    assert len(transport.requests) == 4


def test_retries_draw_on_the_budget_too() -> None:
    clock, transport = FakeClock(), FakeTransport()
    transport.add("GET", "disks", (503, {}, {}), ok({"value": []}))
    factory = paced_factory(transport, clock)
    get_json(factory.client, f"/subscriptions/{SUB}/providers/Microsoft.Compute/disks")
    assert len(transport.urls("disks")) == 2
    assert clock.sleeps == pytest.approx([0.25])


def test_refused_writes_cost_nothing() -> None:
    clock, transport = FakeClock(), FakeTransport()
    transport.add("GET", "", ok({"value": []}))
    factory = paced_factory(transport, clock)
    with pytest.raises(ReadOnlyViolation):
        factory.client.send_request(HttpRequest("DELETE", f"https://x/subscriptions/{SUB}/a"))
    get_json(factory.client, f"/subscriptions/{SUB}/b")
    assert clock.sleeps == []
