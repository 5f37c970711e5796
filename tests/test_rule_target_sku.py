"""PLC-TARGET-SKU: a recovery VM whose size the recovery subscription cannot create in the recovery
region or zone (high), and VMs whose vCPUs, failing over together, exceed the quota left (medium).
Where the sizes or quotas of a region were not read, the rule must say `unknown`, never pass."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from builders import (
    OTHER_SUBSCRIPTION,
    SUBSCRIPTION,
    a2a_item,
    analyzed,
    context,
    gap,
    inventory,
    run,
    vault,
    vm_with_nic,
)
from fakearm import FakeArm
from record_cassettes import scenario_request

from asr_audit import ids
from asr_audit.access.clouds import CLOUDS
from asr_audit.access.credential import StaticTokenCredential
from asr_audit.app import runner
from asr_audit.app.replay import DEMO_CASSETTE, replay_scan
from asr_audit.collect import ScanRequest, scan
from asr_audit.findings import Finding, FindingStatus, Severity
from asr_audit.inventory import ComputeUsage, Coverage, CoverageStatus, SkuRestriction, VmSku
from asr_audit.rules.base import Context

RULE = "PLC-TARGET-SKU"
REGION = "westus"  # the builders' default recovery region
SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def _sku(name: str, family: str, vcpus: int, *, sub: str = SUBSCRIPTION, **kw: Any) -> VmSku:
    kw.setdefault("zones", ["1", "2", "3"])
    return VmSku(name=name, subscription_id=sub, region=REGION, family=family, vcpus=vcpus, **kw)


def _usage(name: str, current: int, limit: int, sub: str = SUBSCRIPTION) -> ComputeUsage:
    return ComputeUsage(name=name, subscription_id=sub, region=REGION, current_value=current, limit=limit)


def _read(sub: str = SUBSCRIPTION, region: str = REGION) -> list[Coverage]:
    """Both reads of the (subscription, region) finished."""
    return [Coverage(sub, f"{kind}:{region}", CoverageStatus.OK) for kind in ("vm_skus", "compute_usages")]


D4 = _sku("Standard_D4s_v5", "standardDSv5Family", 4)
E16 = _sku("Standard_E16s_v5", "standardESv5Family", 16)
ROOMY = [_usage("cores", 0, 350), _usage("standardDSv5Family", 0, 100), _usage("standardESv5Family", 0, 100)]


def _protected(
    size: str, *objects: Any, subscriptions: tuple[str, ...] = (SUBSCRIPTION,), **item: Any
) -> Context:
    """One VM of `size` replicated East US -> West US by a vault of the default subscription."""
    vm, _ = vm_with_nic("vm1", "eastus")
    vm.vm_size = size
    return context(
        inventory(vm, a2a_item(vault("rsv", "westus"), vm, **item), *objects, subscriptions=subscriptions)
    )


# --- a size that cannot be created ----------------------------------------------------------------


def test_a_size_restricted_for_the_subscription_in_the_region_is_high() -> None:
    restricted = _sku(
        "Standard_M64s",
        "standardMSFamily",
        64,
        restrictions=[SkuRestriction("Location", "NotAvailableForSubscription")],
    )
    [finding] = run(RULE, _protected("Standard_M64s", restricted, *ROOMY, *_read()))
    assert (finding.severity, finding.status) == (Severity.HIGH, FindingStatus.FAIL)
    assert "restricted for the subscription in westus (NotAvailableForSubscription)" in finding.message
    assert finding.evidence["recovery_subscription"] == SUBSCRIPTION
    assert finding.resource_name == "vm1"


def test_a_size_the_region_does_not_list_is_high() -> None:
    [finding] = run("PLC-TARGET-SKU", _protected("Standard_HB120rs_v3", D4, *ROOMY, *_read()))
    assert finding.severity is Severity.HIGH and "not offered in westus at all" in finding.message


def test_the_items_recorded_recovery_size_is_judged_not_the_source_vms() -> None:
    """Site Recovery defaults to the source size, but the item's target size is what failover uses."""
    offered = run(RULE, _protected("Standard_M64s", D4, *ROOMY, *_read(), recovery_vm_size="Standard_D4s_v5"))
    assert offered == []
    [missing] = run(
        RULE, _protected("Standard_D4s_v5", D4, *ROOMY, *_read(), recovery_vm_size="Standard_M64s")
    )
    assert missing.evidence["recovery_vm_size"] == "Standard_M64s"


