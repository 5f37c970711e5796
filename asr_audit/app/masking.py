"""`--mask`: subscription ids hidden in reports and on stderr, fingerprints kept.

A report is often pasted where its readers should not learn the tenant's subscription ids
(a public pull request, a wiki, a vendor ticket). Each id keeps its last four hex digits
(`********-****-****-****-********1a2b`) so an admin can still tell subscriptions apart, and
has the length of an id, so tables lay out as before.

In a report, the ids masked are those of the scanned subscriptions plus any GUID that
follows `subscriptions/` in some string of the report (a peered VNet in another
subscription), wherever they then occur and in any case. Other GUIDs stay: ASR names its
protected items, fabrics and containers by GUID, and those names are what an admin looks
up. Stderr has no such names worth keeping, so there every GUID is masked, including the
ones an error lists before the scan has found anything.

Masking works on a copy of the `Report`, after suppressions and the baseline were matched
on the real ids. Findings keep the fingerprint of their real resource id, so a masked
report still works as the `--baseline` of the next run, masked or not.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import Any

from asr_audit.findings import Finding
from asr_audit.report import Report

MASK = "********-****-****-****-********"
KEPT_DIGITS = 4

_GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_ANY_GUID = re.compile(rf"(?<![0-9a-z]){_GUID}(?![0-9a-z])", re.IGNORECASE)
_IN_PATH = re.compile(rf"subscriptions/({_GUID})(?![0-9a-z])", re.IGNORECASE)


def mask_id(subscription_id: str) -> str:
    """The masked form; lower-cased so `/Subscriptions/ABC...` and `/subscriptions/abc...` agree."""
    return MASK + subscription_id[-KEPT_DIGITS:].lower()


def mask_guids(text: str) -> str:
    """Every GUID in `text` masked: for stderr notes, errors and progress."""
    return _ANY_GUID.sub(lambda m: mask_id(m.group()), text)


@dataclasses.dataclass(slots=True)
class MaskedFinding(Finding):
    """A finding shown with masked ids that keeps the fingerprint of the real ones."""

    unmasked_fingerprint: str = ""

    @property
    def fingerprint(self) -> str:
        return self.unmasked_fingerprint


class Masker:
    """Masks the given subscription ids wherever they occur, case-insensitively."""

    def __init__(self, subscription_ids: Iterable[str]) -> None:
        known = sorted({s.lower() for s in subscription_ids if _ANY_GUID.fullmatch(s or "")})
        self._pattern = re.compile("|".join(map(re.escape, known)), re.IGNORECASE) if known else None

    def text(self, value: str) -> str:
        if self._pattern is None:
            return value
        return self._pattern.sub(lambda m: mask_id(m.group()), value)


def mask_report(report: Report) -> Report:
    """A copy of `report` with every subscription id masked (see the module docstring)."""
    found = {*report.subscriptions, *(f.subscription_id for f in report.findings)}
    found.update(c.subscription_id for c in report.coverage)

    def discover(text: str) -> str:
        found.update(_IN_PATH.findall(text))
        return text

    _map_strings(report, discover)
    masked: Report = _map_strings(report, Masker(found).text)
    return masked


def _map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    """`value` rebuilt with `fn` applied to every string in it, dictionary keys included."""
    if value is None or isinstance(value, (bool, int, float, Enum)):  # Severity is a str Enum
        return value
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, Finding):
        fields = {f.name: _map_strings(getattr(value, f.name), fn) for f in dataclasses.fields(Finding)}
        return MaskedFinding(**fields, unmasked_fingerprint=value.fingerprint)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _map_strings(getattr(value, f.name), fn) for f in dataclasses.fields(value) if f.init
        }
        return dataclasses.replace(value, **changes)
    if isinstance(value, Mapping):
        return {_map_strings(k, fn): _map_strings(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    if isinstance(value, tuple):
        return tuple(_map_strings(v, fn) for v in value)
    if isinstance(value, (set, frozenset)):
        return {_map_strings(v, fn) for v in value}
    # Free-form evidence (an address object, say): every format prints it as text anyway.
    return fn(str(value))
