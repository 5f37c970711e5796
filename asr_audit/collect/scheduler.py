"""Runs a scan, top to bottom: resolve the subscriptions, plan the jobs, run them on a bounded
thread pool, plan the follow-ups their records call for, and record every outcome as coverage.

Threads rather than asyncio: with the work in I/O wait and JSON parsing cheap, 18 chains
on 18 threads came within 15% of aio with a shared session (DESIGN.md §6), and the sync
transport honours REQUESTS_CA_BUNDLE. Only the main thread touches the inventory and the plan:
workers return what they read, so nothing is shared but the clients.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timezone
from queue import Empty, SimpleQueue
from typing import Any

from azure.core.exceptions import ClientAuthenticationError

from asr_audit import ids
from asr_audit.access.clients import ClientFactory
from asr_audit.access.credential import auth_failure_message
from asr_audit.access.policies import ReadOnlyViolation, unregistered_provider
from asr_audit.access.timeouts import ScanClock
from asr_audit.collect.assignments import SharedLists
from asr_audit.collect.fields import Unread, parse_items
from asr_audit.collect.graph_queries import GraphLimits
from asr_audit.collect.plan import Job, Planner, Use
from asr_audit.collect.reads import Pages, failure, get_json
from asr_audit.collect.resolve import Resolver
from asr_audit.collect.workers import DaemonPool
from asr_audit.errors import AuthError
from asr_audit.inventory import SERVICE_TAGS, Coverage, CoverageStatus, Inventory, Subscription
from asr_audit.redact import scrub

Progress = Callable[[str, str, str], None]

# How long a scan that finished every job waits for its idle workers to exit. Gone, they leave the
# process with one thread, which the analysis after the scan needs to fork (rules/parallel.py);
# left to exit on their own, they were sometimes still alive there, and the NSG rules ran in the
# parent instead (0.1 s slower on a 7,008-resource tenant, bench/README.md).
WORKERS_EXIT = 1.0


class Scan:
    def __init__(
        self,
        factory: ClientFactory,
        arm_endpoint: str,
        concurrency: int,
        regions: list[str],
        progress: Progress | None,
        clock: ScanClock | None = None,
        graph: GraphLimits | None = None,
        target_regions: Sequence[str] = (),
        source_regions: Sequence[str] = (),
    ) -> None:
        self._factory = factory
        self._graph = graph  # the Resource Graph backend's limits; None: the ARM backend
        self._clock = clock or ScanClock()  # the factory's: its requests follow the same deadline
        self._arm_endpoint = arm_endpoint
        self._concurrency = max(1, concurrency)
        self._region_hint = ids.region(regions[0]) if regions else None
        self._target_regions = tuple(r for t in target_regions if (r := ids.region(t)))
        self._source_regions = tuple(r for s in source_regions if (r := ids.region(s)))
        self._progress = progress
        self.inventory = Inventory()

    def run(self, requested: list[str], everything: bool = False, groups: Sequence[str] = ()) -> Inventory:
        """Resolve the scope, then run every job. However the scan ends (the deadline, Ctrl-C, an
        error), it waits for no worker: they are daemon threads (workers.DaemonPool), the clock
        is stopped so those still running start no further request, and queued jobs are dropped."""
        pool = DaemonPool(self._concurrency)
        try:
            resolver = Resolver(
                self._factory, self._arm_endpoint, self._report, check_by_listing=self._graph is not None
            )
            try:
                subs = resolver.resolve(requested, everything, pool, groups)
            except ClientAuthenticationError as exc:
                raise AuthError(auth_failure_message(exc)) from None
            self.inventory.subscriptions.extend(subs)
            complete = self._collect(pool, subs)
        finally:
            self._clock.stop()
            pool.shutdown(wait=False, cancel_futures=True)
        if complete:  # every job done: the workers are idle and exit at once
            pool.join(WORKERS_EXIT)
        _sort(self.inventory)
        self.inventory.collected_at = collected_at(self._factory.server_time.latest())
        return self.inventory

    def _report(self, coverage: Coverage) -> None:
        self.inventory.coverage.append(coverage)
        if self._progress:
            self._progress(coverage.subscription_id, coverage.collector, coverage.status)

    def _collect(self, pool: DaemonPool, subs: list[Subscription]) -> bool:
        """The job loop; whether every job finished. At the deadline it stops waiting: what
        finished stays merged, and every job not finished (running, queued, or a follow-up not
        started) is a `timeout` gap."""
        planner = Planner([s.id for s in subs], self._region_hint, self._target_regions, self._source_regions)
        # The cache accounts' role assignments: one list per subscription, shared by their jobs.
        reader: Reader = SharedLists().reader(_read)
        if self._graph is not None:  # the lists come from Resource Graph; the jobs stay the same
            from asr_audit.collect.graph import prefetch

            store = prefetch(pool, self._factory, [s.id for s in subs], self._clock, self._graph)
            reader = store.reader(reader)
        # Jobs announce themselves here when they finish. `concurrent.futures.wait` would visit
        # every pending future on each call: quadratic in a scan's jobs, 17 % of the client's CPU
        # on 100 subscriptions (1,800 jobs pending at once), and worse with each subscription.
        finished: SimpleQueue[Future[Outcome]] = SimpleQueue()
        pending = {self._submit(pool, job, reader, finished): job for job in planner.first()}
        unstarted: list[Job] = []
        while pending:
            try:
                future = finished.get(timeout=self._clock.left())
            except Empty:  # the deadline
                break
            job = pending.pop(future)
            outcome = future.result()
            self.inventory.merge(outcome.inventory)
            self._report(outcome.coverage)
            for follow in planner.after(job, outcome.records):
                if self._clock.expired:
                    unstarted.append(follow)
                else:
                    pending[self._submit(pool, follow, reader, finished)] = follow
        left = [*pending.values(), *unstarted]
        self._unfinished(left, planner, subs)
        return not left

    def _submit(
        self, pool: DaemonPool, job: Job, reader: Reader, finished: SimpleQueue[Future[Outcome]]
    ) -> Future[Outcome]:
        future = pool.submit(execute, job, self._factory, self._arm_endpoint, reader)
        future.add_done_callback(finished.put)
        return future

    def _unfinished(self, jobs: list[Job], planner: Planner, subs: list[Subscription]) -> None:
        """Coverage of what the deadline cut short, and of service tags never asked for."""
        late = self._clock.unfinished_detail()
        for job in jobs:
            if job.fallback is not None:
                self.inventory.merge(job.fallback)
            self._report(
                Coverage(
                    job.subscription_id, job.collector, CoverageStatus.TIMEOUT, late, object_id=job.object_id
                )
            )
        if planner.service_tags_planned or not subs:
            return
        if jobs:  # the virtual network lists may not all have been read
            self._report(Coverage(subs[0].id, SERVICE_TAGS, CoverageStatus.TIMEOUT, late))
        else:
            detail = "no --region hint and no virtual network to ask the service-tags API about"
            self._report(Coverage(subs[0].id, SERVICE_TAGS, CoverageStatus.NOT_FOUND, detail))


# --- one job, on a worker -------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one job read, as the main thread merges it."""

    coverage: Coverage
    inventory: Inventory
    records: list[Any]  # every record parsed, for the planner's follow-ups


