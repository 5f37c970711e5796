"""The conditional destinations (AzureKeyVault for ADE VMs, GuestAndHybridManagement when agent
auto-update is on) in NET-NSG-OUTBOUND and NET-FIREWALL-FQDN: judged only for the workloads they
apply to, and a condition that is not known is never a failure nor a pass."""

from __future__ import annotations

from typing import Any

import pytest
from builders import a2a_item, assert_reportable, context, inventory, run, vault, vm_with_nic
from test_rule_firewall import EVERYTHING, allowing, app
from test_rule_firewall import Scene as FirewallScene
from test_rule_firewall import blocked as firewall_blocked
from test_rule_nsg import DENY_INTERNET, SOURCE_SIDE, Scene, allows, blocked

from asr_audit.access.clouds import CLOUDS
from asr_audit.findings import Finding, FindingStatus
from asr_audit.inventory import (
    Disk,
    ProtectedDisk,
    ProtectedItem,
    ProtectionContainerMapping,
    ServiceTag,
    VmDisk,
)
from asr_audit.rules.base import Context
from asr_audit.rules.common import destinations
from asr_audit.rules.common.audited import Workload, workloads
from asr_audit.rules.common.disks import uses_ade

KEY_VAULT = ServiceTag("AzureKeyVault", None, "AzureKeyVault", ["52.20.0.0/24"])
GUEST = ServiceTag("GuestAndHybridManagement", None, "GuestAndHybridManagement", ["52.30.0.0/24"])
# the four required tags allowed, then everything public denied: only a conditional one can fail
REQUIRED_ONLY = [*allows(SOURCE_SIDE), DENY_INTERNET]


def prepared(ctx: Any, *, ade: bool, tags: tuple[ServiceTag, ...] = (KEY_VAULT, GUEST)) -> Any:
    """The scene's context with its VM encrypted by ADE (the VM model's record) or not, and the
    conditional destinations' service tags collected (or not)."""
    [vm] = ctx.inventory.virtual_machines
    vm.os_disk = VmDisk(name="os", ade_enabled=ade)
    ctx.inventory.service_tags += list(tags)
    return ctx


def nsg_findings(scene: Scene, **kw: Any) -> list[Finding]:
    found = run("NET-NSG-OUTBOUND", prepared(scene.context(), **kw))
    assert_reportable(found)
    return found


def firewall_findings(scene: FirewallScene, **kw: Any) -> list[Finding]:
    found = run("NET-FIREWALL-FQDN", prepared(scene.context(), **kw))
    assert_reportable(found)
    return found


