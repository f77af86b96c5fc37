"""Atomic file output shared by every writer: a temporary file beside the target, then a rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from pcapexplain.errors import OutputError


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write text to path so that readers see either the old file or the whole new one.

    The temporary file lives in the target's folder so the final os.replace is a rename on one
    file system. Raises OutputError when the folder is missing or not writable.
    """
    target = Path(path)
    if target.exists() and not target.is_file():
        return _write_in_place(target, text)  # /dev/null, a FIFO: renaming over them is wrong
    folder = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
        raise
    return target


def _write_in_place(target: Path, text: str) -> Path:
    if target.is_dir():
        raise OutputError(f"cannot write {target}: it is a folder")
    try:
        with open(target, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return target
