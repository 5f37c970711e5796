"""Subscriptions: ARM JSON -> inventory records, and name-or-id matching (pure, no I/O)."""

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
