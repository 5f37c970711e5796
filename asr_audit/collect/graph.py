"""The Azure Resource Graph backend: the scan's lists read by a few paged KQL queries.

ARM lists each resource type per subscription (12 lists and more per subscription); Resource
Graph answers one query for up to 1,000 subscriptions at once. This module runs those queries
up front, one per collector and batch of subscriptions (`graph_queries`), and then serves the
scan's own jobs from their rows: the planner, the job loop, the parsers and the coverage records
stay the ARM backend's, so both backends build the same inventory and report the same coverage
(a failed query is a gap of that collector in every subscription it covered). The cache
accounts' role assignments are rows of `authorizationresources`, matched to each account by the
ARM backend's own rule (`_assignments_at`, `assignments.AssignmentIndex`). The rest is still
read from ARM by the jobs this reader does not serve: the subscription checks' fallback,
firewall policy rule collection groups (in the table reference's `networkresources`, not moved
yet), service tags, and what the reference lists no type for: the cache accounts' blob
services, the vaults' protection container mappings, the Hyper-V containers' protectable items,
VM sizes and usages.

One request path: the query is a POST through the scan's own client pipeline (read-only guard,
retry, timeouts, ARM pacing); on top of that, ARG's per-user quota is honoured from the headers
of its answers (`QuotaGate`).

ARG indexes changes with a lag of minutes: a resource changed just before the scan may show its
previous state (docs/permissions.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, wait
from dataclasses import dataclass, field
from typing import Any

from asr_audit import ids
from asr_audit.access.clients import ClientFactory
from asr_audit.access.timeouts import DeadlineExceeded, ScanClock
from asr_audit.collect.assignments import MANAGEMENT_GROUPS, AssignmentIndex
from asr_audit.collect.fields import Unread, flag, parse_items, text
from asr_audit.collect.graph_queries import (
    QUERIES,
    QUERY_OPTIONS,
    GraphLimits,
    batches,
    graph_url,
    query_text,
    request_body,
    resets_after,
)
from asr_audit.collect.plan import Job
from asr_audit.collect.private_link import parse_virtual_network_link
from asr_audit.collect.reads import MAX_PAGES, Gap, failure, post_json
from asr_audit.collect.recovery import vault_id_of
from asr_audit.inventory import CoverageStatus

# scheduler.Reader, spelled out here: the scheduler imports this module, not the reverse. The
# last argument is the scheduler's `_Read` (records, unread, incomplete), filled as it goes.
Reader = Callable[[Job, Any, str, Any], None]

QUOTA_REMAINING = "x-ms-user-quota-remaining"
QUOTA_RESETS_AFTER = "x-ms-user-quota-resets-after"
_GATEWAY_COLLECTORS = ("virtual_network_gateways", "connections")


class QuotaGate:
    """ARG's per-user quota (15 queries per 5 s by default), as its answers report it.

    Each answer says how many queries are left and when the window resets. While the count is
    unknown (the first query, or a window that has reset) one query goes alone and the others
    wait for its answer, so a burst of parallel queries cannot overrun a quota nobody knows yet;
    then each query takes one from the count, and at 0 waits for the reset, but never past the
    scan's deadline: a wait that would outlast it fails the query as a timeout instead.
    """

    def __init__(self, clock: ScanClock, *, now: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._now = now
        self._cond = threading.Condition()
        self._remaining: int | None = None
        self._reset_at = 0.0
        self._probing = False

    def acquire(self) -> None:
        with self._cond:
            while True:
                now = self._now()
                if self._remaining is not None and now >= self._reset_at:
                    self._remaining = None  # the window has reset: the next answer tells the count
                if self._remaining is None and not self._probing:
                    self._probing = True
                    return
                if self._remaining is not None and self._remaining > 0:
                    self._remaining -= 1
                    return
                pause = self._reset_at - now if self._remaining is not None else self._clock.read
                left = self._clock.left()
                if left is not None and pause >= left:
                    raise DeadlineExceeded("Resource Graph quota resets after the scan's deadline")
                self._cond.wait(pause)

    def update(self, headers: Mapping[str, str] | None) -> None:
        """After every query, answered or not (None): the count it reported, if any."""
        remaining = _integer((headers or {}).get(QUOTA_REMAINING))
        reset = resets_after((headers or {}).get(QUOTA_RESETS_AFTER))
        with self._cond:
            self._probing = False
            if remaining is not None and reset is not None:
                now = self._now()
                if self._remaining is not None and now < self._reset_at:
                    # Answers overtake each other: an older count must not give back queries
                    # that were taken since.
                    remaining = min(remaining, self._remaining)
                self._remaining = remaining
                self._reset_at = now + reset
            self._cond.notify_all()


def _integer(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


# --- one query, paged -------------------------------------------------------------------------


@dataclass
class QueryResult:
    """One query over one batch of subscriptions: its rows by subscription (lower case), and
    why it is not complete when it is not (a failure mapped to coverage, or a paging note)."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    failed: Gap | None = None
    note: str | None = None


