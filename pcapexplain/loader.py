"""Loader: one tshark run per capture, streamed into typed columns; the only pyshark user.

pyshark finds tshark and checks its version; its per-packet objects are far too slow for large
captures, so the dissection is read from tshark's custom-column output (`-T tabs`), which costs
about half of `-T fields` for the same values. Any other reader that fills `PacketColumns` (a native
fast path for plain Ethernet/IP, say) can replace `load_capture` without touching later stages.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import dataclasses
import functools
import io
import os
import queue
import re
import signal
import subprocess
import tempfile
import threading
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any

from pcapexplain import files
from pcapexplain.errors import (
    EmptyCapture,
    NotACapture,
    NoTcp,
    TsharkFailed,
    TsharkMissing,
    TsharkTooOld,
)
from pcapexplain.explanations import said
from pcapexplain.model import (
    COLUMN_NAMES,
    AnalysisFlag,
    Capture,
    CaptureInfo,
    IcmpError,
    PacketColumns,
)

if TYPE_CHECKING:
    from pcapexplain.tables import ColumnKind, TabColumns

MIN_TSHARK = (3, 6)  # custom-column occurrences and tcp.seq_raw as used below

# Analysis flags in AnalysisFlag bit order; FT_NONE fields print a check mark when present.
_ANALYSIS_FIELDS = (
    "tcp.analysis.retransmission",
    "tcp.analysis.fast_retransmission",
    "tcp.analysis.spurious_retransmission",
    "tcp.analysis.out_of_order",
    "tcp.analysis.lost_segment",
    "tcp.analysis.ack_lost_segment",
    "tcp.analysis.duplicate_ack",
    "tcp.analysis.zero_window",
    "tcp.analysis.zero_window_probe",
    "tcp.analysis.zero_window_probe_ack",
    "tcp.analysis.window_full",
    "tcp.analysis.window_update",
    "tcp.analysis.keep_alive",
    "tcp.analysis.keep_alive_ack",
    "tcp.analysis.reused_ports",
)
assert len(_ANALYSIS_FIELDS) == len(AnalysisFlag)

# (column name, custom-column field spec, kind). Every numeric spec names one occurrence, so tshark
# prints one value per field and the C parser reads it as a number: `:-1` is the last (innermost)
# occurrence, the addresses and header fields the TCP segment travelled with under tunnels; `:1`
# the first of a repeated TCP option, as stacks that stop at the first one read it; `:U` asks for
# the raw number. Kinds (tables.ColumnKind): "int", "float" and "present" become the PacketColumns
# field of the same name; "number" and "text" only feed the columns derived from them (addresses,
# TTL, flags, analysis bits, checksum verdicts). A new integer column is one line here and one
# field of PacketColumns.
_FIELDS: tuple[tuple[str, str, ColumnKind], ...] = (
    ("frame", "frame.number", "int"),
    ("time", "frame.time_epoch", "float"),
    ("ip_src", "ip.src:-1", "text"),
    ("ip_dst", "ip.dst:-1", "text"),
    ("ip6_src", "ipv6.src:-1", "text"),
    ("ip6_dst", "ipv6.dst:-1", "text"),
    ("ip_proto", "ip.proto:-1:U", "number"),
    ("ip_ttl", "ip.ttl:-1", "number"),
    ("ip6_hlim", "ipv6.hlim:-1", "number"),
    ("ip_len", "ip.len:-1", "number"),
    ("ip6_plen", "ipv6.plen:-1", "number"),
    ("ip_checksum", "ip.checksum.status:-1", "text"),
    ("icmp", "icmp.type:1", "number"),  # an ICMP error may quote another ICMP message
    ("icmp6", "icmpv6.type:1", "number"),
    ("icmp_code", "icmp.code:1", "number"),
    ("icmp6_code", "icmpv6.code:1", "number"),
    ("ip_src_outer", "ip.src:1", "text"),  # an ICMP error's sender; ip.src:-1 is the quoted one
    ("ip6_src_outer", "ipv6.src:1", "text"),
    ("seq_in_error", "tcp.seq:-1", "int"),  # in an ICMP error tcp.seq is raw, tcp.seq_raw empty
    ("stream", "tcp.stream:-1", "int"),
    ("sport", "tcp.srcport:-1", "int"),
    ("dport", "tcp.dstport:-1", "int"),
    ("flags", "tcp.flags:-1", "text"),
    ("seq", "tcp.seq_raw:-1", "int"),
    ("ack", "tcp.ack_raw:-1", "int"),
    ("length", "tcp.len:-1", "number"),
    ("window", "tcp.window_size_value:-1", "int"),
    ("mss", "tcp.options.mss_val:1", "int"),
    ("wscale", "tcp.options.wscale.shift:1", "int"),
    ("sack_perm", "tcp.options.sack_perm:1", "present"),
    ("sack", "tcp.options.sack_le:1", "present"),
    ("tsval", "tcp.options.timestamp.tsval:1", "int"),
    ("tfo", "tcp.options.tfo:1", "present"),
    ("tcp_checksum", "tcp.checksum.status:-1", "text"),
    ("ip_id", "ip.id:-1:U", "text"),  # hexadecimal, even with :U
    ("tcp_sum", "tcp.checksum:-1:U", "text"),
    # A snapshot length that ends inside the TCP options: with every payload read as data, only
    # the TCP header can make the frame short (tables._options_cut).
    ("short", "_ws.short:1", "text"),
    ("hdr_len", "tcp.hdr_len:-1", "number"),
    *((f"a{i}", name, "text") for i, name in enumerate(_ANALYSIS_FIELDS)),
)
_LAYOUT = tuple((name, kind) for name, _, kind in _FIELDS)
# The fields tshark is asked for, in order: benchmarks/run.py exports the same with `-T fields`.
FIELDS = tuple(spec.split(":")[0] for _, spec, _ in _FIELDS)

# Pinned so that no user profile can change the dissection (TCP-REFERENCE, pyshark pitfalls).
_PREFERENCES = {
    "tcp.analyze_sequence_numbers": "TRUE",
    "tcp.relative_sequence_numbers": "TRUE",
    "tcp.track_bytes_in_flight": "TRUE",
    "tcp.calculate_timestamps": "FALSE",
    "tcp.desegment_tcp_streams": "FALSE",  # reassembly adds memory and changes nothing we read
    "tcp.try_heuristic_first": "FALSE",
    "tcp.no_subdissector_on_error": "TRUE",
    "ip.defragment": "TRUE",
    "ipv6.defragment": "TRUE",
}
_DISABLED_PROTOCOLS = ("http", "http2", "tls", "ssh", "smb", "smb2", "dns", "quic")
_PAYLOAD_AS_DATA = "tcp.port==1-65535,data"
_READ_SIZE = 1 << 20
_QUEUED_BLOCKS = 256  # at most this many MiB of tshark output wait for the parser


@dataclass(frozen=True, slots=True)
class TsharkInfo:
    path: str
    version: str
    supported: bool


@functools.cache
def tshark_info() -> TsharkInfo:
    """Find tshark through pyshark and check its version; raises TsharkMissing.

    Looked up once per process: asking tshark its version costs a second tshark start, as much
    as reading a small capture (a batch of small captures would pay it for each one).
    """
    from pyshark.tshark import tshark as pyshark_tshark

    try:
        path = pyshark_tshark.get_process_path()
        if not os.path.exists(path):
            raise pyshark_tshark.TSharkNotFoundException(path)
        version = str(pyshark_tshark.get_tshark_version(path))
    except pyshark_tshark.TSharkNotFoundException as exc:
        raise TsharkMissing(said("error.tshark_missing")) from exc
    except (OSError, subprocess.SubprocessError) as exc:
        raise TsharkFailed(said("error.tshark_not_run", reason=str(exc))) from exc
    return TsharkInfo(path=path, version=version, supported=version_tuple(version) >= MIN_TSHARK)


def require_tshark() -> TsharkInfo:
    """tshark_info() for a tshark that pcapexplain can use; raises TsharkMissing, TsharkTooOld."""
    tshark = tshark_info()
    if not tshark.supported:
        needed = ".".join(map(str, MIN_TSHARK))
        raise TsharkTooOld(said("error.tshark_too_old", version=tshark.version, needed=needed))
    return tshark


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version)[:3])


def tshark_command(tshark: str, capture: str, *, validate_checksums: bool) -> list[str]:
    """The one tshark invocation: two passes (final analysis flags), no name resolution."""
    checksum = "TRUE" if validate_checksums else "FALSE"
    prefs = {**_PREFERENCES, "tcp.check_checksum": checksum, "ip.check_checksum": checksum}
    columns = ",".join(f'"{name}","%Cus:{spec}"' for name, spec, _ in _FIELDS)
    # Every TCP payload is plain data: application dissectors cost ~15 % of tshark's time and
    # change none of the fields read (a test compares the output with and without this).
    command = [tshark, "-n", "-r", capture, "-T", "tabs", "-d", _PAYLOAD_AS_DATA]
    for key, value in prefs.items():
        command += ["-o", f"{key}:{value}"]
    for proto in _DISABLED_PROTOCOLS:
        command += ["--disable-protocol", proto]  # a comma list is silently ignored in 4.0
    return [*command, "-o", f"gui.column.format:{columns}"]


def load_capture(
    path: str | os.PathLike[str],
    *,
    validate_checksums: bool = False,
    status: files.ReadStatus | None = None,
    shown: str | None = None,
) -> Capture:
    """Read every TCP segment of a capture into typed columns.

    status, when given, is kept up to date for a progress display; shown is the name the capture
    goes by (readers.load passes "-" for a spooled standard input). Raises CaptureNotFound,
    CaptureUnreadable, NotACapture, EmptyCapture, NoTcp, TsharkMissing, TsharkTooOld or
    TsharkFailed. A capture cut short is read as far as it goes, with a warning.
    """
    status = status if status is not None else files.ReadStatus()
    capture = files.check_file(Path(path))
    return _load(capture, shown or files.shown_name(path), validate_checksums, status)


def _load(capture: Path, shown: str, validate_checksums: bool, status: files.ReadStatus) -> Capture:
    tshark = require_tshark()
    command = tshark_command(tshark.path, str(capture), validate_checksums=validate_checksums)
    status.size, status.path = capture.stat().st_size, str(capture.resolve())
    stop = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        # hashlib releases the GIL: the hash is free while tshark runs.
        digest = pool.submit(files.sha256, capture, stop)
        try:
            builder, stderr = _read(command, status)
            packets = builder.columns()
            info = CaptureInfo(
                path=shown,
                size_bytes=status.size,
                sha256="",
                tshark_version=tshark.version,
                total_frames=builder.total_frames,
                truncated_at=builder.last_frame if _cut_short(stderr) else None,
                warnings=_warnings(stderr, builder, packets),
            )
            _check_content(files.error_name(capture, shown), info, packets, stderr)
        except BaseException:
            stop.set()  # a failed run leaves no hashing behind (a huge file would take minutes)
            raise
        info = dataclasses.replace(info, sha256=digest.result())
    return Capture(info=info, packets=packets, icmp=builder.icmp())


def _read(command: list[str], status: files.ReadStatus) -> tuple[_TabReader, str]:
    """Run tshark and parse its output with pandas' C reader (tables.TabColumns)."""
    reader = _TabReader(status)
    try:
        with _noting_ctrl_c() as ctrl_c:
            return reader, _run(command, reader.consume, status)
    except ValueError as exc:
        if ctrl_c.is_set():
            raise KeyboardInterrupt from None  # pandas reports a Ctrl-C in read() as a ValueError
        # Every numeric field names one occurrence (see _FIELDS), so this is tshark's own bug.
        raise TsharkFailed(said("error.tshark_output", reason=str(exc))) from exc


