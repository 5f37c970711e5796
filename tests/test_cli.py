"""The command line: exit codes, flag validation, snapshot round trips, error lines, lazy imports.

The rule registry is replaced by two test rules so each case controls exactly which findings
exist; live scans go through a monkeypatched `collect.scan` and `auth.make_credential` (the
end-to-end runs on recorded cassettes live elsewhere).
"""

from __future__ import annotations

import dataclasses
import gc
import json
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from asr_audit import collect, heap
from asr_audit.access import credential as auth
from asr_audit.access.clouds import CLOUDS
from asr_audit.app import cli, replay, runner
from asr_audit.app.cli import main
from asr_audit.errors import AuthError, UsageError
from asr_audit.findings import Finding, RuleMeta, Severity
from asr_audit.inventory import (
    SERVICE_TAGS,
    SUBSCRIPTION_COLLECTORS,
    Coverage,
    Inventory,
    NetworkMapping,
    Subscription,
    Vault,
    VirtualMachine,
)
from asr_audit.rules import catalog as rule_catalog
from asr_audit.rules.base import Context, Rule
from asr_audit.rules.catalog import Catalog

SCHEMA = json.loads((Path(__file__).parent / "data" / "asr-audit-report.schema.json").read_text("utf-8"))
SUB = "7b1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
REPO = Path(__file__).resolve().parent.parent
REAL_CATALOG = rule_catalog.default_catalog

FLAG = RuleMeta(
    id="VM-TEST-FLAG",
    title="Flagged VM",
    severity=Severity.HIGH,
    category="machines",
    rationale="test rule: a VM named <severity>-... is flagged at that severity",
    remediation="Rename the VM.",
    microsoft_docs="https://example.invalid/VM-TEST-FLAG",
    source="tests",
)
QUIET = RuleMeta(
    id="NIC-TEST-QUIET",
    title="Never fires",
    severity=Severity.LOW,
    category="network",
    rationale="test rule: records the context it was given",
    remediation="-",
    microsoft_docs="https://example.invalid/NIC-TEST-QUIET",
    source="tests",
)


@dataclass
class Registry:
    contexts: list[Context] = field(default_factory=list)


@pytest.fixture(autouse=True)
def test_rules(monkeypatch: pytest.MonkeyPatch) -> Registry:
    seen = Registry()
    severities = {s.value for s in Severity}

    def flag(ctx: Context) -> Iterable[Finding]:
        for vm in ctx.inventory.virtual_machines:
            prefix = vm.name.split("-", 1)[0]
            if prefix in severities:
                yield FLAG.finding(
                    resource_id=vm.id,
                    message=f"{vm.name} is flagged",
                    resource_type="Microsoft.Compute/virtualMachines",
                    region=vm.location,
                    severity=Severity(prefix),
                )

    def quiet(ctx: Context) -> Iterable[Finding]:
        seen.contexts.append(ctx)
        return []

    # The CLI runs (and lists) the default catalog: these tests make it one of test rules.
    test_catalog = Catalog([Rule(FLAG, flag), Rule(QUIET, quiet)])
    monkeypatch.setattr(rule_catalog, "default_catalog", lambda: test_catalog)
    monkeypatch.delenv("ASR_AUDIT_ARM_ENDPOINT", raising=False)
    monkeypatch.delenv("ASR_AUDIT_DEBUG", raising=False)
    return seen


def vm(name: str, location: str = "westeurope") -> VirtualMachine:
    rid = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/{name}"
    return VirtualMachine(id=rid, name=name, location=location)


def complete(subscription: str = SUB) -> list[Coverage]:
    """Every subscription-wide collector read: what the snapshot of a complete scan records."""
    return [Coverage(subscription, c, "ok") for c in (*SUBSCRIPTION_COLLECTORS, SERVICE_TAGS)]


def estate(*names: str, gaps: Iterable[Coverage] = (), cloud: str = "AzureCloud") -> Inventory:
    return Inventory(
        cloud=cloud,
        subscriptions=[Subscription(SUB, "Production")],
        coverage=[*complete(), *gaps],
        virtual_machines=[vm(n) for n in names],
    )


