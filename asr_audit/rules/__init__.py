"""The rule catalog. Importing a rule module registers its rules (see `base.rule`)."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from asr_audit.findings import Finding
from asr_audit.inventory import Inventory
from asr_audit.rules.base import REGISTRY, Context, Rule

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
    inventory: Inventory,
    context: Context,
    select: Iterable[str] | None = None,
    skip: Iterable[str] = (),
) -> list[Finding]:
    """Run the selected rules; findings come back sorted worst first, then by resource."""
    rules = all_rules()
    chosen = set(select) if select else set(rules)
    chosen -= set(skip)
    findings: list[Finding] = []
    for rule_id in sorted(chosen):
        findings.extend(rules[rule_id].check(inventory, context))
    findings.sort(key=lambda f: (-f.severity.rank, f.rule_id, f.resource_id.lower(), f.key))
    return findings
