"""VM-NAME, DSK-SIZE, DSK-COUNT, VM-EPHEMERAL-OS, VM-UNSUPPORTED and NIC-ASG on small inventories."""

from __future__ import annotations

from typing import Any

import pytest

from asr_audit.findings import Finding, Severity
from asr_audit.inventory import (
    Coverage,
    CoverageStatus,
    Disk,
    Inventory,
    IpConfiguration,
    NetworkInterface,
    ProtectedDisk,
    ProtectedItem,
    Vault,
    VirtualMachine,
    VmDisk,
)
from asr_audit.rules.base import Context
from asr_audit.rules.catalog import default_catalog
from asr_audit.rules.machines import is_arm64_size, name_problems

SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/app"
VAULT_ID = f"/Subscriptions/{SUB}/resourceGroups/dr/providers/Microsoft.RecoveryServices/vaults/v1"
GIB = 1024**3


def vm(name: str = "web1", **kwargs: Any) -> VirtualMachine:
    kwargs.setdefault(
        "os_disk",
        VmDisk(
            name=f"{name}-os",
            managed_disk_id=f"{RG}/providers/Microsoft.Compute/disks/{name}-os",
            disk_size_gb=128,
        ),
    )
    return VirtualMachine(
        id=f"{RG}/providers/Microsoft.Compute/virtualMachines/{name}", name=name, location="eastus", **kwargs
    )


def item(name: str = "item1", instance_type: str = "A2A", **kwargs: Any) -> ProtectedItem:
    return ProtectedItem(
        id=f"{VAULT_ID}/replicationFabrics/f/replicationProtectionContainers/c/replicationProtectedItems/{name}",
        name=name,
        vault_id=VAULT_ID,
        friendly_name=name,
        instance_type=instance_type,
        **kwargs,
    )


def protect(machine: VirtualMachine, **kwargs: Any) -> ProtectedItem:
    """An A2A item for `machine`, with the mixed-case id ASR returns."""
    kwargs.setdefault("recovery_vm_name", machine.name)
    return item(
        f"item-{machine.name}",
        source_vm_id=machine.id.replace("/subscriptions/", "/Subscriptions/").upper(),
        primary_location="East US",
        recovery_location="westus",
        **kwargs,
    )


def run(rule_id: str, inventory: Inventory, **ctx: Any) -> list[Finding]:
    return list(default_catalog()[rule_id].check(Context(inventory, **ctx)))


def scan(rule_id: str, *machines: VirtualMachine, **ctx: Any) -> list[Finding]:
    """Run one rule with every VM protected by an A2A item."""
    inv = Inventory(vaults=[Vault(VAULT_ID, "v1", "westus")], virtual_machines=list(machines))
    inv.protected_items = [protect(m) for m in machines]
    return run(rule_id, inv, **ctx)


def readiness(rule_id: str, *machines: VirtualMachine, **ctx: Any) -> list[Finding]:
    """Run one rule on candidate VMs (no ASR objects, --source-region eastus)."""
    return run(rule_id, Inventory(virtual_machines=list(machines)), source_region="East US", **ctx)


# --- VM-NAME ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("web_01", "characters other than letters, digits and hyphens: '_'"),
        ("app.prod", "'.'"),
        ("-web", "does not start with a letter or digit"),
        ("web-", "does not end with a letter or digit"),
        ("a" * 64, "64 characters (1-63 allowed)"),
        ("", "0 characters"),
        ("wéb", "'é'"),
    ],
)
def test_name_problems_names_each_reason(name: str, problem: str) -> None:
    assert any(problem in p for p in name_problems(name))


@pytest.mark.parametrize("name", ["a", "web-01", "W1", "a" * 63, "0-9"])
def test_name_problems_accepts_valid_names(name: str) -> None:
    assert name_problems(name) == []


