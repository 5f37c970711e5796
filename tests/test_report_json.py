"""`--output json`: the versioned report document validated against its JSON Schema.

The schema is a copy of `../shared/schemas/asr-audit-report.schema.json` (relative to the repo
root) in `tests/data/`, so the suite does not depend on the shared folder, extended with the
coverage statuses and fields of DESIGN.md §8.2 (`partial`, `not_collected`, `timeout`, `unread`, `scope`),
the `estate` summary (with each vault's replication policies) and the `passed` list of
`--include-passed` (issue 12), and the `ENC` rule prefix.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from asr_audit.findings import Finding, Severity
from asr_audit.inventory import Coverage
from asr_audit.report import Report, json_report, render
from asr_audit.report.json_report import document

SCHEMA = json.loads((Path(__file__).parent / "data" / "asr-audit-report.schema.json").read_text("utf-8"))
SUB = "5e0c8a41-7d2b-4c3f-9e1a-0b2c3d4e5f60"


def finding(name: str, severity: Severity, **kwargs: Any) -> Finding:
    rid = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{name}"
    fields: dict[str, Any] = {
        "rule_id": "VM-NAME",
        "title": "Target VM name is invalid",
        "severity": severity,
        "status": "fail",
        "subscription_id": SUB,
        "resource_id": rid,
        "resource_type": "Microsoft.Compute/virtualMachines",
        "region": "westeurope",
        "message": f"{name} cannot be a target name",
        "remediation": "rename it",
        "docs": "https://example.invalid/VM-NAME.md",
        "evidence": {"name": name},
    }
    fields.update(kwargs)
    return Finding(**fields)


def report(findings: list[Finding], coverage: list[Coverage] | None = None, **kwargs: Any) -> Report:
    return Report(
        tool_version="9.9.9",
        subscriptions=[SUB],
        cloud="AzureCloud",
        source_region="westeurope",
        target_region=None,
        started_at="2025-01-02T03:04:05Z",
        finished_at="2025-01-02T03:04:09Z",
        findings=findings,
        coverage=coverage if coverage is not None else [Coverage(SUB, "compute", "ok", items=3)],
        rules_run=["VM-NAME", "DSK-SIZE"],
        **kwargs,
    )


def full_report() -> Report:
    return report(
        [
            finding("crit", Severity.CRITICAL),
            finding("high", Severity.HIGH, status="unknown", baseline="new"),
            finding(
                "low", Severity.LOW, suppressed=True, suppression_reason="accepted", baseline="unchanged"
            ),
        ],
        coverage=[
            Coverage(SUB, "compute", "ok", items=3),
            Coverage(SUB, "network", "forbidden", detail="AuthorizationFailed"),
        ],
        suppression_notes=[{"status": "unused", "rule": "NET-*", "resource": "*", "matched": 0}],
        resolved=[
            {"rule_id": "DSK-SIZE", "resource_id": "/x", "fingerprint": "f", "title": None, "severity": None}
        ],
    )


def test_full_report_is_valid_against_the_schema() -> None:
    doc = json.loads(render(full_report(), "json"))
    jsonschema.validate(doc, SCHEMA)
    assert doc["schema_version"] == "1"
    assert doc["tool"] == {"name": "asr-audit", "version": "9.9.9"}
    assert doc["scope"] == {
        "subscriptions": [SUB],
        "source_region": "westeurope",
        "target_region": None,
        "cloud": "AzureCloud",
        "resource_groups": [],
    }
    assert doc["rules_run"] == ["VM-NAME", "DSK-SIZE"]


def test_empty_report_is_valid_and_omits_optional_sections() -> None:
    doc = json.loads(render(report([]), "json"))
    jsonschema.validate(doc, SCHEMA)
    assert doc["findings"] == []
    assert doc["summary"] == {
        "by_severity": {"critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0},
        "total": 0,
        "suppressed": 0,
    }
    assert "suppressions" not in doc and "resolved" not in doc


def test_schema_validation_is_not_vacuous() -> None:
    """The copied schema must reject a document that breaks the contract."""
    doc = document(full_report())
    doc["findings"][0]["severity"] = "urgent"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMA)
    doc = document(full_report())
    del doc["coverage"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMA)


def test_summary_counts_only_unsuppressed_findings_in_total() -> None:
    doc = document(full_report())
    summary = doc["summary"]
    assert summary["by_severity"] == {"critical": 1, "high": 1, "medium": 0, "low": 0, "info": 0}
    assert summary["total"] == sum(summary["by_severity"].values()) == 2
    assert summary["suppressed"] == 1


def test_findings_keep_suppression_baseline_and_fingerprint() -> None:
    report_ = full_report()
    doc = document(report_)
    by_name = {f["evidence"]["name"]: f for f in doc["findings"]}
    assert by_name["low"]["suppressed"] is True
    assert by_name["low"]["suppression_reason"] == "accepted"
    assert by_name["high"]["status"] == "unknown"
    assert by_name["high"]["baseline"] == "new"
    assert [f["fingerprint"] for f in doc["findings"]] == [f.fingerprint for f in report_.findings]


def test_coverage_lists_every_collector_run_with_its_detail() -> None:
    doc = document(full_report())
    assert doc["coverage"] == [
        {
            "subscription_id": SUB,
            "collector": "compute",
            "status": "ok",
            "detail": None,
            "items": 3,
            "unread": [],
            "object_id": None,
        },
        {
            "subscription_id": SUB,
            "collector": "network",
            "status": "forbidden",
            "detail": "AuthorizationFailed",
            "items": 0,
            "unread": [],
            "object_id": None,
        },
    ]


def test_suppression_notes_and_resolved_appear_when_present() -> None:
    doc = document(full_report())
    assert doc["suppressions"][0]["status"] == "unused"
    assert doc["resolved"][0]["rule_id"] == "DSK-SIZE"


def test_key_order_is_stable_and_readable() -> None:
    doc = document(full_report())
    assert list(doc)[:8] == [
        "schema_version",
        "tool",
        "scope",
        "started_at",
        "finished_at",
        "summary",
        "rules_run",
        "coverage",
    ]
    assert list(doc["findings"][0])[:3] == ["rule_id", "title", "severity"]


class Colour(Enum):
    RED = "red"


def test_free_form_evidence_with_sets_and_enums_still_renders() -> None:
    odd = finding(
        "odd", Severity.HIGH, evidence={"ports": {443, 80}, "colour": Colour.RED, "pair": ("a", "b")}
    )
    doc = json.loads(render(report([odd]), "json"))
    jsonschema.validate(doc, SCHEMA)
    assert doc["findings"][0]["evidence"] == {"ports": [443, 80], "colour": "red", "pair": ["a", "b"]}


def test_a_token_anywhere_in_the_document_is_redacted_and_a_clean_one_is_written_as_it_is() -> None:
    jwt = "eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJ4In0.c2ln"
    leaky = finding("leaky", Severity.HIGH, evidence={f"seen with Bearer {jwt[:12]}x": {"sets": {jwt}}})
    text = render(report([leaky]), "json")
    assert "eyJ0eXAi" not in text and "[redacted]" in text  # in a key, and in a set turned list
    clean = report([finding("clean", Severity.HIGH, evidence={"ports": {443}})])
    assert render(clean, "json") == json.dumps(json.loads(render(clean, "json")), indent=2) + "\n"


def test_a_large_report_comes_in_pieces_that_make_the_indented_document() -> None:
    many = report([finding(f"vm{n:05d}", Severity.HIGH, evidence={"ports": {443}}) for n in range(1_500)])
    pieces = list(json_report.chunks(many))
    assert len(pieces) > 2  # written as it is encoded, never held whole
    text = "".join(pieces)
    assert text == json.dumps(json.loads(text), indent=2) + "\n" == render(many, "json")
    # the findings, made JSON one at a time as they are written, are the document's
    assert json.loads(text) == json.loads(json.dumps(document(many), default=sorted))
    assert len(json.loads(text)["findings"]) == 1_500


def test_a_token_is_redacted_in_whichever_piece_it_lands_and_no_literal_is_cut() -> None:
    jwt = "eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJ4In0.c2ln"
    names = [f"vm{n:05d}" for n in range(1_500)]
    leaks = {0, 700, 1_499}  # the first piece, a middle one and the last
    findings = [
        finding(name, Severity.HIGH, evidence={"seen": f"Bearer {jwt}" if n in leaks else "nothing"})
        for n, name in enumerate(names)
    ]
    pieces = list(json_report.chunks(report(findings)))
    assert len(pieces) > 2
    assert all(piece.count('"') % 2 == 0 for piece in pieces)  # whole string literals only
    text = "".join(pieces)
    assert "eyJ0eXAi" not in text
    seen = [f["evidence"]["seen"] for f in json.loads(text)["findings"]]
    assert [n for n, value in enumerate(seen) if value != "nothing"] == sorted(leaks)
    assert {seen[n] for n in leaks} == {"Bearer [redacted]"}


def test_control_characters_in_resource_text_are_escaped_json() -> None:
    nasty = finding("x\x1b[31m\u202e", Severity.HIGH)
    text = render(report([nasty]), "json")
    assert "\x1b" not in text and "\u202e" not in text  # JSON escapes, the value itself is intact
    assert json.loads(text)["findings"][0]["evidence"]["name"] == "x\x1b[31m\u202e"


def test_timestamps_are_rfc3339_utc() -> None:
    from asr_audit.app.runner import utc_now

    stamp = utc_now()
    assert stamp.endswith("Z")
    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert parsed.utcoffset() == timedelta(0)
