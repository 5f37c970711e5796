"""Subscriptions: ARM JSON -> inventory records, name-or-id matching, and the subscriptions
among a management group's descendants (pure, no I/O)."""

from __future__ import annotations

from typing import Any

from asr_audit import ids
from asr_audit.collect.fields import Malformed, text
from asr_audit.errors import UsageError
from asr_audit.inventory import Subscription


def parse_subscription(item: dict[str, Any]) -> Subscription:
    sid = text(item.get("subscriptionId")) or ids.name_of(text(item.get("id")))
    if not ids.is_guid(sid):
        raise Malformed("subscription has no subscriptionId")
    return Subscription(
        id=sid.lower(), display_name=text(item.get("displayName")), state=text(item.get("state"))
    )


def descendant_subscription(item: dict[str, Any]) -> str | None:
    """The subscription id of a management-group descendant, or None for a child group.

    Child groups need no visit of their own: the descendants list already holds every level.
    The type is `Microsoft.Management/managementGroups/subscriptions` (older versions:
    `/subscriptions`); without a type, the id (`/subscriptions/{guid}`) decides.
    """
    kind = (text(item.get("type")) or "").lower()
    rid = text(item.get("id")) or ""
    if not (kind.endswith("/subscriptions") or (not kind and rid.lower().startswith("/subscriptions/"))):
        return None
    sid = next((v for v in (text(item.get("name")), ids.name_of(rid)) if v and ids.is_guid(v)), None)
    if sid is None:
        raise Malformed("management group descendant of type subscription has no subscription id")
    return sid.lower()


def match_display_name(value: str, readable: list[Subscription]) -> str:
    """The id of the one readable subscription called `value` (case-insensitive).

    A miss or an ambiguous name is a usage error listing what the credential can read, so
    the user sees the spelling to use.
    """
    hits = [s for s in readable if (s.display_name or "").lower() == value.strip().lower()]
    if len(hits) == 1:
        return hits[0].id
    if hits:
        ambiguous = ", ".join(s.id for s in hits)
        raise UsageError(f"subscription name {value!r} is ambiguous ({ambiguous}); pass the id")
    ordered = sorted(readable, key=lambda s: (s.display_name or "").lower())
    listing = ", ".join(f"{s.display_name} ({s.id})" for s in ordered)
    raise UsageError(
        f"{value!r} is neither a subscription id nor the name of a readable subscription; "
        f"readable: {listing or 'none'}"
    )
