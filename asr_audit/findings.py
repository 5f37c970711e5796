"""Findings and rule metadata: what a rule reports, and what it is, in the shape every output
format renders.

`RuleMeta` lives here rather than in `asr_audit.rules` so the report layer can describe the rules
that ran (SARIF descriptors, JUnit suites) from what the run hands it, without importing the rules.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from asr_audit import ids

# The collector names (`Coverage.kind`) a rule may declare it reads, and the lists per-object reads
# come from: one source, shared with collection, so a typo in `needs` fails at import.
from asr_audit.inventory.model import COLLECTORS, PER_OBJECT_COLLECTORS


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


class FindingStatus(str, Enum):
    """`fail`: the rule saw the problem; `unknown`: the data it needed was missing, so it could not
    decide (DESIGN.md §8.2), which is never a pass. A str enum, so JSON and comparisons with the
    plain strings stay as they were."""

    FAIL = "fail"
    UNKNOWN = "unknown"

    def __str__(self) -> str:  # f-strings show the value on every Python version
        return self.value


def fingerprint(rule_id: str, resource_id: str, key: str = "") -> str:
    """Stable across runs and case variants of the id, so baselines and suppressions hold."""
    raw = "|".join((rule_id, resource_id.lower().rstrip("/"), key.lower()))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


@dataclass(slots=True)
class Finding:
    rule_id: str
    title: str
    severity: Severity
    status: FindingStatus
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

    def __post_init__(self) -> None:
        # Callers outside the rules (tests, old data) may still pass "fail" / "unknown".
        self.status = FindingStatus(self.status)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule_id, self.resource_id, self.key)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "title": self.title,
            "severity": self.severity.value,
            "status": self.status.value,
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


# --- rule metadata ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleMeta:
    id: str
    title: str
    severity: Severity  # the default; a rule may report another where its catalog entry says so
    category: str  # placement | storage | network | expressroute | machines | asr | encryption
    rationale: str
    remediation: str
    # Microsoft's page for the requirement, and every finding's `docs`: a link that exists wherever a
    # report is read. The rule's own page ships with the tool (`asr-audit explain <ID>`).
    microsoft_docs: str
    source: str
    seed_value: str | None = None  # what the seed documents said, where today's value differs
    references: tuple[str, ...] = ()  # further documents, beside `microsoft_docs` (the primary one)
    # The collectors whose data can change the rule's verdict (the lists their per-object reads
    # come from are added). A gap in any of them turns into an `unknown` finding of this rule
    # (`rules.analyze`), so a rule never passes on data it lacked.
    needs: tuple[str, ...] = ()
    # Severities the rule reports besides `severity` (NET-ADDRESS-OVERLAP: info); what the rule
    # cannot judge is reported at the worst of them (tests check findings stay within the list).
    other_severities: tuple[Severity, ...] = ()

    def __post_init__(self) -> None:
        # Inputs are composed from the scope helpers' lists, which overlap: keep each once, in order,
        # followed by the lists per-object inputs depend on.
        declared = tuple(dict.fromkeys(self.needs))
        upstream = tuple(PER_OBJECT_COLLECTORS[n] for n in declared if n in PER_OBJECT_COLLECTORS)
        object.__setattr__(self, "needs", tuple(dict.fromkeys(declared + upstream)))
        unknown = sorted(set(self.needs) - COLLECTORS)
        if unknown:
            raise ValueError(f"{self.id}: needs names unknown collectors {unknown}")

    @property
    def severities(self) -> tuple[Severity, ...]:
        """Every severity the rule can report, worst first."""
        found = {self.severity, *self.other_severities}
        return tuple(sorted(found, key=lambda s: -s.rank))

    @property
    def worst(self) -> Severity:
        """What missing data is reported at: it never lowers a severity."""
        return self.severities[0]

    def finding(
        self,
        *,
        resource_id: str,
        message: str,
        resource_type: str | None = None,
        resource_name: str | None = None,
        region: str | None = None,
        evidence: dict[str, Any] | None = None,
        key: str = "",
        severity: Severity | None = None,
        status: FindingStatus = FindingStatus.FAIL,
        remediation: str | None = None,
    ) -> Finding:
        """A finding with the fields every finding of the rule shares filled in, so rules only say
        what is specific to them."""
        return Finding(
            rule_id=self.id,
            title=self.title,
            severity=severity or self.severity,
            status=status,
            # Interned: 700,000 findings at 1M resources name a few hundred subscriptions and regions.
            subscription_id=sys.intern(ids.subscription_of(resource_id) or ""),
            resource_id=resource_id,
            resource_type=resource_type,
            resource_name=resource_name,
            region=None if (found := ids.region(region)) is None else sys.intern(found),
            message=message,
            remediation=remediation or self.remediation,
            docs=self.microsoft_docs,
            evidence=evidence or {},
            key=key,
        )


@dataclass(frozen=True, slots=True)
class Check:
    """A resource a rule examined. With no finding of that rule on it (and no gap in the rule's
    input in its subscription) it passed: `--include-passed` lists these as audit evidence, so a
    reviewer sees what was checked, not only what failed."""

    rule_id: str
    resource_id: str
    resource_type: str | None = None
    resource_name: str | None = None
    region: str | None = None

    @property
    def subscription_id(self) -> str:
        return ids.subscription_of(self.resource_id) or ""

    def to_json(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "status": "pass",
            "subscription_id": self.subscription_id,
            "resource_id": self.resource_id,
            "resource_type": self.resource_type,
            "resource_name": self.resource_name,
            "region": self.region,
        }
