"""conn.log writer: Zeek's own connections (its splitting and flips) in Zeek's ASCII log format.

`rows` runs Zeek's view (`zeek.zeek_connections`) over the packets and adds, to each row, the
pcapexplain connections whose packets it holds; `render` writes them the way Zeek's ASCII writer
does, with one column of ours at the end. Fields Zeek fills from things pcapexplain does not model
(service detection, Site::local_nets, tunnel connections) stay unset, as README.md explains.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pcapexplain import zeek
from pcapexplain.model import ConnState, PacketColumns, PacketStates

EXTRA_FIELD = "pcapexplain_connections"  # ours: the connection ids of pcapexplain's output

FIELDS = (
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("proto", "enum"),
    ("service", "string"),
    ("duration", "interval"),
    ("orig_bytes", "count"),
    ("resp_bytes", "count"),
    ("conn_state", "string"),
    ("local_orig", "bool"),
    ("local_resp", "bool"),
    ("missed_bytes", "count"),
    ("history", "string"),
    ("orig_pkts", "count"),
    ("orig_ip_bytes", "count"),
    ("resp_pkts", "count"),
    ("resp_ip_bytes", "count"),
    ("tunnel_parents", "set[string]"),
    (EXTRA_FIELD, "set[count]"),
)
UNSET = "-"
EMPTY = "(empty)"
SET_SEPARATOR = ","
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class ConnLogRow:
    """One conn.log line; None is Zeek's unset field ("-")."""

    ts: float
    orig_h: str
    orig_p: int
    resp_h: str
    resp_p: int
    duration: float | None  # Zeek logs duration and bytes only when the duration is not 0
    orig_bytes: int | None
    resp_bytes: int | None
    conn_state: ConnState
    missed_bytes: int
    history: str | None  # unset when Zeek recorded no letter
    orig_pkts: int
    orig_ip_bytes: int
    resp_pkts: int
    resp_ip_bytes: int
    connections: tuple[int, ...]  # pcapexplain's connection ids covered by this row


def rows(
    packets: PacketColumns, states: PacketStates, *, checksums_validated: bool
) -> list[ConnLogRow]:
    """Zeek's rows for the capture, in order of their first packet.

    states maps each packet to pcapexplain's connection; checksums_validated drops packets with
    bad checksums as Zeek does by default (see zeek.zeek_connections).
    """
    found = zeek.zeek_connections(packets, checksums_validated=checksums_validated)
    return [_row(conn, states) for conn in found]


def _row(conn: zeek.ZeekConn, states: PacketStates) -> ConnLogRow:
    orig, resp = conn.orig_side, conn.resp_side
    timed = conn.duration > 0
    history = conn.history_text()
    return ConnLogRow(
        ts=conn.start,
        orig_h=conn.orig[0],
        orig_p=conn.orig[1],
        resp_h=conn.resp[0],
        resp_p=conn.resp[1],
        duration=conn.duration if timed else None,
        orig_bytes=orig.size(resp) if timed else None,
        resp_bytes=resp.size(orig) if timed else None,
        conn_state=conn.state(),
        missed_bytes=orig.space.missed + resp.space.missed,
        history=history or None,
        orig_pkts=orig.packets,
        orig_ip_bytes=orig.ip_bytes,
        resp_pkts=resp.packets,
        resp_ip_bytes=resp.ip_bytes,
        connections=tuple(sorted({states.connection[r] for r in conn.rows})),
    )


def uid(path: str, number: int) -> str:
    """A stable Zeek-style uid: "C" and 17 base-62 digits of a hash of capture and row."""
    value = int.from_bytes(hashlib.sha256(f"{path}\0{number}".encode()).digest()[:13])
    digits = []
    for _ in range(17):
        value, rest = divmod(value, 62)
        digits.append(_BASE62[rest])
    return "C" + "".join(digits)


def render(log_rows: Sequence[ConnLogRow], *, path: str) -> str:
    """Zeek's ASCII log format: tab-separated, with the header lines Zeek's readers expect.

    path names the capture; it seeds the uids, so the same capture gives the same log.
    """
    # Zeek stamps when the log was opened; the capture's first packet keeps the output stable.
    first = min((r.ts for r in log_rows), default=0.0)
    stamp = datetime.fromtimestamp(first, UTC).strftime("%Y-%m-%d-%H-%M-%S")
    lines = [
        "#separator \\x09",
        f"#set_separator\t{SET_SEPARATOR}",
        f"#empty_field\t{EMPTY}",
        f"#unset_field\t{UNSET}",
        "#path\tconn",
        f"#open\t{stamp}",
        "#fields\t" + "\t".join(name for name, _ in FIELDS),
        "#types\t" + "\t".join(kind for _, kind in FIELDS),
    ]
    lines += ["\t".join(_cells(row, uid(path, n))) for n, row in enumerate(log_rows)]
    lines.append(f"#close\t{stamp}")
    return "\n".join(lines) + "\n"


def _cells(row: ConnLogRow, row_uid: str) -> list[str]:
    return [
        _time(row.ts),
        row_uid,
        _text(row.orig_h),
        str(row.orig_p),
        _text(row.resp_h),
        str(row.resp_p),
        "tcp",
        UNSET,  # service: no protocol detection
        UNSET if row.duration is None else _time(row.duration),
        _count(row.orig_bytes),
        _count(row.resp_bytes),
        row.conn_state.value,
        UNSET,  # local_orig: Site::local_nets is empty by default
        UNSET,  # local_resp
        str(row.missed_bytes),
        UNSET if row.history is None else _text(row.history),
        str(row.orig_pkts),
        str(row.orig_ip_bytes),
        str(row.resp_pkts),
        str(row.resp_ip_bytes),
        UNSET,  # tunnel_parents: Zeek's tunnel connections are not modelled
        SET_SEPARATOR.join(map(str, row.connections)) if row.connections else EMPTY,
    ]


def _time(seconds: float) -> str:
    return f"{seconds:.6f}"


def _count(value: int | None) -> str:
    return UNSET if value is None else str(value)


def _text(value: str) -> str:
    # Capture-derived text must not break the TSV: Zeek escapes separators as \x09 etc.
    return "".join(f"\\x{ord(c):02x}" if c in "\t\n\r\\" or ord(c) < 32 else c for c in value)
