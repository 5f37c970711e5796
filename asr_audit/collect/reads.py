"""Reading JSON from ARM: one GET, or the pages of one list, as decoded JSON objects.

Bodies are decoded once, here: the requests are streamed so azure-core's ContentDecodePolicy
does not decode them first into an object nobody uses (~25 % of the client's CPU in
bench/README.md's profile), and a 2xx body that is not the JSON object ARM promises is retried
like a 5xx, through the body check handed to the retry policy (access.policies). Every URL
passes the last check of `urls` before it is sent. Whatever a read raises maps to one coverage
status here (`failure`), for the scheduler and the scope resolution alike.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterator, Mapping
from typing import Any

from azure.core.exceptions import AzureError, ClientAuthenticationError
from azure.core.rest import HttpRequest, HttpResponse

from asr_audit import ids
from asr_audit.access.credential import auth_failure_message
from asr_audit.access.policies import BODY_CHECK_OPTION, ReadOnlyViolation
from asr_audit.access.timeouts import is_timeout
from asr_audit.collect.fields import Malformed
from asr_audit.collect.urls import RefusedUrl, next_link, request_url
from asr_audit.errors import AuthError
from asr_audit.inventory import CoverageStatus
from asr_audit.redact import scrub

# A server that loops its nextLink must not hold the scan forever; 1,000 pages of ARM's usual
# 1,000 items is a million resources in one list, far past any estate this tool audits.
MAX_PAGES = 1_000


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
    def coverage_status(self) -> CoverageStatus:
        if self.status_code in (401, 403):
            return CoverageStatus.FORBIDDEN
        if self.status_code == 404:
            return CoverageStatus.NOT_FOUND
        if self.status_code == 429:
            return CoverageStatus.THROTTLED
        return CoverageStatus.ERROR


class BadPayload(Exception):
    """A 2xx answer whose body is not the JSON object ARM promises (after retries)."""


class Gap(Exception):
    """A failure already mapped to its coverage status: one shared read (a Resource Graph query
    over many subscriptions) that failed, raised again for each collector run it served."""

    def __init__(self, status: CoverageStatus, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


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


def _acceptable(response: HttpResponse, array: str) -> bool:
    """The body check `get_json` hands the retry policy: a garbled 2xx body is retried."""
    return not isinstance(_decoded(response, array), BadPayload)


def get_json(client: Any, url: str, arm_endpoint: str | None = None, *, array: str = "") -> dict[str, Any]:
    """One GET through the client's pipeline; the body must be a JSON object (with an `array`
    list when one is named), or it is retried like a 5xx and then `BadPayload`.

    `url` is a relative ARM path or, given the endpoint to check it against, an absolute
    link on that endpoint; anything else is `RefusedUrl` before a request leaves.
    """
    return _send(client, HttpRequest("GET", _safe_for_format(request_url(url, arm_endpoint))), array)[0]


def post_json(
    client: Any, url: str, payload: dict[str, Any], *, array: str = ""
) -> tuple[dict[str, Any], Mapping[str, str]]:
    """One POST of a JSON payload (Resource Graph's query, the one POST the read-only guard
    lets through) to a relative ARM path, checked like a GET's; the body and the answer's
    headers, which carry Resource Graph's quota."""
    request = HttpRequest("POST", _safe_for_format(request_url(url, None)), json=payload)
    return _send(client, request, array)


def _send(client: Any, request: HttpRequest, array: str) -> tuple[dict[str, Any], Mapping[str, str]]:
    options = {BODY_CHECK_OPTION: functools.partial(_acceptable, array=array)}
    with client.send_request(request, stream=True, **options) as response:
        response.read()  # ReadBodyPolicy has read it: this returns the bytes
    if not 200 <= response.status_code < 300:
        raise _failure(response)
    body = _decoded(response, array)
    if isinstance(body, BadPayload):
        raise body
    return body, response.headers


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


def failure(exc: Exception) -> tuple[CoverageStatus, str]:
    """Coverage status and one-line detail of a read that raised; the detail is scrubbed, as an
    exception text may quote a request header or what a server echoed."""
    status = CoverageStatus.ERROR
    if isinstance(exc, HttpFailure):
        status, detail = exc.coverage_status, exc.detail
    elif isinstance(exc, Gap):
        status, detail = exc.status, exc.detail
    elif isinstance(exc, (BadPayload, Malformed, ReadOnlyViolation, RefusedUrl)):
        detail = str(exc)
    elif isinstance(exc, AuthError):
        status, detail = CoverageStatus.FORBIDDEN, str(exc)
    elif isinstance(exc, ClientAuthenticationError):
        status, detail = CoverageStatus.FORBIDDEN, auth_failure_message(exc)
    elif isinstance(exc, AzureError):  # connection, TLS, timeout after retries
        status = CoverageStatus.TIMEOUT if is_timeout(exc) else CoverageStatus.ERROR
        detail = f"{type(exc).__name__}: {exc.message}"
    else:
        detail = f"internal error: {type(exc).__name__}: {exc}"
    return status, scrub(one_line(detail))