@pytest.mark.parametrize(
    ("zone", "fires"),
    [("3", True), ("1", False), (None, False)],
    ids=["recovery-zone-restricted", "other-zone-restricted", "regional"],
)
def test_a_zone_restriction_matters_only_on_the_recovery_zone(zone: str | None, fires: bool) -> None:
    d4 = _sku(
        D4.name,
        "standardDSv5Family",
        4,
        restrictions=[SkuRestriction("Zone", "NotAvailableForSubscription", ["3"])],
    )
    found = run(RULE, _protected(D4.name, d4, *ROOMY, *_read(), recovery_availability_zone=zone))
    assert [f.message for f in found] == (
        [
            f"Replicated item vm1: {D4.name} is restricted for the subscription in westus (zone 3) "
            "(NotAvailableForSubscription); failover cannot create the VM."
        ]
        if fires
        else []
    )


def test_a_recovery_zone_the_size_is_not_offered_in_is_high() -> None:
    two_zones = _sku(D4.name, "standardDSv5Family", 4, zones=["1", "2"])
    [finding] = run(RULE, _protected(D4.name, two_zones, *ROOMY, *_read(), recovery_availability_zone="3"))
    assert finding.severity is Severity.HIGH and "not offered in westus (zone 3)" in finding.message


# --- quota ----------------------------------------------------------------------------------------


def _fleet(count: int, usages: list[ComputeUsage]) -> Context:
    """`count` E16s_v5 VMs failing over into West US together."""
    objects: list[Any] = [E16, *usages, *_read()]
    owner = vault("rsv", "westus")
    for n in range(count):
        vm, _ = vm_with_nic(f"vm{n}", "eastus")
        vm.vm_size = E16.name
        objects += [vm, a2a_item(owner, vm)]
    return context(inventory(*objects))


def test_vcpus_failing_over_into_a_family_beyond_its_quota_left_are_medium() -> None:
    usages = [_usage("cores", 0, 350), _usage("standardESv5Family", 40, 100)]
    [finding] = run(RULE, _fleet(4, usages))  # 64 vCPUs, 60 left
    assert (finding.severity, finding.status) == (Severity.MEDIUM, FindingStatus.FAIL)
    assert (
        finding.resource_id == f"/subscriptions/{SUBSCRIPTION}" and finding.key == "westus/standardesv5family"
    )
    assert (
        finding.evidence["needed_vcpus"],
        finding.evidence["limit"],
        finding.evidence["current_value"],
    ) == (64, 100, 40)
    assert finding.evidence["vms"] == ["vm0", "vm1", "vm2", "vm3"]


@pytest.mark.parametrize(
    "usages",
    [
        [_usage("cores", 0, 350), _usage("standardESv5Family", 52, 100)],  # exactly the 48 left
        [_usage("cores", 0, -1), _usage("standardESv5Family", 500, -1)],  # -1: no limit
        [_usage("cores", 0, 350)],  # no family row: not judged
    ],
    ids=["exactly-what-is-left", "unlimited", "family-not-listed"],
)
def test_vcpus_that_fit_or_an_unlisted_quota_are_quiet(usages: list[ComputeUsage]) -> None:
    assert run("PLC-TARGET-SKU", _fleet(3, usages)) == []


def test_the_regional_vcpu_total_is_a_quota_too() -> None:
    [finding] = run(RULE, _fleet(2, [_usage("cores", 300, 320), _usage("standardESv5Family", 0, 100)]))
    assert finding.key == "westus/cores" and "regional vCPUs" in finding.message


