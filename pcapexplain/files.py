"""The capture file as both readers open it: a first check, and its SHA-256 (stdlib only)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pcapexplain.errors import CaptureNotFound, CaptureUnreadable

READ_SIZE = 1 << 20


def check_file(path: Path) -> Path:
    """The capture exists and can be opened; raises CaptureNotFound or CaptureUnreadable."""
    if not path.exists():
        raise CaptureNotFound(f"{path}: no such file")
    if path.is_dir():
        raise CaptureUnreadable(f"{path} is a folder, not a capture file")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise CaptureUnreadable(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    return path


def sha256(path: Path) -> str:
    """The file's SHA-256 in hex (hashlib releases the GIL: a thread runs it beside a parse)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(READ_SIZE), b""):
            digest.update(block)
    return digest.hexdigest()