def run_query(
    client: Any, gate: QuotaGate, subscription_ids: list[str], collector: str, limits: GraphLimits
) -> QueryResult:
    """Every page of one collector's query over `subscription_ids`; never raises. Rows read
    before a failure are kept, as the ARM backend keeps the pages it read."""
    result = QueryResult()
    seen: set[str] = set()
    tokens: set[str] = set()
    token: str | None = None
    query = query_text(collector)
    try:
        for page in range(1, MAX_PAGES + 1):
            gate.acquire()
            extra = QUERY_OPTIONS.get(collector)
            payload = request_body(subscription_ids, query, limits.page_size, token, extra)
            headers: Mapping[str, str] | None = None
            try:
                body, headers = post_json(client, graph_url(), payload, array="data")
            finally:
                gate.update(headers)
            _keep(result, body["data"], seen, subscription_ids[0])
            token = text(body.get("$skipToken"))
            if token is None:
                if flag(body.get("resultTruncated")):
                    result.note = "Resource Graph truncated the result and gave no $skipToken"
                return result
            if token in tokens:
                result.note = f"paging stopped: page {page} repeats an earlier $skipToken"
                return result
            tokens.add(token)
        result.note = f"paging stopped at the cap of {MAX_PAGES} pages"
    except Exception as exc:  # every failure is the coverage of the collector runs it served
        result.failed = Gap(*failure(exc))
    return result


def _keep(result: QueryResult, rows: list[Any], seen: set[str], first_subscription: str) -> None:
    """Each row under its subscription, each id once. A row naming no subscription is kept under
    the batch's first one, where the parser reports it unread rather than it vanishing."""
    for row in rows:
        rid = row.get("id") if isinstance(row, dict) else None
        if isinstance(rid, str) and rid:
            if ids.key(rid) in seen:
                continue
            seen.add(ids.key(rid))
        named = text(row.get("subscriptionId")) if isinstance(row, dict) else None
        sub = (named or ids.subscription_of(text(rid)) or first_subscription).lower()
        result.rows.setdefault(sub, []).append(row)


# --- all queries, then the jobs served from them ---------------------------------------------------


