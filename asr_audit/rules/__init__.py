"""Rules: pure checks over the inventory, one module per rule area, shared code in `common/`.

Which rules exist is a `Catalog` (rules/catalog.py), handed to `analyze`; the default one holds
every rule module's rules. `analyze` also keeps the trust contract (DESIGN.md §8.2): a rule whose
input the scan could not read (a coverage gap in a collector it `needs`) still runs on what was
read, and says `unknown` for the scope it could not judge instead of passing it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from asr_audit.findings import Check, Finding
from asr_audit.heap import no_cyclic_gc
from asr_audit.rules import parallel
from asr_audit.rules.base import Context, Rule
from asr_audit.rules.catalog import Catalog, default_catalog
from asr_audit.rules.common.gaps import coverage_unknowns


def analyze(
    context: Context,
    catalog: Catalog | None = None,
    select: Iterable[str] | None = None,
    skip: Iterable[str] = (),
) -> list[Finding]:
    """Run the catalog's rules (the default catalog when None; `select` narrows it, `skip` drops
    from it), each with an `unknown` finding per gap in what it reads; findings come back sorted
    worst first, then by resource."""
    chosen = catalog if catalog is not None else default_catalog()
    if select:
        chosen = chosen.select(select)
    rules = list(chosen.without(skip))
    # The collector is off while the rules run: the analysis makes millions of containers, mostly
    # kept to its end (the per-analysis memo), and its passes over them and over the inventory
    # took 30 % of the wall time at 30k resources and lowered the peak RSS by nothing
    # (bench/README.md).
    with no_cyclic_gc():
        halves = parallel.split(rules, context)
        findings = _run(rules, context) if halves is None else parallel.run(*halves, context, _run)
    return _worst_first(findings)


def _worst_first(findings: list[Finding]) -> list[Finding]:
    """Worst first, then by rule, resource and key, as one stable sort would order them, sorted
    per severity and rule: a sort key held for every finding at once (a tuple and a lowered id)
    added 24 MiB at 100k resources (6 MiB now) at the end of the analysis, where it peaks
    (bench/README.md)."""
    buckets: dict[tuple[int, str], list[Finding]] = {}
    for f in findings:
        buckets.setdefault((-f.severity.rank, f.rule_id), []).append(f)
    findings.clear()
    for bucket in sorted(buckets):
        same = buckets.pop(bucket)
        same.sort(key=lambda f: (f.resource_id.lower(), f.key))
        findings.extend(same)
    return findings


# The analysis's largest structures, by the rules that read them: what routes and NSGs compile per
# VNet and route table (a subnet's routes; address books and compiled NSGs). At 100k resources the
# router held 165 MiB and the NSG estate 161 MiB once every VNet was judged, and the 1M run peaked
# at 4.9 GiB. So these rules judge the estate a group of VNets at a time (`Context.vnet_scope`):
# after each group, each structure forgets what it built for it (`release`) and keeps what is keyed
# by content (service-tag routes, what every subnet sees alike). Rules are pure and findings are
# sorted afterwards, so the grouping changes nothing else (bench/README.md). The keys are
# `net.routes.ROUTER_MEMO` and `rules.common.nsg_evaluation.ESTATE_MEMO` (a test checks it), spelled
# out: `asr-audit --help` imports this package, and importing those modules cost it 35 ms.
BY_VNET: dict[str, frozenset[str]] = {
    "subnet_router": frozenset({"NET-FIREWALL-FQDN", "NET-FORCED-TUNNEL", "NET-OUTBOUND-PATH"}),
    "nsg_estate": frozenset({"NET-NSG-OUTBOUND", "NET-NSG-RECOVERY-SIDE"}),
}
VNETS_PER_GROUP = 1000


def _run(rules: Sequence[Rule], context: Context) -> list[Finding]:
    by_vnet = frozenset().union(*BY_VNET.values())
    grouped = [rule for rule in rules if rule.meta.id in by_vnet]
    findings = _by_vnet_groups(grouped, context) if grouped else []
    for rule in grouped:
        findings.extend(coverage_unknowns(rule.meta, context))
    for rule in rules:
        if rule.meta.id not in by_vnet:
            findings.extend(rule.check(context))
            findings.extend(coverage_unknowns(rule.meta, context))
    return findings


def _by_vnet_groups(rules: Sequence[Rule], context: Context) -> list[Finding]:
    """`rules` run over each group of the inventory's VNets in turn, releasing the structures
    they build per VNet between groups and dropping them after the last."""
    keys = sorted(context.index.virtual_networks)
    findings: list[Finding] = []
    try:
        for at in range(0, max(len(keys), 1), VNETS_PER_GROUP):
            context.vnet_scope = tuple(keys[at : at + VNETS_PER_GROUP])
            for rule in rules:
                findings.extend(rule.check(context))
            for key in BY_VNET:
                built = context.memo.get(key)
                if built is not None:
                    built.release()
    finally:
        context.vnet_scope = None
        for key in BY_VNET:
            context.memo.pop(key, None)
    return findings


def passed(context: Context, findings: Iterable[Finding]) -> list[Check]:
    """What the rules examined and found nothing wrong with, once per rule and resource.

    Fail closed: a resource with any finding of that rule (failed or unknown, suppressed or not)
    did not pass, and neither did anything in a subscription where a gap in the rule's input was
    reported: what the rule judged there, it judged on part of the data."""
    judged = {(f.rule_id, f.resource_id.lower()) for f in findings}
    partial = {(f.rule_id, f.subscription_id.lower()) for f in findings if f.gap}
    out: dict[tuple[str, str], Check] = {}
    for check in context.checks:
        key = (check.rule_id, check.resource_id.lower())
        where = {(check.rule_id, check.subscription_id.lower()), (check.rule_id, "")}  # "": tenant-wide
        if key in judged or key in out or where & partial:
            continue
        out[key] = check
    return sorted(out.values(), key=lambda c: (c.rule_id, c.resource_id.lower()))
