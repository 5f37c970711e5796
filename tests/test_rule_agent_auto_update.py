"""ASR-AGENT, container-mapping part: the vault's Mobility agent auto-update setting, off or on a
retired Run As account (medium, on the mapping); the per-vault read, its parser, and its gaps."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from builders import analyzed, context, gap, inventory, run, vault
from fakearm import FakeArm
from record_cassettes import scenario_request

from asr_audit import ids
from asr_audit.access.credential import StaticTokenCredential
from asr_audit.app import runner
from asr_audit.collect import scan
from asr_audit.collect.fields import Malformed
from asr_audit.collect.recovery import parse_protection_container_mapping
from asr_audit.findings import FindingStatus, Severity
from asr_audit.inventory import ProtectionContainerMapping

RULE = "ASR-AGENT"
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
OWNER = vault("rsv-dr", "westus2")
CONTAINER = "replicationFabrics/asr-a2a-default-eastus/replicationProtectionContainers/eastus-container"
ACCOUNT = ids.parent_of(OWNER.id, 4) + "/providers/Microsoft.Automation/automationAccounts/aa-dr"


def mapping(name: str = "eastus-westus2", **fields: Any) -> ProtectionContainerMapping:
    fields.setdefault("instance_type", "A2A")
    fields.setdefault("agent_auto_update_status", "Enabled")
    fields.setdefault("automation_account_id", ACCOUNT)
    fields.setdefault("automation_account_authentication_type", "SystemAssignedIdentity")
    rid = f"{OWNER.id}/{CONTAINER}/replicationProtectionContainerMappings/{name}"
    return ProtectionContainerMapping(id=rid, name=name, vault_id=OWNER.id, **fields)


def _findings(*mappings: ProtectionContainerMapping) -> tuple[list[Any], list[str]]:
    """The rule's findings and the ids it recorded as examined."""
    ctx = context(inventory(OWNER, *mappings))
    found = run(RULE, ctx)
    return found, [c.resource_id for c in ctx.checks if c.rule_id == RULE]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"agent_auto_update_status": "Disabled", "automation_account_id": None}, "auto-update is off"),
        ({"automation_account_authentication_type": "RunAsAccount"}, "Run As account"),
        # not given: the REST reference's default, RunAsAccount
        ({"automation_account_authentication_type": None}, "Run As account"),
    ],
)
def test_fires_medium_on_the_mapping_with_its_own_fix(fields: dict[str, Any], reason: str) -> None:
    subject = mapping(**fields)
    [finding], examined = _findings(subject)
    assert (finding.resource_id, finding.severity, finding.region) == (subject.id, Severity.MEDIUM, "westus2")
    assert reason in finding.message and "rsv-dr" in finding.message
    assert examined == [subject.id]
    fix = finding.remediation
    assert "Extension update settings" in fix
    assert "az site-recovery protection-container mapping update -g rg-dr --vault-name rsv-dr" in fix
    assert "--fabric-name asr-a2a-default-eastus --protection-container eastus-container" in fix
    assert "-n eastus-westus2" in fix and "SystemAssignedIdentity" in fix
    assert finding.evidence["agentAutoUpdateStatus"] == subject.agent_auto_update_status


def test_silent_and_passed_on_auto_update_with_a_managed_identity() -> None:
    subject = mapping(automation_account_authentication_type="systemassignedidentity")  # case is ARM's
    found, examined = _findings(subject)
    assert found == [] and examined == [subject.id]


@pytest.mark.parametrize(
    "fields",
    [
        {"instance_type": "HyperVReplicaAzure", "agent_auto_update_status": None},
        {"instance_type": None, "agent_auto_update_status": None},  # no providerSpecificDetails
        {"agent_auto_update_status": None},  # A2A details without the setting
    ],
)
def test_mappings_that_state_no_setting_are_not_judged(fields: dict[str, Any]) -> None:
    found, examined = _findings(mapping(**fields))
    assert found == [] and examined == []


def test_the_item_part_still_judges_when_the_mappings_are_unread() -> None:
    """A gap in one vault's mappings is that vault's `unknown` finding, not a pass."""
    ctx = context(inventory(OWNER, gap("protection_container_mappings:rsv-dr", object_id=OWNER.id)))
    [finding] = analyzed(RULE, ctx)
    assert (finding.status, finding.resource_id) == (FindingStatus.UNKNOWN, OWNER.id)
    assert finding.gap == "protection_container_mappings:rsv-dr"
    assert finding.severity is Severity.HIGH  # the rule's worst: the items' part may be high
    assert not [c for c in ctx.checks if c.rule_id == RULE]


# --- the parser ------------------------------------------------------------------------------------


def _body(details: dict[str, Any] | None) -> dict[str, Any]:
    rid = f"{OWNER.id}/{CONTAINER}/replicationProtectionContainerMappings/m1"
    properties: dict[str, Any] = {"sourceFabricFriendlyName": "eastus", "targetFabricFriendlyName": "westus2"}
    if details is not None:
        properties["providerSpecificDetails"] = details
    return {"id": rid, "name": "m1", "properties": properties}