def snapshot(tmp_path: Path, inventory: Inventory, name: str = "snap.json") -> str:
    path = tmp_path / name
    inventory.save(path)
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def error_line(err: str) -> str:
    """Errors are exactly one line, never a traceback."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("asr-audit: error: "), err
    return lines[0]


# --- exit codes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "fail_on", "expected"),
    [
        (("high-a",), "high", 1),
        (("high-a",), "critical", 0),
        (("high-a",), "none", 0),
        (("medium-a",), "high", 0),
        (("medium-a",), "medium", 1),
        (("critical-a",), "high", 1),
        (("info-a",), "info", 1),
        (("info-a",), "low", 0),
        (("fine-a",), "info", 0),
        ((), "info", 0),
    ],
)
def test_exit_code_follows_fail_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], names: tuple[str, ...], fail_on: str, expected: int
) -> None:
    code, _, _ = run(
        capsys, "--snapshot", snapshot(tmp_path, estate(*names)), "--fail-on", fail_on, "--quiet"
    )
    assert code == expected


def test_default_fail_on_is_high(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--snapshot", snapshot(tmp_path, estate("high-a")), "--quiet")[0] == 1
    assert run(capsys, "--snapshot", snapshot(tmp_path, estate("medium-a")), "--quiet")[0] == 0


def test_the_console_command_leaves_its_heap_to_the_process_end_and_main_does_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = snapshot(tmp_path, estate("high-a"))
    frozen = gc.get_freeze_count()
    events: list[str] = []
    read = cli._inventory
    monkeypatch.setattr(heap, "few_malloc_arenas", lambda: events.append("malloc arenas limited"))
    monkeypatch.setattr(cli, "_inventory", lambda args: (events.append("inventory read"), read(args))[1])
    assert run(capsys, "--snapshot", path, "--quiet")[0] == 1
    assert gc.isenabled() and gc.get_freeze_count() == frozen  # tests and library callers keep it
    assert events == ["inventory read"]  # and their process's allocator
    monkeypatch.setattr(sys, "argv", ["asr-audit", "--snapshot", path, "--quiet"])
    try:
        with pytest.raises(SystemExit) as ended:
            cli.run()
        assert ended.value.code == 1  # the same exit code as `main`
        assert events[1:] == ["malloc arenas limited", "inventory read"]  # before a scan's threads
        assert not gc.isenabled()  # off once the inventory was read
        assert gc.get_freeze_count() > frozen  # nothing left for the interpreter's last collection
    finally:
        gc.unfreeze()
        gc.enable()


GAP = Coverage(SUB, "network", "forbidden", detail="AuthorizationFailed")


@pytest.mark.parametrize(
    ("names", "fail_on", "expected"),
    [
        ((), "high", 4),
        (("low-a",), "high", 4),
        (("high-a",), "high", 1),  # failing findings win over an incomplete scan
        (("high-a",), "none", 4),
    ],
)
def test_incomplete_scan_exits_4_unless_findings_fail_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], names: tuple[str, ...], fail_on: str, expected: int
) -> None:
    path = snapshot(tmp_path, estate(*names, gaps=[GAP]))
    code, _, err = run(capsys, "--snapshot", path, "--fail-on", fail_on)
    assert code == expected
    assert "scan incomplete: 1 collector run(s) failed" in err


@pytest.mark.parametrize(("names", "fail_on"), [((), "high"), (("critical-a",), "high"), ((), "none")])
def test_a_snapshot_in_which_nothing_was_read_exits_3_over_findings_and_gaps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], names: tuple[str, ...], fail_on: str
) -> None:
    inventory = estate(*names)
    inventory.coverage = [Coverage(SUB, "subscription", "ok", items=1)] + [
        dataclasses.replace(c, status="error", detail="connection refused") for c in complete()
    ]
    out_file = tmp_path / "report.json"
    code, _, err = run(
        capsys, "--snapshot", snapshot(tmp_path, inventory), "--fail-on", fail_on,
        "--output", "json", "--out", str(out_file), "--quiet",
    )  # fmt: skip
    n = len(complete())
    assert code == 3
    assert error_line(err) == (
        f"asr-audit: error: nothing in scope could be read: {n} of {n} collector runs failed "
        f"({n} error: connection refused)"
    )
    assert json.loads(out_file.read_text("utf-8"))["coverage"]  # the report is still written


def test_one_collector_that_read_something_keeps_gaps_at_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory = estate()
    inventory.coverage = [
        dataclasses.replace(c, status="partial" if c.collector == "disks" else "forbidden")
        for c in complete()
    ]
    assert run(capsys, "--snapshot", snapshot(tmp_path, inventory), "--quiet")[0] == 4


def test_suppressed_findings_never_fail_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "suppress.yaml"
    rules.write_text(
        "- rule: VM-TEST-*\n"
        "  resource: '*/virtualMachines/critical-a'\n"
        "  reason: accepted\n"
        "  expires: 2999-12-31\n"
    )
    path = snapshot(tmp_path, estate("critical-a"))
    code, out, _ = run(
        capsys, "--snapshot", path, "--suppressions", str(rules), "--output", "json", "--quiet"
    )
    doc = json.loads(out)
    assert code == 0
    assert doc["findings"][0]["suppressed"] is True
    assert doc["summary"]["suppressed"] == 1 and doc["summary"]["total"] == 0


def test_expired_suppression_no_longer_suppresses_and_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "suppress.yaml"
    rules.write_text("- rule: VM-TEST-FLAG\n  resource: '*'\n  reason: old\n  expires: 2001-01-01\n")
    path = snapshot(tmp_path, estate("high-a"))
    code, out, err = run(capsys, "--snapshot", path, "--suppressions", str(rules), "--output", "json")
    assert code == 1
    assert json.loads(out)["suppressions"][0]["status"] == "expired"
    assert "expired on 2001-01-01" in err


def suppress(tmp_path: Path, *names: str) -> str:
    path = tmp_path / "suppress.yaml"
    entries = "".join(
        f"- rule: VM-TEST-FLAG\n  resource: '*/virtualMachines/{n}'\n"
        "  reason: accepted\n  expires: 2999-12-31\n"
        for n in names
    )
    path.write_text(entries or "[]\n")
    return str(path)


@pytest.mark.parametrize(
    ("fail_on", "suppressed", "expected"),
    [
        ("high", (), 1),
        ("high", ("high-a",), 0),  # the only high finding is accepted; medium-b is below the bar
        ("medium", ("high-a",), 1),  # medium-b still fails a medium gate
        ("medium", ("high-a", "medium-b"), 0),
        ("info", ("high-a", "medium-b"), 0),
        ("none", (), 0),
    ],
)
def test_exit_code_follows_fail_on_with_suppressions(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fail_on: str,
    suppressed: tuple[str, ...],
    expected: int,
) -> None:
    path = snapshot(tmp_path, estate("high-a", "medium-b"))
    argv = ["--snapshot", path, "--fail-on", fail_on, "--output", "json", "--quiet"]
    code, out, _ = run(capsys, *argv, "--suppressions", suppress(tmp_path, *suppressed))
    assert code == expected
    doc = json.loads(out)
    assert sorted(f["resource_id"].rsplit("/", 1)[-1] for f in doc["findings"] if f["suppressed"]) == sorted(
        suppressed
    )


def test_suppressed_failing_finding_leaves_an_incomplete_scan_at_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = snapshot(tmp_path, estate("high-a", gaps=[GAP]))
    assert run(capsys, "--snapshot", path, "--quiet")[0] == 1
    assert run(capsys, "--snapshot", path, "--suppressions", suppress(tmp_path, "high-a"), "--quiet")[0] == 4


def test_runner_exit_code_ignores_suppressed_findings() -> None:
    report = runner.audit(estate("critical-a"), cloud=CLOUDS["AzureCloud"])
    assert runner.exit_code(report, "info") == 1
    report.findings[0].suppressed = True
    assert runner.exit_code(report, "info") == 0


# --- inputs and flags ------------------------------------------------------------------------------


def test_no_source_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys)
    assert code == 2 and out == ""
    assert "--subscription" in error_line(err)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--source-region", "west europe!"], "invalid region"),
        (["--target-region", ""], "invalid region"),
        (["--concurrency", "0"], "invalid concurrency"),
        (["--concurrency", "65"], "invalid concurrency"),
        (["--concurrency", "many"], "invalid concurrency"),
        (["--arm-endpoint", "http://management.azure.com"], "invalid ARM endpoint"),
        (["--arm-endpoint", "https://"], "invalid ARM endpoint"),
        (["--arm-endpoint", "https://arm.example:port"], "invalid ARM endpoint"),
        (["--output", "yaml"], "invalid choice"),
        (["--fail-on", "severe"], "invalid choice"),
        (["--subscription", SUB, "--snapshot", "x.json"], "not allowed with"),
        (["--subscription", "  "], "empty subscription"),
        (["--resource-group", " "], "invalid resource group"),
        (["--resource-group", f"/subscriptions/{SUB}/resourceGroups/rg-app"], "invalid resource group"),
    ],
)
def test_bad_flags_exit_2_with_argparse_usage(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("usage: asr-audit")
    assert message in err.splitlines()[-1]
    assert "Traceback" not in err


def test_regions_are_normalised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], test_rules: Registry
) -> None:
    path = snapshot(tmp_path, estate())
    code, out, _ = run(
        capsys,
        "--snapshot",
        path,
        "--source-region",
        "West Europe",
        "--target-region",
        "NorthEurope",
        "--output",
        "json",
    )
    assert code == 0
    assert json.loads(out)["scope"]["source_region"] == "westeurope"
    assert (test_rules.contexts[-1].source_region, test_rules.contexts[-1].target_region) == (
        "westeurope",
        "northeurope",
    )


@pytest.mark.parametrize("flag", ["--rules", "--skip-rules"])
def test_unknown_rule_id_lists_valid_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    code, _, err = run(capsys, "--snapshot", snapshot(tmp_path, estate()), flag, "VM-TEST-FLAG,NET-NOPE")
    assert code == 2
    line = error_line(err)
    assert "NET-NOPE" in line and "valid ids: NIC-TEST-QUIET, VM-TEST-FLAG" in line


def test_rule_selection_and_skipping(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = snapshot(tmp_path, estate("critical-a"))
    code, out, _ = run(capsys, "--snapshot", path, "--rules", "nic-test-quiet", "--output", "json")
    assert code == 0 and json.loads(out)["rules_run"] == ["NIC-TEST-QUIET"]
    code, out, _ = run(capsys, "--snapshot", path, "--skip-rules", "VM-TEST-FLAG", "--output", "json")
    assert code == 0 and json.loads(out)["findings"] == []
    code, out, _ = run(
        capsys, "--snapshot", path, "--rules", "VM-TEST-FLAG", "--rules", "NIC-TEST-QUIET", "--output", "json"
    )
    assert code == 1 and json.loads(out)["rules_run"] == ["NIC-TEST-QUIET", "VM-TEST-FLAG"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read snapshot"),
        ("{not json", "not valid JSON"),
        ('{"kind": "something-else"}', "not an asr-audit inventory snapshot"),
        ('{"kind": "asr-audit-inventory", "schema_version": 99}', "not supported"),
        ('{"kind": "asr-audit-inventory", "schema_version": 1, "virtual_machines": 5}', "invalid snapshot"),
    ],
)
def test_bad_snapshot_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    path = tmp_path / "snap.json"
    if content is not None:
        path.write_text(content)
    code, out, err = run(capsys, "--snapshot", str(path))
    assert code == 2 and out == ""
    assert message in error_line(err)


def test_snapshot_cloud_decides_and_a_conflicting_flag_is_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], test_rules: Registry
) -> None:
    path = snapshot(tmp_path, estate(cloud="AzureChinaCloud"))
    code, out, _ = run(capsys, "--snapshot", path, "--output", "json")
    assert code == 0 and json.loads(out)["scope"]["cloud"] == "AzureChinaCloud"
    assert test_rules.contexts[-1].cloud.endpoints.storage == "*.blob.core.chinacloudapi.cn"
    code, _, err = run(capsys, "--snapshot", path, "--cloud", "AzureCloud")
    assert code == 2 and "AzureChinaCloud" in error_line(err)


def test_config_thresholds_reach_the_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], test_rules: Registry
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("thresholds:\n  data_disk_count_max: 5\n")
    assert run(capsys, "--snapshot", snapshot(tmp_path, estate()), "--config", str(config))[0] == 0
    assert test_rules.contexts[-1].thresholds["data_disk_count_max"] == 5
    config.write_text("thresholds:\n  data_disk_count: 5\n")
    code, _, err = run(capsys, "--snapshot", snapshot(tmp_path, estate()), "--config", str(config))
    assert code == 2 and "data_disk_count" in error_line(err)


def test_baseline_marks_new_and_resolved(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = tmp_path / "before.json"
    run(
        capsys,
        "--snapshot",
        snapshot(tmp_path, estate("high-a", "high-b")),
        "--output",
        "json",
        "--out",
        str(before),
    )
    path = snapshot(tmp_path, estate("high-b", "high-c"), "now.json")
    code, out, _ = run(capsys, "--snapshot", path, "--baseline", str(before), "--output", "json")
    doc = json.loads(out)
    assert code == 1
    marks = {f["resource_id"].rsplit("/", 1)[-1]: f["baseline"] for f in doc["findings"]}
    assert marks == {"high-b": "unchanged", "high-c": "new"}
    assert [r["resource_id"].rsplit("/", 1)[-1] for r in doc["resolved"]] == ["high-a"]


def test_missing_input_files_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = snapshot(tmp_path, estate())
    for flag in ("--suppressions", "--baseline", "--config"):
        code, _, err = run(capsys, "--snapshot", path, flag, str(tmp_path / "absent.yaml"))
        assert code == 2, flag
        error_line(err)


# --- output ----------------------------------------------------------------------------------------


def test_json_output_validates_against_the_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = snapshot(tmp_path, estate("high-a", "info-b", gaps=[GAP]))
    code, out, _ = run(capsys, "--snapshot", path, "--output", "json")
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMA)
    assert code == 1
    assert doc["scope"]["subscriptions"] == [SUB]
    assert doc["summary"]["by_severity"]["high"] == 1 and doc["summary"]["by_severity"]["info"] == 1
    assert [c["status"] for c in doc["coverage"]] == ["ok"] * len(complete()) + ["forbidden"]
    assert doc["started_at"] <= doc["finished_at"]


def test_out_writes_the_report_and_keeps_stdout_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "report.json"
    code, out, err = run(
        capsys, "--snapshot", snapshot(tmp_path, estate("low-a")), "--output", "json", "--out", str(target)
    )
    assert code == 0 and out == ""
    assert json.loads(target.read_text("utf-8"))["summary"]["by_severity"]["low"] == 1
    assert f"report written to {target}" in err


def test_a_report_that_fails_midway_leaves_yesterdays_out_file_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The JSON report is written piece by piece as it is encoded: a failure after the first
    pieces must not leave half a report where yesterday's was."""
    from asr_audit.report import json_report

    target = tmp_path / "report.json"
    target.write_text("yesterday\n", "utf-8")
    made: list[str] = []

    def failing_after_two(piece: str) -> str:
        if len(made) == 2:
            raise RuntimeError("encoder broke")
        made.append(piece)
        return piece

    monkeypatch.setattr(json_report, "_PARTS_PER_PIECE", 8)
    monkeypatch.setattr(json_report, "scrub_json", failing_after_two)
    path = snapshot(tmp_path, estate("low-a", "high-b"))
    code, out, err = run(capsys, "--snapshot", path, "--output", "json", "--out", str(target))
    assert code == 2 and out == "" and "encoder broke" in error_line(err)
    assert len(made) == 2  # pieces were written before the failure
    assert target.read_text("utf-8") == "yesterday\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_json_report_on_stdout_is_the_whole_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from asr_audit.report import json_report

    monkeypatch.setattr(json_report, "_PARTS_PER_PIECE", 8)  # many pieces for a small report
    path = snapshot(tmp_path, estate("low-a", "high-b"))
    code, out, _ = run(capsys, "--snapshot", path, "--output", "json")
    assert code == 1
    doc = json.loads(out)
    assert out == json.dumps(doc, indent=2) + "\n"
    assert [f["message"] for f in doc["findings"]] == ["high-b is flagged", "low-a is flagged"]