@pytest.mark.parametrize("kind", ["HyperVReplicaAzure", "InMageAzureV2", "InMageRcm"])
def test_vm_name_fires_on_invalid_target_name_of_each_on_premises_item_type(kind: str) -> None:
    inv = Inventory(
        vaults=[Vault(VAULT_ID, "v1", "West US")],
        protected_items=[item(instance_type=kind, recovery_vm_name="db_01")],
    )
    [finding] = run("VM-NAME", inv)
    assert finding.rule_id == "VM-NAME"
    assert finding.resource_id == inv.protected_items[0].id
    assert finding.severity is Severity.HIGH
    assert finding.region == "westus"
    assert finding.evidence["target_vm_name"] == "db_01"
    assert "'_'" in finding.message


def test_vm_name_silent_on_valid_or_missing_names_and_other_item_types() -> None:
    inv = Inventory(
        protected_items=[
            item("ok", "HyperVReplicaAzure", recovery_vm_name="db-01"),
            item("unset", "InMageRcm", recovery_vm_name=None),
            item("e2e", instance_type="HyperVReplica2012R2", recovery_vm_name="not_azure"),
        ]
    )
    assert run("VM-NAME", inv) == []


def test_vm_name_does_not_judge_a2a_items_nor_candidates_no_a2a_source_restricts_the_name() -> None:
    source = vm("legacy_app")
    inv = Inventory(
        virtual_machines=[source, vm("sql_primary")],
        protected_items=[protect(source, recovery_vm_name="legacy_app!")],
    )
    ctx = Context(inv, source_region="eastus")
    assert list(default_catalog()["VM-NAME"].check(ctx)) == []
    assert ctx.checks == []  # neither failed nor listed as passed: not judged


# --- DSK-SIZE ----------------------------------------------------------------------------------


def managed(size: int | None, lun: int | None = None, name: str = "d") -> VmDisk:
    return VmDisk(
        name=name,
        lun=lun,
        managed_disk_id=f"{RG}/providers/Microsoft.Compute/disks/{name}",
        disk_size_gb=size,
    )


def unmanaged(size: int, lun: int = 0) -> VmDisk:
    return VmDisk(
        name=f"vhd{lun}",
        lun=lun,
        vhd_uri=f"https://sa.blob.core.windows.net/vhds/{lun}.vhd",
        disk_size_gb=size,
    )


def test_dsk_size_fires_on_os_disk_above_4095_gib_with_seed_value_beside() -> None:
    [finding] = scan("DSK-SIZE", vm(os_disk=managed(4096, name="os")))
    assert finding.rule_id == "DSK-SIZE"
    assert finding.key == "os"
    assert finding.evidence["limit_gib"] == 4095
    assert finding.evidence["seed_limit_gb"] == 1023
    assert "protected VM web1" in finding.message
    assert "4,096 GiB" in finding.message and "4,095 GiB" in finding.message and "1,023 GB" in finding.message


def test_dsk_size_silent_at_each_limit() -> None:
    machine = vm(
        os_disk=managed(4095, name="os"),
        data_disks=[managed(32767, lun=0), unmanaged(4095, lun=1), managed(1, lun=2)],
    )
    assert scan("DSK-SIZE", machine) == []


@pytest.mark.parametrize(
    ("disk", "limit"),
    [(managed(32768, lun=3), 32767), (unmanaged(4096, lun=3), 4095), (managed(0, lun=3), 1)],
)
def test_dsk_size_fires_on_data_disks_outside_their_kind_limit(disk: VmDisk, limit: int) -> None:
    [finding] = scan("DSK-SIZE", vm(data_disks=[disk]))
    assert finding.rule_id == "DSK-SIZE"
    assert finding.key == "lun:3"
    assert finding.evidence["limit_gib"] == limit


def test_dsk_size_no_minimum_for_unmanaged_disks() -> None:
    assert scan("DSK-SIZE", vm(data_disks=[unmanaged(0)])) == []


def test_dsk_size_reads_the_managed_disk_resource_when_the_vm_omits_the_size() -> None:
    machine = vm(data_disks=[managed(None, lun=0, name="big")])
    disk_id = machine.data_disks[0].managed_disk_id or ""
    inv = Inventory(
        virtual_machines=[machine], disks=[Disk(disk_id.upper(), "big", "eastus", disk_size_gb=40000)]
    )
    [finding] = run("DSK-SIZE", inv, source_region="eastus")
    assert finding.rule_id == "DSK-SIZE"
    assert finding.evidence["size_gib"] == 40000


