"""Writing files atomically: a reader sees the old file or the whole new one, never half."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ._errors import OutputPathError


def check_writable(path: str | os.PathLike) -> Path:
    """Fail early, before any work, when `path` cannot be written."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputPathError(f"cannot write {path}: the folder {folder} does not exist")
    if path.is_dir():
        raise OutputPathError(f"cannot write {path}: it is a folder")
    if not os.access(folder, os.W_OK):
        raise OutputPathError(f"cannot write {path}: the folder {folder} is not writable")
    # Permission bits do not say everything: some folders (/proc, /sys, a read-only mount)
    # pass the test above yet hold no new files. Try, with the same call write_atomic uses.
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=folder)
    except OSError as exc:
        raise OutputPathError(f"cannot write {path}: the folder {folder} cannot hold new files "
                              f"({exc.strerror})") from None
    os.close(fd)
    os.unlink(probe)
    return path


def write_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write to a temporary file beside `path`, then rename it over `path`."""
    path = check_writable(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputPathError(f"cannot write {path}: {exc.strerror}") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
        with os.fdopen(fd, mode) as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise OutputPathError(f"cannot write {path}: {exc.strerror}") from None
        raise
    return path