def test_a_size_that_cannot_be_created_adds_no_vcpus_to_the_quota() -> None:
    """Its failover fails anyway (the high finding); counting it too would report one cause twice."""
    restricted = _sku(
        E16.name, "standardESv5Family", 16, restrictions=[SkuRestriction("Location", "QuotaId")]
    )
    found = run(
        RULE,
        _protected(E16.name, restricted, _usage("cores", 0, 8), _usage("standardESv5Family", 0, 8), *_read()),
    )
    assert [f.severity for f in found] == [Severity.HIGH]


# --- where failover creates the VM, and readiness -------------------------------------------------


def test_the_recovery_resource_groups_subscription_is_the_one_judged() -> None:
    """Offered in the vault's subscription, restricted in the one failover creates the VM in."""
    restricted = _sku(
        D4.name,
        "standardDSv5Family",
        4,
        sub=OTHER_SUBSCRIPTION,
        restrictions=[SkuRestriction("Location", None)],
    )
    rg = f"/subscriptions/{OTHER_SUBSCRIPTION}/resourceGroups/rg-dr"
    ctx = _protected(
        D4.name, D4, restricted, *ROOMY, *_read(), *_read(OTHER_SUBSCRIPTION),
        subscriptions=(SUBSCRIPTION, OTHER_SUBSCRIPTION), recovery_resource_group_id=rg,
    )  # fmt: skip
    [finding] = run(RULE, ctx)
    assert finding.evidence["recovery_subscription"] == OTHER_SUBSCRIPTION
    assert "(no reason given)" in finding.message


def test_a_recovery_subscription_that_was_not_scanned_is_unknown() -> None:
    rg = f"/subscriptions/{OTHER_SUBSCRIPTION}/resourceGroups/rg-dr"
    [finding] = run(RULE, _protected(D4.name, D4, *ROOMY, *_read(), recovery_resource_group_id=rg))
    assert (finding.status, finding.severity) == (FindingStatus.UNKNOWN, Severity.HIGH)
    assert f"recovery subscription {OTHER_SUBSCRIPTION} was not scanned" in finding.message


def test_readiness_judges_a_candidate_vm_in_its_own_subscription_and_the_target_region() -> None:
    vm, _ = vm_with_nic("vm-new", "eastus")
    vm.vm_size = "Standard_M64s"
    ctx = context(inventory(vm, D4, *ROOMY, *_read()), source_region="eastus", target_region="westus")
    [finding] = run(RULE, ctx)
    assert finding.resource_id == vm.id and "Candidate VM vm-new" in finding.message
    assert [c.resource_id for c in ctx.checks if c.rule_id == RULE] == [vm.id]  # no quota to judge


# --- what could not be read -----------------------------------------------------------------------


def _offered_but_unread(kind: str) -> Context:
    """An M64s the SKU list would restrict, in a region where the `kind` read was refused."""
    restricted = _sku(
        "Standard_M64s", "standardMSFamily", 64, restrictions=[SkuRestriction("Location", None)]
    )
    other = "compute_usages" if kind == "vm_skus" else "vm_skus"
    coverage = [
        Coverage(SUBSCRIPTION, f"{other}:{REGION}", CoverageStatus.OK),
        gap(f"{kind}:{REGION}", object_id=f"/subscriptions/{SUBSCRIPTION}/locations/{REGION}"),
    ]
    return _protected(
        "Standard_M64s", restricted, _usage("cores", 0, 1), _usage("standardMSFamily", 0, 1), *coverage
    )


def test_a_gap_in_the_sku_list_is_unknown_for_the_region_and_never_a_pass() -> None:
    ctx = _offered_but_unread("vm_skus")
    found = analyzed(RULE, ctx)
    assert [(f.status, f.resource_id, f.key) for f in found] == [
        ("unknown", f"/subscriptions/{SUBSCRIPTION}/locations/{REGION}", "vm_skus:westus")
    ]
    assert [c for c in ctx.checks if c.rule_id == RULE] == []  # nothing of it is listed as passed


