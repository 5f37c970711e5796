"""The one place where request URLs are checked: nothing built from data may leave ARM.

Every request the tool sends is either a relative ARM path (the client joins it to the
configured endpoint) or a `nextLink` an ARM answer gave. Both embed data: a vault id, a
firewall policy id, a resource group name, a location, a link. A hostile or broken value
could point the request, and with it the bearer token, at another host (`https://evil/...`
as a vault id), or walk out of the intended resource (`/subscriptions/x/../../providers/...`).
So each value is checked where it enters a URL, and the URL once more where it is sent; a
refusal raises `RefusedUrl` before anything leaves the process (DESIGN.md §8.2).

It belongs to collect, not access: what it checks is data the collectors read (ids, names,
locations, links), at the two places collect puts it into a URL (`endpoints`, `reads`). Access
never builds a URL from data; its policies see finished requests, and the read-only guard there
decides by method alone.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import quote, urlsplit

from asr_audit.redact import scrub

REFUSED = "refused to request a URL built from data"
_SHOWN = 80  # characters of a refused value quoted in a message

# `%XX` escapes that decode to a separator, a dot or another escape: once decoded by a proxy or
# the server they would re-introduce what the plain-text checks refuse.
_SNEAKY_ESCAPE = re.compile(r"%(?:2[eEfF3]|5[cC]|25|3[fF]|40|[01][0-9a-fA-F]|7[fF]|20)")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class RefusedUrl(Exception):
    """A URL that would have left the ARM endpoint or its resource: nothing was sent.

    Not an `AzureError`, so the retry policy never retries it.
    """

    def __init__(self, why: str) -> None:
        super().__init__(f"{REFUSED}: {why}")


def shown(value: Any, limit: int = _SHOWN) -> str:
    """A refused value as a message may quote it: escaped (repr), short, and with no token."""
    text = scrub(value if isinstance(value, str) else repr(value))
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _unprintable(text: str) -> bool:
    """Control, format or unassigned characters, or any whitespace (a URL has none).

    Every URL sent passes here, nextLinks with their long tokens included, so plain ASCII (the
    usual case) is checked in C: there, what is not printable is a control character or
    whitespace, and the one printable whitespace is the space."""
    if text.isascii():
        return " " in text or not text.isprintable()
    return any(c.isspace() or unicodedata.category(c)[0] == "C" for c in text)


def _path_problem(path: str, *, strict_escapes: bool = True) -> str | None:
    """Why `path` is not a plain ARM resource path, or None."""
    if not path.startswith("/"):
        return "does not start with '/'" + (" (it has a scheme)" if "://" in path else "")
    if "//" in path:
        return "contains '//'"
    if _unprintable(path):
        return "contains whitespace or control characters"
    for char, name in (("\\", "a backslash"), ("@", "'@'"), ("?", "'?'"), ("#", "'#'")):
        if char in path:
            return f"contains {name}"
    if any(seg in (".", "..") for seg in path.split("/")):
        return "contains a '.' or '..' segment"
    if strict_escapes and _SNEAKY_ESCAPE.search(path):
        return "contains a percent-encoded separator, dot or control character"
    return None


def resource_id(value: Any, what: str) -> str:
    """An ARM id taken from data, checked to be a resource path (without a trailing '/')."""
    if not isinstance(value, str) or not value:
        raise RefusedUrl(f"{what} {shown(value)} is not an ARM resource path")
    path = value[:-1] if value.endswith("/") and len(value) > 1 else value
    problem = _path_problem(path)
    if problem:
        raise RefusedUrl(f"{what} {shown(value)} is not an ARM resource path: it {problem}")
    return path


def segment(value: Any, what: str) -> str:
    """One path segment taken from data (a resource group name, a location), percent-encoded.

    Encoding makes most characters harmless; what it cannot neutralise is refused: a `.` or
    `..` segment, separators and `%` (which a server may decode into separators), and
    control characters.
    """
    if not isinstance(value, str) or not value:
        raise RefusedUrl(f"{what} {shown(value)} is empty or not text")
    problem = None
    if value in (".", ".."):
        problem = "is a '.' or '..' segment"
    elif any(c in value for c in "/\\%"):
        problem = "contains '/', a backslash or '%'"
    elif any(unicodedata.category(c)[0] == "C" for c in value):
        problem = "contains control characters"
    if problem:
        raise RefusedUrl(f"{what} {shown(value)} is not a single path segment: it {problem}")
    return quote(value, safe="")


def _check_sent_path(path: str) -> None:
    """A whole path about to be sent; its escapes are `segment`'s encoding, so allowed."""
    problem = _path_problem(path, strict_escapes=False)
    if problem:
        raise RefusedUrl(f"path {shown(path)} {problem}")


def arm_url(path: str, api_version: str, **query: str) -> str:
    """A relative ARM URL: the path (re-checked whole) with its query and api-version."""
    _check_sent_path(path)
    params = [quote(k, safe="$") + "=" + quote(v, safe="/'") for k, v in query.items()]
    params.append(f"api-version={api_version}")
    return f"{path}?{'&'.join(params)}"


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:  # a port that is not a number
        port = -1
    return scheme, (parts.hostname or "").lower(), port


def next_link(link: Any, arm_endpoint: str) -> str:
    """A `nextLink` to follow: an absolute URL on the endpoint's scheme, host and port.

    Its query (a skip token, often base64 with escapes) is ARM's business and not checked;
    its path is, except for percent escapes, which real skip-token paths carry.
    """
    if not isinstance(link, str):
        raise RefusedUrl(f"nextLink is a {type(link).__name__}, not a URL")
    parts = urlsplit(link)
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.netloc:
        raise RefusedUrl(f"nextLink {shown(link)} is not an absolute URL")
    if "@" in parts.netloc or _origin(link) != _origin(arm_endpoint):
        raise RefusedUrl(f"nextLink {shown(link)} points at another host ({shown(parts.netloc)})")
    problem = _path_problem(parts.path or "/", strict_escapes=False)
    if problem is None and _unprintable(link):
        problem = "contains whitespace or control characters"
    if problem:
        raise RefusedUrl(f"nextLink {shown(link)} {problem}")
    return link


def request_url(url: str, arm_endpoint: str | None) -> str:
    """The last check before a URL is sent: a relative ARM path, or a link on the endpoint.

    A relative path stays on the endpoint by construction (the client joins it to its base
    URL); an absolute one must name the endpoint, and without an endpoint to compare with
    it is refused.
    """
    if url.startswith("/") and not url.startswith("//"):
        _check_sent_path(url.split("?", 1)[0])
        return url
    if arm_endpoint is None:
        raise RefusedUrl(f"{shown(url)} is not a relative ARM path")
    return next_link(url, arm_endpoint)
