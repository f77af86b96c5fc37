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
import functools
import hashlib
import io
import os
import queue
import re
import signal
import subprocess
import tempfile
import threading
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from pcapexplain.errors import (
    CaptureNotFound,
    CaptureUnreadable,
    EmptyCapture,
    NotACapture,
    NoTcp,
    TsharkFailed,
    TsharkMissing,
    TsharkTooOld,
)
from pcapexplain.model import (
    COLUMN_NAMES,
    NO_VALUE,
    AnalysisFlag,
    Capture,
    CaptureInfo,
    ChecksumStatus,
    PacketColumns,
)

if TYPE_CHECKING:
    from pcapexplain.tables import TabColumns

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

# (column name, custom-column field spec). `:-1` picks the last (innermost) occurrence so tunnels
# report the addresses the TCP segment travelled between; `:0:U` asks for the raw number.
_FIELDS: tuple[tuple[str, str], ...] = (
    ("frame", "frame.number"),
    ("time", "frame.time_epoch"),
    ("ip_src", "ip.src:-1"),
    ("ip_dst", "ip.dst:-1"),
    ("ip6_src", "ipv6.src:-1"),
    ("ip6_dst", "ipv6.dst:-1"),
    ("ip_proto", "ip.proto:-1:U"),
    ("ip_ttl", "ip.ttl:-1"),
    ("ip6_hlim", "ipv6.hlim:-1"),
    ("ip_len", "ip.len:-1"),
    ("ip6_plen", "ipv6.plen:-1"),
    ("ip_checksum", "ip.checksum.status:-1"),
    ("icmp", "icmp.type"),
    ("icmp6", "icmpv6.type"),
    ("stream", "tcp.stream"),
    ("sport", "tcp.srcport"),
    ("dport", "tcp.dstport"),
    ("flags", "tcp.flags"),
    ("seq", "tcp.seq_raw"),
    ("ack", "tcp.ack_raw"),
    ("length", "tcp.len"),
    ("window", "tcp.window_size_value"),
    ("mss", "tcp.options.mss_val"),
    ("wscale", "tcp.options.wscale.shift"),
    ("sack_perm", "tcp.options.sack_perm"),
    ("sack", "tcp.options.sack_le:1"),
    ("tsval", "tcp.options.timestamp.tsval"),
    ("tfo", "tcp.options.tfo"),
    ("tcp_checksum", "tcp.checksum.status"),
    *((f"a{i}", name) for i, name in enumerate(_ANALYSIS_FIELDS)),
)
FIELDS = tuple(spec.split(":")[0] for _, spec in _FIELDS)  # what tshark is asked for, in order
_INDEX = {name: i for i, (name, _) in enumerate(_FIELDS)}
_FIRST_ANALYSIS = _INDEX["a0"]
_IPV6_IN_IPV4 = "41"  # ip.proto of a 6in4 tunnel: the TCP segment rides in the inner IPv6 header
_IPV6_HEADER = 40  # the fixed IPv6 header, not counted in its payload length

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
        raise TsharkMissing("tshark (Wireshark's command-line dissector) was not found") from exc
    except (OSError, subprocess.SubprocessError) as exc:
        raise TsharkFailed(f"tshark could not be run: {exc}") from exc
    return TsharkInfo(path=path, version=version, supported=version_tuple(version) >= MIN_TSHARK)


def require_tshark() -> TsharkInfo:
    """tshark_info() for a tshark that pcapexplain can use; raises TsharkMissing, TsharkTooOld."""
    tshark = tshark_info()
    if not tshark.supported:
        needed = ".".join(map(str, MIN_TSHARK))
        raise TsharkTooOld(f"tshark {tshark.version} is too old; pcapexplain needs {needed}")
    return tshark


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version)[:3])


def tshark_command(tshark: str, capture: str, *, validate_checksums: bool) -> list[str]:
    """The one tshark invocation: two passes (final analysis flags), no name resolution."""
    checksum = "TRUE" if validate_checksums else "FALSE"
    prefs = {**_PREFERENCES, "tcp.check_checksum": checksum, "ip.check_checksum": checksum}
    columns = ",".join(f'"{name}","%Cus:{spec}"' for name, spec in _FIELDS)
    # Every TCP payload is plain data: application dissectors cost ~15 % of tshark's time and
    # change none of the fields read (a test compares the output with and without this).
    command = [tshark, "-n", "-r", capture, "-T", "tabs", "-d", _PAYLOAD_AS_DATA]
    for key, value in prefs.items():
        command += ["-o", f"{key}:{value}"]
    for proto in _DISABLED_PROTOCOLS:
        command += ["--disable-protocol", proto]  # a comma list is silently ignored in 4.0
    return [*command, "-o", f"gui.column.format:{columns}"]


