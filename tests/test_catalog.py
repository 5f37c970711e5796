"""`asr-audit rules`: every catalogued rule with complete metadata, in table, json and markdown."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from types import ModuleType

import pytest

from asr_audit.access.clouds import CLOUDS
from asr_audit.app import runner
from asr_audit.app.catalog import render_catalog, rule_record, source_date
from asr_audit.findings import Finding, FindingStatus, RuleMeta, Severity
from asr_audit.inventory import Coverage, Inventory
from asr_audit.rules import analyze
from asr_audit.rules.base import Context, Rule
from asr_audit.rules.catalog import RULE_MODULES, Catalog, UnknownRuleError, default_catalog
from asr_audit.rules.thresholds import THRESHOLDS

# The rules this issue adds (DESIGN.md §4); the other ids come from their own modules.
MACHINE_AND_ASR_RULES = {
    "VM-NAME",
    "DSK-SIZE",
    "DSK-COUNT",
    "VM-EPHEMERAL-OS",
    "VM-UNSUPPORTED",
    "NIC-ASG",
    "ASR-HEALTH",
    "ASR-NETMAP-REVERSE",
}


@pytest.fixture(scope="module")
def catalog() -> dict:
    return json.loads(render_catalog("json"))


def test_json_lists_every_catalogued_rule_once_sorted(catalog: dict) -> None:
    listed = [r["id"] for r in catalog["rules"]]
    assert listed == default_catalog().ids()
    assert set(listed) >= MACHINE_AND_ASR_RULES


def test_every_rule_has_complete_metadata(catalog: dict) -> None:
    for record in catalog["rules"]:
        rid = record["id"]
        assert re.fullmatch(r"[A-Z]+(-[A-Z0-9]+)+", rid), rid
        assert record["severity"] in {s.value for s in Severity}, rid
        assert record["category"] in {
            "placement",
            "storage",
            "network",
            "expressroute",
            "machines",
            "asr",
            "encryption",
        }, rid
        assert record["title"], rid
        for key in ("rationale", "remediation", "source"):
            assert len(record[key]) >= 20, (rid, key)
        assert record["docs"].startswith("https://learn.microsoft.com/"), rid
        assert record["page"] == f"asr-audit explain {rid}"
        assert record["source_date"], f"{rid}: source names no date"


def test_seed_values_are_shown_where_the_seed_differs(catalog: dict) -> None:
    seeds = {r["id"]: r["seed_value"] for r in catalog["rules"]}
    assert "1,023 GB" in seeds["DSK-SIZE"]
    assert "16" in seeds["DSK-COUNT"]
    assert seeds["ASR-HEALTH"] is None


def test_json_carries_the_thresholds_with_their_seed_values(catalog: dict) -> None:
    by_key = {t["key"]: t for t in catalog["thresholds"]}
    assert set(by_key) == set(THRESHOLDS)
    assert by_key["managed_data_disk_max_gib"]["default"] == 32767
    assert by_key["managed_data_disk_max_gib"]["seed_value"] == 1023
    assert by_key["hyperv_data_disk_count_max"] == {
        "key": "hyperv_data_disk_count_max",
        "default": 16,
        "unit": "disks",
        "description": THRESHOLDS["hyperv_data_disk_count_max"].description,
        "source": THRESHOLDS["hyperv_data_disk_count_max"].source,
        "seed_value": 16,
    }


def test_table_shows_each_rule_with_its_rationale_and_fix() -> None:
    text = render_catalog("table")
    rules = default_catalog()
    assert text.startswith(f"asr-audit rule catalog: {len(rules)} rules")
    for rule in rules:
        rid = rule.id
        assert re.search(
            rf"^{re.escape(rid)}  \[{rule.meta.severity.value}, {rule.meta.category}\]", text, re.M
        )
    block = text.split("\nDSK-SIZE  ", 1)[1].split("\n\n", 1)[0]
    assert "\n  Why     Site Recovery replicates" in block and "\n  Fix     Bring the disk" in block
    assert "\n  Seed    1,023 GB per disk" in block
    assert (
        "\n  Docs    https://learn.microsoft.com/azure/site-recovery/azure-to-azure-support-matrix#" in block
    )
    wrapped = [line for line in text.splitlines() if line.startswith("  ") and "://" not in line]
    assert wrapped and all(len(line) <= 100 for line in wrapped)


def test_markdown_has_a_row_and_a_section_per_rule() -> None:
    text = render_catalog("markdown")
    for rid in default_catalog().ids():
        assert f"| [{rid}]({rid}.md) |" in text
        assert f"\n## {rid}: " in text


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown catalog format 'yaml'"):
        render_catalog("yaml")


@pytest.mark.parametrize(
    ("source", "date"),
    [
        ("Support matrix (learn.microsoft.com, 2025-06-13), storage; seed (2016-12-11)", "2025-06-13"),
        ("Reliability in Azure Site Recovery (2026)", "2026"),
        ("no date at all", None),
    ],
)
def test_source_date_is_the_first_date_named(source: str, date: str | None) -> None:
    meta = RuleMeta("X-Y", "t", Severity.LOW, "asr", "r", "f", "https://learn.microsoft.com/x", source)
    assert source_date(meta) == date
    assert rule_record(meta)["source_date"] == date


def test_json_lists_what_each_rule_reads_and_every_severity_it_reports(catalog: dict) -> None:
    records = {r["id"]: r for r in catalog["rules"]}
    for rule in default_catalog():
        rule_id = rule.id
        assert records[rule_id]["reads"] == list(rule.meta.needs) != []
    assert records["NET-ADDRESS-OVERLAP"]["severities"] == ["high", "info"]
    assert records["ASR-HEALTH"]["severities"] == ["high", "medium"]
    assert records["VM-NAME"]["severities"] == ["high"]


# --- the Catalog object ------------------------------------------------------------------------------


def _meta(rule_id: str) -> RuleMeta:
    return RuleMeta(
        rule_id, "t", Severity.LOW, "asr", "r", "f", "https://learn.microsoft.com/x", "s", needs=("vaults",)
    )


def _rule(rule_id: str, fires: bool = False) -> Rule:
    meta = _meta(rule_id)

    def check(ctx: Context) -> list[Finding]:
        return [meta.finding(resource_id="/subscriptions/s", message="m")] if fires else []

    return Rule(meta, check)


def test_a_catalog_refuses_two_rules_with_one_id() -> None:
    with pytest.raises(ValueError, match="duplicate rule id ASR-X"):
        Catalog([_rule("ASR-X"), _rule("ASR-X")])


def test_a_catalog_iterates_in_id_order_and_selects_by_id() -> None:
    catalog = Catalog([_rule("VM-B"), _rule("ASR-A"), _rule("DSK-C")])
    assert [r.id for r in catalog] == catalog.ids() == ["ASR-A", "DSK-C", "VM-B"]
    assert catalog.select(["VM-B", "ASR-A"]).ids() == ["ASR-A", "VM-B"]
    assert catalog.without(["DSK-C", "NOT-THERE"]).ids() == ["ASR-A", "VM-B"]
    assert "DSK-C" in catalog and catalog.get("NOPE") is None and len(catalog) == 3
    with pytest.raises(UnknownRuleError) as raised:
        catalog.select(["ASR-A", "NOPE"])
    assert raised.value.unknown == ["NOPE"] and raised.value.known == catalog.ids()


def test_a_catalog_collects_each_rule_a_module_defines_once() -> None:
    first, second = ModuleType("first"), ModuleType("second")
    first.CHECK = _rule("ASR-A")  # type: ignore[attr-defined]
    second.CHECK = first.CHECK  # type: ignore[attr-defined]  # imported from the first module
    second.OTHER = _rule("ASR-B")  # type: ignore[attr-defined]
    assert Catalog.from_modules([first, second]).ids() == ["ASR-A", "ASR-B"]


def test_the_default_catalog_is_built_once_from_the_rule_modules() -> None:
    assert default_catalog() is default_catalog()
    modules = {r.check.__module__ for r in default_catalog()}
    assert modules == {f"asr_audit.rules.{name}" for name in RULE_MODULES}


def test_analyze_runs_the_catalog_it_is_handed_with_the_gaps_of_its_rules() -> None:
    inventory = Inventory(coverage=[Coverage("s", "vaults", "forbidden")])
    found = analyze(Context(inventory), Catalog([_rule("ASR-A", fires=True), _rule("ASR-B")]))
    assert sorted((f.rule_id, f.status) for f in found) == [
        ("ASR-A", FindingStatus.FAIL),
        ("ASR-A", FindingStatus.UNKNOWN),
        ("ASR-B", FindingStatus.UNKNOWN),
    ]


def test_a_run_hands_the_metadata_of_its_rules_to_the_report() -> None:
    catalog = Catalog([_rule("ASR-A", fires=True), _rule("ASR-B")])
    report = runner.audit(Inventory(), cloud=CLOUDS["AzureCloud"], catalog=catalog, rules=["ASR-B"])
    assert report.rules_run == ["ASR-B"] and report.rules == {"ASR-B": catalog["ASR-B"].meta}
    assert report.findings == []
    assert runner.audit(Inventory(), cloud=CLOUDS["AzureCloud"], catalog=catalog).rules == catalog.metas()


def test_statuses_stay_plain_strings_in_json() -> None:
    meta = _meta("ASR-A")
    finding = meta.finding(resource_id="/subscriptions/s", message="m", status=FindingStatus.UNKNOWN)
    assert finding.status == "unknown" and f"{finding.status}" == "unknown"
    assert json.loads(json.dumps(finding.to_json()))["status"] == "unknown"


def test_the_report_layer_does_not_import_the_rules() -> None:
    script = (
        "import sys\n"
        "import asr_audit.report.sarif, asr_audit.report.junit, asr_audit.report.markdown\n"
        "print(sorted(m for m in sys.modules if m.startswith('asr_audit.rules')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
