"""The HTTP side of collection: SDK clients with a read-only guard, a bounded retry and
client-side pacing under ARM's read limits.

Requests go through each management client's own pipeline (`send_request`) so auth,
retry, TLS and the ARM policies stay the SDK's, but the bodies are parsed as plain JSON:
SDK model deserialisation costs 8-10x more CPU and the inventory is our own model anyway
(DESIGN.md §6, "Measured on these machines"). Bodies are decoded once, by `get_json`: the
requests are streamed so azure-core's ContentDecodePolicy does not decode them first into
an object nobody uses (~25 % of the client's CPU in bench/README.md's profile).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import AccessToken, TokenCredential
from azure.core.exceptions import ServiceResponseTimeoutError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy, RetryPolicy, SansIOHTTPPolicy
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest, HttpResponse

from asr_audit import ids
from asr_audit.access.clouds import CloudProfile
from asr_audit.access.credential import check_token
from asr_audit.access.throttle import ReadBudget, ReadBudgetPolicy
from asr_audit.access.timeouts import (
    DeadlinePolicy,
    RequestTimeoutPolicy,
    ScanClock,
    Watchdog,
    is_timeout,
    socket_of,
)
from asr_audit.collect.urls import RefusedUrl, next_link, request_url
from asr_audit.redact import scrub

# Read-only POST endpoints (path, case-insensitive). Resource Graph queries are reads.
READ_ONLY_POSTS = ("/providers/microsoft.resourcegraph/resources",)

# A server that loops its nextLink must not hold the scan forever; 1,000 pages of ARM's usual
# 1,000 items is a million resources in one list, far past any estate this tool audits.
MAX_PAGES = 1_000


# --- read-only guard -----------------------------------------------------------------------


class ReadOnlyViolation(Exception):
    """A request that could change Azure state was refused before it left the process.

    Deliberately not an `AzureError`: the retry policy retries those, and a refusal must
    not be retried.
    """

    def __init__(self, method: str, url: str) -> None:
        super().__init__(f"asr-audit is read-only: refused {method} {urlsplit(url).path}")
        self.method = method
        self.url = url


class ReadOnlyGuardPolicy(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Allows GET, and POST only to the read-only allow-list; refuses everything else.

    Placed in `per_retry_policies`, i.e. after `ARMAutoResourceProviderRegistrationPolicy`,
    so its `POST .../providers/X/register` on a 409 is refused too.
    """

    def on_request(self, request: PipelineRequest) -> None:  # type: ignore[type-arg]
        http = request.http_request
        method = http.method.upper()
        if method == "GET":
            return
        if method == "POST" and urlsplit(http.url).path.lower().rstrip("/").endswith(READ_ONLY_POSTS):
            return
        raise ReadOnlyViolation(method, http.url)


def unregistered_provider(violation: ReadOnlyViolation) -> str | None:
    """The namespace the SDK tried to register, when that is what the guard refused."""
    parts = urlsplit(violation.url).path.rstrip("/").split("/")
    if violation.method == "POST" and len(parts) >= 3 and parts[-1].lower() == "register":
        return parts[-2]
    return None


# --- retry ------------------------------------------------------------------------------------


