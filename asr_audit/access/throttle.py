"""Client-side pacing under ARM's read limits (DESIGN.md §6).

ARM throttles with a token bucket per subscription (and one per tenant for requests that
name no subscription), per principal and per region: reads have a bucket of 250 requests
refilled at 25 per second ("Request limits and throttling", Azure Resource Manager docs).
One bucket per subscription across regions is the conservative reading. Pacing the scan on a
model of that bucket keeps a large tenant's scan from spending its retries on 429s. Each
scan gets its own model; other clients of the same principal are invisible to it, and the
retry policy still handles the 429s they cause.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy

ARM_READ_BUCKET = 250  # requests
ARM_READ_REFILL = 25.0  # requests per second

_SUBSCRIPTION = re.compile(r"/subscriptions/([^/?#]+)", re.IGNORECASE)
TENANT_SCOPE = "tenant"


class TokenBucket:
    """Starts full; each request takes a token, and waits for one when the bucket is empty.

    A request that has to wait reserves its token at once (the level goes negative) and
    sleeps outside the lock, so concurrent waiters queue in order, each one refill interval
    after the last, instead of all waking at the same instant.
    """

    def __init__(
        self,
        capacity: float,
        refill_per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if capacity < 1 or refill_per_second <= 0:
            raise ValueError("a token bucket needs capacity >= 1 and a positive refill rate")
        self._capacity = float(capacity)
        self._rate = float(refill_per_second)
        self._clock = clock
        self._sleep = sleep
        self._level = self._capacity
        self._stamp = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Take one token; returns the seconds waited for it."""
        with self._lock:
            now = self._clock()
            self._level = min(self._capacity, self._level + (now - self._stamp) * self._rate)
            self._stamp = now
            self._level -= 1
            wait = -self._level / self._rate if self._level < 0 else 0.0
        if wait:
            self._sleep(wait)
        return wait


class ReadBudget:
    """One bucket per ARM throttling scope of a scan: each subscription, and the tenant."""

    def __init__(
        self,
        capacity: float = ARM_READ_BUCKET,
        refill_per_second: float = ARM_READ_REFILL,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._make = lambda: TokenBucket(capacity, refill_per_second, clock=clock, sleep=sleep)
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def bucket(self, scope: str) -> TokenBucket:
        with self._lock:
            found = self._buckets.get(scope)
            if found is None:
                found = self._buckets[scope] = self._make()
            return found

    def take(self, path: str) -> float:
        """Take a token from the scope `path` (a URL path) is counted against."""
        return self.bucket(scope_of(path)).take()


def scope_of(path: str) -> str:
    """The subscription a request path names (lower-case; ASR spells it `/Subscriptions/`),
    else the tenant."""
    match = _SUBSCRIPTION.search(path)
    return match.group(1).lower() if match else TENANT_SCOPE


class ReadBudgetPolicy(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Takes a token for every attempt, retries included: ARM counts each one."""

    def __init__(self, budget: ReadBudget) -> None:
        self._budget = budget

    def on_request(self, request: PipelineRequest) -> None:  # type: ignore[type-arg]
        self._budget.take(urlsplit(request.http_request.url).path)