def test_dsk_size_silent_when_no_size_is_known() -> None:
    assert scan("DSK-SIZE", vm(data_disks=[managed(None, lun=0)])) == []


def test_dsk_size_limit_comes_from_the_thresholds() -> None:
    machine = vm(os_disk=managed(3000, name="os"))
    assert scan("DSK-SIZE", machine) == []
    [finding] = scan("DSK-SIZE", machine, thresholds={"os_disk_max_gib": 2048})
    assert finding.rule_id == "DSK-SIZE"
    assert finding.evidence["limit_gib"] == 2048


def test_dsk_size_ignores_vms_outside_scope() -> None:
    assert run("DSK-SIZE", Inventory(virtual_machines=[vm(os_disk=managed(9000, name="os"))])) == []


def test_dsk_size_fires_on_hyperv_disk_above_4095_gb_only() -> None:
    hv = item(
        "hv1",
        instance_type="HyperVReplicaAzure",
        protected_disks=[
            ProtectedDisk(disk_id="disk-a", disk_capacity_bytes=4095 * GIB),
            ProtectedDisk(disk_id="disk-b", disk_capacity_bytes=5000 * GIB),
        ],
    )
    [finding] = run("DSK-SIZE", Inventory(protected_items=[hv]))
    assert finding.rule_id == "DSK-SIZE"
    assert finding.resource_id == hv.id
    assert finding.key == "disk:disk-b"
    assert finding.evidence["limit_gb"] == 4095
    assert "Hyper-V VM hv1" in finding.message


@pytest.mark.parametrize(
    ("kind", "is_os", "size_gb", "threshold", "examined"),
    [
        # Hyper-V OS disk: 2,048 GB (generation 1) or 300 GB (generation 2); the protectable items
        # were read but name no generation (tests/test_rule_disk_generation.py: when they do)
        ("HyperVReplicaAzure", True, 2049, "hyperv_os_disk_max_gb", True),
        ("HyperVReplicaAzure", True, 300, None, True),
        ("HyperVReplicaAzure", True, 1000, None, False),  # breaks generation 2's limit only
        ("HyperVReplicaAzure", False, 4095, None, True),
        ("HyperVReplicaAzure", None, 2049, None, False),  # too big for an OS disk, not for a data disk
        ("HyperVReplicaAzure", None, 4096, "hyperv_data_disk_max_gb", True),
        ("HyperVReplicaAzure", True, None, None, False),
        # VMware VM / physical server: OS disk 2,048 GB, managed data disk 8,192 GB
        ("InMageRcm", True, 2049, "vmware_os_disk_max_gb", True),
        ("InMageRcm", True, 2048, None, True),
        ("InMageRcm", False, 8193, "vmware_data_disk_max_gb", True),
        ("InMageAzureV2", False, 8192, None, True),
        ("InMageAzureV2", None, 4000, None, False),
        ("InMageAzureV2", None, 8193, "vmware_data_disk_max_gb", True),
    ],
)
def test_dsk_size_on_premises_disk_by_role(
    kind: str, is_os: bool | None, size_gb: int | None, threshold: str | None, examined: bool
) -> None:
    """A disk is judged against the limit of its role; a verdict that hangs on what the item does
    not say (the disk's role, a Hyper-V VM's generation, its size) is left undecided, so the item
    is neither flagged nor listed as passed."""
    on_prem = item(
        "m1",
        instance_type=kind,
        protected_disks=[
            ProtectedDisk(
                disk_id="d1",
                is_os_disk=is_os,
                disk_capacity_bytes=None if size_gb is None else size_gb * GIB,
            )
        ],
    )
    container = on_prem.id.rsplit("/", 2)[0]
    read = Coverage(SUB, "protectable_items:c", CoverageStatus.OK, object_id=container)
    ctx = Context(Inventory(protected_items=[on_prem], coverage=[read]))
    findings = list(default_catalog()["DSK-SIZE"].check(ctx))
    assert [f.evidence["threshold"] for f in findings] == ([threshold] if threshold else [])
    assert [c.resource_id for c in ctx.checks] == ([on_prem.id] if examined else [])


