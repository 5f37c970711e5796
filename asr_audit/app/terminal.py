"""The width text output is laid out for (`--output table`, `asr-audit rules`).

Kept apart from the table so that `asr-audit rules` and `--help` need neither rich nor the report.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import IO

FALLBACK_WIDTH = 80
MIN_WIDTH = 40  # below this not even a rule id and a resource name fit on a line


def choose_width(stream: IO[str] | None, environ: Mapping[str, str] | None = None) -> int:
    """The width to lay text out in, for output going to `stream` (None: a file, `--out`).

    `COLUMNS`, when set to a number, wins everywhere (the convention `shutil.get_terminal_size`
    follows too): it is how a user or a script asks for a width, also for piped output. Otherwise a
    terminal on `stream` gives its own width. Anything else (a pipe, a file, `--out`) gets 80: the
    reader of a file or a CI log is not at this terminal, and 80 columns show unwrapped in any
    viewer, diff and e-mail. rich's own detection is not used because, with stdout piped, it falls
    back to the width of whatever terminal stdin or stderr is on. Never below `MIN_WIDTH`.
    """
    environ = os.environ if environ is None else environ
    columns = environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return max(MIN_WIDTH, int(columns))
    if stream is not None:
        try:
            if stream.isatty():
                return max(MIN_WIDTH, os.get_terminal_size(stream.fileno()).columns)
        except (AttributeError, OSError, ValueError):  # a replaced or closed stream
            pass
    return FALLBACK_WIDTH
