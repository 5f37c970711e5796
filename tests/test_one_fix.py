"""One fix per finding (issue 12): a finding's remediation is the command for its own resource, or
the rule's text when it has nothing more specific, never the specific command followed by the
rule's generic placeholder text. Checked on every finding of the demo, which fires every rule."""

from __future__ import annotations

import pytest

from asr_audit import collect
from asr_audit.access.clouds import CLOUDS
from asr_audit.app import replay, runner
from asr_audit.findings import Finding
from asr_audit.report import Report


@pytest.fixture(scope="module")
def demo() -> Report:
    request = collect.ScanRequest(subscriptions=[], cloud=CLOUDS["AzureCloud"], all_subscriptions=True)
    return runner.audit(
        replay.replay_scan(replay.DEMO_CASSETTE, request),
        cloud=CLOUDS["AzureCloud"],
        thresholds=dict(replay.DEMO_THRESHOLDS),
    )


def test_no_fix_repeats_the_generic_text_after_the_specific_one(demo: Report) -> None:
    doubled = [
        (f.rule_id, f.resource_id)
        for f in demo.findings
        if f.remediation != demo.rules[f.rule_id].remediation
        and demo.rules[f.rule_id].remediation in f.remediation
    ]
    assert doubled == []
    assert {f.rule_id for f in demo.findings} == set(demo.rules)  # every rule had its say


def by_rule(demo: Report, rule_id: str, status: str = "fail") -> list[Finding]:
    return [f for f in demo.findings if f.rule_id == rule_id and f.status == status and not f.gap]


def test_an_undecided_finding_says_what_to_check_and_where_the_fix_is(demo: Report) -> None:
    (legacy, pos) = by_rule(demo, "NET-FORCED-TUNNEL", "unknown")
    for f in (legacy, pos):
        assert f.remediation.startswith("Check the effective routes of the VM's NIC (az network nic ")
        assert f.remediation.endswith("bypass them as `asr-audit explain NET-FORCED-TUNNEL` shows.")


def test_a_subnet_without_a_route_table_gets_one_before_its_routes(demo: Report) -> None:
    (f,) = by_rule(demo, "NET-GATEWAY-DEFAULT-SITE")
    create = "az network route-table create -g rg-legacy-eus -n rt-snet-legacy-asr -l eastus"
    attach = "az network vnet subnet update -g rg-legacy-eus --vnet-name vnet-legacy-eus -n snet-legacy"
    route = "az network route-table route create -g rg-legacy-eus --route-table-name rt-snet-legacy-asr"
    assert f.remediation.index(create) < f.remediation.index(attach) < f.remediation.index(route)
    assert "<rg>" not in f.remediation and "<table>" not in f.remediation


def test_the_circuit_fix_names_the_circuit_and_the_alternative(demo: Report) -> None:
    (f,) = by_rule(demo, "ER-PREMIUM-XGEO")
    assert f.remediation == (
        "Change the circuit to Premium: az network express-route update -g rg-connectivity-brs -n "
        "er-fabrikam-sao --sku-tier Premium --sku-family MeteredData; or link the recovery gateway to a "
        "circuit at a peering location near the target region (westus2: Portland, Quincy, Seattle)."
    )
