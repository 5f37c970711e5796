"""Faults around the scan (DESIGN.md §8.2): a killed or failing write never damages the previous
report or snapshot, and no output (any report format, stderr, a saved snapshot) holds a token."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path

import pytest

from asr_audit import atomic_write as files
from asr_audit.app.cli import main
from asr_audit.errors import UsageError
from asr_audit.findings import Finding, RuleMeta, Severity
from asr_audit.inventory import (
    SERVICE_TAGS,
    SUBSCRIPTION_COLLECTORS,
    Coverage,
    Inventory,
    Subscription,
    VirtualMachine,
)
from asr_audit.report import FORMATS
from asr_audit.rules import catalog as rule_catalog
from asr_audit.rules.base import Context, Rule
from asr_audit.rules.catalog import Catalog

REPO = Path(__file__).resolve().parent.parent
SUB = "7b1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQifQ.c2lnbmF0dXJlLXBhcnQ"
OPAQUE = "opaque-secret-4711"


def temp_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.endswith(".tmp"))


# --- atomic writes -------------------------------------------------------------------------------------


def test_a_write_that_fails_midway_keeps_the_previous_file_and_removes_the_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.json"
    target.write_text("yesterday\n", "utf-8")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", disk_full)
    with pytest.raises(UsageError, match=r"cannot write .*report\.json: No space left on device"):
        files.write_chunks_atomic(target, ["today\n"] * 100_000)
    assert target.read_text("utf-8") == "yesterday\n"
    assert temp_files(tmp_path) == []


def test_an_interrupt_midway_removes_the_temp_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "estate.json"

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        files.write_chunks_atomic(target, ["{}"])
    assert list(tmp_path.iterdir()) == []


def test_a_replaced_file_keeps_its_permissions_and_a_symlink_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old", "utf-8")
    real.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    files.write_chunks_atomic(link, ["new"])
    assert link.is_symlink() and real.read_text("utf-8") == "new"
    assert real.stat().st_mode & 0o777 == 0o640
    assert temp_files(tmp_path) == []


def test_a_device_or_pipe_is_written_in_place_never_replaced(tmp_path: Path) -> None:
    """`--out /dev/stdout` (a link to a pipe) or `/dev/null`: a rename would destroy them."""
    import stat

    files.check_writable("/dev/null")
    files.write_chunks_atomic("/dev/null", ["report"])
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        files.write_chunks_atomic(fifo, ["through the pipe"])
        assert os.read(reader, 100) == b"through the pipe"
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and temp_files(tmp_path) == []


def test_check_writable_refuses_a_directory_and_a_missing_parent(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="Is a directory"):
        files.check_writable(tmp_path)
    with pytest.raises(UsageError, match=r"cannot write snapshot .*: No such file or directory"):
        files.check_writable(tmp_path / "missing" / "s.json", what="snapshot")
    files.check_writable(tmp_path / "fine.json")
    assert list(tmp_path.iterdir()) == []


# A child process that writes through the real code path and stops for good after the first
# KiB reach the temporary file: killed there with SIGKILL, it cannot clean up anything.
STALL_MIDWAY = textwrap.dedent(
    """
    import os, sys, time
    real_write = os.write
    def stalling_write(fd, data):
        if fd > 2:
            real_write(fd, bytes(data[:1024]))
            sys.stdout.write("stalled\\n")
            sys.stdout.flush()
            time.sleep(120)
        return real_write(fd, data)
    os.write = stalling_write
    """
)


def kill_midway(script: str, tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", STALL_MIDWAY + textwrap.dedent(script)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line == "stalled\n", child.stderr.read() if child.stderr else line
        [temp] = temp_files(tmp_path)
        assert temp.stat().st_size == 1024  # the new text is part written, beside the old file
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL


def big_estate(vms: int = 3000) -> Inventory:
    return Inventory(
        subscriptions=[Subscription(SUB)],
        coverage=[Coverage(SUB, c, "ok") for c in (*SUBSCRIPTION_COLLECTORS, SERVICE_TAGS)],
        virtual_machines=[
            VirtualMachine(
                id=f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-{i}",
                name=f"high-vm-{i}",
                location="westeurope",
            )
            for i in range(vms)
        ],
    )


def test_sigkill_during_save_snapshot_leaves_the_previous_snapshot_intact(tmp_path: Path) -> None:
    target = tmp_path / "estate.json"
    previous = Inventory(subscriptions=[Subscription(SUB)])
    previous.save(target)
    before = target.read_bytes()
    kill_midway(
        f"""
        from asr_audit.inventory import Inventory
        sys.path.insert(0, {str(REPO / "tests")!r})
        from test_fault_cli import big_estate
        big_estate().save({str(target)!r})
        """,
        tmp_path,
    )
    assert target.read_bytes() == before
    assert Inventory.load(target).subscriptions == previous.subscriptions


def test_sigkill_during_out_leaves_the_previous_report_intact(tmp_path: Path) -> None:
    snapshot = tmp_path / "in" / "estate.json"
    snapshot.parent.mkdir()
    big_estate().save(snapshot)
    target = tmp_path / "report.json"
    target.write_text('{"previous": true}\n', "utf-8")
    kill_midway(
        f"""
        from asr_audit.app.cli import main
        main(["--snapshot", {str(snapshot)!r}, "--output", "json", "--out", {str(target)!r}, "--quiet"])
        """,
        tmp_path,
    )
    assert json.loads(target.read_text("utf-8")) == {"previous": True}


# --- no output holds a token ------------------------------------------------------------------------

LEAKY = RuleMeta(
    id="VM-TEST-LEAK",
    title="Quotes an error",
    severity=Severity.HIGH,
    category="machines",
    rationale="test rule: its message quotes a server error that echoed the request headers",
    remediation="-",
    microsoft_docs="https://example.invalid/VM-TEST-LEAK",
    source="tests",
)


@pytest.fixture
def leaky_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    def leak(ctx: Context) -> Iterable[Finding]:
        for vm in ctx.inventory.virtual_machines:
            yield LEAKY.finding(
                resource_id=vm.id,
                message=f"ARM said: Authorization: Bearer {JWT} was refused for {vm.name}",
                resource_type="Microsoft.Compute/virtualMachines",
                region=vm.location,
                evidence={"request": f"authorization={OPAQUE}", "token": JWT},
            )

    leaky_catalog = Catalog([Rule(LEAKY, leak)])
    monkeypatch.setattr(rule_catalog, "default_catalog", lambda: leaky_catalog)


def leaky_estate() -> Inventory:
    inventory = big_estate(vms=1)
    inventory.coverage.append(
        Coverage(
            SUB,
            "route_tables",
            "error",
            detail=f"HTTP 400: header 'Authorization: Bearer {OPAQUE}' malformed; echoed {JWT}",
        )
    )
    return inventory


def assert_no_token(text: str, where: str) -> None:
    assert JWT not in text and OPAQUE not in text, where
    assert JWT[:20] not in text, where  # not even a prefix survives escaping
    assert "redacted" in text, where  # Markdown and SARIF escape the brackets


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_no_report_format_holds_a_bearer_token(
    leaky_rule: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    path = tmp_path / "snap.json"
    leaky_estate().save(path)
    code = main(["--snapshot", str(path), "--output", fmt, "--fail-on", "none"])
    out, err = capsys.readouterr()
    assert code == 4
    assert_no_token(out, fmt)
    assert JWT not in err and OPAQUE not in err


def test_a_saved_snapshot_holds_no_bearer_token(tmp_path: Path) -> None:
    path = tmp_path / "snap.json"
    leaky_estate().save(path)
    text = path.read_text("utf-8")
    assert_no_token(text, "snapshot")
    [gap] = [c for c in Inventory.load(path).coverage if c.is_gap]
    assert gap.detail == "HTTP 400: header 'Authorization: [redacted]' malformed; echoed [redacted]"


def test_stderr_holds_no_bearer_token(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from asr_audit.app.cli import _Stderr

    _Stderr(mask=False).error(f"ARM rejected the token: Authorization: Bearer {JWT}")
    err = capsys.readouterr().err
    assert err == "asr-audit: error: ARM rejected the token: Authorization: [redacted]\n"
