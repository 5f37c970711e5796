"""Time limits of a scan (DESIGN.md §8.2): per-request timeouts, a bound on whole bodies, the deadline.

A nightly CI gate must not hang on one stalled list. Three limits work together:

- every attempt gets `ScanRequest.timeout` (connect, read), capped at the time left before the
  deadline, so no request started near the deadline outlives it (`RequestTimeoutPolicy`);
- a body must arrive whole within the read timeout, since the transport's read timeout restarts
  with every byte and a body trickled byte by byte would never time out (`Watchdog`, used by
  `policies.ReadBodyPolicy`);
- once the deadline has passed, no call is retried or started (`DeadlinePolicy`), and the
  scheduler stops waiting for what is still running.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from azure.core.exceptions import ServiceRequestTimeoutError, ServiceResponseTimeoutError
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy

from asr_audit.access import DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT

TIMEOUT_ERRORS = (ServiceRequestTimeoutError, ServiceResponseTimeoutError)


class DeadlineExceeded(ServiceRequestTimeoutError):
    """An attempt that would start with no time left: the deadline passed, or the scan stopped.

    A timeout like any other to the code that maps failures to coverage; as it is raised before
    anything is sent, it counts as a connection error for the retry policy.
    """


def is_timeout(exc: BaseException) -> bool:
    """A connect or read timeout, a body not received in time, or the deadline."""
    return isinstance(exc, TIMEOUT_ERRORS)


class ScanClock:
    """The timeouts of one scan and its deadline, counted from the clock's creation.

    `stop()` ends the scan's time early (it returned or was interrupted): workers the scheduler
    no longer waits for then start no further request.
    """

    def __init__(
        self,
        connect: float = DEFAULT_CONNECT_TIMEOUT,
        read: float = DEFAULT_READ_TIMEOUT,
        deadline: float | None = None,
        *,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        if connect <= 0 or read <= 0 or (deadline is not None and deadline <= 0):
            raise ValueError("timeouts and the deadline must be positive")
        self.connect = connect
        self.read = read
        self.deadline = deadline
        self._now = now
        self._end = None if deadline is None else now() + deadline
        self._stopped = False

    def stop(self) -> None:
        self._stopped = True

    def left(self) -> float | None:
        """Seconds before the deadline (0 once it passed or the scan stopped); None: no deadline."""
        if self._stopped:
            return 0.0
        if self._end is None:
            return None
        return max(0.0, self._end - self._now())

    def unfinished_detail(self) -> str:
        """The coverage detail of work the deadline cut short."""
        if self.deadline is None:
            return "not finished: the scan stopped"
        return f"not finished by the {self.deadline:g} s deadline"

    @property
    def expired(self) -> bool:
        return self.left() == 0.0

    def cap(self, seconds: float) -> float:
        """`seconds`, or the time left if that is shorter; raises `DeadlineExceeded` when none is."""
        left = self.left()
        if left is None:
            return seconds
        if left <= 0:
            raise DeadlineExceeded(f"no time left before the {self.deadline:g} s deadline")
        return min(seconds, left)


class DeadlinePolicy(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Per call (before the retry policy): the time left is the retry policy's own `timeout` for
    the call, so no attempt starts once the deadline has passed and a call asked for after it
    fails at once, without retries or backoff."""

    def __init__(self, clock: ScanClock) -> None:
        self._clock = clock

    def on_request(self, request: PipelineRequest) -> None:  # type: ignore[type-arg]
        left = self._clock.left()
        if left is not None:
            request.context.options["timeout"] = left


