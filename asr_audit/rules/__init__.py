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
from asr_audit.net.routes import ROUTER_MEMO
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
    findings.sort(key=lambda f: (-f.severity.rank, f.rule_id, f.resource_id.lower(), f.key))
    return findings


# The analysis's largest shared structure, by the rules that read it. Its readers run first, and
# it is released once the last of them has run, so what the other rules build (their findings,
# mostly) reuses its memory instead of being held beside it. At 100k resources the router held
# 208 MiB; releasing it took the peak of the process that runs it from 716 to 641 MiB, and running
# its readers first from 620 to 589 (bench/README.md). A rule missing here that read it after its
# release would build it again: slower, never different. Rules are pure, and findings are sorted
# afterwards, so the order changes nothing else.
RELEASED: dict[str, frozenset[str]] = {
    ROUTER_MEMO: frozenset({"NET-FIREWALL-FQDN", "NET-FORCED-TUNNEL", "NET-OUTBOUND-PATH"}),
}


def _run(rules: Sequence[Rule], context: Context) -> list[Finding]:
    readers = frozenset().union(*RELEASED.values())
    rules = sorted(rules, key=lambda rule: rule.meta.id not in readers)  # stable: readers first
    releases = _release_points(rules)
    findings: list[Finding] = []
    for n, rule in enumerate(rules):
        findings.extend(rule.check(context))
        findings.extend(coverage_unknowns(rule.meta, context))
        for key in releases.get(n, ()):
            context.memo.pop(key, None)
    return findings


def _release_points(rules: Sequence[Rule]) -> dict[int, list[str]]:
    """After which of `rules` each released structure goes: the last that reads it."""
    points: dict[int, list[str]] = {}
    for key, readers in RELEASED.items():
        at = [n for n, rule in enumerate(rules) if rule.meta.id in readers]
        if at:
            points.setdefault(at[-1], []).append(key)
    return points


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