@dataclass
class _Read:
    """What a read got before it ended, failure or not: the records parsed so far stay."""

    records: list[Any] = field(default_factory=list)
    unread: Unread = field(default_factory=Unread)  # items the parser could not read
    pages: int = 0  # list pages read: a refusal on a later page cannot mean "nothing to list"
    incomplete: str | None = None  # paging stopped early: the data is partial


# How a job's data is read: `_read` asks ARM; the Resource Graph backend's reader answers from
# its query results and hands the rest to `_read`.
Reader = Callable[[Job, Any, str, "_Read"], None]


def execute(job: Job, factory: ClientFactory, arm_endpoint: str, reader: Reader | None = None) -> Outcome:
    """Run one job; never raises. What was parsed before a failure is kept, and an item the
    parser could not read makes an otherwise complete run `partial`, naming the item."""
    read = _Read()
    detail: str | None = None
    try:
        (reader or _read)(job, factory.client, arm_endpoint, read)
    except ReadOnlyViolation as exc:
        status, detail = _registration_demand(exc, job, read)
    except Exception as exc:  # the scan always returns; every failure is a coverage record
        status, detail = failure(exc)
    else:
        status = CoverageStatus.ERROR if read.incomplete else CoverageStatus.OK
        detail = read.incomplete
    inventory = _place(job, read, complete=status is CoverageStatus.OK and not detail)
    if status is not CoverageStatus.OK and job.fallback is not None:
        inventory.merge(job.fallback)
    if status is CoverageStatus.OK and read.unread.count:
        status = CoverageStatus.PARTIAL
    notes = "; ".join(n for n in (detail, read.unread.detail()) if n)
    coverage = Coverage(
        job.subscription_id,
        job.collector,
        status,
        scrub(notes) or None,
        len(read.records),
        unread=list(read.unread.ids),
        object_id=job.object_id,
    )
    return Outcome(coverage, inventory, read.records)


