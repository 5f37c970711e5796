"""ASR-DISK-LIMIT: protected disks per subscription against the 3,000 Site Recovery allows."""

from __future__ import annotations

from pathlib import Path

from builders import (
    OTHER_SUBSCRIPTION,
    SUBSCRIPTION,
    a2a_item,
    analyzed,
    context,
    gap,
    inventory,
    onprem_item,
    run,
    vault,
)

from asr_audit.app.config import load_thresholds
from asr_audit.findings import Severity
from asr_audit.inventory import ProtectedDisk, ProtectedItem, Vault
from asr_audit.rules.base import Context

OWNER = vault("rsv-dr", "westus2")
ELSEWHERE = vault("rsv-other", "westus2", subscription=OTHER_SUBSCRIPTION)


def items(count: int, disks_each: int, owner: Vault = OWNER) -> list[ProtectedItem]:
    out = []
    for n in range(count):
        item = a2a_item(owner, f"vm{n}", name=f"item{n}")
        item.protected_disks = [ProtectedDisk(disk_id=f"disk{n}-{d}") for d in range(disks_each)]
        out.append(item)
    return out


def estate(*objects: object, **kw: object) -> Context:
    return context(
        inventory(OWNER, ELSEWHERE, *objects, subscriptions=(SUBSCRIPTION, OTHER_SUBSCRIPTION)), **kw
    )


def test_disk_limit_fires_past_90_percent_of_3000_disks_in_a_subscription() -> None:
    ctx = estate(*items(43, 63))  # 2,709 disks
    [finding] = run("ASR-DISK-LIMIT", ctx)
    assert (finding.severity, finding.resource_id) == (Severity.MEDIUM, f"/subscriptions/{SUBSCRIPTION}")
    assert finding.evidence["protected_disks"] == 2709 and "291 left" in finding.message
    assert {c.resource_id for c in ctx.checks} == {
        f"/subscriptions/{s}" for s in (SUBSCRIPTION, OTHER_SUBSCRIPTION)
    }


def test_disk_limit_silent_at_90_percent_and_across_subscriptions() -> None:
    at_the_line = estate(*items(45, 60))  # exactly 2,700
    assert run("ASR-DISK-LIMIT", at_the_line) == []
    split = estate(*items(30, 60), *items(30, 60, ELSEWHERE))  # 1,800 in each subscription
    assert not run("ASR-DISK-LIMIT", split)


def test_disk_limit_counts_an_item_without_a_disk_list_as_its_os_disk() -> None:
    bare = [onprem_item(OWNER, f"hv{n}") for n in range(2)]
    [finding] = run("ASR-DISK-LIMIT", estate(*items(45, 60), *bare))
    assert finding.evidence["protected_disks"] == 2702 and finding.evidence["items_without_disk_list"] == 2


def test_disk_limit_follows_the_configured_share_and_limit(tmp_path: Path) -> None:
    config = tmp_path / "asr-audit.yaml"
    config.write_text("thresholds:\n  protected_disks_warning_percent: 3\n", encoding="utf-8")
    lowered = run("ASR-DISK-LIMIT", estate(*items(2, 50), thresholds=load_thresholds(config)))
    assert [f.evidence["warning_percent"] for f in lowered] == [3]
    raised = estate(*items(43, 63), thresholds={"protected_disks_per_subscription_max": 4000})
    assert run("ASR-DISK-LIMIT", raised) == []


def test_disk_limit_is_unknown_when_a_vaults_items_could_not_be_read() -> None:
    ctx = estate(gap("protected_items:rsv-dr", object_id=OWNER.id))
    [finding] = analyzed("ASR-DISK-LIMIT", ctx)
    assert (finding.status, finding.resource_id) == ("unknown", OWNER.id)
