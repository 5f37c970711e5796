"""Storage accounts and what is read per A2A cache account (its blob service, the role
assignments in effect at it): ARM JSON -> inventory records (pure functions, no I/O)."""

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
from asr_audit.inventory import BlobService, RoleAssignment, StorageAccount


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
        allow_shared_key_access=bool_field(props(item), "allowSharedKeyAccess", default=True),
        public_network_access=text(props(item).get("publicNetworkAccess")),
        private_endpoints=_approved_private_endpoints(props(item)),
    )


def _approved_private_endpoints(properties: dict[str, Any]) -> list[str]:
    """A pending or rejected connection carries no traffic, so only Approved ones count."""
    found = []
    for connection in list_field(properties, "privateEndpointConnections"):
        details = obj_field(connection, "properties")
        state = obj_field(details, "privateLinkServiceConnectionState")
        endpoint = text(obj_field(details, "privateEndpoint").get("id"))
        if endpoint and (text(state.get("status")) or "").lower() == "approved":
            found.append(endpoint)
    return found


def parse_blob_service(account_id: str, item: dict[str, Any]) -> BlobService:
    """A `blobServices/default` GET of the account read; an `enabled` that is not a boolean is
    unreadable, never "soft delete off"."""
    rid = required_id(item)
    if "/blobservices/" not in rid.lower():
        raise Malformed(f"not a blob service id: {rid}")
    policy = obj_field(props(item), "deleteRetentionPolicy")
    return BlobService(
        id=rid,
        account_id=account_id,
        delete_retention_enabled=bool_field(policy, "enabled", default=False),
        delete_retention_days=integer(policy.get("days")),
    )


def parse_role_assignment(account_id: str, item: dict[str, Any]) -> RoleAssignment:
    """One assignment in effect at the account. One without a principal or a role cannot be told
    apart from one the vault needs: unreadable, never ignored."""
    rid = required_id(item)
    p = props(item)
    principal, role = text(p.get("principalId")), text(p.get("roleDefinitionId"))
    if not principal or not role:
        raise Malformed("role assignment without principalId or roleDefinitionId")
    return RoleAssignment(
        id=rid,
        account_id=account_id,
        principal_id=principal,
        role_definition_id=role,
        scope=text(p.get("scope")),
    )