def load_capture(path: str | os.PathLike[str], *, validate_checksums: bool = False) -> Capture:
    """Read every TCP segment of a capture into typed columns.

    Raises CaptureNotFound, CaptureUnreadable, NotACapture, EmptyCapture, NoTcp, TsharkMissing,
    TsharkTooOld or TsharkFailed. A capture cut short is read as far as it goes, with a warning.
    """
    capture = _check_file(Path(path))
    tshark = require_tshark()
    command = tshark_command(tshark.path, str(capture), validate_checksums=validate_checksums)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        digest = pool.submit(_sha256, capture)  # hashlib releases the GIL: free while tshark runs
        builder, stderr = _read(command)
    packets = builder.columns()
    info = CaptureInfo(
        path=str(path),
        size_bytes=capture.stat().st_size,
        sha256=digest.result(),
        tshark_version=tshark.version,
        total_frames=builder.total_frames,
        truncated_at=builder.last_frame if _cut_short(stderr) else None,
        warnings=_warnings(stderr, builder.last_frame),
    )
    _check_content(capture, info, packets, stderr)
    return Capture(info=info, packets=packets)


class _Reader(Protocol):
    @property
    def total_frames(self) -> int: ...

    @property
    def last_frame(self) -> int: ...

    def consume(self, stream: io.RawIOBase) -> None: ...

    def columns(self) -> PacketColumns: ...


def _read(command: list[str]) -> tuple[_Reader, str]:
    """tshark's output through pandas' C parser; the pure-Python reader if that one balks."""
    fast = _FastReader()
    try:
        return fast, _run(command, fast.consume)
    except ValueError:
        if fast.interrupted:
            raise KeyboardInterrupt from None  # pandas reports a Ctrl-C in read() as a ValueError
        # A field held more than one value (odd encapsulations): the text reader copes.
        reader = _ColumnBuilder()
        return reader, _run(command, reader.consume)


class _FastReader:
    def __init__(self) -> None:
        self._table: TabColumns | None = None
        self.interrupted = False

    @property
    def total_frames(self) -> int:
        return self._table.total_frames if self._table else 0

    @property
    def last_frame(self) -> int:
        return self._table.last_frame if self._table else 0

    def consume(self, stream: io.RawIOBase) -> None:
        # Imported here, once tshark is already running: pandas takes half a second to load.
        from pcapexplain import tables

        self._table = tables.TabColumns([name for name, _ in _FIELDS])
        self._table.consume(_Watched(stream, self))

    def columns(self) -> PacketColumns:
        out = self._table.out if self._table else {}
        empty = {name: array("b") for name in COLUMN_NAMES}
        return PacketColumns(**{name: out.get(name, empty[name]) for name in COLUMN_NAMES})


class _Watched(io.RawIOBase):
    """tshark's stdout, noting a Ctrl-C that arrives while pandas waits in read()."""

    def __init__(self, stream: io.RawIOBase, owner: _FastReader) -> None:
        super().__init__()
        self._stream, self._owner = stream, owner

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read(size)
        except KeyboardInterrupt:
            self._owner.interrupted = True
            raise


def _check_file(path: Path) -> Path:
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_READ_SIZE), b""):
            digest.update(block)
    return digest.hexdigest()


def _isolated_env(home: str) -> dict[str, str]:
    """No user profile, preferences or personal plugins: tshark sees an empty home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRESHARK_")}
    env.update(HOME=home, XDG_CONFIG_HOME=home, WIRESHARK_CONFIG_DIR=home, LC_ALL="C.UTF-8")
    return env


def _die_with_parent() -> None:
    # Linux PR_SET_PDEATHSIG: tshark is killed even if this process is killed outright.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def _run(command: list[str], consume: Callable[[io.RawIOBase], None]) -> str:
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
        drained = _Drained(process.stdout)
        try:
            consume(drained)
            returncode = process.wait()
        finally:
            _reap(process)
            drained.join()
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if returncode < 0:
        raise TsharkFailed(f"tshark crashed (signal {-returncode}): {_first_error(stderr)}")
    if returncode != 0 and not _cut_short(stderr) and not _known_input_error(stderr):
        raise TsharkFailed(f"tshark failed (exit {returncode}): {_first_error(stderr)}")
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


def _lines(stream: io.RawIOBase) -> Iterator[str]:
    """Decode tshark's output in large blocks; far cheaper than a readline per packet."""
    rest = b""
    while block := stream.read(_READ_SIZE):
        block = rest + block
        cut = block.rfind(b"\n") + 1
        rest = block[cut:]
        yield from block[:cut].decode("utf-8", "replace").splitlines()
    if rest:
        yield rest.decode("utf-8", "replace")