def _read(job: Job, client: Any, arm_endpoint: str, read: _Read) -> None:
    """Every page of a list, parsed as it arrives, so a failure on a later page leaves the
    earlier records; or one GET, its items or the one object."""
    if job.paged:
        pager = Pages(client, job.url(), arm_endpoint)
        for page in pager:
            read.pages = pager.count
            read.records += parse_items(page["value"], job.parse, read.unread, page=pager.count)[0]
        read.incomplete = pager.note
    elif job.array:
        body = get_json(client, job.url(), array=job.array)
        read.records += parse_items(body[job.array], job.parse, read.unread)[0]
    else:
        read.records.append(job.parse(get_json(client, job.url())))


def _place(job: Job, read: _Read, *, complete: bool) -> Inventory:
    """The records as inventory. A policy enters with its rule collection groups only when they
    were all listed (`rules_read` says whether each was read); otherwise its fallback does."""
    inventory = Inventory()
    if job.use is Use.KEEP:
        getattr(inventory, job.section).extend(read.records)
    elif job.use is Use.POLICY_RULES and complete and job.policy is not None:
        policy = dataclasses.replace(
            job.policy, rule_collection_groups=read.records, rules_read=not read.unread.count
        )
        inventory.firewall_policies.append(policy)
    return inventory


def _registration_demand(exc: ReadOnlyViolation, job: Job, read: _Read) -> tuple[CoverageStatus, str]:
    """The guard refused the SDK's `POST .../register` after a 409 MissingSubscriptionRegistration.

    Only on the first request of a list, nothing read yet, does it mean "the provider is not
    registered, so the subscription holds none of these": ok. On a later page the list is cut
    short, and for an object that was listed (a job with a fallback, a single GET) the
    provider plainly is registered: both are gaps.
    """
    namespace = unregistered_provider(exc)
    if namespace is None:
        return failure(exc)
    if job.paged and read.pages == 0 and job.fallback is None:
        return CoverageStatus.OK, f"resource provider {namespace} is not registered in this subscription"
    where = f"page {read.pages + 1} of the list" if read.pages else "a request for a listed object"
    return (
        CoverageStatus.ERROR,
        f"{where} answered that resource provider {namespace} is not registered; read stopped",
    )


def collected_at(server_time: datetime | None) -> str:
    """The moment the inventory shows, as it records it; the rules judge ages and expiry dates as
    of it (`Context.as_of`).

    ARM's own clock when any response carried a `Date` header (the latest: the data is at least
    that recent): the server's clock is what the data is "as of", and a replayed recording then
    judges as of its recording, whatever day it is replayed. The local clock at the end of the
    scan only when no response said (every request failed before an answer, or a transport
    that sends no headers)."""
    return (server_time or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sort(inventory: Inventory) -> None:
    """Completion order varies run to run; snapshots and reports should not."""
    for f in dataclasses.fields(inventory):
        value = getattr(inventory, f.name)
        if not isinstance(value, list) or not value:
            continue
        if f.name == "coverage":
            value.sort(key=lambda c: (c.subscription_id.lower(), c.collector.lower()))
        elif hasattr(value[0], "id"):
            # One role assignment above several cache accounts is kept once per account.
            value.sort(key=lambda x: (ids.key(x.id), ids.key(getattr(x, "account_id", None))))
        elif hasattr(value[0], "name"):
            # SKUs and usages have no id: one name recurs per subscription and region read.
            value.sort(
                key=lambda x: (
                    x.name.lower(),
                    getattr(x, "subscription_id", "").lower(),
                    getattr(x, "region", None) or "",
                )
            )
