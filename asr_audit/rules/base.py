"""Rule metadata, the analysis context, and the registry.

A rule is a pure function `(Context) -> Iterable[Finding]` (the inventory is `ctx.inventory`)
registered with its metadata; it never performs I/O. `RuleMeta.finding()` fills the fields every finding
shares so rules only say what is specific to them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from asr_audit import ids
from asr_audit.access.clouds import CLOUDS, CloudProfile
from asr_audit.findings import Finding, Severity
from asr_audit.inventory import Inventory, InventoryIndex

# Where each rule's page (docs/rules/<ID>.md) is published; findings link there, the page links
# on to Microsoft's documents. One constant so a fork or a mirror changes one line.
DOCS_BASE = "https://github.com/asr-audit/asr-audit/blob/main/docs/rules/"


def docs_page(rule_id: str) -> str:
    return f"{DOCS_BASE}{rule_id}.md"


# The collectors (`Coverage.kind`) a rule may declare it reads. One list, so a typo in a rule's
# `needs` fails at import rather than silently never matching a coverage gap.
COLLECTORS = frozenset(
    {
        "subscription",
        "vaults",
        "vault",  # per-vault GET (`vault:<name>`)
        "protected_items",  # per vault
        "network_mappings",  # per vault
        "storage_accounts",
        "virtual_networks",
        "network_security_groups",
        "route_tables",
        "express_route_circuits",
        "azure_firewalls",
        "firewall_policies",
        "rule_collection_groups",  # per firewall policy
        "network_interfaces",
        "virtual_machines",
        "disks",
        "gateway_resource_groups",  # the resource list that finds the groups holding gateways
        "virtual_network_gateways",  # per resource group
        "connections",  # per resource group
        "service_tags",
    }
)
# Collectors read per object of another's list: when the list fails, the per-object reads never
# run (no coverage record of their own), so a gap in the list is a gap in them.
UPSTREAM = {
    "vault": "vaults",
    "protected_items": "vaults",
    "network_mappings": "vaults",
    "rule_collection_groups": "firewall_policies",
    "virtual_network_gateways": "gateway_resource_groups",
    "connections": "gateway_resource_groups",
}


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
        upstream = tuple(UPSTREAM[n] for n in declared if n in UPSTREAM)
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


RuleFunc = Callable[[Context], Iterable[Finding]]


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
