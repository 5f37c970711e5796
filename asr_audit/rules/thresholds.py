"""Numeric limits the rules compare against, in one place.

Microsoft changes these limits every few years (the 2016 seed said 1,023 GB per disk and 16
disks; today an A2A data disk may be 32 TiB and a VM may have 64). Keeping them as data, with
the document each comes from and the seed's value beside it, makes such a change a one-line
edit or a `--config` override (see `asr_audit.app.config`) rather than a code change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

A2A_MATRIX = (
    "Support matrix for Azure VM disaster recovery between Azure regions, "
    "Replicated machines - storage (learn.microsoft.com, 2026-01-01)"
)
HYPERV_MATRIX = (
    "Support matrix for disaster recovery of on-premises Hyper-V VMs to Azure, "
    "Azure VM requirements (learn.microsoft.com, 2020-01-27)"
)
HYPERV_OS_MATRIX = (
    "Support matrix for disaster recovery of on-premises Hyper-V VMs to Azure, "
    "Azure VM requirements (learn.microsoft.com, 2018-08-01 copy)"
)
VMWARE_MATRIX = (
    "Support matrix for disaster recovery of VMware VMs and physical servers to Azure, "
    "Azure VM requirements (learn.microsoft.com, 2019-10-15)"
)
DRILL_ADVICE = (
    "asr-audit's choice: Site Recovery sets no drill interval; twice a year, as business-continuity "
    "programmes commonly require (see docs/rules/ASR-TEST-FAILOVER.md)"
)
AGENT_ADVICE = "asr-audit's choice: a month's notice before the Mobility agent or its certificate expires"
DISK_LIMIT = (
    "Support matrix for Azure VM disaster recovery between Azure regions, 01/01/2026 revision as quoted in "
    "issue 11: 'Up to 3000 protected disks per Subscription ... (Both Data and OS)' (that revision was not "
    "available to verify)"
)
RPO_ADVICE = (
    "Troubleshoot replication in Azure VM disaster recovery (learn.microsoft.com, 2019-08-02): a "
    "crash-consistent recovery point every 5 minutes, error 153007 after 60 minutes without one; asr-audit "
    "reports an RPO past the point Site Recovery itself alerts at"
)
DISK_LIMIT_ADVICE = (
    "DESIGN.md 8.1 (ASR-DISK-LIMIT): warn past 90 % of the limit, while disks can still be consolidated or "
    "another subscription prepared"
)


@dataclass(frozen=True, slots=True)
class Threshold:
    key: str
    default: int
    unit: str
    description: str
    source: str
    seed: int | None = None  # what the seed documents said, where it differs or still applies


_ALL = (
    Threshold("os_disk_max_gib", 4095, "GiB", "largest OS disk of an Azure VM", A2A_MATRIX, seed=1023),
    Threshold("managed_data_disk_max_gib", 32767, "GiB", "largest managed data disk", A2A_MATRIX, seed=1023),
    Threshold(
        "unmanaged_data_disk_max_gib", 4095, "GiB", "largest unmanaged data disk", A2A_MATRIX, seed=1023
    ),
    Threshold("managed_disk_min_gib", 1, "GiB", "smallest managed disk (unmanaged: none)", A2A_MATRIX),
    Threshold("data_disk_count_max", 64, "disks", "most data disks on an Azure VM", A2A_MATRIX, seed=16),
    Threshold(
        "hyperv_data_disk_max_gb", 4095, "GB", "largest Hyper-V data disk VHD", HYPERV_MATRIX, seed=1023
    ),
    Threshold(
        "hyperv_os_disk_max_gb", 2048, "GB", "largest Hyper-V OS disk (generation 1 VM)", HYPERV_OS_MATRIX
    ),
    Threshold(
        "hyperv_gen2_os_disk_max_gb",
        300,
        "GB",
        "largest Hyper-V OS disk of a generation 2 VM",
        HYPERV_OS_MATRIX,
    ),
    Threshold(
        "vmware_os_disk_max_gb", 2048, "GB", "largest VMware VM / physical server OS disk", VMWARE_MATRIX
    ),
    Threshold(
        "vmware_data_disk_max_gb",
        8192,
        "GB",
        "largest VMware VM / physical server managed data disk",
        VMWARE_MATRIX,
    ),
    Threshold(
        "hyperv_data_disk_count_max", 16, "disks", "most data disks on a Hyper-V VM", HYPERV_MATRIX, seed=16
    ),
    Threshold(
        "vmware_data_disk_count_max",
        64,
        "disks",
        "most data disks on a VMware VM / physical server",
        VMWARE_MATRIX,
        seed=16,
    ),
    Threshold(
        "test_failover_max_age_days", 180, "days", "oldest acceptable successful test failover", DRILL_ADVICE
    ),
    Threshold(
        "agent_expiry_warning_days", 30, "days", "notice before agent or certificate expiry", AGENT_ADVICE
    ),
    Threshold("rpo_max_seconds", 3600, "s", "oldest acceptable recovery point (rpoInSeconds)", RPO_ADVICE),
    Threshold(
        "protected_disks_per_subscription_max",
        3000,
        "disks",
        "most protected disks in a subscription",
        DISK_LIMIT,
    ),
    Threshold(
        "protected_disks_warning_percent", 90, "%", "share of that limit that is reported", DISK_LIMIT_ADVICE
    ),
)
THRESHOLDS: dict[str, Threshold] = {t.key: t for t in _ALL}


def defaults() -> dict[str, int]:
    return {key: t.default for key, t in THRESHOLDS.items()}


def limit(thresholds: dict[str, Any], key: str) -> int:
    """The effective value of `key`: the configured override, else the documented default."""
    return int(thresholds.get(key, THRESHOLDS[key].default))


def seed(key: str) -> int | None:
    return THRESHOLDS[key].seed
