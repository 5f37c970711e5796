"""`--output junit`: JUnit XML for Azure DevOps `PublishTestResults@2` and GitHub test reporters.

A scan knows its findings, not every resource a rule looked at, so the mapping is:
one `<testsuite>` per rule (name = rule id), and in it one `<testcase>` per finding
(`classname` = rule id, `name` = `RULE-ID: resource-name`, plus the rule key in brackets when
there is one: test tabs show the name in a narrow column, so the full ARM id goes in the body) that
*fails*, or is an *error* when its status is `unknown` (the rule could not decide: neither a
pass nor a plain failure, DESIGN.md §8.2), or is *skipped* when suppressed; a rule that ran
and found nothing is one passing testcase. Collector coverage gaps go in a `coverage` suite
as *errors* too: the scan could not look. Times are 0: rules are not timed per resource.

The XML is built with ElementTree, which escapes markup; `clean()` first makes control and
other XML-1.0-invalid characters visible, since ElementTree would write them verbatim and
produce a file no parser accepts.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import defaultdict

from asr_audit import ids
from asr_audit.findings import Finding, FindingStatus
from asr_audit.inventory import Coverage
from asr_audit.report import Report
from asr_audit.report.sanitize import clean, clean_tree

_COUNTS = ("tests", "failures", "errors", "skipped")


def render(report: Report) -> str:
    root = ET.Element("testsuites", name="asr-audit")
    by_rule: dict[str, list[Finding]] = defaultdict(list)
    for finding in report.findings:
        by_rule[finding.rule_id].append(finding)
    passed = report.passed_by_rule()
    for rule_id in sorted(set(report.rules_run) | set(by_rule) | set(passed)):
        suite = ET.SubElement(root, "testsuite", name=rule_id)
        findings = by_rule.get(rule_id)
        if not findings and rule_id not in passed:
            _case(suite, rule_id, f"{clean(rule_id)}: no findings")
        for check in passed.get(rule_id, ()):  # --include-passed: each resource it passed
            resource = check.resource_name or ids.name_of(check.resource_id)
            _case(suite, rule_id, clean(f"{rule_id}: {resource}"))
        for finding in sorted(findings or (), key=lambda f: (-f.severity.rank, f.resource_id.lower(), f.key)):
            _finding_case(suite, finding)
    if report.gaps:
        suite = ET.SubElement(root, "testsuite", name="coverage")
        for gap in report.gaps:
            _gap_case(suite, gap)
    _total(root)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _case(suite: ET.Element, classname: str, name: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=classname, name=name, time="0")


def test_name(finding: Finding) -> str:
    """`RULE-ID: resource-name [key]`; a key that is an ARM id shows as its name."""
    resource = finding.resource_name or ids.name_of(finding.resource_id)
    key = ids.name_of(finding.key) if finding.key.startswith("/") else finding.key
    return clean(f"{finding.rule_id}: {resource}" + (f" [{key}]" if key else ""))


def _finding_case(suite: ET.Element, finding: Finding) -> None:
    case = _case(suite, finding.rule_id, test_name(finding))
    if finding.suppressed:
        ET.SubElement(case, "skipped", message=clean(f"suppressed: {finding.suppression_reason or ''}"))
        return
    undecided = finding.status is FindingStatus.UNKNOWN
    outcome = ET.SubElement(
        case,
        "error" if undecided else "failure",
        message=clean(
            f"{finding.severity.value}{' (could not be decided)' if undecided else ''}: {finding.message}"
        ),
        type=finding.severity.value,
    )
    outcome.text = _details(finding)


def _details(finding: Finding) -> str:
    lines = [
        f"Rule: {finding.rule_id} - {finding.title}",
        f"Resource: {finding.resource_id}",
        f"Severity: {finding.severity.value}",
        f"Status: {finding.status.value}",
        f"Message: {finding.message}",
        f"Remediation: {finding.remediation}",
        f"Docs: {finding.docs or '-'} (rule page: asr-audit explain {finding.rule_id})",
        f"Fingerprint: {finding.fingerprint}",
    ]
    if finding.baseline:
        lines.append(f"Baseline: {finding.baseline}")
    if finding.evidence:
        evidence = json.dumps(clean_tree(finding.evidence), ensure_ascii=False, sort_keys=True)
        lines.append(f"Evidence: {evidence}")
    return clean("\n".join(lines), multiline=True)


def _gap_case(suite: ET.Element, gap: Coverage) -> None:
    case = _case(suite, "coverage", clean(f"{gap.subscription_id}/{gap.collector}"))
    error = ET.SubElement(
        case,
        "error",
        message=clean(f"{gap.collector} could not be read: {gap.status}"),
        type=clean(gap.status),
    )
    error.text = clean(gap.detail or gap.status, multiline=True)


def _total(root: ET.Element) -> None:
    totals = dict.fromkeys(_COUNTS, 0)
    for suite in root:
        cases = suite.findall("testcase")
        counts = {
            "tests": len(cases),
            "failures": sum(1 for c in cases if c.find("failure") is not None),
            "errors": sum(1 for c in cases if c.find("error") is not None),
            "skipped": sum(1 for c in cases if c.find("skipped") is not None),
        }
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", "0")
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", "0")
