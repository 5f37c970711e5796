"""Scope end to end on the bundled recording: subscriptions by id or name, `--all-subscriptions`,
`--resource-group`, and `--mask` in every output format.

`asr-audit demo` replays the recording of the two-subscription Fabrikam estate
(tests/scenarios/broken) through the real collectors and rules; `--subscription` picks among
the recorded subscriptions exactly as a live scan resolves them. Tests of what happens after
collection analyse a snapshot the demo saved, which is ten times faster than a replay.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import yaml
from jsonschema.validators import validator_for

from asr_audit import ids
from asr_audit.app import runner
from asr_audit.app.cli import main
from asr_audit.app.masking import MASK, Masker, mask_guids, mask_id, mask_report
from asr_audit.findings import Finding, Severity
from asr_audit.inventory import Coverage, Inventory
from asr_audit.report import FORMATS, Report

TESTS = Path(__file__).parent
RECORDED = {
    s["displayName"]: s["id"]
    for s in yaml.safe_load((TESTS / "scenarios" / "broken" / "scenario.yaml").read_text("utf-8"))[
        "subscriptions"
    ]
}
PROD, CONN = RECORDED["Fabrikam Prod"], RECORDED["Fabrikam Connectivity"]
SARIF_SCHEMA = json.loads((TESTS / "data" / "sarif-schema-2.1.0.json").read_text("utf-8"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def demo_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = run(capsys, "demo", "--output", "json", "--fail-on", "high", *argv)
    return code, json.loads(out), err


def error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("asr-audit: error: "), err
    return lines[0]


def group_of(finding: dict[str, Any]) -> str:
    return (ids.resource_group_of(finding["resource_id"]) or "").lower()


@dataclass
class Estate:
    snapshot: str  # the demo's inventory
    report: str  # its unfiltered, unmasked JSON report
    doc: dict[str, Any]


def save_demo(directory: Path, *argv: str) -> Estate:
    """The demo with the default thresholds (an empty `--config` drops what the demo stages), so
    its report is what `--snapshot` gives on the saved inventory."""
    snap, report, defaults = directory / "estate.json", directory / "report.json", directory / "defaults.yaml"
    defaults.write_text("", encoding="utf-8")
    flags = ["--config", str(defaults), "--save-snapshot", str(snap), "--output", "json"]
    main(["demo", *argv, *flags, "--out", str(report), "--quiet"])
    return Estate(str(snap), str(report), json.loads(report.read_text("utf-8")))


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> Estate:
    """Both recorded subscriptions (Fabrikam Connectivity has a coverage gap)."""
    return save_demo(tmp_path_factory.mktemp("all"))


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Estate:
    """Fabrikam Prod alone, any coverage gap dropped from the snapshot so that exit codes here
    depend on findings alone."""
    estate = save_demo(tmp_path_factory.mktemp("prod"), "--subscription", "Fabrikam Prod")
    inventory = Inventory.load(estate.snapshot)
    inventory.coverage = [c for c in inventory.coverage if c.status == "ok"]
    inventory.save(estate.snapshot)
    return estate


def analyse(
    capsys: pytest.CaptureFixture[str], estate: Estate, *argv: str
) -> tuple[int, dict[str, Any], str]:
    code, out, err = run(capsys, "--snapshot", estate.snapshot, "--output", "json", *argv)
    return code, json.loads(out), err


# --- which subscriptions -----------------------------------------------------------------------------


def test_two_subscriptions_by_display_name_in_any_case(capsys: pytest.CaptureFixture[str]) -> None:
    code, doc, _ = demo_json(
        capsys, "--subscription", "Fabrikam Prod", "--subscription", "fabrikam CONNECTIVITY"
    )
    assert sorted(doc["scope"]["subscriptions"]) == sorted([PROD, CONN])
    assert {c["subscription_id"] for c in doc["coverage"]} == {PROD, CONN}
    assert code == 1  # Fabrikam Prod has high findings


def test_one_subscription_by_id(capsys: pytest.CaptureFixture[str]) -> None:
    code, doc, _ = demo_json(capsys, "--subscription", PROD.upper())
    assert doc["scope"]["subscriptions"] == [PROD]
    assert {c["subscription_id"] for c in doc["coverage"]} == {PROD}
    assert PROD in {f["subscription_id"] for f in doc["findings"]}
    assert code == 1


def test_all_subscriptions_is_every_readable_one(capsys: pytest.CaptureFixture[str]) -> None:
    _, doc, _ = demo_json(capsys, "--all-subscriptions")
    assert sorted(doc["scope"]["subscriptions"]) == sorted(RECORDED.values())


def test_unknown_name_is_exit_2_listing_the_readable_subscriptions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "demo", "--subscription", "Fabrikam Prod", "--subscription", "Fabrikam Dev")
    assert code == 2 and out == ""
    line = error_line(err)
    assert "'Fabrikam Dev'" in line
    assert f"Fabrikam Connectivity ({CONN})" in line and f"Fabrikam Prod ({PROD})" in line


def test_unknown_name_error_is_masked_with_mask(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "demo", "--subscription", "Fabrikam Dev", "--mask")
    line = error_line(err)
    assert code == 2 and PROD not in line and CONN not in line
    assert f"Fabrikam Prod ({mask_id(PROD)})" in line and f"Fabrikam Connectivity ({mask_id(CONN)})" in line


def test_an_id_the_credential_cannot_read_is_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    unknown = "00000000-1111-4222-8333-444444444444"
    code, out, err = run(capsys, "demo", "--subscription", unknown)
    assert code == 3 and out == ""
    assert unknown in error_line(err)


# --- --resource-group ------------------------------------------------------------------------------


def test_resource_group_filter_is_a_view_of_the_whole_analysis(
    capsys: pytest.CaptureFixture[str], everything: Estate
) -> None:
    code, doc, _ = demo_json(capsys, "--resource-group", "RG-ASR-EUS", "--resource-group", "rg-legacy-eus")
    wanted = {"rg-asr-eus", "rg-legacy-eus"}
    expected = {f["fingerprint"] for f in everything.doc["findings"] if group_of(f) in wanted or f["gap"]}
    assert expected and {f["fingerprint"] for f in doc["findings"]} == expected
    # what the scan could not read (the demo's forbidden route tables) may hold these groups' resources
    assert {f["gap"] for f in doc["findings"] if f["gap"]} == {"route_tables"}
    assert len(doc["findings"]) < len(everything.doc["findings"])
    assert doc["coverage"] == everything.doc["coverage"]  # collection is still subscription-wide
    assert doc["scope"]["resource_groups"] == ["rg-asr-eus", "rg-legacy-eus"]  # the view is on record
    assert everything.doc["scope"]["resource_groups"] == []
    assert code == 1


def test_findings_that_need_other_groups_survive_the_filter(
    capsys: pytest.CaptureFixture[str], everything: Estate
) -> None:
    """PLC-TARGET-VNET-REGION judges a VNet in rg-dr-cus by a network mapping in a vault elsewhere."""
    _, doc, _ = analyse(capsys, everything, "--resource-group", "rg-dr-cus", "--fail-on", "none")
    found = {(f["rule_id"], ids.name_of(f["resource_id"])) for f in doc["findings"]}
    assert ("PLC-TARGET-VNET-REGION", "vnet-dr-cus") in found
    assert {group_of(f) for f in doc["findings"] if not f["gap"]} == {"rg-dr-cus"}


def test_exit_code_follows_the_filtered_findings(capsys: pytest.CaptureFixture[str], prod: Estate) -> None:
    code, doc, _ = analyse(capsys, prod, "--resource-group", "rg-asr-cus")  # default --fail-on high
    severities = {f["severity"] for f in doc["findings"]}  # what the demo puts there, not a count
    assert "low" in severities and not severities & {"critical", "high"} and code == 0
    assert analyse(capsys, prod, "--resource-group", "rg-asr-cus", "--fail-on", "low")[0] == 1
    assert analyse(capsys, prod)[0] == 1  # unfiltered, Fabrikam Prod has high findings


def test_resource_group_filter_applies_to_the_baseline(
    capsys: pytest.CaptureFixture[str], everything: Estate, tmp_path: Path
) -> None:
    previous = json.loads(Path(everything.report).read_text("utf-8"))
    gone = {
        "rule_id": "NIC-ASG",
        "title": "gone",
        "severity": "medium",
        "fingerprint": "f" * 32,
    }
    previous["findings"] += [
        {**gone, "resource_id": f"/subscriptions/{PROD}/resourceGroups/rg-legacy-eus/x/y/nic-old"},
        {
            **gone,
            "resource_id": f"/subscriptions/{PROD}/resourceGroups/rg-other/x/y/nic-old",
            "fingerprint": "e" * 32,
        },
    ]
    path = tmp_path / "previous.json"
    path.write_text(json.dumps(previous), "utf-8")
    _, doc, _ = analyse(capsys, everything, "--resource-group", "rg-legacy-eus", "--baseline", str(path))
    assert doc["findings"] and {f["baseline"] for f in doc["findings"]} == {"unchanged"}
    assert [r["fingerprint"] for r in doc["resolved"]] == ["f" * 32]  # not rg-other's, nor other groups'


def test_a_resource_group_nothing_is_in_gets_a_note(capsys: pytest.CaptureFixture[str], prod: Estate) -> None:
    code, doc, err = analyse(capsys, prod, "--resource-group", "rg-typo", "--resource-group", "rg-prod-eus")
    assert "resource group(s) rg-typo: check the name" in err and "rg-prod-eus" not in err
    assert {group_of(f) for f in doc["findings"]} == {"rg-prod-eus"}
    assert code == 1
    code, doc, err = analyse(capsys, prod, "--resource-group", "rg-typo")
    assert "check the name" in err and doc["findings"] == [] and code == 0
    _, _, err = analyse(capsys, prod, "--resource-group", "RG-PROD-EUS")
    assert "check the name" not in err


def test_resource_group_match_is_on_the_findings_own_id() -> None:
    groups = {"rg-a"}
    assert runner.in_resource_groups("/Subscriptions/X/resourceGroups/RG-A/providers/a/b/c", groups)
    assert runner.in_resource_groups(
        "/subscriptions/x/resourcegroups/rg-a/providers/n/v/vnet/subnets/s", groups
    )
    assert not runner.in_resource_groups("/subscriptions/x/resourceGroups/rg-b/providers/n/v/rg-a", groups)
    assert not runner.in_resource_groups("/subscriptions/x", groups)
    assert not runner.in_resource_groups("", groups)


# --- --mask ----------------------------------------------------------------------------------------


def readable(text: str, fmt: str) -> str:
    """What a reader sees: Markdown escapes undone, SARIF pseudo-paths percent-decoded."""
    if fmt == "markdown":
        text = text.replace("\\*", "*")
    if fmt == "sarif":
        text = unquote(text)
    return text


def parse(text: str, fmt: str) -> Any:
    """Each masked format must still parse as what it claims to be."""
    if fmt in ("json", "sarif"):
        doc = json.loads(text)
        if fmt == "sarif":
            cls = validator_for(SARIF_SCHEMA)
            errors = list(cls(SARIF_SCHEMA, format_checker=cls.FORMAT_CHECKER).iter_errors(doc))
            assert not errors, [e.message for e in errors]
        return doc
    if fmt == "junit":
        return ET.fromstring(text)
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(text)))
    return text


@pytest.fixture
def unused_suppression(tmp_path: Path) -> str:
    """An entry naming a subscription id, so suppression notes (report and stderr) carry one."""
    path = tmp_path / "suppress.yaml"
    path.write_text(
        "- rule: NIC-ASG\n"
        f"  resource: '/subscriptions/{PROD.upper()}/resourceGroups/rg-none/*'\n"
        "  reason: nothing matches\n"
        "  expires: 2999-01-01\n",
        "utf-8",
    )
    return str(path)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_mask_hides_subscription_ids_in_every_format(
    capsys: pytest.CaptureFixture[str], everything: Estate, tmp_path: Path, unused_suppression: str, fmt: str
) -> None:
    out = tmp_path / f"report.{fmt}"
    full = ["--details"] if fmt == "table" else []  # the compact table names resources, no ids
    code, stdout, err = run(
        capsys,
        "--snapshot", everything.snapshot, *full,
        "--mask", "--output", fmt, "--out", str(out), "--suppressions", unused_suppression,
    )  # fmt: skip
    text = out.read_text("utf-8")
    parse(text, fmt)
    seen = readable(text, fmt).lower()
    assert PROD not in seen and CONN not in seen
    assert mask_id(PROD) in seen
    if fmt != "csv":  # CSV lists findings only, and Fabrikam Connectivity has none: its gap shows elsewhere
        assert mask_id(CONN) in seen
    # GUID-named ASR objects are names an admin looks up: they stay.
    assert "9b11a888-f87c-5714-80dc-f7dc42afad08" in seen
    # stderr: the unused-entry note names the subscription, masked
    assert "matched no finding" in err and mask_id(PROD) in err
    assert PROD not in err.lower() and CONN not in err.lower()
    assert code == 1 and stdout == ""


def test_fingerprints_are_those_of_the_real_ids(
    capsys: pytest.CaptureFixture[str], everything: Estate, tmp_path: Path
) -> None:
    masked = tmp_path / "masked.json"
    run(capsys, "--snapshot", everything.snapshot, "--mask", "--output", "json", "--out", str(masked))
    doc = json.loads(masked.read_text("utf-8"))
    assert [f["fingerprint"] for f in doc["findings"]] == [
        f["fingerprint"] for f in everything.doc["findings"]
    ]
    assert all(f["resource_id"].lower().count(MASK) == 1 for f in doc["findings"])
    # so a masked report is a working baseline for the next run, masked or not
    for extra in ((), ("--mask",)):
        _, now, _ = analyse(capsys, everything, "--baseline", str(masked), *extra)
        assert {f["baseline"] for f in now["findings"]} == {"unchanged"} and "resolved" not in now


def test_sarif_fingerprints_do_not_change_with_mask(
    capsys: pytest.CaptureFixture[str], everything: Estate
) -> None:
    def fingerprints(*extra: str) -> list[str]:
        _, out, _ = run(capsys, "--snapshot", everything.snapshot, "--output", "sarif", *extra)
        return [r["partialFingerprints"]["asrAudit/v1"] for r in json.loads(out)["runs"][0]["results"]]

    assert fingerprints("--mask") == fingerprints()


def test_masked_table_keeps_its_layout(capsys: pytest.CaptureFixture[str], prod: Estate) -> None:
    _, plain, _ = run(capsys, "--snapshot", prod.snapshot)
    _, masked, _ = run(capsys, "--snapshot", prod.snapshot, "--mask")
    assert PROD in plain and PROD not in masked
    assert [len(line) for line in masked.splitlines()] == [len(line) for line in plain.splitlines()]


# --- masking.py on its own --------------------------------------------------------------------------

OTHER = "0F1E2D3C-4B5A-4968-8776-A5B4C3D2E1F0"  # a peered subscription that was not scanned
ITEM = "9b11a888-f87c-5714-80dc-f7dc42afad08"


def sample() -> Report:
    rid = f"/Subscriptions/{PROD.upper()}/resourceGroups/rg/providers/x/protectedItems/{ITEM}"
    finding = Finding(
        rule_id="NET-ADDRESS-OVERLAP",
        title="t",
        severity=Severity.HIGH,
        status="fail",
        subscription_id=PROD,
        resource_id=rid,
        resource_type="x",
        region="eastus",
        message=f"overlaps a VNet peered from subscription {OTHER.lower()}",
        remediation="r",
        docs=None,
        evidence={
            "peer": f"/subscriptions/{OTHER}/resourceGroups/hub/providers/n/virtualNetworks/hub",
            "prefixes": ("10.0.0.0/16",),
            "counts": {"vms": 3},
            f"sub-{PROD}": True,
            "when": date(2026, 1, 2),
        },
        key="10.0.0.0/16",
    )
    return Report(
        tool_version="0",
        subscriptions=[PROD],
        cloud="AzureCloud",
        source_region=None,
        target_region=None,
        started_at="s",
        finished_at="f",
        findings=[finding],
        coverage=[Coverage(PROD, "disks", "forbidden", f"scope '/subscriptions/{PROD}'")],
        suppression_notes=[{"status": "unused", "resource": f"/subscriptions/{PROD}/*", "line": 3}],
        resolved=[{"resource_id": f"/subscriptions/{PROD}/x", "fingerprint": "a" * 32}],
    )


def test_mask_report_masks_scanned_and_referenced_subscriptions_everywhere() -> None:
    report = sample()
    masked = mask_report(report)
    finding = masked.findings[0]
    assert masked.subscriptions == [mask_id(PROD)] and finding.subscription_id == mask_id(PROD)
    assert (
        finding.resource_id
        == f"/Subscriptions/{mask_id(PROD)}/resourceGroups/rg/providers/x/protectedItems/{ITEM}"
    )
    assert finding.message.endswith(mask_id(OTHER))  # learnt from a path elsewhere in the report
    assert finding.evidence["peer"].startswith(f"/subscriptions/{mask_id(OTHER)}/")
    assert finding.evidence[f"sub-{mask_id(PROD)}"] is True
    assert finding.evidence["prefixes"] == ("10.0.0.0/16",) and finding.evidence["counts"] == {"vms": 3}
    assert finding.evidence["when"] == "2026-01-02"
    assert finding.severity is Severity.HIGH and finding.key == "10.0.0.0/16"
    assert masked.coverage[0].detail == f"scope '/subscriptions/{mask_id(PROD)}'"
    assert masked.suppression_notes[0]["resource"] == f"/subscriptions/{mask_id(PROD)}/*"
    assert masked.resolved[0] == {"resource_id": f"/subscriptions/{mask_id(PROD)}/x", "fingerprint": "a" * 32}
    assert report.findings[0].subscription_id == PROD  # the report gating the exit code is untouched


def test_masked_findings_keep_the_real_fingerprint() -> None:
    report = sample()
    masked = mask_report(report)
    assert masked.findings[0].fingerprint == report.findings[0].fingerprint
    assert masked.findings[0].to_json()["fingerprint"] == report.findings[0].fingerprint
    assert mask_report(masked).findings[0].fingerprint == report.findings[0].fingerprint  # idempotent
    assert masked.findings[0].resource_id != report.findings[0].resource_id


def test_mask_forms() -> None:
    assert mask_id(PROD.upper()) == "********-****-****-****-********5a32" == mask_id(PROD)
    assert len(mask_id(PROD)) == len(PROD)
    line = f"ids {PROD} and {OTHER}; fingerprint {'ab' * 16}; longer x{PROD}"
    assert (
        mask_guids(line)
        == f"ids {mask_id(PROD)} and {mask_id(OTHER)}; fingerprint {'ab' * 16}; longer x{PROD}"
    )
    assert Masker([PROD]).text(f"A{PROD.upper()}B {ITEM}") == f"A{mask_id(PROD)}B {ITEM}"
    assert Masker(["Fabrikam Prod"]).text("Fabrikam Prod") == "Fabrikam Prod"  # only ids are masked
