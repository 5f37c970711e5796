"""Which subscriptions a scan reads: display names become ids, management groups the
subscriptions below them, and each one is checked readable before any job starts.

Unlike a collector's list, a list the scope is decided from must be read whole: cut short, it
would quietly narrow the scan. So its failures end the run (exit 2 or 3) instead of becoming gaps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any, TypeVar

from azure.core.exceptions import AzureError, ClientAuthenticationError

from asr_audit import ids
from asr_audit.access.clients import ClientFactory
from asr_audit.access.credential import auth_failure_message
from asr_audit.collect import endpoints
from asr_audit.collect.fields import Unread, parse_items
from asr_audit.collect.reads import BadPayload, HttpFailure, Pages, failure, get_json, one_line
from asr_audit.collect.subscriptions import descendant_subscription, match_display_name, parse_subscription
from asr_audit.collect.urls import RefusedUrl
from asr_audit.errors import AuthError, UsageError
from asr_audit.inventory import SUBSCRIPTION_CHECK, Coverage, CoverageStatus, Subscription
from asr_audit.redact import scrub

T = TypeVar("T")


class _Unlisted(Exception):
    """A list the scope depends on could not be read whole; `status_code` when ARM said why."""

    def __init__(self, detail: str, status_code: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status_code = status_code


class Resolver:
    def __init__(
        self,
        factory: ClientFactory,
        arm_endpoint: str,
        report: Callable[[Coverage], None],
        *,
        check_by_listing: bool = False,
    ) -> None:
        self._factory = factory
        self._arm_endpoint = arm_endpoint
        self._report = report
        # Resource Graph backend: one subscription list instead of a GET per subscription.
        self._by_listing = check_by_listing

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
        listed = self._listing_to_check(readable if (everything or names) else None)
        if listed is None:
            checked = list(pool.map(self._check_subscription, wanted))
        else:
            checked = [_listed_or_gap(sid, listed) for sid in wanted]
        subs = [c for c in checked if isinstance(c, Subscription)]
        failures = [c for c in checked if isinstance(c, Coverage)]
        for item in checked:
            if isinstance(item, Subscription):
                self._report(Coverage(item.id, SUBSCRIPTION_CHECK, CoverageStatus.OK, None, 1))
            else:
                self._report(item)
        if not subs:
            raise _nothing_readable(failures)
        return subs

    def _listing_to_check(self, readable: list[Subscription] | None) -> dict[str, Subscription] | None:
        """With `check_by_listing`, the readable subscriptions by id: on a thousand subscriptions
        one paged list replaces a thousand GETs. None (check each by its GET) without it, or
        when the list cannot be read: the GETs then say why each one is unreadable."""
        if not self._by_listing:
            return None
        if readable is None:
            try:
                readable = self._readable_subscriptions()
            except (AuthError, UsageError):
                return None
        return {s.id.lower(): s for s in readable}

    def _scope_list(self, url: str, parse: Callable[[dict[str, Any]], T | None]) -> list[T]:
        """Every item of a list the scope is decided from; a list cut short (a nextLink that
        cannot be followed) or an item that cannot be read fails like an unreadable list."""
        found: list[T] = []
        unread = Unread()
        try:
            listing = Pages(self._factory.client, url, self._arm_endpoint)
            for page in listing:
                found.extend(parse_items(page["value"], parse, unread, page=listing.count)[0])
        except HttpFailure as exc:
            raise _Unlisted(exc.detail, exc.status_code) from None
        except ClientAuthenticationError:
            raise  # the credential: Scan.run makes it an AuthError
        except (BadPayload, AzureError, RefusedUrl) as exc:
            raise _Unlisted(failure(exc)[1]) from None
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
            found += listed
        return found

    def _check_subscription(self, subscription_id: str) -> Subscription | Coverage:
        try:
            body = get_json(self._factory.client, endpoints.subscription(subscription_id))
        except HttpFailure as exc:
            if exc.status_code == 401:
                raise AuthError(f"ARM rejected the token: {exc.detail}") from None
            return Coverage(subscription_id, SUBSCRIPTION_CHECK, exc.coverage_status, exc.detail)
        except ClientAuthenticationError:
            raise  # the credential, not the subscription: Scan.run makes it an AuthError
        except (BadPayload, AzureError, RefusedUrl) as exc:
            return Coverage(subscription_id, SUBSCRIPTION_CHECK, *failure(exc))
        parsed, _ = parse_items([body], parse_subscription)
        return parsed[0] if parsed else Subscription(id=subscription_id)


def _listed_or_gap(subscription_id: str, listed: dict[str, Subscription]) -> Subscription | Coverage:
    found = listed.get(subscription_id.lower())
    if found is not None:
        return found
    detail = "not among the subscriptions this credential can list"
    return Coverage(subscription_id, SUBSCRIPTION_CHECK, CoverageStatus.NOT_FOUND, detail)


def _nothing_readable(failures: list[Coverage]) -> AuthError:
    """Exit 3 whatever kept every requested subscription unreadable (DESIGN.md §8.2): one line
    naming them (the first few) and each distinct cause."""
    listed = [f.subscription_id for f in failures]
    names = ", ".join(listed[:5]) + (f" and {len(listed) - 5} more" if len(listed) > 5 else "")
    causes = "; ".join(sorted({f.detail or f.status for f in failures}))
    if all(f.status in (CoverageStatus.FORBIDDEN, CoverageStatus.NOT_FOUND) for f in failures):
        text = f"subscription {names} not found or not readable with this credential ({causes})"
    else:
        text = f"no requested subscription could be read: {names} ({causes})"
    return AuthError(scrub(one_line(text, 1000)))
