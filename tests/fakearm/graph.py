"""Resource Graph for the fake ARM: `POST /providers/Microsoft.ResourceGraph/resources`.

It understands only the queries asr-audit sends, `<table> | where type =~ '<type>'` over the
`resources`, `recoveryservicesresources`, `authorizationresources` (role assignments) and
`resourcecontainers` (subscriptions) tables; anything else is a 400, as a query ARG could not
parse. Rows are the scenario's bodies with ARG's extra columns (type in lower case,
subscriptionId, resourceGroup, tenantId), so the collectors meet the same shapes as from ARM.
Role assignments made at a management group or the root name no subscription: they come back
only with `options.authorizationScopeFilter` `AtScopeAboveAndBelow`, when the group is above
a subscription named (ARG's default, `AtScopeAndBelow`, leaves them out).
Paging follows `options.$top` with an opaque `$skipToken`; every answer carries ARG's quota
headers, and past the quota the answer is a 429 (`GraphQuota`).
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asr_audit import ids

QUOTA_REMAINING = "x-ms-user-quota-remaining"
QUOTA_RESETS_AFTER = "x-ms-user-quota-resets-after"
RECOVERY_TYPES = {  # vault child stem -> its type in recoveryservicesresources
    "replicationprotecteditems": (
        "microsoft.recoveryservices/vaults/replicationfabrics/replicationprotectioncontainers/"
        "replicationprotecteditems"
    ),
    "replicationnetworkmappings": (
        "microsoft.recoveryservices/vaults/replicationfabrics/replicationnetworks/replicationnetworkmappings"
    ),
    "replicationpolicies": "microsoft.recoveryservices/vaults/replicationpolicies",
}
RESOURCE_CHILD_TYPES = {  # child stem -> its type in `resources` (ARG keeps these children there)
    "virtualnetworklinks": "microsoft.network/privatednszones/virtualnetworklinks",
}
ROLE_ASSIGNMENT_TYPE = "microsoft.authorization/roleassignments"  # in authorizationresources
SUBSCRIPTION_TYPE = "microsoft.resources/subscriptions"  # in resourcecontainers
_TABLES = "resources|recoveryservicesresources|authorizationresources|resourcecontainers"
_QUERY = re.compile(rf"^\s*({_TABLES})\s*\|\s*where\s+type\s*=~\s*'([a-z0-9./]+)'\s*$", re.IGNORECASE)
MANAGEMENT_GROUP_PREFIX = "/providers/microsoft.management/managementgroups/"
_SCOPE_FILTERS = ("AtScopeAndBelow", "AtScopeAboveAndBelow")  # the others are never sent
_MAX_TOP = 1000


@dataclass
class GraphQuota:
    """ARG's per-user quota: `limit` queries per `window` seconds, counted from the window's
    first query (ARG's default is 15 per 5 s; the fake's default is generous so that tests
    not about the quota never wait)."""

    limit: int = 1000
    window: float = 5.0
    _start: float = 0.0
    _used: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> tuple[bool, dict[str, str]]:
        """Whether a query may run now, and the quota headers of its answer."""
        with self._lock:
            now = time.monotonic()
            if now - self._start >= self.window:
                self._start, self._used = now, 0
            allowed = self._used < self.limit
            if allowed:
                self._used += 1
            left = max(0.0, self._start + self.window - now)
            remaining = self.limit - self._used
        whole = math.ceil(left)
        headers = {
            QUOTA_REMAINING: str(remaining),
            QUOTA_RESETS_AFTER: f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}",
        }
        return allowed, headers


class BadQuery(ValueError):
    """A request body or query the fake (and, for our queries, ARG) would reject with a 400."""


@dataclass(frozen=True)
class GraphRequest:
    subscriptions: list[str]
    query: str
    table: str
    type: str
    top: int
    skip: int
    above: bool = False  # authorizationScopeFilter asks for assignments above the subscriptions too


def parse_request(raw: bytes) -> GraphRequest:
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise BadQuery("the request body is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        raise BadQuery("the request body has no query")
    subs = body.get("subscriptions")
    if not isinstance(subs, list) or not subs or not all(isinstance(s, str) for s in subs):
        raise BadQuery("the request names no subscriptions")
    if len(subs) > 1000:
        raise BadQuery("a query may name at most 1000 subscriptions")
    match = _QUERY.match(body["query"])
    if match is None:
        raise BadQuery(f"query not understood: {body['query']!r}")
    options = body.get("options") or {}
    top = options.get("$top", 100)
    if not isinstance(top, int) or not 1 <= top <= _MAX_TOP:
        raise BadQuery("$top must be 1..1000")
    scope_filter = options.get("authorizationScopeFilter", "AtScopeAndBelow")
    if scope_filter not in _SCOPE_FILTERS:
        raise BadQuery(f"authorizationScopeFilter {scope_filter!r} is not supported by the fake")
    return GraphRequest(
        [s.lower() for s in subs],
        body["query"],
        match.group(1).lower(),
        match.group(2).lower(),
        top,
        _skip(options.get("$skipToken")),
        above=scope_filter == "AtScopeAboveAndBelow",
    )


def _skip(token: Any) -> int:
    if token is None:
        return 0
    try:
        return int(base64.urlsafe_b64decode(str(token)).decode("ascii").removeprefix("offset:"))
    except ValueError:
        raise BadQuery("the $skipToken is not valid") from None


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode("ascii")).decode("ascii")


def row(body: dict[str, Any], arm_type: str, tenant: str) -> dict[str, Any]:
    """A scenario body as an ARG row: the GET body and ARG's own columns."""
    return {
        **body,
        "type": arm_type.lower(),
        "subscriptionId": ids.subscription_of(body["id"]),
        "resourceGroup": (ids.resource_group_of(body["id"]) or "").lower(),
        "tenantId": tenant,
    }


