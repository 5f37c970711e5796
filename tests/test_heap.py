"""What the console command does to the process's allocator before a scan (`heap.few_malloc_arenas`):
glibc's arenas, one per thread, each kept what a scan's worker freed in it."""

from __future__ import annotations

import ctypes
import subprocess
import sys

import pytest

GLIBC = sys.platform.startswith("linux") and hasattr(ctypes.CDLL(None), "gnu_get_libc_version")

# Eight threads alive at once, each allocating from malloc (blocks below the mmap threshold), then
# glibc's own account of its arenas, one "Arena N:" line each, on stderr.
THREADS = """
import ctypes, sys, threading
from asr_audit import heap
if sys.argv[1] == "few":
    heap.few_malloc_arenas()
together = threading.Barrier(8)
def work():
    held = [bytearray(64 * 1024) for _ in range(4)]
    together.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
ctypes.CDLL(None).malloc_stats()
"""


def _arenas(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", THREADS, mode], capture_output=True, text=True, check=True)
    return sum(line.startswith("Arena ") for line in done.stderr.splitlines())


@pytest.mark.skipif(not GLIBC, reason="malloc arenas are glibc's")
def test_eight_threads_share_two_malloc_arenas_once_limited() -> None:
    assert _arenas("default") > 2  # each thread took its own
    assert _arenas("few") <= 2
