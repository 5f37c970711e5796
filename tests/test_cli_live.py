"""The CLI end to end against a live loopback ARM: `--arm-endpoint`, a pre-acquired token in
ASR_AUDIT_ACCESS_TOKEN and TLS trust from REQUESTS_CA_BUNDLE, exactly as an operator would run
it against Azure Stack Hub or a private endpoint. Nothing is stubbed between argv and HTTPS."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fakearm import FakeArm

from asr_audit.app.cli import main

PROD = "b7e4a1d9-2c3f-4e58-9a6b-1d0f8e7c5a32"
CONN = "5d2c8f1a-7e9b-4a3c-b6d4-0e1f2a3b4c5d"
HEALTHY = "3c9d2e71-5b4a-4f86-a0d3-7e1b9c6f2a58"


@pytest.fixture
def live(fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeArm]:
    def start(scenario: str, token: str = "test-token") -> FakeArm:
        arm = fake_arm(scenario)
        monkeypatch.setenv("ASR_AUDIT_ACCESS_TOKEN", token)
        monkeypatch.setenv("ASR_AUDIT_ARM_ENDPOINT", arm.url)
        return arm

    return start


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_complete_healthy_scan_exits_0_and_sends_only_get(
    live: Callable[..., FakeArm], capsys: pytest.CaptureFixture[str]
) -> None:
    arm = live("healthy")
    code, out, err = run(capsys, "--subscription", HEALTHY, "--output", "json", "--quiet")
    doc = json.loads(out)
    assert (code, err) == (0, "")
    assert doc["findings"] == [] and doc["coverage"] and all(c["status"] == "ok" for c in doc["coverage"])
    assert {r.method for r in arm.requests} == {"GET"}
    assert any("/replicationProtectedItems" in r.path for r in arm.requests)


def test_a_403_on_one_collector_is_a_listed_gap_and_the_findings_still_come(
    live: Callable[..., FakeArm], capsys: pytest.CaptureFixture[str]
) -> None:
    arm = live("broken")
    code, out, _ = run(
        capsys,
        "--subscription",
        "Fabrikam Prod",
        "--subscription",
        CONN,
        "--output",
        "json",
        "--fail-on",
        "none",
    )
    doc = json.loads(out)
    gaps = [
        (c["subscription_id"], c["collector"], c["status"]) for c in doc["coverage"] if c["status"] != "ok"
    ]
    assert gaps == [(CONN, "route_tables", "forbidden")]
    assert code == 4  # nothing else fails the run (--fail-on none), so the gap decides
    assert len({f["rule_id"] for f in doc["findings"]}) > 20
    assert {r.method for r in arm.requests} == {"GET"}


def test_the_live_scan_and_its_saved_snapshot_give_the_same_findings(
    live: Callable[..., FakeArm], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    live("broken")
    snapshot = tmp_path / "estate.json"
    _, out, _ = run(
        capsys, "--all-subscriptions", "--save-snapshot", str(snapshot), "--output", "json", "--quiet"
    )
    _, again, _ = run(capsys, "--snapshot", str(snapshot), "--output", "json", "--quiet")
    scanned, offline = json.loads(out), json.loads(again)
    assert scanned["findings"] and offline["findings"] == scanned["findings"]


def test_a_rejected_token_is_exit_3_in_one_line(
    live: Callable[..., FakeArm], capsys: pytest.CaptureFixture[str]
) -> None:
    live("healthy", token="expired-or-forged")
    code, out, err = run(capsys, "--subscription", HEALTHY)
    assert code == 3 and out == ""
    assert err.count("\n") == 1 and err.startswith("asr-audit: error: ") and "token" in err.lower()


def test_a_name_that_no_subscription_has_is_exit_2_listing_the_readable_ones(
    live: Callable[..., FakeArm], capsys: pytest.CaptureFixture[str]
) -> None:
    live("broken")
    code, _, err = run(capsys, "--subscription", "not-a-guid")
    assert code == 2 and err.count("\n") == 1
    assert "Fabrikam Prod" in err and "Fabrikam Connectivity" in err


def test_a_name_cannot_be_resolved_with_a_rejected_token_and_says_so(
    live: Callable[..., FakeArm], capsys: pytest.CaptureFixture[str]
) -> None:
    live("broken", token="expired-or-forged")
    code, _, err = run(capsys, "--subscription", "not-a-guid")
    assert code == 2 and err.count("\n") == 1
    assert "'not-a-guid' is not a subscription id" in err


def test_a_malformed_id_is_a_usage_error_before_any_request(
    live: Callable[..., FakeArm], capsys: pytest.CaptureFixture[str]
) -> None:
    arm = live("healthy")
    code, _, err = run(capsys, "--subscription", "3c9d2e71-5b4a-4f86-a0d3-7e1b9c6f2zzz")
    assert code == 2 and "malformed subscription id" in err
    assert arm.requests == []


def test_an_unreadable_subscription_id_is_exit_3(
    live: Callable[..., FakeArm], capsys: pytest.CaptureFixture[str]
) -> None:
    live("healthy")
    code, _, err = run(capsys, "--subscription", "00000000-0000-0000-0000-0000000000aa")
    assert code == 3 and "not found or not readable" in err


# --- fail closed before and after the scan (DESIGN.md §8.2) -----------------------------------------


@pytest.mark.parametrize("flag", ["--out", "--save-snapshot"])
def test_an_output_in_a_missing_directory_is_exit_2_before_any_request(
    live: Callable[..., FakeArm], capsys: pytest.CaptureFixture[str], tmp_path: Path, flag: str
) -> None:
    arm = live("healthy")
    target = tmp_path / "no-such-dir" / "out.json"
    code, out, err = run(capsys, "--subscription", HEALTHY, flag, str(target))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and f"cannot write {'snapshot ' if 'snap' in flag else ''}{target}" in err
    assert arm.requests == []
    assert not target.parent.exists()


def test_an_output_check_leaves_no_file_behind(
    live: Callable[..., FakeArm], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    live("healthy", token="expired-or-forged")  # the scan fails after the check
    assert run(capsys, "--subscription", HEALTHY, "--out", str(tmp_path / "r.json"))[0] == 3
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("status", "coverage_status"),
    [(403, "forbidden"), (501, "error")],  # 501 is not retried, so the test stays fast; 500 ends alike
)
def test_nothing_read_is_exit_3_whatever_the_cause_and_the_report_is_still_written(
    live: Callable[..., FakeArm],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    status: int,
    coverage_status: str,
) -> None:
    """The subscription itself is readable, every list in it fails: nothing in scope was read.
    This used to exit 4, which pipelines may tolerate."""
    arm = live("healthy")
    arm.add_fault(r"/providers/", status)
    arm.add_fault(r"/resources$", status)
    report = tmp_path / "report.json"
    code, _, err = run(
        capsys, "--subscription", HEALTHY, "--output", "json", "--out", str(report), "--fail-on", "none"
    )
    doc = json.loads(report.read_text("utf-8"))
    runs = [c for c in doc["coverage"] if c["collector"] != "subscription"]
    assert runs and all(c["status"] != "ok" for c in runs)
    assert sum(c["status"] == coverage_status for c in runs) == len(runs) - 1  # and service_tags: no location
    assert code == 3
    [line] = [line for line in err.splitlines() if line.startswith("asr-audit: error: ")]
    assert f"nothing in scope could be read: {len(runs)} of {len(runs)} collector runs failed" in line
    assert f"{len(runs) - 1} {coverage_status}" in line
    assert "scan incomplete" not in err
