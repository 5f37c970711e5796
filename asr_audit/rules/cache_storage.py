"""Cache account settings that storage hardening gets wrong for Site Recovery (STG-CACHE-*).

Prowler, PSRule for Azure and Azure Advisor recommend blob soft delete, and no shared-key access,
on every storage account (docs/other-scanners.md). On an A2A cache account the first multiplies
its cost, as Site Recovery creates and deletes log blobs all the time, and the second breaks
replication unless the vault reaches it through a managed identity. So these rules judge only the
accounts A2A items use as cache, from what the scan reads for exactly those accounts (their blob
service, the role assignments in effect at them).
"""

from __future__ import annotations

from collections.abc import Iterator

from asr_audit import ids
from asr_audit.findings import Finding, FindingStatus, RuleMeta, Severity
from asr_audit.inventory import RoleAssignment, StorageAccount, Vault
from asr_audit.net import connectivity
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common.audited import cache_uses
from asr_audit.rules.common.documents import A2A_MATRIX, A2A_SOURCE
from asr_audit.rules.common.gaps import coverage_gaps
from asr_audit.rules.common.naming import STORAGE_TYPE, item_ref
from asr_audit.rules.common.references import find_storage
from asr_audit.rules.common.storage_accounts import unknown_account


def _read_failed(ctx: Context, collector: str, account_id: str) -> bool:
    """Whether a gap covers the account's settings: `analyze` then reports the rule `unknown`
    there already (on the account, or on its subscription for a snapshot without the data)."""
    wanted = ids.key(account_id)
    gaps = coverage_gaps(ctx, (collector,), [ids.subscription_of(account_id) or ""])
    return any(g.object_id is None or ids.key(g.object_id) == wanted for g in gaps)


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
    microsoft_docs=f"{A2A_MATRIX}#cache-storage",
    source=f"{A2A_SOURCE}, Cache storage",
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
                yield unknown_account(SOFT_DELETE, ctx, group, "cache storage account")
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


# --- STG-CACHE-KEY-ACCESS ---------------------------------------------------------------------------

KEY_ACCESS_DOCS = (
    "https://learn.microsoft.com/azure/site-recovery/"
    "azure-to-azure-how-to-enable-replication-private-endpoints#grant-required-permissions-to-the-vault"
)

# Built-in roles by the guid that ends their roleDefinitionId (the same in every subscription).
OWNER, CONTRIBUTOR = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "b24988ac-6180-42a0-ab88-20f7382dd24c"
BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
ROLE_NAMES = {
    OWNER: "Owner",
    CONTRIBUTOR: "Contributor",
    BLOB_DATA_OWNER: "Storage Blob Data Owner",
    BLOB_DATA_CONTRIBUTOR: "Storage Blob Data Contributor",
    # Known to grant neither: they decide nothing, but need not make the verdict unknown.
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader",
}

KEY_ACCESS = RuleMeta(
    id="STG-CACHE-KEY-ACCESS",
    title="Cache account without shared-key access and without the vault's managed identity roles",
    severity=Severity.HIGH,
    category="storage",
    needs=("protected_items", "storage_accounts", "vault", "role_assignments"),
    rationale=(
        "Site Recovery writes replication data to the cache account with its shared key, unless the "
        "vault has a managed identity holding Contributor and Storage Blob Data Contributor (Storage Blob "
        "Data Owner on a Premium account) on it. Security baselines (Prowler, PSRule for Azure, Azure "
        "Advisor) recommend disallowing shared-key access on every account; on a cache account whose "
        "vault has no such identity, replication stops."
    ),
    remediation=(
        "Turn on the vault's system-assigned managed identity (az backup vault identity assign "
        "--system-assigned -g <rg> -n <vault>) and give it Contributor and Storage Blob Data Contributor "
        "(Storage Blob Data Owner for Premium) on the cache account (az role assignment create "
        "--assignee-object-id <principal-id> --assignee-principal-type ServicePrincipal --role "
        "Contributor --scope <account-id>); or allow shared-key access again "
        "(az storage account update -g <rg> -n <account> --allow-shared-key-access true)."
    ),
    microsoft_docs=KEY_ACCESS_DOCS,
    source=(
        "Replicate machines with private endpoints, Grant required permissions to the vault "
        "(learn.microsoft.com, revision 2022-04-23 as read); Turn off key based access on cache "
        "account (revision 2025-10-09)"
    ),
    references=("https://learn.microsoft.com/azure/site-recovery/asr-turn-off-key-authentication-cache",),
)


def _is_premium(account: StorageAccount) -> bool | None:
    tier = account.sku_tier or (account.sku_name or "").partition("_")[0]
    return tier.lower() == "premium" if tier else None


