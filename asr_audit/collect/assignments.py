"""The role assignments in effect at each A2A cache storage account, kept from a wider list.

Neither backend lists an account's assignments on its own. ARM lists each subscription's once
per scan, unfiltered: the assignments made at the subscription, below it (resource groups,
resources) and above it (the management groups it sits under, the root "/"). Resource Graph's
`authorizationresources` rows cover a batch of subscriptions. From either, an account keeps what
ARM's `$filter=atScope()` list at the account would give: the assignments whose
`properties.scope` is the account, a scope above it inside its subscription (its resource
group, the subscription), or a management group above the subscription or the root
(`AssignmentIndex.in_effect_at`, the one matching rule of both backends). An assignment without
a readable scope may or may not apply: it is noted unread at every account of its subscription,
never dropped and never applied.

`SharedLists` is the ARM backend's side: the first role-assignment job of a subscription reads
its list, every other job of that subscription (the same vault's accounts or a later vault's)
waits for that read and keeps its own part, so the list is requested once per subscription
however many cache accounts it holds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from asr_audit import ids
from asr_audit.collect.fields import Unread, parse_items, text
from asr_audit.collect.plan import Job
from asr_audit.collect.reads import Gap, Pages, failure
from asr_audit.inventory import CoverageStatus

ROLE_ASSIGNMENTS = "role_assignments"  # the collector, `role_assignments:<account>` per account
MANAGEMENT_GROUPS = "/providers/microsoft.management/managementgroups/"
_NO_SCOPE = "no properties.scope: whether it applies here is unknown"

# A job reader (scheduler.Reader): the last argument is the scheduler's `_Read`.
_Reader = Callable[[Job, Any, str, Any], None]


def scope_of(row: Any) -> str | None:
    properties = row.get("properties") if isinstance(row, dict) else None
    return text(properties.get("scope")) if isinstance(properties, dict) else None


def is_above_subscriptions(scope: str | None) -> bool:
    """Made at a management group or at the root "/": a scope naming no subscription."""
    key = ids.key(scope)
    return key == "/" or key.startswith(MANAGEMENT_GROUPS)


def _label(row: Any) -> str:
    return (text(row.get("id")) if isinstance(row, dict) else None) or "a role assignment row"


class AssignmentIndex:
    """The assignments of one list by the scope they were made at, indexed once: an account's
    are then found by looking up its own ancestors (`/subscriptions/s`, `.../resourceGroups/g`,
    the account), not by a pass over the whole list per account."""

    def __init__(self, rows_by_subscription: Mapping[str, Iterable[Any]]) -> None:
        """`rows_by_subscription`: the rows as listed, under the subscription (any case) each was
        listed for; that is where a row without a scope is reported unread."""
        self._at: dict[str, list[tuple[int, dict[str, Any]]]] = {}  # scope key -> rows made there
        self._above: list[tuple[int, str, dict[str, Any]]] = []  # (position, scope key, row)
        self._unscoped: dict[str, list[Any]] = {}  # subscription (lower case) -> rows
        position = 0
        for subscription, rows in rows_by_subscription.items():
            for row in rows:
                position += 1
                scope = scope_of(row)
                if scope is None:
                    self._unscoped.setdefault(subscription.lower(), []).append(row)
                elif is_above_subscriptions(scope):
                    self._above.append((position, ids.key(scope), row))
                else:
                    self._at.setdefault(ids.key(scope), []).append((position, row))

    @property
    def has_above(self) -> bool:
        """Whether any row was made at a management group or the root."""
        return bool(self._above)

    def in_effect_at(
        self,
        account_id: str,
        subscription_id: str,
        unread: Unread,
        above: Callable[[str], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """The rows in effect at the account, in list order: made at it or at a scope above it
        inside its subscription, or made above the subscription where `above(scope key)` says it
        applies (None: every such row does, as in a subscription's own list, which holds only its
        ancestors'). Each row of `subscription_id` without a scope is added to `unread`."""
        account = ids.key(account_id)
        found = list(self._at.get(account, []))
        cut = len(account)
        while (cut := account.rfind("/", 0, cut)) > 0:
            found += self._at.get(account[:cut], [])
        found += [(p, row) for p, scope, row in self._above if above is None or above(scope)]
        for row in self._unscoped.get(subscription_id.lower(), []):
            unread.add(_label(row), _NO_SCOPE)
        return [row for _, row in sorted(found, key=lambda entry: entry[0])]


# --- the ARM backend: one list per subscription, shared by its accounts' jobs ------------------


@dataclass
class _Listing:
    """One subscription's list as read, or as far as it was read."""

    done: threading.Event = field(default_factory=threading.Event)
    index: AssignmentIndex | None = None
    pages: int = 0
    note: str | None = None  # paging stopped early: incomplete
    failed: Gap | None = None


class SharedLists:
    """The lists of one scan that role-assignment jobs share, by URL (one per subscription)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lists: dict[str, _Listing] = {}

    def reader(self, arm: _Reader) -> _Reader:
        """A job reader: a role-assignment job keeps its account's part of its subscription's
        list; every other job goes to `arm`."""

        def read(job: Job, client: Any, arm_endpoint: str, into: Any) -> None:
            if job.collector.partition(":")[0] != ROLE_ASSIGNMENTS:
                arm(job, client, arm_endpoint, into)
                return
            listing = self._listing(job, client, arm_endpoint)
            into.pages = listing.pages
            if listing.index is not None:
                rows = listing.index.in_effect_at(job.object_id or "", job.subscription_id, into.unread)
                into.records += parse_items(rows, job.parse, into.unread)[0]
            into.incomplete = listing.note
            if listing.failed is not None:  # raised anew per job: each is the gap of its account
                raise Gap(listing.failed.status, listing.failed.detail)

        return read

    def _listing(self, job: Job, client: Any, arm_endpoint: str) -> _Listing:
        """The list of the job's URL: read here if no job asked for it before, else waited for.
        The reading job is running, so a waiting one always gets an answer, a failure included."""
        url = job.url()
        with self._lock:
            listing = self._lists.get(url.lower())
            first = listing is None
            if listing is None:
                listing = self._lists[url.lower()] = _Listing()
        if first:
            try:
                _read_all(listing, job.subscription_id, client, url, arm_endpoint)
            finally:
                if listing.index is None and listing.failed is None:  # interrupted: never a pass
                    listing.failed = Gap(
                        CoverageStatus.ERROR, "the subscription's role assignments were not read"
                    )
                listing.done.set()
        else:
            listing.done.wait()
        return listing


def _read_all(listing: _Listing, subscription_id: str, client: Any, url: str, arm_endpoint: str) -> None:
    """Every page; what was read before a failure stays, as in any list the scheduler reads."""
    rows: list[Any] = []
    pager = Pages(client, url, arm_endpoint)
    try:
        for page in pager:
            listing.pages = pager.count
            rows += page["value"]
        listing.note = pager.note
    except Exception as exc:  # every job of the subscription records it as its gap
        listing.failed = Gap(*failure(exc))
    listing.index = AssignmentIndex({subscription_id: rows})
