"""What the storage rule modules share about the accounts ASR points at: an account the
inventory lacks is `unknown`, never passed, and an account is named the same way everywhere."""

from __future__ import annotations

from asr_audit import ids
from asr_audit.findings import Finding, FindingStatus, RuleMeta
from asr_audit.inventory import ProtectedItem, StorageAccount
from asr_audit.net import connectivity
from asr_audit.rules.base import Context
from asr_audit.rules.common.naming import STORAGE_TYPE, item_ref
from asr_audit.rules.common.references import Group


def unknown_account(
    meta: RuleMeta, ctx: Context, group: Group[ProtectedItem], what: str, **evidence: object
) -> Finding:
    """The finding for an account the inventory does not hold: the rule cannot decide."""
    return meta.finding(
        resource_id=group.resource_id,
        resource_type=STORAGE_TYPE,
        status=FindingStatus.UNKNOWN,
        message="Cannot check this account: "
        f"{connectivity.unread_reason(ctx.index, group.resource_id, what, advise=True)}.",
        evidence={**evidence, "protected_items": [item_ref(i) for i in group.referrers]},
    )


def examined_account(meta: RuleMeta, ctx: Context, account: StorageAccount) -> None:
    ctx.examined(meta, account.id, STORAGE_TYPE, account.name, account.location)


def rg_and_name(resource_id: str) -> tuple[str, str]:
    """For az commands: a placeholder rather than nothing when the id has no resource group."""
    return ids.resource_group_of(resource_id) or "<resource-group>", ids.name_of(resource_id)
