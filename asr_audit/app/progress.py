"""The progress display on stderr while a scan collects (DESIGN.md §6).

`collect.scan` calls `progress(subscription, collector, status)` once per finished collector
run, and the number of runs is not known up front (each vault and each gateway resource
group adds some). So the display counts rather than estimates: a top row with all runs so
far and how many failed, and one row per subscription x collector, where a collector's
per-vault or per-resource-group runs (`protected_items:rsv-x`) count on the collector's row.
A tenant of fifty subscriptions would need hundreds of rows: only the most recently updated
ones stay visible.

It is shown only on a terminal and never with `--quiet`: a CI log would fill with redraws.
Only stderr is touched (stdout may be a report piped elsewhere), and rich is imported only
when the display is on.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING

from asr_audit.report.sanitize import clean

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

Callback = Callable[[str, str, str], None]

MAX_ROWS = 12  # subscription x collector rows kept visible under the total
REDRAWS_PER_SECOND = 10  # rich's default: the spinner turns while a slow list is read
# The longest the end of a display waits for its redrawing thread, which only sleeps and draws.
REDRAW_THREAD_EXIT = 1.0


def wanted(quiet: bool, stream: IO[str] | None = None) -> bool:
    """On for an interactive stderr unless `--quiet`."""
    if quiet:
        return False
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # a replaced or closed stream
        return False


def make_progress(console: Console) -> Progress:
    """The display itself; stdout is never redirected into it."""
    from rich.progress import Progress, SpinnerColumn, TextColumn

    return Progress(
        SpinnerColumn(finished_text="✓"),
        TextColumn("{task.description}", markup=False),
        TextColumn("{task.completed:>4.0f}"),
        TextColumn("{task.fields[status]}", markup=False, style="dim"),
        console=console,
        transient=True,
        redirect_stdout=False,
        auto_refresh=False,  # `_redrawn` does it, from a thread it ends and waits for
    )


class ScanProgress:
    """The scan's `progress` callback, drawing on a rich `Progress`.

    `label` renders a subscription id (`--mask` passes a masking function).
    """

    def __init__(self, progress: Progress, label: Callable[[str], str] = str) -> None:
        self._progress = progress
        self._label = label
        self._total = progress.add_task("collector runs", total=None, status="")
        self._rows: dict[tuple[str, str], TaskID] = {}
        self._counts: dict[TaskID, int] = {}
        self._recent: list[TaskID] = []
        self._runs = 0
        self._failed = 0

    def __call__(self, subscription: str, collector: str, status: str) -> None:
        family = collector.split(":", 1)[0]
        key = (subscription.lower(), family)
        row = self._rows.get(key)
        if row is None:
            description = clean(f"{self._label(subscription)}  {family}")
            row = self._rows[key] = self._progress.add_task(description, total=None, status="")
        done = self._counts[row] = self._counts.get(row, 0) + 1
        # total == completed marks the row finished: each call reports a run that has ended.
        self._progress.update(row, completed=done, total=done, status=clean(status), visible=True)
        self._runs += 1
        self._failed += status != "ok"
        failed = f"{self._failed} failed" if self._failed else ""
        self._progress.update(self._total, completed=self._runs, status=failed)
        self._keep_visible(row)

    def _keep_visible(self, row: TaskID) -> None:
        if row in self._recent:
            self._recent.remove(row)
        self._recent.append(row)
        while len(self._recent) > MAX_ROWS:
            self._progress.update(self._recent.pop(0), visible=False)


@contextmanager
def scan_progress(
    enabled: bool, label: Callable[[str], str] = str, console: Console | None = None
) -> Iterator[Callback | None]:
    """The callback to hand to `collect.scan`, or None when the display is off."""
    if not enabled:
        yield None
        return
    from rich.console import Console

    display = make_progress(console or Console(stderr=True))
    with display, _redrawn(display):
        yield ScanProgress(display, label)


@contextmanager
def _redrawn(display: Progress) -> Iterator[None]:
    """Redraw the display REDRAWS_PER_SECOND times a second until the block ends, then wait for
    the thread that does it. rich's own redrawing thread is stopped but not waited for, and it
    lives up to a tenth of a second past the display. The analysis that follows a scan forks its
    NSG rules only from a process with one thread (rules/parallel.py); had that thread still been
    alive when it began, they would have run in one process, only on a terminal."""
    stop = threading.Event()

    def redraw() -> None:
        while not stop.wait(1 / REDRAWS_PER_SECOND):
            display.refresh()

    thread = threading.Thread(target=redraw, name="asr-audit-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(REDRAW_THREAD_EXIT)