_CUT_SHORT = re.compile(r"cut short|truncated|appears to be damaged or corrupt", re.IGNORECASE)
_NOT_CAPTURE = re.compile(r"isn't a capture file|unknown file format|not a capture", re.IGNORECASE)


def _cut_short(stderr: str) -> bool:
    return bool(_CUT_SHORT.search(stderr))


def _known_input_error(stderr: str) -> bool:
    return bool(_NOT_CAPTURE.search(stderr))


def _first_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and "Running as user" not in ln]
    return lines[0] if lines else "no message"


def _warnings(stderr: str, last_frame: int) -> tuple[str, ...]:
    if _cut_short(stderr):
        return (f"the capture is cut short after frame {last_frame}; analysed up to there",)
    return ()


def _check_content(path: Path, info: CaptureInfo, packets: PacketColumns, stderr: str) -> None:
    if _known_input_error(stderr):
        raise NotACapture(f"{path.name} is not a capture file tshark can read")
    if info.total_frames == 0:
        if info.truncated_at is not None:
            raise NotACapture(f"{path.name} is cut short before its first packet")
        raise EmptyCapture(f"{path.name} holds no packets")
    if len(packets) == 0:
        raise NoTcp(f"{path.name} holds {info.total_frames} packets but no TCP segment")


_CHECKSUM = {"Good": int(ChecksumStatus.GOOD), "Bad": int(ChecksumStatus.BAD)}
_BLOCK_ROWS = 1 << 16


class _ColumnBuilder:
    """Typed, append-only columns, converted a block of rows at a time.

    Converting column by column with map() keeps the per-value work in C; a Python statement
    per field per packet would cost more than tshark itself at a million packets.
    """

    def __init__(self) -> None:
        self.frame = array("q")
        self.time = array("d")
        self.src: list[str] = []
        self.dst: list[str] = []
        self.ints = {name: array("q") for name in _INT_COLUMNS}
        self.bools = {name: array("b") for name in _BOOL_COLUMNS}
        self.analysis = array("q")
        self.ip_checksum = array("b")
        self.tcp_checksum = array("b")
        self.total_frames = 0
        self.last_frame = 0
        self._strings: dict[str, str] = {}

    def consume(self, stream: io.RawIOBase) -> None:
        self.add_lines(_lines(stream))

    def add_lines(self, lines: Iterable[str]) -> None:
        block: list[list[str]] = []
        for line in lines:
            block.append(line.split("\t"))
            if len(block) >= _BLOCK_ROWS:
                self._add_block(block)
                block = []
        if block:
            self._add_block(block)

    def _add_block(self, block: list[list[str]]) -> None:
        width = len(_FIELDS)
        # Rows of another width are tshark notices on stdout, never packets.
        frames = [r for r in block if len(r) == width and r[0].isdigit()]
        if not frames:
            return
        self.total_frames += len(frames)
        self.last_frame = int(frames[-1][0])
        rows = [r for r in frames if r[_I_STREAM] and not r[_I_ICMP] and not r[_I_ICMP6]]
        if rows:
            self._add_columns(list(zip(*rows, strict=True)))

    def _add_columns(self, cols: list[tuple[str, ...]]) -> None:
        self.frame.extend(map(int, cols[0]))
        self.time.extend(map(float, cols[_I_TIME]))
        six = [
            not v4 or proto == _IPV6_IN_IPV4
            for v4, proto in zip(cols[_I_IP_SRC], cols[_I_PROTO], strict=False)
        ]
        self._addresses(six, cols)
        for name, index, parse in _INT_PARSERS:
            self.ints[name].extend(parse(cols[index]))
        ttl = [h if s else t for s, t, h in zip(six, cols[_I_TTL], cols[_I_HLIM], strict=False)]
        self.ints["ttl"].extend(_optional_ints(ttl))
        self.ints["ip_len"].extend(_ip_lengths(six, cols[_I_IP_LEN], cols[_I_IP6_PLEN]))
        for name, index in _BOOL_INDEX:
            self.bools[name].extend([v != "" for v in cols[index]])
        self.analysis.extend(_analysis_bits(cols[_FIRST_ANALYSIS:]))
        ip_sum = [
            0 if s else _CHECKSUM.get(v, 0) for s, v in zip(six, cols[_I_IP_CHECKSUM], strict=False)
        ]
        self.ip_checksum.extend(ip_sum)
        self.tcp_checksum.extend([_CHECKSUM.get(v, 0) for v in cols[_I_TCP_CHECKSUM]])

    def _addresses(self, six: list[bool], cols: list[tuple[str, ...]]) -> None:
        intern = self._strings.setdefault
        for out, v4, v6 in ((self.src, _I_IP_SRC, _I_IP6_SRC), (self.dst, _I_IP_DST, _I_IP6_DST)):
            picked = [b if s else a for s, a, b in zip(six, cols[v4], cols[v6], strict=False)]
            out.extend([intern(x, x) for x in picked])

    def columns(self) -> PacketColumns:
        i, b = self.ints, self.bools
        return PacketColumns(
            frame=self.frame,
            time=self.time,
            src=self.src,
            dst=self.dst,
            sport=i["sport"],
            dport=i["dport"],
            flags=i["flags"],
            seq=i["seq"],
            ack=i["ack"],
            length=i["length"],
            window=i["window"],
            mss=i["mss"],
            wscale=i["wscale"],
            sack_perm=b["sack_perm"],
            sack=b["sack"],
            tsval=i["tsval"],
            tfo=b["tfo"],
            ttl=i["ttl"],
            ip_len=i["ip_len"],
            analysis=self.analysis,
            ip_checksum=self.ip_checksum,
            tcp_checksum=self.tcp_checksum,
            stream=i["stream"],
        )


