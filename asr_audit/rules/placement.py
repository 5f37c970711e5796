"""Placement rules (PLC-*): is each piece of the replication in the region it must be in?

Regions per item come from the A2A item itself (`primaryFabricLocation`,
`recoveryFabricLocation`), falling back to the source VM's location; they are compared
after `ids.region` so `East US` and `eastus` agree. Resources several items share (a vault,
a cache account, a recovery VNet) are reported once with the items that disagree listed
in the evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar

from asr_audit import ids
from asr_audit.findings import Finding, Severity
from asr_audit.inventory import NetworkMapping, ProtectedItem, Vault
from asr_audit.net import connectivity
from asr_audit.rules import scope
from asr_audit.rules.base import Context, RuleMeta, rule
from asr_audit.rules.common import (
    PROTECTED_ITEM_TYPE,
    STORAGE_TYPE,
    VAULT_TYPE,
    VNET_TYPE,
    Group,
    find_storage,
    group_refs,
    item_label,
    item_ref,
    vault_region,
)
from asr_audit.rules.storage import cache_uses

R = TypeVar("R", bound=ProtectedItem | NetworkMapping)


class Located(Protocol):
    id: str
    name: str
    location: str


# --- regions of an item ---------------------------------------------------------------------


def source_region(ctx: Context, item: ProtectedItem) -> str | None:
    """`primaryFabricLocation`, else the location of the source VM when the inventory has it."""
    region = ids.region(item.primary_location)
    if region:
        return region
    vm = ctx.index.virtual_machines.get(ids.key(item.source_vm_id))
    return ids.region(vm.location) if vm else None


def recovery_region(item: ProtectedItem) -> str | None:
    return ids.region(item.recovery_location)


def is_zone_to_zone(ctx: Context, item: ProtectedItem) -> bool:
    """Zone-to-zone DR: one region, with a source and a recovery availability zone both given."""
    src = source_region(ctx, item)
    return bool(
        src
        and src == recovery_region(item)
        and item.primary_availability_zone
        and item.recovery_availability_zone
    )


def _item_regions(ctx: Context, item: ProtectedItem) -> dict[str, str | None]:
    return {
        **item_ref(item),
        "source_region": source_region(ctx, item),
        "target_region": recovery_region(item),
    }


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


def _cannot_check(ctx: Context, resource_id: str, what: str) -> str:
    """The message of an `unknown` finding for a referenced resource the inventory lacks."""
    reason = connectivity.unread_reason(ctx.index, resource_id, what, advise=True)
    return f"Cannot check the region: {reason}."


# --- vaults ------------------------------------------------------------------------------------


def _vaults_with_items(
    meta: RuleMeta, ctx: Context, items: Iterable[ProtectedItem]
) -> Iterator[tuple[Vault, list[ProtectedItem]] | Finding]:
    """Each vault with its items; a vault the inventory lacks becomes an `unknown` finding."""
    for group in group_refs((i.vault_id, i) for i in items):
        vault = ctx.index.vaults.get(ids.key(group.resource_id))
        if vault is None:
            yield meta.finding(
                resource_id=group.resource_id,
                resource_type=VAULT_TYPE,
                status="unknown",
                message=_cannot_check(ctx, group.resource_id, "vault"),
                evidence={"protected_items": [item_ref(i) for i in group.referrers]},
            )
        else:
            yield vault, group.referrers


VAULT_REMEDIATION = (
    "Site Recovery cannot move a vault's replication to another region. Create a Recovery Services "
    "vault in the target region "
    "(az backup vault create -g <rg> -n <name> -l <target-region>, or portal: Recovery Services "
    "vaults > Create), then disable replication of the listed items in this vault (Replicated "
    "items > Disable replication) and enable it again from the new vault."
)

VAULT_IN_SOURCE = RuleMeta(
    id="PLC-VAULT-IN-SOURCE",
    title="Recovery Services vault in the source region",
    severity=Severity.HIGH,
    category="placement",
    needs=("vaults", "vault", "protected_items"),
    rationale=(
        "Failover runs from the vault. A vault in the same region as the VMs it protects goes down "
        "with that region, so the outage that needs a failover also takes away the means to start it. "
        "Site Recovery asks for the vault in any region except the source region (zone-to-zone "
        "replication, which stays in one region, is the exception)."
    ),
    remediation=VAULT_REMEDIATION,
    docs="https://learn.microsoft.com/azure/site-recovery/azure-to-azure-tutorial-enable-replication",
    source="Tutorial: set up disaster recovery for Azure VMs (2020)",
    seed_value="vault in the target region (storage and network in the vault's region)",
)


@rule(VAULT_IN_SOURCE)
def check_vault_in_source(ctx: Context) -> Iterator[Finding]:
    """Vaults that share the source region of their A2A items; and (readiness) the `--vault` vaults
    in `--source-region` that hold no A2A item yet (those with items are judged by them)."""
    items = scope.a2a_items(ctx)
    yield from _readiness_vaults_in_source(ctx, {ids.key(i.vault_id) for i in items})
    for entry in _vaults_with_items(VAULT_IN_SOURCE, ctx, items):
        if isinstance(entry, Finding):
            yield entry
            continue
        vault, vault_items = entry
        region = ids.region(vault.location)
        hits = [i for i in vault_items if not is_zone_to_zone(ctx, i) and source_region(ctx, i) == region]
        if hits:
            yield VAULT_IN_SOURCE.finding(
                resource_id=vault.id,
                resource_type=VAULT_TYPE,
                region=vault.location,
                message=f"Vault '{vault.name}' is in {region}, the source region of {len(hits)} protected "
                "item(s): an outage of that region takes the VMs and the vault that must fail them over.",
                evidence={"vault_region": region, "protected_items": [_item_regions(ctx, i) for i in hits]},
            )


def named_vaults(ctx: Context) -> tuple[list[Vault], list[str]]:
    """The vaults named with `--vault` (names or ARM ids, any case), and the names that match none.

    Readiness judges only these: a vault in the source region is fine for what it is used for
    otherwise (Azure Backup needs its vault in the VM's region), so merely existing there says
    nothing about disaster recovery.
    """
    found: dict[str, Vault] = {}
    missing: list[str] = []
    for wanted in ctx.vaults:
        ref = wanted.strip()
        match = (
            [v for v in ctx.inventory.vaults if ids.key(v.id) == ids.key(ref)]
            if "/" in ref
            else [v for v in ctx.inventory.vaults if v.name.lower() == ref.lower()]
        )
        for vault in match:
            found.setdefault(ids.key(vault.id), vault)
        if not match and ref:
            missing.append(ref)
    return [found[k] for k in sorted(found)], missing


def _readiness_vaults_in_source(ctx: Context, with_items: set[str]) -> Iterator[Finding]:
    """Readiness: the `--vault` vaults without A2A items (`with_items`: their id keys) that sit in
    `--source-region`; a named vault the scan did not read is `unknown`, since the vault the VMs
    will use cannot be checked."""
    source = ids.region(ctx.source_region)
    if not source:
        return
    vaults, missing = named_vaults(ctx)
    for vault in vaults:
        if ids.key(vault.id) not in with_items and ids.region(vault.location) == source:
            yield VAULT_IN_SOURCE.finding(
                resource_id=vault.id,
                resource_type=VAULT_TYPE,
                region=vault.location,
                message=f"Vault '{vault.name}' is in the source region {source}: it cannot protect VMs "
                f"of {source} against an outage of that region. Use a vault in the target region.",
                evidence={"vault_region": source, "source_region": source, "mode": "readiness"},
            )
    for ref in missing:
        where = ref if "/" in ref else f"/subscriptions/{_first_subscription(ctx)}"
        reason = (
            connectivity.unread_reason(ctx.index, ref, "vault", advise=True)
            if "/" in ref
            else f"no vault named '{ref}' is in the scanned inventory (another subscription, or a typo?)"
        )
        yield VAULT_IN_SOURCE.finding(
            resource_id=where,
            resource_type=VAULT_TYPE if "/" in ref else None,
            status="unknown",
            key="" if "/" in ref else f"vault:{ref.lower()}",
            message=f"Cannot check the region of vault '{ids.name_of(ref)}' given with --vault: {reason}.",
            evidence={"vault": ref, "source_region": source, "mode": "readiness"},
        )


def _first_subscription(ctx: Context) -> str:
    subs = ctx.inventory.subscriptions
    return subs[0].id if subs else "unknown"


VAULT_NOT_TARGET = RuleMeta(
    id="PLC-VAULT-NOT-TARGET",
    title="Recovery Services vault in neither the source nor the target region",
    severity=Severity.LOW,
    category="placement",
    needs=("vaults", "vault", "protected_items"),
    rationale=(
        "Microsoft recommends the vault in the target region. A vault in a third region adds a region "
        "whose outage stops failover even when the target region is healthy."
    ),
    remediation=VAULT_REMEDIATION,
    docs="https://learn.microsoft.com/azure/reliability/reliability-site-recovery",
    source="Reliability in Azure Site Recovery (2026)",
)


@rule(VAULT_NOT_TARGET)
def check_vault_not_target(ctx: Context) -> Iterator[Finding]:
    """A vault whose region is neither end of some of its items' replication."""
    for entry in _vaults_with_items(VAULT_NOT_TARGET, ctx, scope.a2a_items(ctx)):
        if isinstance(entry, Finding):
            yield entry
            continue
        vault, vault_items = entry
        region = ids.region(vault.location)
        hits = [
            i
            for i in vault_items
            if source_region(ctx, i)
            and recovery_region(i)
            and region not in (source_region(ctx, i), recovery_region(i))
        ]
        if hits:
            pairs = sorted({f"{source_region(ctx, i)} -> {recovery_region(i)}" for i in hits})
            yield VAULT_NOT_TARGET.finding(
                resource_id=vault.id,
                resource_type=VAULT_TYPE,
                region=vault.location,
                message=f"Vault '{vault.name}' is in {region}, neither the source nor the target region "
                f"of {len(hits)} protected item(s) ({', '.join(pairs)}): failover then also depends "
                f"on {region}.",
                evidence={
                    "vault_region": region,
                    "item_count": len(hits),
                    "protected_items": [_item_regions(ctx, i) for i in hits],
                },
            )


# --- same region ---------------------------------------------------------------------------------

SAME_REGION = RuleMeta(
    id="PLC-SAME-REGION",
    title="Replication within one region without availability zones",
    severity=Severity.HIGH,
    category="placement",
    needs=("protected_items",),
    rationale=(
        "Replicating a VM to its own region protects against nothing a region outage causes. Within one "
        "region Site Recovery supports only zone-to-zone disaster recovery, where the source and the "
        "recovery availability zones are both set."
    ),
    remediation=(
        "Disable replication for the item and enable it again with a different target region (portal: "
        "VM > Disaster recovery > Target region), or, in a region with availability zones, set up "
        "zone-to-zone disaster recovery with a source and a target zone."
    ),
    docs="https://learn.microsoft.com/azure/site-recovery/azure-to-azure-how-to-enable-zone-to-zone-disaster-recovery",
    source="Azure-to-Azure support matrix (2025); zone-to-zone disaster recovery",
)


@rule(SAME_REGION)
def check_same_region(ctx: Context) -> Iterator[Finding]:
    """Primary == recovery region, and not both availability zones given."""
    for item in scope.a2a_items(ctx):
        src = source_region(ctx, item)
        if src and src == recovery_region(item) and not is_zone_to_zone(ctx, item):
            yield SAME_REGION.finding(
                resource_id=item.id,
                resource_type=PROTECTED_ITEM_TYPE,
                resource_name=item_label(item),
                region=src,
                message=f"Protected item '{item_ref(item)['name']}' replicates from {src} to {src} without "
                "a source and a recovery availability zone: it has no protection against a region or "
                "zone outage.",
                evidence={
                    **_item_regions(ctx, item),
                    "primary_availability_zone": item.primary_availability_zone,
                    "recovery_availability_zone": item.recovery_availability_zone,
                },
            )


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
                status="unknown",
                message=_cannot_check(ctx, group.resource_id, what),
                evidence={"referrers": [{**_referrer(r), "expected_region": e} for r, e in refs]},
            )
            continue
        actual = ids.region(resource.location)
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
                status="unknown",
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
    docs="https://learn.microsoft.com/azure/site-recovery/azure-to-azure-support-matrix#cache-storage",
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
        expected=lambda item: source_region(ctx, item),
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
    needs=(*scope.RECOVERY_VNET_INPUTS,),
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
    docs="https://learn.microsoft.com/azure/site-recovery/azure-to-azure-network-mapping",
    source=(
        "derived from Set up network mapping and IP addressing for VNets (learn.microsoft.com, 2018-11-27)"
    ),
)


