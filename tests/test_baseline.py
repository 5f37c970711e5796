"""Baseline: previous JSON report loading, and new / unchanged / resolved by fingerprint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_samples import HOSTILE_RULE, QUIET_RULE, finding, resource_id, sample_report

from asr_audit.errors import UsageError
from asr_audit.findings import Finding
from asr_audit.report import render
from asr_audit.triage import baseline


def previous_report(tmp_path: Path, findings: list[Finding]) -> Path:
    """A real `--output json` report, as a scheduled run would have left it."""
    path = tmp_path / "previous.json"
    path.write_text(render(sample_report(findings=findings), "json"), encoding="utf-8")
    return path


def test_new_unchanged_and_resolved(tmp_path: Path) -> None:
    kept = finding(HOSTILE_RULE, resource_id("vnet-a"), key="k")
    fixed = finding(QUIET_RULE, resource_id("cache1", kind="storageAccounts"), "GRS cache")
    previous = baseline.load(previous_report(tmp_path, [kept, fixed]))

    same_again = finding(HOSTILE_RULE, resource_id("vnet-a"), "reworded message", key="k")
    brand_new = finding(HOSTILE_RULE, resource_id("vnet-b"), key="k")
    resolved = baseline.apply([same_again, brand_new], previous)

    assert (same_again.baseline, brand_new.baseline) == ("unchanged", "new")
    assert resolved == [
        {
            "rule_id": QUIET_RULE,
            "resource_id": fixed.resource_id,
            "fingerprint": fixed.fingerprint,
            "title": fixed.title,
            "severity": "low",
        }
    ]


def test_id_case_variant_is_unchanged(tmp_path: Path) -> None:
    before = finding(HOSTILE_RULE, resource_id("vnet-a"))
    previous = baseline.load(previous_report(tmp_path, [before]))
    asr_case = resource_id("VNET-A").replace("/subscriptions/", "/Subscriptions/")
    now = finding(HOSTILE_RULE, asr_case)
    assert baseline.apply([now], previous) == []
    assert now.baseline == "unchanged"


def test_another_key_on_the_same_resource_is_new(tmp_path: Path) -> None:
    previous = baseline.load(previous_report(tmp_path, [finding(HOSTILE_RULE, resource_id("v"), key="a")]))
    now = finding(HOSTILE_RULE, resource_id("v"), key="b")
    assert len(baseline.apply([now], previous)) == 1
    assert now.baseline == "new"


def test_suppressed_previous_finding_that_disappears_is_resolved(tmp_path: Path) -> None:
    gone = finding(QUIET_RULE, resource_id("c", kind="storageAccounts"))
    gone.suppressed = True
    previous = baseline.load(previous_report(tmp_path, [gone]))
    assert [r["fingerprint"] for r in baseline.apply([], previous)] == [gone.fingerprint]


def test_empty_previous_marks_everything_new(tmp_path: Path) -> None:
    previous = baseline.load(previous_report(tmp_path, []))
    now = [finding(HOSTILE_RULE, resource_id("a")), finding(QUIET_RULE, resource_id("b"))]
    assert baseline.apply(now, previous) == []
    assert [f.baseline for f in now] == ["new", "new"]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"findings": [\n  {"fingerprint": "x",\n  }\n]}', "not valid JSON: Expecting property name"),
        ('{"findings": [\n  {"fingerprint": "x",\n  }\n]}', "at line 3, column 3"),
        ("[]", "not an asr-audit JSON report"),
        ('{"runs": []}', "not an asr-audit JSON report"),
        ('{"findings": {"a": 1}}', "not an asr-audit JSON report"),
        ('{"findings": [{"rule_id": "R", "resource_id": "/x"}]}', "findings[0] has no string 'fingerprint'"),
        ('{"findings": [{"fingerprint": 5, "rule_id": "R", "resource_id": "/x"}]}', "'fingerprint'"),
        ('{"findings": ["oops"]}', "findings[0]"),
    ],
)
def test_invalid_baseline_is_a_usage_error(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UsageError) as err:
        baseline.load(path)
    assert words in str(err.value)


def test_unreadable_baseline_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read baseline"):
        baseline.load(tmp_path / "missing.json")
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\xfd")
    with pytest.raises(UsageError, match="cannot read baseline"):
        baseline.load(binary)


def test_minimal_hand_written_baseline(tmp_path: Path) -> None:
    path = tmp_path / "min.json"
    doc = {"findings": [{"fingerprint": "abc", "rule_id": "R", "resource_id": "/x", "title": 3}]}
    path.write_text(json.dumps(doc), encoding="utf-8")
    (resolved,) = baseline.apply([], baseline.load(path))
    assert resolved["title"] is None and resolved["severity"] is None
