"""STG-CACHE-FIREWALL: the storage firewall of the accounts replication writes to.

A2A cache accounts may restrict network access if trusted Microsoft services and a source subnet
are let in; Hyper-V replica and log accounts may not restrict it at all. An account that turns
public access off, or has an approved private endpoint, may be reached through that endpoint:
private endpoints (and the DNS that leads to them) are not read yet, so such an account is
`unknown` rather than failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from asr_audit import ids
from asr_audit.findings import Finding, FindingStatus, RuleMeta, Severity
from asr_audit.inventory import ProtectedItem, StorageAccount
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common import audited
from asr_audit.rules.common.documents import A2A_MATRIX, A2A_SOURCE, HYPERV_MATRIX
from asr_audit.rules.common.naming import STORAGE_TYPE, item_ref
from asr_audit.rules.common.references import Group, find_storage, group_refs
from asr_audit.rules.common.storage_accounts import examined_account, rg_and_name, unknown_account

HYPERV_STORAGE_SOURCE = (
    "Support matrix for disaster recovery of on-premises Hyper-V VMs to Azure (learn.microsoft.com, "
    "revision 2018-08-01 as read), Azure Storage"
)

CACHE_FIREWALL = RuleMeta(
    id="STG-CACHE-FIREWALL",
    title="Storage firewall blocks Site Recovery's cache or replica account",
    severity=Severity.HIGH,
    category="storage",
    needs=("storage_accounts", *audited.PLACEMENT_INPUTS),
    rationale=(
        "The Mobility service on each source VM writes changes to the A2A cache account, and Site "
        "Recovery reads them from there. With the storage firewall on (default action Deny), the "
        "Azure-to-Azure matrix asks for 'Allow trusted Microsoft services' and access from at least one "
        "subnet of the source VNet, or replication stops. On-premises Hyper-V machines replicate into "
        "their replica and log accounts from outside Azure, and the Hyper-V matrix does not support a "
        "storage firewall on those accounts at all."
    ),
    remediation=(
        "A2A cache account: under storage account > Networking tick 'Allow Azure services on the trusted "
        "services list' and add a source subnet (it needs the Microsoft.Storage service endpoint), or "
        "allow 'All networks'. Hyper-V replica or log account: allow 'All networks'."
    ),
    microsoft_docs=f"{A2A_MATRIX}#cache-storage",
    source=f"{A2A_SOURCE}, Cache storage; {HYPERV_STORAGE_SOURCE}",
    references=(f"{HYPERV_MATRIX}#azure-storage",),
)

HYPERV = "HyperVReplicaAzure"


@dataclass(slots=True)
class Verdict:
    """Why an account fails, or why the rule cannot tell, and the commands of its own fix."""

    problems: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)
    undecided: str | None = None


def _item_subnets(ctx: Context) -> dict[str, dict[str, str]]:
    """Source subnets (key -> id) per protected item id key, from the scope's NIC placements."""
    out: dict[str, dict[str, str]] = {}
    for placement in audited.placements(ctx):
        item = placement.workload.item
        if item is not None:
            out.setdefault(ids.key(item.id), {})[ids.key(placement.subnet.id)] = placement.subnet.id
    return out


def _public_access_off(account: StorageAccount) -> bool:
    """`Disabled` (or `SecuredByPerimeter`): nothing reaches the account but through a private
    endpoint or a perimeter, neither of which is read."""
    return (account.public_network_access or "enabled").lower() != "enabled"


def _denies(account: StorageAccount) -> bool:
    return (account.default_action or "").strip().lower() == "deny"


def _cache_verdict(
    account: StorageAccount, group: Group[ProtectedItem], subnets_by_item: dict[str, dict[str, str]]
) -> Verdict:
    """A Deny-by-default cache account needs the trusted-services bypass and one source subnet.
    One subnet, not each: the matrix asks for 'at least one subnet of source Vnet'."""
    verdict = Verdict()
    rg, name = rg_and_name(account.id)
    if not any(b.strip().lower() == "azureservices" for b in account.bypass):
        kept = {b.strip() for b in account.bypass if b.strip().lower() not in ("", "none")} | {
            "AzureServices"
        }
        verdict.problems.append("does not allow trusted Microsoft services (bypass AzureServices)")
        verdict.fixes.append(f"az storage account update -g {rg} -n {name} --bypass {' '.join(sorted(kept))}")
    needed: dict[str, str] = {}
    unresolved = 0
    for item in group.referrers:
        subnets = subnets_by_item.get(ids.key(item.id))
        needed.update(subnets or {})
        unresolved += not subnets
    allowed = {ids.key(s) for s in account.virtual_network_rules}
    if not allowed & set(needed):
        if unresolved:
            verdict.undecided = (
                f"the source subnets of {unresolved} item(s) could not be resolved (VM, NIC or VNet not "
                "in the inventory), and none of the others is allowed"
            )
        else:
            first = needed[min(needed)]
            verdict.problems.append(f"allows none of the {len(needed)} source subnet(s)")
            verdict.fixes.append(
                f"az storage account network-rule add -g {rg} --account-name {name} --subnet {first} "
                "(the subnet needs the Microsoft.Storage service endpoint)"
            )
    return verdict


