"""A sample `Report` for the output-format tests, with hostile resource-derived text.

The rules are test-only: the report carries their metadata (`Report.rules`), as a run hands it
over, so format tests do not depend on the real rule catalog. The sample covers each
case a format must render: an active finding whose name and message carry Rich markup, an
ANSI escape, HTML, a Markdown pipe and backticks, a CSV formula and XML-invalid characters;
an `unknown`-status finding; a suppressed finding; a rule that ran with no finding; and
coverage gaps.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from asr_audit.findings import Finding, RuleMeta, Severity
from asr_audit.inventory import Coverage
from asr_audit.report import Report

SUB = "3f2a8c1e-5b7d-4e09-9a6c-1d2e3f4a5b6c"
HOSTILE = "[red]x\x1b[31m<script>alert(1)</script>|`tick`"
FORMULA = "=cmd|' /C calc'!A0"
XML_INVALID = "nul\x00 bell\x07 surrogate\ud800 rlo\u202e"

HOSTILE_RULE = "NET-TEST-HOSTILE"
QUIET_RULE = "STG-TEST-QUIET"
PASS_RULE = "PLC-TEST-PASS"


def _meta(rule_id: str, severity: Severity, category: str) -> RuleMeta:
    return RuleMeta(
        id=rule_id,
        title=f"Test rule {rule_id.lower()}",
        severity=severity,
        category=category,
        rationale=f"Why {rule_id} matters.",
        remediation=f"Fix {rule_id}.",
        microsoft_docs="https://learn.microsoft.com/azure/site-recovery/azure-to-azure-about-networking",
        source="test",
    )


METAS = {
    HOSTILE_RULE: _meta(HOSTILE_RULE, Severity.HIGH, "network"),
    QUIET_RULE: _meta(QUIET_RULE, Severity.LOW, "storage"),
    PASS_RULE: _meta(PASS_RULE, Severity.MEDIUM, "placement"),
}


def resource_id(name: str, rg: str = "rg-app", kind: str = "virtualNetworks") -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network/{kind}/{name}"


def finding(rule_id: str, resource: str, message: str = "something is wrong", **kwargs: Any) -> Finding:
    return METAS[rule_id].finding(resource_id=resource, message=message, **kwargs)


def sample_findings() -> list[Finding]:
    hostile = finding(
        HOSTILE_RULE,
        resource_id(HOSTILE),
        f"{FORMULA} routes via {HOSTILE}",
        region="West US",
        resource_type="Microsoft.Network/virtualNetworks",
        evidence={"name": HOSTILE, "weird": XML_INVALID, "prefixes": ("10.0.0.0/16",)},
        key="0.0.0.0/0",
    )
    undecided = finding(
        HOSTILE_RULE,
        resource_id("vnet-b"),
        "peer VNet unreadable",
        severity=Severity.MEDIUM,
        status="unknown",
    )
    quiet = finding(QUIET_RULE, resource_id("cache1", kind="storageAccounts"), "GRS cache")
    quiet.suppressed = True
    quiet.suppression_reason = f"accepted <b>{HOSTILE}</b>"
    return [hostile, undecided, quiet]


def sample_report(**overrides: Any) -> Report:
    report = Report(
        tool_version="0.1.0",
        subscriptions=[SUB],
        cloud="AzureCloud",
        source_region="westus",
        target_region="eastus",
        started_at="2025-01-02T03:04:05Z",
        finished_at="2025-01-02T03:05:00Z",
        findings=sample_findings(),
        coverage=[
            Coverage(SUB, "network", "ok", items=3),
            Coverage(SUB, "storage", "forbidden", f"AuthorizationFailed on {HOSTILE}"),
            Coverage(SUB, "asr", "throttled", None),
        ],
        rules_run=sorted(METAS),
        rules=dict(sorted(METAS.items())),
    )
    return replace(report, **overrides)
