"""ARM identifier helpers.

ARM ids are case-insensitive, and ASR returns `/Subscriptions/...` while the network
provider returns `/subscriptions/...`: every comparison goes through `key()`.
Region names arrive both as `westus` and as the display name `West US`.
"""

from __future__ import annotations

import functools
import re

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_guid(value: str) -> bool:
    return bool(_GUID.match(value or ""))


# Rules ask for the same ids' keys millions of times on a large tenant (every lookup, every join):
# remembered, a key costs a third of building it again.
@functools.lru_cache(maxsize=1 << 18)
def key(resource_id: str | None) -> str:
    """Canonical form of an ARM id for comparisons and dictionary keys."""
    if not resource_id:
        return ""
    rid = resource_id.strip().lower().rstrip("/")
    return rid if rid.startswith("/") else "/" + rid


def segment_after(resource_id: str | None, name: str) -> str | None:
    """The path segment that follows `name` (case-insensitive), e.g. the resource group."""
    if not resource_id:
        return None
    parts = resource_id.strip("/").split("/")
    lname = name.lower()
    for i, part in enumerate(parts[:-1]):
        if part.lower() == lname:
            return parts[i + 1]
    return None


def subscription_of(resource_id: str | None) -> str | None:
    sub = segment_after(resource_id, "subscriptions")
    return sub.lower() if sub else None


def resource_group_of(resource_id: str | None) -> str | None:
    return segment_after(resource_id, "resourceGroups")


def name_of(resource_id: str | None) -> str:
    return (resource_id or "").rstrip("/").rsplit("/", 1)[-1]


def parent_of(resource_id: str, levels: int = 1) -> str:
    """Strip `levels` child `type/name` pairs: a subnet id gives its VNet id."""
    parts = resource_id.rstrip("/").split("/")
    return "/".join(parts[: len(parts) - 2 * levels])


def region(name: str | None) -> str | None:
    """`West US`, `westus` and `WestUS` are the same region."""
    if not name:
        return None
    return name.replace(" ", "").lower()
