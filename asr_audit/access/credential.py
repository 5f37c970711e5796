"""Credential selection (DESIGN.md §3).

A pre-acquired token in `ASR_AUDIT_ACCESS_TOKEN` wins, so a pipeline that already ran
`az account get-access-token` needs no azure-identity setup. Otherwise
DefaultAzureCredential, imported only here and only when needed: it is slow to import and
a snapshot replay never needs it.

Credential failures surface as `AuthError` (exit 3) with one line, at the moment the scan
first asks for a token; azure-identity's own messages span many lines.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import unicodedata
from typing import TYPE_CHECKING, Any

from asr_audit.errors import AuthError

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken, TokenCredential

    from asr_audit.access.clouds import CloudProfile

TOKEN_ENV = "ASR_AUDIT_ACCESS_TOKEN"
_DEFAULT_LIFETIME = 3600


def token_expiry(token: str, now: float | None = None) -> int:
    """The JWT `exp` claim, or an hour from now when the token is opaque or unreadable.

    The signature is not checked: ARM checks it, and the expiry only decides when the
    policy would ask again (a static token cannot be refreshed anyway).
    """
    fallback = int((time.time() if now is None else now) + _DEFAULT_LIFETIME)
    parts = token.split(".")
    if len(parts) != 3:
        return fallback
    try:
        payload = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, UnicodeError):
        return fallback
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, (int, float)) and not isinstance(exp, bool):
        return int(exp)
    return fallback


def check_token(token: str, source: str) -> str:
    """`token`, when it can go into an `Authorization` header as it is.

    A line break or another control character would split or corrupt the header, and the
    HTTP library's complaint quotes the header value, token included, into every error text
    downstream; inner whitespace means a pasted or mangled value. Such a token is refused
    before any request with a message that says what is wrong but never shows the token.
    """
    problem = None
    if not token:
        problem = "is empty"
    elif any(c in "\r\n" for c in token):
        problem = "contains a line break"
    elif "\x00" in token:
        problem = "contains a NUL character"
    elif any(unicodedata.category(c)[0] == "C" for c in token):
        problem = "contains control characters"
    elif any(c.isspace() for c in token):
        problem = "contains whitespace"
    if problem:
        raise AuthError(f"the access token from {source} {problem}; refusing to send it")
    return token


class StaticTokenCredential:
    """A TokenCredential over one bearer token; it never logs or prints the token."""

    def __init__(self, token: str) -> None:
        self._token = token
        self._expires_on = token_expiry(token)

    def __repr__(self) -> str:
        return f"StaticTokenCredential(expires_on={self._expires_on})"

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, self._expires_on)

    def close(self) -> None:
        """Nothing to release; present so callers can treat every credential alike."""


class _OneLineErrors:
    """Wraps a credential so its failures become `AuthError` with a one-line message.

    `AuthError` is not an `AzureError`, so the SDK's retry policy re-raises it at once
    instead of retrying a credential that cannot work.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        from azure.core.exceptions import ClientAuthenticationError

        try:
            return self._inner.get_token(*scopes, **kwargs)
        except ClientAuthenticationError as exc:
            raise AuthError(auth_failure_message(exc)) from None

    def close(self) -> None:
        self._inner.close()


def auth_failure_message(exc: BaseException) -> str:
    """The first line of a credential error, plus what to do about it."""
    text = str(getattr(exc, "message", None) or exc).strip()
    first = text.splitlines()[0].strip() if text else type(exc).__name__
    return (
        f"no usable Azure credential: {first} "
        f"(sign in with `az login`, configure a service principal or managed identity, or set {TOKEN_ENV})"
    )


def make_credential(cloud: CloudProfile) -> TokenCredential:
    token = os.environ.get(TOKEN_ENV, "").strip()  # outer whitespace: a trailing newline from $(...)
    if token:
        return StaticTokenCredential(check_token(token, TOKEN_ENV))
    from azure.identity import DefaultAzureCredential

    return _OneLineErrors(DefaultAzureCredential(authority=cloud.authority_host))


class SharedToken:
    """One token for every request of a scan.

    The SDK's auth policy asks its credential whenever it holds no fresh token, and it takes no
    lock: the scan's workers, starting together, would each ask. Behind `az login` every ask is
    an `az account get-access-token` subprocess taking a second or more. A token
    still valid for the margin is reused; a claims challenge always asks afresh. Every token
    passes through here before its first request, so this is where one that cannot go into
    a header as it is gets refused, whichever credential produced it (`check_token`).
    """

    def __init__(self, credential: TokenCredential, refresh_margin: float = 300.0) -> None:
        self._credential = credential
        self._margin = refresh_margin
        self._tokens: dict[tuple[Any, ...], AccessToken] = {}
        self._failed: dict[tuple[Any, ...], BaseException] = {}  # what a prefetch raised, once
        self._lock = threading.Lock()

    def prefetch(self, *scopes: str) -> None:
        """Fetch the token for `scopes` on a daemon thread while the caller goes on.

        Behind `az login`, a managed identity or a service principal the fetch is mostly waiting
        (a subprocess, IMDS, Entra ID), and a scan has 0.5-0.7 s of SDK imports to do meanwhile. The
        lock is taken here, before returning, and released by the fetching thread, so every ask
        that follows waits for this fetch instead of starting its own. The first ask of the same
        scopes gets the token, or raises what the fetch raised, as it would have itself."""
        self._lock.acquire()
        try:
            fetch = threading.Thread(target=self._prefetch, args=(scopes,), name="asr-token", daemon=True)
            fetch.start()
        except BaseException:
            self._lock.release()
            raise

    def _prefetch(self, scopes: tuple[str, ...]) -> None:
        key = (scopes, ())  # what the pipelines' auth policy asks: the scopes, no options
        try:
            self._tokens[key] = self._checked(scopes, {})
        except BaseException as exc:  # handed to the first ask, in its thread
            self._failed[key] = exc
        finally:
            self._lock.release()

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        if kwargs.get("claims"):
            return self._checked(scopes, kwargs)
        cache_key = (scopes, tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
        with self._lock:  # held while fetching: concurrent first asks wait for one answer
            failed = self._failed.pop(cache_key, None)
            if failed is not None:
                raise failed
            token = self._tokens.get(cache_key)
            if token is None or token.expires_on - time.time() < self._margin:
                token = self._tokens[cache_key] = self._checked(scopes, kwargs)
            return token

    def _checked(self, scopes: tuple[str, ...], kwargs: dict[str, Any]) -> AccessToken:
        token = self._credential.get_token(*scopes, **kwargs)
        check_token(token.token, f"the credential ({type(self._credential).__name__})")
        return token