class GraphStore:
    """The answers of every query of a scan, and the reader that serves the scan's jobs from them."""

    def __init__(self) -> None:
        self._results: dict[tuple[str, str], QueryResult] = {}  # (collector, subscription) -> result
        # id(role-assignment result) -> its rows by scope, indexed once per batch rather than
        # matched by a pass over them per cache account
        self._indexes: dict[int, AssignmentIndex] = {}
        # (collector, subscription) -> its rows by the key of the object they belong to (vault,
        # zone, resource group), made by the first job of that kind: a pass over every row per
        # job took 2.6 s for 50 vaults and 20,000 items in one subscription, 10.4 s for 200
        self._under: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}

    def add(self, collector: str, subscription_ids: list[str], result: QueryResult) -> None:
        for sub in subscription_ids:
            self._results[(collector, sub.lower())] = result

    def reader(self, arm: Reader) -> Reader:
        """A job reader: jobs Resource Graph holds the data of are answered from the rows; the
        others (rule collection groups, service tags) go to `arm`."""

        def read(job: Job, client: Any, arm_endpoint: str, into: Any) -> None:
            if not self._serve(job, into):
                arm(job, client, arm_endpoint, into)

        return read

    def _serve(self, job: Job, into: Any) -> bool:
        kind, _, _ = job.collector.partition(":")
        sub = job.subscription_id.lower()
        if kind == "vault":  # the vault GET: ARG's row holds the same properties
            rows, _ = self._rows_under("vaults", sub, _id_key, ids.key(job.object_id))
            if not rows:
                raise Gap(CoverageStatus.NOT_FOUND, "the vault is not in Resource Graph's answer")
            into.records.append(job.parse(rows[0]))
            return True
        if kind == "role_assignments":
            rows, gaps = self._assignments_at(ids.key(job.object_id), sub, into.unread)
        elif kind == "gateway_resource_groups":
            found = [self._rows(c, sub) for c in _GATEWAY_COLLECTORS]
            rows, gaps = [r for rs, _ in found for r in rs], [g for _, g in found if g]
        elif kind in _PARENT_KEYS:
            rows, gap = self._rows_under(kind, sub, _PARENT_KEYS[kind], ids.key(job.object_id))
            gaps = [gap] if gap else []
        elif kind in _GATEWAY_COLLECTORS:
            group = (ids.resource_group_of(job.object_id) or "").lower()
            rows, gap = self._rows_under(kind, sub, _group_key, group)
            gaps = [gap] if gap else []
        elif kind in QUERIES:
            rows, gap = self._rows(kind, sub)
            gaps = [gap] if gap else []
        else:
            return False
        into.records += parse_items(rows, job.parse, into.unread)[0]
        failed = next((g for g in gaps if isinstance(g, Gap)), None)
        if failed is not None:
            raise Gap(failed.status, failed.detail)
        into.incomplete = next((g for g in gaps if isinstance(g, str)), None)
        return True

    def _assignments_at(
        self, account: str, sub: str, unread: Unread
    ) -> tuple[list[dict[str, Any]], list[Gap | str | None]]:
        """The role assignments in effect at a cache account, as ARM's `atScope()` list there
        gives them (`AssignmentIndex.in_effect_at`, the ARM backend's matching too). A batch's
        rows made at management groups are those of every subscription of the batch: each
        account keeps those of its subscription's ancestry, and without that ancestry they
        cannot be placed, so the ancestry query's gap is the account's gap."""
        result = self._results.get(("role_assignments", sub))
        if result is None:
            return [], [Gap(CoverageStatus.ERROR, "no Resource Graph query covered this subscription")]
        index = self._indexes.get(id(result))
        if index is None:
            index = self._indexes[id(result)] = AssignmentIndex(result.rows)
        gap = result.failed or result.note
        if not index.has_above:
            return index.in_effect_at(account, sub, unread), [gap]
        chains, chain_gap = self._rows("subscription_ancestors", sub)
        if not chains and chain_gap is None:
            chain_gap = Gap(CoverageStatus.NOT_FOUND, "Resource Graph gave no management group chain")
        groups = {ids.key(MANAGEMENT_GROUPS + name) for row in chains for name in _ancestors(row)} | {"/"}
        return index.in_effect_at(account, sub, unread, groups.__contains__), [gap, chain_gap]

    def _rows(self, collector: str, sub: str) -> tuple[list[dict[str, Any]], Gap | str | None]:
        result = self._results.get((collector, sub))
        if result is None:
            return [], Gap(CoverageStatus.ERROR, "no Resource Graph query covered this subscription")
        return result.rows.get(sub, []), result.failed or result.note

    def _rows_under(
        self, collector: str, sub: str, key_of: Callable[[dict[str, Any]], str], wanted: str
    ) -> tuple[list[dict[str, Any]], Gap | str | None]:
        """The rows whose `key_of` is `wanted`. Jobs run on several workers: two of them may
        index the same rows at once, and both indexes are the same."""
        rows, gap = self._rows(collector, sub)
        index = self._under.get((collector, sub))
        if index is None:
            index = {}
            for row in rows:
                if isinstance(row, dict):
                    index.setdefault(key_of(row), []).append(row)
            self._under[(collector, sub)] = index
        return index.get(wanted, []), gap


