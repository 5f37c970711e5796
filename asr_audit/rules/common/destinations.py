"""What replication traffic must reach (DESIGN.md §5): the required destinations of an A2A VM
as service tags, and their prefixes.

NET-FORCED-TUNNEL, NET-NSG-* and NET-FIREWALL-FQDN judge the same destinations along different
paths (routes, NSGs, a firewall), so the model lives here rather than in any one of them.

Two destinations are conditional ("About networking in Azure VM disaster recovery", 2025-10-30
revision): AzureKeyVault (`*.vault.azure.net`) for a VM using Azure Disk Encryption, and
GuestAndHybridManagement (`*.automation.ext.azure.com`) when the mobility agent updates itself.
NET-NSG-OUTBOUND and NET-FIREWALL-FQDN judge them for the workloads they apply to
(`conditional_destinations`); the page asks for them "only" when replication or auto-update is
enabled through the portal, so the route rules, which judge the replication traffic itself, do not.
"""

from __future__ import annotations

from dataclasses import dataclass

from asr_audit import ids
from asr_audit.net.prefixes import PrefixSet
from asr_audit.net.service_tags import ServiceTagIndex
from asr_audit.rules.base import Context
from asr_audit.rules.common.audited import SubnetCase, Workload
from asr_audit.rules.common.disks import uses_ade

SOURCE, TARGET = "source", "target"
# (service tag, which region's regional tag; None for a global tag): DESIGN.md section 5.
REQUIRED = (
    ("Storage", SOURCE),
    ("AzureActiveDirectory", None),
    ("EventHub", TARGET),
    ("AzureSiteRecovery", None),
)
SITE_RECOVERY = "AzureSiteRecovery"
KEY_VAULT = "AzureKeyVault"
GUEST_MANAGEMENT = "GuestAndHybridManagement"
AUTO_UPDATE_UNKNOWN = (
    "not checked: whether the mobility agent updates itself is set on the vault's protection-container "
    "mappings, which this scan does not read"
)


@dataclass(frozen=True, slots=True)
class Destination:
    service: str  # the tag, or the base of a regional tag
    side: str | None  # source | target | None (global tag)
    region: str | None = None

    @property
    def label(self) -> str:
        if not self.side:
            return self.service
        return f"{self.service}.{self.region or f'<{self.side} region>'}"


def required_destinations(source_region: str | None, target_region: str | None) -> list[Destination]:
    """What an A2A VM in `source_region` replicating to `target_region` must reach on 443."""
    regions = {SOURCE: ids.region(source_region), TARGET: ids.region(target_region)}
    return [Destination(svc, side, regions[side] if side else None) for svc, side in REQUIRED]


def resolve(tags: ServiceTagIndex, dest: Destination) -> tuple[PrefixSet | None, str, str | None]:
    """(the destination's prefixes, its tag name, why it cannot be resolved)."""
    if dest.side and not dest.region:
        return None, dest.label, f"the {dest.side} region is not known (give --{dest.side}-region)"
    if not tags:
        return None, dest.label, "service tags were not collected (see coverage)"
    tag = tags.regional(dest.service, dest.region) if dest.side else tags.get(dest.service)
    if tag is None:
        return None, dest.label, f"service tag {dest.label} is not in the collected service tags"
    prefixes = tags.listed(tag)
    if not prefixes:
        return None, tag.name, f"service tag {tag.name} lists no address prefixes"
    return prefixes, tag.name, None


def private_endpoint(ctx: Context, workload: Workload) -> bool:
    """The workload's vault has a private endpoint for Site Recovery, so its calls to the service go
    there rather than to the AzureSiteRecovery tag (a candidate has no vault yet)."""
    vault = ctx.index.vaults.get(ids.key(workload.item.vault_id)) if workload.item else None
    return vault is not None and (vault.private_endpoint_state_for_site_recovery or "").lower() == "enabled"


def workload_destinations(ctx: Context, workload: Workload) -> list[Destination]:
    """The workload's destinations; a vault private endpoint carries the Site Recovery calls."""
    private = private_endpoint(ctx, workload)
    dests = required_destinations(workload.source_region, workload.target_region)
    return [d for d in dests if not (private and d.service == SITE_RECOVERY)]


def subnet_destinations(ctx: Context, case: SubnetCase) -> list[Destination]:
    """What the subnet's workloads must reach, each once; Site Recovery is left out when every
    one of them reaches it through its vault's private endpoint."""
    wanted: dict[Destination, None] = {}
    for p in case.placements:
        wanted.update(
            dict.fromkeys(required_destinations(p.workload.source_region, p.workload.target_region))
        )
    private = all(private_endpoint(ctx, p.workload) for p in case.placements)
    return [d for d in wanted if not (d.service == SITE_RECOVERY and private)]


def auto_update_on(ctx: Context, workload: Workload) -> bool | None:
    """Whether Site Recovery updates the workload's mobility agent itself, None when not known.

    The setting (`agentAutoUpdateStatus`) lives on the protection-container mappings of the
    container the workload's item replicates from: on when any of them says Enabled, off when
    they all say Disabled, unknown without an item (a candidate) or a mapping that says either."""
    if workload.item is None:
        return None
    statuses = _auto_update_by_container(ctx).get(_container_key(workload.item.id), [])
    if "enabled" in statuses:
        return True
    return False if statuses and all(s == "disabled" for s in statuses) else None


def _container_key(object_id: str) -> str:
    """The protection container an item or a container mapping belongs to (ids are
    `.../replicationProtectionContainers/{name}/{child type}/{child}`)."""
    return ids.key(object_id).rsplit("/", 2)[0]


def _auto_update_by_container(ctx: Context) -> dict[str, list[str]]:
    def build() -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for m in ctx.inventory.protection_container_mappings:
            if m.agent_auto_update_status:
                found.setdefault(_container_key(m.id), []).append(m.agent_auto_update_status.strip().lower())
        return found

    return ctx.shared("auto_update_by_container", build)


@dataclass(frozen=True, slots=True)
class Conditional:
    """The conditional destinations a workload (or a subnet's workloads) needs, and those whose
    condition is not known: these are neither judged nor passed, only noted in the evidence."""

    destinations: tuple[Destination, ...] = ()
    not_checked: tuple[tuple[str, str], ...] = ()  # (tag, why)

    def evidence(self) -> list[dict[str, str]]:
        return [{"destination": tag, "reason": why} for tag, why in self.not_checked]


def conditional_destinations(ctx: Context, workload: Workload) -> Conditional:
    """AzureKeyVault for an ADE VM, GuestAndHybridManagement when agent auto-update is on."""
    wanted = [Destination(KEY_VAULT, None)] if uses_ade(ctx, workload) else []
    auto = auto_update_on(ctx, workload)
    if auto:
        wanted.append(Destination(GUEST_MANAGEMENT, None))
    unknown = ((GUEST_MANAGEMENT, AUTO_UPDATE_UNKNOWN),) if auto is None else ()
    return Conditional(tuple(wanted), unknown)


def subnet_conditional(ctx: Context, case: SubnetCase) -> Conditional:
    """The conditional destinations any of the subnet's workloads needs, each once."""
    wanted: dict[Destination, None] = {}
    unknown: dict[tuple[str, str], None] = {}
    for p in case.placements:
        found = conditional_destinations(ctx, p.workload)
        wanted.update(dict.fromkeys(found.destinations))
        unknown.update(dict.fromkeys(found.not_checked))
    return Conditional(tuple(wanted), tuple(unknown))
