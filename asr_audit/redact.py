"""Secrets out of every text the tool shows or stores (DESIGN.md §8.2: no output holds a token).

Error texts come from places we do not control: an HTTP library that quotes a header it
rejected, an SDK exception that prints the request, a server that echoes what it was sent.
Anything that reaches coverage details, stderr, a report or a snapshot goes through `scrub()`,
so a bearer token cannot leak even through a message nobody foresaw.
"""

from __future__ import annotations

import json
import re

_MASK = "[redacted]"

# Order matters: the header and scheme forms first, so their whole value goes, then bare JWTs
# (three base64url parts, the first one a JSON header: `eyJ`) and signed-URL query values.
_PATTERNS = (
    re.compile(r"(?i)(authorization\s*[:=]\s*)(?:bearer\s+)?[^\s,;'\"]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/]+=*"),
    re.compile(r"()eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"),
    re.compile(r"(?i)((?:access_token|refresh_token|client_secret|sig|code)=)[^&\s'\"]+"),
)


def may_hold_secrets(text: str) -> bool:
    """Whether `text` could hold anything `scrub` replaces: every pattern needs one of these words
    (case-insensitively). Plain substring tests, spelt out: the JSON report scrubs every string of
    every finding, and the regex scans (or a loop over the words) cost several times more."""
    t = text.lower()
    return (
        "authorization" in t
        or "bearer" in t
        or "eyj" in t
        or "token=" in t
        or "secret=" in t
        or "sig=" in t
        or "code=" in t
    )


def scrub(text: str) -> str:
    """`text` with every token-like value replaced by `[redacted]`."""
    return _substitute(text) if may_hold_secrets(text) else text


def _substitute(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + _MASK, text)
    return text


def scrub_json(piece: str) -> str:
    """A piece of JSON text (ASCII-escaped, cut only between tokens) with every string literal
    scrubbed: for documents written as they are encoded (snapshots, the JSON report), which are
    never held whole. A piece with no word a redaction needs (JSON's escaping leaves them intact)
    comes back as it is; otherwise each literal is decoded, scrubbed and encoded again, which gives
    back an untouched literal byte for byte. Scrubbing the text itself could cut an escape
    sequence in half."""
    if not may_hold_secrets(piece):
        return piece
    return _STRING_LITERAL.sub(lambda m: json.dumps(scrub(json.loads(m.group()))), piece)


_STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"')
