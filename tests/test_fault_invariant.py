"""Fault injection across the whole pipeline (DESIGN.md §8.2): whatever breaks, every finding of
the clean run is still reported, at no lower severity, or explained by a listed gap and an
`unknown` finding of the same rule; and the exit code says what happened.

The estate is the demo's (the broken scenario, which makes every rule fire) served by the
loopback ARM without its own 403, so the clean run is complete. Each fault is one realistic way
for a nightly scan to go wrong; the invariant is what makes its green trustworthy.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fakearm import FakeArm
from fakearm.scenario import Fault, Scenario

from asr_audit.access.clouds import CLOUDS
from asr_audit.access.credential import StaticTokenCredential
from asr_audit.access.policies import RetrySettings
from asr_audit.app import runner
from asr_audit.collect import ScanRequest, scan
from asr_audit.errors import EXIT_AUTH, EXIT_INCOMPLETE, EXIT_OK, AuthError
from asr_audit.inventory import CoverageStatus, Inventory
from asr_audit.report import Report

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
PROD = "b7e4a1d9-2c3f-4e58-9a6b-1d0f8e7c5a32"
CONN = "5d2c8f1a-7e9b-4a3c-b6d4-0e1f2a3b4c5d"
TOKEN = "test-token"
QUICK = RetrySettings(retry_after_cap=0.05, retry_total=2, backoff_factor=0.01, backoff_max=0.02)


@dataclass
class Run:
    inventory: Inventory
    report: Report
    code: int


def _base() -> Scenario:
    scenario = Scenario.load(SCENARIOS / "broken")
    scenario.faults = []  # the demo's own 403 would make the "clean" run incomplete
    return scenario


def _scan(
    scenario: Scenario,
    *,
    timeout: tuple[float, float] = (2.0, 2.0),
    prepare: Callable[[FakeArm], None] | None = None,
    token: str = TOKEN,
) -> Run:
    arm = FakeArm(scenario).start()
    if prepare is not None:
        prepare(arm)
    saved = {k: os.environ.get(k) for k in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")}
    os.environ["REQUESTS_CA_BUNDLE"] = os.environ["SSL_CERT_FILE"] = arm.ca_bundle
    try:
        cloud = CLOUDS["AzureCloud"].with_arm_endpoint(arm.url)
        request = ScanRequest([PROD, CONN], cloud, timeout=timeout, deadline=60.0)
        inventory = scan(request, StaticTokenCredential(token), retry=QUICK)
    finally:
        arm.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    report = runner.audit(inventory, cloud=cloud)
    return Run(inventory, report, runner.exit_code(report, "none"))


@pytest.fixture(scope="module")
def clean() -> Run:
    return _scan(_base())


def _with_fault(path: str, status: int, **kwargs: Any) -> Scenario:
    scenario = _base()
    scenario.faults = [Fault.from_yaml({"path": path, "status": status, **kwargs})]
    return scenario


def _edited(stem: str, edit: Callable[[list[dict[str, Any]]], None]) -> Scenario:
    scenario = _base()
    scenario.resources = copy.deepcopy(scenario.resources)
    edit(scenario.resources[stem])
    return scenario


def _unexplained(clean: Run, faulty: Run) -> list[str]:
    """Clean findings that vanished (or lost severity) without an `unknown` of their rule."""
    after = {f.fingerprint: f for f in faulty.report.findings}
    undecided = {f.rule_id for f in faulty.report.findings if f.status == "unknown"}
    problems = []
    for finding in clean.report.findings:
        kept = after.get(finding.fingerprint)
        if kept is not None and kept.severity.rank >= finding.severity.rank:
            continue
        if finding.rule_id in undecided:
            continue
        what = "lowered to " + kept.severity.value if kept else "vanished"
        problems.append(f"{finding.rule_id} on {finding.resource_id} {what}")
    return problems


def _gaps(run: Run) -> list[tuple[str, str]]:
    return [(c.collector, c.status) for c in run.inventory.coverage if c.status != CoverageStatus.OK]


def test_the_clean_run_reads_everything_and_every_rule_fires(clean: Run) -> None:
    assert _gaps(clean) == []
    assert clean.code == EXIT_OK
    assert len({f.rule_id for f in clean.report.findings}) >= 25


LIST = "^/subscriptions/{sub}/providers/{type}$"
FORBIDDEN_LISTS = [
    (PROD, "Microsoft.Compute/virtualMachines"),
    (PROD, "Microsoft.Compute/disks"),
    (PROD, "Microsoft.Compute/diskEncryptionSets"),  # vm-stream-01's misplaced recovery DES
    (PROD, "Microsoft.Network/networkInterfaces"),
    (PROD, "Microsoft.Network/virtualNetworks"),
    (CONN, "Microsoft.Network/virtualNetworks"),
    (PROD, "Microsoft.Network/networkSecurityGroups"),
    (PROD, "Microsoft.Network/routeTables"),
    (PROD, "Microsoft.Network/loadBalancers"),
    (PROD, "Microsoft.Network/natGateways"),  # snet-db's NAT gateway without a public IP
    (PROD, "Microsoft.Network/publicIPAddresses"),  # vm-db-01's Basic public IP
    (PROD, "Microsoft.Network/privateEndpoints"),
    (CONN, "Microsoft.Network/privateEndpoints"),  # the hub's endpoint covers a spoke
    (CONN, "Microsoft.Network/privateDnsZones"),
    (PROD, "Microsoft.Storage/storageAccounts"),
    (PROD, "Microsoft.RecoveryServices/vaults"),
    (CONN, "Microsoft.Network/expressRouteCircuits"),
    (CONN, "Microsoft.Network/azureFirewalls"),
    (CONN, "Microsoft.Network/firewallPolicies"),
]


@pytest.mark.parametrize(("sub", "arm_type"), FORBIDDEN_LISTS, ids=lambda v: v.split("/")[-1][:8])
def test_a_403_on_one_resource_type_leaves_no_finding_unexplained(
    clean: Run, sub: str, arm_type: str
) -> None:
    faulty = _scan(_with_fault(LIST.format(sub=sub, type=arm_type.replace(".", r"\.")), 403))
    assert faulty.code == EXIT_INCOMPLETE
    assert "forbidden" in {s for _, s in _gaps(faulty)}, _gaps(faulty)
    assert _unexplained(clean, faulty) == []


@pytest.mark.parametrize(
    "path",
    [
        r"/replicationProtectedItems$",
        r"/replicationNetworkMappings$",
        r"/replicationProtectionContainerMappings$",
        r"/replicationPolicies$",  # the estate overview's line only: no rule reads them
        r"/replicationProtectableItems$",  # a Hyper-V VM's generation: DSK-SIZE says unknown
        r"/virtualNetworkGateways$",
        r"/connections$",
        r"/serviceTags$",
        r"/ruleCollectionGroups$",
        r"/blobServices/default$",
        r"/providers/Microsoft\.Authorization/roleAssignments$",
        r"/virtualNetworkLinks$",
        r"/providers/Microsoft\.Compute/skus$",
        r"/providers/Microsoft\.Compute/locations/[^/]+/usages$",
    ],
)
def test_a_403_on_a_per_object_list_leaves_no_finding_unexplained(clean: Run, path: str) -> None:
    faulty = _scan(_with_fault(path, 403))
    assert faulty.code == EXIT_INCOMPLETE
    assert _unexplained(clean, faulty) == []


@pytest.mark.parametrize(
    ("status", "extra"),
    [
        (429, {"headers": {"Retry-After": "0"}}),  # a throttling storm that outlasts the retries
        (500, {}),
        (503, {}),
        (200, {"body": '{"value": [{"id": "/subscriptions/x", '}),  # garbled: cut mid-body
        (200, {"body": "<html>gateway error</html>"}),
    ],
    ids=["429-storm", "500", "503", "garbled-json", "html"],
)
def test_server_faults_on_the_vm_list_are_gaps_never_a_pass(
    clean: Run, status: int, extra: dict[str, Any]
) -> None:
    path = LIST.format(sub=PROD, type=r"Microsoft\.Compute/virtualMachines")
    faulty = _scan(_with_fault(path, status, **extra))
    assert ("virtual_machines", "ok") not in {(c, s) for c, s in _gaps(faulty)}
    assert any(c == "virtual_machines" for c, _ in _gaps(faulty))
    assert faulty.code == EXIT_INCOMPLETE
    assert _unexplained(clean, faulty) == []


def test_a_malformed_vm_is_a_partial_list_naming_it(clean: Run) -> None:
    victim: dict[str, str] = {}

    def break_one(vms: list[dict[str, Any]]) -> None:
        vms[0]["properties"]["storageProfile"] = "not an object"
        victim["id"] = vms[0]["id"]

    faulty = _scan(_edited("virtualMachines", break_one))
    partial = [c for c in faulty.inventory.coverage if c.kind == "virtual_machines" and c.status == "partial"]
    assert partial and victim["id"] in partial[0].unread
    assert faulty.code == EXIT_INCOMPLETE
    assert _unexplained(clean, faulty) == []


def test_a_garbled_protected_item_is_a_partial_list_naming_it(clean: Run) -> None:
    victim: dict[str, str] = {}

    def break_one(items: list[dict[str, Any]]) -> None:
        items[0]["properties"]["providerSpecificDetails"] = ["not", "an", "object"]
        victim["id"] = items[0]["id"]

    faulty = _scan(_edited("replicationProtectedItems", break_one))
    partial = [c for c in faulty.inventory.coverage if c.kind == "protected_items" and c.status == "partial"]
    assert partial and victim["id"] in partial[0].unread
    assert _unexplained(clean, faulty) == []


VM_LIST = LIST.format(sub=PROD, type=r"Microsoft\.Compute/virtualMachines")


def test_a_bad_page_in_the_middle_of_a_list_keeps_the_first_page_and_is_a_gap(clean: Run) -> None:
    scenario = _with_fault(VM_LIST, 500, query=r"\$skiptoken=2$")
    faulty = _scan(scenario)
    vms = [c for c in faulty.inventory.coverage if c.kind == "virtual_machines" and c.subscription_id == PROD]
    assert [c.status for c in vms] == ["error"] and vms[0].items == 2  # page 1 is kept
    assert faulty.code == EXIT_INCOMPLETE
    assert _unexplained(clean, faulty) == []


def test_a_body_cut_short_on_every_attempt_is_a_gap(clean: Run) -> None:
    faulty = _scan(_base(), prepare=lambda arm: arm.add_cut(VM_LIST, keep=40))
    assert ("virtual_machines", "error") in _gaps(faulty)
    assert _unexplained(clean, faulty) == []


def test_a_body_cut_short_once_is_retried_and_nothing_is_lost(clean: Run) -> None:
    faulty = _scan(_base(), prepare=lambda arm: arm.add_cut(VM_LIST, keep=40, times=1))
    assert _gaps(faulty) == []
    assert {f.fingerprint for f in faulty.report.findings} == {f.fingerprint for f in clean.report.findings}


def test_a_stalled_list_is_a_timeout_gap(clean: Run) -> None:
    path = LIST.format(sub=PROD, type=r"Microsoft\.Network/networkSecurityGroups")
    faulty = _scan(_base(), timeout=(1.0, 1.0), prepare=lambda arm: arm.add_stall(path, 60))
    assert ("network_security_groups", "timeout") in _gaps(faulty)
    assert faulty.code == EXIT_INCOMPLETE
    assert _unexplained(clean, faulty) == []


def test_a_vault_id_pointing_at_another_host_is_refused_and_a_gap(clean: Run) -> None:
    def hostile(vaults: list[dict[str, Any]]) -> None:
        vaults[0]["id"] = "https://127.0.0.1:9" + vaults[0]["id"]

    faulty = _scan(_edited("vaults", hostile))
    refused = [c for c in faulty.inventory.coverage if "refused" in (c.detail or "")]
    assert refused and all(c.status == "error" for c in refused)
    assert _unexplained(clean, faulty) == []


def test_a_token_with_a_line_break_is_refused_before_any_request() -> None:
    servers: list[FakeArm] = []
    with pytest.raises(AuthError) as raised:
        _scan(_base(), token="test-token\r\nX-Injected: 1", prepare=servers.append)
    assert raised.value.exit_code == EXIT_AUTH
    assert "test-token" not in str(raised.value) and "line break" in str(raised.value)
    assert servers[0].requests == []


def test_every_subscription_unreadable_for_any_cause_is_exit_3() -> None:
    scenario = _with_fault(r"^/subscriptions/[^/]+$", 500)
    with pytest.raises(AuthError) as raised:
        _scan(scenario)
    assert raised.value.exit_code == EXIT_AUTH
    assert "500" in str(raised.value) or "InternalServerError" in str(raised.value)


def test_gaps_are_in_every_report_format(clean: Run) -> None:
    from asr_audit.report import render

    faulty = _scan(_with_fault(LIST.format(sub=PROD, type=r"Microsoft\.Compute/disks"), 403))
    sarif = json.loads(render(faulty.report, "sarif"))
    assert sarif["runs"][0]["invocations"][0]["executionSuccessful"] is False
    junit = render(faulty.report, "junit")
    assert "<error" in junit
    doc = json.loads(render(faulty.report, "json"))
    assert any(c["status"] == "forbidden" and c["collector"] == "disks" for c in doc["coverage"])
    assert any(f["status"] == "unknown" and f["rule_id"] == "DSK-SIZE" for f in doc["findings"])
