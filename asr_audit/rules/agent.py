"""ASR-AGENT: the Mobility agent on each Azure-to-Azure replicated VM, as Site Recovery reports it.

Replication runs through the agent (the Site Recovery extension) and its certificate; when either
expires, or Site Recovery flags an update the agent has not taken, the VM stops replicating and
the recovery points age silently. The replicated item carries those facts; this rule reads them
as of the moment the inventory was collected (`Context.as_of`).

What keeps the agent current is the vault's auto-update setting, held by each A2A protection
container mapping: off, every monthly release is the admin's to install; on an Automation Run As
account (retired on 30 September 2023), Site Recovery warns that the upgrades fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from asr_audit import ids
from asr_audit.findings import Finding, RuleMeta, Severity
from asr_audit.inventory import ProtectedItem, ProtectionContainerMapping
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common.audited import a2a_items
from asr_audit.rules.common.dates import day, parse_time
from asr_audit.rules.common.naming import CONTAINER_MAPPING_TYPE, examined_item, item_finding, item_label
from asr_audit.rules.common.references import vault_region
from asr_audit.rules.thresholds import limit

AUTO_UPDATE = "https://learn.microsoft.com/azure/site-recovery/azure-to-azure-autoupdate"
RUN_AS_MIGRATION = (
    "https://learn.microsoft.com/azure/site-recovery/how-to-migrate-run-as-accounts-managed-identity"
)

ASR_AGENT = RuleMeta(
    id="ASR-AGENT",
    title="Mobility agent needs an update or is expiring",
    severity=Severity.HIGH,
    category="asr",
    needs=("protected_items", "protection_container_mappings"),
    other_severities=(Severity.MEDIUM,),
    rationale=(
        "Azure-to-Azure replication runs through the Mobility service extension on the VM. Site Recovery "
        "supports each agent version for a limited time and authenticates it with a certificate that also "
        "expires; it flags the item when the agent needs an update (isReplicationAgentUpdateRequired) or "
        "a certificate renewal (isReplicationAgentCertificateUpdateRequired). An expired agent or "
        "certificate stops replication, so the recovery point a failover would use grows older every "
        "hour. An update required, or an agent or certificate already expired, is high; an expiry within "
        "30 days (--config agent_expiry_warning_days) is medium. What keeps the agent current is the "
        "vault's auto-update setting, held by each A2A protection container mapping: with it off, or "
        "on an Azure Automation Run As account (retired on 30 September 2023; Site Recovery warns that "
        "staying on one makes agent upgrades fail), the agents fall behind until they expire; "
        "that is medium."
    ),
    remediation=(
        "Update the Mobility agent: in the vault, Site Recovery infrastructure > Extension update settings, "
        "let Site Recovery manage updates (an Azure Automation account with a system-assigned managed "
        "identity), or update the item from Replicated items > the item > the agent update banner. "
        "Renew the certificate from the same banner (Renew certificate) before its expiry date. An "
        "auto-update setting on a Run As account: in the same Extension update settings, choose "
        "System assigned managed identity as the authentication type."
    ),
    microsoft_docs=AUTO_UPDATE,
    source=(
        "Automatic update of the Mobility Service in Azure to Azure replication (learn.microsoft.com, "
        "2018-06-14); Migrate from a Run As account to a managed identity (learn.microsoft.com, "
        "revision 2024-04-29); A2AReplicationDetails of ReplicationProtectedItems_List and "
        "A2AProtectionContainerMappingDetails of ReplicationProtectionContainerMappings_List (2025-08-01)"
    ),
    references=(
        "https://learn.microsoft.com/rest/api/site-recovery/replication-protected-items/list",
        RUN_AS_MIGRATION,
        "https://learn.microsoft.com/rest/api/site-recovery/replication-protection-container-mappings/list",
    ),
)


def _expiry(what: str, raw: str | None, now: datetime, notice: timedelta) -> tuple[Severity, str] | None:
    """(severity, reason) for an expiry date that has passed or falls within the notice period."""
    moment = parse_time(raw)
    if moment is None:
        return None
    if moment <= now:
        return Severity.HIGH, f"the {what} expired on {day(moment)}"
    if moment - now <= notice:
        return Severity.MEDIUM, f"the {what} expires on {day(moment)}, in {(moment - now).days} day(s)"
    return None


def agent_problems(item: ProtectedItem, now: datetime, notice: timedelta) -> list[tuple[Severity, str]]:
    problems = []
    if item.agent_update_required:
        problems.append((Severity.HIGH, "Site Recovery reports that the Mobility agent needs an update"))
    if item.agent_certificate_update_required:
        problems.append((Severity.HIGH, "Site Recovery reports that the agent certificate needs renewing"))
    for what, raw in (
        ("agent", item.agent_expiry_date),
        ("agent certificate", item.agent_certificate_expiry_date),
    ):
        found = _expiry(what, raw, now, notice)
        if found:
            problems.append(found)
    return problems


@rule(ASR_AGENT)
def check_agent(ctx: Context) -> Iterator[Finding]:
    """Both halves: the agents the items report on, and the setting that keeps them current."""
    yield from _item_findings(ctx)
    yield from _auto_update_findings(ctx)


def _item_findings(ctx: Context) -> Iterator[Finding]:
    notice = timedelta(days=limit(ctx.thresholds, "agent_expiry_warning_days"))
    for item in a2a_items(ctx):
        examined_item(ASR_AGENT, ctx, item)
        problems = agent_problems(item, ctx.as_of, notice)
        if not problems:
            continue
        worst = Severity.HIGH if any(s is Severity.HIGH for s, _ in problems) else Severity.MEDIUM
        yield item_finding(
            ASR_AGENT,
            ctx,
            item,
            severity=worst,
            message=f"Replicated item {item_label(item)}: {'; '.join(r for _, r in problems)}.",
            evidence={
                "as_of": day(ctx.as_of),
                "reasons": [r for _, r in problems],
                "agent_update_required": item.agent_update_required,
                "agent_certificate_update_required": item.agent_certificate_update_required,
                "agent_expiry_date": item.agent_expiry_date,
                "agent_certificate_expiry_date": item.agent_certificate_expiry_date,
            },
        )


# --- the vault's auto-update setting, per A2A container mapping ---------------------------------

# automationAccountAuthenticationType when the mapping does not give it: the REST reference's
# default (A2AContainerMappingInput), which is also what mappings made before the choice existed use.
RUN_AS_ACCOUNT = "RunAsAccount"


def _judged_mappings(ctx: Context) -> list[ProtectionContainerMapping]:
    """A2A mappings that state the auto-update setting: another provider's mapping, or one with no
    provider details (as the REST reference's own list example), says nothing about it."""
    return [
        m
        for m in ctx.inventory.protection_container_mappings
        if m.instance_type == "A2A" and m.agent_auto_update_status is not None
    ]


def auto_update_problem(mapping: ProtectionContainerMapping) -> str | None:
    """Why the mapping's setting leaves the agents to fall behind, or None."""
    if (mapping.agent_auto_update_status or "").lower() == "disabled":
        return (
            "Site Recovery does not update the Mobility agent (auto-update is off), so each monthly "
            "release waits for someone to install it and the agents run out of support"
        )
    sign_in = mapping.automation_account_authentication_type or RUN_AS_ACCOUNT
    if sign_in.lower() == RUN_AS_ACCOUNT.lower():
        return (
            "auto-update runs on an Azure Automation Run As account, retired on 30 September 2023; "
            "Site Recovery warns that staying on one makes agent upgrades fail"
        )
    return None


def _route(mapping: ProtectionContainerMapping) -> str:
    """` (source fabric -> target fabric)` for a message; the name alone is the resource's name."""
    return f" ({mapping.source_fabric} -> {mapping.target_fabric})" if mapping.source_fabric else ""


def _mapping_fix(mapping: ProtectionContainerMapping) -> str:
    """The change for this mapping, names filled in: the portal path, or the CLI (site-recovery
    extension) with the mapping's own vault, fabric and container."""
    rid = mapping.id
    fabric = ids.segment_after(rid, "replicationFabrics")
    container = ids.segment_after(rid, "replicationProtectionContainers")
    vault = ids.name_of(mapping.vault_id)
    account = mapping.automation_account_id or "<automation-account-id>"
    return (
        f"In vault {vault}: Site Recovery infrastructure > Extension update settings > Allow Site Recovery "
        f"to manage, authentication type System assigned managed identity. Or: az site-recovery "
        f"protection-container mapping update -g {ids.resource_group_of(mapping.vault_id)} "
        f"--vault-name {vault} --fabric-name {fabric} --protection-container {container} "
        f"-n {mapping.name} --provider-input '{{a2a:{{agent-auto-update-status:Enabled,"
        f"automation-account-arm-id:{account},"
        f"automation-account-authentication-type:SystemAssignedIdentity}}}}'"
    )


def _auto_update_findings(ctx: Context) -> Iterator[Finding]:
    for mapping in _judged_mappings(ctx):
        region = vault_region(ctx, mapping.vault_id)
        where = f"{mapping.name}{_route(mapping)} of vault {ids.name_of(mapping.vault_id)}"
        ctx.examined(ASR_AGENT, mapping.id, CONTAINER_MAPPING_TYPE, mapping.name, region)
        problem = auto_update_problem(mapping)
        if problem is None:
            continue
        yield ASR_AGENT.finding(
            resource_id=mapping.id,
            resource_type=CONTAINER_MAPPING_TYPE,
            resource_name=mapping.name,
            region=region,
            severity=Severity.MEDIUM,
            message=f"Protection container mapping {where}: {problem}.",
            remediation=_mapping_fix(mapping),
            evidence={
                "agentAutoUpdateStatus": mapping.agent_auto_update_status,
                "automationAccountArmId": mapping.automation_account_id,
                "automationAccountAuthenticationType": mapping.automation_account_authentication_type,
            },
        )
