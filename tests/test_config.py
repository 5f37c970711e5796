"""`--config FILE`: threshold overrides, and a usage error naming the key and line for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from asr_audit.app.config import load_thresholds, parse_thresholds
from asr_audit.errors import EXIT_USAGE, UsageError
from asr_audit.inventory import Inventory, VirtualMachine, VmDisk
from asr_audit.rules.base import Context
from asr_audit.rules.catalog import default_catalog
from asr_audit.rules.thresholds import THRESHOLDS, defaults, limit


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "asr-audit.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_overrides_replace_only_the_named_defaults(tmp_path: Path) -> None:
    result = load_thresholds(write(tmp_path, "thresholds:\n  managed_data_disk_max_gib: 65535\n"))
    assert result["managed_data_disk_max_gib"] == 65535
    assert {k: v for k, v in result.items() if k != "managed_data_disk_max_gib"} == {
        k: t.default for k, t in THRESHOLDS.items() if k != "managed_data_disk_max_gib"
    }


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "thresholds:\n", "thresholds: {}\n"])
def test_empty_config_means_defaults(text: str) -> None:
    assert parse_thresholds(text) == defaults()


def test_a_loaded_override_changes_what_a_rule_reports(tmp_path: Path) -> None:
    thresholds = load_thresholds(write(tmp_path, "thresholds:\n  data_disk_count_max: 8\n"))
    machine = VirtualMachine(
        id="/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/virtualMachines/vm1",
        name="vm1",
        location="eastus",
        data_disks=[VmDisk(lun=i, disk_size_gb=8) for i in range(10)],
    )
    inv = Inventory(virtual_machines=[machine])
    check = default_catalog()["DSK-COUNT"].check
    assert list(check(Context(inv, source_region="eastus"))) == []
    [finding] = check(Context(inv, source_region="eastus", thresholds=thresholds))
    assert finding.evidence["limit"] == 8


def test_limit_falls_back_to_the_documented_default() -> None:
    assert limit({}, "data_disk_count_max") == 64
    assert limit({"data_disk_count_max": 32}, "data_disk_count_max") == 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("thresholds:\n  os_disk_max_gb: 5\n", "line 2: unknown threshold 'os_disk_max_gb'"),
        ("limits:\n  os_disk_max_gib: 5\n", "line 1: unknown section 'limits'"),
        (
            "thresholds:\n  os_disk_max_gib: '5000'\n",
            "line 2: thresholds.os_disk_max_gib must be a non-negative integer",
        ),
        ("thresholds:\n  os_disk_max_gib: 4095.5\n", "line 2: thresholds.os_disk_max_gib"),
        ("thresholds:\n  os_disk_max_gib: true\n", "line 2: thresholds.os_disk_max_gib"),
        ("thresholds:\n  os_disk_max_gib: -1\n", "line 2: thresholds.os_disk_max_gib"),
        ("thresholds:\n  os_disk_max_gib: [1]\n", "line 2: thresholds.os_disk_max_gib"),
        ("thresholds:\n  a: 1\n  a: 2\n", "line 3: duplicate key 'a'"),
        ("thresholds: [os_disk_max_gib]\n", "line 1: thresholds must be a mapping"),
        ("- thresholds\n", "line 1: the top level must be a mapping"),
        ("thresholds:\n  os_disk_max_gib: [\n", "invalid YAML"),
        ("thresholds:\n\tos_disk_max_gib: 1\n", "line 2: invalid YAML"),
    ],
)
def test_bad_config_is_a_usage_error_naming_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UsageError) as err:
        load_thresholds(path)
    assert expected in str(err.value)
    assert str(path) in str(err.value)
    assert err.value.exit_code == EXIT_USAGE


def test_unreadable_config_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read config"):
        load_thresholds(tmp_path / "missing.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(UsageError, match="cannot read config"):
        load_thresholds(binary)
