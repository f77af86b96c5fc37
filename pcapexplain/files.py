"""The capture file as both readers open it: standard input spooled, the one file check, its
SHA-256 (stoppable), the reading status a progress display polls, and the timestamp warning."""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import secrets
import shutil
import stat
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from pcapexplain.errors import CaptureNotFound, CaptureUnreadable, os_reason
from pcapexplain.explanations import said
from pcapexplain.model import PacketColumns

READ_SIZE = 1 << 20
STDIN = "-"  # the capture argument that means standard input, as for tshark and tcpdump


@dataclass(slots=True)
class ReadStatus:
    """How far a running load has got, for a progress display polled from another thread.

    size: bytes of the capture file (0 until known); frames: frames parsed so far; received:
    bytes of standard input spooled so far; reading: a reader is working through the file;
    pid: tshark's process id while it runs (its file offset gives the bytes read).
    """

    size: int = 0
    frames: int = 0
    received: int = 0
    reading: bool = False
    pid: int | None = None
    path: str = ""  # the file tshark reads, resolved
    _fd: str | None = field(default=None, repr=False)

    def bytes_read(self) -> int:
        """Bytes of the capture tshark has read: its file offset (Linux /proc); 0 if unknown."""
        if self.pid is None:
            return 0
        with contextlib.suppress(OSError, ValueError):
            if self._fd is None:
                self._fd = _find_fd(self.pid, self.path)
            if self._fd is not None:
                info = Path(f"/proc/{self.pid}/fdinfo/{self._fd}").read_text()
                return int(info.split("pos:", 1)[1].split()[0])
        return 0


def _find_fd(pid: int, path: str) -> str | None:
    for link in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            if os.readlink(link) == path:
                return link.name
    return None


def shown_name(path: str | os.PathLike[str]) -> str:
    """The path as text every writer can store: a Linux file name need not be UTF-8."""
    return os.fsencode(path).decode("utf-8", "replace")


def error_name(capture: Path, shown: str) -> str:
    """How an error message names the capture."""
    return said("error.what.stdin") if shown == STDIN else capture.name


@contextlib.contextmanager
def spooled_stdin(status: ReadStatus) -> Iterator[Path]:
    """Standard input copied once to a private temporary file, removed afterwards: every reader,
    the hash and the magic check need a file they can open, which a pipe cannot give them."""
    if sys.stdin is None or sys.stdin.isatty():
        raise CaptureUnreadable(said("error.stdin_terminal"), hint=said("hint.pipe_capture"))
    with _private_folder() as folder:
        target = folder / "stdin.pcap"
        source = sys.stdin.buffer
        with target.open("wb") as out:
            while block := source.read(READ_SIZE):
                out.write(block)
                status.received += len(block)
        yield target


@contextlib.contextmanager
def _private_folder() -> Iterator[Path]:
    """A new folder only this user can read, removed however the block ends.

    tempfile.TemporaryDirectory leaves its folder behind when Ctrl-C lands between its mkdir and
    the registration of its cleanup; here the cleanup covers the mkdir itself."""
    while True:
        folder = Path(tempfile.gettempdir()) / f"pcapexplain-stdin-{secrets.token_hex(8)}"
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            continue  # another's folder: never removed
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)  # a Ctrl-C raised just after the mkdir
            raise
        break
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


_NOT_REGULAR = (  # keys of error.what.*
    (stat.S_ISDIR, "folder"),
    (stat.S_ISFIFO, "fifo"),
    (stat.S_ISCHR, "char_device"),
    (stat.S_ISBLK, "block_device"),
    (stat.S_ISSOCK, "socket"),
)


def check_file(path: Path) -> Path:
    """A regular file that can be read; raises CaptureNotFound or CaptureUnreadable.

    Anything else is refused before it is opened: a FIFO would block in open() and /dev/zero
    would never end, and the capture is opened several times (the check, the reader, the hash).
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise CaptureNotFound(said("error.no_such_file", path=str(path))) from None
    except OSError as exc:
        raise CaptureUnreadable(_unreadable(path, exc)) from exc
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _NOT_REGULAR if test(mode)), "irregular")
        raise CaptureUnreadable(
            said("error.not_regular", path=str(path), kind=said(f"error.what.{kind}")),
            hint=said("hint.pass_file_or_pipe"),
        )
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise CaptureUnreadable(_unreadable(path, exc)) from exc
    return path


def _unreadable(name: str | Path, exc: OSError) -> str:
    return said("error.cannot_read", path=str(name), reason=os_reason(exc))


def sha256(path: Path, stop: threading.Event | None = None) -> str:
    """The file's SHA-256 in hex; "" once stop is set (a failed run leaves no hashing behind).

    hashlib releases the GIL: a thread runs it beside a parse.
    """
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(READ_SIZE), b""):
            if stop is not None and stop.is_set():
                return ""
            digest.update(block)
    return digest.hexdigest()


def packet_warnings(packets: PacketColumns) -> tuple[str, ...]:
    """The warnings either reader gives about the segments it read (the native reader counts
    them block by block, as it reads, with the same classes)."""
    backwards, headers = Backwards(), HeadersCut()
    backwards.add(packets.time, packets.frame)
    headers.add(packets.header_cut, packets.frame)
    return (*backwards.warning(), *headers.warning())


@dataclass(slots=True)
class HeadersCut:
    """Segments whose TCP options the snapshot length cut, counted as they are read."""

    count: int = 0
    first: int = 0  # the frame of the first one

    def add(self, cut: npt.ArrayLike, frames: npt.ArrayLike) -> None:
        """The next segments, in capture order: cut marks the cut ones."""
        rows = np.flatnonzero(np.asarray(cut, dtype=bool))
        if len(rows) and not self.count:
            self.first = int(np.asarray(frames)[rows[0]])
        self.count += len(rows)

    def warning(self) -> tuple[str, ...]:
        """The warning when the snapshot length cut TCP headers (none when it never did)."""
        if not self.count:
            return ()
        segments = said("warning.segments", count=self.count)
        return (said("warning.headers_cut", segments=segments, first=self.first),)


@dataclass(slots=True)
class Backwards:
    """Segments' timestamps that go backwards, counted as they are read, block after block."""

    last: float = -math.inf  # the previous block's last timestamp
    count: int = 0
    first: int = 0  # the frame of the first one that goes backwards

    def add(self, times: npt.ArrayLike, frames: npt.ArrayLike) -> None:
        """The next segments, in capture order."""
        stamps = np.asarray(times, dtype=np.float64)
        if not len(stamps):
            return
        back = np.flatnonzero(np.diff(stamps, prepend=self.last) < 0)
        if len(back) and not self.count:
            self.first = int(np.asarray(frames)[back[0]])
        self.count += len(back)
        self.last = float(stamps[-1])

    def warning(self) -> tuple[str, ...]:
        """The warning when the segments' timestamps go backwards (none when they never do)."""
        if not self.count:
            return ()
        times = said("warning.times", count=self.count)
        return (said("warning.backwards", times=times, first=self.first),)
