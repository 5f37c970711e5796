"""What the scan could not read, as rule findings (DESIGN.md §8.2).

A rule whose input has a coverage gap still runs on what was read, and says `unknown` for the
scope it could not judge instead of passing it: `analyze` adds `coverage_unknowns` per rule, and
rules that follow links into other subscriptions ask `hybrid_gaps` where a link may hide.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from asr_audit import ids
from asr_audit.findings import Finding, FindingStatus, RuleMeta
from asr_audit.inventory import (
    Coverage,
    CoverageStatus,
    Inventory,
    VirtualNetwork,
)
from asr_audit.net import connectivity
from asr_audit.rules.base import Context
from asr_audit.rules.common.naming import SUBSCRIPTION_TYPE

# Every rule judges subscriptions: one that could not be read at all was judged by none of them.
EVERY_RULE_READS = ("subscription",)
# ASR lists read per vault. ARM answers 404 for them on a vault without Site Recovery content (a
# Backup vault), and for a vault deleted since it was listed: either way there is nothing unread.
_EMPTY_WHEN_NOT_FOUND = frozenset({"protected_items", "network_mappings"})


def is_moot(gap: Coverage, inventory: Inventory) -> bool:
    """A gap that hides nothing any rule could judge; every other non-ok record is a real gap.

    Only two, both where the missing data cannot exist:
    - `not_found` on a per-vault ASR list (see `_EMPTY_WHEN_NOT_FOUND`);
    - service tags not fetched when no VNet was read and the VNet listing had no gap: tags only
      expand destinations of traffic from subnets, and there is no subnet to judge. (The scan
      records this as `not_found`: it had no VNet location to ask the service-tags API about.)
    """
    if gap.kind in _EMPTY_WHEN_NOT_FOUND and gap.status == "not_found" and gap.collector != gap.kind:
        return True
    if gap.kind == "service_tags" and not inventory.virtual_networks:
        return not any(c.kind == "virtual_networks" and c.is_gap for c in inventory.coverage)
    return False


def coverage_gaps(
    ctx: Context, kinds: Iterable[str], subscriptions: Iterable[str] | None = None
) -> list[Coverage]:
    """The real gaps (`is_moot` aside) in the given collectors, in `subscriptions` when given."""
    by_kind = _real_gaps(ctx)
    subs = None if subscriptions is None else {s.lower() for s in subscriptions if s}
    found = [
        (position, c)
        for kind in set(kinds)
        for position, c in by_kind.get(kind, ())
        if subs is None or c.subscription_id.lower() in subs
    ]
    return [c for _, c in sorted(found, key=lambda pair: pair[0])]  # in coverage order, as recorded


def _real_gaps(ctx: Context) -> dict[str, list[tuple[int, Coverage]]]:
    """The real gaps by collector kind, with their place in the coverage list; sorted out once per
    analysis, as rules ask per VNet or per item and the coverage list grows with the tenant."""

    def build() -> dict[str, list[tuple[int, Coverage]]]:
        out: dict[str, list[tuple[int, Coverage]]] = {}
        for position, c in enumerate(ctx.inventory.coverage):
            if c.is_gap and not is_moot(c, ctx.inventory):
                out.setdefault(c.kind, []).append((position, c))
        return out

    return ctx.shared("real_gaps", build)


def hybrid_gaps(
    ctx: Context, vnets: Iterable[VirtualNetwork], kinds: Iterable[str] = connectivity.GATEWAY_INPUTS
) -> list[Coverage]:
    """Gaps in the gateway data (`kinds`) of the subscriptions the VNets' reach depends on: where
    they are, a gateway or connection nobody saw may exist."""
    subscriptions: set[str] = set().union(*(connectivity.reach_subscriptions(v) for v in vnets))
    return coverage_gaps(ctx, kinds, subscriptions)


def gap_label(gap: Coverage) -> str:
    """`virtual_network_gateways:rg-hub (forbidden)`, for messages."""
    return f"{gap.collector} ({gap.status})"


def gap_scope(gap: Coverage) -> str:
    """What a gap leaves unjudged: the vault, resource group or policy of a per-object run, else
    the subscription."""
    return gap.object_id or f"/subscriptions/{gap.subscription_id}"


def _gap_fix(gap: Coverage, where: str) -> str:
    """How to close the gap, by its cause."""
    status = gap.status
    if status == "forbidden":
        return f"Grant the scanning identity Reader on {where} (reading {gap.collector} was refused); re-run."
    if status == "throttled":
        return "Re-run when ARM throttling has eased (or with a lower --concurrency)."
    if status == "timeout":
        return "Re-run when ARM answers in time (or with a longer --timeout / --deadline)."
    if status == "not_found":
        return f"Check that {where} still exists and its resource provider is registered, then re-run."
    if status == CoverageStatus.PARTIAL:
        return (
            "Re-run once the unread items (ids in the evidence) can be read; until then they are not judged."
        )
    if status == CoverageStatus.NOT_COLLECTED:
        return "Re-run the scan (or save a new snapshot) with this version: the snapshot holds no such data."
    return "Re-run when the cause given in the detail is fixed; the report's coverage section has it."


def gap_finding(meta: RuleMeta, gap: Coverage) -> Finding:
    """The `unknown` finding of a rule whose input `gap` was not (fully) read, at the worst severity
    the rule reports: what it would have found there is unknown, never passed."""
    where = gap_scope(gap)
    scoped = gap.object_id is not None
    named = f"'{ids.name_of(where)}'" if scoped else f"subscription {gap.subscription_id}"
    if gap.status == CoverageStatus.PARTIAL:
        what = f"{len(gap.unread) or 'some'} item(s) of {gap.collector} could not be read"
    else:
        what = f"{gap.collector} could not be read ({gap.status})"
    evidence: dict[str, Any] = {
        "collector": gap.collector,
        "status": gap.status,
        "detail": gap.detail,
        "subscription_id": gap.subscription_id,
        "unjudged": where,
    }
    if gap.unread:
        evidence["unread"] = list(gap.unread)
    finding = meta.finding(
        resource_id=where,
        resource_type=None if scoped else SUBSCRIPTION_TYPE,
        status=FindingStatus.UNKNOWN,
        severity=meta.worst,
        key=gap.collector,
        # The cause in full is in the evidence and the coverage section: one gap feeds several rules,
        # and repeating a 400-character ARM message under each would bury the findings.
        message=f"{meta.id} could not judge {named}: {what}. What it would find there is unknown, "
        "not passed.",
        remediation=_gap_fix(gap, where),
        evidence=evidence,
    )
    finding.gap = gap.collector
    return finding


def coverage_unknowns(meta: RuleMeta, ctx: Context) -> list[Finding]:
    """One `unknown` finding per gap in a collector the rule reads (or in a subscription)."""
    return [gap_finding(meta, gap) for gap in coverage_gaps(ctx, (*EVERY_RULE_READS, *meta.needs))]
