"""Builders for small, valid inventories in rule tests.

Each builder returns one inventory dataclass with a well-formed ARM id, so a test states
only what matters to it. Ids follow the providers' own spelling: network, compute and
storage ids start with `/subscriptions/`, while ASR writes `/Subscriptions/` and may change
the case of other segments; `asr_case()` produces that form so tests exercise the
case-insensitive comparisons the rules must make. `inventory(*objects)` sorts objects into
the right `Inventory` lists, `context(...)` wraps it for a rule, and `run(rule_id, ctx)`
returns that rule's findings.

    vnet = virtual_network("vnet-app", "eastus")
    vm, nic = vm_with_nic("vm1", "eastus", subnet_id(vnet))
    item = a2a_item(vault("rsv", "westus"), vm, recovery_network_id=asr_case(vnet.id))
    ctx = context(inventory(vnet, vm, nic, item))
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, get_args, get_origin, get_type_hints

from asr_audit.findings import Finding
from asr_audit.inventory import (
    Coverage,
    Inventory,
    IpConfiguration,
    NetworkInterface,
    NetworkMapping,
    ProtectedDisk,
    ProtectedItem,
    SecurityRule,
    StorageAccount,
    Subnet,
    Subscription,
    Vault,
    VirtualMachine,
    VirtualNetwork,
)
from asr_audit.rules.base import Context
from asr_audit.rules.catalog import default_catalog

SUBSCRIPTION = "3f2a8c1e-5b7d-4e09-9a6c-1d2e3f4a5b6c"
OTHER_SUBSCRIPTION = "9c8b7a65-4321-4fed-8cba-0987654321fe"
GROUP = "rg-app"


def resource_id(resource_type: str, *names: str, group: str = GROUP, subscription: str = SUBSCRIPTION) -> str:
    """`resource_id("Microsoft.Network/virtualNetworks/subnets", "vnet1", "default")`."""
    provider, _, types = resource_type.partition("/")
    parts = types.split("/")
    path = "/".join(f"{t}/{n}" for t, n in zip(parts, names, strict=True))
    return f"/subscriptions/{subscription}/resourceGroups/{group}/providers/{provider}/{path}"


def asr_case(rid: str) -> str:
    """The id with ASR's `/Subscriptions/`; the resource group and provider namespace are also
    upper-cased so that any case-sensitive comparison in a rule fails its test."""
    parts = rid.split("/")
    for i, part in enumerate(parts):
        if part.lower() == "subscriptions":
            parts[i] = "Subscriptions"
        elif i > 0 and parts[i - 1].lower() in ("resourcegroups", "providers"):
            parts[i] = part.upper()
    return "/".join(parts)


# --- resources ----------------------------------------------------------------------------------


def vault(name: str, location: str, **kw: Any) -> Vault:
    sub = kw.pop("subscription", SUBSCRIPTION)
    group = kw.pop("group", "rg-dr")
    rid = resource_id("Microsoft.RecoveryServices/vaults", name, group=group, subscription=sub)
    return Vault(id=rid, name=name, location=location, **kw)


def storage_account(
    name: str,
    location: str,
    *,
    sku: str | None = "Standard_LRS",
    kind: str | None = "StorageV2",
    subscription: str = SUBSCRIPTION,
    **kw: Any,
) -> StorageAccount:
    """The SKU tier follows the SKU name (`Premium_LRS` -> Premium) unless `sku_tier=` says otherwise."""
    kw.setdefault("sku_tier", sku.split("_", 1)[0] if sku else None)
    rid = resource_id("Microsoft.Storage/storageAccounts", name, subscription=subscription)
    return StorageAccount(id=rid, name=name, location=location, kind=kind, sku_name=sku, **kw)


def virtual_network(
    name: str,
    location: str,
    *,
    prefixes: Sequence[str] = ("10.0.0.0/16",),
    subnets: Iterable[tuple[str, str]] = (("default", "10.0.0.0/24"),),
    subscription: str = SUBSCRIPTION,
) -> VirtualNetwork:
    """A VNet with subnets given as (name, prefix) pairs."""
    rid = resource_id("Microsoft.Network/virtualNetworks", name, subscription=subscription)
    return VirtualNetwork(
        id=rid,
        name=name,
        location=location,
        address_prefixes=list(prefixes),
        subnets=[Subnet(id=f"{rid}/subnets/{s}", name=s, address_prefixes=[p]) for s, p in subnets],
    )


def subnet_id(vnet: VirtualNetwork, name: str = "default") -> str:
    return next(s.id for s in vnet.subnets if s.name == name)


def vm_with_nic(
    name: str, location: str, *subnet_ids: str, subscription: str = SUBSCRIPTION
) -> tuple[VirtualMachine, NetworkInterface]:
    """A VM and one NIC with an ip configuration per subnet given."""
    vm_id = resource_id("Microsoft.Compute/virtualMachines", name, subscription=subscription)
    nic_id = resource_id("Microsoft.Network/networkInterfaces", f"{name}-nic", subscription=subscription)
    nic = NetworkInterface(
        id=nic_id,
        name=f"{name}-nic",
        location=location,
        virtual_machine_id=vm_id,
        ip_configurations=[
            IpConfiguration(name=f"ipconfig{i}", subnet_id=s) for i, s in enumerate(subnet_ids)
        ],
    )
    vm = VirtualMachine(id=vm_id, name=name, location=location, network_interface_ids=[nic_id])
    return vm, nic


# --- Site Recovery objects ------------------------------------------------------------------------


def _item_id(owner: Vault, name: str) -> str:
    return (
        f"{asr_case(owner.id)}/replicationFabrics/fabric1/replicationProtectionContainers/"
        f"container1/replicationProtectedItems/{name}"
    )


def a2a_item(
    owner: Vault,
    vm: VirtualMachine | str,
    *,
    primary: str | None = "eastus",
    recovery: str | None = "westus",
    cache: Sequence[str] = (),
    name: str | None = None,
    **kw: Any,
) -> ProtectedItem:
    """An A2A item protecting `vm` (a VM or its id), with one protected disk per cache id.

    References are written the way ASR writes them (`asr_case`), so lookups must ignore case.
    """
    vm_id = vm if isinstance(vm, str) else vm.id
    item_name = name or f"item-{vm_id.rsplit('/', 1)[-1]}"
    return ProtectedItem(
        id=_item_id(owner, item_name),
        name=item_name,
        vault_id=asr_case(owner.id),
        friendly_name=vm_id.rsplit("/", 1)[-1],
        instance_type="A2A",
        primary_location=primary,
        recovery_location=recovery,
        source_vm_id=asr_case(vm_id),
        protected_disks=[ProtectedDisk(cache_storage_account_id=asr_case(c)) for c in cache],
        **kw,
    )


def onprem_item(
    owner: Vault, name: str, *, instance_type: str = "HyperVReplicaAzure", **kw: Any
) -> ProtectedItem:
    """An on-premises -> Azure item (HyperVReplicaAzure, InMageAzureV2, InMageRcm)."""
    return ProtectedItem(
        id=_item_id(owner, name),
        name=name,
        vault_id=asr_case(owner.id),
        friendly_name=name,
        instance_type=instance_type,
        **kw,
    )


def network_mapping(owner: Vault, name: str, **kw: Any) -> NetworkMapping:
    kw.setdefault("instance_type", "AzureToAzure")
    rid = (
        f"{asr_case(owner.id)}/replicationFabrics/fabric1/replicationNetworks/net1/"
        f"replicationNetworkMappings/{name}"
    )
    return NetworkMapping(id=rid, name=name, vault_id=asr_case(owner.id), **kw)


# --- the whole ------------------------------------------------------------------------------------

_LISTS = {
    get_args(hint)[0]: name for name, hint in get_type_hints(Inventory).items() if get_origin(hint) is list
}


def inventory(*objects: Any, subscriptions: Iterable[str] = (SUBSCRIPTION,)) -> Inventory:
    """An inventory holding `objects`, each put in the list for its type; `subscriptions` were scanned."""
    inv = Inventory(subscriptions=[Subscription(id=s) for s in subscriptions])
    for obj in objects:
        getattr(inv, _LISTS[type(obj)]).append(obj)
    return inv


def context(inv: Inventory, **kw: Any) -> Context:
    return Context(inventory=inv, **kw)


def run(rule_id: str, ctx: Context) -> list[Finding]:
    """The findings of one rule of the default catalog."""
    return list(default_catalog()[rule_id].check(ctx))


def analyzed(rule_id: str, ctx: Context) -> list[Finding]:
    """One rule as a scan runs it: its findings plus the `unknown` ones for coverage gaps it reads."""
    from asr_audit.rules import analyze

    found = analyze(ctx, select=[rule_id])
    assert_reportable(found)
    return found


def gap(
    collector: str,
    status: str = "forbidden",
    *,
    detail: str | None = "AuthorizationFailed",
    subscription: str = SUBSCRIPTION,
    object_id: str | None = None,
    unread: Sequence[str] = (),
) -> Coverage:
    """A coverage record that is not `ok` (`collector` may carry a `:<object>` suffix)."""
    return Coverage(subscription, collector, status, detail, unread=list(unread), object_id=object_id)


def assert_reportable(findings: Iterable[Finding]) -> None:
    """What every finding owes the report: JSON-safe, one per fingerprint, naming a resource and a fix."""
    seen: set[str] = set()
    for f in findings:
        json.dumps(f.to_json())
        assert f.fingerprint not in seen, f"duplicate finding {f.rule_id} {f.resource_id} {f.key}"
        seen.add(f.fingerprint)
        assert f.status in ("fail", "unknown")
        assert f.resource_id and f.message and f.remediation and f.docs
        rule = default_catalog().get(f.rule_id)
        if rule:  # test-only rules aside: a rule reports only the severities it declares
            assert f.severity in rule.meta.severities, (f.rule_id, f.severity)


def assert_catalogued(prefix: str, category: str) -> None:
    """Rule metadata the catalog and report rely on, for every catalogued rule id with `prefix`."""
    metas = [r.meta for r in default_catalog() if r.id.startswith(prefix)]
    assert metas, f"no rules in the catalog with prefix {prefix}"
    for meta in metas:
        assert meta.category == category
        assert meta.microsoft_docs.startswith("https://learn.microsoft.com/"), meta.id
        assert meta.title and meta.rationale and meta.remediation and meta.source, meta.id


def security_rule(
    name: str,
    priority: int,
    access: str,
    dest: Sequence[str] = (),
    *,
    ports: Sequence[str] = ("443",),
    protocol: str = "Tcp",
    source: Sequence[str] = ("*",),
    dest_asgs: Sequence[str] = (),
    source_asgs: Sequence[str] = (),
    direction: str = "Outbound",
) -> SecurityRule:
    """An NSG rule as the collector builds it (singular and plural fields already merged)."""
    return SecurityRule(
        name=name,
        priority=priority,
        direction=direction,
        access=access,
        protocol=protocol,
        destination_port_ranges=tuple(ports),
        destination_address_prefixes=tuple(dest),
        destination_application_security_groups=tuple(dest_asgs),
        source_address_prefixes=tuple(source),
        source_port_ranges=("*",),
        source_application_security_groups=tuple(source_asgs),
    )
