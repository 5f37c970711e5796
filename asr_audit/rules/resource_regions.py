"""Placement rules on where referenced resources sit (PLC-CACHE-REGION, PLC-TARGET-VNET-REGION,
PLC-H2A-*): cache and replica storage, recovery networks.

Resources several items (or network mappings) share are reported once, with the referrers that
need them elsewhere listed in the evidence; a resource the inventory lacks, or a referrer whose
expected region is unknown, makes the finding `unknown` rather than a pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar

from asr_audit import ids
from asr_audit.findings import Finding, FindingStatus, RuleMeta, Severity
from asr_audit.inventory import NetworkMapping, ProtectedItem
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common import audited
from asr_audit.rules.common.audited import cache_uses, item_recovery_region, item_source_region
from asr_audit.rules.common.naming import STORAGE_TYPE, VNET_TYPE, item_ref
from asr_audit.rules.common.references import (
    Group,
    cannot_check_region,
    find_storage,
    group_refs,
    vault_region,
)

R = TypeVar("R", bound=ProtectedItem | NetworkMapping)


class Located(Protocol):
    id: str
    name: str
    location: str


def _count(refs: Iterable[ProtectedItem | NetworkMapping]) -> str:
    """`2 protected item(s) and 1 network mapping(s)`, for messages."""
    listed = list(refs)
    mappings = sum(isinstance(r, NetworkMapping) for r in listed)
    parts = [(len(listed) - mappings, "protected item(s)"), (mappings, "network mapping(s)")]
    return " and ".join(f"{n} {noun}" for n, noun in parts if n)


def _referrer(ref: ProtectedItem | NetworkMapping) -> dict[str, str]:
    if isinstance(ref, NetworkMapping):
        return {"id": ref.id, "name": ref.name, "type": "network mapping"}
    return {**item_ref(ref), "type": "protected item"}


# --- resources that must sit in a given region -------------------------------------------------------


def _check_location(
    meta: RuleMeta,
    ctx: Context,
    groups: Iterable[Group[R]],
    *,
    expected: Callable[[R], str | None],
    lookup: Callable[[str], Located | None],
    what: str,
    where: str,
    resource_type: str,
) -> Iterator[Finding]:
    """Report each resource that is not where its referrers need it; unknown when undecidable."""
    for group in groups:
        refs = [(r, expected(r)) for r in group.referrers]
        resource = lookup(group.resource_id)
        if resource is None:
            yield meta.finding(
                resource_id=group.resource_id,
                resource_type=resource_type,
                status=FindingStatus.UNKNOWN,
                message=cannot_check_region(ctx, group.resource_id, what),
                evidence={"referrers": [{**_referrer(r), "expected_region": e} for r, e in refs]},
            )
            continue
        actual = ids.region(resource.location)
        ctx.examined(meta, group.resource_id, resource_type, region=actual)
        wrong = [(r, e) for r, e in refs if e and e != actual]
        undecided = [r for r, e in refs if not e]
        if wrong:
            wanted = sorted({e for _, e in wrong if e})
            yield meta.finding(
                resource_id=resource.id,
                resource_type=resource_type,
                region=resource.location,
                message=f"{what.capitalize()} '{resource.name}' is in {actual}, but "
                f"{_count(r for r, _ in wrong)} need it in {where} ({', '.join(wanted)}).",
                evidence={
                    "resource_region": actual,
                    "expected_regions": wanted,
                    "referrers": [{**_referrer(r), "expected_region": e} for r, e in wrong],
                },
            )
        elif undecided:
            yield meta.finding(
                resource_id=resource.id,
                resource_type=resource_type,
                region=resource.location,
                status=FindingStatus.UNKNOWN,
                message=f"Cannot tell whether {what} '{resource.name}' (in {actual}) is in {where}: "
                f"that region is unknown for {_count(undecided)}.",
                evidence={"resource_region": actual, "referrers": [_referrer(r) for r in undecided]},
            )


CACHE_REGION = RuleMeta(
    id="PLC-CACHE-REGION",
    title="Cache storage account outside the source VM's region",
    severity=Severity.HIGH,
    category="placement",
    needs=("protected_items", "storage_accounts"),
    rationale=(
        "Changes on the source VM's disks are written first to the cache storage account, which must be "
        "in the same region as the VM being protected; elsewhere, every write crosses regions or "
        "replication cannot be set up."
    ),
    remediation=(
        "Create a cache account in the source VM's region (az storage account create -g <rg> -n <name> "
        "-l <source-region> --sku Standard_ZRS --kind StorageV2), then disable and re-enable replication "
        "for the listed items choosing it as cache storage (portal: + Replicate > Advanced settings > "
        "Storage settings > Cache storage account)."
    ),
    microsoft_docs="https://learn.microsoft.com/azure/site-recovery/azure-to-azure-support-matrix#cache-storage",
    source="Azure-to-Azure support matrix (2025), cache storage",
    seed_value="storage in the same region as the vault (the on-premises-to-Azure model)",
)


@rule(CACHE_REGION)
def check_cache_region(ctx: Context) -> Iterator[Finding]:
    """Each cache account must be in the source region of every item that stages through it."""
    yield from _check_location(
        CACHE_REGION,
        ctx,
        cache_uses(ctx),
        expected=lambda item: item_source_region(ctx, item),
        lookup=lambda rid: find_storage(ctx, rid),
        what="cache storage account",
        where="the source VM's region",
        resource_type=STORAGE_TYPE,
    )


TARGET_VNET_REGION = RuleMeta(
    id="PLC-TARGET-VNET-REGION",
    title="Recovery virtual network outside the recovery region",
    severity=Severity.HIGH,
    category="placement",
    needs=(*audited.RECOVERY_VNET_INPUTS,),
    rationale=(
        "Failed-over VMs are created in the recovery region and can only join a virtual network of that "
        "region. A recovery VNet (chosen on the item or through a network mapping) elsewhere makes "
        "failover fail or land VMs without the intended network."
    ),
    remediation=(
        "Select a VNet in the recovery region: portal: replicated item > Compute and Network > Edit > "
        "Target network, or vault > Site Recovery infrastructure > Network mapping to map the source "
        "VNet to a VNet in the recovery region. Create one if needed: az network vnet create -g <rg> "
        "-n <name> -l <recovery-region> --address-prefixes <cidr>."
    ),
    microsoft_docs="https://learn.microsoft.com/azure/site-recovery/azure-to-azure-network-mapping",
    source=(
        "derived from Set up network mapping and IP addressing for VNets (learn.microsoft.com, 2018-11-27)"
    ),
)


def _expected_recovery_region(ctx: Context, ref: ProtectedItem | NetworkMapping) -> str | None:
    if isinstance(ref, NetworkMapping):
        return ids.region(ref.recovery_location)
    return item_recovery_region(ref) or ids.region(ctx.target_region)


@rule(TARGET_VNET_REGION)
def check_target_vnet_region(ctx: Context) -> Iterator[Finding]:
    """Recovery VNets of A2A items and A2A network mappings must be in the recovery region."""
    refs: list[tuple[str | None, ProtectedItem | NetworkMapping]] = [
        (i.recovery_network_id, i) for i in audited.a2a_items(ctx)
    ]
    refs += [(m.recovery_network_id, m) for m in audited.a2a_mappings(ctx)]
    yield from _check_location(
        TARGET_VNET_REGION,
        ctx,
        group_refs(refs),
        expected=lambda ref: _expected_recovery_region(ctx, ref),
        lookup=lambda rid: ctx.index.virtual_networks.get(ids.key(rid)),
        what="recovery virtual network",
        where="the recovery region",
        resource_type=VNET_TYPE,
    )


H2A_STORAGE_REGION = RuleMeta(
    id="PLC-H2A-STORAGE-REGION",
    title="On-premises replica or log storage account outside the vault's region",
    severity=Severity.HIGH,
    category="placement",
    needs=("protected_items", "storage_accounts", "vaults", "vault"),
    rationale=(
        "For on-premises machines replicated to Azure, the vault's region is the recovery region: the "
        "storage accounts that receive the replicated data and replication logs must be in the same "
        "region as the Recovery Services vault."
    ),
    remediation=(
        "Create the storage account in the vault's region (az storage account create -g <rg> -n <name> "
        "-l <vault-region> --sku Standard_GRS --kind StorageV2), then disable and re-enable replication "
        "for the listed items choosing it (the target storage of a replicating item cannot be changed)."
    ),
    microsoft_docs="https://learn.microsoft.com/azure/site-recovery/tutorial-prepare-azure",
    source="Prerequisites for replication (2016); Prepare Azure resources for replication (2017)",
)


@rule(H2A_STORAGE_REGION)
def check_h2a_storage_region(ctx: Context) -> Iterator[Finding]:
    """Replica and log accounts of on-premises items must be in their vault's region."""
    items = audited.on_premises_items(ctx)
    pairs = [(i.recovery_storage_account_id, i) for i in items]
    pairs += [(i.recovery_log_storage_account_id, i) for i in items]
    yield from _check_location(
        H2A_STORAGE_REGION,
        ctx,
        group_refs(pairs),
        expected=lambda item: vault_region(ctx, item.vault_id),
        lookup=lambda rid: find_storage(ctx, rid),
        what="replica/log storage account",
        where="the vault's region",
        resource_type=STORAGE_TYPE,
    )


