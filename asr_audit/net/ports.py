"""Destination ports as NSG and firewall rules write them: `443`, `80-443`, `*`.

Both engines judge the same HTTPS flow, so they read port fields the same way; what an
unreadable field means (maybe for an NSG, no match for a firewall) stays with each engine.
"""

from __future__ import annotations

from asr_audit.net.prefixes import WILDCARDS

HTTPS_PORT = 443  # replication and every Site Recovery endpoint (DESIGN.md section 5)


def port_in(spec: str, port: int) -> bool | None:
    """Whether `port` is in one port field entry; None when the entry cannot be read."""
    text = spec.strip().lower()
    if text in WILDCARDS:
        return True
    low, dash, high = text.partition("-")
    try:
        first, last = int(low), int(high if dash else low)
    except ValueError:
        return None
    return first <= port <= last
