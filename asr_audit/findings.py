"""Findings: what a rule reports, in the shape every output format renders."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Severity(str, Enum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is worse; `--fail-on` compares ranks."""
        return _RANK[self]


_RANK = {Severity.CRITICAL: 4, Severity.HIGH: 3, Severity.MEDIUM: 2, Severity.LOW: 1, Severity.INFO: 0}


def fingerprint(rule_id: str, resource_id: str, key: str = "") -> str:
    """Stable across runs and case variants of the id, so baselines and suppressions hold."""
    raw = "|".join((rule_id, resource_id.lower().rstrip("/"), key.lower()))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


@dataclass(slots=True)
class Finding:
    rule_id: str
    title: str
    severity: Severity
    status: str  # fail | unknown
    subscription_id: str
    resource_id: str
    resource_type: str | None
    region: str | None
    message: str
    remediation: str
    docs: str | None
    evidence: dict[str, Any] = field(default_factory=dict)
    key: str = ""
    # What an admin calls the resource where its id ends in a GUID (replicated items): the table
    # shows it instead of the GUID. None: the id's last segment is the name.
    resource_name: str | None = None
    suppressed: bool = False
    suppression_reason: str | None = None
    baseline: str | None = None  # new | unchanged, when --baseline is given
    # The collector run (`Coverage.collector`) whose gap this `unknown` finding restates: it is
    # about data the scan lacks, not a resource, so a `--resource-group` view keeps it.
    gap: str | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule_id, self.resource_id, self.key)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "title": self.title,
            "severity": self.severity.value,
            "status": self.status,
            "subscription_id": self.subscription_id,
            "resource_id": self.resource_id,
            "resource_type": self.resource_type,
            "resource_name": self.resource_name,
            "region": self.region,
            "message": self.message,
            "remediation": self.remediation,
            "docs": self.docs,
            "evidence": self.evidence,
            "fingerprint": self.fingerprint,
            "suppressed": self.suppressed,
            "suppression_reason": self.suppression_reason,
            "baseline": self.baseline,
            "gap": self.gap,
        }
