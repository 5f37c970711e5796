"""Storage accounts: ARM JSON -> inventory records (pure functions, no I/O)."""

from __future__ import annotations

from typing import Any

from asr_audit.collect.fields import identity, list_field, obj, obj_field, props, text
from asr_audit.inventory import StorageAccount


def parse_storage_account(item: dict[str, Any]) -> StorageAccount:
    """`networkAcls` is omitted entirely on accounts without a firewall: default_action None."""
    rid, name, location = identity(item)
    acls = obj_field(props(item), "networkAcls")
    sku = obj(item.get("sku"))
    bypass = text(acls.get("bypass")) or ""
    return StorageAccount(
        id=rid,
        name=name,
        location=location,
        kind=text(item.get("kind")),
        sku_name=text(sku.get("name")),
        sku_tier=text(sku.get("tier")),
        default_action=text(acls.get("defaultAction")),
        bypass=[b.strip() for b in bypass.split(",") if b.strip()],
        # A rule being deprovisioned no longer admits the subnet.
        virtual_network_rules=[
            rule_id
            for rule in list_field(acls, "virtualNetworkRules")
            if (rule_id := text(rule.get("id"))) and text(rule.get("state")) != "Deprovisioning"
        ],
    )
