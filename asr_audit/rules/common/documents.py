"""Microsoft documents several rule areas cite: one spelling of each link and citation, so a
revision date changes in one place."""

from __future__ import annotations

A2A_MATRIX = "https://learn.microsoft.com/azure/site-recovery/azure-to-azure-support-matrix"
HYPERV_MATRIX = "https://learn.microsoft.com/azure/site-recovery/hyper-v-azure-support-matrix"
A2A_SOURCE_DATE = "2026-01-01"  # the revision read (ms.date 01/01/2026), the one issue 11 names
A2A_SOURCE = (
    "Support matrix for Azure VM disaster recovery between Azure regions "
    f"(learn.microsoft.com, {A2A_SOURCE_DATE})"
)
HYPERV_SOURCE = (
    "Support matrix for disaster recovery of on-premises Hyper-V VMs to Azure "
    "(learn.microsoft.com, 2020-01-27)"
)
VMWARE_MATRIX = "https://learn.microsoft.com/azure/site-recovery/vmware-physical-azure-support-matrix"
VMWARE_SOURCE = (
    "Support matrix for disaster recovery of VMware VMs and physical servers to Azure "
    "(learn.microsoft.com, 2019-10-15)"
)
SEED_PREREQUISITES = "seed: Prerequisites for replication using Azure Site Recovery (2016-12-11)"
SR_EXPRESSROUTE_DOC = (
    "https://learn.microsoft.com/en-us/azure/site-recovery/azure-vm-disaster-recovery-with-expressroute"
)
TRUSTED_LAUNCH_DOC = "https://learn.microsoft.com/azure/site-recovery/concepts-trusted-vm"
TRUSTED_LAUNCH_SOURCE = (
    "Azure Site Recovery support for Azure trusted launch virtual machines (learn.microsoft.com, 2025-03-04)"
)
