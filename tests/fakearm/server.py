"""A loopback HTTPS server that answers like ARM for a scenario (see the package docstring).

It exists so the real collectors (SDK pipeline, paging, retries, TLS) run unchanged against
known data: responses keep ARM's shapes, paging goes through `nextLink` on the server's own
host with the caller's api-version, auth and faults answer with ARM error bodies, and every
request is logged so a test can prove the tool never sent a write.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import trustme

from asr_audit import ids

from . import graph
from .scenario import (
    CHILD_COLLECTIONS,
    RESOURCE_GROUP_ONLY,
    ROLE_ASSIGNMENTS,
    TOP_LEVEL_TYPES,
    Fault,
    ManagementGroup,
    RawBody,
    Scenario,
)

RESOURCE_GRAPH_PATH = "/providers/microsoft.resourcegraph/resources"
_KNOWN_TYPES = frozenset(t.lower() for t in TOP_LEVEL_TYPES.values())
_RESOURCE_GROUP_ONLY = frozenset(t.lower() for t in RESOURCE_GROUP_ONLY)
_FILTER_TYPE = re.compile(r"resourceType\s+eq\s+'([^']+)'", re.IGNORECASE)
_SKU_LOCATION = re.compile(r"location\s+eq\s+'([A-Za-z0-9]+)'", re.IGNORECASE)
_MANAGEMENT_GROUPS = ["providers", "microsoft.management", "managementgroups"]
_ROLE_ASSIGNMENTS = ["providers", "microsoft.authorization", "roleassignments"]

_CHALLENGE = (
    'Bearer authorization_uri="https://login.microsoftonline.com/common", '
    'error="invalid_token", error_description="The access token is invalid."'
)

# The ARM error code a fault answers with when the scenario gives no body.
_FAULT_CODES = {
    400: "BadRequest",
    403: "AuthorizationFailed",
    404: "ResourceNotFound",
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalServerError",
    503: "ServiceUnavailable",
}


@dataclass(slots=True)
class SlowAnswer:
    """A late, slow or cut answer for requests whose path matches `path` (case-insensitive regex):
    the answer they would get anyway, after `stall` seconds, its body sent one byte every
    `trickle` seconds, or only its first `cut` bytes under the whole body's Content-Length before
    the connection closes. Injected with `FakeArm.add_stall` / `add_trickle` / `add_cut`; it
    applies to whatever answer the request gets, an injected fault included."""

    path: re.Pattern[str]
    stall: float = 0.0
    trickle: float = 0.0
    times: int | None = None  # None = every time
    cut: int | None = None


class ServedRequest(NamedTuple):
    method: str
    path: str
    query: dict[str, str]  # decoded; `$skiptoken`, `api-version`, `$filter` as sent


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        return cls(status, _dumps(payload).encode("utf-8"), headers or {})

    @classmethod
    def error(cls, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
        return cls.json(status, {"error": {"code": code, "message": message}}, headers)


class _Store:
    """Read-only indexes over a scenario, built once so request threads share them lock-free."""

    def __init__(self, scenario: Scenario) -> None:
        self.subscriptions = {s.id.lower(): s for s in scenario.subscriptions}
        self.by_type: dict[str, list[dict[str, Any]]] = {}
        self.children: dict[str, list[dict[str, Any]]] = {}
        self.by_id: dict[str, dict[str, Any]] = {}
        self.resource_groups: dict[tuple[str, str], tuple[str, str]] = {}  # (sub, rg) -> (name, location)
        for stem, bodies in scenario.resources.items():
            if stem in TOP_LEVEL_TYPES:
                self.by_type[TOP_LEVEL_TYPES[stem].lower()] = bodies
                for body in bodies:
                    sub, rg = ids.subscription_of(body["id"]), ids.resource_group_of(body["id"])
                    if sub and rg:
                        self.resource_groups.setdefault((sub, rg.lower()), (rg, body.get("location", "")))
            else:
                self.children[stem.lower()] = bodies
            for body in bodies:
                self.by_id[ids.key(body["id"])] = body
        # The lists ARM serves per subscription, indexed once: filtering every body of a type on
        # each request made a 1,000-subscription tenant's scan quadratic in the fake.
        self.by_subscription: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (type or stem, sub)
        for kind, bodies in [*self.by_type.items(), *self.children.items()]:
            for body in bodies:
                self.by_subscription.setdefault((kind, ids.subscription_of(body["id"]) or ""), []).append(
                    body
                )
        self.service_tags = scenario.service_tags
        self.skus, self.usages = scenario.skus, scenario.usages
        self.ancestors: dict[str, list[ManagementGroup]] = {}  # subscription -> its groups, nearest first
        for top in scenario.management_groups:
            _place_ancestors(top, [], self.ancestors)
        self.graph_rows: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (table, type) -> rows
        if not scenario.lean:  # a lean scenario's bodies are text: no rows to answer queries with
            self._index_graph_rows(scenario)
        names = {s.id.lower(): s.display_name for s in scenario.subscriptions}
        self.descendants = {  # management group id (lower case) -> its descendants list
            group.id.lower(): _descendants(group, names)
            for top in scenario.management_groups
            for group in top.walk()
        }

    def _index_graph_rows(self, scenario: Scenario) -> None:
        tenants = {s.id.lower(): s.tenant_id for s in scenario.subscriptions}
        for rtype, body in self.top_level():
            tenant = tenants.get(ids.subscription_of(body["id"]) or "", "")
            self.graph_rows.setdefault(("resources", rtype.lower()), []).append(
                graph.row(body, rtype, tenant)
            )
        children = [("recoveryservicesresources", s, t) for s, t in graph.RECOVERY_TYPES.items()]
        children += [("resources", s, t) for s, t in graph.RESOURCE_CHILD_TYPES.items()]
        for table, stem, arg_type in children:
            for body in self.children.get(stem, []):
                tenant = tenants.get(ids.subscription_of(body["id"]) or "", "")
                self.graph_rows.setdefault((table, arg_type), []).append(graph.row(body, arg_type, tenant))
        for sub in scenario.subscriptions:
            chain = [(g.id, g.display_name) for g in self.ancestors.get(sub.id.lower(), [])]
            self.graph_rows.setdefault(("resourcecontainers", graph.SUBSCRIPTION_TYPE), []).append(
                graph.subscription_row(sub.id.lower(), sub.tenant_id, chain)
            )
        for body in self.children.get(ROLE_ASSIGNMENTS.lower(), []):
            tenant = tenants.get(ids.subscription_of(body["id"]) or "", "")
            self.graph_rows.setdefault(("authorizationresources", graph.ROLE_ASSIGNMENT_TYPE), []).append(
                graph.row(body, graph.ROLE_ASSIGNMENT_TYPE, tenant)
            )

    def groups_above(self, subscription_id: str) -> set[str]:
        """The ids (lower case) of the management groups a subscription sits under, at any depth."""
        return {g.id.lower() for g in self.ancestors.get(subscription_id.lower(), [])}

    def top_level(self, sub: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """(type, body) of every top-level resource, or of those in `sub`, in scenario order."""
        if sub is None:
            return [(t, b) for t in TOP_LEVEL_TYPES.values() for b in self.by_type.get(t.lower(), [])]
        return [
            (t, b) for t in TOP_LEVEL_TYPES.values() for b in self.by_subscription.get((t.lower(), sub), [])
        ]

    def find(self, path: str) -> Any:
        """A resource by id, or an inline child (a subnet inside its VNet body), or None."""
        hit = self.by_id.get(ids.key(path))
        if hit is not None:
            return hit
        parts = path.rstrip("/").split("/")
        if len(parts) < 4:
            return None
        for child in self.inline_children("/".join(parts[:-1])) or []:
            if isinstance(child, dict) and str(child.get("name", "")).lower() == parts[-1].lower():
                return child
        return None

    def inline_children(self, path: str) -> list[Any] | None:
        """`{resourceId}/{collection}`: the list ARM returns inline in the parent's properties."""
        parent_id, _, collection = path.rstrip("/").rpartition("/")
        parent = self.find(parent_id) if parent_id.count("/") >= 2 else None
        props = parent.get("properties") if isinstance(parent, dict) else None
        if not isinstance(props, dict):
            return None
        value = next((v for k, v in props.items() if k.lower() == collection.lower()), None)
        return value if isinstance(value, list) else None