def _vault_key(row: dict[str, Any]) -> str:
    try:
        return ids.key(vault_id_of(text(row.get("id")) or ""))
    except ValueError:
        return ""


def _zone_key(row: dict[str, Any]) -> str:
    try:
        return ids.key(parse_virtual_network_link(row).zone_id)
    except ValueError:
        return ""


# Per-object collectors served from one query's rows: the parent (vault, zone) a row belongs to.
_PARENT_KEYS: dict[str, Callable[[dict[str, Any]], str]] = {
    "protected_items": _vault_key,
    "network_mappings": _vault_key,
    "replication_policies": _vault_key,
    "virtual_network_links": _zone_key,
}


def _ancestors(row: dict[str, Any]) -> list[str]:
    """The names of the management groups above a subscription, from its resourcecontainers row."""
    properties = row.get("properties")
    chain = properties.get("managementGroupAncestorsChain") if isinstance(properties, dict) else None
    if not isinstance(chain, list):
        return []
    return [name for g in chain if isinstance(g, dict) and (name := text(g.get("name")))]


def _group(row: dict[str, Any]) -> str | None:
    return text(row.get("resourceGroup")) or ids.resource_group_of(text(row.get("id")))


def _group_key(row: dict[str, Any]) -> str:
    return (_group(row) or "").lower()


def _id_key(row: dict[str, Any]) -> str:
    return ids.key(text(row.get("id")))


def prefetch(
    pool: Executor, factory: ClientFactory, subscription_ids: list[str], clock: ScanClock, limits: GraphLimits
) -> GraphStore:
    """Run every query (each collector over each batch of subscriptions) on the scan's pool and
    wait for them, at most until the deadline; a query unfinished then is a timeout gap."""
    client = factory.client
    gate = QuotaGate(clock)
    planned = [(c, batch) for batch in batches(subscription_ids, limits.batch_size) for c in QUERIES]
    futures = [pool.submit(run_batch, client, gate, batch, c, limits) for c, batch in planned]
    done, _ = wait(futures, timeout=clock.left())
    store = GraphStore()
    for future, (collector, batch) in zip(futures, planned, strict=True):
        late = QueryResult(failed=Gap(CoverageStatus.TIMEOUT, clock.unfinished_detail()))
        for part, result in future.result() if future in done else [(batch, late)]:
            store.add(collector, part, result)
    return store


# A query refused for these is retried on halves of its batch, down to single subscriptions.
_SPLIT_ON = (CoverageStatus.FORBIDDEN, CoverageStatus.NOT_FOUND)


def run_batch(
    client: Any, gate: QuotaGate, subscription_ids: list[str], collector: str, limits: GraphLimits
) -> list[tuple[list[str], QueryResult]]:
    """One query over a batch; refused (403/404), it is asked again over each half, so that one
    subscription the credential may not read costs only its own gap, as with ARM, instead of
    the gap of the 999 others. A refusal costs about 2·log2(batch) more queries."""
    result = run_query(client, gate, subscription_ids, collector, limits)
    if result.failed is None or result.failed.status not in _SPLIT_ON or len(subscription_ids) < 2:
        return [(subscription_ids, result)]
    half = len(subscription_ids) // 2
    return [
        *run_batch(client, gate, subscription_ids[:half], collector, limits),
        *run_batch(client, gate, subscription_ids[half:], collector, limits),
    ]
