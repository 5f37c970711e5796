"""Pausing the cyclic garbage collector around phases that build large, acyclic heaps.

Loading or saving a snapshot and analysing an inventory each make millions of containers that
live to the end of the phase and form no cycles worth collecting; the collector's passes over an
ever larger heap made those phases grow faster than the inventory (bench/README.md).
"""

from __future__ import annotations

import contextlib
import gc
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
        gc.freeze()
        gc.unfreeze()
        if collecting:
            gc.enable()
