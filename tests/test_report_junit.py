"""JUnit output: parses as XML, counts add up, findings fail, undecided findings and gaps error,
suppressions skip."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from report_samples import HOSTILE, HOSTILE_RULE, PASS_RULE, QUIET_RULE, finding, resource_id, sample_report

from asr_audit.report import render


def junit(**overrides: object) -> ET.Element:
    text = render(sample_report(**overrides), "junit")
    assert text.startswith("<?xml version='1.0' encoding='utf-8'?>")
    return ET.fromstring(text.encode("utf-8"))  # a parser error here means invalid XML 1.0


def suites(root: ET.Element) -> dict[str, ET.Element]:
    return {s.get("name", ""): s for s in root.iter("testsuite")}


def outcome(case: ET.Element) -> str:
    children = [c.tag for c in case]
    assert len(children) <= 1, children
    return children[0] if children else "passed"


def test_one_suite_per_rule_plus_coverage() -> None:
    assert list(suites(junit())) == [HOSTILE_RULE, PASS_RULE, QUIET_RULE, "coverage"]


def test_findings_fail_unknowns_error_suppressed_skip_quiet_rules_pass_gaps_error() -> None:
    by_suite = {name: [outcome(c) for c in s.iter("testcase")] for name, s in suites(junit()).items()}
    assert by_suite == {
        HOSTILE_RULE: ["failure", "error"],  # an `unknown` finding: the rule could not decide
        PASS_RULE: ["passed"],
        QUIET_RULE: ["skipped"],
        "coverage": ["error", "error"],
    }


def test_counts_on_suites_and_root_match_the_testcases() -> None:
    root = junit()
    for suite in root.iter("testsuite"):
        cases = list(suite.iter("testcase"))
        assert int(suite.get("tests", "-1")) == len(cases)
        for tag, attr in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
            assert int(suite.get(attr, "-1")) == sum(1 for c in cases if c.find(tag) is not None)
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == (
        "6",
        "1",
        "3",
        "1",
    )


def test_testcase_identity_is_rule_and_resource() -> None:
    suite = suites(junit())[HOSTILE_RULE]
    high = next(c for c in suite.iter("testcase") if c.find("failure") is not None)
    assert high.find("failure").get("type") == "high"
    assert high.get("classname") == HOSTILE_RULE
    assert high.get("name", "").endswith(" [0.0.0.0/0]")  # the rule key tells findings apart
    undecided = next(c for c in suite.iter("testcase") if c.find("error") is not None)
    assert undecided.get("name") == f"{HOSTILE_RULE}: vnet-b"  # short: the full id is in the body
    assert f"Resource: {resource_id('vnet-b')}" in (undecided.find("error").text or "")
    assert [c.get("name") for c in suites(junit())[PASS_RULE].iter("testcase")] == [
        f"{PASS_RULE}: no findings"
    ]
    failure = high.find("failure")
    assert "Remediation: Fix NET-TEST-HOSTILE." in (failure.text or "")
    assert "Fingerprint: " in (failure.text or "")
    undecided = next(c for c in suite.iter("testcase") if c.find("error") is not None)
    assert undecided.find("error").get("type") == "medium"
    assert "could not be decided" in undecided.find("error").get("message", "")
    assert "Status: unknown" in (undecided.find("error").text or "")


def test_a_key_that_is_an_id_shows_as_its_name() -> None:
    item = finding(HOSTILE_RULE, resource_id("9b11"), key=resource_id("afw-hub"), resource_name="vm-app-02")
    (case,) = suites(junit(findings=[item], coverage=[]))[HOSTILE_RULE].iter("testcase")
    assert case.get("name") == f"{HOSTILE_RULE}: vm-app-02 [afw-hub]"


def test_suppressed_case_says_why() -> None:
    (case,) = suites(junit())[QUIET_RULE].iter("testcase")
    assert case.find("skipped").get("message", "").startswith("suppressed: accepted <b>")


def test_no_gaps_no_coverage_suite() -> None:
    root = junit(coverage=[])
    assert "coverage" not in suites(root)
    assert root.get("errors") == "1"  # the undecided finding


def test_a_suppressed_unknown_is_skipped_not_an_error() -> None:
    findings = [f for f in sample_report().findings if f.status == "unknown"]
    findings[0].suppressed, findings[0].suppression_reason = True, "accepted"
    root = junit(findings=findings, coverage=[])
    assert [outcome(c) for c in suites(root)[HOSTILE_RULE].iter("testcase")] == ["skipped"]
    assert root.get("errors") == "0"


def test_empty_run_is_valid_and_all_pass() -> None:
    root = junit(findings=[], coverage=[])
    assert [outcome(c) for c in root.iter("testcase")] == ["passed"] * 3
    assert root.get("failures") == "0"


def test_hostile_text_round_trips_as_text_only() -> None:
    root = junit()
    case = next(c for c in suites(root)[HOSTILE_RULE].iter("testcase") if "script" in c.get("name", ""))
    name = case.get("name", "")
    assert name == f"{HOSTILE_RULE}: script>|`tick` [0.0.0.0/0]"  # the name: what follows the last /
    assert len(list(case)) == 1  # markup in the name created no elements
    body = case.find("failure").text or ""
    assert "<script>alert(1)</script>" in body  # escaped by the serialiser, read back as text
    assert "\x1b" not in body and "\\x1b[31m" in body
    assert "\\x00" in body and "\\x07" in body and "\\u202e" in body
    assert HOSTILE not in body  # the raw ESC is gone everywhere
    errors = [c.find("error") for c in suites(root)["coverage"].iter("testcase")]
    forbidden = next(e for e in errors if e.get("type") == "forbidden")
    assert "<script>" in (forbidden.text or "")
