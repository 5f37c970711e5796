"""What the Azure Resource Graph backend asks: one KQL query per collector, as plain data.

The queries are deliberately the simplest KQL there is, `<table> | where type =~ '<type>'`:
every column ARG keeps (id, name, type, location, kind, sku, zones, managedBy, plan, properties)
comes back as the row, which is the body an ARM GET returns plus a few ARG columns. So each row
goes to the same parser the ARM backend uses, and both backends build the same inventory. A
projection would save bytes but would have to track every field the parsers read; a filter in
KQL rather than here would make the fake ARM (tests) parse KQL. Neither earns its place.

Pure and cheap to import: `ScanRequest` carries `GraphLimits`, and `--help` must stay fast.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from asr_audit.collect import endpoints
from asr_audit.collect.urls import arm_url

GRAPH_PATH = "/providers/Microsoft.ResourceGraph/resources"
GRAPH_API_VERSION = "2022-10-01"
RESOURCES = "resources"
RECOVERY = "recoveryservicesresources"
AUTHORIZATION = "authorizationresources"
CONTAINERS = "resourcecontainers"

# ARG's own limits: a query names at most 1,000 subscriptions and returns at most 1,000 rows a
# page ("Work with large data sets", Azure Resource Graph docs).
MAX_SUBSCRIPTIONS_PER_QUERY = 1_000
MAX_PAGE_ROWS = 1_000

# ASR objects as ARG's recoveryservicesresources table types them (lower case, like every ARG type).
PROTECTED_ITEM_TYPE = (
    "microsoft.recoveryservices/vaults/replicationfabrics/replicationprotectioncontainers/"
    "replicationprotecteditems"
)
NETWORK_MAPPING_TYPE = (
    "microsoft.recoveryservices/vaults/replicationfabrics/replicationnetworks/replicationnetworkmappings"
)
# The table reference lists it under recoveryservicesresources ("Azure Resource Graph table and
# resource type reference").
REPLICATION_POLICY_TYPE = "microsoft.recoveryservices/vaults/replicationpolicies"
# A private DNS zone's links to VNets: child resources, which ARG keeps in `resources`.
VIRTUAL_NETWORK_LINK_TYPE = "microsoft.network/privatednszones/virtualnetworklinks"
# Role assignments, in `authorizationresources`; and the subscriptions in `resourcecontainers`,
# whose `properties.managementGroupAncestorsChain` says which management groups' assignments
# are in effect in each (Azure Resource Graph table and resource type reference).
ROLE_ASSIGNMENT_TYPE = "microsoft.authorization/roleassignments"
SUBSCRIPTION_TYPE = "microsoft.resources/subscriptions"

# collector -> (table, ARM type). The subscription-wide lists and the per-resource-group ones come
# from the ARM backend's own table, so a collector added there cannot be forgotten here.
QUERIES: dict[str, tuple[str, str]] = {
    **{c: (RESOURCES, path.lower()) for c, (path, _) in endpoints.SUBSCRIPTION_LISTS.items()},
    **{c: (RESOURCES, t.lower()) for c, t in endpoints.RESOURCE_GROUP_LISTS.items()},
    "protected_items": (RECOVERY, PROTECTED_ITEM_TYPE),
    "network_mappings": (RECOVERY, NETWORK_MAPPING_TYPE),
    "replication_policies": (RECOVERY, REPLICATION_POLICY_TYPE),
    "virtual_network_links": (RESOURCES, VIRTUAL_NETWORK_LINK_TYPE),
    "role_assignments": (AUTHORIZATION, ROLE_ASSIGNMENT_TYPE),
    "subscription_ancestors": (CONTAINERS, SUBSCRIPTION_TYPE),
}
# Options a query needs beyond paging. ARM lists a subscription's role assignments at, below and
# above it, up to management groups and the root. ARG's default (`AtScopeAndBelow` the
# subscriptions named) would leave out the management groups' ones, so this asks for those above
# too; the rows are matched to each account after, as ARM's are (collect.assignments).
QUERY_OPTIONS: dict[str, dict[str, str]] = {
    "role_assignments": {"authorizationScopeFilter": "AtScopeAboveAndBelow"},
}

_SAFE_TYPE = re.compile(r"^[a-z0-9.]+(/[a-z0-9.]+)+$")


@dataclass(frozen=True)
class GraphLimits:
    """How queries are cut: subscriptions per query and rows per page (ARG's maxima by default;
    tests lower them to exercise batching and paging on small scenarios)."""

    batch_size: int = MAX_SUBSCRIPTIONS_PER_QUERY
    page_size: int = MAX_PAGE_ROWS

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_SUBSCRIPTIONS_PER_QUERY:
            raise ValueError(f"batch_size must be 1..{MAX_SUBSCRIPTIONS_PER_QUERY}")
        if not 1 <= self.page_size <= MAX_PAGE_ROWS:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_ROWS}")


def query_text(collector: str) -> str:
    """The KQL of one collector. The type is a constant of ours, checked anyway: nothing from
    data ever enters a query."""
    table, arm_type = QUERIES[collector]
    if not _SAFE_TYPE.match(arm_type):
        raise ValueError(f"not a resource type: {arm_type!r}")
    return f"{table} | where type =~ '{arm_type}'"


def graph_url() -> str:
    """The query endpoint as a relative ARM path, checked like every other URL."""
    return arm_url(GRAPH_PATH, GRAPH_API_VERSION)


def request_body(
    subscriptions: list[str],
    query: str,
    page_size: int,
    skip_token: str | None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    options: dict[str, Any] = {"$top": page_size, "resultFormat": "objectArray", **(extra or {})}
    if skip_token:
        options["$skipToken"] = skip_token
    return {"subscriptions": subscriptions, "query": query, "options": options}


def batches(subscription_ids: list[str], size: int) -> list[list[str]]:
    return [subscription_ids[i : i + size] for i in range(0, len(subscription_ids), size)]


def resets_after(value: str | None) -> float | None:
    """`x-ms-user-quota-resets-after` (`hh:mm:ss`, seconds may carry a fraction) in seconds."""
    if not value:
        return None
    parts = value.strip().split(":")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        return None
    if len(numbers) != 3 or any(n < 0 for n in numbers):
        return None
    hours, minutes, seconds = numbers
    return hours * 3600 + minutes * 60 + seconds
