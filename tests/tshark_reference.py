"""Reference answers to the rubric questions, read straight from tshark's own fields.

Independent of pcapexplain (standard library and the tshark binary only): the end-to-end tests
compare pcapexplain's computed answers with these, and examples/class/make_class.py uses them
to write the answers a diligent student would copy out of Wireshark.
"""

from __future__ import annotations

import subprocess
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

FIELDS = (
    "frame.number",
    "frame.time_epoch",
    "tcp.stream",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.flags",
    "tcp.seq_raw",
    "tcp.ack_raw",
    "tcp.seq",
    "tcp.ack",
    "tcp.len",
    "tcp.options.mss_val",
    "tcp.options.wscale.shift",
    "tcp.window_size",
    "tcp.analysis.retransmission",
    "tcp.analysis.fast_retransmission",
    "tcp.analysis.spurious_retransmission",
)
SYN, ACK, FIN = 0x02, 0x10, 0x01
MOD = 1 << 32


@dataclass
class Row:
    frame: int
    time: float
    stream: int
    sport: int
    dport: int
    flags: int
    seq_raw: int
    ack_raw: int
    seq: int
    ack: int
    length: int
    mss: int | None
    wscale: int | None
    window: int
    resent: bool


def _int(value: str) -> int | None:
    value = value.split(",")[0]
    return int(value, 0) if value else None


@cache
def read(path: Path) -> list[Row]:
    """Every TCP packet of the capture as tshark dissects it (relative numbers on, -n)."""
    # An ICMP error quoting a TCP header is not a segment of the connection (seq_raw is empty).
    shown = "tcp and not icmp and not icmpv6"
    command = ["tshark", "-n", "-r", str(path), "-Y", shown, "-T", "fields", "-E", "separator=\t"]
    command += [
        "-o",
        "tcp.relative_sequence_numbers:TRUE",
        "-o",
        "tcp.analyze_sequence_numbers:TRUE",
    ]
    for name in FIELDS:
        command += ["-e", name]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        c = line.split("\t")
        rows.append(
            Row(
                frame=int(c[0]),
                time=float(c[1]),
                stream=int(c[2]),
                sport=int(c[3]),
                dport=int(c[4]),
                flags=int(c[5], 16),
                seq_raw=int(c[6]),
                ack_raw=int(c[7] or 0),
                seq=int(c[8]),
                ack=int(c[9] or 0),
                length=int(c[10]),
                mss=_int(c[11]),
                wscale=_int(c[12]),
                window=int(c[13] or 0),
                resent=bool(c[14] or c[15] or c[16]),
            )
        )
    return rows


def _ge(a: int, b: int) -> bool:
    return (a - b) % MOD < 1 << 31


def answers(
    path: Path, streams: Collection[int], server_port: int, frames: Collection[int] | None = None
) -> dict[str, Any]:
    """The reference answers for tshark streams `streams`, whose server listens on server_port.

    `frames` narrows the stream to one connection's frames, where a stream holds two (a stale
    SYN-ACK and its RST beside the real handshake). Sequence answers are (raw, relative) pairs;
    times are in seconds; absent answers are left out.
    """
    rows = [r for r in read(path) if r.stream in streams and (frames is None or r.frame in frames)]
    from_client = [r for r in rows if r.dport == server_port]
    from_server = [r for r in rows if r.sport == server_port]
    found: dict[str, Any] = {}
    syns = [r for r in from_client if r.flags & (SYN | ACK) == SYN]
    synacks = [r for r in from_server if r.flags & (SYN | ACK) == SYN | ACK]
    if syns:
        found["client_isn"] = (syns[0].seq_raw, syns[0].seq, syns[0].frame)
        found["client_mss"] = syns[0].mss
        found["client_wscale"] = syns[0].wscale
    # The SYN-ACK of the handshake acknowledges a captured SYN; a stale one (RFC 9293 Figure 8)
    # acknowledges a SYN the capture never saw, and is not what the question asks about.
    answering = [s for s in synacks if any(s.ack_raw == (r.seq_raw + 1) % MOD for r in syns)]
    synacks = answering or synacks
    if synacks:
        s = synacks[0]
        found["synack_seq"] = (s.seq_raw, s.seq, s.frame)
        found["synack_ack"] = (s.ack_raw, s.ack, s.frame)
        if syns:
            syn = max((r for r in syns if r.frame < s.frame), key=lambda r: r.frame)
            found["handshake_rtt"] = s.time - syn.time
    if syns and synacks:
        found["min_window"] = min(r.window for r in from_server)
    data = [r for r in from_client if r.length > 0]
    if data:
        first = data[0]
        on_syn = 1 if first.flags & SYN else 0  # data on a SYN (TFO) starts after the SYN's number
        found["first_data_seq"] = ((first.seq_raw + on_syn) % MOD, first.seq + on_syn, first.frame)
    found["sample_rtts"] = _samples(data, from_server)
    found["retransmitted_frames"] = [r.frame for r in rows if r.resent]
    fins = [r for r in rows if r.flags & FIN]
    if fins:
        fin = fins[0]
        closer = "client" if fin.dport == server_port else "server"
        found["first_fin_sender"] = (closer, fin.frame)
        found["fin_seq"] = (fin.seq_raw, fin.seq, fin.frame)
        peer = from_server if closer == "client" else from_client
        end = (fin.seq_raw + fin.length + 1) % MOD
        acks = [r for r in peer if r.frame > fin.frame and r.flags & ACK and _ge(r.ack_raw, end)]
        if acks:
            found["fin_ack"] = (acks[0].ack_raw, acks[0].ack, acks[0].frame)
    return found


def _samples(data: list[Row], acks: list[Row], count: int = 6) -> list[tuple[float, int]]:
    """(SampleRTT, segment frame) of the first `count` data segments never retransmitted."""
    resent = {r.seq_raw for r in data if r.resent}
    found = []
    for seg in data:
        if len(found) == count:
            break
        if seg.resent or seg.seq_raw in resent:
            continue
        end = (seg.seq_raw + seg.length) % MOD
        ack = next(
            (a for a in acks if a.frame > seg.frame and a.flags & ACK and _ge(a.ack_raw, end)), None
        )
        if ack is not None:
            found.append((ack.time - seg.time, seg.frame))
    return found


def estimated(samples: list[float], alpha: float = 0.125) -> float:
    value = samples[0]
    for s in samples[1:]:
        value = (1 - alpha) * value + alpha * s
    return value