def _needed(account: StorageAccount) -> list[tuple[str, frozenset[str]]]:
    """(role named in the document, the built-in roles that grant it) the vault needs."""
    data: tuple[str, frozenset[str]]
    premium = _is_premium(account)
    if premium:
        data = ("Storage Blob Data Owner", frozenset({BLOB_DATA_OWNER}))
    elif premium is None:  # the tier decides which data role: either one will do
        data = ("a Storage Blob Data role", frozenset({BLOB_DATA_OWNER, BLOB_DATA_CONTRIBUTOR}))
    else:
        data = ("Storage Blob Data Contributor", frozenset({BLOB_DATA_OWNER, BLOB_DATA_CONTRIBUTOR}))
    return [("Contributor", frozenset({OWNER, CONTRIBUTOR})), data]


def _listing_read(ctx: Context, collector: str, account_id: str) -> bool:
    read = ctx.shared(  # asked per account: a scan of the coverage each time was quadratic
        "cache_listings_read",
        lambda: {(c.kind, ids.key(c.object_id)) for c in ctx.inventory.coverage if not c.is_gap},
    )
    return (collector, ids.key(account_id)) in read


def _assignments(ctx: Context, account: StorageAccount) -> list[RoleAssignment]:
    def build() -> dict[str, list[RoleAssignment]]:
        out: dict[str, list[RoleAssignment]] = {}
        for a in ctx.inventory.role_assignments:
            out.setdefault(ids.key(a.account_id), []).append(a)
        return out

    by_account = ctx.shared("role_assignments_by_account", build)
    return by_account.get(ids.key(account.id), [])


def _vault_verdict(ctx: Context, vault: Vault, account: StorageAccount) -> tuple[bool | None, str]:
    """(holds the roles: True, False, or None when a role of unknown rights could grant them; why)."""
    if not vault.identity_principal_ids:
        return False, f"vault '{vault.name}' has no managed identity"
    principals = {p.lower() for p in vault.identity_principal_ids}
    held = {
        (a.role_definition_id or "").rstrip("/").rsplit("/", 1)[-1].lower()
        for a in _assignments(ctx, account)
        if (a.principal_id or "").lower() in principals
    }
    missing = [name for name, granting in _needed(account) if not held & granting]
    if not missing:
        return True, ""
    if held - set(ROLE_NAMES):
        return None, f"vault '{vault.name}' holds custom roles whose rights are not read"
    return False, f"the identity of vault '{vault.name}' lacks {' and '.join(missing)}"


@rule(KEY_ACCESS)
def check_cache_key_access(ctx: Context) -> Iterator[Finding]:
    """An account with `allowSharedKeyAccess: false` needs each vault that replicates through it to
    hold the documented roles there through a managed identity."""
    for group in cache_uses(ctx):
        account = find_storage(ctx, group.resource_id)
        if account is None:
            if not _read_failed(ctx, "storage_accounts", group.resource_id):
                yield unknown_account(KEY_ACCESS, ctx, group, "cache storage account")
            continue
        ctx.examined(KEY_ACCESS, account.id, STORAGE_TYPE, account.name, account.location)
        if account.allow_shared_key_access:
            continue
        if not _listing_read(ctx, "role_assignments", account.id):
            if not _read_failed(ctx, "role_assignments", account.id):
                yield unknown_account(KEY_ACCESS, ctx, group, "role assignments of cache storage account")
            continue
        verdicts: list[tuple[bool | None, str]] = []
        for vault_id in sorted({ids.key(i.vault_id) for i in group.referrers}):
            vault = ctx.index.vaults.get(vault_id)
            if vault is not None:
                verdicts.append(_vault_verdict(ctx, vault, account))
            elif not _read_failed(ctx, "vault", vault_id):
                verdicts.append((None, connectivity.unread_reason(ctx.index, vault_id, "vault")))
        failing = [why for held, why in verdicts if held is False]
        undecided = [why for held, why in verdicts if held is None]
        if not failing and not undecided:
            continue
        yield KEY_ACCESS.finding(
            resource_id=account.id,
            resource_type=STORAGE_TYPE,
            resource_name=account.name,
            region=account.location,
            status=FindingStatus.FAIL if failing else FindingStatus.UNKNOWN,
            message=f"Cache storage account '{account.name}' disallows shared-key access, so Site Recovery "
            + (
                f"can reach it only through a vault's managed identity, but {'; '.join(failing)}."
                if failing
                else f"must reach it through a vault's managed identity, and whether it can is unknown: "
                f"{'; '.join(undecided)}."
            ),
            evidence={
                "allow_shared_key_access": False,
                "required_roles": [name for name, _ in _needed(account)],
                "reasons": failing + undecided,
                "protected_items": [item_ref(i) for i in group.referrers],
            },
        )
