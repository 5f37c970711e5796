"""Storage accounts: ARM JSON -> inventory records (pure functions, no I/O)."""

from __future__ import annotations

from typing import Any

from asr_audit.collect.fields import (
    Malformed,
    bool_field,
    identity,
    integer,
    list_field,
    obj,
    obj_field,
    props,
    required_id,
    text,
)
from asr_audit.inventory import BlobService, StorageAccount


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


_BLOB_SERVICE = "/blobservices/"


def parse_blob_service(item: dict[str, Any]) -> BlobService:
    """A `blobServices/default` GET; an `enabled` that is not a boolean is unreadable, never
    "soft delete off"."""
    rid = required_id(item)
    cut = rid.lower().rfind(_BLOB_SERVICE)
    if cut <= 0:
        raise Malformed(f"not a blob service id: {rid}")
    policy = obj_field(props(item), "deleteRetentionPolicy")
    return BlobService(
        id=rid,
        account_id=rid[:cut],
        delete_retention_enabled=bool_field(policy, "enabled", default=False),
        delete_retention_days=integer(policy.get("days")),
    )
