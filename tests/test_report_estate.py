"""The estate summary: built from the demo and from small inventories, masked with the report,
in the JSON report, and as plain lines that fit a width."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jsonschema
import pytest
from builders import (
    OTHER_SUBSCRIPTION,
    SUBSCRIPTION,
    a2a_item,
    inventory,
    network_mapping,
    subnet_id,
    vault,
    virtual_network,
    vm_with_nic,
)
from demo_report import CONNECTIVITY, PROD, demo_report

from asr_audit.access.clouds import CLOUDS
from asr_audit.app import runner
from asr_audit.app.masking import MASK, mask_report
from asr_audit.inventory import Coverage, ExpressRouteCircuit, Subscription
from asr_audit.report import Report, estate, render
from asr_audit.report.estate import Estate, estate_lines

SCHEMA = json.loads((Path(__file__).parent / "data" / "asr-audit-report.schema.json").read_text("utf-8"))


def demo_estate() -> Estate:
    built = demo_report().estate
    assert built is not None
    return built


def test_demo_names_its_subscriptions_pairs_and_vm_counts() -> None:
    summary = demo_estate()
    assert [(s.id, s.name) for s in summary.subscriptions] == [
        (CONNECTIVITY, "Fabrikam Connectivity"),
        (PROD, "Fabrikam Prod"),
    ]
    pairs = {(p.source, p.target): p for p in summary.region_pairs}
    assert list(pairs)[:4] == [
        ("eastus", "westus2"),
        ("eastus", "eastus"),
        ("brazilsouth", "brazilsoutheast"),
        ("brazilsouth", "westus2"),
    ]
    main = pairs[("eastus", "westus2")]
    assert (main.protected, main.candidate, main.mappings) == (14, 0, 2)
    assert main.vaults == ("rsv-fabrikam-cus", "rsv-fabrikam-dr-wus2", "rsv-fabrikam-eus")
    # The reverse mappings prepared for failback are pairs with no VMs.
    assert (pairs[("westus2", "eastus")].protected, pairs[("westus2", "eastus")].mappings) == (0, 1)
    assert (summary.protected_vms, summary.candidate_vms) == (19, 0)


def test_demo_vaults_recovery_vnets_circuits_and_coverage() -> None:
    summary = demo_estate()
    assert {v.name: (v.region, v.protected_items) for v in summary.vaults}["rsv-fabrikam-dr-wus2"] == (
        "westus2",
        18,
    )
    recovery = {n.name: n.region for n in summary.recovery_vnets}
    assert recovery["vnet-dr-cus"] == "centralus"  # the misplaced one the rules flag
    assert "vnet-hub-eus" not in recovery
    circuits = {c.name: (c.peering_location, c.sku, c.provider) for c in summary.circuits}
    assert circuits["er-fabrikam-wdc-2"] == ("Washington DC", "Standard/MeteredData", "Megaport")
    assert (summary.coverage.runs, summary.coverage.gaps, summary.coverage.by_status) == (
        len(demo_report().coverage),
        1,
        (("forbidden", 1),),
    )


def _readiness_estate(**audit: object) -> Estate:
    src = virtual_network("vnet-src", "eastus")
    dst = virtual_network("vnet-dst", "westus", prefixes=("10.9.0.0/16",))
    vm, nic = vm_with_nic("vm1", "eastus", subnet_id(src))
    inv = inventory(src, dst, vm, nic, subscriptions=(SUBSCRIPTION, OTHER_SUBSCRIPTION))
    inv.subscriptions[1].display_name = "Other"
    report = runner.audit(inv, cloud=CLOUDS["AzureCloud"], **audit)  # type: ignore[arg-type]
    assert report.estate is not None
    return report.estate


def test_readiness_counts_candidates_under_the_flags_pair() -> None:
    summary = _readiness_estate(source_region="eastus", target_region="westus")
    assert [(p.source, p.target, p.protected, p.candidate) for p in summary.region_pairs] == [
        ("eastus", "westus", 0, 1)
    ]
    assert (summary.protected_vms, summary.candidate_vms) == (0, 1)
    assert [n.name for n in summary.recovery_vnets] == ["vnet-dst"]  # the target region's VNets
    assert estate.subscription_label(summary.subscriptions[0]) == SUBSCRIPTION  # no name collected
    assert estate.subscription_label(summary.subscriptions[1]) == f"Other ({OTHER_SUBSCRIPTION})"


def test_no_scope_means_no_pairs_and_flags_pair_names_the_missing_side() -> None:
    assert _readiness_estate().region_pairs == ()
    only_source = _readiness_estate(source_region="eastus")
    assert [(p.source, p.target) for p in only_source.region_pairs] == [("eastus", estate.NOT_GIVEN)]


def test_pairs_come_from_items_and_mappings_with_their_vaults() -> None:
    rsv = vault("rsv-west", "westus")
    src = virtual_network("vnet-src", "eastus")
    dst = virtual_network("vnet-dst", "westus")
    vm, nic = vm_with_nic("vm1", "eastus", subnet_id(src))
    item = a2a_item(rsv, vm, recovery_network_id=dst.id)
    forward, back = (
        network_mapping(
            rsv,
            name,
            primary_network_id=a.id,
            recovery_network_id=b.id,
            primary_location=a.location,
            recovery_location=b.location,
        )
        for name, a, b in (("m1", src, dst), ("m2", dst, src))
    )
    report = runner.audit(inventory(rsv, src, dst, vm, nic, item, forward, back), cloud=CLOUDS["AzureCloud"])
    assert report.estate is not None
    assert [(p.source, p.target, p.protected, p.mappings, p.vaults) for p in report.estate.region_pairs] == [
        ("eastus", "westus", 1, 1, ("rsv-west",)),
        ("westus", "eastus", 0, 1, ("rsv-west",)),
    ]
    assert [(v.name, v.protected_items) for v in report.estate.vaults] == [("rsv-west", 1)]


def test_masking_hides_subscription_ids_and_keeps_display_names() -> None:
    masked = mask_report(demo_report())
    assert masked.estate is not None
    dumped = json.dumps(masked.estate.to_json())
    assert PROD not in dumped and CONNECTIVITY not in dumped
    assert masked.estate.subscriptions[1].name == "Fabrikam Prod"
    assert masked.estate.subscriptions[1].id == MASK + PROD[-4:]
    assert all(v.id.startswith(f"/subscriptions/{MASK}") for v in masked.estate.vaults)
    assert PROD in json.dumps(demo_estate().to_json())  # the real report is left as it was


def test_json_report_carries_the_estate_valid_against_the_schema() -> None:
    doc = json.loads(render(demo_report(), "json"))
    jsonschema.validate(doc, SCHEMA)
    assert doc["estate"]["subscriptions"][0] == {
        "id": CONNECTIVITY,
        "name": "Fabrikam Connectivity",
        "state": "Enabled",
    }
    assert doc["estate"]["region_pairs"][0]["protected"] == 14
    doc["estate"]["region_pairs"][0]["protected"] = -1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMA)


@pytest.mark.parametrize("width", [120, 80, 40, 12])
def test_lines_fit_the_width(width: int) -> None:
    lines = estate_lines(demo_estate(), width)
    assert len(lines) >= 20
    assert [line for line in lines if len(line) > width] == []


def test_lines_label_each_part_and_list_one_pair_per_line() -> None:
    lines = estate_lines(demo_estate(), 120)
    labels = [line.split(":", 1)[0] for line in lines if not line.startswith(" ")]
    assert labels == [
        "Subscriptions",
        "Region pairs",
        "VMs",
        "Vaults",
        "Policies",
        "Recovery VNets",
        "Circuits",
        "Coverage",
    ]
    pair_lines = [line.strip() for line in lines if "->" in line]
    assert pair_lines[0].startswith("Region pairs:   eastus -> westus2: 14 protected VMs, 2 network mappings")
    assert any(line.startswith("eastus -> eastus: 3 protected VMs") for line in pair_lines)
    runs = len(demo_report().coverage)
    assert lines[-1] == f"Coverage:       incomplete: 1 of {runs} collector runs failed (1 forbidden)"


def test_lines_make_terminal_escapes_visible() -> None:
    inv = inventory(subscriptions=(SUBSCRIPTION,))
    inv.subscriptions = [Subscription(SUBSCRIPTION, "Prod\x1b[2J\u202eevil")]
    inv.express_route_circuits = [ExpressRouteCircuit(id="/x/er1", name="er1", location="eastus")]
    inv.coverage = [Coverage(SUBSCRIPTION, "vaults", "ok")]
    text = "\n".join(estate_lines(estate.build(inv, estate.DrScope()), 100))
    assert "\x1b" not in text and "\u202e" not in text
    assert "Prod\\x1b[2J\\u202eevil" in text
    assert "er1 (peering location unknown)" in text
    assert "complete: all 1 collector run read their data" in text
    assert "Region pairs:   none" in text


def test_the_table_and_csv_take_names_and_summary_from_the_estate() -> None:
    """Without names handed in, the terminal table opens with the estate and shows subscriptions
    by name, and the CSV fills `subscription_name`: both from the report itself, so a masked
    report (whose estate is masked with it) keeps the names that tell its subscriptions apart."""
    import csv
    import io

    from asr_audit.report import csv_report, table

    for report in (demo_report(), mask_report(demo_report())):
        text = table.render(report, width=100)
        assert text.splitlines()[1].startswith("Subscriptions:")
        assert "Fabrikam Prod" in text
        rows = list(csv.DictReader(io.StringIO(csv_report.render(report))))
        assert rows and {r["subscription_name"] for r in rows} <= {"Fabrikam Prod", "Fabrikam Connectivity"}
        assert {r["subscription_name"] for r in rows} != {""}
    bare = dataclasses.replace(demo_report(), estate=None)  # a copy: demo_report() is shared
    assert not table.render(bare, width=100).splitlines()[1].startswith("Subscriptions:")


# --- replication policies ------------------------------------------------------------------------

DR_WUS2 = "rsv-fabrikam-dr-wus2"
A2A_24H = (
    "24-hour-retention-policy",
    "A2A: recovery points kept 1 day, app-consistent every 4 hours, crash-consistent every 5 minutes, "
    "multi-VM sync Enable",
)
HYPER_V_4H = (
    "hyperv-4h-policy",
    "HyperVReplicaAzure: recovery points kept 4 hours, app-consistent every 1 hour, "
    "replication every 5 minutes",
)


def test_demo_vaults_list_their_replication_policies() -> None:
    vaults = {v.name: v for v in demo_estate().vaults}
    shown = {p.name: estate.policy_detail(p) for p in vaults[DR_WUS2].policies}
    assert list(shown) == [
        "24-hour-retention-policy",
        "hyperv-24-hour-policy",
        "hyperv-4h-policy",
        "vmware-rcm-policy",
    ]
    assert (shown[A2A_24H[0]], shown[HYPER_V_4H[0]]) == (A2A_24H[1], HYPER_V_4H[1])
    assert shown["hyperv-24-hour-policy"].endswith("replication every 30 seconds")
    assert shown["vmware-rcm-policy"] == "InMageRcm"  # another provider: name and type only
    assert [estate.policy_detail(p) for p in vaults["rsv-fabrikam-z2z-eus"].policies] == [
        "A2A: multi-VM sync Disable"
    ]
    assert all(v.policies_unread is None for v in vaults.values())


def _forbidden_policies() -> Report:
    """The demo as if the policy list of rsv-fabrikam-dr-wus2 had answered 403."""
    report = demo_report()
    assert report.estate is not None
    vaults = tuple(
        dataclasses.replace(v, policies=(), policies_unread="forbidden") if v.name == DR_WUS2 else v
        for v in report.estate.vaults
    )
    return dataclasses.replace(report, estate=dataclasses.replace(report.estate, vaults=vaults))


@pytest.mark.parametrize("output", ["table", "markdown", "html", "json"])
def test_every_format_shows_the_policies_and_a_vault_whose_policies_were_not_read(output: str) -> None:
    read = render(demo_report(), output)
    for name, detail in (A2A_24H, HYPER_V_4H):
        assert name in read
        if output != "table":  # the terminal wraps its lines
            assert detail in read or output == "json"
    unread = render(_forbidden_policies(), output)
    if output == "json":
        [vault] = [v for v in json.loads(unread)["estate"]["vaults"] if v["name"] == DR_WUS2]
        assert (vault["policies"], vault["policies_unread"]) == ([], "forbidden")
        jsonschema.validate(json.loads(unread), SCHEMA)
    else:
        assert "policies not read (forbidden)" in unread
        assert HYPER_V_4H[0] not in unread


def test_lines_show_each_policy_under_its_vault_and_an_unread_vault_as_unread() -> None:
    lines = " ".join(line.strip() for line in estate_lines(demo_estate(), 1000))
    assert f"{DR_WUS2}: {A2A_24H[0]} ({A2A_24H[1]})" in lines
    unread = _forbidden_policies().estate
    assert unread is not None
    text = "\n".join(estate_lines(unread, 1000))
    assert f"{DR_WUS2}: policies not read (forbidden)" in text
    assert f"{DR_WUS2}: {A2A_24H[0]}" not in text


def test_policies_without_any_coverage_record_are_not_shown_as_none() -> None:
    """An inventory that never ran the read (an older snapshot, or built by hand) has no record:
    the vault's policies are `not_collected`, never an empty list that reads as "no policies"."""
    rsv = vault("rsv-west", "westus")
    inv = inventory(rsv)
    [summary] = estate.build(inv, estate.DrScope()).vaults
    assert (summary.policies, summary.policies_unread) == ((), "not_collected")
    inv.coverage.append(Coverage(SUBSCRIPTION, f"replication_policies:{rsv.name}", "ok", object_id=rsv.id))
    [summary] = estate.build(inv, estate.DrScope()).vaults
    assert (summary.policies, summary.policies_unread) == ((), None)  # read: it has none