# --- DSK-COUNT ---------------------------------------------------------------------------------


def disks(n: int) -> list[VmDisk]:
    return [managed(64, lun=i, name=f"d{i}") for i in range(n)]


def test_dsk_count_fires_above_64_data_disks() -> None:
    [finding] = scan("DSK-COUNT", vm(data_disks=disks(65)))
    assert finding.rule_id == "DSK-COUNT"
    assert finding.evidence == {"scope": "protected", "data_disks": 65, "limit": 64, "seed_limit": 16}


def test_dsk_count_silent_at_64_data_disks() -> None:
    assert scan("DSK-COUNT", vm(data_disks=disks(64))) == []


def test_dsk_count_hyperv_allows_one_os_disk_and_16_data_disks() -> None:
    def hv(n: int) -> ProtectedItem:
        return item(
            f"hv{n}",
            instance_type="HyperVReplicaAzure",
            protected_disks=[ProtectedDisk(disk_id=str(i)) for i in range(n)],
        )

    findings = run("DSK-COUNT", Inventory(protected_items=[hv(17), hv(18)]))
    assert [f.resource_id for f in findings] == [hv(18).id]
    assert findings[0].evidence["data_disks"] == 17


@pytest.mark.parametrize("kind", ["InMageAzureV2", "InMageRcm"])
def test_dsk_count_vmware_and_physical_allow_one_os_disk_and_64_data_disks(kind: str) -> None:
    """The VMware/physical matrix (2019-10-15), Azure VM requirements: "Data disk count | 64 or
    less." The OS disk is one of the listed disks whether or not the item marks it."""

    def machine(n: int) -> ProtectedItem:
        return item(
            f"vm{n}", instance_type=kind, protected_disks=[ProtectedDisk(disk_id=str(i)) for i in range(n)]
        )

    ctx = Context(Inventory(protected_items=[machine(65), machine(66), item("none", instance_type=kind)]))
    [finding] = list(default_catalog()["DSK-COUNT"].check(ctx))
    assert finding.resource_id == machine(66).id
    assert "VMware VM / physical server" in finding.message and "at most 64" in finding.message
    assert finding.evidence["data_disks"] == 65 and finding.evidence["replication_type"] == kind
    # an item listing no disks is not judged, so it is not passed either
    assert sorted(c.resource_id for c in ctx.checks) == sorted([machine(65).id, machine(66).id])


def test_dsk_count_limit_comes_from_the_thresholds() -> None:
    assert [
        f.rule_id for f in scan("DSK-COUNT", vm(data_disks=disks(20)), thresholds={"data_disk_count_max": 16})
    ] == ["DSK-COUNT"]


# --- VM-EPHEMERAL-OS -------------------------------------------------------------------------


def test_vm_ephemeral_os_fires_on_diff_disk_settings() -> None:
    [finding] = readiness("VM-EPHEMERAL-OS", vm(ephemeral_os_disk=True))
    assert finding.rule_id == "VM-EPHEMERAL-OS"
    assert finding.severity is Severity.HIGH
    assert finding.evidence["scope"] == "candidate"


def test_vm_ephemeral_os_silent_on_persistent_os_disk() -> None:
    assert readiness("VM-EPHEMERAL-OS", vm()) == []


# --- VM-UNSUPPORTED --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "arm"),
    [
        ("Standard_D2ps_v5", True),
        ("Standard_E4pds_v5", True),
        ("standard_b2pts_v2", True),
        ("Standard_D16plds_v6", True),
        ("Standard_E64-16ps_v5", True),
        ("Standard_NP10s", False),  # NP is the FPGA family, not the Arm feature letter
        ("Standard_D2s_v5", False),
        ("Standard_DC8ads_v5", False),
        ("Standard_NC4as_T4_v3", False),
        ("Basic_A0", False),
        ("", False),
        (None, False),
    ],
)
def test_is_arm64_size_reads_the_feature_letters(size: str | None, arm: bool) -> None:
    assert is_arm64_size(size) is arm


