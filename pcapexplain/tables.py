"""DataFrame views of an analysis with explicit dtypes, a batch's Parquet tables, and the one
reader of tshark's output.

The only module that imports pandas (and pyarrow, for Parquet).
"""

from __future__ import annotations

import contextlib
import io
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import pandas as pd

from pcapexplain.model import (
    NO_VALUE,
    CapturePoint,
    ChecksumStatus,
    Closer,
    ConnState,
    Direction,
    Handshake,
    IcmpError,
    PacketRole,
    TcpState,
    Teardown,
)
from pcapexplain.model import CaptureAnalysis as _Result
from pcapexplain.output import replacing
from pcapexplain.records import connection_records


def _categories(enum: type[Enum], by_value: bool = True) -> pd.CategoricalDtype:
    return pd.CategoricalDtype([m.value if by_value else m.name for m in enum])


_OPTIONAL_INT = "Int64"  # nullable: absent options and RTTs stay <NA>, not 0
CONNECTION_DTYPES: dict[str, object] = {
    "id": "int64",
    "capture": "string",
    "client_ip": "string",
    "client_port": "int32",
    "server_ip": "string",
    "server_port": "int32",
    "roles_inferred": "bool",
    "inferred": "string",  # the contract's list, joined by spaces
    "handshake": _categories(Handshake),
    "teardown": _categories(Teardown),
    "half_close": "bool",
    "closed_first": _categories(Closer),
    "time_wait": _categories(Closer),
    "client_final_state": _categories(TcpState, by_value=False),
    "server_final_state": _categories(TcpState, by_value=False),
    "zeek_state": _categories(ConnState),
    "zeek_history": "string",
    "anomalies": "string",
    "packets_to_server": "int64",
    "bytes_to_server": "int64",
    "retransmissions_to_server": "int64",
    "packets_to_client": "int64",
    "bytes_to_client": "int64",
    "retransmissions_to_client": "int64",
    "unknown_length_segments": "int64",
    "first_frame": "int64",
    "last_frame": "int64",
    "first_time": "float64",
    "last_time": "float64",
    "duration": "float64",
    "client_isn": _OPTIONAL_INT,
    "server_isn": _OPTIONAL_INT,
    "client_mss": _OPTIONAL_INT,
    "client_wscale": _OPTIONAL_INT,
    "client_sack_permitted": "bool",
    "client_timestamps": "bool",
    "client_tfo": "bool",
    "server_mss": _OPTIONAL_INT,
    "server_wscale": _OPTIONAL_INT,
    "server_sack_permitted": "bool",
    "server_timestamps": "bool",
    "server_tfo": "bool",
    "rtt_syn_to_synack": "float64",
    "rtt_synack_to_ack": "float64",
    "capture_point": _categories(CapturePoint),
    "capture_point_weak": "bool",
    "tshark_streams": "string",
    "tshark_version": "string",
    "reader": "string",
}


def connections_frame(result: _Result, capture_name: str | None = None) -> pd.DataFrame:
    """One row per connection, columns as in the JSON contract (options flattened)."""
    name = capture_name if capture_name is not None else result.capture.path
    return rows_frame([r.flat() for r in connection_records(result, name)])


def rows_frame(rows: Sequence[Mapping[str, object]]) -> pd.DataFrame:
    """Flat connection rows (the CSV columns) as a DataFrame with CONNECTION_DTYPES."""
    frame = pd.DataFrame(list(rows), columns=list(CONNECTION_DTYPES))
    return frame.astype(CONNECTION_DTYPES)  # type: ignore[arg-type]


# ------------------------------------------------------------------------- batch tables

# A batch's connection tables: the capture's path first, then the columns of one capture's CSV.
BATCH_COLUMNS = ("capture", *(name for name in CONNECTION_DTYPES if name != "capture"))


PARQUET_ROW_GROUP = 20_000  # rows held (as dicts, ~3 kB each) before one row group is written


