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
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy, RetryPolicy, SansIOHTTPPolicy
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest, HttpResponse

from asr_audit.clouds import CloudProfile
from asr_audit.collect.throttle import ReadBudget, ReadBudgetPolicy

# Read-only POST endpoints (path, case-insensitive). Resource Graph queries are reads.
READ_ONLY_POSTS = ("/providers/microsoft.resourcegraph/resources",)

MAX_PAGES = 10_000  # a server that loops its nextLink must not hold the scan forever


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
    """RetryPolicy with a ceiling on `Retry-After` and full-jitter exponential backoff.

    The stock policy sleeps for whatever `Retry-After` says (a server can stall the scan)
    and retries any 4xx that carries the header. Here only 408/429/5xx and connection
    errors are retried, at most `retry_total` times.
    """

    RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

    def __init__(self, *, retry_after_cap: float = 30.0, **kwargs: Any) -> None:
        kwargs.setdefault("retry_total", 5)
        kwargs.setdefault("retry_backoff_factor", 0.5)
        kwargs.setdefault("retry_backoff_max", 30)
        super().__init__(**kwargs)
        self.retry_after_cap = retry_after_cap
        # POST passes the guard only for Resource Graph queries, which are reads.
        self._method_whitelist = frozenset({"GET", "POST"})

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse) -> bool:  # type: ignore[type-arg]
        status = response.http_response.status_code
        return bool(settings["total"]) and status in self.RETRY_STATUSES

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


# --- streamed bodies ------------------------------------------------------------------------


class ReadBodyPolicy(HTTPPolicy):  # type: ignore[type-arg]
    """Reads every response body within the retry loop, though the request is streamed.

    Streaming only keeps ContentDecodePolicy from decoding the body; the body is still
    wanted whole, and reading it here keeps three things as they were without streaming:
    a body cut short is an error the retry policy retries; the 409 body that
    ARMAutoResourceProviderRegistrationPolicy reads to find the namespace to register
    (which the guard then refuses) is there to read; and a retried 429/5xx answer releases
    its connection instead of holding it until garbage collection.
    """

    def send(self, request: PipelineRequest) -> PipelineResponse:  # type: ignore[type-arg]
        response = self.next.send(request)
        response.http_response.read()
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
    still valid for the margin is reused; a claims challenge always asks afresh.
    """

    def __init__(self, credential: TokenCredential, refresh_margin: float = 300.0) -> None:
        self._credential = credential
        self._margin = refresh_margin
        self._tokens: dict[tuple[Any, ...], AccessToken] = {}
        self._lock = threading.Lock()

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        if kwargs.get("claims"):
            return self._credential.get_token(*scopes, **kwargs)
        cache_key = (scopes, tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
        with self._lock:  # held while fetching: concurrent first asks wait for one answer
            token = self._tokens.get(cache_key)
            if token is None or token.expires_on - time.time() < self._margin:
                token = self._tokens[cache_key] = self._credential.get_token(*scopes, **kwargs)
            return token


@dataclass
class RetrySettings:
    retry_after_cap: float = 30.0
    retry_total: int = 5
    backoff_factor: float = 0.5
    backoff_max: float = 30.0


class ClientFactory:
    """Builds every management client of a scan up front, in the calling thread.

    Importing the management packages costs ~0.7 s, so it happens only when a scan starts
    (DESIGN.md §6); doing it here, before the worker pool exists, keeps the imports out of
    the workers, where they would serialise on the import lock and delay the first
    requests. Each client gets fresh policy instances (a pipeline links its policies
    together, so one policy object cannot serve two pipelines) but all of them share one
    token and one `ReadBudget`, since ARM's limits count requests, not clients.
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
    ) -> None:
        self._credential = SharedToken(credential)
        self._cloud = cloud
        self._retry = retry or RetrySettings()
        self._transport = transport  # tests: one fake transport shared by every client
        self._pool_size = pool_size
        self._budget = budget or ReadBudget()
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
            per_retry_policies=[ReadOnlyGuardPolicy(), ReadBudgetPolicy(self._budget), ReadBodyPolicy()],
            retry_policy=CappedRetryPolicy(
                retry_after_cap=retry.retry_after_cap,
                retry_total=retry.retry_total,
                retry_backoff_factor=retry.backoff_factor,
                retry_backoff_max=retry.backoff_max,
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


# --- requests and paging -----------------------------------------------------------------------


class HttpFailure(Exception):
    """A non-2xx ARM answer (after retries), with the coverage status it maps to."""

    def __init__(self, status_code: int, detail: str) -> None:
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
    """A 2xx answer whose body is not the JSON object ARM promises."""


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


def get_json(client: Any, url: str) -> dict[str, Any]:
    """One GET through the client's pipeline; the body must be a JSON object."""
    with client.send_request(HttpRequest("GET", _safe_for_format(url)), stream=True) as response:
        content = response.read()  # ReadBodyPolicy has read it: this returns the bytes
    if not 200 <= response.status_code < 300:
        raise _failure(response)
    try:
        body = json.loads(content)  # bytes: json detects UTF-8/16/32 and a BOM itself
    except ValueError as exc:  # UnicodeDecodeError included
        raise BadPayload(f"response is not JSON ({one_line(str(exc), 120)})") from None
    if not isinstance(body, dict):
        raise BadPayload(f"response is a JSON {type(body).__name__}, not an object")
    return body


def _safe_for_format(url: str) -> str:
    """Percent-encode braces: `send_request` runs the URL through `str.format`-style
    templating, which would cut a nextLink like `...$skipToken={token}` at the brace."""
    return url.replace("{", "%7B").replace("}", "%7D")


class Pages:
    """The pages of one ARM list, following `nextLink` verbatim.

    Iteration stops early, without raising, when a nextLink cannot be followed safely (not
    an absolute http(s) URL, another host than the ARM endpoint, a loop); `note` then says
    why, since what was collected is incomplete.
    """

    def __init__(self, client: Any, url: str, arm_endpoint: str) -> None:
        self._client = client
        self._url = url
        self._host = urlsplit(arm_endpoint).netloc.lower()
        self.note: str | None = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        url: str | None = self._url
        seen: set[str] = set()
        while url is not None:
            seen.add(url)
            page = get_json(self._client, url)
            yield page
            url = self._next(page.get("nextLink"), seen)

    def _next(self, link: Any, seen: set[str]) -> str | None:
        if link is None or link == "":
            return None
        if not isinstance(link, str):
            self.note = f"paging stopped: nextLink is a {type(link).__name__}, not a URL"
            return None
        parts = urlsplit(link)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            self.note = f"paging stopped: nextLink {one_line(link, 80)!r} is not an absolute URL"
        elif parts.netloc.lower() != self._host:
            self.note = f"paging stopped: nextLink points at another host ({parts.netloc})"
        elif link in seen:
            self.note = "paging stopped: nextLink repeats an earlier page"
        elif len(seen) >= MAX_PAGES:
            self.note = f"paging stopped after {MAX_PAGES} pages"
        else:
            return link
        return None


def pages(client: Any, url: str, arm_endpoint: str) -> Pages:
    return Pages(client, url, arm_endpoint)