def _judge(
    meta: RuleMeta, account: StorageAccount, group: Group[ProtectedItem], verdict: Verdict, what: str
) -> Iterator[Finding]:
    evidence: dict[str, object] = {
        "default_action": account.default_action,
        "bypass": account.bypass,
        "public_network_access": account.public_network_access,
        "private_endpoints": account.private_endpoints,
        "protected_items": [item_ref(i) for i in group.referrers],
    }
    if verdict.problems and not account.private_endpoints:
        yield meta.finding(
            resource_id=account.id,
            resource_type=STORAGE_TYPE,
            region=account.location,
            message=f"{what} '{account.name}' denies network access by default and "
            + " and ".join(verdict.problems)
            + "; replication data cannot be written to it.",
            remediation="; ".join(verdict.fixes) + ".",
            evidence=evidence,
        )
        return
    undecided = verdict.undecided
    if verdict.problems:
        undecided = (
            f"its firewall {' and '.join(verdict.problems)}, but it has {len(account.private_endpoints)} "
            "approved private endpoint(s) the VMs may reach it through; private endpoints are not read yet"
        )
    if undecided:
        yield meta.finding(
            resource_id=account.id,
            resource_type=STORAGE_TYPE,
            region=account.location,
            status=FindingStatus.UNKNOWN,
            message=f"{what} '{account.name}' denies network access by default: {undecided}, so whether "
            "replication reaches it is unknown.",
            evidence=evidence,
        )


def _unknown_public_access(
    meta: RuleMeta, account: StorageAccount, group: Group[ProtectedItem], what: str
) -> Finding:
    return meta.finding(
        resource_id=account.id,
        resource_type=STORAGE_TYPE,
        region=account.location,
        status=FindingStatus.UNKNOWN,
        message=f"{what} '{account.name}' has public network access {account.public_network_access}: "
        "replication reaches it only through a private endpoint (or a network security perimeter), "
        "which the scan does not read yet, so whether it can is unknown.",
        remediation=(
            "Check that each source VNet (or, for Hyper-V, the on-premises network) reaches a private "
            f"endpoint of '{account.name}' (blob) and resolves its privatelink.blob name; see "
            "`asr-audit explain STG-CACHE-FIREWALL`."
        ),
        evidence={
            "public_network_access": account.public_network_access,
            "private_endpoints": account.private_endpoints,
            "protected_items": [item_ref(i) for i in group.referrers],
        },
    )


def _hyperv_uses(ctx: Context) -> list[Group[ProtectedItem]]:
    """Each replica and log account Hyper-V items write to, with those items."""
    items = [i for i in audited.on_premises_items(ctx) if i.instance_type == HYPERV]
    return group_refs(
        (account, item)
        for item in items
        for account in (item.recovery_storage_account_id, item.recovery_log_storage_account_id)
    )


@rule(CACHE_FIREWALL)
def check_cache_firewall(ctx: Context) -> Iterator[Finding]:
    subnets_by_item = _item_subnets(ctx)
    cases = [(g, "cache storage account", False) for g in audited.cache_uses(ctx)]
    cases += [(g, "Hyper-V replica storage account", True) for g in _hyperv_uses(ctx)]
    for group, what, hyperv in cases:
        account = find_storage(ctx, group.resource_id)
        if account is None:
            yield unknown_account(CACHE_FIREWALL, ctx, group, what)
            continue
        examined_account(CACHE_FIREWALL, ctx, account)
        label = what[:1].upper() + what[1:]
        if _public_access_off(account):
            yield _unknown_public_access(CACHE_FIREWALL, account, group, label)
        elif _denies(account) and hyperv:
            rg, name = rg_and_name(account.id)
            verdict = Verdict(
                problems=["the Hyper-V support matrix does not support a storage firewall on it"],
                fixes=[f"az storage account update -g {rg} -n {name} --default-action Allow"],
            )
            yield from _judge(CACHE_FIREWALL, account, group, verdict, label)
        elif _denies(account):
            yield from _judge(
                CACHE_FIREWALL, account, group, _cache_verdict(account, group, subnets_by_item), label
            )
