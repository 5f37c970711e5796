"""Writing reports and snapshots so that a crash never leaves half a file (DESIGN.md §8.2).

A nightly job overwrites yesterday's report or snapshot. Written in place, a kill, a full disk
or a power cut mid-write leaves a truncated file *and* loses yesterday's: a later `--snapshot`
or `--baseline` then fails, or worse, reads a prefix that happens to parse. So the text goes to
a temporary file in the same directory (same file system, so the rename is atomic), is flushed
and fsynced, and only then replaces the target with `os.replace`. Until that rename the old
file is untouched; on any error the temporary file is removed. Only a SIGKILL or power loss
between its creation and the rename can leave a hidden `.NAME.*.tmp` file behind (nothing can
remove it then), never a damaged target.

`check_writable` runs the same steps without the text, before a scan that may take minutes, so
a missing directory is a usage error at once rather than after the scan.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

from asr_audit.errors import UsageError

_TEMP_SUFFIX = ".tmp"


def write_chunks_atomic(path: str | os.PathLike[str], chunks: Iterable[str], *, what: str = "") -> None:
    """Replace `path` with the text the chunks make (UTF-8) atomically, written as they come, so a
    large snapshot or report is never held whole; a failure is a `UsageError` naming `path`. If
    making a chunk fails, a regular file's target is untouched.

    A target that exists but is not a regular file (`/dev/stdout`, a FIFO) cannot be replaced
    by a rename without destroying it, so it is written in place (and has what came before a
    failure). A symlink is followed: the file it points to is replaced, the link stays.
    """
    given = Path(path)
    try:
        if _special(given):
            with open(given, "w", encoding="utf-8") as stream:
                stream.writelines(chunks)
            return
        _replace(_target(given), chunks)
    except OSError as exc:
        raise UsageError(_cannot_write(path, exc, what)) from None


def check_writable(path: str | os.PathLike[str], *, what: str = "") -> None:
    """Fail now, as a `UsageError`, if `path` could not be written by `write_chunks_atomic`.

    Creates and removes a temporary file next to it: permission bits alone do not tell
    (read-only mounts, ACLs, a full quota on some file systems).
    """
    given = Path(path)
    try:
        if given.is_dir():
            raise IsADirectoryError(21, "Is a directory")
        if _special(given):
            if not os.access(given, os.W_OK):
                raise PermissionError(13, "Permission denied")
            return
        fd, temp = _open_temp(_target(given))
        os.close(fd)
        os.unlink(temp)
    except OSError as exc:
        raise UsageError(_cannot_write(path, exc, what)) from None


def _special(path: Path) -> bool:
    """An existing target that is not a regular file, links followed (`/dev/stdout` is a link)."""
    return path.exists() and not path.is_file()


def _target(given: Path) -> Path:
    """The file that will be replaced: a symlink resolved, so the rename lands beside the real file."""
    return Path(os.path.realpath(given)) if given.is_symlink() else given


def _open_temp(target: Path) -> tuple[int, Path]:
    """A new hidden file next to `target`, mode 0o666 less the umask (as a plain write would give)."""
    directory = target.parent
    for _ in range(100):
        temp = directory / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}{_TEMP_SUFFIX}"
        try:
            return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temp
        except FileExistsError:
            continue
    raise FileExistsError(17, f"no free temporary name in {directory}")


def _replace(target: Path, chunks: Iterable[str]) -> None:
    fd, temp = _open_temp(target)
    try:
        try:
            if target.exists() and hasattr(os, "fchmod"):  # keep the permissions given to the old file
                os.fchmod(fd, stat.S_IMODE(target.stat().st_mode))
            pending: list[bytes] = []
            size = 0
            for chunk in chunks:
                pending.append(chunk.encode("utf-8"))
                size += len(pending[-1])
                if size >= _BLOCK:
                    _write_all(fd, b"".join(pending))
                    pending, size = [], 0
            _write_all(fd, b"".join(pending))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
    except BaseException:  # KeyboardInterrupt too: never leave the temporary file behind
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _sync_directory(target.parent)


_BLOCK = 1 << 20  # bytes gathered per write


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _sync_directory(directory: Path) -> None:
    """Persist the rename itself; best effort (not every platform or file system allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _cannot_write(path: str | os.PathLike[str], exc: OSError, what: str) -> str:
    label = f"{what} {path}" if what else str(path)
    return f"cannot write {label}: {exc.strerror or exc}"
