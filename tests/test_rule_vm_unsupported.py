"""VM-UNSUPPORTED's catalog-v2 reasons: NVMe disk controller, Linux Trusted Launch VMs created before
2024-04-01, encryption at host (protected, but lost on failover), and what it leaves alone."""

from __future__ import annotations

import pytest
from test_rule_machines import VAULT_ID, protect, readiness, scan, vm

from asr_audit.collect.compute import parse_disk
from asr_audit.findings import Finding, FindingStatus, Severity
from asr_audit.inventory import (
    Coverage,
    CoverageStatus,
    Disk,
    Inventory,
    Subscription,
    Vault,
    VirtualMachine,
    VmDisk,
    VmSku,
)
from asr_audit.rules import analyze, passed
from asr_audit.rules.base import Context

BEFORE = "2024-03-31T23:59:59.9999999+00:00"
ON_THE_DAY = "2024-04-01T00:00:00.0000000+00:00"
AFTER = "2024-05-14T09:12:08.4416032+00:00"


def trusted(os_type: str | None = "Linux", created: str | None = BEFORE) -> VirtualMachine:
    return vm(security_type="TrustedLaunch", os_type=os_type, time_created=created)


def test_nvme_disk_controller_fires_with_its_own_fix() -> None:
    [finding] = scan("VM-UNSUPPORTED", vm(disk_controller_type="NVMe", vm_size="Standard_E16s_v6"))
    assert finding.severity is Severity.HIGH and finding.status is FindingStatus.FAIL
    assert "NVMe disk controller" in finding.message
    assert finding.evidence["disk_controller_type"] == "NVMe"
    assert finding.remediation == "Move the workload to a VM with a SCSI disk controller."


def test_scsi_disk_controller_is_quiet() -> None:
    assert scan("VM-UNSUPPORTED", vm(disk_controller_type="SCSI")) == []


def test_linux_trusted_launch_vm_created_before_april_2024_fires() -> None:
    [finding] = scan("VM-UNSUPPORTED", trusted())
    assert finding.severity is Severity.HIGH
    assert "Linux Trusted Launch VM created 2024-03-31, before 2024-04-01" in finding.message
    assert finding.evidence["time_created"] == BEFORE


@pytest.mark.parametrize(
    "machine",
    [
        trusted(created=ON_THE_DAY),  # "created after 1-Apr-2024": the day itself is read as supported
        trusted(created=AFTER),
        trusted(os_type="Windows"),  # the date limit is Linux's only
        vm(os_type="Linux", time_created=BEFORE),  # Standard security type
        vm(security_type="ConfidentialVM", os_type="Linux", time_created=BEFORE),  # see the page: not judged
    ],
)
def test_trusted_launch_limit_leaves_the_others_alone(machine: VirtualMachine) -> None:
    assert scan("VM-UNSUPPORTED", machine) == []


@pytest.mark.parametrize(("os_type", "created"), [("Linux", None), ("Linux", "not a date"), (None, BEFORE)])
def test_trusted_launch_vm_without_os_type_or_creation_time_is_unknown(
    os_type: str | None, created: str | None
) -> None:
    machine = trusted(os_type=os_type, created=created)
    [finding] = scan("VM-UNSUPPORTED", machine)
    assert finding.status is FindingStatus.UNKNOWN
    assert "timeCreated" in finding.message and "asr-audit explain VM-UNSUPPORTED" in finding.remediation
    ctx = Context(Inventory(virtual_machines=[machine]), source_region="eastus")
    findings = analyze(ctx, select=["VM-UNSUPPORTED"])
    assert [f.status for f in findings] == [FindingStatus.UNKNOWN]
    assert ctx.checks and passed(ctx, findings) == []  # examined, but not listed as passed


def test_encryption_at_host_alone_is_medium_and_says_the_vm_is_protected() -> None:
    [finding] = scan("VM-UNSUPPORTED", vm(encryption_at_host=True))
    assert finding.severity is Severity.MEDIUM
    assert "is protected, but the failed-over VM will not have encryption at host" in finding.message
    assert finding.evidence["lost_on_failover"] and "reasons" not in finding.evidence
    assert finding.remediation.startswith("Enable encryption at host on the failed-over VM")


def test_a_blocking_reason_keeps_the_finding_high_and_lists_both() -> None:
    machine = vm(
        encryption_at_host=True,
        data_disks=[VmDisk(name="log", lun=1, write_accelerator_enabled=True)],
    )
    [finding] = scan("VM-UNSUPPORTED", machine)
    assert finding.severity is Severity.HIGH
    assert "cannot be replicated by Site Recovery: write accelerator enabled on data disk LUN 1 and" in (
        finding.message
    )
    assert finding.remediation == (
        "Turn write accelerator off if the workload can do without it: az vm update -g app -n web1 "
        "--write-accelerator 1=false; enable encryption at host on the failed-over VM after each failover "
        "(deallocated: az vm update --set securityProfile.encryptionAtHost=true)."
    )


def test_candidate_vms_are_judged_alike() -> None:
    [finding] = readiness("VM-UNSUPPORTED", vm(disk_controller_type="NVMe"))
    assert finding.evidence["scope"] == "candidate"


