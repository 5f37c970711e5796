"""Rules on the Site Recovery objects themselves: replication health and network mappings.

These read only what ASR reports (protected items, network mappings); they judge nothing the
VM or network rules already cover.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from asr_audit import ids
from asr_audit.findings import Finding, RuleMeta, Severity
from asr_audit.inventory import NetworkMapping, ProtectedItem
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common.audited import A2A_MAPPING
from asr_audit.rules.common.documents import A2A_MATRIX, A2A_SOURCE
from asr_audit.rules.common.naming import (
    NETWORK_MAPPING_TYPE,
    SUBSCRIPTION_TYPE,
    examined_item,
    item_finding,
    item_label,
)
from asr_audit.rules.common.references import vault_region
from asr_audit.rules.thresholds import limit

ASR_HEALTH = RuleMeta(
    id="ASR-HEALTH",
    title="Replicated item is not healthy",
    severity=Severity.MEDIUM,
    category="asr",
    needs=("protected_items",),
    other_severities=(Severity.HIGH,),
    rationale=(
        "Site Recovery rates each replicated item's replicationHealth and failoverHealth: Warning when "
        "symptoms are detected that may impact replication or failover, Critical when replication is "
        "stuck or not keeping up with the data change rate. Its protectionState names a failed protection "
        "operation, and rpoInSeconds says how old the latest recovery point is: Site Recovery makes a "
        "crash-consistent point every 5 minutes and raises error 153007 when it has none for 60 minutes. "
        "A failover from such an item can lose more data than the recovery point objective allows, or "
        "fail. Critical health and failed protection are reported as high, the rest as medium, in one "
        "finding per item with its health errors."
    ),
    remediation=(
        "Open the vault's Replicated items, select the item and work through its Error details (each "
        "health error comes with possible causes and a recommended action); then confirm the item is "
        "Healthy again and has a recent recovery point before relying on it."
    ),
    microsoft_docs="https://learn.microsoft.com/azure/site-recovery/site-recovery-monitor-and-troubleshoot",
    source=(
        "Monitoring and troubleshooting Azure Site Recovery (learn.microsoft.com, 2018-02-22); "
        "Troubleshoot replication in Azure VM disaster recovery (learn.microsoft.com, 2019-08-02), error "
        "153007; replicationHealth, failoverHealth, protectionState, healthErrors and rpoInSeconds of "
        "ReplicationProtectedItems_List"
    ),
    references=(
        "https://learn.microsoft.com/azure/site-recovery/azure-to-azure-troubleshoot-errors",
        "https://learn.microsoft.com/azure/site-recovery/azure-to-azure-troubleshoot-replication",
    ),
)

_HEALTH_SEVERITY = {"warning": Severity.MEDIUM, "critical": Severity.HIGH}
# protectionState is free text in the API; only states that name a failure are reported (the
# transitional ones, such as enabling protection or a failover in progress, are not faults).
_FAILED_STATE = ("failed", "error")


def _health_problems(ctx: Context, item: ProtectedItem) -> list[tuple[Severity, str]]:
    """Each way the item is unhealthy, with its severity; empty when it is healthy."""
    problems: list[tuple[Severity, str]] = []
    for label, value in (("replication", item.replication_health), ("failover", item.failover_health)):
        severity = _HEALTH_SEVERITY.get((value or "").lower())
        if severity is not None:
            problems.append((severity, f"{label} health {value}"))
    state = (item.protection_state or "").lower()
    if any(word in state for word in _FAILED_STATE):
        problems.append((Severity.HIGH, f"protection state {item.protection_state}"))
    most = limit(ctx.thresholds, "rpo_max_seconds")
    if item.rpo_seconds is not None and item.rpo_seconds > most:
        problems.append(
            (Severity.MEDIUM, f"RPO {_duration(item.rpo_seconds)}, over the {_duration(most)} threshold")
        )
    return problems


def _duration(seconds: int) -> str:
    return f"{seconds // 60:,} min" if seconds >= 120 else f"{seconds} s"


@rule(ASR_HEALTH)
def check_replication_health(ctx: Context) -> Iterator[Finding]:
    inventory = ctx.inventory
    for item in inventory.protected_items:
        problems = _health_problems(ctx, item)
        if (item.replication_health or "").lower() == "normal" or problems:
            examined_item(ASR_HEALTH, ctx, item)
        if not problems:
            continue
        errors = [text for e in item.health_errors if (text := e.message or e.code)]
        detail = "; ".join(errors) if errors else "ASR lists no health errors for it"
        yield item_finding(
            ASR_HEALTH,
            ctx,
            item,
            severity=max((severity for severity, _ in problems), key=lambda s: s.rank),
            message=(
                f"Replicated item {item_label(item)} ({item.instance_type or 'unknown type'}) has "
                f"{', '.join(text for _, text in problems)}: {detail}."
            ),
            evidence={
                "replication_health": item.replication_health,
                "failover_health": item.failover_health,
                "protection_state": item.protection_state,
                "rpo_seconds": item.rpo_seconds,
                "rpo_max_seconds": limit(ctx.thresholds, "rpo_max_seconds"),
                "replication_type": item.instance_type,
                "health_errors": [dataclasses.asdict(e) for e in item.health_errors],
            },
        )


ASR_NETMAP_REVERSE = RuleMeta(
    id="ASR-NETMAP-REVERSE",
    title="Azure-to-Azure network mapping has no reverse mapping",
    severity=Severity.LOW,
    category="asr",
    needs=("network_mappings",),
    rationale=(
        "A network mapping tells Site Recovery which recovery VNet a failed-over VM joins. After a "
        "failover, re-protection replicates the VM back from the recovery region and needs the mapping in "
        "the opposite direction (recovery VNet to the original VNet). Site Recovery creates both when it "
        "creates a mapping during enable-replication, but a mapping created or changed by hand in one "
        "direction leaves re-protection to pick or create another network."
    ),
    remediation=(
        "Create the mapping in the opposite direction: in the vault, Site Recovery infrastructure > "
        "Network mapping > + Network mapping, with the recovery region as source and the recovery VNet "
        "mapped back to the original VNet. When you change one direction, change the other as well."
    ),
    microsoft_docs="https://learn.microsoft.com/azure/site-recovery/azure-to-azure-network-mapping",
    source="Set up network mapping and IP addressing for VNets (learn.microsoft.com, 2018-11-27)",
)


def _mapping_key(m: NetworkMapping) -> tuple[str, str, str | None, str | None]:
    return (
        ids.key(m.primary_network_id),
        ids.key(m.recovery_network_id),
        ids.region(m.primary_location),
        ids.region(m.recovery_location),
    )


def _has_reverse(forward: NetworkMapping, by_vnets: dict[tuple[str, str], list[NetworkMapping]]) -> bool:
    """Some mapping takes forward's recovery VNet back to its primary VNet (and regions, where both
    say). Looked up by the VNet pair, as a scan of every mapping per mapping was quadratic."""
    fwd_primary, fwd_recovery, fwd_src, fwd_dst = _mapping_key(forward)
    return any(
        all(a is None or b is None or a == b for a, b in ((src, fwd_dst), (dst, fwd_src)))
        for _, _, src, dst in map(_mapping_key, by_vnets.get((fwd_recovery, fwd_primary), ()))
    )


@rule(ASR_NETMAP_REVERSE)
def check_reverse_mapping(ctx: Context) -> Iterator[Finding]:
    inventory = ctx.inventory
    mappings = [
        m
        for m in inventory.network_mappings
        if (m.instance_type or "").lower() == A2A_MAPPING.lower()
        and m.primary_network_id
        and m.recovery_network_id
    ]
    by_vnets: dict[tuple[str, str], list[NetworkMapping]] = {}
    for m in mappings:
        by_vnets.setdefault(_mapping_key(m)[:2], []).append(m)
    for mapping in mappings:
        ctx.examined(
            ASR_NETMAP_REVERSE, mapping.id, NETWORK_MAPPING_TYPE, region=vault_region(ctx, mapping.vault_id)
        )
        if _has_reverse(mapping, by_vnets):
            continue
        primary, recovery = mapping.primary_network_id or "", mapping.recovery_network_id or ""
        yield ASR_NETMAP_REVERSE.finding(
            resource_id=mapping.id,
            resource_type=NETWORK_MAPPING_TYPE,
            region=vault_region(ctx, mapping.vault_id),
            message=(
                f"Network mapping {mapping.name} maps VNet {ids.name_of(primary)} "
                f"({mapping.primary_location or 'region not reported'}) to {ids.name_of(recovery)} "
                f"({mapping.recovery_location or 'region not reported'}), but no vault maps "
                f"{ids.name_of(recovery)} back to {ids.name_of(primary)}: re-protection after failover "
                "has no network to return to."
            ),
            evidence={
                "primary_network_id": primary,
                "recovery_network_id": recovery,
                "primary_location": mapping.primary_location,
                "recovery_location": mapping.recovery_location,
                "missing": {"primary_network_id": recovery, "recovery_network_id": primary},
            },
        )


ASR_DISK_LIMIT = RuleMeta(
    id="ASR-DISK-LIMIT",
    title="Subscription close to Site Recovery's limit of protected disks",
    severity=Severity.MEDIUM,
    category="asr",
    needs=("protected_items",),
    rationale=(
        "Site Recovery protects up to 3,000 disks per subscription, OS and data disks alike. Past that, "
        "enabling replication for one more VM fails, however healthy everything else is; a subscription "
        "above 90 % of the limit has room for a few dozen VMs at most, and a growth spurt or a re-protect "
        "after failover can hit the wall during an incident."
    ),
    remediation=(
        "Plan the next workloads into another subscription (a vault there, or replication across "
        "subscriptions of the same tenant), exclude disks whose data need not survive a failover "
        "(scratch, tempdb, caches), and disable replication for items that are no longer needed. Should "
        "Microsoft raise the limit, set protected_disks_per_subscription_max in --config."
    ),
    microsoft_docs=f"{A2A_MATRIX}#replicated-machines---storage",
    source=(
        f"{A2A_SOURCE}, replicated machines storage table: 'Up to 3,000 protected disks per subscription. "
        "Ensure that the source or target subscription doesn't have more than 3,000 Site Recovery-protected "
        "disks (both data and OS).'"
    ),
)

SUBSCRIPTION_ID = "/subscriptions/{}"


def _disk_counts(ctx: Context) -> dict[str, tuple[int, int]]:
    """Per vault subscription: (protected disks, items that list none). An item without a disk list
    still replicates its OS disk, so it counts as one: the total stays a lower bound."""
    counts: dict[str, tuple[int, int]] = {}
    for item in ctx.inventory.protected_items:
        sub = (ids.subscription_of(item.vault_id) or "").lower()
        disks, bare = counts.get(sub, (0, 0))
        listed = len(item.protected_disks)
        counts[sub] = (disks + (listed or 1), bare + (not listed))
    return counts


@rule(ASR_DISK_LIMIT)
def check_disk_limit(ctx: Context) -> Iterator[Finding]:
    most = limit(ctx.thresholds, "protected_disks_per_subscription_max")
    percent = limit(ctx.thresholds, "protected_disks_warning_percent")
    counts = _disk_counts(ctx)
    for subscription in ctx.inventory.subscriptions:
        rid = SUBSCRIPTION_ID.format(subscription.id)
        ctx.examined(ASR_DISK_LIMIT, rid, SUBSCRIPTION_TYPE, subscription.display_name)
        disks, bare = counts.get(subscription.id.lower(), (0, 0))
        if disks * 100 <= most * percent:
            continue
        name = subscription.display_name or subscription.id
        yield ASR_DISK_LIMIT.finding(
            resource_id=rid,
            resource_type=SUBSCRIPTION_TYPE,
            resource_name=subscription.display_name,
            message=(
                f"Subscription {name} holds vaults protecting {disks:,} disks, more than {percent} % of the "
                f"{most:,} protected disks Site Recovery allows per subscription ({most - disks:,} left)."
            ),
            evidence={
                "protected_disks": disks,
                "items_without_disk_list": bare,
                "limit": most,
                "warning_percent": percent,
            },
        )
