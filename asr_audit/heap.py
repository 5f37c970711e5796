"""Pausing the cyclic garbage collector around phases that build large, acyclic heaps.

Loading or saving a snapshot and analysing an inventory each make millions of containers that
live to the end of the phase and form no cycles worth collecting; the collector's passes over an
ever larger heap made those phases grow faster than the inventory (bench/README.md).
"""

from __future__ import annotations

import contextlib
import gc
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """The collector off for the block, then back as it was (a caller may have turned it off).

    What the block made is moved to the oldest generation unscanned (`freeze` then `unfreeze`):
    left in the youngest, the first collection after the block walked all of it, which cost an
    analysis of 10k resources 15 % more CPU and the JSON report after it half its time."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        age_unscanned()
        if collecting:
            gc.enable()


def age_unscanned() -> None:
    """Everything alive moved to the oldest generation without being walked (`freeze` then
    `unfreeze`), so the next young collection finds nothing of what a phase built. Cyclic garbage
    made until now waits for the next full collection instead."""
    gc.freeze()
    gc.unfreeze()


# --- a process that ends with the run -------------------------------------------------------------
#
# Only the console command calls these, never a library caller or a test that runs `main` in-process:
# they trade collecting garbage for not walking a heap that dies with the process anyway.


def hold_to_exit() -> None:
    """The collector off for the rest of the process. Everything a run makes once its inventory
    is read (the analysis's shared structures, the report) lives until the process ends; with the
    collector on, its first full pass after the analysis walked all of it for nothing: 7.3 s of
    CPU at 100k resources to free 19,000 objects (bench/README.md)."""
    gc.disable()


def spare_exit() -> None:
    """Nothing left for the interpreter's last collection: it would walk and free the whole heap
    (13 s of CPU at 100k resources, the analysis's structures being cyclic) only to hand memory
    back to a process that is ending."""
    gc.freeze()


# glibc's `M_ARENA_MAX` (malloc.h): how many malloc arenas the process may have.
_M_ARENA_MAX = -8
MALLOC_ARENAS = 2


def few_malloc_arenas() -> None:
    """At most two malloc arenas, not glibc's eight per core; called before a scan starts threads.

    glibc gives each new thread an arena of its own, and each arena keeps what is freed in it. A
    scan's workers allocate the bodies they read (a page is up to a few MB) and the buffers that
    decode them, so sixteen workers held sixteen arenas of freed pages: a 100k-resource scan peaked
    at 566-573 MiB, and at 456-461 MiB with two arenas, no slower (bench/README.md). Python objects
    themselves come from Python's own allocator, and the GIL serialises most allocations, so the
    workers hardly wait on the shared arenas. Linux with glibc only; elsewhere nothing changes."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None)
    if hasattr(libc, "gnu_get_libc_version"):  # glibc: musl's mallopt does nothing
        libc.mallopt(_M_ARENA_MAX, MALLOC_ARENAS)
