"""Azure Firewalls and firewall policies: parsers on ARM shapes, and the scan against the fake ARM.

Policies are a subscription-wide list; each policy's rule collection groups are a paged child
list (`{policyId}/ruleCollectionGroups`), fetched as a follow-up job. A policy enters the
inventory with `rules_read` only when every group was read.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from conftest import SCENARIOS_DIR
from fakearm import FakeArm, Scenario, SubscriptionInfo
from test_collect_fakearm import scan_fake

from asr_audit.collect import endpoints
from asr_audit.collect.fields import Malformed
from asr_audit.collect.network import (
    parse_azure_firewall,
    parse_firewall_policy,
    parse_rule_collection_group,
)

SUB = "6a1f0c2d-3b4e-4f50-8a61-7b8c9d0e1f2a"
OTHER = "0b1c2d3e-4f50-4a61-8b72-9c0d1e2f3a4b"  # not scanned
NET = f"/subscriptions/{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network"
BASE = f"{NET}/firewallPolicies/afwp-base"
CHILD = f"{NET}/firewallPolicies/afwp-hub"
BROKEN = f"{NET}/firewallPolicies/afwp-broken"
FOREIGN_BASE = (
    f"/subscriptions/{OTHER}/resourceGroups/rg-org/providers/Microsoft.Network/firewallPolicies/org"
)


def _policy(rid: str, groups: list[str], base: str | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "sku": {"tier": "Standard"},
        "ruleCollectionGroups": [{"id": f"{rid}/ruleCollectionGroups/{g}"} for g in groups],
    }
    if base:
        props["basePolicy"] = {"id": base}
    return {
        "id": rid,
        "name": rid.rsplit("/", 1)[-1],
        "type": "Microsoft.Network/firewallPolicies",
        "location": "eastus",
        "properties": props,
    }


def _group(policy: str, name: str, priority: int, collections: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": f"{policy}/ruleCollectionGroups/{name}",
        "name": name,
        "type": "Microsoft.Network/FirewallPolicies/ruleCollectionGroups",
        "properties": {
            "priority": priority,
            "provisioningState": "Succeeded",
            "ruleCollections": collections,
        },
    }


APP_ALLOW = {
    "ruleCollectionType": "FirewallPolicyFilterRuleCollection",
    "name": "asr",
    "priority": 200,
    "action": {"type": "Allow"},
    "rules": [
        {
            "ruleType": "ApplicationRule",
            "name": "asr-endpoints",
            "protocols": [{"protocolType": "Https", "port": 443}],
            "targetFqdns": ["*.blob.core.windows.net", "login.microsoftonline.com"],
            "fqdnTags": [],
            "webCategories": [],
            "sourceAddresses": ["10.1.0.0/16"],
            "sourceIpGroups": [],
            "terminateTLS": False,
        }
    ],
}
NET_DENY = {
    "ruleCollectionType": "FirewallPolicyFilterRuleCollection",
    "name": "no-udp",
    "priority": 100,
    "action": {"type": "Deny"},
    "rules": [
        {
            "ruleType": "NetworkRule",
            "name": "udp",
            "ipProtocols": ["UDP"],
            "sourceAddresses": ["*"],
            "destinationAddresses": ["AzureCloud"],
            "destinationPorts": ["*"],
            "destinationIpGroups": [f"{NET}/ipGroups/ipg-blocked"],
        }
    ],
}
NAT = {
    "ruleCollectionType": "FirewallPolicyNatRuleCollection",
    "name": "inbound",
    "priority": 100,
    "action": {"type": "DNAT"},
    "rules": [
        {"ruleType": "NatRule", "name": "rdp", "translatedAddress": "10.1.0.4", "translatedPort": "3389"}
    ],
}


def _scenario() -> Scenario:
    firewall = {
        "id": f"{NET}/azureFirewalls/fw-hub",
        "name": "fw-hub",
        "type": "Microsoft.Network/azureFirewalls",
        "location": "East US",
        "properties": {
            "ipConfigurations": [{"name": "ipconfig", "properties": {"privateIPAddress": "10.0.3.4"}}],
            "firewallPolicy": {"id": CHILD},
            "applicationRuleCollections": [],
            "networkRuleCollections": [],
            "natRuleCollections": [],
        },
    }
    groups = [
        _group(BASE, "org", 100, [APP_ALLOW]),
        _group(CHILD, "net", 200, [NET_DENY, NAT]),
        _group(CHILD, "apps", 300, [APP_ALLOW]),
        _group(CHILD, "more", 400, []),
        _group(BROKEN, "g1", 100, []),
    ]
    return Scenario(
        subscriptions=[SubscriptionInfo(SUB, "Hub", "11111111-2222-4333-8444-555555555555")],
        resources={
            "azureFirewalls": [firewall],
            "firewallPolicies": [
                _policy(BASE, ["org"]),
                _policy(CHILD, ["net", "apps", "more"], base=BASE),
                _policy(BROKEN, ["g1"], base=FOREIGN_BASE),
            ],
            "ruleCollectionGroups": groups,
        },
        regions=["eastus"],
    )


def test_policies_and_paged_rule_collection_groups_are_collected(
    fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch
) -> None:
    arm = fake_arm(_scenario(), page_size=1)
    arm.add_fault(r"/afwp-broken/ruleCollectionGroups$", 500)
    inventory = scan_fake(arm, monkeypatch, [SUB])
    policies = {p.name: p for p in inventory.firewall_policies}
    assert set(policies) == {"afwp-base", "afwp-hub", "afwp-broken"}

    child = policies["afwp-hub"]
    assert child.rules_read and child.base_policy_id == BASE and child.sku_tier == "Standard"
    assert [g.name for g in child.rule_collection_groups] == ["net", "apps", "more"]  # as served
    net = next(g for g in child.rule_collection_groups if g.name == "net")
    assert [(c.name, c.priority, c.action) for c in net.rule_collections] == [
        ("no-udp", 100, "Deny")
    ]  # NAT out
    [udp] = net.rule_collections[0].rules
    assert (udp.rule_type, udp.protocols, udp.destination_addresses) == (
        "NetworkRule",
        ["UDP"],
        ["AzureCloud"],
    )
    assert udp.destination_ip_groups == [f"{NET}/ipGroups/ipg-blocked"]
    apps = next(g for g in child.rule_collection_groups if g.name == "apps")
    [rule] = apps.rule_collections[0].rules
    assert rule.protocols == ["Https:443"] and rule.target_fqdns == [
        "*.blob.core.windows.net",
        "login.microsoftonline.com",
    ]

    # a failed group listing leaves the policy in, marked unread, and shows in coverage
    broken = policies["afwp-broken"]
    assert not broken.rules_read and broken.rule_collection_groups == []
    assert broken.base_policy_id == FOREIGN_BASE  # in a subscription that is not scanned: never fetched
    coverage = {c.collector: c for c in inventory.coverage}
    assert coverage["firewall_policies"].status == "ok" and coverage["firewall_policies"].items == 3
    assert coverage["rule_collection_groups:afwp-broken"].status == "error"
    assert coverage["rule_collection_groups:afwp-hub"].items == 3

    [fw] = inventory.azure_firewalls
    assert (
        fw.firewall_policy_id == CHILD
        and fw.private_ip_addresses == ["10.0.3.4"]
        and fw.rule_collections == []
    )
    served = [r.path for r in arm.requests]
    assert all(OTHER not in p for p in served)
    group_pages = [r for r in arm.requests if r.path == f"{CHILD}/ruleCollectionGroups"]
    assert len(group_pages) == 3 and all(r.query["api-version"] == "2025-03-01" for r in group_pages)


def test_a_malformed_group_marks_the_policy_unread(
    fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = _scenario()
    bad = scenario.resources["ruleCollectionGroups"][2]
    del bad["properties"]["ruleCollections"][0]["priority"]  # a collection that cannot be ordered
    arm = fake_arm(scenario, page_size=10)
    inventory = scan_fake(arm, monkeypatch, [SUB])
    child = next(p for p in inventory.firewall_policies if p.name == "afwp-hub")
    assert not child.rules_read and [g.name for g in child.rule_collection_groups] == ["net", "more"]
    coverage = next(c for c in inventory.coverage if c.collector == "rule_collection_groups:afwp-hub")
    assert coverage.status == "partial" and "1 item(s) could not be read" in (coverage.detail or "")
    assert coverage.unread == [bad["id"]] and coverage.object_id == child.id


def test_rule_collection_group_url_keeps_the_policy_id() -> None:
    assert (
        endpoints.rule_collection_groups(CHILD + "/")
        == f"{CHILD}/ruleCollectionGroups?api-version=2025-03-01"
    )


# --- parsers on the upstream shapes ----------------------------------------------------------------


def test_classic_rule_collections_of_the_upstream_example() -> None:
    """AzureFirewalls_ListAll: an application Deny collection, a network Deny collection with
    address ranges and an FQDN rule, and a NAT collection that is not kept."""
    path = SCENARIOS_DIR / "api-examples" / "resources" / "azureFirewalls.json"
    [item] = json.loads(path.read_text(encoding="utf-8"))
    fw = parse_azure_firewall(item)
    assert fw.private_ip_addresses == ["10.0.0.0"] and fw.firewall_policy_id is None
    assert [(c.name, c.priority, c.action) for c in fw.rule_collections] == [
        ("netrulecoll", 112, "Deny"),
        ("apprulecoll", 110, "Deny"),
    ]
    l4, l4_fqdn = fw.rule_collections[0].rules
    assert l4.rule_type == "NetworkRule" and l4.protocols == ["TCP"]
    assert l4.source_addresses == ["192.168.1.1-192.168.1.12", "10.1.4.12-10.1.4.255"]
    assert l4.destination_ports == ["443-444", "8443"]
    assert l4_fqdn.destination_fqdns == ["www.amazon.com"]
    [app] = fw.rule_collections[1].rules
    assert app.rule_type == "ApplicationRule" and app.protocols == ["Https:443"]
    assert app.target_fqdns == ["www.test.com"]


def test_policy_without_optional_properties() -> None:
    policy = parse_firewall_policy({"id": BASE})
    assert (policy.name, policy.location, policy.base_policy_id, policy.rule_collection_group_ids) == (
        "afwp-base",
        "",
        None,
        [],
    )
    assert not policy.rules_read


@pytest.mark.parametrize(
    "broken",
    [
        {"id": f"{BASE}/ruleCollectionGroups/x", "properties": {}},  # no priority
        {
            "id": f"{BASE}/ruleCollectionGroups/x",
            "properties": {"priority": 1, "ruleCollections": [{"name": "c"}]},
        },
        {"properties": {"priority": 100}},  # no id
    ],
)
def test_groups_that_cannot_be_ordered_are_malformed(broken: dict[str, Any]) -> None:
    with pytest.raises(Malformed):
        parse_rule_collection_group(broken)
