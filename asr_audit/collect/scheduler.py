"""Runs a scan: resolve subscriptions, then every job on a bounded thread pool.

Threads rather than asyncio: with the work in I/O wait and JSON parsing cheap, 18 chains
on 18 threads came within 15% of aio with a shared session (DESIGN.md §6), and the sync
transport honours REQUESTS_CA_BUNDLE. Only the main thread touches the inventory: workers
return partial inventories, so nothing is shared but the clients.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from datetime import datetime, timezone
from typing import Any, TypeVar

from azure.core.exceptions import AzureError, ClientAuthenticationError

from asr_audit import ids
from asr_audit.access.credential import auth_failure_message
from asr_audit.access.timeouts import ScanClock, is_timeout
from asr_audit.collect import endpoints
from asr_audit.collect.fields import Malformed, Unread, parse_items
from asr_audit.collect.jobs import Job, JobBuilder, JobResult
from asr_audit.collect.pipeline import (
    BadPayload,
    ClientFactory,
    HttpFailure,
    ReadOnlyViolation,
    get_json,
    one_line,
    pages,
    unregistered_provider,
)
from asr_audit.collect.subscriptions import descendant_subscription, match_display_name, parse_subscription
from asr_audit.collect.urls import RefusedUrl
from asr_audit.collect.workers import DaemonPool
from asr_audit.errors import AuthError, UsageError
from asr_audit.inventory import COVERAGE_OK, COVERAGE_PARTIAL, Coverage, Inventory, Subscription
from asr_audit.redact import scrub

Progress = Callable[[str, str, str], None]
T = TypeVar("T")


class _Unlisted(Exception):
    """A list the scope depends on could not be read whole; `status_code` when ARM said why."""

    def __init__(self, detail: str, status_code: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status_code = status_code


def _outcome(exc: Exception) -> tuple[str, str]:
    """Coverage status and one-line detail for a job that raised; the detail is scrubbed, as
    an exception text may quote a request header or what a server echoed."""
    if isinstance(exc, HttpFailure):
        status, detail = exc.coverage_status, exc.detail
    elif isinstance(exc, (BadPayload, Malformed, ReadOnlyViolation, RefusedUrl)):
        status, detail = "error", str(exc)
    elif isinstance(exc, AuthError):
        status, detail = "forbidden", str(exc)
    elif isinstance(exc, ClientAuthenticationError):
        status, detail = "forbidden", auth_failure_message(exc)
    elif isinstance(exc, AzureError):  # connection, TLS, timeout after retries
        status = "timeout" if is_timeout(exc) else "error"
        detail = f"{type(exc).__name__}: {exc.message}"
    else:
        status, detail = "error", f"internal error: {type(exc).__name__}: {exc}"
    return status, scrub(one_line(detail))


def _registration_demand(exc: ReadOnlyViolation, job: Job, result: JobResult) -> tuple[str, str]:
    """The guard refused the SDK's `POST .../register` after a 409 MissingSubscriptionRegistration.

    Only on the first request of a list, nothing read yet, does it mean "the provider is not
    registered, so the subscription holds none of these": ok. On a later page the list is cut
    short, and for an object that was listed (a job with a fallback, a single GET) the
    provider plainly is registered: both are gaps.
    """
    namespace = unregistered_provider(exc)
    if namespace is None:
        return _outcome(exc)
    if result.listing and result.pages == 0 and job.fallback is None:
        return COVERAGE_OK, f"resource provider {namespace} is not registered in this subscription"
    where = f"page {result.pages + 1} of the list" if result.pages else "a request for a listed object"
    return "error", f"{where} answered that resource provider {namespace} is not registered; read stopped"


def execute(job: Job) -> tuple[JobResult, Coverage]:
    """Run one job; never raises. What was parsed before a failure is kept, and an item the
    parser could not read makes an otherwise complete run `partial`, naming the item."""
    result = JobResult()
    try:
        job.run(result)
    except ReadOnlyViolation as exc:
        status, detail = _registration_demand(exc, job, result)
    except Exception as exc:  # the scan always returns; every failure is a coverage record
        status, detail = _outcome(exc)
    else:
        status, detail = ("error", result.incomplete) if result.incomplete else (COVERAGE_OK, None)
    if status != COVERAGE_OK and job.fallback is not None:
        result.inventory.merge(job.fallback)
    if status == COVERAGE_OK and result.unread.count:
        status = COVERAGE_PARTIAL
    notes = "; ".join(n for n in (detail, result.unread.detail()) if n)
    coverage = Coverage(
        job.subscription_id,
        job.collector,
        status,
        scrub(notes) or None,
        result.items,
        unread=list(result.unread.ids),
        scope=job.scope,
    )
    return result, coverage


def _nothing_readable(failures: list[Coverage]) -> AuthError:
    """Exit 3 whatever kept every requested subscription unreadable (DESIGN.md §8.2): one line
    naming them (the first few) and each distinct cause."""
    listed = [f.subscription_id for f in failures]
    names = ", ".join(listed[:5]) + (f" and {len(listed) - 5} more" if len(listed) > 5 else "")
    causes = "; ".join(sorted({f.detail or f.status for f in failures}))
    if all(f.status in ("forbidden", "not_found") for f in failures):
        text = f"subscription {names} not found or not readable with this credential ({causes})"
    else:
        text = f"no requested subscription could be read: {names} ({causes})"
    return AuthError(scrub(one_line(text, 1000)))


class Scan:
    def __init__(
        self,
        factory: ClientFactory,
        arm_endpoint: str,
        concurrency: int,
        regions: list[str],
        progress: Progress | None,
        clock: ScanClock | None = None,
    ) -> None:
        self._factory = factory
        self._clock = clock or ScanClock()  # the factory's: its requests follow the same deadline
        self._arm_endpoint = arm_endpoint
        self._concurrency = max(1, concurrency)
        self._region_hint = ids.region(regions[0]) if regions else None
        self._progress = progress
        self._builder = JobBuilder(factory, arm_endpoint)
        self.inventory = Inventory()

    # --- subscriptions --------------------------------------------------------------------------

    def _scope_list(self, url: str, parse: Callable[[dict[str, Any]], T]) -> list[T]:
        """Every item of a list the scope is decided from. Unlike a collector's list, it must be
        whole: a list cut short (a nextLink that cannot be followed) or an item that cannot be
        read would quietly narrow the scan, so it fails like an unreadable one."""
        found: list[T] = []
        unread = Unread()
        try:
            listing = pages(self._factory.get("resources"), url, self._arm_endpoint)
            for page in listing:
                found.extend(parse_items(page["value"], parse, unread, page=listing.count)[0])
        except HttpFailure as exc:
            raise _Unlisted(exc.detail, exc.status_code) from None
        except ClientAuthenticationError:
            raise  # the credential: run() makes it an AuthError
        except (BadPayload, AzureError, RefusedUrl) as exc:
            raise _Unlisted(_outcome(exc)[1]) from None
        if listing.note or unread.count:
            raise _Unlisted(scrub(listing.note or unread.detail() or ""))
        return found

    def _readable_subscriptions(self) -> list[Subscription]:
        """Every subscription the credential can see; needed only to resolve display names."""
        try:
            return self._scope_list(endpoints.subscriptions(), parse_subscription)
        except _Unlisted as exc:
            if exc.status_code in (401, 403):
                raise AuthError(f"cannot list subscriptions: {exc.detail}") from None
            raise UsageError(
                f"cannot list subscriptions to resolve a name ({exc.detail}); pass ids"
            ) from None

    def _group_subscriptions(self, groups: Sequence[str]) -> list[str]:
        """The subscriptions below each management group, at any depth, in listing order.

        ARM may answer 403 for a group that does not exist as well as for one the credential
        has no role on, so both read as "not found or not readable": either way the requested
        scope cannot be read at all (exit 3), as for a requested subscription.
        """
        found: list[str] = []
        for group in groups:
            url = endpoints.management_group_descendants(group)
            try:
                listed = self._scope_list(url, descendant_subscription)
            except _Unlisted as exc:
                if exc.status_code == 401:
                    raise AuthError(f"ARM rejected the token: {exc.detail}") from None
                if exc.status_code in (403, 404):
                    raise AuthError(
                        f"management group {group} not found or not readable with this credential "
                        f"({exc.detail})"
                    ) from None
                detail = f"cannot list the subscriptions of management group {group} ({exc.detail})"
                raise UsageError(detail) from None
            found += [sid for sid in listed if sid]
        return found

    def _check_subscription(self, subscription_id: str) -> Subscription | Coverage:
        try:
            body = get_json(self._factory.get("resources"), endpoints.subscription(subscription_id))
        except HttpFailure as exc:
            if exc.status_code == 401:
                raise AuthError(f"ARM rejected the token: {exc.detail}") from None
            return Coverage(subscription_id, "subscription", exc.coverage_status, exc.detail)
        except ClientAuthenticationError:
            raise  # the credential, not the subscription: run() makes it an AuthError
        except (BadPayload, AzureError, RefusedUrl) as exc:
            return Coverage(subscription_id, "subscription", *_outcome(exc))
        parsed, _ = parse_items([body], parse_subscription)
        return parsed[0] if parsed else Subscription(id=subscription_id)

    def _listing_for(self, names: list[str]) -> list[Subscription]:
        """The readable subscriptions, to resolve `names`. When the credential cannot list them,
        a value that is not a GUID cannot be interpreted at all: that is the input's fault (exit
        2), whereas `--all-subscriptions` alone with a failing credential stays an auth error."""
        try:
            return self._readable_subscriptions()
        except (AuthError, ClientAuthenticationError) as exc:
            if not names:
                raise
            detail = str(exc) if isinstance(exc, AuthError) else auth_failure_message(exc)
            quoted = ", ".join(repr(n) for n in names)
            raise UsageError(
                f"{quoted} is not a subscription id (GUID), and display names cannot be resolved "
                f"without a credential that lists subscriptions: {detail}"
            ) from None

    def resolve(
        self,
        requested: list[str],
        everything: bool,
        pool: Executor,
        groups: Sequence[str] = (),
    ) -> list[Subscription]:
        """Names become ids and management groups the subscriptions below them; each id is read
        once. Raises `AuthError` when none is readable, whatever the cause (a 403 as much as a
        network, TLS or 5xx failure): a run that could read nothing in scope is exit 3."""
        names = [v for v in requested if not ids.is_guid(v.strip())]
        readable = self._listing_for(names) if (everything or names) else []
        candidates = [s.id for s in readable] if everything else []
        candidates += self._group_subscriptions(groups)
        candidates += [
            value.strip().lower() if ids.is_guid(value.strip()) else match_display_name(value, readable)
            for value in requested
        ]
        wanted = list(dict.fromkeys(candidates))
        if not wanted and groups:
            raise UsageError(f"no subscription under management group {', '.join(groups)}: nothing to scan")
        if not wanted:
            raise UsageError("no subscription to scan")
        checked = list(pool.map(self._check_subscription, wanted))
        subs = [c for c in checked if isinstance(c, Subscription)]
        failures = [c for c in checked if isinstance(c, Coverage)]
        for item in checked:
            if isinstance(item, Subscription):
                self._report(Coverage(item.id, "subscription", "ok", None, 1))
            else:
                self._report(item)
        if not subs:
            raise _nothing_readable(failures)
        self.inventory.subscriptions.extend(subs)
        return subs

    # --- the job loop -------------------------------------------------------------------------------

    def _report(self, coverage: Coverage) -> None:
        self.inventory.coverage.append(coverage)
        if self._progress:
            self._progress(coverage.subscription_id, coverage.collector, coverage.status)

    def run(self, requested: list[str], everything: bool = False, groups: Sequence[str] = ()) -> Inventory:
        """Resolve the scope, then run every job. However the scan ends (the deadline, Ctrl-C, an
        error), it waits for no worker: they are daemon threads (workers.DaemonPool), the clock
        is stopped so those still running start no further request, and queued jobs are dropped."""
        pool = DaemonPool(self._concurrency)
        try:
            try:
                subs = self.resolve(requested, everything, pool, groups)
            except ClientAuthenticationError as exc:
                raise AuthError(auth_failure_message(exc)) from None
            self._collect(pool, subs)
        finally:
            self._clock.stop()
            pool.shutdown(wait=False, cancel_futures=True)
        _sort(self.inventory)
        self.inventory.collected_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return self.inventory

    def _collect(self, pool: Executor, subs: list[Subscription]) -> None:
        """The job loop. At the deadline it stops waiting: what finished stays merged, and every
        job not finished (running, queued, or a follow-up not started) is a `timeout` gap."""
        jobs = [job for sub in subs for job in self._builder.subscription_jobs(sub.id)]
        tags = _ServiceTagsPlan(self._region_hint, [s.id for s in subs])
        if tags.choice:
            jobs.append(self._builder.service_tags_job(*tags.take()))
        pending: dict[Future[tuple[JobResult, Coverage]], Job] = {pool.submit(execute, j): j for j in jobs}
        unstarted: list[Job] = []
        while pending:
            done, _ = wait(pending, timeout=self._clock.left(), return_when=FIRST_COMPLETED)
            if not done:  # the deadline
                break
            for future in done:
                job = pending.pop(future)
                result, coverage = future.result()
                self.inventory.merge(result.inventory)
                self._report(coverage)
                follow = list(result.followups)
                if job.collector == "virtual_networks":
                    tags.saw(job.subscription_id, result.inventory.virtual_networks)
                    if tags.choice and not tags.taken:
                        follow.append(self._builder.service_tags_job(*tags.take()))
                for nxt in follow:
                    if self._clock.expired:
                        unstarted.append(nxt)
                    else:
                        pending[pool.submit(execute, nxt)] = nxt
        late = self._clock.unfinished_detail()
        for job in [*pending.values(), *unstarted]:
            if job.fallback is not None:
                self.inventory.merge(job.fallback)
            self._report(Coverage(job.subscription_id, job.collector, "timeout", late, scope=job.scope))
        if not tags.taken and subs:
            if pending or unstarted:  # the virtual network lists may not all have been read
                self._report(Coverage(subs[0].id, "service_tags", "timeout", late))
            else:
                detail = "no --region hint and no virtual network to ask the service-tags API about"
                self._report(Coverage(subs[0].id, "service_tags", "not_found", detail))


class _ServiceTagsPlan:
    """Service tags are fetched once per cloud, for one location: the region hint, else the
    first VNet's location, subscriptions taken in the order given (so reruns ask the same)."""

    def __init__(self, hint: str | None, subscription_order: list[str]) -> None:
        self._order = subscription_order
        self._seen: dict[str, str | None] = {}
        self.choice: tuple[str, str] | None = None
        if hint and subscription_order:
            self.choice = (subscription_order[0], hint)
        self.taken = False

    def saw(self, subscription_id: str, vnets: list[Any]) -> None:
        locations = [loc for v in vnets if (loc := ids.region(v.location))]
        self._seen[subscription_id] = locations[0] if locations else None
        for sub in self._order:
            if self.choice is not None or sub not in self._seen:
                return
            location = self._seen[sub]
            if location:
                self.choice = (sub, location)

    def take(self) -> tuple[str, str]:
        if self.choice is None:
            raise RuntimeError("no service-tags location chosen yet")
        self.taken = True
        return self.choice


def _sort(inventory: Inventory) -> None:
    """Completion order varies run to run; snapshots and reports should not."""
    for f in dataclasses.fields(inventory):
        value = getattr(inventory, f.name)
        if not isinstance(value, list) or not value:
            continue
        if f.name == "coverage":
            value.sort(key=lambda c: (c.subscription_id.lower(), c.collector.lower()))
        elif hasattr(value[0], "id"):
            value.sort(key=lambda x: ids.key(x.id))
        elif hasattr(value[0], "name"):
            value.sort(key=lambda x: x.name.lower())
