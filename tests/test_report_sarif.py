"""SARIF output: schema-valid, GitHub-shaped, stable identities, hostile text neutralised."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from jsonschema.validators import validator_for
from report_samples import (
    FORMULA,
    HOSTILE,
    HOSTILE_RULE,
    PASS_RULE,
    QUIET_RULE,
    SUB,
    finding,
    resource_id,
    sample_report,
)

from asr_audit.findings import Severity
from asr_audit.report import render
from asr_audit.report.sarif import FINGERPRINT_KEY
from asr_audit.triage import baseline, suppressions
from asr_audit.triage.suppressions import Suppression

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))


def sarif(**overrides: Any) -> dict[str, Any]:
    text = render(sample_report(**overrides), "sarif")
    text.encode("utf-8")  # lone surrogates from resource data must not survive
    return json.loads(text)


def validate(doc: dict[str, Any]) -> None:
    cls = validator_for(SCHEMA)
    cls.check_schema(SCHEMA)
    errors = sorted(cls(SCHEMA, format_checker=cls.FORMAT_CHECKER).iter_errors(doc), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def test_valid_against_the_sarif_schema() -> None:
    validate(sarif())


def test_schema_validation_rejects_a_broken_document() -> None:
    """Guards the guard: the validator really checks (a result without a message is invalid)."""
    doc = sarif()
    del doc["runs"][0]["results"][0]["message"]
    with pytest.raises(AssertionError):
        validate(doc)


def test_driver_lists_every_rule_run_with_github_metadata() -> None:
    driver = sarif()["runs"][0]["tool"]["driver"]
    assert driver["name"] == "asr-audit"
    assert driver["version"] == "0.1.0"
    assert "informationUri" not in driver  # the tool has no web page that surely exists
    by_id = {r["id"]: r for r in driver["rules"]}
    assert set(by_id) == {HOSTILE_RULE, QUIET_RULE, PASS_RULE}  # PASS_RULE had no finding
    high = by_id[HOSTILE_RULE]
    assert high["name"] == "TestRuleNetTestHostile"
    assert high["shortDescription"]["text"] == "Test rule net-test-hostile"
    assert high["fullDescription"]["text"] == f"Why {HOSTILE_RULE} matters."
    assert f"Fix {HOSTILE_RULE}." in high["help"]["text"]
    assert "[Documentation](https://learn.microsoft.com/" in high["help"]["markdown"]
    assert high["helpUri"].startswith("https://learn.microsoft.com/")
    assert f"`asr-audit explain {HOSTILE_RULE}`" in high["help"]["markdown"]
    assert "github.com" not in json.dumps(driver)
    assert "security" in high["properties"]["tags"]
    assert "network" in high["properties"]["tags"]
    assert high["defaultConfiguration"]["level"] == "error"
    assert by_id[QUIET_RULE]["defaultConfiguration"]["level"] == "note"
    assert by_id[PASS_RULE]["defaultConfiguration"]["level"] == "warning"
    scores = {r["id"]: float(r["properties"]["security-severity"]) for r in driver["rules"]}
    assert scores[HOSTILE_RULE] >= 7.0  # GitHub's "high" band
    assert 4.0 <= scores[PASS_RULE] < 7.0  # "medium"
    assert 0.1 <= scores[QUIET_RULE] < 4.0  # "low"


def test_results_point_at_their_rule_and_map_severity_to_level() -> None:
    run = sarif()["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    levels = {}
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        levels[(result["ruleId"], result["properties"]["severity"])] = (result["kind"], result["level"])
    assert levels == {
        (HOSTILE_RULE, "high"): ("fail", "error"),
        (HOSTILE_RULE, "medium"): ("review", "none"),  # `unknown`: SARIF's level for a non-fail kind
        (QUIET_RULE, "low"): ("fail", "note"),
    }


def test_an_undecided_finding_is_a_review_at_any_severity() -> None:
    f = finding(HOSTILE_RULE, resource_id("v"), severity=Severity.CRITICAL, status="unknown")
    doc = sarif(findings=[f])
    validate(doc)
    (result,) = doc["runs"][0]["results"]
    assert (result["kind"], result["level"], result["properties"]["severity"]) == (
        "review",
        "none",
        "critical",
    )


@pytest.mark.parametrize(
    ("severity", "level"),
    [("critical", "error"), ("high", "error"), ("medium", "warning"), ("low", "note"), ("info", "note")],
)
def test_every_severity_maps_to_a_level(severity: str, level: str) -> None:
    f = finding(HOSTILE_RULE, resource_id("v"), severity=Severity(severity))
    (result,) = sarif(findings=[f])["runs"][0]["results"]
    assert result["level"] == level


def test_every_result_has_the_location_github_requires() -> None:
    for result in sarif()["runs"][0]["results"]:
        (location,) = result["locations"]
        uri = location["physicalLocation"]["artifactLocation"]["uri"]
        assert uri.startswith(f"subscriptions/{SUB}/resourcegroups/")
        assert ":" not in uri  # no scheme: GitHub rejects unknown URI schemes
        assert location["physicalLocation"]["region"]["startLine"] == 1
        (logical,) = location["logicalLocations"]
        assert logical["kind"] == "resource"
        assert logical["fullyQualifiedName"].startswith(f"/subscriptions/{SUB}/resourceGroups/")


def test_fingerprints_and_locations_are_stable_across_runs_and_id_case() -> None:
    rid = resource_id("vnet-a")
    upper = rid.replace("/subscriptions/", "/Subscriptions/").replace("vnet-a", "VNET-A")
    first = sarif(findings=[finding(HOSTILE_RULE, rid, key="k")])["runs"][0]["results"][0]
    again = sarif(findings=[finding(HOSTILE_RULE, upper, "reworded", key="k")])["runs"][0]["results"][0]
    assert first["partialFingerprints"] == again["partialFingerprints"]
    assert first["partialFingerprints"][FINGERPRINT_KEY]
    assert (
        first["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        == again["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    )
    assert render(sample_report(), "sarif") == render(sample_report(), "sarif")


def test_fingerprint_differs_by_rule_key_and_resource() -> None:
    prints = {
        sarif(findings=[f])["runs"][0]["results"][0]["partialFingerprints"][FINGERPRINT_KEY]
        for f in (
            finding(HOSTILE_RULE, resource_id("a"), key="1"),
            finding(HOSTILE_RULE, resource_id("a"), key="2"),
            finding(HOSTILE_RULE, resource_id("b"), key="1"),
        )
    }
    assert len(prints) == 3


def test_suppressed_finding_stays_with_an_external_suppression() -> None:
    results = sarif()["runs"][0]["results"]
    suppressed = [r for r in results if "suppressions" in r]
    assert [r["ruleId"] for r in suppressed] == [QUIET_RULE]
    (entry,) = suppressed[0]["suppressions"]
    assert entry["kind"] == "external"
    assert entry["justification"].startswith("accepted <b>")
    assert all("suppressions" not in r for r in results if r["ruleId"] == HOSTILE_RULE)


def test_result_properties_carry_severity_status_and_evidence() -> None:
    results = sarif()["runs"][0]["results"]
    undecided = next(r for r in results if r["properties"]["status"] == "unknown")
    assert undecided["properties"]["severity"] == "medium"
    hostile = next(r for r in results if r["properties"]["severity"] == "high")
    assert hostile["properties"]["evidence"]["prefixes"] == ["10.0.0.0/16"]
    assert hostile["properties"]["region"] == "westus"


def test_coverage_gaps_are_execution_notifications() -> None:
    invocation = sarif()["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    notes = invocation["toolExecutionNotifications"]
    assert sorted(n["properties"]["collector"] for n in notes) == ["asr", "storage"]  # "ok" is no gap
    assert all(n["level"] == "error" for n in notes)
    assert invocation["startTimeUtc"] == "2025-01-02T03:04:05Z"


def test_complete_scan_is_successful_with_no_notifications() -> None:
    decided = [f for f in sample_report().findings if f.status != "unknown"]
    doc = sarif(coverage=[], findings=decided)
    validate(doc)
    invocation = doc["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is True
    assert invocation["toolExecutionNotifications"] == []


def test_an_undecided_finding_makes_the_run_unsuccessful_unless_suppressed() -> None:
    findings = sample_report().findings
    assert any(f.status == "unknown" for f in findings)
    assert sarif(coverage=[])["runs"][0]["invocations"][0]["executionSuccessful"] is False
    for f in findings:
        if f.status == "unknown":
            f.suppressed = True
    assert sarif(coverage=[], findings=findings)["runs"][0]["invocations"][0]["executionSuccessful"] is True


def test_suppression_notes_and_baseline_are_carried() -> None:
    report = sample_report()
    unused = Suppression("X-*", "*", "r", date(2030, 1, 1), file="s.yaml", line=3)
    report.suppression_notes = suppressions.apply(report.findings, [unused], date(2025, 1, 1))
    gone = {"rule_id": HOSTILE_RULE, "resource_id": resource_id("gone"), "fingerprint": "f"}
    report.resolved = baseline.apply(report.findings, [gone, report.findings[1].to_json()])
    doc = json.loads(render(report, "sarif"))
    validate(doc)
    run = doc["runs"][0]
    (config,) = run["invocations"][0]["toolConfigurationNotifications"]
    assert "s.yaml:3" in config["message"]["text"]
    assert [r.get("baselineState") for r in run["results"]] == ["new", "unchanged", "new"]
    assert [r["resource_id"] for r in run["properties"]["resolved"]] == [resource_id("gone")]


def test_finding_of_a_rule_missing_from_the_catalog_still_gets_a_descriptor() -> None:
    stray = finding(HOSTILE_RULE, resource_id("v"))
    stray.rule_id = "NET-RETIRED"
    doc = sarif(findings=[stray], rules_run=["NET-GHOST"])
    validate(doc)
    run = doc["runs"][0]
    descriptors = run["tool"]["driver"]["rules"]
    assert [d["id"] for d in descriptors] == ["NET-GHOST", "NET-RETIRED"]
    retired = descriptors[run["results"][0]["ruleIndex"]]
    assert retired["id"] == "NET-RETIRED"
    assert retired["shortDescription"]["text"] == stray.title
    assert retired["defaultConfiguration"]["level"] == "error"


def test_hostile_text_is_neutralised() -> None:
    doc = sarif()
    validate(doc)
    result = doc["runs"][0]["results"][0]
    message = result["message"]["text"]
    assert "\x1b" not in json.dumps(doc, ensure_ascii=False)
    assert "\\x1b\\[31m" in message  # visible, not executed
    assert "\\[red\\]x" in message  # SARIF embedded-link syntax escaped
    assert message.startswith(FORMULA)  # JSON needs no formula guard: text kept as is
    assert "\\x00" in result["properties"]["evidence"]["weird"]
    assert "\\u202e" in result["properties"]["evidence"]["weird"]
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert "<" not in uri and "|" not in uri and " " not in uri
    assert HOSTILE not in result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