class RequestTimeoutPolicy(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Per attempt: the scan's (connect, read) timeouts, each capped at the time left.

    Set on every request rather than on the transport, so any transport (a test's fake, the
    replay's) receives them, and so the cap follows the clock.
    """

    def __init__(self, clock: ScanClock) -> None:
        self._clock = clock

    def on_request(self, request: PipelineRequest) -> None:  # type: ignore[type-arg]
        options = request.context.options
        options["connection_timeout"] = self._clock.cap(self._clock.connect)
        options["read_timeout"] = self._clock.cap(self._clock.read)


# --- bounding a whole body ---------------------------------------------------------------------


class Alarm:
    """One guarded read: `fired` once the watchdog cut its connection."""

    __slots__ = ("_sock", "done", "fired", "seconds", "when")

    def __init__(self, when: float, seconds: float, sock: socket.socket | None) -> None:
        self.when = when
        self.seconds = seconds
        self._sock = sock
        self.done = False
        self.fired = False

    def fire(self) -> None:
        """Shut the connection down: a thread blocked reading it wakes up with an error.

        `shutdown()` rather than `close()`: closing a socket does not wake a thread blocked in
        `recv` on it (Linux).
        """
        self.fired = True
        if self._sock is not None:
            with suppress(OSError):  # already closed: the read is over anyway
                self._sock.shutdown(socket.SHUT_RDWR)


# The longest `Watchdog.close` waits for its thread, which has nothing to finish but a `shutdown`.
THREAD_EXIT = 1.0


class Watchdog:
    """One daemon thread that cuts the connections of reads that went on too long.

    A read cannot be given a total time limit: socket timeouts bound each `recv`, and a server
    that sends a byte every few seconds keeps resetting them. Aborting from another thread is
    the only portable way to end such a read. The reader disarms its alarm as soon as the read
    returns; the watchdog fires only alarms still armed, under the same lock. What remains is a
    window of microseconds in which the read completed, the connection went back to the pool
    and another request took it just as the alarm came due: that request then sees a broken
    connection, which the retry policy retries.
    """

    def __init__(self, *, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._heap: list[tuple[float, int, Alarm]] = []
        self._order = itertools.count()  # ties: never compare alarms
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    @contextmanager
    def guard(self, seconds: float, sock: socket.socket | None) -> Iterator[Alarm]:
        """Cut `sock` if the block is still running after `seconds`. Without a socket (a fake
        transport, a replay) there is nothing to cut; once closed (the scan is over, a worker it
        no longer waits for is finishing) nothing is guarded."""
        alarm = Alarm(self._now() + seconds, seconds, sock)
        with self._wake:
            armed = sock is not None and not self._closed
            if armed:
                heapq.heappush(self._heap, (alarm.when, next(self._order), alarm))
                if self._heap[0][2] is alarm:  # the watchdog sleeps until the earliest alarm
                    self._start_or_wake()
        try:
            yield alarm
        finally:
            if armed:
                with self._wake:
                    alarm.done = True

    def close(self) -> None:
        """Disarm everything and let the thread end. It is waited for (it only ever waits on the
        condition, so it ends at once): the analysis after a scan forks only a process with one
        thread (rules/parallel.py)."""
        with self._wake:
            self._closed = True
            self._heap.clear()
            self._wake.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(THREAD_EXIT)

    def _start_or_wake(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="asr-audit-watchdog", daemon=True)
            self._thread.start()
        else:
            self._wake.notify()

    def _watch(self) -> None:
        with self._wake:
            while not self._closed:
                now = self._now()
                while self._heap and (self._heap[0][2].done or self._heap[0][0] <= now):
                    _, _, alarm = heapq.heappop(self._heap)
                    if not alarm.done:
                        alarm.fire()
                self._wake.wait(self._heap[0][0] - now if self._heap else None)


def socket_of(response: Any) -> socket.socket | None:
    """The socket a requests-based azure-core response is read from, if there is one.

    requests' `Response.raw` is urllib3's response, whose `connection` (urllib3 2; `_connection`
    in 1.26) holds the socket until the body is read. A fake or replayed response has none.
    """
    raw = getattr(getattr(response, "internal_response", None), "raw", None)
    connection = getattr(raw, "connection", None) or getattr(raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    return sock if isinstance(sock, socket.socket) else None
