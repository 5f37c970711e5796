"""A thread pool that never makes its caller wait for a stuck worker."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from queue import Empty, SimpleQueue
from typing import Any, TypeVar

T = TypeVar("T")

_Work = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class DaemonPool(Executor):
    """Up to `max_workers` daemon threads; `shutdown(wait=False)` leaves running work behind.

    Why not `ThreadPoolExecutor`: it joins its workers on `shutdown()`, on leaving its `with`
    block (an exception included) and, through an atexit hook, at interpreter exit. A worker
    blocked in a socket read of a stalled list then holds a Ctrl-C or the end of a scan cut by
    its deadline for as long as the read lasts, minutes with the SDK's defaults (DESIGN.md §8.2:
    one Ctrl-C ends the run within 2 s). Daemon threads are not joined at exit, so the process
    ends at once and the stuck reads die with it. Aborting the reads instead (closing the
    transport) does not work: closing a socket does not wake a thread blocked reading it.

    A worker left behind finishes its current job on its own (the scan's clock makes its next
    request fail at once, see timeouts.ScanClock.stop) and then exits; queued work is cancelled
    with `cancel_futures=True`.
    """

    def __init__(self, max_workers: int, name: str = "asr-audit") -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self._max_workers = max_workers
        self._name = name
        self._queue: SimpleQueue[_Work | None] = SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._shut = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        with self._lock:
            if self._shut:
                raise RuntimeError("cannot schedule new work after shutdown")
            future: Future[T] = Future()
            self._queue.put((future, fn, args, kwargs))
            if not self._idle.acquire(blocking=False) and len(self._threads) < self._max_workers:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}_{len(self._threads)}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
            return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking work. `wait=True` joins the workers, as `Executor` promises; the scan
        passes `wait=False`, and `cancel_futures=True` so that queued work never starts."""
        with self._lock:
            self._shut = True
            if cancel_futures:
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except Empty:
                        break
                    if item is not None:
                        item[0].cancel()
            self._queue.put(None)  # each worker passes it on to the next, then exits
        if wait:
            for thread in self._threads:
                thread.join()

    def join(self, timeout: float) -> bool:
        """After `shutdown`: wait up to `timeout` seconds in all for the workers to exit; whether
        they all did. Idle workers exit at once; one stuck in a read is waited for no longer."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.put(None)
                return
            _run(*item)
            del item  # the work and its result belong to the caller now
            self._idle.release()


def _run(future: Future[Any], fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:  # handed to the caller, as Executor does
        future.set_exception(exc)
    else:
        future.set_result(result)
