"""How findings name what they are about: resource types, and labels of protected items and VMs.

One place, so a resource reads the same in every rule's findings and evidence.
"""

from __future__ import annotations

from typing import Any

from asr_audit.findings import Finding, FindingStatus, RuleMeta, Severity
from asr_audit.inventory import ProtectedItem
from asr_audit.rules.base import Context
from asr_audit.rules.common.audited import Workload
from asr_audit.rules.common.references import vault_region

# --- resource types (Finding.resource_type) -------------------------------------------------------

SUBSCRIPTION_TYPE = "Microsoft.Resources/subscriptions"
VM_TYPE = "Microsoft.Compute/virtualMachines"
NIC_TYPE = "Microsoft.Network/networkInterfaces"
VNET_TYPE = "Microsoft.Network/virtualNetworks"
SUBNET_TYPE = "Microsoft.Network/virtualNetworks/subnets"
GATEWAY_TYPE = "Microsoft.Network/virtualNetworkGateways"
CIRCUIT_TYPE = "Microsoft.Network/expressRouteCircuits"
STORAGE_TYPE = "Microsoft.Storage/storageAccounts"
VAULT_TYPE = "Microsoft.RecoveryServices/vaults"
PROTECTED_ITEM_TYPE = (
    "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/"
    "replicationProtectedItems"
)
NETWORK_MAPPING_TYPE = (
    "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationNetworks/replicationNetworkMappings"
)
CONTAINER_MAPPING_TYPE = (
    "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/"
    "replicationProtectionContainerMappings"
)


# --- naming what a finding is about -------------------------------------------------------------


def item_label(item: ProtectedItem) -> str:
    """The name an admin sees for a protected item in the portal."""
    return item.friendly_name or item.name


def item_ref(item: ProtectedItem) -> dict[str, str]:
    """How evidence names a protected item."""
    return {"id": item.id, "name": item_label(item)}


def item_finding(
    meta: RuleMeta,
    ctx: Context,
    item: ProtectedItem,
    *,
    message: str,
    evidence: dict[str, Any],
    severity: Severity | None = None,
    key: str = "",
    status: FindingStatus = FindingStatus.FAIL,
    remediation: str | None = None,
) -> Finding:
    """A finding about a protected item, placed in its vault's region."""
    return meta.finding(
        resource_id=item.id,
        resource_type=PROTECTED_ITEM_TYPE,
        resource_name=item_label(item),
        region=vault_region(ctx, item.vault_id),
        message=message,
        evidence=evidence,
        severity=severity,
        key=key,
        status=status,
        remediation=remediation,
    )


def unread_disks_finding(
    meta: RuleMeta, ctx: Context, item: ProtectedItem, unread: list[str], about: str
) -> Finding:
    """The `unknown` finding of an item whose protected disks are in a subscription that was not
    scanned: `about` is what the rule could not tell about them."""
    return meta.finding(
        resource_id=item.id,
        resource_type=PROTECTED_ITEM_TYPE,
        resource_name=item_label(item),
        region=vault_region(ctx, item.vault_id),
        status=FindingStatus.UNKNOWN,
        message=(
            f"Replicated item {item_label(item)}: {len(unread)} protected disk(s) are in a subscription that "
            f"was not scanned, so {about} is unknown."
        ),
        remediation=f"Scan the subscription that holds the disks too. {meta.remediation}",
        evidence={"unread_disks": unread},
    )


def vm_label(wl: Workload) -> str:
    """`protected VM app-1`: messages say which kind of VM they judge."""
    return f"{wl.kind} VM {wl.vm.name}"


def examined_item(meta: RuleMeta, ctx: Context, item: ProtectedItem) -> None:
    """`ctx.examined` for a protected item, named and placed as `item_finding` reports it."""
    ctx.examined(meta, item.id, PROTECTED_ITEM_TYPE, item_label(item), vault_region(ctx, item.vault_id))


def examined_vm(meta: RuleMeta, ctx: Context, wl: Workload) -> None:
    """`ctx.examined` for a workload's VM, as `vm_finding` reports it."""
    ctx.examined(meta, wl.vm.id, VM_TYPE, wl.vm.name, wl.vm.location)


def vm_finding(
    meta: RuleMeta,
    wl: Workload,
    message: str,
    evidence: dict[str, Any],
    key: str = "",
    *,
    severity: Severity | None = None,
    status: FindingStatus = FindingStatus.FAIL,
    remediation: str | None = None,
) -> Finding:
    """A finding about a workload's VM, with its kind in the evidence."""
    return meta.finding(
        resource_id=wl.vm.id,
        resource_type=VM_TYPE,
        region=wl.vm.location,
        message=message,
        evidence={"scope": wl.kind, **evidence},
        key=key,
        severity=severity,
        status=status,
        remediation=remediation,
    )
