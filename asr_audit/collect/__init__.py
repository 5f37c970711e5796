"""Collection: ARM (read-only) -> Inventory. It never judges; every failure is coverage.

`scan()` imports the HTTP machinery and the SDK clients only when called, so loading this
package (for `ScanRequest`, or a snapshot replay) costs nothing.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from asr_audit import heap
from asr_audit.access import DEFAULT_CONNECT_TIMEOUT, DEFAULT_DEADLINE, DEFAULT_READ_TIMEOUT
from asr_audit.access.clouds import CloudProfile
from asr_audit.collect.graph_queries import GraphLimits
from asr_audit.inventory import Inventory, sharing

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.pipeline.transport import HttpTransport

    from asr_audit.access.policies import RetrySettings


# Parallel requests. Within DESIGN.md's 8-16: at 8, follow-up jobs (vault and resource-group
# lists) queue behind the initial ones, and 157 requests at 50 ms cannot take under 1 s;
# bench/README.md has the figures. Far below ARM's read budget either way (throttle.py).
DEFAULT_CONCURRENCY = 16

BACKENDS = ("arm", "graph", "auto")
# `auto` picks Resource Graph past this many subscriptions (DESIGN.md §8.3): below it the ARM
# lists are few and read live data, above it their count grows with every subscription.
AUTO_GRAPH_ABOVE = 20


@dataclass
class ScanRequest:
    subscriptions: list[str]  # GUIDs or display names
    cloud: CloudProfile
    concurrency: int = DEFAULT_CONCURRENCY
    regions: list[str] = field(default_factory=list)  # hint for the service-tags location
    # readiness (--target-region): where VMs would fail over to, so its sizes and quotas are read
    # in each subscription holding VMs; protected items name their own recovery regions
    target_regions: list[str] = field(default_factory=list)
    # readiness (--source-region): where the candidate VMs are, so VM-UNSUPPORTED can read their
    # sizes' vCPUs and CPU architecture from that region's SKU list
    source_regions: list[str] = field(default_factory=list)
    all_subscriptions: bool = False  # add every subscription the credential can read
    # add every subscription below these management groups (ids, not display names), at any depth
    management_groups: list[str] = field(default_factory=list)
    timeout: tuple[float, float] = (DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT)  # (connect, read) seconds
    deadline: float | None = DEFAULT_DEADLINE  # seconds for the whole scan; unfinished lists become gaps
    backend: str = "arm"  # one of BACKENDS: ARM lists, Azure Resource Graph queries, or chosen by scope
    graph_limits: GraphLimits = field(default_factory=GraphLimits)  # subscriptions per query, rows per page


def choose_backend(request: ScanRequest) -> str:
    """`arm` or `graph`: `auto` is graph for a tenant-scale scope (every subscription, a
    management group, or more than AUTO_GRAPH_ABOVE subscriptions named), else arm."""
    if request.backend not in BACKENDS:
        raise ValueError(f"unknown backend {request.backend!r}; expected one of {', '.join(BACKENDS)}")
    if request.backend != "auto":
        return request.backend
    wide = request.all_subscriptions or bool(request.management_groups)
    return "graph" if wide or len(request.subscriptions) > AUTO_GRAPH_ABOVE else "arm"


def scan(
    request: ScanRequest,
    credential: TokenCredential,
    progress: Callable[[str, str, str], None] | None = None,
    *,
    transport: HttpTransport | None = None,  # type: ignore[type-arg]
    retry: RetrySettings | None = None,
) -> Inventory:
    """Collect the inventory of the requested subscriptions.

    Raises `UsageError` for a name no readable subscription has, or management groups with no
    subscription below them; `AuthError` when the credential fails, a management group cannot
    be read, or no requested subscription is readable. Otherwise it always returns, with
    per-collector outcomes in `inventory.coverage`. `progress(subscription, collector,
    status)` is called from the calling thread after each step. `transport` and `retry`
    exist for tests (a fake azure-core transport, short retry waits).

    Every request gets `request.timeout`, and a body must arrive whole within the read
    timeout. At `request.deadline` seconds (counted from this call) the scan stops waiting:
    what is unfinished then is a `timeout` gap, and it returns within moments even while
    requests are stalled mid-read. A KeyboardInterrupt is not held up by them either.
    """
    from asr_audit.access.clients import ClientFactory
    from asr_audit.access.timeouts import ScanClock
    from asr_audit.collect.scheduler import Scan

    graph = request.graph_limits if choose_backend(request) == "graph" else None
    clock = ScanClock(*request.timeout, request.deadline)
    with _fewer_gc_passes(), sharing.building():
        factory = ClientFactory(
            credential,
            request.cloud,
            retry=retry,
            transport=transport,
            pool_size=request.concurrency,
            clock=clock,
        )
        try:
            runner = Scan(
                factory,
                request.cloud.arm_endpoint,
                request.concurrency,
                request.regions,
                progress,
                clock,
                graph,
                target_regions=request.target_regions,
                source_regions=request.source_regions,
            )
            inventory = runner.run(
                request.subscriptions, request.all_subscriptions, request.management_groups
            )
        finally:
            factory.close()
    inventory.cloud = request.cloud.name
    return inventory


# Young-generation threshold during a scan (CPython's default is 700 allocations). At 100,000 the
# GC still took 2.2-2.8 s of a 100k-resource scan's ~29 s; at 1,000,000, 0.7 s, with the same peak
# (bench/README.md, "The scan's GC threshold").
SCAN_GC_THRESHOLD = 1_000_000


@contextmanager
def _fewer_gc_passes() -> Iterator[None]:
    """Run the cyclic GC ~1,400x less often for the duration of a scan.

    A scan allocates millions of containers (decoded pages, then the inventory built from
    them), almost none of them in cycles; with the default thresholds the collector kept
    traversing them and took ~30 % of the client's CPU (bench/README.md, profile). Raising
    the threshold keeps collection on, so cycles are still freed and memory stays bounded
    (peak RSS did not change). The previous thresholds are restored however the scan ends.

    What is still young then (up to a million containers, most of them the inventory) is aged
    unscanned first: with the old threshold back, the next allocation started a young collection
    that walked all of it to free almost nothing (83-114 ms of a 7,008-resource scan's ~1.6 s to
    free 198 objects; bench/README.md).
    """
    previous = gc.get_threshold()
    young = max(previous[0], SCAN_GC_THRESHOLD) if previous[0] else 0  # 0: the caller turned it off
    gc.set_threshold(young, *previous[1:])
    try:
        yield
    finally:
        heap.age_unscanned()
        gc.set_threshold(*previous)