def test_the_parser_reads_the_a2a_settings() -> None:
    details = {
        "instanceType": "A2A",
        "agentAutoUpdateStatus": "Enabled",
        "automationAccountArmId": ACCOUNT,
        "automationAccountAuthenticationType": "RunAsAccount",
    }
    parsed = parse_protection_container_mapping(_body(details))
    assert (parsed.vault_id, parsed.instance_type, parsed.source_fabric) == (OWNER.id, "A2A", "eastus")
    assert parsed.agent_auto_update_status == "Enabled"
    assert parsed.automation_account_id == ACCOUNT
    assert parsed.automation_account_authentication_type == "RunAsAccount"


def test_the_parser_keeps_no_settings_for_other_providers_or_none() -> None:
    other = parse_protection_container_mapping(
        _body({"instanceType": "InMageRcm", "agentAutoUpdateStatus": "?"})
    )
    bare = parse_protection_container_mapping(_body(None))
    for parsed in (other, bare):
        assert (
            parsed.agent_auto_update_status is None and parsed.automation_account_authentication_type is None
        )
    assert (other.instance_type, bare.instance_type) == ("InMageRcm", None)


@pytest.mark.parametrize(
    "details",
    [
        {"instanceType": "A2A", "agentAutoUpdateStatus": "On"},
        {"instanceType": "A2A", "agentAutoUpdateStatus": True},
        {
            "instanceType": "A2A",
            "agentAutoUpdateStatus": "Enabled",
            "automationAccountAuthenticationType": "Key",
        },
        "A2A",  # details that are not an object
    ],
)
def test_junk_settings_are_an_unread_mapping_never_a_default(details: Any) -> None:
    body = _body(None)
    body["properties"]["providerSpecificDetails"] = details
    with pytest.raises(Malformed):
        parse_protection_container_mapping(body)


# --- the demo estate, both backends, and a 403 ------------------------------------------------------


def _expected(section: str) -> set[str]:
    doc = yaml.safe_load((SCENARIOS / "broken/expected.yaml").read_text(encoding="utf-8"))
    return {ids.key(e["resource_id"]) for e in doc[section] if e["rule_id"] == RULE}


def _scan(arm: FakeArm, backend: str = "arm") -> tuple[Any, list[Any]]:
    request = dataclasses.replace(scenario_request(arm, arm.url, concurrency=4), backend=backend)
    inventory_ = scan(request, StaticTokenCredential(arm.token))
    return inventory_, runner.audit(inventory_, cloud=request.cloud).findings


def _on_mappings(findings: list[Any]) -> set[str]:
    """The id keys of the rule's findings on container mappings (not on items or vaults)."""
    keys = {ids.key(f.resource_id) for f in findings if f.rule_id == RULE}
    return {k for k in keys if "/replicationprotectioncontainermappings/" in k}


def test_the_demo_fires_as_expected_and_its_near_misses_stay_quiet(fake_arm: Callable[..., FakeArm]) -> None:
    _, findings = _scan(fake_arm("broken"))
    fired = _on_mappings(findings)
    assert fired == {k for k in _expected("findings") if "/replicationprotectioncontainermappings/" in k}
    assert len(fired) == 2 and not fired & _expected("near_misses")


def test_both_backends_read_the_mappings_from_arm(fake_arm: Callable[..., FakeArm]) -> None:
    arm = fake_arm("broken")
    by_arm, _ = _scan(arm)
    before = len(arm.requests)
    by_graph, _ = _scan(arm, backend="graph")
    assert by_graph.protection_container_mappings == by_arm.protection_container_mappings
    assert len(by_arm.protection_container_mappings) == 5
    listed = [r for r in arm.requests[before:] if r.path.endswith("/replicationProtectionContainerMappings")]
    assert len(listed) == len(by_graph.vaults)  # one ARM list per vault, Resource Graph holds none


def test_a_403_is_a_forbidden_gap_and_the_rule_says_unknown(fake_arm: Callable[..., FakeArm]) -> None:
    arm = fake_arm("broken")
    arm.add_fault(r"/vaults/rsv-fabrikam-eus/replicationProtectionContainerMappings$", 403)
    inventory_, findings = _scan(arm)
    gaps = {(c.collector, c.status) for c in inventory_.coverage if c.status != "ok"}
    assert ("protection_container_mappings:rsv-fabrikam-eus", "forbidden") in gaps
    [unknown] = [f for f in findings if f.rule_id == RULE and f.status == "unknown"]
    assert ids.name_of(unknown.resource_id) == "rsv-fabrikam-eus"
    assert not [k for k in _on_mappings(findings) if "/vaults/rsv-fabrikam-eus/" in k]