class FakeArm:
    """Serve a scenario over HTTPS on 127.0.0.1; use as a context manager."""

    def __init__(
        self,
        scenario: str | Path | Scenario,
        *,
        page_size: int = 2,
        latency: float = 0.0,
        token: str = "test-token",
        graph_quota: graph.GraphQuota | None = None,
        gzip: bool = False,
    ) -> None:
        self.scenario = scenario if isinstance(scenario, Scenario) else Scenario.load(scenario)
        self.page_size = page_size
        self.latency = latency
        self.token = token
        # Compress answers for clients that accept gzip, as ARM does: the body is then decoded by
        # the transport before any JSON is read.
        self.gzip = gzip
        self.gzipped = 0  # answers sent compressed
        self._store = _Store(self.scenario)
        self._faults: list[list[Any]] = [[f, f.times] for f in self.scenario.faults]  # [fault, remaining]
        self._slow: list[list[Any]] = []  # [SlowAnswer, remaining]
        self._stopping = threading.Event()  # wakes stalled and trickling answers at stop()
        self._lock = threading.Lock()
        self._requests: list[ServedRequest] = []
        self._graph_queries: list[graph.GraphRequest] = []
        self.graph_quota = graph_quota or graph.GraphQuota()
        self._endless: list[tuple[re.Pattern[str], bool]] = []  # add_endless_paging: (path, fresh)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._tmpdir: str | None = None
        self.url = ""
        self.ca_bundle = ""

    def compressed(self, body: bytes, accepted: str | None) -> bytes:
        """The body as sent: gzip-compressed when the server compresses and the client accepts it."""
        if not (self.gzip and body and "gzip" in (accepted or "").lower()):
            return body
        with self._lock:
            self.gzipped += 1
        return gzip.compress(body, compresslevel=1)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> FakeArm:
        ca = trustme.CA(key_type=trustme.KeyType.ECDSA)
        cert = ca.issue_cert("127.0.0.1", "localhost", key_type=trustme.KeyType.ECDSA)
        self._tmpdir = tempfile.mkdtemp(prefix="fakearm-")
        self.ca_bundle = str(Path(self._tmpdir) / "ca.pem")
        self._stopping.clear()
        ca.cert_pem.write_to_path(self.ca_bundle)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)

        server = _Server(("127.0.0.1", 0), _Handler)
        server.arm = self
        # The TLS handshake runs in each handler thread, so one stalled client cannot block accept().
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        self._server = server
        self.url = f"https://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fakearm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # server_close() joins the handler threads: none may stay asleep
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> FakeArm:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- test hooks ----------------------------------------------------------------------

    @property
    def requests(self) -> list[ServedRequest]:
        """A snapshot of every request received, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def graph_queries(self) -> list[graph.GraphRequest]:
        """Every Resource Graph query understood, in arrival order (refused ones are not here)."""
        with self._lock:
            return list(self._graph_queries)

    def add_fault(
        self,
        path: str,
        status: int,
        *,
        times: int | None = None,
        headers: dict[str, str] | None = None,
        body: str | None = None,
        query: str | None = None,
    ) -> None:
        """Inject a fault at run time, with the same meaning as a scenario `faults` entry. For a
        Resource Graph POST, `query` is matched against the URL query and the KQL text."""
        pattern = None if query is None else re.compile(query, re.IGNORECASE)
        fault = Fault(re.compile(path, re.IGNORECASE), status, times, dict(headers or {}), body, pattern)
        with self._lock:
            self._faults.append([fault, times])

    def add_stall(self, path: str, seconds: float, *, times: int | None = None) -> None:
        """Requests whose path matches `path` get their answer only after `seconds` (nothing is
        sent before: the client waits for the status line). `stop()` hangs up on them at once."""
        self._add_slow(SlowAnswer(re.compile(path, re.IGNORECASE), stall=seconds, times=times))

    def add_trickle(self, path: str, interval: float, *, times: int | None = None) -> None:
        """Requests whose path matches `path` get their headers at once, then the body one byte
        every `interval` seconds, so a client's per-read socket timeout never fires."""
        self._add_slow(SlowAnswer(re.compile(path, re.IGNORECASE), trickle=interval, times=times))

    def add_cut(self, path: str, keep: int, *, times: int | None = None) -> None:
        """Requests whose path matches `path` get their headers, then only `keep` bytes of the
        body before the server hangs up: a connection dropped mid-answer."""
        self._add_slow(SlowAnswer(re.compile(path, re.IGNORECASE), cut=keep, times=times))

    def _add_slow(self, slow: SlowAnswer) -> None:
        with self._lock:
            self._slow.append([slow, slow.times])

    def add_endless_paging(self, path: str, *, fresh: bool = False) -> None:
        """Lists whose path matches `path` never end: every page carries a new, distinct nextLink
        (`$skiptoken` counting up). The pages serve the list's first page again, or, with
        `fresh`, copies of it whose ids and names end in `-p{page}`, new items every page."""
        with self._lock:
            self._endless.append((re.compile(path, re.IGNORECASE), fresh))

    def _endless_page(
        self, items: list[Any], raw_path: str, query: dict[str, str], start: int
    ) -> Response | None:
        """The page an endless list serves at `start`, or None when `raw_path` is not endless."""
        with self._lock:
            fresh = next((f for pattern, f in self._endless if pattern.search(unquote(raw_path))), None)
        if fresh is None:
            return None
        page = items[: self.page_size]
        if fresh:
            suffix = f"-p{start // self.page_size}"
            page = [
                {**item, "id": item["id"] + suffix, "name": f"{item.get('name', '')}{suffix}"}
                for item in page
            ]
        next_link = self._next_link(raw_path, query, start + self.page_size)
        return Response.json(200, {"value": page, "nextLink": next_link})

    # -- request handling (called from handler threads) -----------------------------------

    def handle(self, method: str, target: str, authorization: str | None, body: bytes = b"") -> Response:
        split = urlsplit(target)
        path = unquote(split.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        with self._lock:
            self._requests.append(ServedRequest(method, path, query))
        if self.latency:
            time.sleep(self.latency)  # outside the lock: concurrent requests overlap as in ARM
        if authorization != f"Bearer {self.token}":
            return Response.error(
                401,
                "InvalidAuthenticationToken",
                "The access token is invalid.",
                {"WWW-Authenticate": _CHALLENGE},
            )
        graph_query = method == "POST" and path.rstrip("/").lower() == RESOURCE_GRAPH_PATH
        if method != "GET" and not graph_query:
            return Response.error(405, "MethodNotAllowed", f"The fake ARM server is read-only ({method}).")
        kql = _kql(body) if graph_query else ""
        fault = self._take_fault(path, unquote(split.query) + (f"&query={kql}" if kql else ""))
        if fault is None and graph_query:
            fault = self._graph_fault(body)
        if fault is not None:
            return _fault_response(fault)
        if not _lower_keys(query).get("api-version"):
            return Response.error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required.",
            )
        if graph_query:
            return self._graph(body)
        return self._route(split.path, path, query)

    def _graph(self, raw: bytes) -> Response:
        if self.scenario.lean:
            return Response.error(
                400, "BadRequest", "This fake keeps a lean scenario's bodies as text: no queries."
            )
        try:
            request = graph.parse_request(raw)
        except graph.BadQuery as exc:
            return Response.error(400, "BadRequest", str(exc))
        allowed, headers = self.graph_quota.take()
        if not allowed:
            retry = {"Retry-After": str(max(1, int(self.graph_quota.window)))}
            return Response.error(429, "RateLimiting", "Resource Graph quota exceeded.", {**headers, **retry})
        with self._lock:
            self._graph_queries.append(request)
        store = self._store
        rows = graph.answer(
            request, lambda table, rtype: store.graph_rows.get((table, rtype), []), store.groups_above
        )
        return Response.json(200, rows, headers)

    def _graph_fault(self, raw: bytes) -> Fault | None:
        """A query over `resources` fails as the ARM lists it stands for would: with the first
        fault that matches the list path of one of its subscriptions (so a scenario's faults
        apply to both backends)."""
        try:
            request = graph.parse_request(raw)
        except graph.BadQuery:
            return None
        if request.table != "resources":
            return None
        for sub in request.subscriptions:
            fault = self._take_fault(f"/subscriptions/{sub}/providers/{request.type}", "")
            if fault is not None:
                return fault
        return None

    def _take_fault(self, path: str, query: str) -> Fault | None:
        with self._lock:
            return _take_first(self._faults, lambda fault: fault.matches(path, query))

    def take_slow(self, target: str) -> SlowAnswer | None:
        """The stall or trickle for a request target, if one applies (counted as used)."""
        with self._lock:
            path = unquote(urlsplit(target).path)
            return _take_first(self._slow, lambda slow: bool(slow.path.search(path)))

    def pause(self, seconds: float) -> bool:
        """Sleep `seconds` unless the server stops first; False when it did."""
        return not self._stopping.wait(seconds)

    def _route(self, raw_path: str, path: str, query: dict[str, str]) -> Response:
        store = self._store
        segs = [s for s in path.split("/") if s]
        low = [s.lower() for s in segs]
        if low == ["subscriptions"]:
            return self._page([s.body() for s in store.subscriptions.values()], raw_path, query)
        if len(low) == 5 and low[:3] == _MANAGEMENT_GROUPS and low[4] == "descendants":
            items = store.descendants.get(low[3])
            if items is None:
                return Response.error(404, "NotFound", f"Management group '{segs[3]}' was not found.")
            return self._page(items, raw_path, query)
        if low[:3] == _MANAGEMENT_GROUPS and ids.key(path) in store.by_id:  # a role assignment made there
            return Response.json(200, store.by_id[ids.key(path)])
        if len(low) < 2 or low[0] != "subscriptions":
            return _not_found(path)
        sub = store.subscriptions.get(low[1])
        if sub is None:
            return Response.error(
                404, "SubscriptionNotFound", f"The subscription '{segs[1]}' could not be found."
            )
        rest, sub_id = low[2:], low[1]
        if not rest:
            return Response.json(200, sub.body())
        if rest == ["resources"]:
            return self._generic_resources(sub_id, raw_path, query)
        if rest == ["resourcegroups"]:
            groups = [_rg_body(sub.id, *v) for (s, _), v in store.resource_groups.items() if s == sub_id]
            return self._page(groups, raw_path, query)
        if (
            len(rest) == 5
            and rest[:3] == ["providers", "microsoft.network", "locations"]
            and rest[4] == "servicetags"
        ):
            return self._service_tags()
        if rest == ["providers", "microsoft.compute", "skus"]:
            return self._skus(sub_id, raw_path, query)
        if (
            len(rest) == 5
            and rest[:3] == ["providers", "microsoft.compute", "locations"]
            and rest[4] == "usages"
        ):
            return self._page(store.usages.get(sub_id, {}).get(rest[3], []), raw_path, query)
        if rest == _ROLE_ASSIGNMENTS:
            return self._subscription_role_assignments(sub_id, raw_path, query)
        if len(rest) == 3 and rest[0] == "providers":
            return self._list(f"{rest[1]}/{rest[2]}", sub_id, None, raw_path, query)
        if len(rest) == 2 and rest[0] == "resourcegroups":
            group = store.resource_groups.get((sub_id, rest[1]))
            return Response.json(200, _rg_body(sub.id, *group)) if group else _rg_not_found(segs[3])
        if len(rest) == 5 and rest[0] == "resourcegroups" and rest[2] == "providers":
            if (sub_id, rest[1]) not in store.resource_groups:
                return _rg_not_found(segs[3])
            return self._list(f"{rest[3]}/{rest[4]}", sub_id, rest[1], raw_path, query)
        if low[-3:] == _ROLE_ASSIGNMENTS:  # at a resource group or resource: the tool lists per subscription
            return Response.error(
                400, "BadRequest", "The fake ARM server lists role assignments per subscription only."
            )
        if low[-1] in (c.lower() for c in CHILD_COLLECTIONS):
            return self._children(path, low[-1], raw_path, query)
        found = store.find(path)
        if found is not None:
            return Response.json(200, found)
        inline = store.inline_children(path)
        if inline is not None:
            return self._page(inline, raw_path, query)
        return _not_found(path)

    def _service_tags(self) -> Response:
        if self._store.service_tags is None:
            return _not_found("serviceTags")
        return Response.json(200, self._store.service_tags)

    def _skus(self, sub: str, raw_path: str, query: dict[str, str]) -> Response:
        """`$filter=location eq '{region}'`, the one filter ARM takes: the entries offered there."""
        wanted = _SKU_LOCATION.fullmatch(_lower_keys(query).get("$filter", "").strip())
        if wanted is None:
            return Response.error(400, "BadRequest", "The fake ARM server lists SKUs by location only.")
        items = [
            b
            for b in self._store.skus.get(sub, [])
            if wanted.group(1).lower() in (str(loc).lower() for loc in b.get("locations", []))
        ]
        return self._page(items, raw_path, query)

    def _list(self, rtype: str, sub: str, rg: str | None, raw_path: str, query: dict[str, str]) -> Response:
        if rtype not in _KNOWN_TYPES or (rg is None and rtype in _RESOURCE_GROUP_ONLY):
            return Response.error(
                404, "InvalidResourceType", f"The resource type '{rtype}' could not be found at this scope."
            )
        items = [
            b
            for b in self._store.by_subscription.get((rtype, sub), [])
            if rg is None or (ids.resource_group_of(b["id"]) or "").lower() == rg
        ]
        return self._page(items, raw_path, query)

    def _generic_resources(self, sub: str, raw_path: str, query: dict[str, str]) -> Response:
        wanted = {t.lower() for t in _FILTER_TYPE.findall(_lower_keys(query).get("$filter", ""))}
        items = [
            {
                "id": b["id"],
                "name": b.get("name", ids.name_of(b["id"])),
                "type": rtype,
                "location": b.get("location"),
            }
            for rtype, b in self._store.top_level(sub)
            if not wanted or rtype.lower() in wanted
        ]
        return self._page(items, raw_path, query)

    def _subscription_role_assignments(self, sub: str, raw_path: str, query: dict[str, str]) -> Response:
        """`GET /subscriptions/{id}/providers/Microsoft.Authorization/roleAssignments` without a
        filter, as the tool sends it: the assignments made at the subscription, below it (its
        resource groups and resources) and above it (the management groups it sits under, the
        root). Any `$filter` is refused: the tool sends none there."""
        if _lower_keys(query).get("$filter") is not None:
            return Response.error(
                400,
                "BadRequest",
                "The fake ARM server lists a subscription's role assignments unfiltered only.",
            )
        at = ids.key(f"/subscriptions/{sub}")
        groups = self._store.groups_above(sub)
        items = [
            b for b in self._store.children.get(ROLE_ASSIGNMENTS.lower(), []) if _listed_at(b, at, groups)
        ]
        return self._page(items, raw_path, query)

    def _children(self, path: str, child: str, raw_path: str, query: dict[str, str]) -> Response:
        """A vault's ASR objects or a firewall policy's rule collection groups: the scenario's
        children whose id starts with the parent's id."""
        parent = ids.key(path.rstrip("/").rsplit("/", 1)[0])
        if parent not in self._store.by_id:
            return _not_found(path)
        prefix = parent + "/"
        siblings = self._store.by_subscription.get((child, ids.subscription_of(parent) or ""), [])
        items = [b for b in siblings if ids.key(b["id"]).startswith(prefix)]
        return self._page(items, raw_path, query)

    def _page(self, items: list[Any], raw_path: str, query: dict[str, str]) -> Response:
        params = _lower_keys(query)
        try:
            start = int(params.get("$skiptoken", "0"))
        except ValueError:
            return Response.error(400, "InvalidSkipToken", "The $skiptoken is not valid.")
        endless = self._endless_page(items, raw_path, query, start)
        if endless is not None:
            return endless
        body: dict[str, Any] = {"value": items[start : start + self.page_size]}
        if start + self.page_size < len(items):
            body["nextLink"] = self._next_link(raw_path, query, start + self.page_size)
        return Response.json(200, body)

    def _next_link(self, raw_path: str, query: dict[str, str], skiptoken: int) -> str:
        kept = [(k, v) for k, v in query.items() if k.lower() != "$skiptoken"]
        kept.sort(key=lambda kv: kv[0].lower() != "api-version")  # api-version first, as ARM does
        encoded = "&".join(f"{k}={quote(v, safe='')}" for k, v in kept)
        return f"{self.url}{raw_path}?{encoded}&$skiptoken={skiptoken}"


