"""The trust contract in the analysis (DESIGN.md §8.2): a rule whose input could not be read says
`unknown` for what it could not judge, at the worst severity it reports, and never passes it.

Each rule declares the collectors it reads (`RuleMeta.needs`); `rules.analyze` turns every gap in
one of them into an `unknown` finding on the subscription (or on the vault, resource group or
policy of a per-object read). These tests run every catalogued rule against every kind of gap.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from builders import (
    SUBSCRIPTION,
    a2a_item,
    analyzed,
    context,
    gap,
    inventory,
    subnet_id,
    vault,
    virtual_network,
    vm_with_nic,
)
from report_samples import sample_report

from asr_audit.collect import endpoints
from asr_audit.findings import Finding, Severity
from asr_audit.inventory import COLLECTORS, FAILED_STATUSES, PER_OBJECT_COLLECTORS, Coverage, VmDisk
from asr_audit.report import render
from asr_audit.rules import analyze
from asr_audit.rules.base import Context
from asr_audit.rules.catalog import default_catalog

CATALOG = default_catalog()
RULES = {r.id: r for r in CATALOG}
SUBSCRIPTION_SCOPE = f"/subscriptions/{SUBSCRIPTION}"
# Read per object rather than per subscription: named in coverage as `<collector>:<object>`.
PER_OBJECT = {"vault", "protected_items", "network_mappings", "protection_container_mappings"}
PER_OBJECT |= {"rule_collection_groups"}
PER_OBJECT |= {"virtual_network_gateways", "connections"}
PER_OBJECT |= set(endpoints.CACHE_ACCOUNT_READS)


def unknowns(findings: list[Finding]) -> list[tuple[str, str, str, Severity]]:
    return sorted((f.rule_id, f.resource_id, f.key, f.severity) for f in findings if f.status == "unknown")


def everything(ctx: Context) -> list[Finding]:
    found = analyze(ctx)
    return found


def test_every_rule_declares_the_collectors_it_reads() -> None:
    for rule_id, rule in RULES.items():
        assert rule.meta.needs, f"{rule_id} declares no inputs"
        assert set(rule.meta.needs) <= COLLECTORS, rule_id
        assert len(set(rule.meta.needs)) == len(rule.meta.needs), rule_id


def test_the_collector_names_are_the_ones_the_scan_records() -> None:
    recorded = {*endpoints.SUBSCRIPTION_LISTS, *endpoints.VAULT_LISTS, *endpoints.RESOURCE_GROUP_LISTS}
    recorded |= set(endpoints.CACHE_ACCOUNT_READS)
    recorded |= set(endpoints.REGION_READS)
    recorded |= {"subscription", "vault", "gateway_resource_groups", "rule_collection_groups", "service_tags"}
    recorded.add(
        "virtual_network_links"
    )  # per Site Recovery private DNS zone (endpoints.virtual_network_links)
    recorded.add("protectable_items")  # per Hyper-V protection container (endpoints.protectable_items)
    assert recorded == COLLECTORS


def test_inputs_follow_what_each_rule_reads() -> None:
    needs = {rule_id: set(rule.meta.needs) for rule_id, rule in RULES.items()}
    for rule_id in ("DSK-SIZE", "DSK-COUNT", "VM-EPHEMERAL-OS", "VM-UNSUPPORTED", "NIC-ASG"):
        assert {"virtual_machines", "protected_items"} <= needs[rule_id]
    assert needs["VM-NAME"] == {"protected_items", "vaults"}  # on-premises items only: no VM is read
    assert "disks" in needs["DSK-SIZE"]
    for rule_id in ("NET-NSG-OUTBOUND", "NET-NSG-RECOVERY-SIDE"):
        wanted = {"network_interfaces", "virtual_networks", "network_security_groups", "service_tags"}
        assert wanted | {"virtual_machines", "protected_items"} <= needs[rule_id]
    assert {"route_tables", "service_tags", "virtual_network_gateways"} <= needs["NET-FORCED-TUNNEL"]
    for rule_id in ("ER-PREMIUM-XGEO", "ER-TWO-CIRCUITS-ONE-LOCATION"):
        assert {"connections", "virtual_network_gateways", "express_route_circuits"} <= needs[rule_id]
    assert {"vaults", "vault", "protected_items"} <= needs["PLC-VAULT-IN-SOURCE"]
    assert {"protected_items", "storage_accounts"} <= needs["STG-CACHE-KIND"]
    assert needs["ASR-HEALTH"] == {"protected_items", "vaults"}  # items are listed per listed vault


def test_a_failed_list_is_a_gap_in_the_reads_made_per_object_of_it() -> None:
    for rule in RULES.values():
        for kind, parent in PER_OBJECT_COLLECTORS.items():
            assert kind not in rule.meta.needs or parent in rule.meta.needs, (rule.meta.id, kind)
    [finding] = analyzed("ASR-HEALTH", context(inventory(gap("vaults"))))
    assert (finding.status, finding.key) == ("unknown", "vaults")


# Read for the estate overview only: a gap there costs its line in the overview, no finding.
SHOWN_ONLY = {"replication_policies"}


@pytest.mark.parametrize("kind", sorted(COLLECTORS - {"subscription"}))
def test_a_gap_makes_exactly_the_rules_that_read_it_unknown_at_their_worst_severity(kind: str) -> None:
    collector = f"{kind}:obj" if kind in PER_OBJECT else kind
    vnet = virtual_network("vnet-idle", "eastus")  # holds no VM, but makes service tags matter
    ctx = context(
        inventory(vnet, gap(collector, "forbidden")), source_region="eastus", target_region="westus"
    )
    got = unknowns(everything(ctx))
    want = sorted(
        (rule_id, SUBSCRIPTION_SCOPE, collector, rule.meta.worst)
        for rule_id, rule in RULES.items()
        if kind in rule.meta.needs
    )
    assert got == want
    assert want or kind in SHOWN_ONLY, f"no rule reads {kind}"


def test_vms_unread_the_vm_disk_nsg_and_tunnel_rules_say_unknown_not_nothing() -> None:
    """What was observed: with virtualMachines forbidden these rules said nothing and passed."""
    vnet = virtual_network("vnet-app", "eastus")
    vm, nic = vm_with_nic("vm1", "eastus", subnet_id(vnet))
    owner = vault("rsv", "westus")
    ctx = context(inventory(vnet, nic, owner, a2a_item(owner, vm), gap("virtual_machines")))
    found = everything(ctx)
    fired = {f.rule_id for f in found if f.status == "unknown" and f.key == "virtual_machines"}
    for rule_id in ("DSK-SIZE", "VM-UNSUPPORTED", "NET-NSG-OUTBOUND", "NET-FORCED-TUNNEL"):
        assert rule_id in fired
    assert "ASR-HEALTH" not in fired and "PLC-VAULT-IN-SOURCE" not in fired and "VM-NAME" not in fired
    [dsk] = [f for f in found if f.rule_id == "DSK-SIZE"]
    assert dsk.resource_id == SUBSCRIPTION_SCOPE and dsk.severity is Severity.HIGH
    assert "virtual_machines could not be read (forbidden)" in dsk.message
    assert dsk.evidence["detail"] == "AuthorizationFailed"  # the cause in full: evidence and coverage
    assert "Reader" in dsk.remediation
    assert dsk.evidence["collector"] == "virtual_machines" and dsk.evidence["status"] == "forbidden"


@pytest.mark.parametrize(
    ("rule_id", "worst"),
    [
        ("NET-ADDRESS-OVERLAP", Severity.HIGH),
        ("ASR-HEALTH", Severity.HIGH),
        ("STG-CACHE-KIND", Severity.HIGH),
    ],
)
def test_dual_severity_rules_report_gaps_at_the_worse_severity(rule_id: str, worst: Severity) -> None:
    [finding] = analyzed(rule_id, context(inventory(gap("protected_items:rsv"))))
    assert (finding.status, finding.severity) == ("unknown", worst)


def test_a_per_object_gap_is_reported_on_that_object() -> None:
    owner = vault("rsv-prod", "westus")
    ctx = context(inventory(owner, gap("protected_items:rsv-prod", "throttled", object_id=owner.id)))
    [finding] = analyzed("ASR-HEALTH", ctx)
    assert (finding.status, finding.resource_id, finding.key) == (
        "unknown",
        owner.id,
        "protected_items:rsv-prod",
    )
    assert finding.subscription_id == SUBSCRIPTION
    assert "'rsv-prod'" in finding.message and "throttled" in finding.message
    assert "throttling" in finding.remediation


def test_a_partial_read_lists_the_unread_ids_as_evidence() -> None:
    unread = [f"/subscriptions/{SUBSCRIPTION}/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/x"]
    ctx = context(inventory(gap("virtual_machines", "partial", detail="1 malformed item", unread=unread)))
    [finding] = analyzed("VM-EPHEMERAL-OS", ctx)
    assert finding.status == "unknown"
    assert finding.evidence["unread"] == unread
    assert "1 item(s) of virtual_machines could not be read" in finding.message


@pytest.mark.parametrize("status", sorted({*FAILED_STATUSES, "partial", "not_collected"}))
def test_every_status_but_ok_is_a_gap(status: str) -> None:
    [finding] = analyzed("DSK-COUNT", context(inventory(gap("virtual_machines", status))))
    assert finding.status == "unknown" and status in finding.evidence["status"]
    assert analyzed("DSK-COUNT", context(inventory(Coverage(SUBSCRIPTION, "virtual_machines", "ok")))) == []


def test_a_vault_without_site_recovery_objects_is_no_gap() -> None:
    """ARM answers 404 for the ASR lists of a vault with no Site Recovery content: nothing is unread."""
    owner = vault("rsv-backup", "eastus")
    quiet = gap("network_mappings:rsv-backup", "not_found", object_id=owner.id)
    assert analyzed("ASR-NETMAP-REVERSE", context(inventory(owner, quiet))) == []
    # the same answer on a subscription-wide list is a gap
    [finding] = analyzed("DSK-COUNT", context(inventory(gap("virtual_machines", "not_found"))))
    assert finding.status == "unknown"


def test_service_tags_not_fetched_matter_only_where_there_is_a_vnet() -> None:
    no_tags = gap("service_tags", "not_found", detail="no virtual network to ask the service-tags API about")
    assert analyzed("NET-NSG-OUTBOUND", context(inventory(no_tags))) == []
    # a VNet exists (or its listing failed): the tags were needed
    vnet = virtual_network("vnet-app", "eastus")
    [finding] = analyzed("NET-NSG-OUTBOUND", context(inventory(vnet, no_tags)))
    assert finding.status == "unknown" and finding.key == "service_tags"
    keys = {f.key for f in analyzed("NET-NSG-OUTBOUND", context(inventory(no_tags, gap("virtual_networks"))))}
    assert keys == {"service_tags", "virtual_networks"}


def test_an_unreadable_subscription_is_unknown_to_every_rule() -> None:
    ctx = context(
        inventory(gap("subscription", "not_found", subscription="11111111-2222-3333-4444-555555555555"))
    )
    found = everything(ctx)
    assert {f.rule_id for f in found} == set(RULES)
    assert {f.resource_id for f in found} == {"/subscriptions/11111111-2222-3333-4444-555555555555"}
    assert all(f.status == "unknown" for f in found)


def test_a_rule_with_a_gap_still_reports_what_it_read() -> None:
    owner = vault("rsv", "westus")
    vm, _ = vm_with_nic("vm1", "eastus")
    sick = a2a_item(owner, vm, replication_health="Critical")
    ctx = context(inventory(owner, sick, gap("protected_items:rsv-other", "partial", unread=["item-9"])))
    found = analyzed("ASR-HEALTH", ctx)
    assert sorted((f.status, f.severity.value) for f in found) == [("fail", "high"), ("unknown", "high")]


def test_gap_findings_are_stable_and_one_per_gap() -> None:
    def run_once() -> list[str]:
        gaps = [gap("protected_items:a"), gap("protected_items:b"), gap("virtual_machines", "timeout")]
        return sorted(f.fingerprint for f in analyzed("VM-UNSUPPORTED", context(inventory(*gaps))))

    first = run_once()
    assert len(first) == len(set(first)) == 3
    assert run_once() == first


def test_complete_coverage_adds_nothing() -> None:
    ok = [Coverage(SUBSCRIPTION, kind, "ok") for kind in sorted(COLLECTORS)]
    assert everything(context(inventory(*ok), source_region="eastus", target_region="westus")) == []


# --- reports ---------------------------------------------------------------------------------------


def test_junit_shows_a_rule_that_could_not_decide_as_an_error_never_a_pass() -> None:
    inv = inventory(gap("disks"))
    ctx = context(inv)
    chosen = ["DSK-SIZE", "ASR-HEALTH"]
    root = ET.fromstring(
        render(
            sample_report(
                findings=analyze(ctx, select=chosen),
                coverage=inv.coverage,
                rules_run=chosen,
                rules=CATALOG.select(chosen).metas(),
            ),
            "junit",
        ).encode()
    )
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    [case] = suites["DSK-SIZE"].iter("testcase")
    assert [c.tag for c in case] == ["error"]
    assert "could not be decided" in case.find("error").get("message", "")
    [passing] = suites["ASR-HEALTH"].iter("testcase")
    assert list(passing) == []


def test_sarif_run_with_an_unknown_finding_is_not_successful_even_without_gaps() -> None:
    import json

    inv = inventory(gap("disks"))
    findings = analyze(context(inv), select=["DSK-SIZE"])
    report = sample_report(
        findings=findings, coverage=[], rules_run=["DSK-SIZE"], rules=CATALOG.select(["DSK-SIZE"]).metas()
    )
    doc = json.loads(render(report, "sarif"))
    assert doc["runs"][0]["invocations"][0]["executionSuccessful"] is False


# --- the false positives of this change --------------------------------------------------------------


def test_replicated_disk_selection_is_by_id_in_any_case() -> None:
    from asr_audit.inventory import ProtectedDisk
    from asr_audit.rules.common.audited import Workload
    from asr_audit.rules.common.disks import replicated_disks

    vm, _ = vm_with_nic("vm1", "eastus")
    managed = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/disks/data0"
    vm.data_disks = [
        VmDisk(name="data0", lun=0, managed_disk_id=managed),
        VmDisk(name="data1", lun=1, managed_disk_id=managed + "x"),
    ]
    item = a2a_item(vault("rsv", "westus"), vm)
    item.protected_disks = [ProtectedDisk(disk_id=managed.upper())]
    disks, subset = replicated_disks(Workload(vm, "protected", "eastus", "westus", item))
    assert ([d[2].name for d in disks], subset) == (["data0"], True)
    disks, subset = replicated_disks(Workload(vm, "candidate", "eastus", "westus"))
    assert ([d[2].name for d in disks], subset) == (["data0", "data1"], False)
