"""Cache account settings that storage hardening gets wrong for Site Recovery (STG-CACHE-*).

Prowler, PSRule for Azure and Azure Advisor recommend blob soft delete, and no shared-key access,
on every storage account (docs/other-scanners.md). On an A2A cache account the first multiplies
its cost, as Site Recovery creates and deletes log blobs all the time, and the second breaks
replication. So these rules judge only the accounts A2A items use as cache, read from the
settings the scan fetches for exactly those accounts (`blobServices/default`).
"""

from __future__ import annotations

from collections.abc import Iterator

from asr_audit import ids
from asr_audit.findings import Finding, FindingStatus, RuleMeta, Severity
from asr_audit.inventory import ProtectedItem
from asr_audit.net import connectivity
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common.audited import cache_uses
from asr_audit.rules.common.gaps import coverage_gaps
from asr_audit.rules.common.naming import STORAGE_TYPE, item_ref
from asr_audit.rules.common.references import Group, find_storage

CACHE_STORAGE_DOCS = (
    "https://learn.microsoft.com/azure/site-recovery/azure-to-azure-support-matrix#cache-storage"
)
SUPPORT_MATRIX = (
    "Support matrix for Azure VM disaster recovery between Azure regions, Cache storage "
    "(learn.microsoft.com, revision 2025-05-22 as read)"
)


def _read_failed(ctx: Context, collector: str, account_id: str) -> bool:
    """Whether a gap covers the account's settings: `analyze` then reports the rule `unknown`
    there already (on the account, or on its subscription for a snapshot without the data)."""
    wanted = ids.key(account_id)
    gaps = coverage_gaps(ctx, (collector,), [ids.subscription_of(account_id) or ""])
    return any(g.object_id is None or ids.key(g.object_id) == wanted for g in gaps)


def _unread(meta: RuleMeta, ctx: Context, group: Group[ProtectedItem], what: str) -> Finding:
    """An account whose settings were not read and no gap says why: in practice one in a
    subscription the scan did not cover."""
    return meta.finding(
        resource_id=group.resource_id,
        resource_type=STORAGE_TYPE,
        status=FindingStatus.UNKNOWN,
        message="Cannot check this cache account: "
        f"{connectivity.unread_reason(ctx.index, group.resource_id, what, advise=True)}.",
        evidence={"protected_items": [item_ref(i) for i in group.referrers]},
    )


# --- STG-CACHE-SOFT-DELETE ------------------------------------------------------------------------

SOFT_DELETE = RuleMeta(
    id="STG-CACHE-SOFT-DELETE",
    title="Blob soft delete is on for an A2A cache storage account",
    severity=Severity.MEDIUM,
    category="storage",
    needs=("protected_items", "blob_services"),
    rationale=(
        "Site Recovery does not support soft delete on the cache storage account: it creates and "
        "deletes log blobs there all the time while replicating, and with blob soft delete every "
        "deleted log is kept and billed for the whole retention period. Security baselines "
        "(Prowler, PSRule for Azure, Azure Advisor) recommend turning it on for every account; a "
        "cache account is the exception."
    ),
    remediation=(
        "Turn blob soft delete off on the cache account: "
        "az storage account blob-service-properties update -g <rg> -n <account> "
        "--enable-delete-retention false (portal: storage account > Data management > Data "
        "protection > clear 'Enable soft delete for blobs'), and exempt the account from the policy "
        "or scanner that turned it on."
    ),
    microsoft_docs=CACHE_STORAGE_DOCS,
    source=SUPPORT_MATRIX,
    references=("https://learn.microsoft.com/rest/api/storagerp/blob-services/get-service-properties",),
)


@rule(SOFT_DELETE)
def check_cache_soft_delete(ctx: Context) -> Iterator[Finding]:
    """`deleteRetentionPolicy.enabled` on the blob service of each A2A cache account."""
    services = {ids.key(s.account_id): s for s in ctx.inventory.blob_services}
    for group in cache_uses(ctx):
        service = services.get(ids.key(group.resource_id))
        if service is None:
            if not _read_failed(ctx, "blob_services", group.resource_id):
                yield _unread(SOFT_DELETE, ctx, group, "cache storage account")
            continue
        account = find_storage(ctx, group.resource_id)
        account_id = account.id if account else service.account_id
        name, region = ids.name_of(account_id), account.location if account else None
        ctx.examined(SOFT_DELETE, account_id, STORAGE_TYPE, name, region)
        if not service.delete_retention_enabled:
            continue
        days = f" for {service.delete_retention_days} days" if service.delete_retention_days else ""
        group_name = ids.resource_group_of(account_id) or "<rg>"
        yield SOFT_DELETE.finding(
            resource_id=account_id,
            resource_type=STORAGE_TYPE,
            resource_name=name,
            region=region,
            message=f"Cache storage account '{name}' keeps deleted blobs{days} (blob soft delete is on): "
            f"every replication log Site Recovery deletes there for {len(group.referrers)} item(s) "
            "is kept and billed. Site Recovery does not support soft delete on cache accounts.",
            remediation=(
                f"az storage account blob-service-properties update -g {group_name} -n {name} "
                "--enable-delete-retention false (portal: storage account > Data management > Data "
                "protection > clear 'Enable soft delete for blobs'); exempt the account from the "
                "policy or scanner that asks for soft delete."
            ),
            evidence={
                "blob_service": service.id,
                "delete_retention_enabled": True,
                "delete_retention_days": service.delete_retention_days,
                "protected_items": [item_ref(i) for i in group.referrers],
            },
        )
