"""The time ARM says it is: the `Date` header of each response a scan receives.

An inventory is a picture of Azure at some moment, and the rules judge ages and expiry dates
(agent certificates, test failovers) as of that moment. The moment belongs to the server that
answered, not to the machine that asked: its clock is what the data is "as of", a wrong local
clock cannot shift a verdict, and a replayed recording (which serves the recorded headers)
judges as of when it was recorded, so `asr-audit demo` gives the same findings on any day.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import SansIOHTTPPolicy


class ServerTime:
    """The latest `Date` any response of the scan carried (`ServerDatePolicy` records each one)."""

    def __init__(self) -> None:
        self._latest: datetime | None = None
        self._lock = threading.Lock()

    def saw(self, header: str | None) -> None:
        """Keep the header's moment if it is the latest so far. A missing or malformed header
        (a proxy that strips it, a test transport) is ignored: it says nothing about the data."""
        moment = parse_http_date(header)
        if moment is None:
            return
        with self._lock:
            if self._latest is None or moment > self._latest:
                self._latest = moment

    def latest(self) -> datetime | None:
        with self._lock:
            return self._latest


def parse_http_date(header: str | None) -> datetime | None:
    """An RFC 9110 HTTP-date (`Sun, 06 Dec 2026 12:00:00 GMT`) in UTC, or None."""
    if not header:
        return None
    try:
        moment = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


class ServerDatePolicy(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Hands each response's `Date` to the scan's `ServerTime`; in `per_retry_policies`, so a
    throttled answer that was retried counts as well: it too came from the server's clock."""

    def __init__(self, server_time: ServerTime) -> None:
        self._server_time = server_time

    def on_response(self, request: PipelineRequest, response: PipelineResponse) -> None:  # type: ignore[type-arg]
        self._server_time.saw(response.http_response.headers.get("Date"))
