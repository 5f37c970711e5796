"""The scan's thread pool: it never makes its caller wait for a stuck worker."""

from __future__ import annotations

import threading
import time

from asr_audit.collect.workers import DaemonPool


def test_join_waits_for_idle_workers_to_exit() -> None:
    before = set(threading.enumerate())
    pool = DaemonPool(4, name="joined")
    futures = [pool.submit(pow, 2, n) for n in range(8)]
    assert [f.result(timeout=5) for f in futures] == [2**n for n in range(8)]
    assert {t.name for t in set(threading.enumerate()) - before} >= {"joined_0"}
    pool.shutdown(wait=False)
    assert pool.join(5.0)
    assert not set(threading.enumerate()) - before


def test_join_gives_up_on_a_stuck_worker_after_its_timeout() -> None:
    release = threading.Event()
    pool = DaemonPool(2)
    stuck = pool.submit(release.wait, 30)
    done = pool.submit(pow, 3, 2)
    assert done.result(timeout=5) == 9
    pool.shutdown(wait=False)
    started = time.monotonic()
    assert not pool.join(0.2)
    assert time.monotonic() - started < 2.0
    release.set()
    assert stuck.result(timeout=5) is True
    assert pool.join(5.0)
