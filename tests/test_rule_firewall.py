"""NET-FIREWALL-FQDN: each evaluation trap with the case that fires and the case that must not."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from builders import (
    OTHER_SUBSCRIPTION,
    SUBSCRIPTION,
    a2a_item,
    assert_catalogued,
    assert_reportable,
    context,
    inventory,
    resource_id,
    run,
    storage_account,
    subnet_id,
    vault,
    virtual_network,
    vm_with_nic,
)

from asr_audit.access.clouds import CLOUDS
from asr_audit.findings import Finding, Severity
from asr_audit.inventory import (
    AzureFirewall,
    FirewallPolicy,
    FirewallRule,
    FirewallRuleCollection,
    FirewallRuleCollectionGroup,
    Route,
    RouteTable,
    ServiceTag,
)
from asr_audit.net.firewall import fqdn_covers, fqdn_matches, fqdn_overlaps

RULE = "NET-FIREWALL-FQDN"
FW_IP = "10.50.1.4"
NVA_IP = "10.50.9.4"
SUBNET = "10.0.0.0/24"  # builders' default subnet

TAGS = [
    ServiceTag("Storage", None, "AzureStorage", ["20.38.0.0/16", "20.60.0.0/16"]),
    ServiceTag("Storage.EastUS", "eastus", "AzureStorage", ["20.38.1.0/24", "20.60.2.0/24"]),
    ServiceTag("AzureActiveDirectory", None, "AzureAD", ["20.190.128.0/18", "40.126.0.0/18"]),
    ServiceTag("EventHub", None, "EventHub", ["13.88.0.0/24", "13.90.0.0/24"]),
    ServiceTag("EventHub.WestUS", "westus", "EventHub", ["13.88.0.0/24"]),
    ServiceTag("AzureSiteRecovery", None, "AzureSiteRecovery", ["52.10.0.0/24"]),
]
ALL = {"Storage.EastUS", "AzureActiveDirectory", "EventHub.WestUS", "AzureSiteRecovery"}
PUBLIC = CLOUDS["AzureCloud"].endpoints
FQDNS = [PUBLIC.storage, PUBLIC.identity, PUBLIC.site_recovery, PUBLIC.service_bus]
TO_FIREWALL = Route("default-to-fw", "0.0.0.0/0", "VirtualAppliance", FW_IP)


# --- builders --------------------------------------------------------------------------------------


def app(name: str, *fqdns: str, protocols: tuple[str, ...] = ("Https:443",), **kw: Any) -> FirewallRule:
    kw.setdefault("source_addresses", ["*"])
    return FirewallRule(name, "ApplicationRule", protocols=list(protocols), target_fqdns=list(fqdns), **kw)


def net(name: str, *destinations: str, ports: tuple[str, ...] = ("443",), **kw: Any) -> FirewallRule:
    kw.setdefault("source_addresses", ["*"])
    kw.setdefault("protocols", ["TCP"])
    return FirewallRule(
        name, "NetworkRule", destination_addresses=list(destinations), destination_ports=list(ports), **kw
    )


def coll(name: str, priority: int, action: str, *rules: FirewallRule) -> FirewallRuleCollection:
    return FirewallRuleCollection(name, priority, action, list(rules))


def policy(
    name: str,
    *groups: tuple[str, int, list[FirewallRuleCollection]],
    base: FirewallPolicy | None = None,
    subscription: str = SUBSCRIPTION,
    rules_read: bool = True,
) -> FirewallPolicy:
    rid = resource_id("Microsoft.Network/firewallPolicies", name, group="rg-hub", subscription=subscription)
    rcgs = [FirewallRuleCollectionGroup(f"{rid}/ruleCollectionGroups/{g}", g, p, cs) for g, p, cs in groups]
    return FirewallPolicy(
        id=rid,
        name=name,
        location="eastus",
        base_policy_id=base.id.upper() if base else None,  # case-variant reference
        rule_collection_group_ids=[g.id for g in rcgs],
        rule_collection_groups=rcgs,
        rules_read=rules_read,
    )


def allowing(*rules: FirewallRule, action: str = "Allow", priority: int = 200) -> FirewallPolicy:
    return policy("afwp", ("rcg", 300, [coll("c", priority, action, *rules)]))


@dataclass
class Scene:
    """A protected VM (East US -> West US) in 10.0.0.0/24 whose route table sends traffic to a firewall."""

    policies: list[FirewallPolicy] = field(default_factory=list)
    firewall_policy: str | None = "first"  # "first": the first policy; None: classic rules
    classic: list[FirewallRuleCollection] = field(default_factory=list)
    routes: list[Route] = field(default_factory=lambda: [TO_FIREWALL])
    subnet_prefixes: tuple[str, ...] = (SUBNET,)
    caches: tuple[str, ...] = ()
    cloud: str = "AzureCloud"
    private_endpoint: bool = False
    scanned: tuple[str, ...] = (SUBSCRIPTION,)

    def context(self) -> Any:
        vnet = virtual_network("vnet-app", "eastus")
        sub = vnet.subnets[0]
        sub.address_prefixes = list(self.subnet_prefixes)
        table = RouteTable(
            resource_id("Microsoft.Network/routeTables", "rt-app"), "rt-app", "eastus", routes=self.routes
        )
        sub.route_table_id = table.id
        policy_id = self.policies[0].id if self.firewall_policy == "first" else self.firewall_policy
        firewall = AzureFirewall(
            id=resource_id("Microsoft.Network/azureFirewalls", "fw-hub", group="rg-hub"),
            name="fw-hub",
            location="eastus",
            private_ip_addresses=[FW_IP],
            firewall_policy_id=policy_id,
            rule_collections=self.classic,
        )
        vm, nic = vm_with_nic("vm1", "eastus", subnet_id(vnet))
        owner = vault(
            "rsv",
            "westus",
            private_endpoint_state_for_site_recovery="Enabled" if self.private_endpoint else None,
        )
        caches = [storage_account(c, "eastus").id for c in self.caches]
        item = a2a_item(owner, vm, primary="eastus", recovery="westus", cache=caches)
        objects = [vnet, table, firewall, vm, nic, owner, item, *TAGS, *self.policies]
        return context(inventory(*objects, subscriptions=self.scanned), cloud=CLOUDS[self.cloud])


def findings(scene: Scene) -> list[Finding]:
    found = run("NET-FIREWALL-FQDN", scene.context())
    assert_reportable(found)
    return found


def blocked(finding: Finding) -> set[str]:
    return {d["destination"] for d in finding.evidence["destinations"] if d["status"] == "blocked"}


def only(scene: Scene) -> Finding:
    [finding] = findings(scene)
    assert finding.rule_id == RULE
    return finding


EVERYTHING = app("asr", *FQDNS)


# --- FQDN matching -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "required", "covers", "overlaps"),
    [
        ("*.blob.core.windows.net", "*.blob.core.windows.net", True, True),
        ("*.core.windows.net", "*.blob.core.windows.net", True, True),
        ("*core.windows.net", "*.blob.core.windows.net", True, True),
        ("*", "*.blob.core.windows.net", True, True),
        ("blob.core.windows.net", "*.blob.core.windows.net", False, False),  # the apex is not a blob host
        ("cache1.blob.core.windows.net", "*.blob.core.windows.net", False, True),
        ("*.x.blob.core.windows.net", "*.blob.core.windows.net", False, True),
        ("*.queue.core.windows.net", "*.blob.core.windows.net", False, False),
        ("LOGIN.microsoftonline.com.", "login.microsoftonline.com", True, True),
        ("*.microsoftonline.com", "login.microsoftonline.com", True, True),
        ("*microsoftonline.com", "login.microsoftonline.com", True, True),
        ("login.microsoftonline.us", "login.microsoftonline.com", False, False),
        ("*.login.microsoftonline.com", "login.microsoftonline.com", False, False),
    ],
)
def test_fqdn_patterns_follow_azure_firewall_wildcards(
    pattern: str, required: str, covers: bool, overlaps: bool
) -> None:
    assert fqdn_covers(pattern, required) is covers
    assert fqdn_overlaps(pattern, required) is overlaps


def test_a_leading_star_matches_anything_to_its_left() -> None:
    assert fqdn_matches("*contoso.com", "contoso.com") and fqdn_matches("*contoso.com", "a.b.anycontoso.com")
    assert not fqdn_matches("*.contoso.com", "contoso.com")
    assert fqdn_matches("*.contoso.com", "a.b.contoso.com")


def test_metadata_is_catalogued() -> None:
    assert_catalogued("NET-FIREWALL", "network")


# --- application rules ------------------------------------------------------------------------------


def test_policy_that_allows_every_endpoint_is_quiet() -> None:
    assert run("NET-FIREWALL-FQDN", Scene([allowing(EVERYTHING)]).context()) == []


def test_policy_missing_the_site_recovery_fqdn_fires_naming_it() -> None:
    rules = app("asr", PUBLIC.storage, PUBLIC.identity, PUBLIC.service_bus)
    [finding] = run("NET-FIREWALL-FQDN", Scene([allowing(rules)]).context())
    assert finding.severity == Severity.HIGH and finding.status == "fail"
    assert blocked(finding) == {"AzureSiteRecovery"}
    assert "*.hypervrecoverymanager.windowsazure.com" in finding.message
    assert "no rule allows TCP 443" in finding.message
    assert finding.key.endswith("/azurefirewalls/fw-hub")
    assert "--target-fqdns '*.hypervrecoverymanager.windowsazure.com'" in finding.remediation
    assert f"--source-addresses {SUBNET}" in finding.remediation
    assert "--policy-name afwp" in finding.remediation
    allowed = {d["destination"] for d in finding.evidence["destinations"] if d["status"] == "allowed"}
    assert allowed == ALL - {"AzureSiteRecovery"}


@pytest.mark.parametrize(
    "rules",
    [
        [app("wide", "*.core.windows.net", "*.microsoftonline.com", "*.windowsazure.com", "*.windows.net")],
        [app("star", "*")],
        [app("noport", *FQDNS, protocols=("Https",))],  # Https without a port means 443
        [app("both", *FQDNS, protocols=("Http:80", "Https:443"))],
    ],
)
def test_wildcards_and_https_443_allow(rules: list[FirewallRule]) -> None:
    assert findings(Scene([allowing(*rules)])) == []


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ([app("exact-apex", "blob.core.windows.net", *FQDNS[1:])], {"Storage.EastUS"}),
        ([app("http", *FQDNS, protocols=("Http:80",))], ALL),
        ([app("alt-port", *FQDNS, protocols=("Https:8443",))], ALL),
        ([app("sql", *FQDNS, protocols=("Mssql:1433",))], ALL),
        # FQDN tags and web categories are never taken as covering the endpoints
        ([app("tags", fqdn_tags=["AzureBackup", "WindowsUpdate"])], ALL),
    ],
)
def test_wrong_names_ports_or_protocols_fire(rules: list[FirewallRule], expected: set[str]) -> None:
    assert blocked(only(Scene([allowing(*rules)]))) == expected


def test_deny_collection_with_a_lower_priority_number_wins_over_the_allow() -> None:
    deny = coll("deny-asr", 100, "Deny", app("no-asr", PUBLIC.site_recovery))
    scene = Scene([policy("afwp", ("rcg", 300, [coll("allow", 200, "Allow", EVERYTHING), deny]))])
    finding = only(scene)
    assert blocked(finding) == {"AzureSiteRecovery"}
    [dest] = [d for d in finding.evidence["destinations"] if d["destination"] == "AzureSiteRecovery"]
    assert [(d["rule"], d["priority"], d["partial"]) for d in dest["denied"]] == [("no-asr", 100, False)]
    assert "denied by Deny rule 'no-asr'" in finding.message


def test_deny_processed_after_the_allow_does_not_block() -> None:
    deny = coll("deny-asr", 300, "Deny", app("no-asr", PUBLIC.site_recovery))
    scene = Scene([policy("afwp", ("rcg", 300, [coll("allow", 200, "Allow", EVERYTHING), deny]))])
    assert findings(scene) == []


def test_rule_collection_groups_go_first_by_their_own_priority() -> None:
    """A Deny collection at priority 100 in a group at 500 comes after an Allow at 900 in a group at 200."""
    scene = Scene(
        [
            policy(
                "afwp",
                ("late", 500, [coll("deny", 100, "Deny", app("no", *FQDNS))]),
                ("early", 200, [coll("allow", 900, "Allow", EVERYTHING)]),
            )
        ]
    )
    assert findings(scene) == []


def test_a_deny_on_one_storage_account_does_not_block_the_wildcard() -> None:
    deny = coll("deny-one", 100, "Deny", app("evil", "evil.blob.core.windows.net"))
    scene = Scene([policy("afwp", ("rcg", 300, [deny, coll("allow", 200, "Allow", EVERYTHING)]))])
    assert findings(scene) == []


# --- network rules, and their place before application rules ---------------------------------------


def test_network_rules_with_service_tags_allow_on_443() -> None:
    rules = [net("tags", "Storage", "AzureActiveDirectory", "EventHub.WestUS", "AzureSiteRecovery")]
    assert findings(Scene([allowing(*rules)])) == []


def test_network_rule_on_the_aad_tag_allows_aad_only() -> None:
    aad = net("aad", "AzureActiveDirectory", ports=("443-444",), protocols=["Any"])
    finding = only(Scene([allowing(aad)]))
    assert blocked(finding) == ALL - {"AzureActiveDirectory"}


def test_network_rule_on_the_wrong_port_or_protocol_does_not_allow() -> None:
    rules = [
        net("udp", "AzureActiveDirectory", protocols=["UDP"]),
        net("p80", "AzureActiveDirectory", ports=("80",)),
    ]
    assert "AzureActiveDirectory" in blocked(only(Scene([allowing(*rules)])))


def test_network_rule_covering_part_of_a_tag_leaves_the_rest_denied() -> None:
    part = net("half", "20.190.128.0/18", "Storage.EastUS", "EventHub.WestUS", "AzureSiteRecovery")
    finding = only(Scene([allowing(part)]))
    assert blocked(finding) == {"AzureActiveDirectory"}
    [aad] = [d for d in finding.evidence["destinations"] if d["destination"] == "AzureActiveDirectory"]
    assert aad["no_rule_allows_to"] == ["40.126.0.0/18"]


def test_two_addresses_of_one_firewall_make_one_finding() -> None:
    routes = [
        Route("aad", "AzureActiveDirectory", "VirtualAppliance", FW_IP),
        Route("asr", "AzureSiteRecovery", "VirtualAppliance", "10.50.1.5"),
    ]
    scene = Scene([allowing()], routes=routes)
    ctx = scene.context()
    ctx.inventory.azure_firewalls[0].private_ip_addresses.append("10.50.1.5")  # e.g. its virtual hub address
    [finding] = run("NET-FIREWALL-FQDN", ctx)
    assert blocked(finding) == {"AzureActiveDirectory", "AzureSiteRecovery"}


def test_network_rules_are_processed_before_application_rules() -> None:
    """An application Deny at priority 100 loses to a network Allow at 500; a network Deny at 500
    beats an application Allow at 100."""
    net_allow = coll("net-allow", 500, "Allow", net("all", "*"))
    app_deny = coll("app-deny", 100, "Deny", app("none", "*"))
    assert findings(Scene([policy("afwp", ("rcg", 300, [net_allow, app_deny]))])) == []
    net_deny = coll("net-deny", 500, "Deny", net("asr", "AzureSiteRecovery"))
    app_allow = coll("app-allow", 100, "Allow", EVERYTHING)
    finding = only(Scene([policy("afwp", ("rcg", 300, [net_deny, app_allow]))]))
    assert blocked(finding) == {"AzureSiteRecovery"}


def test_network_rule_with_the_destination_fqdn_allows_it() -> None:
    rule = net("login", destination_fqdns=[PUBLIC.identity])
    assert blocked(only(Scene([allowing(rule)]))) == ALL - {"AzureActiveDirectory"}


# --- base policies ----------------------------------------------------------------------------------


def test_base_policy_deny_comes_before_the_child_allow() -> None:
    base = policy("afwp-base", ("org", 65000, [coll("deny-all", 65000, "Deny", app("none", "*"))]))
    child = policy("afwp-child", ("local", 100, [coll("allow", 100, "Allow", EVERYTHING)]), base=base)
    finding = only(Scene([child, base]))
    assert blocked(finding) == ALL
    assert finding.evidence["policies"] == [base.id, child.id]
    assert "policy 'afwp-base'" in finding.message
    assert "base policy's rules precede" in finding.remediation


def test_base_policy_allow_serves_a_child_without_rules() -> None:
    base = policy("afwp-base", ("org", 300, [coll("asr", 300, "Allow", EVERYTHING)]))
    child = policy("afwp-child", base=base)
    assert findings(Scene([child, base])) == []


def test_missing_base_policy_is_unknown() -> None:
    base = policy("afwp-base", subscription=OTHER_SUBSCRIPTION)
    child = policy("afwp-child", ("local", 100, [coll("allow", 100, "Allow", EVERYTHING)]), base=base)
    finding = only(Scene([child]))
    assert finding.status == "unknown"
    assert f"subscription {OTHER_SUBSCRIPTION}, which was not scanned" in finding.message


# --- classic rules ---------------------------------------------------------------------------------


def test_classic_rule_collections_allow() -> None:
    scene = Scene(firewall_policy=None, classic=[coll("asr", 200, "Allow", EVERYTHING)])
    assert findings(scene) == []


def test_classic_network_deny_beats_an_earlier_application_allow() -> None:
    classic = [
        coll("apps", 100, "Allow", EVERYTHING),
        coll("no-aad", 4000, "Deny", net("aad", "AzureActiveDirectory", protocols=["TCP"])),
    ]
    finding = only(Scene(firewall_policy=None, classic=classic))
    assert blocked(finding) == {"AzureActiveDirectory"}
    assert "az network firewall application-rule create -g rg-hub -f fw-hub" in finding.remediation


def test_classic_firewall_without_rules_denies_everything() -> None:
    assert blocked(only(Scene(firewall_policy=None))) == ALL


# --- sources -----------------------------------------------------------------------------------------


def test_source_addresses_not_covering_the_subnet_fire_for_the_rest() -> None:
    rule = app("half", *FQDNS, source_addresses=["10.0.0.0/25"])
    finding = only(Scene([allowing(rule)]))
    assert blocked(finding) == ALL
    assert finding.evidence["destinations"][0]["no_rule_allows"] == ["10.0.0.128/25"]


@pytest.mark.parametrize(
    "sources", [["10.0.0.0/16"], ["10.0.0.0-10.0.0.255"], ["10.0.0.0/25", "10.0.0.128/25"]]
)
def test_sources_covering_the_subnet_allow(sources: list[str]) -> None:
    assert findings(Scene([allowing(app("asr", *FQDNS, source_addresses=sources))])) == []


def test_a_deny_for_part_of_the_subnet_blocks_partially() -> None:
    deny = coll("deny", 100, "Deny", app("quarantine", "*", source_addresses=["10.0.0.7"]))
    finding = only(Scene([policy("afwp", ("rcg", 300, [deny, coll("allow", 200, "Allow", EVERYTHING)]))]))
    [dest, *_] = finding.evidence["destinations"]
    assert dest["denied"][0]["sources"] == ["10.0.0.7/32"] and dest["denied"][0]["partial"] is True
    assert "denied for part of the subnet or tag" in finding.message


def test_dual_stack_subnet_needs_no_ipv6_source_for_ipv4_destinations() -> None:
    scene = Scene(
        [allowing(app("asr", *FQDNS, source_addresses=[SUBNET]))], subnet_prefixes=(SUBNET, "fd00::/64")
    )
    assert findings(scene) == []


# --- unknown ----------------------------------------------------------------------------------------


def test_missing_policy_is_unknown_never_a_pass() -> None:
    scene = Scene(firewall_policy=resource_id("Microsoft.Network/firewallPolicies", "gone", group="rg-hub"))
    finding = only(scene)
    assert finding.status == "unknown"
    assert "firewall policy 'gone' is not in the scanned inventory" in finding.message


def test_policy_whose_groups_were_not_read_is_unknown() -> None:
    finding = only(Scene([policy("afwp", rules_read=False)]))
    assert finding.status == "unknown" and "were not read" in finding.message


def test_policy_listing_a_group_that_was_not_read_is_unknown() -> None:
    listed = allowing(EVERYTHING)
    listed.rule_collection_group_ids.append(f"{listed.id}/ruleCollectionGroups/lost")
    finding = only(Scene([listed]))
    assert finding.status == "unknown" and "lost" in finding.message


def test_ip_group_sources_are_unknown_unless_the_rule_cannot_match() -> None:
    group = resource_id("Microsoft.Network/ipGroups", "ipg-spokes")
    unknown = app("grp", *FQDNS, source_addresses=[], source_ip_groups=[group])
    finding = only(Scene([allowing(unknown)]))
    assert finding.status == "unknown" and "IP group 'ipg-spokes'" in finding.message
    # port 80 only: the IP group cannot matter, and the next rule decides
    irrelevant = app("grp", *FQDNS, protocols=("Http:80",), source_addresses=[], source_ip_groups=[group])
    assert findings(Scene([allowing(irrelevant, EVERYTHING)])) == []


def test_a_deny_before_an_unknown_rule_still_fails() -> None:
    group = resource_id("Microsoft.Network/ipGroups", "ipg")
    deny = coll("deny", 100, "Deny", app("no-asr", PUBLIC.site_recovery))
    maybe = coll("maybe", 200, "Allow", app("grp", *FQDNS, source_addresses=[], source_ip_groups=[group]))
    finding = only(Scene([policy("afwp", ("rcg", 300, [deny, maybe]))]))
    assert finding.status == "fail" and blocked(finding) == {"AzureSiteRecovery"}
    assert "Not decidable" in finding.message


# --- routing decides what the firewall judges -------------------------------------------------------


@pytest.mark.parametrize(
    "routes",
    [
        [],  # system routes only: straight to the Internet
        [Route("to-nva", "0.0.0.0/0", "VirtualAppliance", NVA_IP)],  # NET-FORCED-TUNNEL's case
        [TO_FIREWALL, *(Route(f"bypass-{t}", t, "Internet") for t in sorted(ALL))],
    ],
)
def test_traffic_that_does_not_reach_the_firewall_is_not_judged(routes: list[Route]) -> None:
    assert findings(Scene([allowing()], routes=routes)) == []


def test_only_destinations_routed_to_the_firewall_are_judged() -> None:
    scene = Scene([allowing()], routes=[Route("asr-via-fw", "AzureSiteRecovery", "VirtualAppliance", FW_IP)])
    finding = only(scene)
    assert [d["destination"] for d in finding.evidence["destinations"]] == ["AzureSiteRecovery"]


def test_vault_private_endpoint_takes_site_recovery_off_the_firewall() -> None:
    rules = app("asr", PUBLIC.storage, PUBLIC.identity, PUBLIC.service_bus)
    assert findings(Scene([allowing(rules)], private_endpoint=True)) == []


# --- per cloud, per cache account --------------------------------------------------------------------


def test_china_cloud_needs_the_china_fqdns() -> None:
    china = CLOUDS["AzureChinaCloud"].endpoints
    finding = only(Scene([allowing(EVERYTHING)], cloud="AzureChinaCloud"))
    assert blocked(finding) == ALL
    for fqdn in (china.storage, china.identity, china.site_recovery, china.service_bus):
        assert fqdn in finding.message
    rules = app("cn", china.storage, china.identity, china.site_recovery, china.service_bus)
    assert findings(Scene([allowing(rules)], cloud="AzureChinaCloud")) == []


def test_naming_the_cache_accounts_is_enough_for_storage() -> None:
    caches = ("stcache1", "stcache2")
    named = app("asr", "stcache1.blob.core.windows.net", "stcache2.blob.core.windows.net", *FQDNS[1:])
    assert findings(Scene([allowing(named)], caches=caches)) == []
    one = app("asr", "stcache1.blob.core.windows.net", *FQDNS[1:])
    finding = only(Scene([allowing(one)], caches=caches))
    [storage] = [d for d in finding.evidence["destinations"] if d["status"] == "blocked"]
    assert storage["blocked_fqdns"] == ["stcache2.blob.core.windows.net"]


def test_without_service_tags_a_default_route_to_the_firewall_is_unknown() -> None:
    ctx = Scene([allowing(EVERYTHING)]).context()
    ctx.inventory.service_tags.clear()
    [finding] = run("NET-FIREWALL-FQDN", ctx)
    assert finding.status == "unknown" and "service tags were not collected" in finding.message


def test_a_tag_route_to_the_firewall_whose_tag_was_not_collected_is_unknown() -> None:
    routes = [Route("kv-via-fw", "AzureKeyVault", "VirtualAppliance", FW_IP)]
    finding = only(Scene([allowing(EVERYTHING)], routes=routes))
    assert (
        finding.status == "unknown" and "route 'kv-via-fw' sends service tag AzureKeyVault" in finding.message
    )


def test_web_category_and_fqdn_tag_denies_are_listed_not_counted() -> None:
    deny = coll(
        "deny-cats",
        100,
        "Deny",
        app("cats", web_categories=["Gambling"]),
        app("tags", fqdn_tags=["WindowsUpdate"]),
    )
    allow = coll("allow", 200, "Allow", app("asr", PUBLIC.storage, PUBLIC.identity, PUBLIC.service_bus))
    finding = only(Scene([policy("afwp", ("rcg", 300, [deny, allow]))]))
    assert blocked(finding) == {"AzureSiteRecovery"}  # by default, not by the category rule
    [asr] = [d for d in finding.evidence["destinations"] if d["destination"] == "AzureSiteRecovery"]
    assert "denied" not in asr and [d["rule"] for d in asr["uncounted_denies"]] == ["cats", "tags"]