def _dumps(payload: Any) -> str:
    """An answer's JSON text. A lean scenario's bodies (`RawBody`), alone or as a page's items,
    go in as the text they were read as; anything else is encoded as it always was."""
    if isinstance(payload, RawBody):
        return payload.text
    items = payload.get("value") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not any(isinstance(item, RawBody) for item in items):
        return json.dumps(payload)
    value = ", ".join(item.text if isinstance(item, RawBody) else json.dumps(item) for item in items)
    rest = json.dumps({k: v for k, v in payload.items() if k != "value"})  # `{}` or `{"nextLink": ...}`
    return '{"value": [' + value + "]" + (", " + rest[1:] if rest != "{}" else "}")


def _listed_at(assignment: dict[str, Any], subscription: str, groups: set[str]) -> bool:
    """Whether a subscription's unfiltered list holds the assignment: made at the subscription
    (`subscription`, an id key), below it, or at the root or one of `groups` above it. One with
    no scope (a test's broken item) is listed where its id says."""
    properties = assignment.get("properties")
    scope = properties.get("scope") if isinstance(properties, dict) else None
    if not isinstance(scope, str) or not scope:
        return ids.key(assignment.get("id")).startswith(subscription + "/")
    made = ids.key(scope)
    return made == subscription or made.startswith(subscription + "/") or graph.made_above(assignment, groups)