def subscription_row(sub: str, tenant: str, chain: list[tuple[str, str]]) -> dict[str, Any]:
    """A subscription's resourcecontainers row; `chain` is (name, display name) of each
    management group above it, nearest first, as `managementGroupAncestorsChain` lists them."""
    return {
        "id": f"/subscriptions/{sub}",
        "name": sub,
        "type": SUBSCRIPTION_TYPE,
        "subscriptionId": sub,
        "resourceGroup": "",
        "tenantId": tenant,
        "properties": {"managementGroupAncestorsChain": [{"name": n, "displayName": d} for n, d in chain]},
    }


def made_above(row: dict[str, Any], groups: set[str]) -> bool:
    """A role assignment made at the root or at one of `groups` (management group ids, lower case)."""
    scope = ids.key((row.get("properties") or {}).get("scope"))
    return scope == "/" or scope.removeprefix(MANAGEMENT_GROUP_PREFIX) in groups


def answer(
    request: GraphRequest,
    rows_of: Callable[[str, str], list[dict[str, Any]]],
    groups_above: Callable[[str], set[str]],
) -> dict[str, Any]:
    """One page of the query's result: rows of the type in the named subscriptions and, when
    asked for, the assignments made above them (`groups_above`: a subscription's management
    groups, lower case)."""
    wanted = set(request.subscriptions)
    above = set().union(*(groups_above(s) for s in wanted)) if request.above else None
    rows = [
        r
        for r in rows_of(request.table, request.type)
        if r.get("subscriptionId") in wanted
        or (above is not None and not r.get("subscriptionId") and made_above(r, above))
    ]
    page = rows[request.skip : request.skip + request.top]
    body: dict[str, Any] = {
        "totalRecords": len(rows),
        "count": len(page),
        "data": page,
        "facets": [],
        "resultTruncated": "false",
    }
    if request.skip + request.top < len(rows):
        body["$skipToken"] = _token(request.skip + request.top)
    return body