def test_a_gap_in_the_usages_leaves_the_size_judged_and_the_quota_unknown() -> None:
    ctx = _offered_but_unread("compute_usages")
    found = analyzed(RULE, ctx)
    assert sorted((f.status, f.severity.value) for f in found) == [("fail", "high"), ("unknown", "high")]
    assert [c.resource_type for c in ctx.checks if c.rule_id == RULE] == [
        "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/replicationProtectedItems"
    ]  # the item was judged; the subscription's quota was not


def test_a_region_with_no_record_of_either_read_is_unknown_for_each_item_never_silent() -> None:
    """An older snapshot, or one scanned without this recovery region, has no coverage record for
    the region at all, so no gap speaks for it: the rule itself must say `unknown` (DESIGN.md 8.2)."""
    ctx = _protected(D4.name)
    [finding] = analyzed(RULE, ctx)
    assert (finding.status, finding.severity) == ("unknown", Severity.HIGH)
    assert f"VM sizes and vCPU quotas of subscription {SUBSCRIPTION} in {REGION} were not read" in (
        finding.message
    )
    assert [c for c in ctx.checks if c.rule_id == RULE] == []  # nothing of it is listed as passed


@pytest.mark.parametrize(("size", "status"), [(D4.name, "unknown"), ("Standard_M64s", "fail")])
def test_sizes_read_but_quotas_never_read_judge_the_size_and_leave_the_quota_unknown(
    size: str, status: str
) -> None:
    """A size not offered fails whatever the quota; an offered one depends on a quota never read."""
    ctx = _protected(size, D4, Coverage(SUBSCRIPTION, f"vm_skus:{REGION}", CoverageStatus.OK))
    [finding] = analyzed(RULE, ctx)
    assert finding.status == status
    assert ("vCPU quotas" in finding.message) is (status == "unknown")


# --- the demo, and a refused read end to end ------------------------------------------------------


def _expected(section: str) -> list[dict[str, Any]]:
    doc = yaml.safe_load((SCENARIOS / "broken" / "expected.yaml").read_text(encoding="utf-8"))
    return [e for e in doc[section] if e["rule_id"] == RULE]


def _signature(f: Finding | dict[str, Any]) -> tuple[str, str]:
    if isinstance(f, dict):
        return ids.key(f["resource_id"]), f.get("key", "")
    return ids.key(f.resource_id), f.key


def test_the_demo_fires_as_expected_and_its_near_misses_stay_quiet() -> None:
    inv = replay_scan(DEMO_CASSETTE, ScanRequest(subscriptions=[], cloud=CLOUDS["AzureCloud"]))
    ctx = context(inv)
    found = run(RULE, ctx)
    assert sorted(_signature(f) for f in found) == sorted(_signature(e) for e in _expected("findings"))
    quiet = [_signature(e) for e in _expected("near_misses")]
    assert quiet and not {_signature(f) for f in found} & set(quiet)
    judged = {ids.key(c.resource_id) for c in ctx.checks if c.rule_id == RULE}
    assert {rid for rid, _ in quiet} <= judged  # quiet because judged, not because skipped


def test_a_403_on_the_sku_list_is_a_forbidden_gap_and_the_rule_says_unknown(
    fake_arm: Callable[..., FakeArm],
) -> None:
    arm = fake_arm("broken")
    arm.add_fault(r"/providers/Microsoft\.Compute/skus$", 403, query=r"westus2")
    request = scenario_request(arm, arm.url, concurrency=4)
    inventory_ = scan(request, StaticTokenCredential(arm.token))
    [refused] = [c for c in inventory_.coverage if c.kind == "vm_skus" and c.status != "ok"]
    assert (refused.collector, refused.status) == ("vm_skus:westus2", "forbidden")
    findings = [f for f in runner.audit(inventory_, cloud=request.cloud).findings if f.rule_id == RULE]
    assert [(f.status, f.resource_id) for f in findings if f.status == "unknown"] == [
        ("unknown", refused.object_id)
    ]
    # the M64s and ESv5 findings it hid are not passed: nothing failing over into westus2 is judged
    assert [f for f in findings if f.status == "fail" and f.region == "westus2"] == []