def _take_first(entries: list[list[Any]], applies: Callable[[Any], bool]) -> Any:
    """The first [injected answer, remaining] entry that `applies` to the request and still has
    uses left (None: unlimited), counting the use; None when no entry applies."""
    for entry in entries:
        injected, remaining = entry
        if (remaining is None or remaining > 0) and applies(injected):
            if remaining is not None:
                entry[1] = remaining - 1
            return injected
    return None


def _kql(body: bytes) -> str:
    """The query text of a Resource Graph request body, for fault matching ("" if none)."""
    try:
        parsed = json.loads(body or b"null")
    except ValueError:
        return ""
    query = parsed.get("query") if isinstance(parsed, dict) else None
    return query if isinstance(query, str) else ""


def _lower_keys(query: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in query.items()}


def _not_found(path: str) -> Response:
    return Response.error(404, "ResourceNotFound", f"The resource '{path}' was not found.")


def _rg_not_found(name: str) -> Response:
    return Response.error(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")


def _place_ancestors(
    group: ManagementGroup, above: list[ManagementGroup], into: dict[str, list[ManagementGroup]]
) -> None:
    """Each subscription under `group` (any depth) -> its groups, nearest first."""
    chain = [group, *above]
    for sub in group.subscriptions:
        into[sub.lower()] = chain
    for child in group.children:
        _place_ancestors(child, chain, into)


def _descendants(group: ManagementGroup, subscription_names: dict[str, str]) -> list[dict[str, Any]]:
    """What `GET .../managementGroups/{id}/descendants` lists: every group and subscription
    below `group` at any depth, each child group followed by what it holds."""
    parent = {"id": f"/providers/Microsoft.Management/managementGroups/{group.id}"}
    found: list[dict[str, Any]] = []
    for child in group.children:
        found.append(
            {
                "name": child.id,
                "type": "Microsoft.Management/managementGroups",
                "id": f"/providers/Microsoft.Management/managementGroups/{child.id}",
                "properties": {"displayName": child.display_name, "parent": parent},
            }
        )
        found.extend(_descendants(child, subscription_names))
    for sid in group.subscriptions:
        found.append(
            {
                "name": sid,
                "type": "Microsoft.Management/managementGroups/subscriptions",
                "id": f"/subscriptions/{sid}",
                "properties": {"displayName": subscription_names.get(sid.lower(), sid), "parent": parent},
            }
        )
    return found


def _rg_body(sub: str, name: str, location: str) -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{sub}/resourceGroups/{name}",
        "name": name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": location,
        "properties": {"provisioningState": "Succeeded"},
    }