H2A_NETWORK_REGION = RuleMeta(
    id="PLC-H2A-NETWORK-REGION",
    title="On-premises recovery network outside the vault's region",
    severity=Severity.MEDIUM,
    category="placement",
    needs=("protected_items", "virtual_networks", "vaults", "vault"),
    rationale=(
        "On-premises machines fail over into the vault's region, and the Azure network they join after "
        "failover must be in the same region as the Recovery Services vault."
    ),
    remediation=(
        "Select a VNet in the vault's region for the item (portal: replicated item > Compute and Network "
        "> Edit > Target network); create one if needed: az network vnet create -g <rg> -n <name> "
        "-l <vault-region> --address-prefixes <cidr>."
    ),
    microsoft_docs="https://learn.microsoft.com/azure/site-recovery/tutorial-prepare-azure",
    source="Prerequisites for replication (2016); Prepare Azure resources for replication (2017)",
)


@rule(H2A_NETWORK_REGION)
def check_h2a_network_region(ctx: Context) -> Iterator[Finding]:
    """The recovery VNet of on-premises items must be in their vault's region."""
    yield from _check_location(
        H2A_NETWORK_REGION,
        ctx,
        group_refs((i.recovery_network_id, i) for i in audited.on_premises_items(ctx)),
        expected=lambda item: vault_region(ctx, item.vault_id),
        lookup=lambda rid: ctx.index.virtual_networks.get(ids.key(rid)),
        what="recovery virtual network",
        where="the vault's region",
        resource_type=VNET_TYPE,
    )
