"""NET-NSG-IP-RULES: destinations an NSG lets out only through IP-range rules, on the scenes of
the NSG outbound tests (a protected VM East US -> West US, the NSGs on its path)."""

from __future__ import annotations

import pytest
from builders import analyzed, gap, security_rule
from test_rule_nsg import DENY_INTERNET, Scene, allows, findings, out

from asr_audit.findings import Severity
from asr_audit.inventory import SecurityRule
from asr_audit.rules.nsg_ip_rules import is_ip_range_allow

TAGGED = allows(["Storage.EastUS", "AzureActiveDirectory", "EventHub.WestUS"])
SITE_RECOVERY_IPS = out("Allow-ASR-IPs", 140, "Allow", ["52.10.0.0/25", "52.10.0.128/25"])


def test_nsg_ip_rules_fires_when_a_destination_passes_only_through_ip_ranges() -> None:
    [finding] = findings("NET-NSG-IP-RULES", Scene(subnet_rules=[*TAGGED, SITE_RECOVERY_IPS, DENY_INTERNET]))
    assert (finding.rule_id, finding.severity) == ("NET-NSG-IP-RULES", Severity.LOW)
    assert finding.resource_id.endswith("/networkSecurityGroups/nsg-subnet")
    assert finding.evidence["destinations"] == ["AzureSiteRecovery"]
    assert finding.evidence["ip_range_rules"] == {"Allow-ASR-IPs": ["52.10.0.0/25", "52.10.0.128/25"]}


def test_nsg_ip_rules_names_the_nsg_that_depends_on_them_not_the_other_one_on_the_path() -> None:
    scene = Scene(nic_rules=[SITE_RECOVERY_IPS, DENY_INTERNET], subnet_rules=allows(["AzureSiteRecovery"]))
    found = findings("NET-NSG-IP-RULES", scene)
    assert [f.resource_id.rsplit("/", 1)[-1] for f in found] == ["nsg-nic"]


@pytest.mark.parametrize(
    "rules",
    [
        # the tag rule covers it too: the IP rule is redundant, not load-bearing
        [*TAGGED, SITE_RECOVERY_IPS, *allows(["AzureSiteRecovery"], first=150), DENY_INTERNET],
        # nothing denies the rest: the default AllowInternetOutBound lets new prefixes out
        [*TAGGED, SITE_RECOVERY_IPS],
        # only part of the tag is listed: the path is already blocked (NET-NSG-OUTBOUND's finding)
        [*TAGGED, out("Allow-ASR-Half", 140, "Allow", ["52.10.0.0/25"]), DENY_INTERNET],
    ],
    ids=["redundant", "no-deny", "already-blocked"],
)
def test_nsg_ip_rules_silent_when_replication_does_not_depend_on_the_ranges(
    rules: list[SecurityRule],
) -> None:
    assert "NET-NSG-IP-RULES" not in [
        f.rule_id for f in findings("NET-NSG-IP-RULES", Scene(subnet_rules=rules))
    ]


def test_nsg_ip_rules_records_the_nsgs_it_judged() -> None:
    ctx = Scene(subnet_rules=[*allows(["AzureSiteRecovery"]), *TAGGED, DENY_INTERNET]).context()
    assert analyzed("NET-NSG-IP-RULES", ctx) == []
    assert [c.resource_id.rsplit("/", 1)[-1] for c in ctx.checks if c.rule_id == "NET-NSG-IP-RULES"] == [
        "nsg-subnet"
    ]


@pytest.mark.parametrize(
    ("dest", "ip_range"),
    [
        (["52.10.0.0/24"], True),
        (["52.10.0.0/24", "2603:1030::/48"], True),
        (["0.0.0.0/0"], False),  # the whole space is `*`
        (["AzureSiteRecovery"], False),
        (["52.10.0.0/24", "Storage"], False),
        ([], False),
    ],
)
def test_what_counts_as_an_ip_range_rule(dest: list[str], ip_range: bool) -> None:
    assert is_ip_range_allow(out("r", 100, "Allow", dest)) is ip_range
    assert not is_ip_range_allow(security_rule("r", 100, "Deny", dest))


def test_nsg_ip_rules_is_unknown_when_the_nsgs_could_not_be_read() -> None:
    scene = Scene(subnet_rules=[*TAGGED, SITE_RECOVERY_IPS, DENY_INTERNET])
    ctx = scene.context()
    ctx.inventory.coverage.append(gap("network_security_groups"))
    assert "unknown" in [f.status for f in analyzed("NET-NSG-IP-RULES", ctx)]
