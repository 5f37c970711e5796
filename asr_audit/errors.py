"""Errors that end a run with a documented exit code (DESIGN.md §3).

The CLI turns each into one line on stderr and its exit code; anything else is a bug.
"""

from __future__ import annotations

import json

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_INCOMPLETE = 4


class AuditError(Exception):
    exit_code = EXIT_USAGE


class UsageError(AuditError):
    """Bad flag, malformed id, unreadable or invalid input file."""

    exit_code = EXIT_USAGE


class AuthError(AuditError):
    """No credential, token rejected, or the subscription cannot be read at all."""

    exit_code = EXIT_AUTH


def json_error(exc: json.JSONDecodeError) -> str:
    """What is wrong and where, for a one-line message. json's own `msg` ends in " at" and leaves
    the position to `str(exc)`, so "line 1: Invalid control character at" read as cut short."""
    return f"{exc.msg.removesuffix(' at')} at line {exc.lineno}, column {exc.colno}"