@contextlib.contextmanager
def _noting_ctrl_c() -> Iterator[threading.Event]:
    """Set when SIGINT arrives, wherever the main thread is at the time.

    pandas' C reader turns an exception raised in its call to read() into a ValueError; a check
    inside read() misses the interrupt that Python raises on entry to the call, before any try.
    """
    noted = threading.Event()
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield noted  # a worker ignores SIGINT (runner.py), and only the main thread gets signals
        return

    def note(signum: int, frame: FrameType | None) -> None:
        noted.set()
        previous(signum, frame)

    signal.signal(signal.SIGINT, note)
    try:
        yield noted
    finally:
        signal.signal(signal.SIGINT, previous)


class _TabReader:
    """tshark's tab output into PacketColumns, through tables.TabColumns."""

    def __init__(self, status: files.ReadStatus) -> None:
        self._table: TabColumns | None = None
        self._status = status

    @property
    def total_frames(self) -> int:
        return self._table.total_frames if self._table else 0

    @property
    def last_frame(self) -> int:
        return self._table.last_frame if self._table else 0

    def consume(self, stream: io.RawIOBase) -> None:
        # Imported here, once tshark is already running: pandas takes half a second to load.
        from pcapexplain import tables

        self._table = tables.TabColumns(_LAYOUT, self._count)
        self._table.consume(stream)

    def _count(self, frames: int) -> None:
        self._status.frames = frames

    def columns(self) -> PacketColumns:
        out = self._table.out if self._table else {}
        return PacketColumns(**{name: out.get(name, array("b")) for name in COLUMN_NAMES})

    def icmp(self) -> tuple[IcmpError, ...]:
        return tuple(self._table.icmp) if self._table else ()


