"""File output shared by every writer: atomic replacement (a temporary file beside the target,
then a rename), and the CSV text of flat rows."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
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
    with replacing(target) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    return target


@contextlib.contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """A temporary path beside target; renamed onto target when the block ends without error.

    For writers that need a path of their own (Parquet) or write in pieces. The file is flushed
    to disk before the rename; on any error, Ctrl-C included, it is removed and target is left
    as it was. Raises OutputError when the folder is missing or not writable.
    """
    folder = target.parent if str(target.parent) else Path(".")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
        raise


TEMP_SUFFIX = ".tmp"  # what a writer that was killed outright may leave behind: ".NAME.XXXX.tmp"


def _write_in_place(target: Path, text: str) -> Path:
    if target.is_dir():
        raise OutputError(f"cannot write {target}: it is a folder")
    try:
        with open(target, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return target


def csv_text(rows: Sequence[Mapping[str, object]]) -> str:
    """Flat rows as CSV with a header line taken from the first row's keys ("" when no rows)."""
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()
