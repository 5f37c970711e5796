"""`--output sarif`: SARIF 2.1.0 for GitHub code scanning and other SARIF viewers.

Choices a reader of the output should know:

- **Locations.** SARIF viewers and GitHub need a file-like location, and GitHub rejects
  URIs with a scheme it does not know. Each result therefore carries a *pseudo-path*: the
  ARM id made relative and lower-cased (`subscriptions/<sub>/resourcegroups/<rg>/providers/
  ...`), percent-encoded, at line 1. It is stable across runs and id case variants, so an
  alert stays one alert; it names no real file in the repository. The exact id, in its
  original case, is the result's logical location (`kind: resource`).
- **Identity.** `partialFingerprints["asrAudit/v1"]` is the finding fingerprint (rule id +
  lower-cased resource id + rule key), which GitHub uses to track an alert across runs.
- **Severity.** `level`: critical/high -> error, medium -> warning, low/info -> note. An
  `unknown` finding (the rule could not decide) is `kind: review` with `level: none`, as SARIF
  §3.27.9 requires of any kind but `fail`: it asks a person to look, it does not assert a defect;
  its severity stays in `properties.severity`.
  Rules carry `security-severity` (GitHub's 0-10 scale: critical 9.5, high 8.0, medium
  5.5, low 2.0, info 0.0) and the `security` tag, without which GitHub ignores the score;
  DR readiness is availability, one leg of security.
- **Links.** A rule's `helpUri` is the Microsoft document it rests on; its full page ships with
  the tool (`asr-audit explain RULE-ID`), so no link points at a site that may not exist. The
  driver has no `informationUri` for the same reason.
- **Suppressed findings** stay as results with an `external` suppression and its reason.
- **Baseline**: `baselineState` new/unchanged per result; resolved findings are listed in
  `run.properties.resolved` rather than as `absent` results, which GitHub would turn into
  alerts.
- **Coverage gaps** are `toolExecutionNotifications` and make `executionSuccessful` false, as
  does any unsuppressed `unknown` result (a rule that could not decide did not fully run);
  expired/unused suppression entries are `toolConfigurationNotifications`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from asr_audit import ids
from asr_audit.findings import Check, Finding, FindingStatus, RuleMeta, Severity
from asr_audit.report import Report
from asr_audit.report.sanitize import clean, clean_tree, markdown_url, sarif_message
from asr_audit.triage.suppressions import describe_note

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
TOOL_NAME = "asr-audit"
FINGERPRINT_KEY = "asrAudit/v1"

LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "2.0",
    Severity.INFO: "0.0",
}
_TAGS = ("security", "disaster-recovery", "azure-site-recovery")
# Collector outcomes that mean "we could not look", versus "there was nothing there".
_GAP_LEVEL = {"not_found": "warning"}


def render(report: Report) -> str:
    return json.dumps(document(report), indent=2, ensure_ascii=False) + "\n"


def document(report: Report) -> dict[str, Any]:
    passed = report.passed or []
    rule_ids = sorted(
        set(report.rules_run) | {f.rule_id for f in report.findings} | {c.rule_id for c in passed}
    )
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    descriptors = [
        _descriptor(report.rules[r]) if r in report.rules else _unknown_descriptor(r, report.findings)
        for r in rule_ids
    ]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": report.tool_version,
                "rules": descriptors,
            }
        },
        "invocations": [_invocation(report)],
        "results": [
            *(_result(f, index[f.rule_id]) for f in report.findings),
            *(_pass_result(c, index[c.rule_id]) for c in passed),
        ],
        "columnKind": "unicodeCodePoints",
        "properties": {
            "scope": {
                "subscriptions": [clean(s) for s in report.subscriptions],
                "cloud": report.cloud,
                "sourceRegion": report.source_region,
                "targetRegion": report.target_region,
            },
        },
    }
    if report.resolved:
        run["properties"]["resolved"] = clean_tree(report.resolved)
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def _text(value: object) -> dict[str, str]:
    return {"text": sarif_message(value)}


def _pascal(title: str, fallback: str) -> str:
    """SARIF's friendly rule name convention: one PascalCase identifier."""
    words = re.findall(r"[A-Za-z0-9]+", title) or re.findall(r"[A-Za-z0-9]+", fallback)
    return "".join(w[:1].upper() + w[1:] for w in words)


def _descriptor(meta: RuleMeta) -> dict[str, Any]:
    """Rule metadata is authored in this repository, so its Markdown is meant to render."""
    docs = markdown_url(meta.microsoft_docs)
    page = f"asr-audit explain {meta.id}"
    help_markdown = (
        f"**Why it matters:** {clean(meta.rationale, multiline=True)}\n\n"
        f"**How to fix:** {clean(meta.remediation, multiline=True)}\n\n"
        f"**Full page:** `{page}`"
    )
    descriptor: dict[str, Any] = {
        "id": meta.id,
        "name": _pascal(meta.title, meta.id),
        "shortDescription": _text(meta.title),
        "fullDescription": _text(meta.rationale),
        "help": {
            "text": sarif_message(
                f"{meta.remediation}\n\nDocumentation: {docs or 'none'}\nFull page: {page}"
            ),
            "markdown": help_markdown + (f"\n\n[Documentation]({docs})" if docs else ""),
        },
        "defaultConfiguration": {"level": LEVEL[meta.severity]},
        "properties": {
            "tags": list(dict.fromkeys((*_TAGS, meta.category))),
            "security-severity": SECURITY_SEVERITY[meta.severity],
            "category": meta.category,
            "source": clean(meta.source),
        },
    }
    if docs:
        descriptor["helpUri"] = docs
    return descriptor


