"""Dates as ARM writes them, for the rules that judge ages and expiry.

ARM is not consistent: `agentExpiryDate` comes without a zone (`2027-08-14T00:00:00`), other
fields with `Z`, and `timeCreated` with seven fractional digits and `+00:00`, which
`datetime.fromisoformat` before Python 3.11 refuses. A value that is not a date reads as None, so
the rule can say it could not tell instead of guessing.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_ISO = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d))?(?:\.\d+)?)?\s*(Z|[+-]\d\d:?\d\d)?$",
    re.IGNORECASE,
)
# ASR writes .NET's DateTime.MinValue-like sentinel where it has no date (`currentScenario.startTime`).
_SENTINEL_YEAR = 1753


def parse_time(value: str | None) -> datetime | None:
    """An aware datetime (UTC when the text names no zone), or None for anything else."""
    match = _ISO.match((value or "").strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, zone = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=timezone.utc,
        )
    except ValueError:
        return None
    if moment.year <= _SENTINEL_YEAR:
        return None
    if zone and zone.upper() != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return moment


def day(moment: datetime) -> str:
    """`2026-12-06`, for messages."""
    return moment.strftime("%Y-%m-%d")
