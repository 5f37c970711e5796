"""`--include-passed`: what each rule examined and found nothing wrong with, as audit evidence.

A check listed as passed must be one the rule really judged: never a resource it reported (failed
or unknown), never one in a subscription where the rule's input had a gap, and every rule of the
catalog must record what it examines, or its passes would silently vanish from the evidence.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from asr_audit.access.clouds import CLOUDS
from asr_audit.app import runner
from asr_audit.app.cli import main
from asr_audit.app.replay import DEMO_CASSETTE, replay_scan
from asr_audit.collect import ScanRequest
from asr_audit.findings import Check, Finding, FindingStatus, Severity
from asr_audit.inventory import Inventory
from asr_audit.rules import analyze, passed
from asr_audit.rules.base import Context
from asr_audit.rules.catalog import default_catalog

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "tests" / "data" / "asr-audit-report.schema.json").read_text("utf-8"))
CLOUD = CLOUDS["AzureCloud"]
READINESS = {"source_region": "eastus", "target_region": "westus2"}
SUB_A = "11111111-1111-1111-1111-111111111111"
SUB_B = "22222222-2222-2222-2222-222222222222"


@pytest.fixture(scope="module")
def healthy() -> Inventory:
    return replay_scan(ROOT / "cassettes" / "healthy.yaml", ScanRequest(subscriptions=[], cloud=CLOUD))


@pytest.fixture(scope="module")
def broken() -> Inventory:
    return replay_scan(DEMO_CASSETTE, ScanRequest(subscriptions=[], cloud=CLOUD))


def _vm(sub: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{name}"


def _finding(rule_id: str, resource_id: str, gap: str | None = None) -> Finding:
    return Finding(
        rule_id=rule_id,
        title="t",
        severity=Severity.HIGH,
        status=FindingStatus.UNKNOWN if gap else FindingStatus.FAIL,
        subscription_id=resource_id.split("/")[2],
        resource_id=resource_id,
        resource_type=None,
        region=None,
        message="m",
        remediation="r",
        docs=None,
        gap=gap,
    )


def _context(*checks: Check) -> Context:
    ctx = Context(Inventory())
    ctx.checks.extend(checks)
    return ctx


def test_a_resource_with_a_finding_of_the_rule_is_not_passed_by_it() -> None:
    ctx = _context(
        Check("R-1", _vm(SUB_A, "a")), Check("R-2", _vm(SUB_A, "a")), Check("R-1", _vm(SUB_A, "b"))
    )
    kept = passed(ctx, [_finding("R-1", _vm(SUB_A, "A"))])  # ids compare case-insensitively
    assert [(c.rule_id, c.resource_id) for c in kept] == [("R-1", _vm(SUB_A, "b")), ("R-2", _vm(SUB_A, "a"))]


def test_a_gap_in_the_rules_input_withholds_every_pass_of_that_rule_in_its_subscription() -> None:
    ctx = _context(
        Check("R-1", _vm(SUB_A, "a")), Check("R-1", _vm(SUB_B, "b")), Check("R-2", _vm(SUB_A, "c"))
    )
    kept = passed(ctx, [_finding("R-1", f"/subscriptions/{SUB_A}", gap="virtual_networks")])
    assert [(c.rule_id, c.resource_id) for c in kept] == [("R-1", _vm(SUB_B, "b")), ("R-2", _vm(SUB_A, "c"))]


def test_a_resource_examined_twice_is_listed_once() -> None:
    ctx = _context(Check("R-1", _vm(SUB_A, "a")), Check("R-1", _vm(SUB_A, "A")))
    assert len(passed(ctx, [])) == 1


def test_the_healthy_estate_passes_what_it_examined_and_every_rule_records_checks(
    healthy: Inventory, broken: Inventory
) -> None:
    examined: set[str] = set()
    for inventory, regions in ((healthy, {}), (healthy, READINESS), (broken, {}), (broken, READINESS)):
        ctx = Context(inventory, cloud=CLOUD, **regions)
        analyze(ctx)
        examined |= {c.rule_id for c in ctx.checks}
    assert sorted(set(default_catalog().ids()) - examined) == []
    report = runner.audit(healthy, cloud=CLOUD, include_passed=True, **READINESS)
    assert report.findings == [] and report.passed
    rules = {c.rule_id for c in report.passed}
    assert {"NET-NSG-OUTBOUND", "STG-CACHE-FIREWALL", "VM-UNSUPPORTED", "NET-FORCED-TUNNEL"} <= rules


def test_in_the_demo_no_passed_check_is_also_a_finding_nor_sits_behind_a_gap(broken: Inventory) -> None:
    report = runner.audit(broken, cloud=CLOUD, include_passed=True)
    assert report.passed is not None and report.passed
    reported = {(f.rule_id, f.resource_id.lower()) for f in report.findings}
    assert [c for c in report.passed if (c.rule_id, c.resource_id.lower()) in reported] == []
    behind_gap = {(f.rule_id, f.subscription_id.lower()) for f in report.findings if f.gap}
    assert behind_gap, "the demo's staged 403 should give gap findings"
    assert [c for c in report.passed if (c.rule_id, c.subscription_id.lower()) in behind_gap] == []


def test_not_asked_means_not_listed(broken: Inventory) -> None:
    assert runner.audit(broken, cloud=CLOUD).passed is None


def test_without_include_passed_nothing_is_recorded_and_the_findings_are_the_same(broken: Inventory) -> None:
    """Checks are kept only for the passed list; not keeping them changes no finding."""
    kept = Context(broken, cloud=CLOUD)
    unkept = Context(broken, cloud=CLOUD, record_checks=False)
    assert analyze(unkept) == analyze(kept)
    assert kept.checks and unkept.checks == []
    calls: list[bool] = []
    original = runner.Context

    def spy(*args: object, **kwargs: object) -> Context:
        made = original(*args, **kwargs)  # type: ignore[arg-type]
        calls.append(made.record_checks)
        return made

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "Context", spy)
        runner.audit(broken, cloud=CLOUD)
        runner.audit(broken, cloud=CLOUD, include_passed=True)
    assert calls == [False, True]


def test_a_resource_group_view_keeps_only_its_passes(broken: Inventory) -> None:
    whole = runner.audit(broken, cloud=CLOUD, include_passed=True).passed or []
    group = whole[0].resource_id.split("/")[4]
    view = runner.audit(broken, cloud=CLOUD, include_passed=True, resource_groups=[group.upper()]).passed
    assert view and len(view) < len(whole)
    assert all(c.resource_id.split("/")[4].lower() == group.lower() for c in view)


def test_cli_json_lists_passes_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    main(["demo", "--output", "json", "--include-passed"])
    doc = json.loads(capsys.readouterr().out)
    jsonschema.validate(doc, SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**doc, "passed": [{**doc["passed"][0], "status": "fail"}]}, SCHEMA)
    assert doc["passed"] and all(p["status"] == "pass" and p["rule_id"] for p in doc["passed"])
    failing = {(f["rule_id"], f["resource_id"].lower()) for f in doc["findings"]}
    assert not [p for p in doc["passed"] if (p["rule_id"], p["resource_id"].lower()) in failing]
    main(["demo", "--output", "json"])
    assert "passed" not in json.loads(capsys.readouterr().out)


def test_masked_passes_hide_the_subscription_ids(capsys: pytest.CaptureFixture[str]) -> None:
    main(["demo", "--output", "json", "--include-passed", "--mask"])
    doc = json.loads(capsys.readouterr().out)
    shown = {p["resource_id"].split("/")[2] for p in doc["passed"]}
    assert shown and all(s.startswith("********-") for s in shown), shown