@pytest.mark.parametrize(
    ("machine", "reason"),
    [
        (
            vm(data_disks=[VmDisk(name="log", lun=1, write_accelerator_enabled=True)]),
            "write accelerator enabled on data disk LUN 1",
        ),
        (vm(host_id=f"{RG}/providers/Microsoft.Compute/hostGroups/hg/hosts/h1"), "Azure Dedicated Host h1"),
        (vm(host_group_id=f"{RG}/providers/Microsoft.Compute/hostGroups/hg"), "Azure Dedicated Host hg"),
        (vm(vm_size="Standard_D4ps_v5"), "Arm64 size Standard_D4ps_v5"),
        (vm(plan_publisher="PaloAltoNetworks", plan_product="vmseries-flex"), "Palo Alto Networks appliance"),
    ],
)
def test_vm_unsupported_fires_for_each_reason(machine: VirtualMachine, reason: str) -> None:
    [finding] = scan("VM-UNSUPPORTED", machine)
    assert finding.rule_id == "VM-UNSUPPORTED"
    assert any(reason in r for r in finding.evidence["reasons"])
    assert reason in finding.message


def test_vm_unsupported_reports_all_reasons_in_one_finding() -> None:
    machine = vm(
        vm_size="Standard_D2ps_v5",
        host_id=f"{RG}/providers/Microsoft.Compute/hostGroups/hg/hosts/h1",
        os_disk=VmDisk(name="os", write_accelerator_enabled=True, disk_size_gb=64),
    )
    [finding] = scan("VM-UNSUPPORTED", machine)
    assert len(finding.evidence["reasons"]) == 3


def test_vm_unsupported_silent_on_a_plain_x64_vm() -> None:
    machine = vm(vm_size="Standard_D2s_v5", plan_publisher="canonical", data_disks=[managed(64, lun=0)])
    assert scan("VM-UNSUPPORTED", machine) == []


# --- NIC-ASG ------------------------------------------------------------------------------------


def nic(machine: VirtualMachine, asgs: list[str], attached: bool = True) -> NetworkInterface:
    return NetworkInterface(
        id=f"{RG}/providers/Microsoft.Network/networkInterfaces/{machine.name}-nic",
        name=f"{machine.name}-nic",
        location="eastus",
        virtual_machine_id=machine.id.upper() if attached else None,
        ip_configurations=[
            IpConfiguration(name="ipconfig1", application_security_group_ids=asgs),
            IpConfiguration(name="ipconfig2"),
        ],
    )


def test_nic_asg_fires_on_nic_in_application_security_group() -> None:
    machine = vm()
    asg = f"{RG}/providers/Microsoft.Network/applicationSecurityGroups/asg-web"
    inv = Inventory(
        virtual_machines=[machine],
        network_interfaces=[nic(machine, [asg])],
        protected_items=[protect(machine)],
    )
    [finding] = run("NIC-ASG", inv)
    assert finding.rule_id == "NIC-ASG"
    assert finding.resource_id == inv.network_interfaces[0].id
    assert finding.severity is Severity.MEDIUM
    assert finding.evidence["ip_configurations"] == {"ipconfig1": [asg]}
    assert "asg-web" in finding.message


def test_nic_asg_finds_the_nic_through_the_vm_when_the_nic_names_no_vm() -> None:
    machine = vm()
    card = nic(machine, [f"{RG}/providers/Microsoft.Network/applicationSecurityGroups/a"], attached=False)
    machine.network_interface_ids = [card.id.upper()]
    inv = Inventory(virtual_machines=[machine], network_interfaces=[card])
    assert [f.rule_id for f in run("NIC-ASG", inv, source_region="eastus")] == ["NIC-ASG"]


def test_nic_asg_silent_without_application_security_groups() -> None:
    machine = vm()
    inv = Inventory(
        virtual_machines=[machine], network_interfaces=[nic(machine, [])], protected_items=[protect(machine)]
    )
    assert run("NIC-ASG", inv) == []


# --- shared behaviour ----------------------------------------------------------------------------


