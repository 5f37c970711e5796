"""The scan progress display: when it is on, what the scan's callback does to it, and that it
stays on stderr (stdout may carry a report into a pipe)."""

from __future__ import annotations

import io
import json
import sys
import threading
import time
from typing import Any

import pytest
from rich.console import Console
from rich.progress import Progress, Task

from asr_audit import collect
from asr_audit.access import credential as auth
from asr_audit.app.cli import main
from asr_audit.app.masking import mask_guids
from asr_audit.app.progress import MAX_ROWS, ScanProgress, make_progress, scan_progress, wanted
from asr_audit.inventory import Coverage, Inventory, Subscription

SUB_A = "7b1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
SUB_B = "0c9d8e7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f"


class Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def terminal() -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=120)


@pytest.fixture
def display() -> tuple[Progress, ScanProgress]:
    progress = make_progress(terminal())
    return progress, ScanProgress(progress)


def rows(progress: Progress) -> dict[str, Task]:
    """Tasks by description, the total row excluded."""
    return {t.description: t for t in progress.tasks[1:]}


def rendered(progress: Progress) -> str:
    console = progress.console
    console.print(progress.get_renderable())
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


# --- on or off -------------------------------------------------------------------------------------


def test_on_only_for_a_terminal_and_not_quiet() -> None:
    assert wanted(quiet=False, stream=Stream(tty=True)) is True
    assert wanted(quiet=True, stream=Stream(tty=True)) is False
    assert wanted(quiet=False, stream=Stream(tty=False)) is False


def test_a_closed_or_odd_stream_means_off() -> None:
    closed = io.StringIO()
    closed.close()
    assert wanted(quiet=False, stream=closed) is False  # isatty() raises ValueError
    assert wanted(quiet=False, stream=object()) is False  # type: ignore[arg-type]


def test_off_gives_no_callback() -> None:
    with scan_progress(False) as callback:
        assert callback is None


# --- what the callback counts ----------------------------------------------------------------------


def test_each_call_advances_its_subscription_collector_row_and_the_total(
    display: tuple[Progress, ScanProgress],
) -> None:
    progress, callback = display
    callback(SUB_A, "virtual_networks", "ok")
    callback(SUB_A, "protected_items:rsv-east", "ok")
    callback(SUB_A, "protected_items:rsv-west", "ok")  # per-vault runs count on one row
    callback(SUB_B, "virtual_networks", "ok")
    by_name = rows(progress)
    assert {name: task.completed for name, task in by_name.items()} == {
        f"{SUB_A}  virtual_networks": 1,
        f"{SUB_A}  protected_items": 2,
        f"{SUB_B}  virtual_networks": 1,
    }
    assert all(task.finished for task in by_name.values())  # each call reports a finished run
    total = progress.tasks[0]
    assert total.completed == 4 and total.fields["status"] == ""
    assert not total.finished  # the number of runs is not known in advance


def test_a_case_variant_subscription_id_is_the_same_row(display: tuple[Progress, ScanProgress]) -> None:
    progress, callback = display
    callback(SUB_A, "disks", "ok")
    callback(SUB_A.upper(), "disks", "ok")
    assert [t.completed for t in progress.tasks[1:]] == [2]


def test_failures_are_counted_and_shown(display: tuple[Progress, ScanProgress]) -> None:
    progress, callback = display
    callback(SUB_A, "route_tables", "forbidden")
    callback(SUB_A, "disks", "ok")
    callback(SUB_B, "route_tables", "throttled")
    assert progress.tasks[0].fields["status"] == "2 failed"
    assert rows(progress)[f"{SUB_A}  route_tables"].fields["status"] == "forbidden"
    assert "2 failed" in rendered(progress)


def test_only_the_most_recent_rows_stay_visible(display: tuple[Progress, ScanProgress]) -> None:
    progress, callback = display
    collectors = [f"collector_{i:02d}" for i in range(MAX_ROWS + 3)]
    for name in collectors:
        callback(SUB_A, name, "ok")
    visible = [t.description for t in progress.tasks[1:] if t.visible]
    assert visible == [f"{SUB_A}  {n}" for n in collectors[3:]]
    assert progress.tasks[0].visible and progress.tasks[0].completed == MAX_ROWS + 3
    callback(SUB_A, collectors[0], "ok")  # an update brings a hidden row back
    assert rows(progress)[f"{SUB_A}  {collectors[0]}"].visible
    assert not rows(progress)[f"{SUB_A}  {collectors[3]}"].visible