@contextlib.contextmanager
def parquet_rows(target: Path) -> Iterator[Callable[[Iterable[Mapping[str, object]]], None]]:
    """Stream flat connection rows (capture first) into one Parquet file, written atomically.

    Yields add(rows). Rows are converted PARQUET_ROW_GROUP at a time, so memory stays bounded
    however many there are; `pd.read_parquet(target)` then has CONNECTION_DTYPES, in
    BATCH_COLUMNS order. With no rows at all the file still has every column.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer: list[Mapping[str, object]] = []
    writer: pq.ParquetWriter | None = None
    with replacing(target) as tmp:

        def flush() -> None:
            nonlocal writer
            frame = rows_frame(buffer)[list(BATCH_COLUMNS)]
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table.cast(writer.schema))
            buffer.clear()

        def add(rows: Iterable[Mapping[str, object]]) -> None:
            buffer.extend(rows)
            if len(buffer) >= PARQUET_ROW_GROUP:
                flush()

        try:
            yield add
            if buffer or writer is None:
                flush()
        finally:
            if writer is not None:
                writer.close()


def _codes_to_category(codes: Sequence[int], enum: type[Enum]) -> pd.Categorical[str]:
    names = [m.name for m in enum]
    lookup = {m.value: i for i, m in enumerate(enum)}
    mapped = np.fromiter((lookup.get(c, -1) for c in codes), dtype=np.int16, count=len(codes))
    return pd.Categorical.from_codes(mapped, categories=pd.Index(names))


def packets_frame(result: _Result) -> pd.DataFrame:
    """One row per TCP packet: the loader's columns plus connection, role and both states."""
    p, s = result.packets, result.states
    frame = pd.DataFrame(
        {
            "frame": np.asarray(p.frame, dtype=np.int64),
            "time": np.asarray(p.time, dtype=np.float64),
            "src": pd.array(list(p.src), dtype="string"),
            "dst": pd.array(list(p.dst), dtype="string"),
            "sport": np.asarray(p.sport, dtype=np.int32),
            "dport": np.asarray(p.dport, dtype=np.int32),
            "flags": np.asarray(p.flags, dtype=np.int16),
            "seq_raw": np.asarray(p.seq, dtype=np.int64),
            "ack_raw": np.asarray(p.ack, dtype=np.int64),
            "length": np.asarray(p.length, dtype=np.int32),
            "window": np.asarray(p.window, dtype=np.int32),
            "analysis": np.asarray(p.analysis, dtype=np.int32),
            "tshark_stream": np.asarray(p.stream, dtype=np.int64),
            "connection": np.asarray(s.connection, dtype=np.int64),
            "direction": _codes_to_category(s.direction, Direction),
            "role": _codes_to_category(s.role, PacketRole),
            "client_before": _codes_to_category(s.client_before, TcpState),
            "client_after": _codes_to_category(s.client_after, TcpState),
            "server_before": _codes_to_category(s.server_before, TcpState),
            "server_after": _codes_to_category(s.server_after, TcpState),
        }
    )
    return frame


# ------------------------------------------------------------------------- reading tshark output

# How the loader's field table (loader._FIELDS) asks for each column of tshark's tab output:
# "int", "float" and "present" are PacketColumns fields as they come (int -1 when absent, present
# 1/0); "number" and "text" are inputs of the derived columns below.
ColumnKind = Literal["int", "float", "present", "number", "text"]
TabChunk = dict[str, "np.ndarray[Any, Any]"]
_NUMERIC_KINDS = frozenset(("int", "float", "number"))


