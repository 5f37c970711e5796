"""PLC-TARGET-SKU: a VM whose recovery size the recovery subscription cannot create in the
recovery region or zone, or whose size family is short of vCPU quota there.

Site Recovery creates the recovery VM only at failover, in the recovery subscription, with the
size the replicated item records. Nothing checks again until then that Compute still offers that
size to that subscription there, or that the family's vCPU quota can take every VM failing over
into it at once: both fail the failover itself, when there is no time to open a support request.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from asr_audit import ids
from asr_audit.findings import Finding, FindingStatus, RuleMeta, Severity
from asr_audit.inventory import ComputeUsage, ProtectedItem, VmSku
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common.audited import (
    WORKLOAD_INPUTS,
    Workload,
    a2a_items,
    item_recovery_region,
    workloads,
)
from asr_audit.rules.common.documents import A2A_SOURCE
from asr_audit.rules.common.naming import (
    SUBSCRIPTION_TYPE,
    examined_item,
    examined_vm,
    item_finding,
    item_label,
    vm_finding,
)

TROUBLESHOOT_DOC = "https://learn.microsoft.com/azure/site-recovery/azure-to-azure-troubleshoot-errors"
SKU_DOC = "https://learn.microsoft.com/azure/azure-resource-manager/troubleshooting/error-sku-not-available"
QUOTA_DOC = "https://learn.microsoft.com/azure/quotas/per-vm-quota-requests"
REGIONAL_CORES = "cores"  # the usages row of all regional vCPUs, whatever the family

PLC_TARGET_SKU = RuleMeta(
    id="PLC-TARGET-SKU",
    title="Recovery VM size not offered in the target region or zone, or short of vCPU quota",
    severity=Severity.HIGH,
    other_severities=(Severity.MEDIUM,),
    category="placement",
    needs=(*WORKLOAD_INPUTS, "vm_skus", "compute_usages"),
    rationale=(
        "Troubleshooting error 150097: 'Make sure your subscription is enabled to create Azure VMs in the "
        "target region ... Your subscription needs sufficient quota to create VMs of the necessary sizes. By "
        "default, Site Recovery chooses a target VM size that's the same as the source VM size.' A size "
        "Microsoft.Compute/skus lists with a Location restriction (NotAvailableForSubscription, QuotaId) for "
        "the recovery subscription, a Zone restriction on the recovery zone, or not at all in the recovery "
        "region cannot be created there: the failover fails. Quota is checked at failover too: when the "
        "vCPUs of every VM failing over into a size family (or the region) exceed the quota left there, a "
        "regional failover of all of them fails part-way."
    ),
    remediation=(
        "For a size not offered: change the replicated item's target VM size (Compute > Target VM size) to "
        "one offered in the recovery region and zone, or request access to the size there (region access "
        "request). For quota: request a vCPU quota increase for the family (and the regional total) in the "
        "recovery subscription and region, to at least the vCPUs in the evidence."
    ),
    microsoft_docs=TROUBLESHOOT_DOC,
    source=(
        "Troubleshoot Azure-to-Azure VM replication errors (learn.microsoft.com, 2024-03-07), error 150097; "
        f"Resolve errors for SKU not available (learn.microsoft.com, 2021-04-14); {A2A_SOURCE}, compute "
        "settings"
    ),
    references=(SKU_DOC, QUOTA_DOC),
)


@dataclass(frozen=True, slots=True)
class _Target:
    """Where and as what one VM would be created at failover."""

    subscription: str  # lower case
    region: str
    size: str
    zone: str | None


@dataclass(slots=True)
class _Demand:
    """The vCPUs failing over into one quota (a family, or the region's cores) and who brings them."""

    vcpus: int = 0
    vms: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Offers:
    """The analysis' index of what was read: SKUs and usages by (subscription, region, name), and
    the (subscription, region) pairs each read finished for, or left a record of at all."""

    skus: dict[tuple[str, str, str], VmSku]
    usages: dict[tuple[str, str, str], ComputeUsage]
    read: set[tuple[str, str, str]]  # (collector, subscription, region) read ok
    recorded: set[tuple[str, str, str]]  # ... with a coverage record, ok or gap
    scanned: set[str]


def _offers(ctx: Context) -> _Offers:

    def build() -> _Offers:
        inv = ctx.inventory
        regional = [
            (c, (c.kind, c.subscription_id.lower(), c.collector.partition(":")[2]))
            for c in inv.coverage
            if c.kind in ("vm_skus", "compute_usages")
        ]
        return _Offers(
            skus={(s.subscription_id.lower(), s.region, s.name.lower()): s for s in inv.vm_skus},
            usages={(u.subscription_id.lower(), u.region, u.name.lower()): u for u in inv.compute_usages},
            read={where for c, where in regional if not c.is_gap},
            recorded={where for _, where in regional},
            scanned={s.id.lower() for s in inv.subscriptions},
        )

    return ctx.shared("target_sku_offers", build)


def _item_target(ctx: Context, item: ProtectedItem) -> _Target | None:
    """The recovery subscription is that of the recovery resource group (failover may cross
    subscriptions), else the vault's; the size is the one the item records, else the source VM's
    (Site Recovery's default)."""
    region = item_recovery_region(item)
    vm = ctx.index.virtual_machines.get(ids.key(item.source_vm_id))
    size = item.recovery_vm_size or (vm.vm_size if vm else None)
    subscription = ids.subscription_of(item.recovery_resource_group_id) or ids.subscription_of(item.vault_id)
    if not (region and size and subscription):
        return None
    return _Target(subscription, region, size, item.recovery_availability_zone)


def _not_offered(target: _Target, sku: VmSku | None) -> str | None:
    """Why Compute would refuse the size there, or None."""
    where = f"{target.region} (zone {target.zone})" if target.zone else target.region
    if sku is None:
        return f"{target.size} is not offered in {target.region} at all"
    for restriction in sku.restrictions:
        reason = restriction.reason_code or "no reason given"
        if restriction.type == "Location":
            return f"{target.size} is restricted for the subscription in {target.region} ({reason})"
        if restriction.type == "Zone" and target.zone and target.zone in restriction.zones:
            return f"{target.size} is restricted for the subscription in {where} ({reason})"
    if target.zone and target.zone not in sku.zones:
        return f"{target.size} is not offered in {where}"
    return None


def _subject(ctx: Context, subject: ProtectedItem | Workload) -> tuple[str, str, _Target | None]:
    """(how a message names it, its name, where it fails over to). A candidate VM (readiness)
    fails over into its own subscription: the portal's default, the only one known."""
    if isinstance(subject, ProtectedItem):
        name = item_label(subject)
        return f"Replicated item {name}", name, _item_target(ctx, subject)
    vm, region = subject.vm, subject.target_region
    subscription = ids.subscription_of(vm.id)
    target = (
        _Target(subscription, region, vm.vm_size, None) if vm.vm_size and region and subscription else None
    )
    return f"Candidate VM {vm.name}", vm.name, target


def _report(
    ctx: Context,
    subject: ProtectedItem | Workload,
    message: str,
    evidence: dict[str, object],
    status: FindingStatus = FindingStatus.FAIL,
) -> Finding:
    if isinstance(subject, ProtectedItem):
        finding = item_finding(PLC_TARGET_SKU, ctx, subject, message=message, evidence=evidence)
        return dataclasses.replace(finding, status=status)
    return vm_finding(PLC_TARGET_SKU, subject, message, evidence, status=status)


def _unrecorded(offers: _Offers, target: _Target) -> str | None:
    """What of the target's region the snapshot holds no read of at all, not even a failed one (an
    older snapshot, or one scanned without this recovery region as --target-region), or None. Such
    a region gets no coverage gap, so without this the rule would say nothing there: a silent pass.
    """
    missing = [
        what
        for kind, what in (("vm_skus", "VM sizes"), ("compute_usages", "vCPU quotas"))
        if (kind, target.subscription, target.region) not in offers.recorded
    ]
    return " and ".join(missing) or None


def _not_read(
    ctx: Context,
    subject: ProtectedItem | Workload,
    label: str,
    target: _Target,
    unread: str,
    evidence: dict[str, object],
) -> Finding:
    return _report(
        ctx,
        subject,
        f"{label}: the {unread} of subscription {target.subscription} in {target.region} were not read "
        f"(the snapshot holds no read of them), so whether failover can create {target.size} there is "
        "unknown.",
        {**evidence, "not_read": unread},
        FindingStatus.UNKNOWN,
    )


def _subjects(ctx: Context) -> Iterator[ProtectedItem | Workload]:
    yield from a2a_items(ctx)
    yield from (wl for wl in workloads(ctx) if wl.kind == "candidate")


@rule(PLC_TARGET_SKU)
def check_target_sku(ctx: Context) -> Iterator[Finding]:
    offers = _offers(ctx)
    demand: dict[tuple[str, str, str], _Demand] = defaultdict(_Demand)
    for subject in _subjects(ctx):
        label, name, target = _subject(ctx, subject)
        if target is None:
            continue
        evidence: dict[str, object] = {
            "recovery_subscription": target.subscription,
            "recovery_region": target.region,
            "recovery_vm_size": target.size,
            "recovery_zone": target.zone,
        }
        if target.subscription not in offers.scanned:
            yield _report(
                ctx,
                subject,
                f"{label}: the recovery subscription {target.subscription} was not scanned, so whether "
                f"{target.size} can be created in {target.region} is unknown.",
                evidence,
                FindingStatus.UNKNOWN,
            )
            continue
        unread = _unrecorded(offers, target)
        if unread and "VM sizes" in unread:
            yield _not_read(ctx, subject, label, target, unread, evidence)
            continue
        if ("vm_skus", target.subscription, target.region) not in offers.read:
            continue  # the read's gap is this rule's `unknown` finding there
        sku = offers.skus.get((target.subscription, target.region, target.size.lower()))
        why = _not_offered(target, sku)
        if unread and not why:  # offered, but whether the quota can take it was never read
            yield _not_read(ctx, subject, label, target, unread, evidence)
            continue
        if isinstance(subject, ProtectedItem):
            examined_item(PLC_TARGET_SKU, ctx, subject)
        else:
            examined_vm(PLC_TARGET_SKU, ctx, subject)
        if why:
            yield _report(ctx, subject, f"{label}: {why}; failover cannot create the VM.", evidence)
        elif sku is not None and sku.vcpus and sku.family:
            for quota in (sku.family, REGIONAL_CORES):
                entry = demand[(target.subscription, target.region, quota.lower())]
                entry.vcpus += sku.vcpus
                entry.vms.append(name)
    yield from _quota_findings(ctx, offers, demand)


def _quota_findings(
    ctx: Context, offers: _Offers, demand: dict[tuple[str, str, str], _Demand]
) -> Iterator[Finding]:
    """Medium: quota is a failover-time risk (usage changes, and a failover of a few VMs fits)."""
    names = {s.id.lower(): s.display_name for s in ctx.inventory.subscriptions}
    judged: set[str] = set()
    for (subscription, region, quota), need in sorted(demand.items()):
        usage = offers.usages.get((subscription, region, quota))
        if ("compute_usages", subscription, region) not in offers.read or usage is None:
            continue  # a gap is reported as one; a quota ARM does not list is not judged
        rid = f"/subscriptions/{subscription}"
        if subscription not in judged:
            judged.add(subscription)
            ctx.examined(PLC_TARGET_SKU, rid, SUBSCRIPTION_TYPE, names.get(subscription))
        left = usage.limit - usage.current_value
        if usage.limit < 0 or need.vcpus <= left:  # -1: no limit
            continue
        what = "regional vCPUs" if quota == REGIONAL_CORES else f"{usage.name} vCPUs"
        yield PLC_TARGET_SKU.finding(
            resource_id=rid,
            resource_type=SUBSCRIPTION_TYPE,
            resource_name=names.get(subscription),
            region=region,
            severity=Severity.MEDIUM,
            key=f"{region}/{quota}",
            message=(
                f"Failing over {len(need.vms)} VM(s) into {region} needs {need.vcpus} {what}; the "
                f"subscription has {max(left, 0)} left of {usage.limit} ({usage.current_value} in use): "
                "the failover would stop part-way."
            ),
            evidence={
                "recovery_region": region,
                "quota": usage.name,
                "needed_vcpus": need.vcpus,
                "limit": usage.limit,
                "current_value": usage.current_value,
                "vms": need.vms,
            },
        )
