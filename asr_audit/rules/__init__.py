"""The rule catalog. Importing a rule module registers its rules (see `base.rule`).

`analyze` also keeps the trust contract (DESIGN.md §8.2): a rule whose input the scan could
not read (a coverage gap in a collector it `needs`) still runs on what was read, and says
`unknown` for the scope it could not judge instead of passing it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from asr_audit.findings import Finding
from asr_audit.rules.base import REGISTRY, Context, Rule
from asr_audit.rules.common import coverage_unknowns

RULE_MODULES = (
    "placement",
    "storage",
    "addressing",
    "routing",
    "nsg",
    "firewall",
    "expressroute",
    "machines",
    "asr",
)


def all_rules() -> dict[str, Rule]:
    for name in RULE_MODULES:
        importlib.import_module(f"asr_audit.rules.{name}")
    return dict(sorted(REGISTRY.items()))


def analyze(
    context: Context,
    select: Iterable[str] | None = None,
    skip: Iterable[str] = (),
) -> list[Finding]:
    """Run the selected rules, each with an `unknown` finding per gap in what it reads; findings
    come back sorted worst first, then by resource."""
    rules = all_rules()
    chosen = set(select) if select else set(rules)
    chosen -= set(skip)
    findings: list[Finding] = []
    for rule_id in sorted(chosen):
        rule = rules[rule_id]
        findings.extend(rule.check(context))
        findings.extend(coverage_unknowns(rule.meta, context))
    findings.sort(key=lambda f: (-f.severity.rank, f.rule_id, f.resource_id.lower(), f.key))
    return findings
