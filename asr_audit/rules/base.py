"""Rule metadata, the analysis context, and the registry.

A rule is a pure function `(Inventory, Context) -> Iterable[Finding]` registered with its
metadata; it never performs I/O. `RuleMeta.finding()` fills the fields every finding
shares so rules only say what is specific to them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from asr_audit import ids
from asr_audit.clouds import CLOUDS, CloudProfile
from asr_audit.findings import Finding, Severity
from asr_audit.inventory import Inventory, InventoryIndex

# Where each rule's page (docs/rules/<ID>.md) is published; findings link there, the page links
# on to Microsoft's documents. One constant so a fork or a mirror changes one line.
DOCS_BASE = "https://github.com/asr-audit/asr-audit/blob/main/docs/rules/"


def docs_page(rule_id: str) -> str:
    return f"{DOCS_BASE}{rule_id}.md"


@dataclass(frozen=True, slots=True)
class RuleMeta:
    id: str
    title: str
    severity: Severity  # the default; a rule may report another where its catalog entry says so
    category: str  # placement | storage | network | expressroute | machines | asr
    rationale: str
    remediation: str
    docs: str
    source: str
    seed_value: str | None = None  # what the seed documents said, where today's value differs
    references: tuple[str, ...] = ()  # further documents, beside `docs` (the primary one)

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
        status: str = "fail",
        remediation: str | None = None,
    ) -> Finding:
        return Finding(
            rule_id=self.id,
            title=self.title,
            severity=severity or self.severity,
            status=status,
            subscription_id=ids.subscription_of(resource_id) or "",
            resource_id=resource_id,
            resource_type=resource_type,
            resource_name=resource_name,
            region=ids.region(region),
            message=message,
            remediation=remediation or self.remediation,
            docs=docs_page(self.id),
            evidence=evidence or {},
            key=key,
        )


@dataclass
class Context:
    """What a rule may know besides the inventory: scope, cloud, limits."""

    inventory: Inventory
    source_region: str | None = None  # --source-region (readiness mode)
    target_region: str | None = None  # --target-region
    cloud: CloudProfile = field(default_factory=lambda: CLOUDS["AzureCloud"])
    thresholds: dict[str, Any] = field(default_factory=dict)
    vaults: list[str] = field(default_factory=list)  # --vault: names or ids of vaults the user will use
    # Derived data several rules share in one analysis (workloads, compiled NSGs, firewall rule
    # orders), computed once; never findings.
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @cached_property
    def index(self) -> InventoryIndex:
        return InventoryIndex(self.inventory)


RuleFunc = Callable[[Inventory, Context], Iterable[Finding]]


@dataclass(frozen=True, slots=True)
class Rule:
    meta: RuleMeta
    check: RuleFunc


REGISTRY: dict[str, Rule] = {}


def rule(meta: RuleMeta) -> Callable[[RuleFunc], RuleFunc]:
    """Register `check` under `meta.id`; ids are a public contract and must be unique."""

    def wrap(check: RuleFunc) -> RuleFunc:
        if meta.id in REGISTRY:
            raise ValueError(f"duplicate rule id {meta.id}")
        REGISTRY[meta.id] = Rule(meta, check)
        return check

    return wrap
