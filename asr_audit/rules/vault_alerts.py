"""ASR-ALERTS: the vault's built-in Azure Monitor alerts for Site Recovery, turned off.

Site Recovery raises an Azure Monitor alert when an item's replication health turns critical or a
failover fails, with no alert rule to configure; a vault can opt out of each kind in its
monitoring settings. With them off, replication that stops is noticed when someone opens the vault,
or when a failover needs recovery points that stopped being made. A setting the vault does not
carry is the service default, which is on: only a setting spelled `Disabled` fires.
"""

from __future__ import annotations

from collections.abc import Iterator

from asr_audit import ids
from asr_audit.findings import Finding, RuleMeta, Severity
from asr_audit.inventory import Vault
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common.gaps import coverage_gaps
from asr_audit.rules.common.naming import VAULT_TYPE

MONITOR_DOCS = (
    "https://learn.microsoft.com/azure/site-recovery/site-recovery-monitor-and-troubleshoot"
    "#built-in-azure-monitor-alerts-for-azure-site-recovery"
)
DISABLED = "disabled"

ASR_ALERTS = RuleMeta(
    id="ASR-ALERTS",
    title="Built-in alerts for Site Recovery replication or failover issues are off",
    severity=Severity.LOW,
    category="asr",
    needs=("vaults", "vault", "protected_items", "network_mappings"),
    rationale=(
        "Site Recovery raises built-in Azure Monitor alerts, with no alert rule to set up, when an "
        "item's replication health turns critical, its agent or certificate nears expiry, enabling "
        "replication fails, or a failover fails. A vault can turn these off "
        "(monitoringSettings.azureMonitorAlertSettings: alertsForAllReplicationIssues, "
        "alertsForAllFailoverIssues). Then replication that stops is noticed only when someone looks "
        "at the vault, or at failover time, when the recovery points it needs are hours or days old."
    ),
    remediation=(
        "Turn the alerts back on for the vault: Recovery Services vault > Properties > Monitoring "
        "Settings, or a PATCH of the vault setting monitoringSettings.azureMonitorAlertSettings "
        "alertsForAllReplicationIssues and alertsForAllFailoverIssues to Enabled (asr-audit explain "
        "ASR-ALERTS shows the az rest command). Then route them to people with an alert processing rule "
        "and an action group (Azure Monitor > Alerts > Alert processing rules): alerts are raised "
        "without one, but notify no one."
    ),
    microsoft_docs=MONITOR_DOCS,
    source=(
        "Monitor Site Recovery, Built-in Azure Monitor alerts for Azure Site Recovery "
        "(learn.microsoft.com, revision 2023-10-25 as read); Vaults_Get, MonitoringSettings "
        "(Microsoft.RecoveryServices 2025-02-01)"
    ),
    references=(
        "https://learn.microsoft.com/azure/site-recovery/monitor-site-recovery",
        "https://learn.microsoft.com/rest/api/recoveryservices/vaults/get",
    ),
)

# The settings judged: the Vault field, the ARM property, and what turning it off silences.
_SETTINGS = (
    (
        "alerts_for_replication_issues",
        "alertsForAllReplicationIssues",
        "replication issues (critical replication health, agent and certificate expiry)",
    ),
    ("alerts_for_failover_issues", "alertsForAllFailoverIssues", "failover issues (failed failovers)"),
)


def _site_recovery_vaults(ctx: Context) -> list[Vault]:
    """The vaults Site Recovery is used in (holding replicated items or network mappings): a
    Backup-only vault's Site Recovery alerts alert about nothing."""
    used = {ids.key(i.vault_id) for i in ctx.inventory.protected_items}
    used |= {ids.key(m.vault_id) for m in ctx.inventory.network_mappings}
    return [v for v in ctx.inventory.vaults if ids.key(v.id) in used]


def _unread(ctx: Context, vault: Vault) -> bool:
    """The vault's GET failed: what is in the inventory is the listed view, without its monitoring
    settings, and the gap's own `unknown` finding speaks for it."""
    gaps = coverage_gaps(ctx, ("vault",), [ids.subscription_of(vault.id) or ""])
    return any(ids.key(g.object_id) == ids.key(vault.id) for g in gaps)


@rule(ASR_ALERTS)
def check_alerts(ctx: Context) -> Iterator[Finding]:
    for vault in _site_recovery_vaults(ctx):
        if _unread(ctx, vault):
            continue
        ctx.examined(ASR_ALERTS, vault.id, VAULT_TYPE, vault.name, vault.location)
        off = [
            (prop, what)
            for field, prop, what in _SETTINGS
            if (getattr(vault, field) or "").lower() == DISABLED
        ]
        if not off:
            continue
        emails = vault.site_recovery_email_notifications
        classic = (
            " The classic Site Recovery e-mail notifications are still on, the legacy mechanism that "
            "Azure Monitor alerts replace."
            if (emails or "").lower() == "enabled"
            else ""
        )
        yield ASR_ALERTS.finding(
            resource_id=vault.id,
            resource_type=VAULT_TYPE,
            resource_name=vault.name,
            region=vault.location,
            message=f"Vault '{vault.name}' has the built-in Azure Monitor alerts for Site Recovery "
            f"{' and '.join(what for _, what in off)} turned off: Site Recovery raises no alert for "
            f"them, so they go unnoticed until someone looks at the vault.{classic}",
            evidence={
                "monitoringSettings.azureMonitorAlertSettings": {
                    prop: getattr(vault, field) for field, prop, _ in _SETTINGS
                },
                "classicAlertSettings.emailNotificationsForSiteRecovery": emails,
                "disabled": [prop for prop, _ in off],
            },
        )