def _fault_response(fault: Fault) -> Response:
    headers = {"Content-Type": "application/json; charset=utf-8", **fault.headers}
    if fault.body is not None:
        return Response(fault.status, fault.body.encode("utf-8"), headers)
    if fault.status == 200:
        return Response(200, b"{}", headers)
    code = _FAULT_CODES.get(fault.status, "Error")
    return Response.error(fault.status, code, f"Injected fault {fault.status} ({code}).", headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog is 5: a scan opens 16 connections at once, the kernel drops the
    # SYNs past the backlog, and each dropped client waits a 1 s SYN retransmit.
    request_queue_size = 128
    arm: FakeArm

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up or reject the certificate are expected in tests; stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so concurrent clients reuse connections
    disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms delayed-ACK stall
    server: _Server
    timeout = 30

    def setup(self) -> None:
        super().setup()
        self.request.do_handshake()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        arm = self.server.arm
        response = arm.handle(self.command, self.path, self.headers.get("Authorization"), body)
        slow = arm.take_slow(self.path)
        if slow is not None and not arm.pause(slow.stall):
            self.close_connection = True  # the server is stopping: hang up without an answer
            return
        self.send_response(response.status)
        headers = {"Content-Type": "application/json; charset=utf-8", **response.headers}
        payload = arm.compressed(response.body, self.headers.get("Accept-Encoding"))
        if payload is not response.body:
            headers["Content-Encoding"] = "gzip"
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if slow is not None and slow.cut is not None:
            self.wfile.write(payload[: slow.cut])
            self.close_connection = True
            return
        if slow is None or not slow.trickle:
            self.wfile.write(payload)
            return
        for i in range(len(payload)):
            if not arm.pause(slow.trickle):
                self.close_connection = True
                return
            self.wfile.write(payload[i : i + 1])

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The `Date` header `send_response` adds: the scenario's clock, not this machine's."""
        return format_datetime(self.server.arm.scenario.clock, usegmt=True)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are recorded in `FakeArm.requests`; no access log on stderr."""
