"""Reader choice: the native reader when it reads the whole capture, tshark otherwise.

`load(path, reader)` returns the loader's `Capture` from whichever reader the choice names. `auto`
tries the native reader first and falls back to tshark when the file holds a link type or an
encapsulation the native reader does not follow; the result records which reader it was.
Either way, the second copies of packets captured twice are left out (`copies.py`).
A path of "-" is standard input, spooled once to a temporary file here, above the choice, so
either reader (and a fallback from one to the other) reads the same file; it is removed after.
"""

from __future__ import annotations

import os

from pcapexplain import copies, files, native
from pcapexplain.errors import NativeUnsupported
from pcapexplain.model import Capture, Reader


def load(
    path: str | os.PathLike[str],
    *,
    reader: Reader = Reader.AUTO,
    validate_checksums: bool = False,
    status: files.ReadStatus | None = None,
    digest: bool = True,
) -> Capture:
    """Read a capture with the chosen reader; raises the loaders' PcapExplainError subclasses.

    status, when given, is kept up to date for a progress display. Without digest the native
    reader leaves the file's SHA-256 out (""), for outputs that do not show it.
    """
    status = status if status is not None else files.ReadStatus()
    if str(path) == files.STDIN:
        with files.spooled_stdin(status) as spooled:
            read = _load(spooled, files.STDIN, reader, validate_checksums, status, digest)
    else:
        read = _load(path, None, reader, validate_checksums, status, digest)
    return copies.without_copies(read)


def _load(
    path: str | os.PathLike[str],
    shown: str | None,
    reader: Reader,
    validate_checksums: bool,
    status: files.ReadStatus,
    digest: bool,
) -> Capture:
    if reader is not Reader.TSHARK:
        try:
            return native.load_capture(
                path,
                validate_checksums=validate_checksums,
                strict=reader is Reader.AUTO,
                status=status,
                shown=shown,
                digest=digest,
            )
        except NativeUnsupported:
            if reader is Reader.NATIVE:
                raise
    from pcapexplain import loader  # pyshark is imported only when tshark is needed

    return loader.load_capture(
        path, validate_checksums=validate_checksums, status=status, shown=shown
    )