def test_names_print_literally(display: tuple[Progress, ScanProgress]) -> None:
    progress, callback = display
    callback("[bold]sub\x1b[2J", "disks", "[red]error")
    text = rendered(progress)
    assert "[bold]sub\\x1b[2J" in text and "[red]error" in text
    assert "\x1b[2J" not in text


def test_the_label_masks_subscription_ids() -> None:
    progress = make_progress(terminal())
    callback = ScanProgress(progress, label=mask_guids)
    callback(SUB_A, "disks", "ok")
    text = rendered(progress)
    assert SUB_A not in text and "********-****-****-****-********4e5f" in text


def test_the_display_draws_on_its_console_and_clears_itself() -> None:
    console = terminal()
    with scan_progress(True, console=console) as callback:
        assert callback is not None
        callback(SUB_A, "virtual_networks", "ok")
    assert isinstance(console.file, io.StringIO)
    assert "virtual_networks" in console.file.getvalue()


def test_the_display_keeps_redrawing_while_nothing_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its spinner turns while a slow list is read, from a thread other than the caller's."""
    drawn_by: list[str] = []
    real_refresh = Progress.refresh

    def refresh(self: Progress) -> None:
        drawn_by.append(threading.current_thread().name)
        real_refresh(self)

    monkeypatch.setattr(Progress, "refresh", refresh)
    with scan_progress(True, console=terminal()) as callback:
        assert callback is not None
        time.sleep(0.6)  # six redraws due; two leave room for a loaded machine
    assert drawn_by.count("asr-audit-progress") >= 2


def test_no_thread_of_the_display_outlives_it() -> None:
    """The analysis after a scan forks only a process with one thread (rules/parallel.py)."""
    before = set(threading.enumerate())
    with scan_progress(True, console=terminal()) as callback:
        assert callback is not None
        callback(SUB_A, "virtual_networks", "ok")
        time.sleep(0.25)  # the display redraws in the meantime
    assert set(threading.enumerate()) - before == set()


# --- through the command line ---------------------------------------------------------------------


@pytest.fixture
def fake_scan(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """`collect.scan` reporting a few collector runs to whatever callback the CLI gives it."""
    callbacks: list[Any] = []

    def scan(request: collect.ScanRequest, credential: Any, progress: Any = None) -> Inventory:
        callbacks.append(progress)
        if progress is not None:
            progress(SUB_A, "virtual_networks", "ok")
            progress(SUB_A, "route_tables", "forbidden")
        return Inventory(
            subscriptions=[Subscription(SUB_A)],
            coverage=[Coverage(SUB_A, "virtual_networks", "ok")],
        )

    monkeypatch.setattr(auth, "make_credential", lambda cloud: object())
    monkeypatch.setattr(collect, "scan", scan)
    monkeypatch.delenv("ASR_AUDIT_ARM_ENDPOINT", raising=False)
    return callbacks


def test_progress_goes_to_stderr_never_to_stdout(
    fake_scan: list[Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code = main(["--subscription", SUB_A, "--output", "json", "--source-region", "westeurope"])
    out, err = capsys.readouterr()
    assert code == 0 and isinstance(fake_scan[0], ScanProgress)
    assert json.loads(out)["scope"]["subscriptions"] == [SUB_A]  # stdout is the report, nothing else
    assert "route_tables" in err and "1 failed" in err


def test_no_progress_when_quiet_or_not_a_terminal(
    fake_scan: list[Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    main(["--subscription", SUB_A, "--output", "json"])
    assert fake_scan[-1] is None and "route_tables" not in capsys.readouterr().err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    main(["--subscription", SUB_A, "--output", "json", "--quiet"])
    assert fake_scan[-1] is None and capsys.readouterr().err == ""


def test_masked_progress(
    fake_scan: list[Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    main(["--subscription", SUB_A, "--output", "json", "--mask"])
    out, err = capsys.readouterr()
    assert "route_tables" in err
    assert SUB_A not in err and SUB_A not in out
