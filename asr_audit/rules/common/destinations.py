"""What replication traffic must reach (DESIGN.md §5): the required destinations of an A2A VM
as service tags, and their prefixes.

NET-FORCED-TUNNEL, NET-NSG-* and NET-FIREWALL-FQDN judge the same destinations along different
paths (routes, NSGs, a firewall), so the model lives here rather than in any one of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from asr_audit import ids
from asr_audit.net.prefixes import PrefixSet
from asr_audit.net.service_tags import ServiceTagIndex
from asr_audit.rules.base import Context
from asr_audit.rules.common.audited import SubnetCase, Workload

SOURCE, TARGET = "source", "target"
# (service tag, which region's regional tag; None for a global tag): DESIGN.md section 5.
REQUIRED = (
    ("Storage", SOURCE),
    ("AzureActiveDirectory", None),
    ("EventHub", TARGET),
    ("AzureSiteRecovery", None),
)
SITE_RECOVERY = "AzureSiteRecovery"


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