def test_unwritable_out_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--snapshot", snapshot(tmp_path, estate()), "--out", str(tmp_path))
    assert code == 2 and "cannot write" in error_line(err)


def test_table_prints_resource_markup_literally(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = snapshot(tmp_path, estate("high-[red]x", "low-\x1b[2Jwipe"))
    code, out, _ = run(capsys, "--snapshot", path)
    assert code == 1
    assert "high-[red]x" in out
    assert "\x1b" not in out and "low-\\x1b[2Jwipe" in out


def test_scope_note_explains_readiness_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = snapshot(tmp_path, estate())
    _, _, err = run(capsys, "--snapshot", path)
    assert "no Azure-to-Azure replication found" in err and "--source-region" in err
    _, _, err = run(capsys, "--snapshot", path, "--quiet")
    assert err == ""
    _, _, err = run(capsys, "--snapshot", path, "--source-region", "westeurope")
    assert "no Azure-to-Azure replication" not in err


def test_scope_note_is_silent_when_asr_objects_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory = estate()
    inventory.network_mappings.append(
        NetworkMapping(id="/Subscriptions/x/nm", name="nm", vault_id="/v", instance_type="AzureToAzure")
    )
    _, _, err = run(capsys, "--snapshot", snapshot(tmp_path, inventory))
    assert "no Azure-to-Azure replication" not in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "--fail-on" in out and "exit codes" in out


# --- live scans (collector and credential patched) -------------------------------------------------


@dataclass
class FakeAzure:
    inventory: Inventory = field(default_factory=lambda: estate("high-a"))
    credential_error: Exception | None = None
    scan_error: BaseException | None = None
    requests: list[collect.ScanRequest] = field(default_factory=list)
    clouds: list[Any] = field(default_factory=list)
    progress: list[Any] = field(default_factory=list)


@pytest.fixture
def azure(monkeypatch: pytest.MonkeyPatch) -> FakeAzure:
    fake = FakeAzure()

    def make_credential(cloud: Any) -> object:
        fake.clouds.append(cloud)
        if fake.credential_error:
            raise fake.credential_error
        return object()

    def scan(request: collect.ScanRequest, credential: Any, progress: Any = None) -> Inventory:
        fake.requests.append(request)
        fake.progress.append(progress)
        if progress is not None:
            progress(SUB, "network", "ok")
        if fake.scan_error:
            raise fake.scan_error
        return fake.inventory

    monkeypatch.setattr(auth, "make_credential", make_credential)
    monkeypatch.setattr(collect, "scan", scan)
    return fake


def test_live_scan_builds_the_request(azure: FakeAzure, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "--subscription", SUB,
        "--subscription", "Production",
        "--cloud", "AzureUSGovernment",
        "--concurrency", "16",
        "--source-region", "usgovvirginia",
        "--output", "json",
    )  # fmt: skip
    assert code == 1
    request = azure.requests[0]
    assert request.subscriptions == [SUB, "Production"]
    assert request.cloud.name == "AzureUSGovernment" and request.concurrency == 16
    assert request.regions == ["usgovvirginia"]
    assert json.loads(out)["scope"]["cloud"] == "AzureUSGovernment"


def test_all_subscriptions(azure: FakeAzure, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--all-subscriptions", "--quiet")[0] == 1
    assert azure.requests[0].all_subscriptions is True and azure.requests[0].subscriptions == []


def test_progress_only_on_a_terminal_and_not_quiet(
    azure: FakeAzure, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(capsys, "--subscription", SUB)
    assert azure.progress == [None]  # stderr is not a terminal under pytest
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    run(capsys, "--subscription", SUB, "--quiet")
    assert azure.progress[-1] is None
    run(capsys, "--subscription", SUB)
    assert callable(azure.progress[-1])


def test_arm_endpoint_flag_and_environment(
    azure: FakeAzure, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(capsys, "--subscription", SUB, "--arm-endpoint", "https://127.0.0.1:8443/", "--quiet")[0] == 1
    assert azure.requests[-1].cloud.arm_endpoint == "https://127.0.0.1:8443"
    monkeypatch.setenv("ASR_AUDIT_ARM_ENDPOINT", "https://arm.local.example")
    assert run(capsys, "--subscription", SUB, "--quiet")[0] == 1
    assert azure.requests[-1].cloud.arm_endpoint == "https://arm.local.example"
    monkeypatch.setenv("ASR_AUDIT_ARM_ENDPOINT", "ftp://arm.local.example")
    code, _, err = run(capsys, "--subscription", SUB)
    assert code == 2 and "ASR_AUDIT_ARM_ENDPOINT" in error_line(err)
    assert len(azure.requests) == 2  # no scan with a bad endpoint


@pytest.mark.parametrize(
    ("where", "error", "expected"),
    [
        ("credential", AuthError("no usable Azure credential: nope"), 3),
        ("scan", AuthError("subscription 7b1d... cannot be read"), 3),
        ("scan", UsageError("'Prod' is not a readable subscription; readable: Production (7b1d...)"), 2),
    ],
)
def test_scan_errors_map_to_exit_codes(
    azure: FakeAzure, capsys: pytest.CaptureFixture[str], where: str, error: Exception, expected: int
) -> None:
    if where == "credential":
        azure.credential_error = error
    else:
        azure.scan_error = error
    code, out, err = run(capsys, "--subscription", "Prod")
    assert code == expected and out == ""
    assert error_line(err) == f"asr-audit: error: {error}"
    if where == "credential":
        assert azure.requests == []


def test_azure_credential_error_escaping_a_collector_is_exit_3(
    azure: FakeAzure, capsys: pytest.CaptureFixture[str]
) -> None:
    from azure.core.exceptions import ClientAuthenticationError

    azure.scan_error = ClientAuthenticationError("DefaultAzureCredential failed\nline two\nline three")
    code, _, err = run(capsys, "--subscription", SUB)
    assert code == 3
    assert "DefaultAzureCredential failed" in error_line(err)


def test_unexpected_error_is_one_line_unless_debugging(
    azure: FakeAzure, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    azure.scan_error = RuntimeError("boom\nsecond line")
    code, _, err = run(capsys, "--subscription", SUB)
    assert code == 2
    line = error_line(err)
    assert "unexpected RuntimeError: boom second line" in line and "ASR_AUDIT_DEBUG=1" in line
    monkeypatch.setenv("ASR_AUDIT_DEBUG", "1")
    code, _, err = run(capsys, "--subscription", SUB)
    assert code == 2 and "Traceback (most recent call last)" in err


def test_interrupt_is_reported_not_traced(azure: FakeAzure, capsys: pytest.CaptureFixture[str]) -> None:
    azure.scan_error = KeyboardInterrupt()
    code, _, err = run(capsys, "--subscription", SUB)
    assert code == 130 and error_line(err) == "asr-audit: error: interrupted"


def test_save_snapshot_then_snapshot_gives_the_same_findings(
    azure: FakeAzure, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    azure.inventory = estate("high-a", "low-B", "medium-[x]", gaps=[GAP])
    saved = tmp_path / "saved.json"
    live_code, live, _ = run(capsys, "--subscription", SUB, "--save-snapshot", str(saved), "--output", "json")
    replay_code, offline, _ = run(capsys, "--snapshot", str(saved), "--output", "json")
    live_doc, offline_doc = json.loads(live), json.loads(offline)
    assert live_code == replay_code == 1
    assert len(live_doc["findings"]) == 3
    assert offline_doc["findings"] == live_doc["findings"]
    assert offline_doc["coverage"] == live_doc["coverage"]


def test_save_snapshot_needs_a_live_scan_and_a_writable_path(
    azure: FakeAzure, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = snapshot(tmp_path, estate())
    code, _, err = run(capsys, "--snapshot", path, "--save-snapshot", str(tmp_path / "again.json"))
    assert code == 2 and "--save-snapshot" in error_line(err)
    code, _, err = run(capsys, "--subscription", SUB, "--save-snapshot", str(tmp_path / "no" / "dir.json"))
    assert code == 2 and "cannot write snapshot" in error_line(err)


def test_timeout_and_deadline_reach_the_scan_request(
    azure: FakeAzure, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "--subscription", SUB, "--timeout", "45", "--deadline", "600", "--quiet")[0] == 1
    assert (azure.requests[-1].timeout, azure.requests[-1].deadline) == ((10.0, 45.0), 600.0)
    run(capsys, "--subscription", SUB, "--timeout", "2.5", "--quiet")
    assert azure.requests[-1].timeout == (2.5, 2.5)  # connect timeout: min(10, S)
    run(capsys, "--subscription", SUB, "--quiet")
    defaults = collect.ScanRequest(subscriptions=[], cloud=CLOUDS["AzureCloud"])
    assert (azure.requests[-1].timeout, azure.requests[-1].deadline) == (defaults.timeout, defaults.deadline)
    assert defaults.timeout == (10.0, 30.0) and defaults.deadline == 1800.0


@pytest.mark.parametrize("flag", ["--timeout", "--deadline"])
@pytest.mark.parametrize("value", ["0", "-5", "soon", "nan", "inf"])
def test_timeout_and_deadline_must_be_positive_seconds(
    azure: FakeAzure, capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    code, out, err = run(capsys, "--subscription", SUB, flag, value)
    assert (code, out) == (2, "")
    assert "invalid number of seconds" in err.splitlines()[-1] and "Traceback" not in err
    assert azure.requests == []


def test_vaults_reach_the_rules_and_an_unknown_one_gets_a_note(
    azure: FakeAzure, capsys: pytest.CaptureFixture[str], test_rules: Registry
) -> None:
    vault_id = f"/subscriptions/{SUB}/resourceGroups/rg-dr/providers/Microsoft.RecoveryServices/vaults/rsv-dr"
    azure.inventory.vaults.append(Vault(id=vault_id, name="rsv-dr", location="northeurope"))
    _, _, err = run(capsys, "--subscription", SUB, "--vault", "RSV-DR", "--vault", vault_id.upper())
    assert test_rules.contexts[-1].vaults == ["RSV-DR", vault_id.upper()]
    assert "--vault" not in err
    _, _, err = run(capsys, "--subscription", SUB, "--vault", "rsv-typo")
    assert "no collected Recovery Services vault matches --vault rsv-typo" in err


NOT_A_VAULT_ID = "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/v"


@pytest.mark.parametrize("value", ["", "rsv dr", NOT_A_VAULT_ID])
def test_a_malformed_vault_is_a_usage_error(
    azure: FakeAzure, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    code, _, err = run(capsys, "--subscription", SUB, "--vault", value)
    assert code == 2 and "invalid vault" in err.splitlines()[-1]
    assert azure.requests == []


def test_demo_takes_vaults_but_not_timeouts(
    demo: list[Any], capsys: pytest.CaptureFixture[str], test_rules: Registry
) -> None:
    assert run(capsys, "demo", "--vault", "rsv-demo", "--quiet")[0] == 0
    assert test_rules.contexts[-1].vaults == ["rsv-demo"]
    code, _, err = run(capsys, "demo", "--timeout", "5")
    assert code == 2 and "unrecognized arguments: --timeout" in err


def test_validation_happens_before_the_scan(azure: FakeAzure, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--subscription", SUB, "--rules", "NOPE")[0] == 2
    assert run(capsys, "--subscription", SUB, "--baseline", "/nonexistent/b.json")[0] == 2
    assert azure.requests == [] and azure.clouds == []


# --- subcommands -----------------------------------------------------------------------------------


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, collect.ScanRequest]]:
    """`replay.replay_scan` answering with a known estate instead of the bundled recording."""
    calls: list[tuple[Path, collect.ScanRequest]] = []

    def replay_scan(cassette: Path, request: collect.ScanRequest) -> Inventory:
        calls.append((cassette, request))
        return estate("high-demo", "low-demo")

    monkeypatch.setattr(replay, "replay_scan", replay_scan)
    return calls


def test_demo_runs_offline_with_report_options(demo: list[Any], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "demo", "--output", "json", "--fail-on", "none")
    cassette, request = demo[0]
    assert code == 0 and cassette == replay.DEMO_CASSETTE
    assert request.subscriptions == [] and request.cloud.name == "AzureCloud"  # all recorded subscriptions
    assert json.loads(out)["summary"]["by_severity"]["high"] == 1
    code, out, _ = run(capsys, "--output", "json", "demo")  # options before the subcommand are kept
    assert code == 0 and json.loads(out)["findings"]  # without --fail-on the demo only shows
    code, out, _ = run(capsys, "--fail-on", "high", "demo")
    assert code == 1 and "HIGH (1)" in out
    code, out, _ = run(capsys, "demo", "--fail-on", "critical")
    assert code == 0 and "HIGH (1)" in out


def test_demo_replays_the_bundled_recording(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real recording and the real rules, end to end: the broken estate fails the gate."""
    monkeypatch.setattr(rule_catalog, "default_catalog", REAL_CATALOG)
    code, out, _ = run(capsys, "demo", "--output", "json", "--fail-on", "high")
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMA)
    assert code == 1
    assert doc["summary"]["by_severity"]["high"] > 0
    assert doc["scope"]["subscriptions"] and all(c["subscription_id"] for c in doc["coverage"])


def test_demo_scans_the_recorded_subscriptions_it_is_given(
    demo: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "demo", "--subscription", "Fabrikam Prod", "--subscription", SUB, "--quiet")
    assert demo[-1][1].subscriptions == ["Fabrikam Prod", SUB] and not demo[-1][1].all_subscriptions
    run(capsys, "--all-subscriptions", "demo", "--quiet")  # before the subcommand works too
    assert demo[-1][1].all_subscriptions is True and demo[-1][1].subscriptions == []
    run(capsys, "demo", "--quiet")
    assert demo[-1][1].subscriptions == [] and not demo[-1][1].all_subscriptions


def test_subscriptions_and_all_subscriptions_exclude_each_other_across_the_subcommand(
    demo: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--all-subscriptions", "demo", "--subscription", SUB)
    assert code == 2 and "--all-subscriptions" in error_line(err)
    assert demo == []


def test_demo_rejects_a_snapshot(demo: list[Any], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--snapshot", "estate.json", "demo")
    assert code == 2 and "--snapshot" in error_line(err)
    assert demo == []


def test_demo_can_save_a_snapshot(
    demo: list[Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "demo.json"
    code, _, _ = run(capsys, "demo", "--save-snapshot", str(saved), "--output", "json", "--quiet")
    assert code == 0
    assert [v.name for v in Inventory.load(saved).virtual_machines] == ["high-demo", "low-demo"]


def test_demo_rejects_live_only_flags(demo: list[Any], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "demo", "--concurrency", "4")
    assert code == 2 and "unrecognized arguments: --concurrency" in err
    assert demo == []


def test_rules_subcommand_prints_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "rules", "--output", "json")
    assert code == 0
    assert "VM-TEST-FLAG" in out and "NIC-TEST-QUIET" in out
    code, _, err = run(capsys, "--output", "sarif", "rules")
    assert code == 2 and "rules --output" in error_line(err)


# --- import cost -------------------------------------------------------------------------------------


def loaded_modules(*argv: str) -> tuple[int, set[str]]:
    """Run the CLI in a fresh interpreter and report which heavy packages it imported."""
    script = (
        "import json, sys\n"
        "from asr_audit.app.cli import main\n"
        f"code = main({list(argv)!r})\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('azure', 'rich'))\n"
        "sys.stderr.write('\\nMODULES ' + json.dumps([code, heavy]) + '\\n')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    marker = done.stderr.rsplit("MODULES ", 1)
    assert len(marker) == 2, done.stderr
    code, heavy = json.loads(marker[1])
    return code, set(heavy)


def test_help_imports_neither_azure_nor_rich() -> None:
    code, heavy = loaded_modules("--help")
    assert code == 0 and heavy == set()


def test_rules_catalog_does_not_import_azure() -> None:
    code, heavy = loaded_modules("rules", "--output", "json")
    assert code == 0
    assert not [m for m in heavy if m.startswith("azure")]


def test_snapshot_json_run_does_not_import_azure_or_rich(tmp_path: Path) -> None:
    path = tmp_path / "snap.json"
    estate("fine-a").save(path)
    code, heavy = loaded_modules(
        "--snapshot", str(path), "--output", "json", "--out", str(tmp_path / "r.json")
    )
    assert code in (0, 1, 4)
    assert heavy == set()


@pytest.mark.parametrize(
    ("fmt", "out", "drawn"),
    [
        ("json", "r.json", False),
        ("sarif", "r.sarif", False),
        ("csv", "r.csv", False),
        ("table", None, False),
        ("html", "r.html", True),
        ("markdown", "r.md", True),
    ],
)
def test_only_the_formats_that_draw_it_build_the_topology(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
    out: str | None,
    drawn: bool,
) -> None:
    """About a second at 100k resources, for a picture only HTML and Markdown show."""
    built: list[int] = []
    real = runner.topology.build

    def build(*args: Any, **kwargs: Any) -> Any:
        built.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(runner.topology, "build", build)
    where = ["--out", str(tmp_path / out)] if out else []
    code, _, _ = run(
        capsys, "--snapshot", snapshot(tmp_path, estate("high-a")), "--output", fmt, *where, "--quiet"
    )
    assert code in (0, 1)
    assert built == ([1] if drawn else [])
    if fmt == "html":
        assert 'id="topology"' in (tmp_path / "r.html").read_text(encoding="utf-8")
