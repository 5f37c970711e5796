"""Placement rules on where replication itself runs (PLC-VAULT-*, PLC-SAME-REGION): the vault,
and the region pair of each A2A item.

Regions per item come from the A2A item itself (`primaryFabricLocation`,
`recoveryFabricLocation`), falling back to the source VM's location; they are compared
after `ids.region` so `East US` and `eastus` agree. A vault several items share is reported
once with the items that disagree listed in the evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from asr_audit import ids
from asr_audit.findings import Finding, FindingStatus, RuleMeta, Severity
from asr_audit.inventory import ProtectedItem, Vault
from asr_audit.net import connectivity
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common import audited
from asr_audit.rules.common.audited import is_zone_to_zone, item_recovery_region, item_source_region
from asr_audit.rules.common.naming import PROTECTED_ITEM_TYPE, VAULT_TYPE, item_label, item_ref
from asr_audit.rules.common.references import cannot_check_region, group_refs


def _item_regions(ctx: Context, item: ProtectedItem) -> dict[str, str | None]:
    return {
        **item_ref(item),
        "source_region": item_source_region(ctx, item),
        "target_region": item_recovery_region(item),
    }


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
                status=FindingStatus.UNKNOWN,
                message=cannot_check_region(ctx, group.resource_id, "vault"),
                evidence={"protected_items": [item_ref(i) for i in group.referrers]},
            )
        else:
            ctx.examined(meta, vault.id, VAULT_TYPE, region=vault.location)
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
    microsoft_docs="https://learn.microsoft.com/azure/site-recovery/azure-to-azure-tutorial-enable-replication",
    source="Tutorial: set up disaster recovery for Azure VMs (2020)",
    seed_value="vault in the target region (storage and network in the vault's region)",
)


@rule(VAULT_IN_SOURCE)
def check_vault_in_source(ctx: Context) -> Iterator[Finding]:
    """Vaults that share the source region of their A2A items; and (readiness) the `--vault` vaults
    in `--source-region` that hold no A2A item yet (those with items are judged by them)."""
    items = audited.a2a_items(ctx)
    yield from _readiness_vaults_in_source(ctx, {ids.key(i.vault_id) for i in items})
    for entry in _vaults_with_items(VAULT_IN_SOURCE, ctx, items):
        if isinstance(entry, Finding):
            yield entry
            continue
        vault, vault_items = entry
        region = ids.region(vault.location)
        hits = [
            i for i in vault_items if not is_zone_to_zone(ctx, i) and item_source_region(ctx, i) == region
        ]
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
        if ids.key(vault.id) not in with_items:
            ctx.examined(VAULT_IN_SOURCE, vault.id, VAULT_TYPE, region=vault.location)
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
            status=FindingStatus.UNKNOWN,
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
    microsoft_docs="https://learn.microsoft.com/azure/reliability/reliability-site-recovery",
    source="Reliability in Azure Site Recovery (2026)",
)


@rule(VAULT_NOT_TARGET)
def check_vault_not_target(ctx: Context) -> Iterator[Finding]:
    """A vault whose region is neither end of some of its items' replication."""
    for entry in _vaults_with_items(VAULT_NOT_TARGET, ctx, audited.a2a_items(ctx)):
        if isinstance(entry, Finding):
            yield entry
            continue
        vault, vault_items = entry
        region = ids.region(vault.location)
        hits = [
            i
            for i in vault_items
            if item_source_region(ctx, i)
            and item_recovery_region(i)
            and region not in (item_source_region(ctx, i), item_recovery_region(i))
        ]
        if hits:
            pairs = sorted({f"{item_source_region(ctx, i)} -> {item_recovery_region(i)}" for i in hits})
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
    microsoft_docs="https://learn.microsoft.com/azure/site-recovery/azure-to-azure-how-to-enable-zone-to-zone-disaster-recovery",
    source="Azure-to-Azure support matrix (2025); zone-to-zone disaster recovery",
)


@rule(SAME_REGION)
def check_same_region(ctx: Context) -> Iterator[Finding]:
    """Primary == recovery region, and not both availability zones given."""
    for item in audited.a2a_items(ctx):
        src = item_source_region(ctx, item)
        if src and item_recovery_region(item):
            ctx.examined(SAME_REGION, item.id, PROTECTED_ITEM_TYPE, item_label(item), src)
        if src and src == item_recovery_region(item) and not is_zone_to_zone(ctx, item):
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
