"""The table fits its width without breaking a word (issue 12: `COLUMNS=80 asr-audit demo` prints
no line over 80 characters and no word split), and the width comes from where the output goes.

"No word split" is checked against the same report laid out with room for everything: every
token printed at a narrow width must be a whole token of that wide layout (a trailing `…` says
the text was cut after it), so half a name, an id or a word would show up as a token the wide
layout never printed.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.cells import cell_len

from asr_audit import collect
from asr_audit.access.clouds import CLOUDS
from asr_audit.app import replay, runner
from asr_audit.app.cli import main
from asr_audit.app.terminal import FALLBACK_WIDTH, MIN_WIDTH, choose_width
from asr_audit.report import Report
from asr_audit.report.estate import estate_lines
from asr_audit.report.table import render

UNLIMITED = 100_000
WIDTHS = (60, 80, 100, 120)


@pytest.fixture(scope="module")
def demo() -> tuple[Report, dict[str, str]]:
    request = collect.ScanRequest(subscriptions=[], cloud=CLOUDS["AzureCloud"], all_subscriptions=True)
    inventory = replay.replay_scan(replay.DEMO_CASSETTE, request)
    names = {s.id: s.display_name or "" for s in inventory.subscriptions}
    return runner.audit(inventory, cloud=CLOUDS["AzureCloud"], thresholds=dict(replay.DEMO_THRESHOLDS)), names


def vocabulary(report: Report, names: dict[str, str], *, details: bool) -> set[str]:
    return set(render(report, width=UNLIMITED, details=details, subscription_names=names).split())


def split_words(text: str, whole: set[str]) -> list[str]:
    return [t for t in text.split() if t not in whole and t.rstrip("…") not in whole]


def too_wide(text: str, width: int) -> list[str]:
    return [line for line in text.splitlines() if cell_len(line) > width]


def test_the_demo_piped_with_columns_80_fits_and_splits_no_word(demo: tuple[Report, dict[str, str]]) -> None:
    """The issue's own check, as a user runs it: a real process, its stdout a pipe."""
    env = {**os.environ, "COLUMNS": "80"}
    done = subprocess.run(
        [sys.executable, "-m", "asr_audit", "demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert too_wide(done.stdout, 80) == []
    assert split_words(done.stdout, vocabulary(*demo, details=False)) == []
    counts = demo[0].by_severity()
    total = sum(counts.values())
    assert done.stdout.splitlines()[0].startswith(f"{total} findings: {counts['high']} high,")
    estate = demo[0].estate
    assert estate is not None
    summary = len(estate_lines(estate, 80))
    assert done.stdout.splitlines()[1].startswith("Subscriptions:")  # the estate first, then findings
    rules = {f.rule_id for f in demo[0].active}
    # one line per finding (under a heading per severity and rule), not a page per finding
    assert len(done.stdout.splitlines()) <= summary + total + len(rules) + len(counts) + 25


@pytest.mark.parametrize("width", WIDTHS)
def test_the_compact_demo_fits_every_width(demo: tuple[Report, dict[str, str]], width: int) -> None:
    report, names = demo
    text = render(report, width=width, subscription_names=names)
    assert too_wide(text, width) == []
    assert split_words(text, vocabulary(report, names, details=False)) == []
    assert report.estate is not None
    summary = set(estate_lines(report.estate, width))  # its wrapped values may start with a number
    findings = [line for line in text.splitlines() if line not in summary]
    rows = [line for line in findings if line.startswith("    ") and line.split()[0].isdigit()]
    assert len(rows) == len(report.active)  # every finding, one line each


@pytest.mark.parametrize("width", WIDTHS)
def test_the_detailed_demo_wraps_at_spaces(demo: tuple[Report, dict[str, str]], width: int) -> None:
    """Only a token wider than the line itself (a full ARM id, a URL) may run past the width,
    alone on its line, whole."""
    report, names = demo
    text = render(report, width=width, details=True, subscription_names=names)
    assert [line for line in too_wide(text, width) if len(line.split()) > 1] == []
    assert split_words(text, vocabulary(report, names, details=True)) == []
    assert text.count("Fix: ") == len(report.active)


def test_main_honours_columns_for_piped_output(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    assert main(["demo", "--quiet"]) == 0
    widths = [cell_len(line) for line in capsys.readouterr().out.splitlines()]
    assert 80 < max(widths) <= 100


def test_out_file_without_columns_is_80_wide(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    out = tmp_path / "report.txt"  # .txt: the table
    assert main(["demo", "--quiet", "--details", "--out", str(out)]) == 0
    text = out.read_text("utf-8")
    assert "Evidence:" in text and "\x1b" not in text
    assert [line for line in too_wide(text, 80) if len(line.split()) > 1] == []
    assert capsys.readouterr().out == ""


# --- the policy -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("columns", "width"),
    [
        (None, FALLBACK_WIDTH),
        ("132", 132),
        (" 90 ", 90),
        ("abc", FALLBACK_WIDTH),
        ("0", FALLBACK_WIDTH),
        ("20", MIN_WIDTH),
    ],
)
def test_a_pipe_or_file_is_columns_wide_else_80(columns: str | None, width: int) -> None:
    environ = {} if columns is None else {"COLUMNS": columns}
    assert choose_width(io.StringIO(), environ) == width
    assert choose_width(None, environ) == width  # --out


def test_a_terminal_gives_its_own_width_unless_columns_is_set() -> None:
    fcntl = pytest.importorskip("fcntl")
    termios = pytest.importorskip("termios")
    pty = pytest.importorskip("pty")
    import struct

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 132, 0, 0))
    try:
        with os.fdopen(follower, "w") as terminal:
            assert choose_width(terminal, {}) == 132
            assert choose_width(terminal, {"COLUMNS": "90"}) == 90
    finally:
        os.close(leader)
