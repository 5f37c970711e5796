"""ASR-TEST-FAILOVER: has each replicated item been proven to fail over, into an isolated network?

Replication being healthy says the data arrives; only a test failover shows the VM boots and
works in the recovery region. Site Recovery records the last successful one on the item, and
the network a test failover uses (A2A `selectedTfoAzureNetworkId`), which Microsoft advises to keep
apart from the production recovery network.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from asr_audit import ids
from asr_audit.findings import Finding, RuleMeta, Severity
from asr_audit.inventory import ProtectedItem
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common.audited import A2A, a2a_mappings_by
from asr_audit.rules.common.dates import day, parse_time
from asr_audit.rules.common.naming import examined_item, item_finding, item_label
from asr_audit.rules.thresholds import limit

DR_DRILL = "https://learn.microsoft.com/azure/site-recovery/azure-to-azure-tutorial-dr-drill"
PROTECTED = "protected"

ASR_TEST_FAILOVER = RuleMeta(
    id="ASR-TEST-FAILOVER",
    title="Replicated item not recently tested, or tested into the production network",
    severity=Severity.MEDIUM,
    category="asr",
    needs=("protected_items", "network_mappings"),
    rationale=(
        "A test failover is the only proof that a replicated VM starts and works in the recovery region; "
        "an item never tested, or last tested long ago, may fail when it is needed (drivers, DNS, "
        "licences, dependencies change). Site Recovery sets no interval: asr-audit reports a protected "
        "item with no successful test failover, or none within 180 days (--config "
        "test_failover_max_age_days). Microsoft also recommends a separate network for test failover; a "
        "test-failover network that is the production recovery network puts the test VM beside (and "
        "with the same addresses as) what a real failover would bring up."
    ),
    remediation=(
        "Run a test failover (vault > Replicated items > the item > Test failover, or a recovery plan's "
        "Test failover), check the application, then Cleanup test failover. Set an isolated test network "
        "first: Replicated items > the item > Network > Edit, Test failover network, a VNet that is neither "
        "the recovery VNet nor peered to production."
    ),
    microsoft_docs=DR_DRILL,
    source=(
        "Run a disaster recovery drill to a secondary region for Azure VMs (learn.microsoft.com, "
        "2020-01-16): 'We recommend you use a separate Azure VM network for the test failover'; "
        "lastSuccessfulTestFailoverTime and selectedTfoAzureNetworkId of ReplicationProtectedItems_List "
        "(2025-08-01)"
    ),
    references=("https://learn.microsoft.com/azure/site-recovery/site-recovery-test-failover-to-azure",),
)


def _established(item: ProtectedItem) -> bool:
    """Only items whose replication is established are judged on their drills: one still in initial
    replication cannot have been tested yet."""
    return (item.protection_state or "").lower() == PROTECTED


def _drill_problem(ctx: Context, item: ProtectedItem, max_age: timedelta) -> str | None:
    """Why an established item's test failover record is not enough, or None."""
    last = parse_time(item.last_successful_test_failover_time)
    if last is None:
        return "no successful test failover is recorded"
    if ctx.as_of - last > max_age:
        return f"the last successful test failover was on {day(last)}, {(ctx.as_of - last).days} days ago"
    return None


def _production_networks(ctx: Context, item: ProtectedItem) -> set[str]:
    """The networks a real failover of the item brings VMs up in: its own recovery VNet and every
    recovery VNet its vault's A2A network mappings name."""
    mappings = a2a_mappings_by(ctx, "vault_id").get(ids.key(item.vault_id), ())
    nets = {ids.key(m.recovery_network_id) for m in mappings}
    nets.add(ids.key(item.recovery_network_id))
    return nets - {""}


@rule(ASR_TEST_FAILOVER)
def check_test_failover(ctx: Context) -> Iterator[Finding]:
    max_age = timedelta(days=limit(ctx.thresholds, "test_failover_max_age_days"))
    for item in ctx.inventory.protected_items:
        tfo = item.test_failover_network_id if item.instance_type == A2A else None
        if _established(item) or tfo:
            examined_item(ASR_TEST_FAILOVER, ctx, item)
        problem = _drill_problem(ctx, item, max_age) if _established(item) else None
        if problem:
            yield item_finding(
                ASR_TEST_FAILOVER,
                ctx,
                item,
                key="drill",
                message=f"Replicated item {item_label(item)}: {problem}; its failover is unproven.",
                evidence={
                    "as_of": day(ctx.as_of),
                    "last_successful_test_failover_time": item.last_successful_test_failover_time,
                    "max_age_days": max_age.days,
                    "protection_state": item.protection_state,
                },
            )
        if tfo and ids.key(tfo) in _production_networks(ctx, item):
            yield item_finding(
                ASR_TEST_FAILOVER,
                ctx,
                item,
                key="network",
                message=(
                    f"Replicated item {item_label(item)} test-fails over into {ids.name_of(tfo)}, the "
                    "network a real failover uses: the test VM would share it with production."
                ),
                evidence={"test_failover_network_id": tfo, "recovery_network_id": item.recovery_network_id},
            )