def read_tabs(
    stream: IO[bytes] | io.RawIOBase, columns: Sequence[tuple[str, ColumnKind]], *, chunk_rows: int
) -> Iterator[TabChunk]:
    """Parse tshark's `-T tabs` output with pandas' C reader, a chunk of rows at a time.

    columns gives (name, kind) in output order; numeric kinds come back as float64 with NaN where
    tshark printed nothing, the others as object arrays with "" for nothing. Raises ValueError
    when a numeric column holds something else.
    """
    names = [name for name, _ in columns]
    numeric = [name for name, kind in columns if kind in _NUMERIC_KINDS]
    dtypes = {name: ("float64" if name in numeric else "object") for name in names}
    text = [name for name in names if name not in numeric]
    reader = pd.read_csv(
        stream,
        sep="\t",
        header=None,
        names=names,
        dtype=dtypes,
        engine="c",
        quoting=3,  # csv.QUOTE_NONE: tshark does not quote
        keep_default_na=False,
        na_values={name: [""] for name in numeric},
        chunksize=chunk_rows,
        encoding="utf-8",
        encoding_errors="replace",
    )
    with reader:
        for chunk in reader:
            for name in text:
                chunk[name] = chunk[name].fillna("")
            yield {name: chunk[name].to_numpy() for name in names}


_ANALYSIS_PREFIX = "a"  # loader names its analysis-flag columns a0, a1, … in AnalysisFlag bit order
_IPV6_IN_IPV4 = 41  # ip.proto of a 6in4 tunnel: the TCP segment rides in the inner IPv6 header
_CHECKSUM_CODES = {"Good": int(ChecksumStatus.GOOD), "Bad": int(ChecksumStatus.BAD)}


class TabColumns:
    """The loader's packet columns from tshark's `-T tabs` output, converted chunk by chunk.

    layout is the loader's (name, kind) list in output order. Numbers become int64 arrays ("q")
    with NO_VALUE where absent, addresses interned strings; the result in `out` is keyed by
    PacketColumns field names.
    """

    def __init__(
        self,
        layout: Sequence[tuple[str, ColumnKind]],
        on_frames: Callable[[int], None] | None = None,
    ) -> None:
        self.layout = list(layout)
        self.analysis = [n for n, _ in layout if n[0] == _ANALYSIS_PREFIX and n[1:].isdigit()]
        self.out: dict[str, Any] = {}
        self.total_frames = 0
        self.last_frame = 0
        self._on_frames = on_frames
        self._strings: dict[str, str] = {}
        self.icmp: list[IcmpError] = []

    def consume(self, stream: IO[bytes] | io.RawIOBase) -> None:
        for chunk in read_tabs(stream, self.layout, chunk_rows=1 << 16):
            self._add(chunk)

    def _add(self, chunk: TabChunk) -> None:
        # Rows without a frame number are tshark notices on stdout, never packets.
        frames = ~np.isnan(chunk["frame"])
        self.total_frames += int(frames.sum())
        if frames.any():
            self.last_frame = int(chunk["frame"][frames][-1])
        if self._on_frames is not None:
            self._on_frames(self.total_frames)
        tcp = frames & ~np.isnan(chunk["stream"])
        quoted = tcp & ~(np.isnan(chunk["icmp"]) & np.isnan(chunk["icmp6"]))
        if quoted.any():
            self._add_icmp({name: values[quoted] for name, values in chunk.items()})
        tcp &= ~quoted
        if tcp.any():
            self._add_packets({name: values[tcp] for name, values in chunk.items()})

    def _add_icmp(self, c: TabChunk) -> None:
        """ICMP errors quoting a TCP segment: the quoted header is in the innermost fields."""
        for i in range(len(c["frame"])):
            six = not np.isnan(c["icmp6"][i])
            self.icmp.append(
                IcmpError(
                    frame=int(c["frame"][i]),
                    time=float(c["time"][i]),
                    reporter=str(c["ip6_src_outer" if six else "ip_src_outer"][i]),
                    version=6 if six else 4,
                    type=int(c["icmp6" if six else "icmp"][i]),
                    code=_int_or_0(c["icmp6_code" if six else "icmp_code"][i]),
                    src=str(c["ip6_src" if six else "ip_src"][i]),
                    sport=_int_or_0(c["sport"][i]),
                    dst=str(c["ip6_dst" if six else "ip_dst"][i]),
                    dport=_int_or_0(c["dport"][i]),
                    seq=_int_or_0(c["seq_in_error"][i]),
                )
            )

    def _add_packets(self, c: TabChunk) -> None:
        for name, kind in self.layout:
            if kind == "int":
                self._extend(name, "q", _ints(c[name]))
            elif kind == "float":
                self._extend(name, "d", c[name])
            elif kind == "present":
                self._extend(name, "b", (c[name] != "").astype(np.int8))
        # tshark leaves tcp.len empty for a malformed or cut segment: its length is unknown.
        unknown = np.isnan(c["length"])
        self._extend("length", "q", np.where(unknown, 0, c["length"]).astype(np.int64))
        self._extend("length_unknown", "b", unknown.astype(np.int8))
        self._extend("header_cut", "b", _options_cut(c, unknown))
        six = (c["ip_src"] == "") | (c["ip_proto"] == _IPV6_IN_IPV4)
        self._extend("ttl", "q", _ints(np.where(six, c["ip6_hlim"], c["ip_ttl"])))
        # IPv6 counts its payload only; its 40-byte fixed header makes it a total length.
        self._extend("ip_len", "q", _ints(np.where(six, c["ip6_plen"] + 40, c["ip_len"])))
        self._extend("flags", "q", _mapped(c["flags"], lambda v: int(v, 16) if v else 0))
        bits = np.zeros(len(six), dtype=np.int64)
        for name in self.analysis:
            bits |= (c[name] != "").astype(np.int64) << int(name[1:])
        self._extend("analysis", "q", bits)
        checksum = _mapped(c["ip_checksum"], lambda v: _CHECKSUM_CODES.get(v, 0))
        self._extend("ip_checksum", "b", np.where(six, 0, checksum).astype(np.int8))
        tcp_sum = _mapped(c["tcp_checksum"], lambda v: _CHECKSUM_CODES.get(v, 0))
        self._extend("tcp_checksum", "b", tcp_sum.astype(np.int8))
        self._extend("ip_id", "i", np.where(six, NO_VALUE, _hex(c["ip_id"])))
        self._extend("tcp_sum", "i", _hex(c["tcp_sum"]))
        for out, v4, v6 in (("src", "ip_src", "ip6_src"), ("dst", "ip_dst", "ip6_dst")):
            picked = np.where(six, c[v6], c[v4]).tolist()
            intern = self._strings.setdefault
            self.out.setdefault(out, []).extend([intern(x, x) for x in picked])

    def _extend(self, name: str, code: str, values: np.ndarray[Any, Any]) -> None:
        column = self.out.setdefault(name, array(code))
        column.frombytes(np.ascontiguousarray(values, dtype=_NUMPY_CODES[code]).tobytes())