def _expected_recovery_region(ctx: Context, ref: ProtectedItem | NetworkMapping) -> str | None:
    if isinstance(ref, NetworkMapping):
        return ids.region(ref.recovery_location)
    return recovery_region(ref) or ids.region(ctx.target_region)


@rule(TARGET_VNET_REGION)
def check_target_vnet_region(ctx: Context) -> Iterator[Finding]:
    """Recovery VNets of A2A items and A2A network mappings must be in the recovery region."""
    refs: list[tuple[str | None, ProtectedItem | NetworkMapping]] = [
        (i.recovery_network_id, i) for i in scope.a2a_items(ctx)
    ]
    refs += [(m.recovery_network_id, m) for m in scope.a2a_mappings(ctx)]
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
    docs="https://learn.microsoft.com/azure/site-recovery/tutorial-prepare-azure",
    source="Prerequisites for replication (2016); Prepare Azure resources for replication (2017)",
)


@rule(H2A_STORAGE_REGION)
def check_h2a_storage_region(ctx: Context) -> Iterator[Finding]:
    """Replica and log accounts of on-premises items must be in their vault's region."""
    items = scope.on_premises_items(ctx)
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
    docs="https://learn.microsoft.com/azure/site-recovery/tutorial-prepare-azure",
    source="Prerequisites for replication (2016); Prepare Azure resources for replication (2017)",
)


@rule(H2A_NETWORK_REGION)
def check_h2a_network_region(ctx: Context) -> Iterator[Finding]:
    """The recovery VNet of on-premises items must be in their vault's region."""
    yield from _check_location(
        H2A_NETWORK_REGION,
        ctx,
        group_refs((i.recovery_network_id, i) for i in scope.on_premises_items(ctx)),
        expected=lambda item: vault_region(ctx, item.vault_id),
        lookup=lambda rid: ctx.index.virtual_networks.get(ids.key(rid)),
        what="recovery virtual network",
        where="the vault's region",
        resource_type=VNET_TYPE,
    )