class CappedRetryPolicy(RetryPolicy):
    """RetryPolicy with a ceiling on `Retry-After`, full-jitter exponential backoff, one retry
    budget for every cause, and garbled bodies counted as failures.

    The stock policy sleeps for whatever `Retry-After` says (a server can stall the scan)
    and retries any 4xx that carries the header. Here only 408/429/5xx, connection and read
    errors, and a 2xx body that is not the JSON `get_json` expects (a proxy's HTML page, a
    body cut short) are retried. `retry_total` keeps azure-core's meaning, retries after the
    first attempt, so a request is sent at most `retry_total + 1` times. azure-core also caps
    each cause on its own (`retry_status`, `retry_connect`, `retry_read`, 3 by default), which
    made `retry_total=5` give up after 4 attempts; those caps are set to `retry_total` so the
    one budget decides.
    """

    RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

    def __init__(self, *, retry_after_cap: float = 30.0, **kwargs: Any) -> None:
        kwargs.setdefault("retry_total", 5)
        for per_cause in ("retry_status", "retry_connect", "retry_read"):
            kwargs.setdefault(per_cause, kwargs["retry_total"])
        kwargs.setdefault("retry_backoff_factor", 0.5)
        kwargs.setdefault("retry_backoff_max", 30)
        super().__init__(**kwargs)
        self.retry_after_cap = retry_after_cap
        # POST passes the guard only for Resource Graph queries, which are reads.
        self._method_whitelist = frozenset({"GET", "POST"})

    def configure_retries(self, options: dict[str, Any]) -> dict[str, Any]:
        """Also takes `get_json`'s expected payload out of the options (the transport must
        not see it), for `is_retry` to check 2xx bodies against."""
        settings = super().configure_retries(options)
        settings[_PAYLOAD_OPTION] = options.pop(_PAYLOAD_OPTION, None)
        return settings

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse) -> bool:  # type: ignore[type-arg]
        if not settings["total"]:
            return False
        http = response.http_response
        if http.status_code in self.RETRY_STATUSES:
            return True
        expected = settings.get(_PAYLOAD_OPTION)
        return (
            expected is not None
            and 200 <= http.status_code < 300
            and isinstance(_decoded(http, expected), BadPayload)
        )

    def get_retry_after(self, response: PipelineResponse) -> float | None:  # type: ignore[type-arg]
        try:
            value = super().get_retry_after(response)
        except (ValueError, TypeError, OverflowError):  # an unparsable header is no instruction
            return None
        return None if value is None else min(value, self.retry_after_cap)

    def get_backoff_time(self, settings: dict[str, Any]) -> float:
        attempts = len(settings["history"])
        ceiling = min(settings["max_backoff"], settings["backoff"] * (2 ** max(attempts - 1, 0)))
        return random.uniform(0, ceiling)


_TIMEOUTS_LEFT = "asr_audit_timeouts_left"  # a key of the retry settings of one call