def _with_sku(machine: VirtualMachine, architecture: str, vcpus: int) -> Inventory:
    """The machine protected, with a Microsoft.Compute/skus entry for its size (read for another
    region: a size's capabilities are the same everywhere)."""
    entry = VmSku(str(machine.vm_size), "s", "westus2", vcpus=vcpus, cpu_architecture=architecture)
    return Inventory(
        vaults=[Vault(VAULT_ID, "v1", "westus")],
        virtual_machines=[machine],
        protected_items=[protect(machine)],
        vm_skus=[entry],
    )


def _unsupported(inv: Inventory) -> list[Finding]:
    return [f for f in analyze(Context(inv)) if f.rule_id == "VM-UNSUPPORTED"]


def test_skus_cpu_architecture_decides_over_the_size_name() -> None:
    """An Arm64 size whose name the parser would not recognise, and an x64 size named like one:
    the collected `CpuArchitectureType` wins, and the evidence says where it came from."""
    [arm] = _unsupported(_with_sku(vm(vm_size="Standard_Custom8"), "Arm64", 8))
    assert "Arm64 size Standard_Custom8" in arm.message
    assert arm.evidence["cpu_architecture_from"] == "skus CpuArchitectureType"
    assert _unsupported(_with_sku(vm(vm_size="Standard_D2ps_v5"), "x64", 2)) == []
    [by_name] = scan("VM-UNSUPPORTED", vm(vm_size="Standard_D2ps_v5"))  # no sku entry: the name decides
    assert by_name.evidence["cpu_architecture_from"] == "size name"


def test_fewer_than_two_cores_fires_only_when_the_skus_say_so() -> None:
    [one] = _unsupported(_with_sku(vm(vm_size="Standard_B1s"), "x64", 1))
    assert "has 1 vCPU" in one.message and one.severity is Severity.HIGH
    assert "az vm resize" in one.remediation
    assert _unsupported(_with_sku(vm(vm_size="Standard_B2s"), "x64", 2)) == []
    assert scan("VM-UNSUPPORTED", vm(vm_size="Standard_B1s")) == []  # no sku entry: not judged


def test_a_one_vcpu_size_listed_only_in_its_source_region_fires_and_plc_target_sku_ignores_it() -> None:
    """Standard_B1s is not offered in the recovery region, so only the source region's SKU list
    says it has one vCPU. PLC-TARGET-SKU judges the recovery region's list alone: the size is
    missing there, never taken as offered because the source region lists it."""
    machine = vm(vm_size="Standard_B1s")
    sub = "00000000-0000-0000-0000-000000000001"
    inv = Inventory(
        vaults=[Vault(VAULT_ID, "v1", "westus")],
        virtual_machines=[machine],
        protected_items=[protect(machine, recovery_vm_size="Standard_B1s")],
        vm_skus=[VmSku("Standard_B1s", sub, "eastus", vcpus=1, cpu_architecture="x64")],
        coverage=[
            Coverage(sub, "vm_skus:eastus", CoverageStatus.OK),
            Coverage(sub, "vm_skus:westus", CoverageStatus.OK),
            Coverage(sub, "compute_usages:westus", CoverageStatus.OK),
        ],
        subscriptions=[Subscription(id=sub)],  # scanned: PLC-TARGET-SKU judges its recovery region
    )
    found = {f.rule_id: f for f in analyze(Context(inv), select=["VM-UNSUPPORTED", "PLC-TARGET-SKU"])}
    assert "has 1 vCPU" in found["VM-UNSUPPORTED"].message
    assert found["PLC-TARGET-SKU"].status is FindingStatus.FAIL
    assert "not offered in westus" in found["PLC-TARGET-SKU"].message


def test_a_gap_in_the_sku_lists_is_unknown_for_vm_unsupported() -> None:
    """The source region's list failing leaves the core count undecided: `unknown`, never a pass."""
    machine = vm(vm_size="Standard_B1s")
    inv = Inventory(
        vaults=[Vault(VAULT_ID, "v1", "westus")],
        virtual_machines=[machine],
        protected_items=[protect(machine)],
        coverage=[
            Coverage("00000000-0000-0000-0000-000000000001", "vm_skus:eastus", CoverageStatus.FORBIDDEN)
        ],
    )
    [finding] = _unsupported(inv)
    assert finding.status is FindingStatus.UNKNOWN and finding.gap == "vm_skus:eastus"


@pytest.mark.parametrize(
    ("os_type", "max_shares", "fires"), [("Linux", 2, True), ("Windows", 2, False), ("Linux", 1, False)]
)
def test_linux_trusted_launch_with_a_shared_disk_fires(os_type: str, max_shares: int, fires: bool) -> None:
    """The trusted launch page: trusted VMs with attached shared disks are supported for Windows only."""
    machine = trusted(os_type=os_type, created=AFTER)
    assert machine.os_disk is not None and machine.os_disk.managed_disk_id
    disk = Disk(id=machine.os_disk.managed_disk_id, name="os", location="eastus", max_shares=max_shares)
    inv = Inventory(
        vaults=[Vault(VAULT_ID, "v1", "westus")],
        virtual_machines=[machine],
        protected_items=[protect(machine)],
        disks=[disk],
    )
    found = _unsupported(inv)
    assert bool(found) is fires
    if fires:
        assert "shared disk" in found[0].message and found[0].evidence["shared_disks"]


def test_parser_reads_max_shares() -> None:
    body = {
        "id": "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/disks/d",
        "name": "d",
        "location": "eastus",
    }
    assert parse_disk({**body, "properties": {"maxShares": 3}}).max_shares == 3
    assert parse_disk({**body, "properties": {}}).max_shares is None