@pytest.fixture
def auto_update(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the protection-container mappings will say for a VM with agent auto-update on."""
    monkeypatch.setattr(destinations, "auto_update_on", lambda ctx, workload: True)


# --- which VMs use ADE (shared with ENC-ADE) ----------------------------------------------------------


@pytest.mark.parametrize("record", ["vm model", "managed disk", "item disk", "none"])
def test_ade_is_read_from_any_record_enc_ade_reads(record: str) -> None:
    owner = vault("rsv", "westus")
    vm, nic = vm_with_nic("vm1", "eastus")
    disk = Disk(id=f"{vm.id}-os".replace("virtualMachines", "disks"), name="os", location="eastus")
    vm.os_disk = VmDisk(name="os", managed_disk_id=disk.id, ade_enabled=record == "vm model")
    disk.ade_enabled = record == "managed disk"
    item = a2a_item(owner, vm)
    item.protected_disks = [ProtectedDisk(disk_id=disk.id, is_disk_encrypted=record == "item disk")]
    ctx = context(inventory(owner, vm, nic, disk, item))
    [wl] = workloads(ctx)
    assert uses_ade(ctx, wl) is (record != "none")


# --- NET-NSG-OUTBOUND -------------------------------------------------------------------------------


def test_a_non_ade_vm_is_not_judged_for_key_vault() -> None:
    assert nsg_findings(Scene(subnet_rules=REQUIRED_ONLY), ade=False) == []
    [finding] = nsg_findings(Scene(subnet_rules=[*allows(SOURCE_SIDE[:3]), DENY_INTERNET]), ade=False)
    assert "AzureKeyVault" not in {d["destination"] for d in finding.evidence["destinations"]}


def test_an_ade_vm_whose_nsg_blocks_key_vault_fires() -> None:
    [finding] = nsg_findings(Scene(subnet_rules=REQUIRED_ONLY), ade=True)
    assert finding.status == FindingStatus.FAIL
    assert blocked(finding) == {"AzureKeyVault"}
    assert "AzureKeyVault (*.vault.azure.net) blocked by" in finding.message
    assert "--destination-address-prefixes AzureKeyVault" in (finding.remediation or "")


def test_an_ade_vm_whose_nsg_allows_key_vault_is_quiet() -> None:
    assert (
        nsg_findings(Scene(subnet_rules=[*allows([*SOURCE_SIDE, "AzureKeyVault"]), DENY_INTERNET]), ade=True)
        == []
    )


def test_key_vault_tag_not_collected_is_unknown_for_an_ade_vm_only() -> None:
    [finding] = nsg_findings(Scene(subnet_rules=REQUIRED_ONLY), ade=True, tags=(GUEST,))
    assert finding.status == FindingStatus.UNKNOWN
    assert finding.evidence["unknown"] == [
        {
            "destination": "AzureKeyVault",
            "reason": "service tag AzureKeyVault is not in the collected service tags",
        }
    ]
    assert nsg_findings(Scene(subnet_rules=REQUIRED_ONLY), ade=False, tags=(GUEST,)) == []


def test_auto_update_not_known_is_never_judged_but_noted() -> None:
    """Today no inventory says whether auto-update is on: an NSG that blocks
    GuestAndHybridManagement neither fails nor passes it, and a finding says it was not checked."""
    assert nsg_findings(Scene(subnet_rules=REQUIRED_ONLY), ade=False) == []
    [finding] = nsg_findings(Scene(subnet_rules=REQUIRED_ONLY), ade=True)
    assert "GuestAndHybridManagement" not in {d["destination"] for d in finding.evidence["destinations"]}
    assert [n["destination"] for n in finding.evidence["not_checked"]] == ["GuestAndHybridManagement"]


@pytest.mark.usefixtures("auto_update")
def test_auto_update_on_makes_guest_management_a_destination() -> None:
    [finding] = nsg_findings(Scene(subnet_rules=REQUIRED_ONLY), ade=False)
    assert blocked(finding) == {"GuestAndHybridManagement"}
    assert "(*.automation.ext.azure.com)" in finding.message
    assert finding.evidence["not_checked"] == []


# --- NET-FIREWALL-FQDN -----------------------------------------------------------------------------


def test_firewall_without_the_vault_fqdn_fires_for_an_ade_subnet_only() -> None:
    assert firewall_findings(FirewallScene(policies=[allowing(EVERYTHING)]), ade=False) == []
    [finding] = firewall_findings(FirewallScene(policies=[allowing(EVERYTHING)]), ade=True)
    assert firewall_blocked(finding) == {"AzureKeyVault"}
    assert "'*.vault.azure.net'" in (finding.remediation or "")
    assert [n["destination"] for n in finding.evidence["not_checked"]] == ["GuestAndHybridManagement"]


def test_firewall_allowing_the_vault_fqdn_is_quiet_for_an_ade_subnet() -> None:
    policy = allowing(EVERYTHING, app("vault", "*.vault.azure.net"))
    assert firewall_findings(FirewallScene(policies=[policy]), ade=True) == []


def test_firewall_key_vault_tag_not_collected_is_unknown() -> None:
    [finding] = firewall_findings(FirewallScene(policies=[allowing(EVERYTHING)]), ade=True, tags=())
    assert finding.status == FindingStatus.UNKNOWN
    assert {u["destination"] for u in finding.evidence["unknown"]} == {"AzureKeyVault"}


def test_a_cloud_whose_page_names_no_vault_fqdn_leaves_it_unknown() -> None:
    china = CLOUDS["AzureChinaCloud"].endpoints
    assert china.fqdn("AzureKeyVault") is None and china.fqdn("GuestAndHybridManagement") is None
    policy = allowing(app("asr", *china.as_dict().values()))
    [finding] = firewall_findings(FirewallScene(policies=[policy], cloud="AzureChinaCloud"), ade=True)
    assert finding.status == FindingStatus.UNKNOWN
    assert finding.evidence["unknown"] == [
        {
            "destination": "AzureKeyVault",
            "reason": "no FQDN for AzureKeyVault is documented for AzureChinaCloud",
        }
    ]


@pytest.mark.usefixtures("auto_update")
def test_firewall_judges_the_automation_fqdn_when_auto_update_is_on() -> None:
    [finding] = firewall_findings(FirewallScene(policies=[allowing(EVERYTHING)]), ade=False)
    assert firewall_blocked(finding) == {"GuestAndHybridManagement"}
    assert "'*.automation.ext.azure.com'" in (finding.remediation or "")


CONTAINER = (
    "/Subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg/providers/"
    "Microsoft.RecoveryServices/vaults/v/replicationFabrics/f/replicationProtectionContainers/c"
)


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["Enabled"], True),
        (["Disabled", "enabled"], True),  # any mapping that updates the agent
        (["Disabled"], False),
        ([None], None),  # a mapping without the setting says nothing
        ([], None),  # no mapping of the item's container
    ],
)
def test_auto_update_is_read_from_the_mappings_of_the_items_container(
    statuses: list[str | None], expected: bool | None
) -> None:
    item = ProtectedItem(id=f"{CONTAINER}/replicationProtectedItems/x", name="x", vault_id="v")
    other = ProtectionContainerMapping(
        id=f"{CONTAINER}-2/replicationProtectionContainerMappings/m",
        name="m",
        vault_id="v",
        agent_auto_update_status="Enabled",
    )  # another container's mapping never counts
    mappings = [
        ProtectionContainerMapping(
            id=f"{CONTAINER.lower()}/replicationProtectionContainerMappings/m{i}",
            name=f"m{i}",
            vault_id="v",
            agent_auto_update_status=s,
        )
        for i, s in enumerate(statuses)
    ]
    inv = inventory()
    inv.protection_container_mappings = [other, *mappings]
    ctx = Context(inv)
    workload = Workload(
        vm=vm_with_nic("vm", "eastus")[0],
        kind="protected",
        source_region="eastus",
        target_region="westus",
        item=item,
    )
    assert destinations.auto_update_on(ctx, workload) is expected
    candidate = Workload(vm=workload.vm, kind="candidate", source_region="eastus", target_region="westus")
    assert destinations.auto_update_on(ctx, candidate) is None