class TimeoutBudgetRetryPolicy(CappedRetryPolicy):
    """CappedRetryPolicy with its own, smaller budget for timeouts (DESIGN.md §8.2).

    A timed-out attempt costs a whole read timeout (30 s by default), where a 429 or a 5xx
    answers at once: the retries other failures get would hold one stalled list for three
    minutes. `timeout_retries` of them (2: three attempts, ~95 s) end it as a `timeout` gap
    instead; other failures keep the shared budget.
    """

    def __init__(self, *, timeout_retries: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timeout_retries = timeout_retries

    def configure_retries(self, options: dict[str, Any]) -> dict[str, Any]:
        settings = super().configure_retries(options)
        settings[_TIMEOUTS_LEFT] = self.timeout_retries
        return settings

    def increment(  # type: ignore[override]
        self,
        settings: dict[str, Any],
        response: PipelineRequest | PipelineResponse | None = None,  # type: ignore[type-arg]
        error: Exception | None = None,
    ) -> bool:
        if error is not None and is_timeout(error):
            settings[_TIMEOUTS_LEFT] -= 1
            if settings[_TIMEOUTS_LEFT] < 0:
                return False
        return bool(super().increment(settings, response, error))


# --- streamed bodies ------------------------------------------------------------------------


class ReadBodyPolicy(HTTPPolicy):  # type: ignore[type-arg]
    """Reads every response body within the retry loop, though the request is streamed.

    Streaming only keeps ContentDecodePolicy from decoding the body; the body is still
    wanted whole, and reading it here keeps three things as they were without streaming:
    a body cut short is an error the retry policy retries; the 409 body that
    ARMAutoResourceProviderRegistrationPolicy reads to find the namespace to register
    (which the guard then refuses) is there to read; and a retried 429/5xx answer releases
    its connection instead of holding it until garbage collection.

    The body must arrive whole within the read timeout (capped at the time left before the
    deadline) from when the headers did: the transport's read timeout restarts with every
    byte, so a body trickled byte by byte would otherwise never time out. The watchdog cuts
    the connection when that time is up, and the read fails with ServiceResponseTimeoutError,
    which the retry policy retries within `RetrySettings.timeout_retries`.
    """

    def __init__(self, clock: ScanClock, watchdog: Watchdog) -> None:
        super().__init__()
        self._clock = clock
        self._watchdog = watchdog

    def send(self, request: PipelineRequest) -> PipelineResponse:  # type: ignore[type-arg]
        response = self.next.send(request)
        body = response.http_response
        with self._watchdog.guard(self._clock.cap(self._clock.read), socket_of(body)) as alarm:
            try:
                body.read()
            except Exception as exc:  # whatever the cut connection raised, it was the time limit
                if alarm.fired:
                    raise ServiceResponseTimeoutError(
                        f"response body not received within {alarm.seconds:g} s"
                    ) from exc
                raise
        return response


# --- clients --------------------------------------------------------------------------------

# family -> (module, class). All of them serve any ARM URL through `send_request`; one per
# family keeps the SDK's user agent honest about which library made the call.
_CLIENTS: dict[str, tuple[str, str]] = {
    "network": ("azure.mgmt.network", "NetworkManagementClient"),
    "storage": ("azure.mgmt.storage", "StorageManagementClient"),
    "recoveryservices": ("azure.mgmt.recoveryservices", "RecoveryServicesClient"),
    "siterecovery": ("azure.mgmt.recoveryservicessiterecovery", "SiteRecoveryManagementClient"),
    "compute": ("azure.mgmt.compute", "ComputeManagementClient"),
    "resources": ("azure.mgmt.resource.resources", "ResourceManagementClient"),
}

# The clients want a subscription id, but every URL we send names its own subscription.
_UNUSED_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


def ca_bundle_from_env() -> str | None:
    """TLS trust for a custom ARM endpoint (DESIGN.md §3): REQUESTS_CA_BUNDLE, then SSL_CERT_FILE."""
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(name)
        if value:
            return value
    return None


class SharedToken:
    """One token for every client of a scan.

    Each SDK client's auth policy asks its credential separately; behind `az login` every
    ask is an `az account get-access-token` subprocess taking a second or more. A token
    still valid for the margin is reused; a claims challenge always asks afresh. Every token
    passes through here before its first request, so this is where one that cannot go into
    a header as it is gets refused, whichever credential produced it (auth.check_token).
    """

    def __init__(self, credential: TokenCredential, refresh_margin: float = 300.0) -> None:
        self._credential = credential
        self._margin = refresh_margin
        self._tokens: dict[tuple[Any, ...], AccessToken] = {}
        self._lock = threading.Lock()

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        if kwargs.get("claims"):
            return self._checked(scopes, kwargs)
        cache_key = (scopes, tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
        with self._lock:  # held while fetching: concurrent first asks wait for one answer
            token = self._tokens.get(cache_key)
            if token is None or token.expires_on - time.time() < self._margin:
                token = self._tokens[cache_key] = self._checked(scopes, kwargs)
            return token

    def _checked(self, scopes: tuple[str, ...], kwargs: dict[str, Any]) -> AccessToken:
        token = self._credential.get_token(*scopes, **kwargs)
        check_token(token.token, f"the credential ({type(self._credential).__name__})")
        return token


@dataclass
class RetrySettings:
    """Retry knobs of a scan.

    `retry_total` is the number of retries after the first attempt (azure-core's meaning):
    with 5, a request that keeps failing (429/5xx, connection or read error, garbled body, in
    any mix) is sent 6 times, then its failure is the collector's coverage.
    """

    retry_after_cap: float = 30.0
    retry_total: int = 5
    backoff_factor: float = 0.5
    backoff_max: float = 30.0
    # Retries of timeouts (connect or read timeout, a body not received in time), within
    # `retry_total`: with the 30 s read timeout, 2 keep a stalled list under ~95 s.
    timeout_retries: int = 2


class ClientFactory:
    """Builds every management client of a scan up front, in the calling thread.

    Importing the management packages costs ~0.7 s, so it happens only when a scan starts
    (DESIGN.md §6); doing it here, before the worker pool exists, keeps the imports out of
    the workers, where they would serialise on the import lock and delay the first
    requests. Each client gets fresh policy instances (a pipeline links its policies
    together, so one policy object cannot serve two pipelines) but all of them share one
    token and one `ReadBudget`, since ARM's limits count requests, not clients, and the
    scan's clock (timeouts and deadline, see timeouts.py).
    """

    def __init__(
        self,
        credential: TokenCredential,
        cloud: CloudProfile,
        *,
        retry: RetrySettings | None = None,
        transport: HttpTransport | None = None,  # type: ignore[type-arg]
        pool_size: int = 10,
        budget: ReadBudget | None = None,
        clock: ScanClock | None = None,
    ) -> None:
        self._credential = SharedToken(credential)
        self._cloud = cloud
        self._retry = retry or RetrySettings()
        self._transport = transport  # tests: one fake transport shared by every client
        self._pool_size = pool_size
        self._budget = budget or ReadBudget()
        self._clock = clock or ScanClock()
        self._watchdog = Watchdog()
        self._clients: dict[str, Any] = {family: self._build(family) for family in _CLIENTS}

    def get(self, family: str) -> Any:
        return self._clients[family]

    def _build(self, family: str) -> Any:
        import importlib

        module_name, class_name = _CLIENTS[family]
        cls = getattr(importlib.import_module(module_name), class_name)
        retry = self._retry
        return cls(
            self._credential,
            _UNUSED_SUBSCRIPTION,
            base_url=self._cloud.arm_endpoint,
            credential_scopes=[self._cloud.credential_scope],
            per_call_policies=[DeadlinePolicy(self._clock)],
            per_retry_policies=[
                ReadOnlyGuardPolicy(),
                ReadBudgetPolicy(self._budget),  # may wait: the timeouts are capped after it
                RequestTimeoutPolicy(self._clock),
                ReadBodyPolicy(self._clock, self._watchdog),
            ],
            retry_policy=TimeoutBudgetRetryPolicy(
                retry_after_cap=retry.retry_after_cap,
                retry_total=retry.retry_total,
                retry_backoff_factor=retry.backoff_factor,
                retry_backoff_max=retry.backoff_max,
                timeout_retries=retry.timeout_retries,
            ),
            transport=self._transport or self._requests_transport(),
        )

    def _requests_transport(self) -> HttpTransport:  # type: ignore[type-arg]
        """A requests transport whose pool fits the worker count (requests defaults to 10)."""
        import requests
        from azure.core.pipeline.transport import RequestsTransport

        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=max(10, self._pool_size))
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        verify: bool | str = ca_bundle_from_env() or True
        return RequestsTransport(session=session, session_owner=True, connection_verify=verify)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._watchdog.close()


# --- requests and paging -----------------------------------------------------------------------


class HttpFailure(Exception):
    """A non-2xx ARM answer (after retries), with the coverage status it maps to.

    The detail quotes the server's error message, which may echo what it was sent: it is
    scrubbed here, once, so no coverage record or report can carry a token from it.
    """

    def __init__(self, status_code: int, detail: str) -> None:
        detail = scrub(detail)
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail

    @property
    def coverage_status(self) -> str:
        if self.status_code in (401, 403):
            return "forbidden"
        if self.status_code == 404:
            return "not_found"
        if self.status_code == 429:
            return "throttled"
        return "error"


class BadPayload(Exception):
    """A 2xx answer whose body is not the JSON object ARM promises (after retries)."""


def one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _failure(response: HttpResponse) -> HttpFailure:
    """ARM's `{"error": {"code", "message"}}` turned into one line."""
    detail = f"HTTP {response.status_code}"
    try:
        body = json.loads(response.text())
    except (ValueError, UnicodeDecodeError):
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    parts = [str(v) for v in (error.get("code"), error.get("message")) if v]
    if parts:
        detail += " " + ": ".join(parts)
    elif response.reason:
        detail += f" {response.reason}"
    return HttpFailure(response.status_code, one_line(detail))


# The request option through which `get_json` tells CappedRetryPolicy what a 2xx body must be:
# "" for any JSON object, else the name of the array a list page carries (`value`).
_PAYLOAD_OPTION = "asr_audit_payload"
# Where a response keeps its decoded body, so the retry check and `get_json` decode it once.
_DECODED_ATTR = "_asr_audit_decoded"


def _decode(content: bytes, array: str) -> dict[str, Any] | BadPayload:
    """The body as a JSON object (holding an `array` list when one is named), else why not."""
    try:
        body = json.loads(content)  # bytes: json detects UTF-8/16/32 and a BOM itself
    except ValueError as exc:  # UnicodeDecodeError included
        return BadPayload(f"response is not JSON ({one_line(str(exc), 120)})")
    if not isinstance(body, dict):
        return BadPayload(f"response is a JSON {type(body).__name__}, not an object")
    if array and not isinstance(body.get(array), list):
        return BadPayload(f"response has no '{array}' array")
    return body


def _decoded(response: HttpResponse, array: str) -> dict[str, Any] | BadPayload:
    cached = getattr(response, _DECODED_ATTR, None)
    if cached is None or cached[0] != array:
        cached = (array, _decode(response.read(), array))
        with contextlib.suppress(AttributeError):  # no __dict__: decoded again next time
            setattr(response, _DECODED_ATTR, cached)
    return cached[1]


def get_json(client: Any, url: str, arm_endpoint: str | None = None, *, array: str = "") -> dict[str, Any]:
    """One GET through the client's pipeline; the body must be a JSON object (with an `array`
    list when one is named), or it is retried like a 5xx and then `BadPayload`.

    `url` is a relative ARM path or, given the endpoint to check it against, an absolute
    link on that endpoint; anything else is `RefusedUrl` before a request leaves.
    """
    target = _safe_for_format(request_url(url, arm_endpoint))
    options = {_PAYLOAD_OPTION: array}
    with client.send_request(HttpRequest("GET", target), stream=True, **options) as response:
        response.read()  # ReadBodyPolicy has read it: this returns the bytes
    if not 200 <= response.status_code < 300:
        raise _failure(response)
    body = _decoded(response, array)
    if isinstance(body, BadPayload):
        raise body
    return body


def _safe_for_format(url: str) -> str:
    """Percent-encode braces: `send_request` runs the URL through `str.format`-style
    templating, which would cut a nextLink like `...$skipToken={token}` at the brace."""
    return url.replace("{", "%7B").replace("}", "%7D")


class Pages:
    """The pages of one ARM list, following `nextLink` verbatim, each item listed once.

    Iteration stops early, without raising, when paging cannot go on safely; `note` then
    says why, since what was collected is incomplete: a nextLink the URL check refuses
    (not an absolute URL, another host), a link already followed, a page whose items were
    all listed before (a server that serves the same items under ever new links), or
    MAX_PAGES. An item already listed is dropped from its page, so it is never kept twice.
    """

    def __init__(self, client: Any, url: str, arm_endpoint: str) -> None:
        self._client = client
        self._url = url
        self._endpoint = arm_endpoint
        self.note: str | None = None
        self.count = 0  # pages fetched

    def __iter__(self) -> Iterator[dict[str, Any]]:
        url: str | None = self._url
        links: set[str] = set()
        listed: set[str] = set()
        while url is not None:
            links.add(url)
            page = get_json(self._client, url, self._endpoint, array="value")
            self.count += 1
            if not _drop_listed(page, listed):
                self.note = f"paging stopped: page {self.count} repeats items already listed"
                return
            yield page
            url = self._next(page.get("nextLink"), links)

    def _next(self, link: Any, links: set[str]) -> str | None:
        if link is None or link == "":
            return None
        try:
            url = next_link(link, self._endpoint)
        except RefusedUrl as exc:
            self.note = f"paging stopped: {exc}"
            return None
        if url in links:
            self.note = "paging stopped: nextLink repeats an earlier page"
        elif len(links) >= MAX_PAGES:
            self.note = f"paging stopped at the cap of {MAX_PAGES} pages"
        else:
            return url
        return None


def _drop_listed(page: dict[str, Any], listed: set[str]) -> bool:
    """Drop the items of `page` whose id was listed before (noting the new ones); False when
    every item of a non-empty page was. Items without an id are kept: the parser rejects them."""
    items: list[Any] = page["value"]
    fresh: list[Any] = []
    for item in items:
        rid = item.get("id") if isinstance(item, dict) else None
        if isinstance(rid, str) and rid:
            key = ids.key(rid)
            if key in listed:
                continue
            listed.add(key)
        fresh.append(item)
    if items and not fresh:
        return False
    if len(fresh) != len(items):
        page["value"] = fresh
    return True


def pages(client: Any, url: str, arm_endpoint: str) -> Pages:
    return Pages(client, url, arm_endpoint)