_NONE = str(NO_VALUE)


def _ints(values: tuple[str, ...]) -> Iterable[int]:
    return map(int, values)


def _optional_ints(values: Iterable[str]) -> Iterable[int]:
    # Some fields repeat (several options, IP fragments); the first value is the one that counts.
    return map(int, [(v.partition(",")[0] if "," in v else v) or _NONE for v in values])


def _ip_lengths(six: list[bool], v4: tuple[str, ...], v6: tuple[str, ...]) -> list[int]:
    # IPv6 counts its payload only; the 40-byte fixed header makes it a total length like IPv4's.
    v4_len = _optional_ints(v4)
    v6_len = (n + _IPV6_HEADER if n != NO_VALUE else n for n in _optional_ints(v6))
    return [b if s else a for s, a, b in zip(six, v4_len, v6_len, strict=False)]


def _hex(values: tuple[str, ...]) -> Iterable[int]:
    return [int(v, 16) if v else 0 for v in values]


def _analysis_bits(columns: list[tuple[str, ...]]) -> list[int]:
    bits = [0] * len(columns[0])
    for bit, column in enumerate(columns):
        if any(column):
            value = 1 << bit
            bits = [b | value if v else b for b, v in zip(bits, column, strict=False)]
    return bits


_I_TIME, _I_STREAM = _INDEX["time"], _INDEX["stream"]
_I_IP_SRC, _I_IP_DST = _INDEX["ip_src"], _INDEX["ip_dst"]
_I_IP6_SRC, _I_IP6_DST = _INDEX["ip6_src"], _INDEX["ip6_dst"]
_I_PROTO, _I_TTL, _I_HLIM = _INDEX["ip_proto"], _INDEX["ip_ttl"], _INDEX["ip6_hlim"]
_I_IP_LEN, _I_IP6_PLEN = _INDEX["ip_len"], _INDEX["ip6_plen"]
_I_ICMP, _I_ICMP6 = _INDEX["icmp"], _INDEX["icmp6"]
_I_IP_CHECKSUM, _I_TCP_CHECKSUM = _INDEX["ip_checksum"], _INDEX["tcp_checksum"]
_INT_PARSERS: tuple[tuple[str, int, Callable[[tuple[str, ...]], Iterable[int]]], ...] = (
    ("sport", _INDEX["sport"], _ints),
    ("dport", _INDEX["dport"], _ints),
    ("flags", _INDEX["flags"], _hex),
    ("seq", _INDEX["seq"], _optional_ints),
    ("ack", _INDEX["ack"], _optional_ints),
    ("length", _INDEX["length"], _optional_ints),
    ("window", _INDEX["window"], _optional_ints),
    ("mss", _INDEX["mss"], _optional_ints),
    ("wscale", _INDEX["wscale"], _optional_ints),
    ("tsval", _INDEX["tsval"], _optional_ints),
    ("stream", _INDEX["stream"], _ints),
)
_INT_COLUMNS = (*(name for name, _, _ in _INT_PARSERS), "ttl", "ip_len")
_BOOL_COLUMNS = ("sack_perm", "sack", "tfo")
_BOOL_INDEX = tuple((name, _INDEX[name]) for name in _BOOL_COLUMNS)
