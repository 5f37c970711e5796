"""What a rule is: metadata (`asr_audit.findings.RuleMeta`) plus a pure check over a `Context`.

A rule module declares rules with `@rule(META)`; the decorator makes the function a `Rule` and
registers nothing, so importing a module has no side effect and a `Catalog` (rules/catalog.py)
decides which rules exist. `Rule` stays callable so a check can still be run directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from typing import Any, TypeVar, cast

from asr_audit import ids
from asr_audit.access.clouds import CLOUDS, CloudProfile
from asr_audit.findings import Check, Finding, RuleMeta
from asr_audit.inventory import Inventory, InventoryIndex

# How the scan writes `Inventory.collected_at` (collect.scheduler.collected_at).
COLLECTED_AT = "%Y-%m-%dT%H:%M:%SZ"


_T = TypeVar("_T")


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
    # What each rule examined, whatever it found (`examined`); `rules.passed` keeps those without
    # findings. Kept only when a report lists what passed (`--include-passed`): otherwise nothing
    # reads them, and at 100k resources they were 232,860 records built, held and, for the rules
    # that run in a second process, pickled back to the first.
    checks: list[Check] = field(default_factory=list, repr=False, compare=False)
    record_checks: bool = True
    # The VNets (ids.key, sorted) that rules judging VNet by VNet take up in this pass; None: all.
    # `rules.analyze` runs those rules over groups of VNets and releases what they built per VNet
    # between groups (`rules.BY_VNET`).
    vnet_scope: tuple[str, ...] | None = field(default=None, repr=False, compare=False)

    def examined(
        self,
        meta: RuleMeta,
        resource_id: str,
        resource_type: str | None = None,
        resource_name: str | None = None,
        region: str | None = None,
    ) -> None:
        """Record that `meta`'s rule judged this resource: called where the rule takes up a
        resource it reports on, before it decides, so a resource it then finds nothing wrong
        with is listed as passed, and one it could not judge has an `unknown` finding instead."""
        if self.record_checks:
            self.checks.append(Check(meta.id, resource_id, resource_type, resource_name, ids.region(region)))

    def shared(self, key: str, build: Callable[[], _T]) -> _T:
        """`memo[key]`, built on first use: a lookup rules make per item or per VNet is built once
        per analysis, not rescanned from the inventory each time (that made rules quadratic)."""
        if key not in self.memo:
            self.memo[key] = build()
        return cast(_T, self.memo[key])

    def in_scope(self, by_vnet: Mapping[str, _T]) -> list[_T]:
        """The values of `by_vnet` (keyed by VNet key) whose VNet is in scope, in key order: looked up
        from the scope rather than filtered from the whole mapping, which would cost every group a
        pass over the estate."""
        keys = sorted(by_vnet) if self.vnet_scope is None else [k for k in self.vnet_scope if k in by_vnet]
        return [by_vnet[k] for k in keys]

    @cached_property
    def index(self) -> InventoryIndex:
        return InventoryIndex(self.inventory)

    @cached_property
    def as_of(self) -> datetime:
        """The moment the inventory shows: ages and expiry dates are judged as of collection, so a
        snapshot analysed again later gives the same findings. Now, for an inventory that does not
        say when it was read."""
        try:
            return datetime.strptime(self.inventory.collected_at or "", COLLECTED_AT).replace(
                tzinfo=timezone.utc
            )
        except ValueError:
            return datetime.now(timezone.utc)


RuleFunc = Callable[[Context], Iterable[Finding]]


@dataclass(frozen=True, slots=True)
class Rule:
    meta: RuleMeta
    check: RuleFunc

    @property
    def id(self) -> str:
        return self.meta.id

    def __call__(self, ctx: Context) -> Iterable[Finding]:
        return self.check(ctx)


def rule(meta: RuleMeta) -> Callable[[RuleFunc], Rule]:
    """`@rule(META)` over a check function: the module then holds a `Rule` a catalog can collect."""

    def wrap(check: RuleFunc) -> Rule:
        return Rule(meta, check)

    return wrap
