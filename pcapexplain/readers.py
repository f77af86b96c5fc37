"""Reader choice: the native reader when it reads the whole capture, tshark otherwise.

`load(path, reader)` returns the loader's `Capture` from whichever reader the choice names. `auto`
tries the native reader first and falls back to tshark when the file holds a link type or an
encapsulation the native reader does not follow; the result records which reader it was.
"""

from __future__ import annotations

import os

from pcapexplain import native
from pcapexplain.errors import NativeUnsupported
from pcapexplain.model import Capture, Reader


def load(
    path: str | os.PathLike[str],
    *,
    reader: Reader = Reader.AUTO,
    validate_checksums: bool = False,
) -> Capture:
    """Read a capture with the chosen reader; raises the loaders' PcapExplainError subclasses."""
    if reader is not Reader.TSHARK:
        try:
            return native.load_capture(
                path, validate_checksums=validate_checksums, strict=reader is Reader.AUTO
            )
        except NativeUnsupported:
            if reader is Reader.NATIVE:
                raise
    from pcapexplain import loader  # pyshark is imported only when tshark is needed

    return loader.load_capture(path, validate_checksums=validate_checksums)
