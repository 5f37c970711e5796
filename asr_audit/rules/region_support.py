"""PLC-REGION-SUPPORT: an A2A item between regions Site Recovery restricts or supports one way only.

Site Recovery replicates between any two regions, with exceptions the support matrix names: some
regions only as a source, some only as a target, and restricted regions reserved for in-country
disaster recovery that need the subscriptions allowlisted first. An item outside them cannot fail
over where it says, or depends on an access request nobody may have made.
"""

from __future__ import annotations

from collections.abc import Iterator

from asr_audit.findings import Finding, RuleMeta, Severity
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common.audited import a2a_items, item_recovery_region, item_source_region
from asr_audit.rules.common.documents import A2A_MATRIX, A2A_SOURCE
from asr_audit.rules.common.naming import examined_item, item_finding, item_label
from asr_audit.rules.common.site_recovery_regions import (
    RESTRICTED_REGIONS,
    SOURCE_ONLY_REGIONS,
    TARGET_ONLY_REGIONS,
)

REGION_ACCESS = "https://learn.microsoft.com/troubleshoot/azure/general/region-access-request-process"

PLC_REGION_SUPPORT = RuleMeta(
    id="PLC-REGION-SUPPORT",
    title="Replication to a restricted region, or against a one-way region",
    severity=Severity.MEDIUM,
    category="placement",
    needs=("protected_items",),
    rationale=(
        "The support matrix names regions Site Recovery uses one way only: 'Brazil South can only be used "
        "as a source region ... It can't act as a target region', 'Brazil Southeast can only be used as a "
        "target region' (China North and China East likewise in Azure China). It also names restricted "
        "regions reserved for in-country disaster recovery (Switzerland West for Switzerland North, France "
        "South for France Central, and others): 'To use restricted regions as your primary or recovery "
        "region, get yourselves allowlisted ... for both source and target subscriptions.' A failover into "
        "a source-only region is unsupported; one into a restricted region fails unless both subscriptions "
        "were allowlisted, which the ARM data cannot show."
    ),
    remediation=(
        "For a one-way region, replicate to a region that may act as the target (or from one that may act as "
        "the source): disable replication and enable it again with another target region. For a restricted "
        "region, confirm that both the source and the target subscription are allowlisted (region access "
        "request, Azure support), or choose an unrestricted target region; suppress the finding with the "
        "request number as the reason once they are."
    ),
    microsoft_docs=A2A_MATRIX,
    source=(
        f"{A2A_SOURCE}, Region support; Support matrix for Azure VM disaster recovery between Azure "
        "regions (Azure China, docs.azure.cn, revision date not shown in the copy read)"
    ),
    references=(REGION_ACCESS,),
)


def _region_problems(source: str, target: str) -> list[str]:
    problems = []
    if target in SOURCE_ONLY_REGIONS:
        problems.append(f"{target} can only be a source region, not a target")
    if source in TARGET_ONLY_REGIONS:
        problems.append(f"{source} can only be a target region, not a source")
    for region in dict.fromkeys((source, target)):
        if region in RESTRICTED_REGIONS:
            problems.append(
                f"{region} is a restricted region reserved for {RESTRICTED_REGIONS[region]} customers: "
                "both subscriptions must be allowlisted"
            )
    return problems


@rule(PLC_REGION_SUPPORT)
def check_region_support(ctx: Context) -> Iterator[Finding]:
    for item in a2a_items(ctx):
        source, target = item_source_region(ctx, item), item_recovery_region(item)
        if not (source and target):
            continue
        examined_item(PLC_REGION_SUPPORT, ctx, item)
        problems = _region_problems(source, target)
        if problems:
            yield item_finding(
                PLC_REGION_SUPPORT,
                ctx,
                item,
                message=f"Replicated item {item_label(item)} ({source} -> {target}): {'; '.join(problems)}.",
                evidence={"source_region": source, "target_region": target, "reasons": problems},
            )
