"""The pipeline policies every ARM request of a scan passes through: the read-only guard, the
bounded retry and the whole-body read (DESIGN.md §6, §8.2).

They sit in the SDK's own pipeline rather than around `send_request`, so no code path, the
SDK's own included (provider registration, retries), can get past them. What a 2xx body must
be is the reader's business (collect): it hands the retry policy a check through the request
options (`BODY_CHECK_OPTION`), so this layer knows nothing of ARM's JSON shapes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from azure.core.exceptions import ServiceResponseTimeoutError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy, RetryPolicy, SansIOHTTPPolicy
from azure.core.rest import HttpResponse

from asr_audit.access.timeouts import ScanClock, Watchdog, is_timeout, socket_of

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


# The one POST a scan may send: a Resource Graph query, which reads (DESIGN.md §6). Compared on
# the whole path, lower case, so neither a sub-path nor another provider's action gets through.
RESOURCE_GRAPH_QUERY_PATH = "/providers/microsoft.resourcegraph/resources"


class ReadOnlyGuardPolicy(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Allows GET, and POST to the Resource Graph query endpoint only; refuses everything else.

    Every read the ARM backend makes is a GET; the Resource Graph backend's query is a POST
    that changes nothing, so exactly that path is allowed (any query string: the api-version).
    Placed in `per_retry_policies`, i.e. after `ARMAutoResourceProviderRegistrationPolicy`,
    so its `POST .../providers/X/register` on a 409 is refused too.
    """

    def on_request(self, request: PipelineRequest) -> None:  # type: ignore[type-arg]
        http = request.http_request
        method = http.method.upper()
        if method == "GET":
            return
        if method == "POST" and is_resource_graph_query(http.url):
            return
        raise ReadOnlyViolation(method, http.url)


def is_resource_graph_query(url: str) -> bool:
    """The URL's path is exactly the Resource Graph query endpoint (a trailing '/' aside)."""
    path = urlsplit(url).path
    return path.rstrip("/").lower() == RESOURCE_GRAPH_QUERY_PATH and "%" not in path


def unregistered_provider(violation: ReadOnlyViolation) -> str | None:
    """The namespace the SDK tried to register, when that is what the guard refused."""
    parts = urlsplit(violation.url).path.rstrip("/").split("/")
    if violation.method == "POST" and len(parts) >= 3 and parts[-1].lower() == "register":
        return parts[-2]
    return None


# --- retry ------------------------------------------------------------------------------------

# The request option through which a reader hands CappedRetryPolicy a check of 2xx bodies:
# `check(response)` is False for a body that is not what the reader expects (a proxy's HTML
# page, a body cut short), and such an answer is retried like a 5xx.
BODY_CHECK_OPTION = "asr_audit_body_check"
BodyCheck = Callable[[HttpResponse], bool]


class CappedRetryPolicy(RetryPolicy):
    """RetryPolicy with a ceiling on `Retry-After`, full-jitter exponential backoff, one retry
    budget for every cause, and garbled bodies counted as failures.

    The stock policy sleeps for whatever `Retry-After` says (a server can stall the scan)
    and retries any 4xx that carries the header. Here only 408/429/5xx, connection and read
    errors, and a 2xx body the request's body check refuses are retried. `retry_total` keeps
    azure-core's meaning, retries after the first attempt, so a request is sent at most
    `retry_total + 1` times. azure-core also caps each cause on its own (`retry_status`,
    `retry_connect`, `retry_read`, 3 by default), which made `retry_total=5` give up after 4
    attempts; those caps are set to `retry_total` so the one budget decides.
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
        # The guard lets nothing else through; the one POST it allows is a read, safe to repeat.
        self._method_whitelist = frozenset({"GET", "POST"})

    def configure_retries(self, options: dict[str, Any]) -> dict[str, Any]:
        """Also takes the body check out of the options (the transport must not see it)."""
        settings = super().configure_retries(options)
        settings[BODY_CHECK_OPTION] = options.pop(BODY_CHECK_OPTION, None)
        return settings

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse) -> bool:  # type: ignore[type-arg]
        if not settings["total"]:
            return False
        http = response.http_response
        if http.status_code in self.RETRY_STATUSES:
            return True
        check: BodyCheck | None = settings.get(BODY_CHECK_OPTION)
        return check is not None and 200 <= http.status_code < 300 and not check(http)

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

    def policy(self) -> TimeoutBudgetRetryPolicy:
        """A fresh policy (a pipeline links its policies, so each client needs its own)."""
        return TimeoutBudgetRetryPolicy(
            retry_after_cap=self.retry_after_cap,
            retry_total=self.retry_total,
            retry_backoff_factor=self.backoff_factor,
            retry_backoff_max=self.backoff_max,
            timeout_retries=self.timeout_retries,
        )


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