def test_findings_link_to_the_microsoft_document() -> None:
    [finding] = scan("VM-EPHEMERAL-OS", vm(ephemeral_os_disk=True))
    assert finding.docs and finding.docs.startswith("https://learn.microsoft.com/")


def test_a_vm_referenced_by_two_items_is_reported_once() -> None:
    machine = vm(ephemeral_os_disk=True)
    inv = Inventory(
        virtual_machines=[machine], protected_items=[protect(machine), protect(machine, recovery_vm_name="x")]
    )
    inv.protected_items[1].id += "-stale"
    assert len(run("VM-EPHEMERAL-OS", inv)) == 1


# --- only the disks Site Recovery replicates ------------------------------------------------------


def _big_excluded_disk_vm() -> VirtualMachine:
    """OS disk and a small data disk replicated; a 40 TiB data disk with write accelerator excluded."""
    return vm(
        data_disks=[
            managed(128, lun=0),
            VmDisk(
                name="scratch",
                lun=1,
                managed_disk_id=f"{RG}/providers/Microsoft.Compute/disks/scratch",
                disk_size_gb=40960,
                write_accelerator_enabled=True,
            ),
        ]
    )


def _protected_on(machine: VirtualMachine, disks: list[ProtectedDisk]) -> Inventory:
    return Inventory(
        vaults=[Vault(VAULT_ID, "v1", "westus")],
        virtual_machines=[machine],
        protected_items=[protect(machine, protected_disks=disks)],
    )


def _replicated(machine: VirtualMachine, *luns: int) -> list[ProtectedDisk]:
    """Protected disks as ASR lists them: its ids in upper case."""
    chosen = [machine.os_disk] + [d for d in machine.data_disks if d.lun in luns]
    return [ProtectedDisk(disk_id=(d.managed_disk_id or "").upper()) for d in chosen if d]


@pytest.mark.parametrize("rule_id", ["DSK-SIZE", "VM-UNSUPPORTED"])
def test_a_disk_excluded_from_replication_is_not_judged(rule_id: str) -> None:
    machine = _big_excluded_disk_vm()
    assert run(rule_id, _protected_on(machine, _replicated(machine, 0))) == []
    # replicated, it is
    [finding] = run(rule_id, _protected_on(machine, _replicated(machine, 0, 1)))
    assert finding.rule_id == rule_id


@pytest.mark.parametrize("rule_id", ["DSK-SIZE", "VM-UNSUPPORTED"])
def test_all_disks_are_judged_when_the_replicated_ones_are_not_known(rule_id: str) -> None:
    machine = _big_excluded_disk_vm()
    unknown_ids = [ProtectedDisk(disk_id=None), *_replicated(machine, 0)]
    for listed in ([], unknown_ids, [ProtectedDisk(disk_id="/subscriptions/x/disks/elsewhere")]):
        [finding] = run(rule_id, _protected_on(machine, listed))
        assert finding.rule_id == rule_id
    [candidate] = readiness(rule_id, machine)  # not protected yet: every disk would be offered
    assert candidate.evidence["scope"] == "candidate"


def test_unmanaged_disks_are_matched_by_their_vhd_uri() -> None:
    machine = vm(os_disk=unmanaged(128, lun=0), data_disks=[unmanaged(4096, lun=1)])
    os_only = [ProtectedDisk(disk_id=machine.os_disk.vhd_uri.upper())]
    assert run("DSK-SIZE", _protected_on(machine, os_only)) == []
    both = [*os_only, ProtectedDisk(disk_id=machine.data_disks[0].vhd_uri)]
    assert len(run("DSK-SIZE", _protected_on(machine, both))) == 1


def test_dsk_count_counts_replicated_data_disks_of_a_protected_vm() -> None:
    machine = vm(data_disks=disks(66))
    replicated = _replicated(machine, *range(60))
    assert run("DSK-COUNT", _protected_on(machine, replicated)) == []
    [finding] = run("DSK-COUNT", _protected_on(machine, _replicated(machine, *range(65))))
    assert finding.evidence["data_disks"] == 65 and finding.evidence["replicated_only"] is True