_NUMPY_CODES = {"q": np.int64, "d": np.float64, "b": np.int8, "i": np.int32}


def _hex(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A column tshark prints as 0x-prefixed hexadecimal; NO_VALUE where it is empty."""
    return np.array([int(v, 16) if v else NO_VALUE for v in values.tolist()], dtype=np.int32)


def _int_or_0(value: float) -> int:
    return 0 if np.isnan(value) else int(value)


def _ints(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return np.where(np.isnan(values), NO_VALUE, values).astype(np.int64)


def _mapped(values: np.ndarray[Any, Any], convert: Any) -> np.ndarray[Any, Any]:
    """Convert a text column through a table of its few distinct values."""
    uniques, inverse = np.unique(values.astype(str), return_inverse=True)
    table = np.array([convert(v) for v in uniques.tolist()], dtype=np.int64)
    return table[inverse]


def _options_cut(c: TabChunk, length_unknown: Any) -> Any:
    """1 where the capture's snapshot length ended inside the TCP options (tcpheader's header_cut):
    the frame is short (payloads are read as data, so the TCP header is what ran out), the header
    has options, and the segment's length is known (the IP header reports the whole header: not
    a malformed one)."""
    options = np.nan_to_num(c["hdr_len"], nan=0.0) > 20
    return ((c["short"] != "") & options & ~length_unknown).astype(np.int8)
