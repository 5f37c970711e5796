"""The rule catalog: which rules exist, by id.

A `Catalog` is a plain value (rules by id, duplicates refused, iterated in id order), so a run,
a test or the docs generator can each hand one in; nothing registers itself on import. The
default catalog is built once from `RULE_MODULES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from functools import cache
from types import ModuleType

from asr_audit.findings import RuleMeta
from asr_audit.rules.base import Rule

# The modules whose `Rule`s make the default catalog, by area. A new rule module is added here.
RULE_MODULES = (
    "placement",
    "resource_regions",
    "storage",
    "storage_firewall",
    "cache_storage",
    "addressing",
    "routing",
    "gateway",
    "nsg_outbound",
    "nsg_recovery_side",
    "nsg_ip_rules",
    "firewall",
    "expressroute_premium",
    "failover_connectivity",
    "expressroute_circuits",
    "machines",
    "disks",
    "asr",
    "agent",
    "drills",
    "encryption",
    "zones",
    "region_support",
    "dns",
    "vault_alerts",
    "outbound_path",
    "private_endpoints",
    "target_sku",
)


class UnknownRuleError(KeyError):
    """Rule ids the catalog does not hold; `known` lists the valid ones for the message."""

    def __init__(self, unknown: list[str], known: list[str]) -> None:
        super().__init__(", ".join(unknown))
        self.unknown = unknown
        self.known = known


class Catalog:
    """Rules by id. Ids are a public contract (suppressions, baselines, SARIF), so two rules
    with one id are an error, never a silent override."""

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self._rules: dict[str, Rule] = {}
        for r in rules:
            self.add(r)

    def add(self, rule: Rule) -> None:
        if rule.id in self._rules:
            raise ValueError(f"duplicate rule id {rule.id}")
        self._rules[rule.id] = rule

    @classmethod
    def from_modules(cls, modules: Iterable[ModuleType]) -> Catalog:
        """Every `Rule` the modules define (a `Rule` one module imports from another counts once)."""
        found: dict[int, Rule] = {}
        for module in modules:
            for value in vars(module).values():
                if isinstance(value, Rule):
                    found.setdefault(id(value), value)
        return cls(found.values())

    def __iter__(self) -> Iterator[Rule]:
        return (self._rules[k] for k in sorted(self._rules))

    def __len__(self) -> int:
        return len(self._rules)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._rules

    def __getitem__(self, rule_id: str) -> Rule:
        return self._rules[rule_id]

    def get(self, rule_id: str) -> Rule | None:
        return self._rules.get(rule_id)

    def ids(self) -> list[str]:
        return sorted(self._rules)

    def metas(self) -> dict[str, RuleMeta]:
        """Each rule's metadata by id, in id order: what a `Report` carries for its formats."""
        return {r.id: r.meta for r in self}

    def select(self, ids: Iterable[str]) -> Catalog:
        """The sub-catalog of `ids`; an id it does not hold raises `UnknownRuleError`."""
        wanted = list(dict.fromkeys(ids))
        unknown = sorted(set(wanted) - set(self._rules))
        if unknown:
            raise UnknownRuleError(unknown, self.ids())
        return Catalog(self._rules[i] for i in wanted)

    def without(self, ids: Iterable[str]) -> Catalog:
        """The catalog less `ids` (ids it does not hold are ignored: nothing to leave out)."""
        dropped = set(ids)
        return Catalog(r for r in self if r.id not in dropped)


@cache
def default_catalog() -> Catalog:
    """Every rule of the rule modules, built on first use (importing them all costs ~0.1 s)."""
    return Catalog.from_modules(importlib.import_module(f"asr_audit.rules.{name}") for name in RULE_MODULES)