def _unknown_descriptor(rule_id: str, findings: list[Finding]) -> dict[str, Any]:
    """A rule missing from the catalog (renamed, or from old data): describe it from its findings."""
    sample = next((f for f in findings if f.rule_id == rule_id), None)
    title = clean(sample.title) if sample and sample.title else rule_id
    severity = sample.severity if sample else Severity.INFO
    return {
        "id": rule_id,
        "name": _pascal(title, rule_id),
        "shortDescription": _text(title),
        "defaultConfiguration": {"level": LEVEL[severity]},
        "properties": {"tags": list(_TAGS), "security-severity": SECURITY_SEVERITY[severity]},
    }


def pseudo_path(finding: Finding | Check) -> str:
    """The stable relative 'file' GitHub files the alert under (see module docstring)."""
    rid = ids.key(clean(finding.resource_id)).lstrip("/")
    if not rid:
        rid = f"subscriptions/{(finding.subscription_id or 'unknown').lower()}"
    return quote(rid, safe="/-._~")


def _locations(subject: Finding | Check) -> list[dict[str, Any]]:
    rid = clean(subject.resource_id)
    return [
        {
            "physicalLocation": {
                "artifactLocation": {"uri": pseudo_path(subject)},
                "region": {"startLine": 1},
            },
            "logicalLocations": [{"fullyQualifiedName": rid, "name": ids.name_of(rid), "kind": "resource"}],
        }
    ]


def _pass_result(check: Check, rule_index: int) -> dict[str, Any]:
    """--include-passed: SARIF's own `pass` kind (level `none`), the audit evidence of a check."""
    return {
        "ruleId": check.rule_id,
        "ruleIndex": rule_index,
        "kind": "pass",
        "level": "none",
        "message": _text(
            f"{check.rule_id} examined {ids.name_of(check.resource_id)} and found nothing wrong."
        ),
        "locations": _locations(check),
        "properties": {
            "status": "pass",
            "subscriptionId": clean(check.subscription_id),
            "resourceType": clean(check.resource_type) or None,
            "region": clean(check.region) or None,
        },
    }


def _result(finding: Finding, rule_index: int) -> dict[str, Any]:
    undecided = finding.status is FindingStatus.UNKNOWN
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "kind": "review" if undecided else "fail",
        "level": "none" if undecided else LEVEL[finding.severity],
        "message": _text(finding.message),
        "locations": _locations(finding),
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
        "properties": {
            "severity": finding.severity.value,
            "status": finding.status.value,
            "subscriptionId": clean(finding.subscription_id),
            "resourceType": clean(finding.resource_type) or None,
            "region": clean(finding.region) or None,
            "remediation": clean(finding.remediation, multiline=True),
            "evidence": clean_tree(finding.evidence),
        },
    }
    if finding.baseline:
        result["baselineState"] = finding.baseline
    if finding.suppressed:
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": clean(finding.suppression_reason or "suppressed", multiline=True),
            }
        ]
    return result


def _invocation(report: Report) -> dict[str, Any]:
    invocation: dict[str, Any] = {
        "executionSuccessful": not report.gaps
        and not any(f.status is FindingStatus.UNKNOWN for f in report.active),
        "toolExecutionNotifications": [
            {
                "level": _GAP_LEVEL.get(gap.status, "error"),
                "message": _text(
                    f"{gap.collector} could not be read in subscription {gap.subscription_id}: {gap.status}"
                    + (f" ({gap.detail})" if gap.detail else "")
                ),
                "descriptor": {"id": f"coverage/{clean(gap.collector)}"},
                "properties": {
                    "subscriptionId": clean(gap.subscription_id),
                    "collector": clean(gap.collector),
                    "status": gap.status,
                },
            }
            for gap in report.gaps
        ],
        "toolConfigurationNotifications": [
            {
                "level": "warning",
                "message": _text(describe_note(note)),
                "descriptor": {"id": f"suppression/{note.get('status')}"},
            }
            for note in report.suppression_notes
        ],
    }
    for key, value in (("startTimeUtc", report.started_at), ("endTimeUtc", report.finished_at)):
        stamp = _utc(value)
        if stamp:
            invocation[key] = stamp
    return invocation


def _utc(value: str | None) -> str | None:
    """SARIF wants RFC 3339 UTC; a report time we cannot read is left out, not guessed."""
    try:
        stamp = datetime.fromisoformat((value or "").replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        return None
    return stamp.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
