"""PLC-ZONE: a zone-to-zone replicated item that Site Recovery does not support as configured.

Zone-to-zone disaster recovery replicates a zonal VM to another availability zone of its own region
(`primaryAvailabilityZone`, `recoveryAvailabilityZone`, one region). It only protects against a zone
outage if the zones differ, and Microsoft lists the regions and the disk kinds it supports; an item
outside them is protection that will not be there when the zone fails.
"""

from __future__ import annotations

from collections.abc import Iterator

from asr_audit.findings import Finding, RuleMeta, Severity
from asr_audit.inventory import ProtectedItem
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common.audited import a2a_items, is_zone_to_zone, item_source_region
from asr_audit.rules.common.disks import item_source_disks
from asr_audit.rules.common.documents import A2A_MATRIX, A2A_SOURCE
from asr_audit.rules.common.naming import examined_item, item_finding, item_label, unread_disks_finding
from asr_audit.rules.common.site_recovery_regions import Z2Z_DOC, Z2Z_SOURCE, ZONE_TO_ZONE_REGIONS

PLC_ZONE = RuleMeta(
    id="PLC-ZONE",
    title="Zone-to-zone replication Site Recovery does not support as configured",
    severity=Severity.HIGH,
    category="placement",
    needs=("protected_items", "disks"),
    rationale=(
        "Zone-to-zone disaster recovery keeps a copy of a zonal VM in another availability zone of the same "
        "region. A recovery zone equal to the source zone fails with it. Microsoft limits zone-to-zone DR "
        "to a list of regions, and states 'Zone-to-zone disaster recovery isn't supported for VMs that have "
        "managed disks via zone-redundant storage (ZRS)'; the support matrix lists Ultra Disks as not "
        "supported. Such an item is not the protection it appears to be."
    ),
    remediation=(
        "Disable replication and enable it again with a recovery availability zone other than the VM's own "
        "(VM > Disaster recovery > Disaster recovery between availability zones > Target availability "
        "zone). For a region not listed for zone-to-zone DR, or a VM with ZRS or Ultra disks, replicate to "
        "another region instead (ZRS disks already survive a zone outage within the region)."
    ),
    microsoft_docs=Z2Z_DOC,
    source=(
        f"{Z2Z_SOURCE}, Note on ZRS; {A2A_SOURCE}, Replicated machines - storage: "
        "'Ultra Disks | Not supported'"
    ),
    references=(A2A_MATRIX,),
)


def _zone_problems(ctx: Context, item: ProtectedItem, zrs: list[str], ultra: list[str]) -> list[str]:
    problems = []
    zone = item.primary_availability_zone
    if zone == item.recovery_availability_zone:
        problems.append(f"its source and recovery availability zone are both {zone}")
    region = item_source_region(ctx, item)
    if region not in ZONE_TO_ZONE_REGIONS:
        problems.append(
            f"{region} is not among the regions Microsoft lists for zone-to-zone disaster recovery"
        )
    if zrs:
        problems.append(f"zone-redundant (ZRS) disk(s) {', '.join(zrs)} are not supported")
    if ultra:
        problems.append(f"Ultra disk(s) {', '.join(ultra)} are not supported")
    return problems


@rule(PLC_ZONE)
def check_zone_to_zone(ctx: Context) -> Iterator[Finding]:
    for item in a2a_items(ctx):
        if not is_zone_to_zone(ctx, item):
            continue
        examined_item(PLC_ZONE, ctx, item)
        found, unread = item_source_disks(ctx, item)
        skus = {source.name: (source.sku_name or "").lower() for _, source in found}
        zrs = sorted(name for name, sku in skus.items() if sku.endswith("_zrs"))
        ultra = sorted(name for name, sku in skus.items() if sku.startswith("ultrassd"))
        problems = _zone_problems(ctx, item, zrs, ultra)
        if problems:
            yield item_finding(
                PLC_ZONE,
                ctx,
                item,
                message=f"Zone-to-zone replicated item {item_label(item)}: {'; '.join(problems)}.",
                evidence={
                    "region": item_source_region(ctx, item),
                    "primary_availability_zone": item.primary_availability_zone,
                    "recovery_availability_zone": item.recovery_availability_zone,
                    "zrs_disks": zrs,
                    "ultra_disks": ultra,
                    "reasons": problems,
                },
            )
        elif unread:
            yield unread_disks_finding(PLC_ZONE, ctx, item, unread, "whether they are ZRS or Ultra disks")
