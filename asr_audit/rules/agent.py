"""ASR-AGENT: the Mobility agent on each Azure-to-Azure replicated VM, as Site Recovery reports it.

Replication runs through the agent (the Site Recovery extension) and its certificate; when either
expires, or Site Recovery flags an update the agent has not taken, the VM stops replicating and
the recovery points age silently. The replicated item carries those facts; this rule reads them
as of the moment the inventory was collected (`Context.as_of`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from asr_audit.findings import Finding, RuleMeta, Severity
from asr_audit.inventory import ProtectedItem
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common.audited import a2a_items
from asr_audit.rules.common.dates import day, parse_time
from asr_audit.rules.common.naming import examined_item, item_finding, item_label
from asr_audit.rules.thresholds import limit

AUTO_UPDATE = "https://learn.microsoft.com/azure/site-recovery/azure-to-azure-autoupdate"

ASR_AGENT = RuleMeta(
    id="ASR-AGENT",
    title="Mobility agent needs an update or is expiring",
    severity=Severity.HIGH,
    category="asr",
    needs=("protected_items",),
    other_severities=(Severity.MEDIUM,),
    rationale=(
        "Azure-to-Azure replication runs through the Mobility service extension on the VM. Site Recovery "
        "supports each agent version for a limited time and authenticates it with a certificate that also "
        "expires; it flags the item when the agent needs an update (isReplicationAgentUpdateRequired) or "
        "a certificate renewal (isReplicationAgentCertificateUpdateRequired). An expired agent or "
        "certificate stops replication, so the recovery point a failover would use grows older every "
        "hour. An update required, or an agent or certificate already expired, is high; an expiry within "
        "30 days (--config agent_expiry_warning_days) is medium."
    ),
    remediation=(
        "Update the Mobility agent: in the vault, Site Recovery infrastructure > Extension update settings, "
        "let Site Recovery manage updates (an Azure Automation account with a system-assigned managed "
        "identity), or update the item from Replicated items > the item > the agent update banner. "
        "Renew the certificate from the same banner (Renew certificate) before its expiry date."
    ),
    microsoft_docs=AUTO_UPDATE,
    source=(
        "Automatic update of the Mobility Service in Azure to Azure replication (learn.microsoft.com, "
        "2018-06-14); A2AReplicationDetails of ReplicationProtectedItems_List (2025-08-01)"
    ),
    references=("https://learn.microsoft.com/rest/api/site-recovery/replication-protected-items/list",),
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
