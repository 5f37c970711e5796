"""Storage rules (STG-*): the kind, redundancy and firewall of the accounts ASR writes to.

ASR points at storage accounts from its own objects (cache accounts on A2A disks, replica
and log accounts on on-premises items); several items usually share one account. The firewall
rule is in `rules.storage_firewall`. Rules
therefore group references by account and report each account once, listing the items
that use it. An account the inventory lacks (another subscription, a failed listing) is
reported with status `unknown` rather than passed in silence.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from asr_audit import ids
from asr_audit.findings import Finding, FindingStatus, RuleMeta, Severity
from asr_audit.inventory import ProtectedItem, StorageAccount
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common import audited
from asr_audit.rules.common.audited import cache_uses
from asr_audit.rules.common.naming import PROTECTED_ITEM_TYPE, STORAGE_TYPE, item_label, item_ref
from asr_audit.rules.common.references import find_storage, group_refs
from asr_audit.rules.common.storage_accounts import examined_account, rg_and_name, unknown_account

# --- shared helpers ---------------------------------------------------------------------


def sku_tier(account: StorageAccount) -> str | None:
    """`Standard` or `Premium`; taken from the SKU name when the tier field is absent."""
    if account.sku_tier:
        return account.sku_tier.capitalize()
    if account.sku_name and "_" in account.sku_name:
        return account.sku_name.split("_", 1)[0].capitalize()
    return None


def redundancy(account: StorageAccount) -> str | None:
    """The replication part of the SKU name: `Standard_RAGRS` -> `RAGRS`."""
    if account.sku_name and "_" in account.sku_name:
        return account.sku_name.split("_", 1)[1].upper()
    return None


def _account_facts(account: StorageAccount, items: Iterable[ProtectedItem] = ()) -> dict[str, object]:
    """The account properties a storage finding rests on, and the items that use the account."""
    return {
        "account_region": ids.region(account.location),
        "sku_name": account.sku_name,
        "sku_tier": sku_tier(account),
        "kind": account.kind,
        "protected_items": [item_ref(i) for i in items],
    }


def _sku_unknown(
    meta: RuleMeta, account: StorageAccount, items: Iterable[ProtectedItem], question: str, key: str = ""
) -> Finding:
    """An account whose SKU (or kind) the inventory lacks: the rule cannot decide `question`."""
    return meta.finding(
        resource_id=account.id,
        resource_type=STORAGE_TYPE,
        region=account.location,
        key=key,
        status=FindingStatus.UNKNOWN,
        message=f"Cannot tell {question} for storage account '{account.name}': "
        "its SKU or kind is not reported.",
        evidence=_account_facts(account, items),
    )


def _examined_items(meta: RuleMeta, ctx: Context, items: Iterable[ProtectedItem]) -> None:
    for item in items:
        ctx.examined(meta, item.id, PROTECTED_ITEM_TYPE, item_label(item))


# --- STG-LOG-PAIRING -----------------------------------------------------------------------

LOG_PAIRING = RuleMeta(
    id="STG-LOG-PAIRING",
    title="Premium replica storage without a Standard log account",
    severity=Severity.HIGH,
    category="storage",
    needs=("protected_items", "storage_accounts"),
    rationale=(
        "When on-premises machines replicate to a Premium storage account, Site Recovery writes "
        "the replication logs that capture ongoing changes to a separate Standard storage account. "
        "Without one (or with a Premium log account) replication to premium storage is not supported."
    ),
    remediation=(
        "Create a Standard general-purpose v2 account in the vault's region "
        "(az storage account create -g <rg> -n <name> -l <vault-region> --sku Standard_LRS "
        "--kind StorageV2), "
        "then disable and re-enable replication for the item choosing the Premium account as target "
        "storage and the Standard account as the log storage account (portal: Replicated items > "
        "Disable replication, then + Replicate)."
    ),
    microsoft_docs="https://learn.microsoft.com/azure/site-recovery/vmware-physical-azure-support-matrix",
    source="Prerequisites for replication (2016), Azure storage",
)


@rule(LOG_PAIRING)
def check_log_pairing(ctx: Context) -> Iterator[Finding]:
    """Premium replicas need a Standard log account: report the item or the wrong log account."""
    premium_items: list[ProtectedItem] = []
    for group in group_refs((i.recovery_storage_account_id, i) for i in audited.on_premises_items(ctx)):
        replica = find_storage(ctx, group.resource_id)
        if replica is None:
            yield unknown_account(LOG_PAIRING, ctx, group, "replica storage account")
        elif sku_tier(replica) is None:
            yield _sku_unknown(LOG_PAIRING, replica, group.referrers, "whether replicas are Premium")
        elif sku_tier(replica) == "Premium":
            premium_items.extend(group.referrers)
        else:  # a Standard replica needs no log account
            _examined_items(LOG_PAIRING, ctx, group.referrers)

    for item in premium_items:
        if not item.recovery_log_storage_account_id:
            yield LOG_PAIRING.finding(
                resource_id=item.id,
                resource_type=PROTECTED_ITEM_TYPE,
                resource_name=item_label(item),
                message=f"Protected item '{item_ref(item)['name']}' replicates to Premium storage account "
                f"'{ids.name_of(item.recovery_storage_account_id)}' but has no log storage account; "
                "Premium replica storage needs a Standard account for replication logs.",
                evidence={
                    "replica_storage_account": item.recovery_storage_account_id,
                    "log_storage_account": None,
                },
            )

    for group in group_refs((i.recovery_log_storage_account_id, i) for i in premium_items):
        log = find_storage(ctx, group.resource_id)
        if log is None:
            yield unknown_account(LOG_PAIRING, ctx, group, "log storage account")
        elif sku_tier(log) is None:
            yield _sku_unknown(LOG_PAIRING, log, group.referrers, "whether the log account is Standard")
        elif sku_tier(log) == "Standard":
            examined_account(LOG_PAIRING, ctx, log)
            _examined_items(LOG_PAIRING, ctx, group.referrers)
        else:
            yield LOG_PAIRING.finding(
                resource_id=log.id,
                resource_type=STORAGE_TYPE,
                region=log.location,
                message=f"Log storage account '{log.name}' is {sku_tier(log)}, "
                f"not Standard, yet {len(group.referrers)} item(s) replicating to Premium storage use it "
                "for replication logs.",
                evidence=_account_facts(log, group.referrers),
            )


# --- STG-CACHE-KIND -------------------------------------------------------------------------

CACHE_KIND = RuleMeta(
    id="STG-CACHE-KIND",
    title="Cache storage account kind does not match the churn option",
    severity=Severity.HIGH,
    category="storage",
    needs=("protected_items", "storage_accounts"),
    other_severities=(Severity.LOW,),
    rationale=(
        "With Normal churn (the default) Site Recovery uses only Standard storage accounts for the "
        "cache; with High churn only Premium Block Blob (kind BlockBlobStorage) accounts. A cache "
        "account of the other kind does not match the replication's churn option. General-purpose v1 "
        "accounts (kind Storage) still work but lack ZRS and hold fewer disks; GPv2 is recommended."
    ),
    remediation=(
        "Normal churn: use a Standard general-purpose v2 account in the source region "
        "(az storage account create -g <rg> -n <name> -l <source-region> --sku Standard_ZRS "
        "--kind StorageV2). "
        "High churn: use a Premium Block Blob account "
        "(az storage account create ... --sku Premium_ZRS --kind BlockBlobStorage). "
        "The churn option and cache account are chosen when replication is enabled: disable and "
        "re-enable replication to change them. A GPv1 account can be upgraded in place "
        "(az storage account update -g <rg> -n <name> --set kind=StorageV2)."
    ),
    microsoft_docs="https://learn.microsoft.com/azure/site-recovery/concepts-azure-to-azure-high-churn-support",
    source="Azure VM disaster recovery - High Churn support (2026); Azure-to-Azure support matrix (2025)",
)


def _is_high_churn(item: ProtectedItem) -> bool:
    return (item.churn_option or "").strip().lower() == "high"


def _fits(account: StorageAccount, high: bool) -> bool | None:
    """Whether the account can serve as cache for the churn option; None when the data is missing."""
    tier = sku_tier(account)
    if tier is None:
        return None
    if not high:
        return tier == "Standard"
    if tier != "Premium":
        return False
    return None if account.kind is None else account.kind.lower() == "blockblobstorage"


@rule(CACHE_KIND)
def check_cache_kind(ctx: Context) -> Iterator[Finding]:
    """Normal churn needs Standard, High churn Premium BlockBlobStorage; GPv1 is a low finding."""
    for group in cache_uses(ctx):
        account = find_storage(ctx, group.resource_id)
        if account is None:
            yield unknown_account(CACHE_KIND, ctx, group, "cache storage account")
            continue
        examined_account(CACHE_KIND, ctx, account)
        fits = [(i, _fits(account, _is_high_churn(i))) for i in group.referrers]
        wrong = [i for i, ok in fits if ok is False]
        undecided = [i for i, ok in fits if ok is None]
        facts = _account_facts(account)
        described = f"{facts['sku_tier'] or 'unknown tier'} {account.kind or 'unknown kind'}"
        if wrong:
            problems = []
            normal = [i for i in wrong if not _is_high_churn(i)]
            high = [i for i in wrong if _is_high_churn(i)]
            if normal:
                problems.append(f"{len(normal)} item(s) with Normal churn need a Standard account")
            if high:
                problems.append(f"{len(high)} item(s) with High churn need a Premium BlockBlobStorage one")
            yield CACHE_KIND.finding(
                resource_id=account.id,
                resource_type=STORAGE_TYPE,
                region=account.location,
                key="churn",
                message=f"Cache storage account '{account.name}' is {described}, but "
                + "; ".join(problems)
                + ".",
                evidence={
                    **facts,
                    "protected_items": [
                        {**item_ref(i), "churn_option": i.churn_option or "Normal"} for i in wrong
                    ],
                },
            )
        elif undecided:
            yield _sku_unknown(CACHE_KIND, account, undecided, "whether the churn option fits", "churn")
        elif (account.kind or "").lower() == "storage":
            yield CACHE_KIND.finding(
                resource_id=account.id,
                resource_type=STORAGE_TYPE,
                region=account.location,
                key="gpv1",
                severity=Severity.LOW,
                message=f"Cache storage account '{account.name}' is general-purpose v1 (kind Storage); "
                "GPv2 is recommended (zone-redundant storage, more disks per account).",
                remediation=(
                    "Upgrade the account to general-purpose v2 in place: "
                    f"az storage account update -g {rg_and_name(account.id)[0]} -n {account.name} "
                    "--set kind=StorageV2 --access-tier Hot "
                    "(portal: storage account > Configuration > Upgrade)."
                ),
                evidence=_account_facts(account, group.referrers),
            )


# --- STG-CACHE-REDUNDANCY --------------------------------------------------------------------

GEO_REDUNDANT = frozenset({"GRS", "RAGRS", "GZRS", "RAGZRS"})

CACHE_REDUNDANCY = RuleMeta(
    id="STG-CACHE-REDUNDANCY",
    title="Geo-redundant cache storage account",
    severity=Severity.LOW,
    category="storage",
    needs=("protected_items", "storage_accounts"),
    rationale=(
        "The cache account only stages changes in the source region until Site Recovery moves them "
        "to the target region, so a geo-replica of it adds cost and protects nothing. Microsoft "
        "recommends zone-redundant storage (ZRS) for the cache account so replication survives a zone outage."
    ),
    remediation=(
        "Drop geo-replication: az storage account update -g <rg> -n <name> --sku Standard_LRS "
        "(from GRS/RA-GRS) or --sku Standard_ZRS (from GZRS/RA-GZRS); portal: storage account > "
        "Data management > Redundancy. Moving from LRS to ZRS is a separate conversion "
        "(az storage account migration start -g <rg> -n <name> --sku Standard_ZRS)."
    ),
    microsoft_docs="https://learn.microsoft.com/azure/reliability/reliability-site-recovery",
    source="Reliability in Azure Site Recovery (2026)",
)


def _drop_geo_replication(account: StorageAccount, level: str) -> str:
    """Concrete commands: GZRS keeps its zones when the geo part goes; GRS falls to LRS first."""
    rg, name = rg_and_name(account.id)
    portal = " (portal: storage account > Data management > Redundancy)"
    if "Z" in level:
        return f"az storage account update -g {rg} -n {name} --sku Standard_ZRS{portal}."
    return (
        f"az storage account update -g {rg} -n {name} --sku Standard_LRS{portal}; then, for zone "
        f"redundancy, az storage account migration start -g {rg} -n {name} --sku Standard_ZRS."
    )


@rule(CACHE_REDUNDANCY)
def check_cache_redundancy(ctx: Context) -> Iterator[Finding]:
    """GRS, RA-GRS, GZRS and RA-GZRS cache accounts pay for a replica nobody reads."""
    for group in cache_uses(ctx):
        account = find_storage(ctx, group.resource_id)
        if account is None:
            yield unknown_account(CACHE_REDUNDANCY, ctx, group, "cache storage account")
            continue
        examined_account(CACHE_REDUNDANCY, ctx, account)
        level = redundancy(account)
        if level is None:
            yield _sku_unknown(CACHE_REDUNDANCY, account, group.referrers, "the redundancy")
        elif level in GEO_REDUNDANT:
            yield CACHE_REDUNDANCY.finding(
                resource_id=account.id,
                resource_type=STORAGE_TYPE,
                region=account.location,
                message=f"Cache storage account '{account.name}' is {account.sku_name}: the cache is "
                "transient, so geo-replication only adds cost; ZRS (or LRS) is advised.",
                remediation=_drop_geo_replication(account, level),
                evidence=_account_facts(account, group.referrers),
            )


# --- STG-REPLICA-REDUNDANCY ------------------------------------------------------------------

REPLICA_REDUNDANCY = RuleMeta(
    id="STG-REPLICA-REDUNDANCY",
    title="On-premises replica storage account is not geo-redundant",
    severity=Severity.LOW,
    category="storage",
    needs=("protected_items", "storage_accounts"),
    rationale=(
        "On-premises machines replicated to Azure storage exist only in that account until failover. "
        "With LRS or ZRS, an outage of the vault's region leaves no copy to recover from; GRS keeps "
        "the replicated data resilient to a regional outage."
    ),
    remediation=(
        "Switch the replica account to geo-redundant storage: "
        "az storage account update -g <rg> -n <name> --sku Standard_GRS (from LRS) or "
        "--sku Standard_GZRS (from ZRS); portal: storage account > Data management > Redundancy. "
        "Premium accounts support only LRS/ZRS and are not reported."
    ),
    microsoft_docs="https://learn.microsoft.com/azure/site-recovery/vmware-physical-azure-support-matrix",
    source="Prerequisites for replication (2016), Azure storage",
)


@rule(REPLICA_REDUNDANCY)
def check_replica_redundancy(ctx: Context) -> Iterator[Finding]:
    """Standard LRS/ZRS replica accounts of on-premises items: GRS is recommended."""
    for group in group_refs((i.recovery_storage_account_id, i) for i in audited.on_premises_items(ctx)):
        account = find_storage(ctx, group.resource_id)
        if account is None:
            yield unknown_account(REPLICA_REDUNDANCY, ctx, group, "replica storage account")
            continue
        examined_account(REPLICA_REDUNDANCY, ctx, account)
        level = redundancy(account)
        if level is None or sku_tier(account) is None:
            yield _sku_unknown(REPLICA_REDUNDANCY, account, group.referrers, "the redundancy")
        elif sku_tier(account) == "Standard" and level in ("LRS", "ZRS"):
            rg, name = rg_and_name(account.id)
            target = "Standard_GRS" if level == "LRS" else "Standard_GZRS"
            yield REPLICA_REDUNDANCY.finding(
                resource_id=account.id,
                resource_type=STORAGE_TYPE,
                region=account.location,
                message=f"Replica storage account '{account.name}' is {account.sku_name}: if its region "
                f"fails, the data replicated by {len(group.referrers)} item(s) is not available "
                "elsewhere; GRS is recommended.",
                remediation=f"az storage account update -g {rg} -n {name} --sku {target} "
                "(portal: storage account > Data management > Redundancy).",
                evidence=_account_facts(account, group.referrers),
            )
