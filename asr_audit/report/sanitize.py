"""Escaping for text that comes from Azure resources, shared by every output format.

Resource names, tags, messages built from them and collector error details are written by
whoever controls the audited subscription, and the reports are read in terminals, pull
requests, wikis, spreadsheets and CI dashboards. Each of those interprets something: ANSI
escapes, Unicode bidi overrides (which reorder what a reviewer sees), Markdown and HTML,
SARIF embedded links, XML, spreadsheet formulas.

`clean()` is the base every format applies: it redacts anything token-like (`redact.scrub`:
no output ever holds a bearer token, DESIGN.md §8.2), then makes control, bidi and XML-invalid
characters *visible* (`\\x1b`, `\\u202e`) rather than dropping them, so an auditor still
sees that a name is odd, and its output is always valid XML 1.0 text and encodable as UTF-8.
A literal backslash-x sequence in a name reads the same as an escaped control character; that
ambiguity is accepted for readability. The format-specific functions build on it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from asr_audit.redact import scrub

# C0 controls except tab/LF/CR (handled as whitespace), DEL and C1 (U+009B is a CSI in some
# terminals), the bidi controls used in "Trojan Source" attacks, lone surrogates and the two
# XML-invalid noncharacters. Everything here is rendered as a visible escape.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff\ufffe\uffff]"
)
_NEWLINES = re.compile("\r\n?|[\u2028\u2029]")
_SINGLE_LINE_SPACE = re.compile("[\t\n]")

# Inline Markdown/GFM metacharacters worth escaping in running text and table cells. Block
# markers (`#`, `-`, `1.`) only act at the start of a line and reports never put escaped text
# there; newlines are flattened so a value cannot start one.
_MD_BACKSLASH = re.compile(r"([\\`*_\[\]|~$])")
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}

# OWASP "CSV injection": a cell starting with one of these is evaluated as a formula by
# Excel, LibreOffice or Google Sheets. (Tab and CR, also on OWASP's list, never survive
# `clean()`'s flattening.) Full-width forms are included because some spreadsheet imports
# fold them to ASCII.
_FORMULA_START = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")

# SARIF 2.1.0 §3.11.6: square brackets in message text start embedded links unless escaped.
_SARIF_BRACKET = re.compile(r"(\\*)([\[\]])")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(value: object, *, multiline: bool = False) -> str:
    """Neutral text: tokens redacted, unsafe characters visible, newlines normalised (or flattened)."""
    if value is None:
        return ""
    text = _NEWLINES.sub("\n", _UNSAFE.sub(_visible, scrub(str(value))))
    return text if multiline else _SINGLE_LINE_SPACE.sub(" ", text)


def clean_tree(value: Any) -> Any:
    """`clean()` every string in a JSON-like structure (evidence); unknown objects become text."""
    if isinstance(value, str):
        return clean(value, multiline=True)
    if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
        return value
    if isinstance(value, Mapping):
        return {clean(k): clean_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_tree(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((clean_tree(v) for v in value), key=str)
    return clean(getattr(value, "value", value))


def markdown(value: object) -> str:
    """One line of literal text for Markdown prose or a GFM table cell (GitHub, Azure DevOps)."""
    text = _MD_BACKSLASH.sub(r"\\\1", clean(value))
    return "".join(_MD_ENTITIES.get(ch, ch) for ch in text)


def markdown_url(url: str | None) -> str | None:
    """A link destination for `[text](url)`: parentheses, spaces and brackets percent-encoded.

    Anything but http(s) (e.g. `javascript:`) gives None, and the caller shows no link.
    """
    if not url or not re.match(r"^https?://", url, re.IGNORECASE):
        return None
    return quote(clean(url), safe=":/?#@!$&'*+,;=%~-._")


def sarif_message(value: object) -> str:
    """SARIF plain-text message: brackets (and backslashes before them) escaped."""
    return _SARIF_BRACKET.sub(lambda m: m.group(1) * 2 + "\\" + m.group(2), clean(value, multiline=True))


def csv_cell(value: object) -> str:
    """One CSV cell that a spreadsheet shows as text, never evaluates."""
    text = clean(value)
    return "'" + text if text.lstrip(" ").startswith(_FORMULA_START) else text