def _isolated_env(home: str) -> dict[str, str]:
    """No user profile, preferences or personal plugins: tshark sees an empty home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRESHARK_")}
    env.update(HOME=home, XDG_CONFIG_HOME=home, WIRESHARK_CONFIG_DIR=home, LC_ALL="C.UTF-8")
    return env


def _die_with_parent() -> None:
    # Linux PR_SET_PDEATHSIG: tshark is killed even if this process is killed outright.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def _run(
    command: list[str], consume: Callable[[io.RawIOBase], None], status: files.ReadStatus
) -> str:
    """Run tshark, stream its stdout into consume, and always reap it. Returns stderr."""
    with (
        tempfile.TemporaryDirectory(prefix="pcapexplain-") as home,
        tempfile.TemporaryFile() as err,
    ):
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            env=_isolated_env(home),
            preexec_fn=_die_with_parent,
        )
        assert process.stdout is not None
        status.pid, status.reading = process.pid, True
        drained = _Drained(process.stdout)
        try:
            consume(drained)
            returncode = process.wait()
        finally:
            status.pid, status.reading = None, False
            _reap(process)
            drained.join()
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if returncode < 0:
        raise TsharkFailed(
            said("error.tshark_crashed", signal=-returncode, detail=_first_error(stderr))
        )
    if returncode != 0 and not _cut_short(stderr) and not _known_input_error(stderr):
        raise TsharkFailed(
            said("error.tshark_failed", code=returncode, detail=_first_error(stderr))
        )
    return stderr


class _Drained(io.RawIOBase):
    """tshark's stdout, emptied by a thread so that tshark never waits while Python parses.

    A pipe holds 64 KiB; without the thread tshark would stall whenever the parser is busy with a
    chunk, and the two would take turns instead of using both cores.
    """

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__()
        self._blocks: queue.Queue[bytes] = queue.Queue(maxsize=_QUEUED_BLOCKS)
        self._buffer = b""
        self._eof = False
        self._thread = threading.Thread(target=self._pump, args=(stream.fileno(),), daemon=True)
        self._thread.start()

    def _pump(self, fd: int) -> None:
        try:
            while block := os.read(fd, _READ_SIZE):
                self._blocks.put(block)
        except OSError:
            pass  # the pipe was closed under us: the run is being torn down
        finally:
            self._blocks.put(b"")

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while not self._eof and (size < 0 or len(self._buffer) < size):
            block = self._blocks.get()
            if not block:
                self._eof = True
            self._buffer += block
        if size < 0:
            size = len(self._buffer)
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def readinto(self, target: Any) -> int:
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)

    def join(self) -> None:
        while self._thread.is_alive():
            try:
                self._blocks.get_nowait()  # unblock a pump waiting on a full queue
            except queue.Empty:
                self._thread.join(timeout=0.05)


def _reap(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


_CUT_SHORT = re.compile(r"cut short|truncated|appears to be damaged or corrupt", re.IGNORECASE)
_NOT_CAPTURE = re.compile(r"isn't a capture file|unknown file format|not a capture", re.IGNORECASE)


def _cut_short(stderr: str) -> bool:
    return bool(_CUT_SHORT.search(stderr))


def _known_input_error(stderr: str) -> bool:
    return bool(_NOT_CAPTURE.search(stderr))


def _first_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and "Running as user" not in ln]
    return lines[0] if lines else said("error.what.no_message")


def _warnings(stderr: str, reader: _TabReader, packets: PacketColumns) -> tuple[str, ...]:
    found = []
    if _cut_short(stderr):
        found.append(said("warning.cut_short", frame=reader.last_frame))
    return (*found, *files.packet_warnings(packets))


def _check_content(name: str, info: CaptureInfo, packets: PacketColumns, stderr: str) -> None:
    if _known_input_error(stderr):
        raise NotACapture(said("error.not_capture_tshark", name=name))
    if info.total_frames == 0:
        if info.truncated_at is not None:
            raise NotACapture(said("error.cut_before_first", name=name))
        raise EmptyCapture(said("error.no_packets", name=name))
    if len(packets) == 0:
        frames = said("ui.packets", count=info.total_frames)
        raise NoTcp(said("error.no_tcp", name=name, frames=frames))
