"""`asr-audit rules`: every registered rule with complete metadata, in table, json and markdown."""

from __future__ import annotations

import json
import re

import pytest

from asr_audit.app.catalog import render_catalog, rule_record, source_date
from asr_audit.findings import Severity
from asr_audit.rules import all_rules
from asr_audit.rules.base import RuleMeta, docs_page
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


def test_json_lists_every_registered_rule_once_sorted(catalog: dict) -> None:
    listed = [r["id"] for r in catalog["rules"]]
    assert listed == sorted(all_rules())
    assert set(listed) >= MACHINE_AND_ASR_RULES


def test_every_rule_has_complete_metadata(catalog: dict) -> None:
    for record in catalog["rules"]:
        rid = record["id"]
        assert re.fullmatch(r"[A-Z]+(-[A-Z0-9]+)+", rid), rid
        assert record["severity"] in {s.value for s in Severity}, rid
        assert record["category"] in {"placement", "storage", "network", "expressroute", "machines", "asr"}, (
            rid
        )
        assert record["title"], rid
        for key in ("rationale", "remediation", "source"):
            assert len(record[key]) >= 20, (rid, key)
        assert record["docs"].startswith("https://learn.microsoft.com/"), rid
        assert record["page"] == docs_page(rid)
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
    rules = all_rules()
    assert text.startswith(f"asr-audit rule catalog: {len(rules)} rules")
    for rid, rule in rules.items():
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
    for rid in all_rules():
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
    for rule_id, rule in all_rules().items():
        assert records[rule_id]["reads"] == list(rule.meta.needs) != []
    assert records["NET-ADDRESS-OVERLAP"]["severities"] == ["high", "info"]
    assert records["ASR-HEALTH"]["severities"] == ["high", "medium"]
    assert records["VM-NAME"]["severities"] == ["high"]
