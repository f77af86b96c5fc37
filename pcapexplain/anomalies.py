"""Anomaly stage (pure): the catalogue of findings and the checks that attach them to connections.

The catalogue follows TCP-REFERENCE section (b): handshake H1–H10, data phase D1–D15, teardown
T4–T11 (T1–T3 are normal outcomes, carried by `Connection.teardown`). `detect` makes exactly one
pass over all packets, collecting each connection's *notable* rows (tshark analysis bits, control
flags, bad checksums, oversize segments, data after a FIN or RST); every check then works on those
rows, on short bounded look-backs inside one connection, and on the reconstructor's summary.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from pcapexplain import retransmission
from pcapexplain.model import (
    AnalysisFlag,
    Anomaly,
    AnomalySlug,
    ChecksumStatus,
    Closer,
    Connection,
    Direction,
    Handshake,
    PacketColumns,
    PacketStates,
    Severity,
    TcpFlags,
    TcpState,
    Teardown,
)
from pcapexplain.retransmission import Cause

A = AnomalySlug
F = AnalysisFlag
_SYN, _ACK, _FIN, _RST = int(TcpFlags.SYN), int(TcpFlags.ACK), int(TcpFlags.FIN), int(TcpFlags.RST)
_PSH, _URG = int(TcpFlags.PSH), int(TcpFlags.URG)
_CTRL = _SYN | _ACK | _FIN | _RST
_BAD = int(ChecksumStatus.BAD)
_MOD, _HALF = 1 << 32, 1 << 31  # sequence space, compared modulo 2**32 (RFC 9293 §3.4)
MAX_FRAMES = 1000  # frames kept per anomaly; the true count stays in params["count"]
LOOK_BACK = 256  # packets of one connection a check may scan backwards from a row
LINUX_TIME_WAIT = 60.0  # TCP_TIMEWAIT_LEN in include/net/tcp.h
RFC_2MSL = 240.0  # RFC 9293 §3.4.2: MSL = 2 minutes
AT_END = 1.0  # less capture than this after the last SYN: "unanswered at capture end"
RETRANSMITTED = F.RETRANSMISSION | F.FAST_RETRANSMISSION | F.SPURIOUS_RETRANSMISSION


@dataclass(frozen=True, slots=True)
class AnomalySpec:
    """One catalogue entry.

    params names the keys a detected Anomaly carries in `params` (all plain ints, floats in
    seconds, or the short enum-like strings listed in `values`); explanations.py formats its texts
    with them. Side-like params ("side", "time_wait_side") take `Closer` values.
    """

    slug: AnomalySlug
    severity: Severity  # the default; some checks raise or lower it per instance
    catalogue_id: str  # TCP-REFERENCE (b): H1…H10, D1…D15, T4…T11
    params: tuple[str, ...]
    wireshark_peer: str
    zeek_peer: str
    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


INFO, N, W, E = Severity.INFO, Severity.NOTE, Severity.WARN, Severity.ERROR
_SIDE = ("client", "server")
_BACKOFF = ("none", "doubling", "constant", "irregular")
_RETRY = ("count", "first_interval", "last_interval", "backoff")
# fmt: off
_SPECS = (
    # H1: count SYNs, intervals between them, seconds of capture after the last one.
    AnomalySpec(A.SYN_UNANSWERED, W, "H1", (*_RETRY, "after_last", "variant"),
                "tcp.completeness=1; SYNs 2..n tcp.analysis.retransmission", "S0, history S",
                {"backoff": _BACKOFF, "variant": ("timed-out", "at-capture-end")}),
    AnomalySpec(A.SYN_RETRANSMITTED, N, "H1", _RETRY, "tcp.analysis.retransmission",
                "history S (not repeated)", {"backoff": _BACKOFF}),
    # H2: port = server port; delay = seconds from the first SYN to the RST.
    AnomalySpec(A.CONNECTION_REFUSED, W, "H2", ("port", "delay"),
                "tcp.connection.rst; completeness 37", "REJ, history Sr"),
    # H3: count = SYN-ACKs sent; wait = seconds of capture after the first SYN-ACK.
    AnomalySpec(A.HANDSHAKE_INCOMPLETE, W, "H3", ("count", "wait"), "completeness 3",
                "S1, history Sh"),
    AnomalySpec(A.SYNACK_RETRANSMITTED, N, "H3", _RETRY, "tcp.analysis.retransmission",
                "history h (not repeated)", {"backoff": _BACKOFF}),
    AnomalySpec(A.OLD_DUPLICATE_SYN, N, "H4", ("variant",),
                "RST only (tcp.connection.rst); next SYN tcp.analysis.reused_ports",
                "weird bad_SYN_ack", {"variant": ("stale-syn-captured", "synack-mismatch")}),
    # H5: suppressed = tshark retransmission/dup-ACK labels not reported (they are the handshake).
    AnomalySpec(A.SIMULTANEOUS_OPEN, INFO, "H5", ("suppressed",),
                "mislabelled retransmission x2 + duplicate_ack", "weird simultaneous_open"),
    AnomalySpec(A.SYN_DATA, INFO, "H6", ("bytes", "kind", "outcome"),
                "tcp.analysis.tfo_syn / tfo_ack / tfo_ignored", "-",
                {"kind": ("tfo", "plain"), "outcome": ("accepted", "ignored", "unanswered")}),
    AnomalySpec(A.ILLEGAL_FLAGS, W, "H7", ("count", "variant", "side"), "-", "history Q/q, I/i",
                {"variant": ("syn-fin", "syn-rst", "fin-rst", "null", "xmas", "no-ack", "mixed"),
                 "side": _SIDE}),
    AnomalySpec(A.ACK_WITHOUT_ACK_FLAG, N, "H8", ("count",), "tcp.ack.nonzero", "-"),
    # H9: gap = seconds since the previous incarnation's last packet; previous = its id.
    AnomalySpec(A.PORT_REUSED, INFO, "H9", ("gap", "previous"),
                "tcp.analysis.reused_ports; new tcp.stream", "new uid (connection_reused)"),
    AnomalySpec(A.PORT_REUSED_IN_TIME_WAIT, N, "H9",
                ("gap", "previous", "time_wait_side", "limit", "variant"),
                "tcp.analysis.reused_ports", "new uid (connection_reused)",
                {"time_wait_side": (*_SIDE, "both"), "variant": ("linux", "rfc")}),
    AnomalySpec(A.SYN_IN_ESTABLISHED, W, "H10", ("count", "side"),
                "tcp.analysis.reused_ports only if the ISN differs", "weird SYN_inside_connection",
                {"side": _SIDE}),
    # D1–D3: count packets, bytes of payload; share = retransmitted / all payload bytes.
    # D1: cause from retransmission.evidence; delays in milliseconds since the copy before; rtt
    # in milliseconds, "-" without a captured handshake.
    AnomalySpec(A.RETRANSMISSION, N, "D1",
                ("count", "bytes", "share", "cause", "delay_min", "delay_max", "rtt"),
                "tcp.analysis.retransmission", "history T/t",
                {"cause": tuple(c.value for c in Cause if c is not Cause.SPURIOUS)}),
    AnomalySpec(A.FAST_RETRANSMISSION, N, "D2", ("count", "bytes"),
                "tcp.analysis.fast_retransmission", "history T/t"),
    AnomalySpec(A.SPURIOUS_RETRANSMISSION, N, "D3", ("count", "bytes"),
                "tcp.analysis.spurious_retransmission", "history T/t"),
    # D4: count gaps, bytes missing in them.
    AnomalySpec(A.SEGMENT_NOT_CAPTURED, W, "D4", ("count", "bytes", "cause"),
                "tcp.analysis.lost_segment", "history G/g, missed_bytes",
                {"cause": ("unknown", "network-loss", "mixed")}),
    AnomalySpec(A.CAPTURE_LOSS, INFO, "D4", ("count", "bytes"), "tcp.analysis.lost_segment",
                "history G/g, missed_bytes"),
    AnomalySpec(A.ACKED_UNSEEN_SEGMENT, INFO, "D5", ("count", "variant"),
                "tcp.analysis.ack_lost_segment", "-",
                {"variant": ("capture-start", "after-gap", "unexplained")}),
    AnomalySpec(A.OUT_OF_ORDER, N, "D6", ("count", "bytes"), "tcp.analysis.out_of_order", "-"),
    # D7: count dup ACKs, runs of them (same ack value), longest run.
    AnomalySpec(A.DUPLICATE_ACK, INFO, "D7", ("count", "runs", "longest"),
                "tcp.analysis.duplicate_ack", "-"),
    AnomalySpec(A.TRIPLE_DUPLICATE_ACK, N, "D7", ("count", "longest"),
                "tcp.analysis.duplicate_ack_num >= 3", "-"),
    # D8: one per episode; side = who advertised 0; duration in seconds; probes seen meanwhile.
    AnomalySpec(A.ZERO_WINDOW, W, "D8", ("side", "duration", "probes", "variant"),
                "tcp.analysis.zero_window", "history W/w",
                {"side": _SIDE, "variant": ("reopened", "still-closed")}),
    AnomalySpec(A.ZERO_WINDOW_PROBE, INFO, "D9", ("count", "variant"),
                "tcp.analysis.zero_window_probe (zero-length probes: keep_alive)", "-",
                {"variant": ("one-byte", "zero-length", "mixed")}),
    AnomalySpec(A.WINDOW_FULL, N, "D10", ("count", "side"), "tcp.analysis.window_full", "-",
                {"side": (*_SIDE, "both")}),
    AnomalySpec(A.WINDOW_UPDATE, INFO, "D11", ("count",), "tcp.analysis.window_update", "-"),
    # D12: count probes, acks answering them, idle seconds before the first, interval between.
    AnomalySpec(A.KEEP_ALIVE, INFO, "D12", ("count", "acks", "idle", "interval"),
                "tcp.analysis.keep_alive / keep_alive_ack", "-"),
    # D13: largest payload seen, mss = the peer's announced MSS, side = the sender.
    AnomalySpec(A.SEGMENT_EXCEEDS_MSS, INFO, "D13", ("count", "largest", "mss", "side"), "-", "-",
                {"side": (*_SIDE, "both")}),
    AnomalySpec(A.BAD_CHECKSUM, E, "D14", ("count", "side"), "tcp.checksum.status == Bad",
                "history C/c", {"side": (*_SIDE, "both")}),
    AnomalySpec(A.CHECKSUM_OFFLOAD, INFO, "D14", ("count", "side"), "tcp.checksum.status == Bad",
                "history C/c; packets ignored", {"side": (*_SIDE, "both")}),
    AnomalySpec(A.DATA_BEFORE_HANDSHAKE, W, "D15", ("count", "bytes", "side"), "-",
                "weird data_before_established", {"side": (*_SIDE, "both")}),
    # T4: side = who kept sending after the peer's FIN (half-close) / who sits in CLOSE_WAIT.
    AnomalySpec(A.HALF_CLOSE, INFO, "T4", ("side", "bytes", "count"), "-", "(normal)",
                {"side": _SIDE}),
    AnomalySpec(A.CLOSE_WAIT_LINGERING, N, "T4", ("side", "seconds"), "-", "S2/S3",
                {"side": _SIDE}),
    # T5: side = the FIN's sender.
    AnomalySpec(A.LOST_FINAL_ACK, N, "T5", ("count", "side"),
                "tcp.analysis.retransmission on the FIN", "history F/f", {"side": _SIDE}),
    AnomalySpec(A.FIN_RETRANSMITTED, N, "T5", ("count", "side"),
                "tcp.analysis.retransmission on the FIN", "history F/f", {"side": _SIDE}),
    # T6: side = the RST's sender; cause names the sub-case found.
    AnomalySpec(A.CONNECTION_RESET, W, "T6", ("side", "cause"), "tcp.connection.rst", "RSTO/RSTR",
                {"side": _SIDE, "cause": ("unknown", "after-fin", "unacked-received",
                                          "unacked-sent", "middlebox")}),
    AnomalySpec(A.RESET_UNREAD_DATA, N, "T6", ("side", "cause", "bytes"), "tcp.connection.rst",
                "RSTO/RSTR",
                {"side": _SIDE, "cause": ("after-fin", "unacked-received", "unacked-sent")}),
    AnomalySpec(A.RESET_BY_MIDDLEBOX, W, "T6", ("side", "ttl", "usual_ttl"), "tcp.connection.rst",
                "RSTO/RSTR", {"side": _SIDE}),
    # T7: offset = RST seq minus the sequence number its receiver expected (signed).
    AnomalySpec(A.RST_NOT_IN_WINDOW, W, "T7", ("side", "variant", "offset"), "-", "-",
                {"side": _SIDE, "variant": ("in-window", "out-of-window", "syn-sent")}),
    AnomalySpec(A.OPEN_AT_CAPTURE_END, INFO, "T8", ("idle", "duration"),
                "tcp.completeness without FIN/RST bits", "S1 (S2/S3 with one FIN)"),
    AnomalySpec(A.DATA_AFTER_RESET, E, "T9", ("count", "bytes", "side"), "-",
                "weird data_after_reset", {"side": (*_SIDE, "both")}),
    AnomalySpec(A.DATA_AFTER_FIN, E, "T9", ("count", "bytes", "side"), "-",
                "weird FIN_advanced_last_seq", {"side": (*_SIDE, "both")}),
    AnomalySpec(A.MIDSTREAM, INFO, "T10", (), "tcp.completeness 20/28", "OTH"),
    # T11: answer = what the new SYN got instead of a SYN-ACK.
    AnomalySpec(A.TIME_WAIT_CONFLICT, N, "T11", ("gap", "answer", "time_wait_side"),
                "tcp.analysis.reused_ports; the answer may be a dup ACK", "-",
                {"answer": ("ack", "rst"), "time_wait_side": (*_SIDE, "both")}),
)
# fmt: on

CATALOGUE: Mapping[AnomalySlug, AnomalySpec] = MappingProxyType({s.slug: s for s in _SPECS})


# ---------------------------------------------------------------------------------- the one pass


def _gather(
    packets: PacketColumns, states: PacketStates, connections: list[Connection]
) -> dict[int, list[int]]:
    """The notable rows of every connection, in capture order, from one pass over the packets."""
    notable: dict[int, list[int]] = {c.id: [] for c in connections}
    known_mss = [o.mss for c in connections for o in (c.client_options, c.server_options) if o.mss]
    min_mss = min(known_mss, default=1 << 30)
    closed: set[int] = set()  # connections in which a FIN or RST has been seen so far
    columns = zip(
        states.connection,
        packets.flags,
        packets.length,
        packets.analysis,
        packets.tcp_checksum,
        strict=True,
    )
    for row, (cid, flags, length, bits, checksum) in enumerate(columns):
        if bits or (flags & _CTRL) != _ACK or checksum == _BAD or length > min_mss:
            if flags & (_FIN | _RST):
                closed.add(cid)
        elif not (length and cid in closed):
            continue  # the common case: an ordinary data or ACK segment
        rows = notable.get(cid)
        if rows is not None:
            rows.append(row)
    return notable


# ---------------------------------------------------------------------- per-connection context


@dataclass(slots=True)
class _Ctx:
    """One connection as the checks see it: its notable rows plus bounded look-ups."""

    p: PacketColumns
    s: PacketStates
    c: Connection
    rows: list[int]
    capture_end: float
    prev: Connection | None = None  # the previous incarnation of the same 4-tuple
    skip: set[int] = field(default_factory=set)  # rows already explained by an earlier check
    offload_hosts: frozenset[str] = frozenset()  # D14: every packet they sent has a bad checksum
    memo: dict[tuple[str, int, bool], list[int]] = field(default_factory=dict)  # row lists

    def d(self, row: int) -> int:
        return self.s.direction[row]

    def side(self, row: int) -> str:
        return _side(self.d(row))

    def where(self, *, bits: int = 0, flags: int = 0) -> list[int]:
        """Notable rows carrying any of the analysis bits or any of the flags."""
        analysis, packet_flags = self.p.analysis, self.p.flags
        bits, flags = int(bits), int(flags)  # IntFlag's own `&` costs a call per row
        return [r for r in self.rows if analysis[r] & bits or packet_flags[r] & flags]

    def before(self, row: int, direction: int | None = None) -> Iterator[int]:
        """Rows of this connection before row, newest first, at most LOOK_BACK of them."""
        index = self.c.packet_index
        pos = bisect_left(index, row)
        for k in range(pos - 1, max(pos - 1 - LOOK_BACK, -1), -1):
            r = index[k]
            if direction is None or self.s.direction[r] == direction:
                yield r

    def after(self, row: int, direction: int | None = None) -> Iterator[int]:
        """Rows of this connection after row, oldest first, at most LOOK_BACK of them."""
        index = self.c.packet_index
        pos = bisect_left(index, row) + 1
        for k in range(pos, min(pos + LOOK_BACK, len(index))):
            r = index[k]
            if direction is None or self.s.direction[r] == direction:
                yield r

    def end(self, row: int) -> int:
        """Sequence number just after the row's segment (SYN and FIN count one each)."""
        flags = self.p.flags[row]
        return (
            self.p.seq[row] + self.p.length[row] + bool(flags & _SYN) + bool(flags & _FIN)
        ) % _MOD

    def next_seq(self, row: int, direction: int) -> int | None:
        """next(sender): the highest segment end the direction had sent before row."""
        best: int | None = None
        for r in self.before(row, direction):
            if not self.p.flags[r] & _RST:
                e = self.end(r)
                best = e if best is None or _gt(e, best) else best
        return best

    def last_ack(self, direction: int, row: int | None = None) -> int | None:
        """The newest ack number the direction sent (before row, or in the whole connection)."""
        index = self.c.packet_index
        rows = (
            self.before(row, direction)
            if row is not None
            else (
                index[k]
                for k in range(len(index) - 1, max(len(index) - 1 - LOOK_BACK, -1), -1)
                if self.s.direction[index[k]] == direction
            )
        )
        for r in rows:
            if self.p.flags[r] & _ACK:
                return self.p.ack[r]
        return None

    def make(
        self,
        slug: AnomalySlug,
        rows: Iterable[int],
        severity: Severity | None = None,
        /,
        **params: str | int | float,
    ) -> Anomaly:
        frames = tuple(sorted({self.p.frame[r] for r in rows}))[:MAX_FRAMES]
        return Anomaly(slug.value, severity or CATALOGUE[slug].severity, self.c.id, frames, params)


def _side(direction: int) -> str:
    return Closer.CLIENT.value if direction == Direction.TO_SERVER else Closer.SERVER.value


def _sides(ctx: _Ctx, rows: Iterable[int]) -> str:
    found = {ctx.side(r) for r in rows}
    return found.pop() if len(found) == 1 else Closer.BOTH.value


def _gt(a: int, b: int) -> bool:
    """a is after b in sequence space (RFC 9293 §3.4)."""
    return 0 < (a - b) % _MOD < _HALF


def _ge(a: int, b: int) -> bool:
    return a == b or _gt(a, b)


def _signed(delta: int) -> int:
    delta %= _MOD
    return delta - _MOD if delta >= _HALF else delta


def _payload(ctx: _Ctx, rows: Iterable[int]) -> int:
    return sum(ctx.p.length[r] for r in rows)


def _intervals(ctx: _Ctx, rows: list[int]) -> dict[str, str | int | float]:
    """Retry count and timing of a run of SYNs or SYN-ACKs (RFC 6298: 1 s, then doubling)."""
    times = [ctx.p.time[r] for r in rows]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    backoff = "none"
    if len(gaps) >= 2:
        ratios = [b / a for a, b in zip(gaps, gaps[1:], strict=False) if a > 0]
        if ratios and all(1.6 <= q <= 2.4 for q in ratios):
            backoff = "doubling"
        elif ratios and all(0.8 <= q <= 1.25 for q in ratios):
            backoff = "constant"
        else:
            backoff = "irregular"
    return {
        "count": len(rows),
        "first_interval": round(gaps[0], 6) if gaps else 0.0,
        "last_interval": round(gaps[-1], 6) if gaps else 0.0,
        "backoff": backoff,
    }


Check = Callable[[_Ctx], Iterator[Anomaly]]


# ------------------------------------------------------------------------------- handshake H1–H10


def _syns(ctx: _Ctx, direction: int, *, with_ack: bool) -> list[int]:
    """SYN rows from one direction, with or without the ACK flag."""
    key = ("syn", direction, with_ack)
    if key not in ctx.memo:
        ctx.memo[key] = _find_syns(ctx, direction, with_ack)
    return ctx.memo[key]


def _find_syns(ctx: _Ctx, direction: int, with_ack: bool) -> list[int]:
    p = ctx.p
    return [
        r
        for r in ctx.rows
        if p.flags[r] & _SYN
        and not p.flags[r] & _RST
        and bool(p.flags[r] & _ACK) == with_ack
        and ctx.d(r) == direction
    ]


def check_syn_retries(ctx: _Ctx) -> Iterator[Anomaly]:
    """H1/H3: SYNs and SYN-ACKs sent again with the same ISN (RFC 9293 §3.8.1 retransmission)."""
    for slug, direction, with_ack, isn in (
        (A.SYN_RETRANSMITTED, Direction.TO_SERVER, False, ctx.c.client_isn),
        (A.SYNACK_RETRANSMITTED, Direction.TO_CLIENT, True, ctx.c.server_isn),
    ):
        rows = [r for r in _syns(ctx, direction, with_ack=with_ack) if ctx.p.seq[r] == isn]
        if len(rows) > 1:
            params = _intervals(ctx, rows)
            params["count"] = len(rows) - 1
            yield ctx.make(slug, rows[1:], **params)


def check_unanswered(ctx: _Ctx) -> Iterator[Anomaly]:
    """H1: SYNs and nothing back; "at capture end" when under AT_END seconds followed."""
    if ctx.c.handshake is not Handshake.UNANSWERED:
        return
    rows = _syns(ctx, Direction.TO_SERVER, with_ack=False)
    if not rows:
        return
    after = ctx.capture_end - ctx.p.time[rows[-1]]
    variant = "at-capture-end" if after < AT_END else "timed-out"
    yield ctx.make(
        A.SYN_UNANSWERED, rows, **_intervals(ctx, rows), after_last=round(after, 6), variant=variant
    )


def check_refused(ctx: _Ctx) -> Iterator[Anomaly]:
    """H2: the SYN answered by RST (RFC 9293 §3.10.7.1: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><RST,ACK>)."""
    if ctx.c.handshake is not Handshake.REFUSED:
        return
    syns = _syns(ctx, Direction.TO_SERVER, with_ack=False)
    rsts = [r for r in ctx.where(flags=_RST) if ctx.d(r) == Direction.TO_CLIENT]
    if syns and rsts:
        ctx.skip.add(rsts[0])
        delay = ctx.p.time[rsts[0]] - ctx.p.time[syns[0]]
        yield ctx.make(
            A.CONNECTION_REFUSED, (syns[0], rsts[0]), port=ctx.c.server.port, delay=round(delay, 6)
        )


def check_incomplete(ctx: _Ctx) -> Iterator[Anomaly]:
    """H3: a SYN-ACK that the client never acknowledged."""
    if ctx.c.handshake is not Handshake.INCOMPLETE:
        return
    rows = _syns(ctx, Direction.TO_CLIENT, with_ack=True)
    if rows:
        wait = ctx.capture_end - ctx.p.time[rows[0]]
        yield ctx.make(A.HANDSHAKE_INCOMPLETE, rows, count=len(rows), wait=round(wait, 6))


def check_old_duplicate(ctx: _Ctx) -> Iterator[Anomaly]:
    """H4: the client resets a SYN-ACK that acknowledges a SYN it is not (or no longer) making.

    RFC 9293 Fig. 8: B answers a stale SYN; A, in SYN-SENT, finds the ACK unacceptable and sends
    <SEQ=SEG.ACK><RST>. The stale SYN may be in the capture or not.
    """
    p = ctx.p
    for synack in _syns(ctx, Direction.TO_CLIENT, with_ack=True):
        # RSTs and SYNs are always notable rows: no need to walk every packet.
        rst = next(
            (r for r in _rsts(ctx, Direction.TO_SERVER) if r > synack and not p.flags[r] & _ACK),
            None,
        )
        earlier = [r for r in _syns(ctx, Direction.TO_SERVER, with_ack=False) if r < synack]
        recent = earlier[-1] if earlier else None
        # With data on the SYN the SYN-ACK may ack ISN+1+len (TFO) or ISN+1 (data ignored).
        mismatch = recent is not None and p.ack[synack] not in (
            ctx.end(recent),
            (p.seq[recent] + 1) % _MOD,
        )
        reset = rst is not None and p.seq[rst] == p.ack[synack]
        if not (mismatch or reset):
            continue
        stale = [
            r
            for r in _syns(ctx, Direction.TO_SERVER, with_ack=False)
            if (p.seq[r] + 1) % _MOD == p.ack[synack]
        ]
        rows = [*stale, synack]
        if rst is not None and reset:
            ctx.skip.add(rst)
            rows.append(rst)
        variant = "stale-syn-captured" if stale else "synack-mismatch"
        yield ctx.make(A.OLD_DUPLICATE_SYN, rows, variant=variant)
        return


def check_simultaneous_open(ctx: _Ctx) -> Iterator[Anomaly]:
    """H5: SYNs crossed (RFC 9293 Fig. 7); tshark's retransmission and dup-ACK labels are wrong."""
    if ctx.c.handshake is not Handshake.SIMULTANEOUS_OPEN:
        return
    rows = ctx.where(flags=_SYN)
    mislabels = _simultaneous_mislabels(ctx)
    ctx.skip.update(mislabels)
    yield ctx.make(A.SIMULTANEOUS_OPEN, rows, suppressed=len(mislabels))


def _simultaneous_mislabels(ctx: _Ctx) -> list[int]:
    """The SYN-ACKs tshark calls retransmissions and the handshake ACKs it calls dup ACKs."""
    p = ctx.p
    first_data = next((r for r in ctx.rows if p.length[r]), None)
    found = []
    for r in ctx.rows:
        if first_data is not None and r > first_data:
            break
        syn_ack = p.flags[r] & _SYN and p.analysis[r] & RETRANSMITTED
        dup = not p.flags[r] & (_SYN | _FIN | _RST) and p.analysis[r] & F.DUPLICATE_ACK
        if syn_ack or dup:
            found.append(r)
    return found


def check_syn_data(ctx: _Ctx) -> Iterator[Anomaly]:
    """H6: data on the SYN; accepted if the SYN-ACK acks ISN+1+len, ignored if ISN+1 (RFC 7413)."""
    p = ctx.p
    for syn in _syns(ctx, Direction.TO_SERVER, with_ack=False):
        if not p.length[syn]:
            continue
        synack = next(
            (
                r
                for r in ctx.after(syn, Direction.TO_CLIENT)
                if p.flags[r] & _SYN and p.flags[r] & _ACK
            ),
            None,
        )
        outcome = "unanswered"
        if synack is not None:
            accepted = p.ack[synack] == ctx.end(syn)
            outcome = "accepted" if accepted else "ignored"
        yield ctx.make(
            A.SYN_DATA,
            (syn,) if synack is None else (syn, synack),
            N if outcome == "ignored" else INFO,
            bytes=p.length[syn],
            kind="tfo" if p.tfo[syn] else "plain",
            outcome=outcome,
        )
        return


def _illegal(flags: int) -> str | None:
    """The name of an illegal flag combination (RFC 9293 §3.1, §3.10.7), or None."""
    if flags & _SYN and flags & _FIN:
        return "syn-fin"
    if flags & _SYN and flags & _RST:
        return "syn-rst"
    if flags & _FIN and flags & _RST:
        return "fin-rst"
    if not flags & (_SYN | _ACK | _FIN | _RST | _PSH | _URG):
        return "null"
    if flags & _ACK or flags & (_SYN | _RST):
        return None
    if flags & _FIN and flags & _PSH and flags & _URG:
        return "xmas"
    return "no-ack"  # FIN, PSH or URG without ACK: never sent by a synchronised stack


def check_illegal_flags(ctx: _Ctx) -> Iterator[Anomaly]:
    """H7: flag combinations no TCP sends (typical of scanners fingerprinting a host)."""
    found = [(r, kind) for r in ctx.rows if (kind := _illegal(ctx.p.flags[r])) is not None]
    if found:
        kinds = {kind for _, kind in found}
        rows = [r for r, _ in found]
        yield ctx.make(
            A.ILLEGAL_FLAGS,
            rows,
            count=len(rows),
            variant=kinds.pop() if len(kinds) == 1 else "mixed",
            side=_sides(ctx, rows),
        )


def check_ack_without_flag(ctx: _Ctx) -> Iterator[Anomaly]:
    """H8: a non-zero ack field without the ACK flag.

    Not on a SYN (some stacks leave the field unset there) nor on a RST without ACK: Linux's
    tcp_v4_send_reset sends <SEQ=SEG.ACK><RST> with the field zero, but others leave stale values.
    """
    p = ctx.p
    rows = [r for r in ctx.rows if not p.flags[r] & (_ACK | _SYN | _RST) and p.ack[r]]
    if rows:
        yield ctx.make(A.ACK_WITHOUT_ACK_FLAG, rows, count=len(rows))


def check_syn_in_established(ctx: _Ctx) -> Iterator[Anomaly]:
    """H10: a SYN with a new sequence number on an open connection (RFC 5961 §4: challenge ACK)."""
    p, s = ctx.p, ctx.s
    est = TcpState.ESTABLISHED
    rows = []
    for r in ctx.where(flags=_SYN):
        isn = ctx.c.client_isn if ctx.d(r) == Direction.TO_SERVER else ctx.c.server_isn
        if s.client_before[r] == est and s.server_before[r] == est and p.seq[r] != isn:
            rows.append(r)
    if rows:
        yield ctx.make(A.SYN_IN_ESTABLISHED, rows, count=len(rows), side=_sides(ctx, rows))


def check_port_reuse(ctx: _Ctx) -> Iterator[Anomaly]:
    """H9/T11: a new incarnation of a 4-tuple, and whether the old one was still in TIME_WAIT."""
    prev, c = ctx.prev, ctx.c
    syns = _syns(ctx, Direction.TO_SERVER, with_ack=False)
    if prev is None or not syns or not _ended(prev) or prev.handshake is Handshake.OLD_DUPLICATE:
        return
    syn = syns[0]
    gap = round(ctx.p.time[syn] - prev.last_time, 6)
    tw_side = _time_wait_side(prev, c)
    if tw_side is None or gap >= RFC_2MSL:
        yield ctx.make(A.PORT_REUSED, (syn,), gap=gap, previous=prev.id)
        return
    linux = gap < LINUX_TIME_WAIT
    yield ctx.make(
        A.PORT_REUSED_IN_TIME_WAIT,
        (syn,),
        gap=gap,
        previous=prev.id,
        time_wait_side=tw_side,
        limit=int(LINUX_TIME_WAIT if linux else RFC_2MSL),
        variant="linux" if linux else "rfc",
    )
    answer = next(iter(ctx.after(syn, Direction.TO_CLIENT)), None)
    if answer is not None and tw_side != Closer.CLIENT.value and not ctx.p.flags[answer] & _SYN:
        # The TIME_WAIT end refused the SYN: a (challenge) ACK or a RST instead of SYN-ACK.
        kind = "rst" if ctx.p.flags[answer] & _RST else "ack"
        yield ctx.make(
            A.TIME_WAIT_CONFLICT, (syn, answer), gap=gap, answer=kind, time_wait_side=tw_side
        )


def _ended(conn: Connection) -> bool:
    """The incarnation saw a FIN or a RST."""
    return conn.handshake is Handshake.REFUSED or conn.teardown not in (
        Teardown.OPEN_AT_END,
        Teardown.NONE,
    )


def _time_wait_side(prev: Connection, new: Connection) -> str | None:
    """Which end of the new connection was (presumably) still in TIME_WAIT from prev."""
    if prev.time_wait is Closer.NONE:
        return None
    if prev.time_wait is Closer.BOTH:
        return Closer.BOTH.value
    endpoint = prev.client if prev.time_wait is Closer.CLIENT else prev.server
    return Closer.CLIENT.value if endpoint == new.client else Closer.SERVER.value


# ------------------------------------------------------------------------------ data phase D1–D15


def check_retransmissions(ctx: _Ctx) -> Iterator[Anomaly]:
    """D1–D3, D6: tshark's retransmission verdicts, minus the SYNs and bare FINs (H1, H3, T5)."""
    p = ctx.p
    data = [
        r
        for r in ctx.where(bits=RETRANSMITTED | F.OUT_OF_ORDER)
        if r not in ctx.skip and not p.flags[r] & _SYN and (p.length[r] or not p.flags[r] & _FIN)
    ]
    spurious = [r for r in data if p.analysis[r] & F.SPURIOUS_RETRANSMISSION]
    fast = [r for r in data if p.analysis[r] & F.FAST_RETRANSMISSION and r not in spurious]
    plain = [
        r
        for r in data
        if p.analysis[r] & F.RETRANSMISSION
        and not p.analysis[r] & (F.FAST_RETRANSMISSION | F.SPURIOUS_RETRANSMISSION)
    ]
    ooo = [r for r in data if p.analysis[r] & F.OUT_OF_ORDER and not p.analysis[r] & RETRANSMITTED]
    yield from _retransmissions_by_cause(ctx, plain)
    for slug, rows in (
        (A.FAST_RETRANSMISSION, fast),
        (A.SPURIOUS_RETRANSMISSION, spurious),
        (A.OUT_OF_ORDER, ooo),
    ):
        if rows:
            yield ctx.make(slug, rows, count=len(rows), bytes=_payload(ctx, rows))


def _retransmissions_by_cause(ctx: _Ctx, plain: list[int]) -> Iterator[Anomaly]:
    """D1, one finding per cause the capture shows (a timer, SACK, duplicate ACKs, too early)."""
    if not plain:
        return
    rows = ctx.c.packet_index
    position = {r: i for i, r in enumerate(rows)}
    directions = [ctx.d(r) for r in rows]
    c = ctx.c
    rtt = None
    if c.rtt_syn_synack is not None and c.rtt_synack_ack is not None:
        rtt = c.rtt_syn_synack + c.rtt_synack_ack
    by_cause: dict[Cause, list[tuple[int, float]]] = {}
    for r in plain:
        found = retransmission.evidence(ctx.p, rows, directions, position[r], rtt)
        by_cause.setdefault(found.cause, []).append((r, found.delay))
    total_bytes = max(c.to_server.payload_bytes + c.to_client.payload_bytes, 1)
    for cause, group in sorted(by_cause.items(), key=lambda item: item[1][0][0]):
        resent = [r for r, _ in group]
        sent = _payload(ctx, resent)
        share = sent / max(total_bytes, sent)
        delays = [delay for _, delay in group]
        # TCP-REFERENCE D1: more than 1 % of the stream resent is worth a warning.
        yield ctx.make(
            A.RETRANSMISSION,
            resent,
            W if share > 0.01 else N,
            count=len(resent),
            bytes=sent,
            share=round(share, 6),
            cause=cause.value,
            delay_min=round(min(delays) * 1000, 3),
            delay_max=round(max(delays) * 1000, 3),
            rtt="-" if rtt is None else round(rtt * 1000, 3),
        )


def check_gaps(ctx: _Ctx) -> Iterator[Anomaly]:
    """D4: bytes missing before a segment; capture loss when the receiver ACKed past them unsent.

    A gap later filled by an out-of-order segment only is reordering (D6), not loss.
    """
    lost: list[tuple[int, int, str]] = []  # row, missing bytes, cause
    for r in ctx.where(bits=F.LOST_SEGMENT):
        d = ctx.d(r)
        expected = ctx.next_seq(r, d)
        if expected is None or not _gt(ctx.p.seq[r], expected):
            continue  # the gap is at the start of the capture: nothing to compare with
        missing = (ctx.p.seq[r] - expected) % _MOD
        filler = _filled_by(ctx, r, expected)
        if filler == "reordered":
            continue
        acked = ctx.last_ack(1 - d)
        if filler is None and acked is not None and _ge(acked, ctx.p.seq[r]):
            lost.append((r, missing, "capture"))
        else:
            lost.append((r, missing, "network-loss" if filler else "unknown"))
    capture = [(r, m) for r, m, cause in lost if cause == "capture"]
    network = [(r, m, cause) for r, m, cause in lost if cause != "capture"]
    if capture:
        yield ctx.make(
            A.CAPTURE_LOSS,
            (r for r, _ in capture),
            count=len(capture),
            bytes=sum(m for _, m in capture),
        )
    if network:
        causes = {cause for _, _, cause in network}
        yield ctx.make(
            A.SEGMENT_NOT_CAPTURED,
            (r for r, _, _ in network),
            count=len(network),
            bytes=sum(m for _, m, _ in network),
            cause=causes.pop() if len(causes) == 1 else "mixed",
        )


def _filled_by(ctx: _Ctx, gap_row: int, start: int) -> str | None:
    """How the bytes [start, seq of gap_row) were later sent: "retransmitted", "reordered", None."""
    p, d, stop = ctx.p, ctx.d(gap_row), ctx.p.seq[gap_row]
    first = bisect_left(ctx.rows, gap_row) + 1
    for r in ctx.rows[first : first + 4 * LOOK_BACK]:  # fillers come soon after, as notable rows
        if ctx.d(r) != d or not p.length[r]:
            continue
        if _gt(ctx.end(r), start) and _gt(stop, p.seq[r]):
            return "retransmitted" if p.analysis[r] & RETRANSMITTED else "reordered"
    return None


def check_acked_unseen(ctx: _Ctx) -> Iterator[Anomaly]:
    """D5: an ACK of bytes never seen; info at capture start or after a gap (capture loss).

    tshark's flag is checked against this connection's own sequence space: an ack that a SYN
    and a FIN on one segment explain (SEG.LEN counts both, RFC 9293 §3.4), or that falls within
    what this incarnation's peer sent, acknowledges nothing unseen.
    """
    rows = _acks_beyond_sent(ctx, ctx.where(bits=F.ACK_LOST_SEGMENT))
    if not rows:
        return
    gaps = ctx.where(bits=F.LOST_SEGMENT)
    variants = set()
    for r in rows:
        if ctx.c.handshake is Handshake.NOT_CAPTURED and (
            ctx.p.time[r] - ctx.c.first_time <= AT_END or ctx.next_seq(r, 1 - ctx.d(r)) is None
        ):
            variants.add("capture-start")
        elif any(g < r and ctx.d(g) != ctx.d(r) for g in gaps):
            variants.add("after-gap")
        else:
            variants.add("unexplained")
    variant = "unexplained" if "unexplained" in variants else min(variants)
    yield ctx.make(
        A.ACKED_UNSEEN_SEGMENT,
        rows,
        W if variant == "unexplained" else INFO,
        count=len(rows),
        variant=variant,
    )


def _acks_beyond_sent(ctx: _Ctx, flagged: list[int]) -> list[int]:
    """The flagged rows whose ack lies beyond every sequence number the peer used before them."""
    if not flagged:
        return []
    p, wanted = ctx.p, set(flagged)
    highest: dict[int, int] = {}  # direction → the furthest segment end it sent so far
    found = []
    for r in ctx.c.packet_index:
        d = ctx.d(r)
        if r in wanted:
            peer_end = highest.get(1 - d)
            if peer_end is None or _gt(p.ack[r], peer_end):
                found.append(r)
        if not p.flags[r] & _RST:
            end = p.seq[r] + p.length[r] + bool(p.flags[r] & _SYN) + bool(p.flags[r] & _FIN)
            end %= _MOD
            if d not in highest or _gt(end, highest[d]):
                highest[d] = end
    return found


def check_duplicate_acks(ctx: _Ctx) -> Iterator[Anomaly]:
    """D7: duplicate ACKs, in runs of the same ack value; three or more trigger fast retransmit."""
    p = ctx.p
    rows = [r for r in ctx.where(bits=F.DUPLICATE_ACK) if r not in ctx.skip]
    if not rows:
        return
    runs: list[list[int]] = []
    for r in rows:
        last = runs[-1][-1] if runs else None
        if last is not None and ctx.d(last) == ctx.d(r) and p.ack[last] == p.ack[r]:
            runs[-1].append(r)
        else:
            runs.append([r])
    longest = max(len(run) for run in runs)
    yield ctx.make(A.DUPLICATE_ACK, rows, count=len(rows), runs=len(runs), longest=longest)
    triples = [run[2] for run in runs if len(run) >= 3]
    if triples:
        yield ctx.make(A.TRIPLE_DUPLICATE_ACK, triples, count=len(triples), longest=longest)


def _window_closed(ctx: _Ctx, row: int) -> bool:
    return ctx.p.window[row] == 0 and not ctx.p.flags[row] & (_SYN | _FIN | _RST)


def _episodes(ctx: _Ctx) -> list[tuple[list[int], int | None]]:
    """Zero-window episodes: the rows advertising 0, and the row that reopened it (or None).

    A new episode starts when the advertiser's previous packet had a non-zero window.
    """
    open_: dict[int, list[int]] = {}
    done: list[tuple[list[int], int | None]] = []
    for r in ctx.rows:
        d = ctx.d(r)
        closed = _window_closed(ctx, r)
        if d in open_ and not closed:
            done.append((open_.pop(d), r))
        elif closed and d in open_:
            prev = next(ctx.before(r, d), None)
            if prev is not None and ctx.p.window[prev] and prev not in open_[d]:
                done.append((open_.pop(d), prev))
                open_[d] = [r]
            else:
                open_[d].append(r)
        elif closed:
            open_[d] = [r]
    done.extend((rows, None) for rows in open_.values())
    return sorted(done)


def check_zero_window(ctx: _Ctx) -> Iterator[Anomaly]:
    """D8/D9: each zero-window episode, and the probes sent into it.

    Linux probes with zero-length segments at SND.UNA − 1 that tshark labels keep-alives; inside
    an episode they are counted as probes (TCP-REFERENCE D9).
    """
    probes: list[int] = []
    kinds: set[str] = set()
    for rows, reopened in _episodes(ctx):
        start, d = rows[0], ctx.d(rows[0])
        stop = reopened if reopened is not None else ctx.c.packet_index[-1]
        inside = [
            r
            for r in ctx.where(bits=F.ZERO_WINDOW_PROBE | F.KEEP_ALIVE)
            if start < r <= stop and ctx.d(r) != d
        ]
        probes += inside
        kinds.update("one-byte" if ctx.p.length[r] else "zero-length" for r in inside)
        end = reopened if reopened is not None else rows[-1]
        yield ctx.make(
            A.ZERO_WINDOW,
            rows,  # only segments that advertise 0; the one that reopens it is a window update
            side=_side(d),
            duration=round(ctx.p.time[end] - ctx.p.time[start], 6),
            probes=len(inside),
            variant="reopened" if reopened is not None else "still-closed",
        )
    probes += [r for r in ctx.where(bits=F.ZERO_WINDOW_PROBE) if r not in probes]
    kinds.update("one-byte" for r in probes if ctx.p.length[r])
    if probes:
        ctx.skip.update(probes)
        yield ctx.make(
            A.ZERO_WINDOW_PROBE,
            probes,
            count=len(probes),
            variant=kinds.pop() if len(kinds) == 1 else "mixed",
        )


def check_window_flags(ctx: _Ctx) -> Iterator[Anomaly]:
    """D10/D11: the sender filled the window; the receiver only changed its window."""
    full = ctx.where(bits=F.WINDOW_FULL)
    if full:
        yield ctx.make(A.WINDOW_FULL, full, count=len(full), side=_sides(ctx, full))
    updates = ctx.where(bits=F.WINDOW_UPDATE)
    if updates:
        yield ctx.make(A.WINDOW_UPDATE, updates, count=len(updates))


def check_keep_alive(ctx: _Ctx) -> Iterator[Anomaly]:
    """D12: keep-alive probes (seq = next − 1) and their ACKs; idle time before the first."""
    probes = [r for r in ctx.where(bits=F.KEEP_ALIVE) if r not in ctx.skip]
    if not probes:
        return
    acks = ctx.where(bits=F.KEEP_ALIVE_ACK)
    prev = next(ctx.before(probes[0]), None)
    idle = ctx.p.time[probes[0]] - (ctx.p.time[prev] if prev is not None else ctx.c.first_time)
    interval = ctx.p.time[probes[1]] - ctx.p.time[probes[0]] if len(probes) > 1 else 0.0
    yield ctx.make(
        A.KEEP_ALIVE,
        probes + acks,
        count=len(probes),
        acks=len(acks),
        idle=round(idle, 6),
        interval=round(interval, 6),
    )


def check_oversize(ctx: _Ctx) -> Iterator[Anomaly]:
    """D13: payload above the peer's MSS: TSO/GSO on the capture host, not on the wire."""
    limits = {
        Direction.TO_SERVER: ctx.c.server_options.mss,
        Direction.TO_CLIENT: ctx.c.client_options.mss,
    }
    rows = [r for r in ctx.rows if (m := limits[Direction(ctx.d(r))]) and ctx.p.length[r] > m]
    if rows:
        largest = max(ctx.p.length[r] for r in rows)
        mss = min(limits[Direction(ctx.d(r))] or 0 for r in rows)
        yield ctx.make(
            A.SEGMENT_EXCEEDS_MSS,
            rows,
            count=len(rows),
            largest=largest,
            mss=mss,
            side=_sides(ctx, rows),
        )


def check_data_before_handshake(ctx: _Ctx) -> Iterator[Anomaly]:
    """D15: payload from the client before it could ACK the SYN-ACK, or from the server before
    its SYN-ACK (RFC 9293 §3.10.7.3); TFO data on or right after the SYN is legitimate."""
    c, p, s = ctx.c, ctx.p, ctx.s
    if c.handshake is Handshake.NOT_CAPTURED or c.client_options.tfo:
        return
    early = (TcpState.CLOSED, TcpState.LISTEN, TcpState.SYN_SENT)
    rows = []
    for k in range(min(len(c.packet_index), LOOK_BACK)):
        r = c.packet_index[k]
        if s.client_before[r] == TcpState.ESTABLISHED and s.server_before[r] == (
            TcpState.ESTABLISHED
        ):
            break
        before = s.client_before[r] if ctx.d(r) == Direction.TO_SERVER else s.server_before[r]
        if p.length[r] and not p.flags[r] & _SYN and before in early:
            rows.append(r)
    if rows:
        yield ctx.make(
            A.DATA_BEFORE_HANDSHAKE,
            rows,
            count=len(rows),
            bytes=_payload(ctx, rows),
            side=_sides(ctx, rows),
        )


def check_checksums(ctx: _Ctx) -> Iterator[Anomaly]:
    """D14: bad checksums (seen only when validation was on); an offload artefact when every
    packet of the sending host is bad (captured before the NIC filled the checksum in)."""
    p = ctx.p
    bad = [r for r in ctx.rows if p.tcp_checksum[r] == _BAD]
    offload = [r for r in bad if p.src[r] in ctx.offload_hosts]
    other = [r for r in bad if p.src[r] not in ctx.offload_hosts]
    if offload:
        yield ctx.make(A.CHECKSUM_OFFLOAD, offload, count=len(offload), side=_sides(ctx, offload))
    if other:
        yield ctx.make(A.BAD_CHECKSUM, other, count=len(other), side=_sides(ctx, other))


def _offload_hosts(
    packets: PacketColumns, connections: list[Connection], notable: dict[int, list[int]]
) -> frozenset[str]:
    """Hosts every one of whose packets has a bad TCP checksum, while other hosts' do not."""
    bad: dict[str, int] = {}
    for rows in notable.values():
        for r in rows:
            if packets.tcp_checksum[r] == _BAD:
                bad[packets.src[r]] = bad.get(packets.src[r], 0) + 1
    if not bad:
        return frozenset()
    sent: dict[str, int] = {}
    for c in connections:
        sent[c.client.ip] = sent.get(c.client.ip, 0) + c.to_server.packets
        sent[c.server.ip] = sent.get(c.server.ip, 0) + c.to_client.packets
    hosts = frozenset(h for h, n in bad.items() if n >= sent.get(h, 0) > 0)
    others_good = any(n > bad.get(h, 0) for h, n in sent.items() if h not in hosts)
    return hosts if others_good else frozenset()


# ------------------------------------------------------------------------------- teardown T4–T11


def _fins(ctx: _Ctx, direction: int) -> list[int]:
    key = ("fin", direction, False)
    if key not in ctx.memo:
        flags, d = ctx.p.flags, ctx.s.direction
        ctx.memo[key] = [
            r
            for r in ctx.rows
            if flags[r] & _FIN and not flags[r] & (_SYN | _RST) and d[r] == direction
        ]
    return ctx.memo[key]


def _rsts(ctx: _Ctx, direction: int) -> list[int]:
    key = ("rst", direction, False)
    if key not in ctx.memo:
        flags, d = ctx.p.flags, ctx.s.direction
        ctx.memo[key] = [r for r in ctx.rows if flags[r] & _RST and d[r] == direction]
    return ctx.memo[key]


def check_half_close(ctx: _Ctx) -> Iterator[Anomaly]:
    """T4: the peer kept sending after a FIN (RFC 1122 §4.2.2.13 half-duplex close), or never
    sent its own FIN and sat in CLOSE_WAIT until the capture ended."""
    p = ctx.p
    for d in (Direction.TO_SERVER, Direction.TO_CLIENT):
        fins = _fins(ctx, d)
        if not fins or _fins(ctx, 1 - d) and _fins(ctx, 1 - d)[0] < fins[0]:
            continue  # this side did not close first
        y = 1 - d
        data = [
            r
            for r in ctx.rows
            if r > fins[0] and ctx.d(r) == y and p.length[r] and not p.analysis[r] & RETRANSMITTED
        ]
        if data or ctx.c.half_close and ctx.c.closed_first.value == _side(d):
            yield ctx.make(
                A.HALF_CLOSE,
                data or fins[:1],
                side=_side(y),
                bytes=_payload(ctx, data),
                count=len(data),
            )
        final = ctx.c.server_final if y == Direction.TO_CLIENT else ctx.c.client_final
        acked = ctx.last_ack(y)
        if (
            not _fins(ctx, y)
            and not _rsts(ctx, y)
            and (final == TcpState.CLOSE_WAIT or acked is not None and acked == ctx.end(fins[0]))
        ):
            yield ctx.make(
                A.CLOSE_WAIT_LINGERING,
                fins[:1],
                side=_side(y),
                seconds=round(ctx.capture_end - p.time[fins[0]], 6),
            )


def check_fin_retransmitted(ctx: _Ctx) -> Iterator[Anomaly]:
    """T5: a FIN sent again. If its receiver had already ACKed it and ACKs it again, the first
    ACK was lost after the capture point and TIME_WAIT did its job (RFC 9293 §3.4.2 reason 1)."""
    p = ctx.p
    for d in (Direction.TO_SERVER, Direction.TO_CLIENT):
        fins = _fins(ctx, d)
        again = [r for r in fins[1:] if p.seq[r] == p.seq[fins[0]] or p.analysis[r] & RETRANSMITTED]
        lost: list[int] = []
        plain: list[int] = []
        for r in again:
            fin_end = ctx.end(r)
            acked_before = any(
                p.flags[x] & _ACK and _ge(p.ack[x], fin_end)
                for x in ctx.before(r, 1 - d)
                if x > fins[0]
            )
            answer = next(ctx.after(r, 1 - d), None)
            acked_again = (
                answer is not None and p.flags[answer] & _ACK and _ge(p.ack[answer], fin_end)
            )
            (lost if acked_before and acked_again else plain).append(r)
        if lost:
            yield ctx.make(A.LOST_FINAL_ACK, lost, count=len(lost), side=_side(d))
        if plain:
            yield ctx.make(A.FIN_RETRANSMITTED, plain, count=len(plain), side=_side(d))


def check_resets(ctx: _Ctx) -> Iterator[Anomaly]:
    """T6: the first RST that ended the connection, and what the capture says about its cause."""
    p = ctx.p
    rsts = [r for r in ctx.where(flags=_RST) if r not in ctx.skip]
    if not rsts or ctx.c.handshake in (
        Handshake.REFUSED,
        Handshake.OLD_DUPLICATE,
        Handshake.STRAY,  # a closed port's answer: there was no connection to reset
    ):
        return
    rst = rsts[0]
    d, side = ctx.d(rst), ctx.side(rst)
    own_fin = [r for r in _fins(ctx, d) if r < rst]
    peer_fin = [r for r in _fins(ctx, 1 - d) if r < rst]
    if own_fin and peer_fin:
        return  # a RST after both FINs: the close had completed (Zeek folds it back, too)
    ttl, usual = p.ttl[rst], _usual_ttl(ctx, rst)
    cause, unacked = _reset_cause(ctx, rst, bool(own_fin))
    if usual is not None and ttl >= 0 and ttl != usual:
        cause = "middlebox"
        yield ctx.make(A.RESET_BY_MIDDLEBOX, (rst,), side=side, ttl=ttl, usual_ttl=usual)
    elif cause != "unknown":
        yield ctx.make(
            A.RESET_UNREAD_DATA, own_fin[-1:] + [rst], side=side, cause=cause, bytes=unacked
        )
    # TCP-REFERENCE T6: warn, but only a note when it is the unread-data close (case a).
    severity = N if cause in ("after-fin", "unacked-received", "unacked-sent") else W
    yield ctx.make(A.CONNECTION_RESET, (rst,), severity, side=side, cause=cause)


def _usual_ttl(ctx: _Ctx, rst: int) -> int | None:
    """The TTL of the RST sender's other recent packets, when they agree on one."""
    ttls = {ctx.p.ttl[r] for r in ctx.before(rst, ctx.d(rst)) if not ctx.p.flags[r] & _RST}
    ttls.discard(-1)
    return ttls.pop() if len(ttls) == 1 else None


def _reset_cause(ctx: _Ctx, rst: int, after_fin: bool) -> tuple[str, int]:
    """Sub-case (a) of T6: RST right after its own FIN, or with data still unacknowledged.

    RFC 1122 §4.2.2.13: closing with unread received data sends RST; SO_LINGER 0 discards what is
    still unsent or unacknowledged.
    """
    if after_fin:
        return "after-fin", 0
    d, p = ctx.d(rst), ctx.p
    peer_next, own_next = ctx.next_seq(rst, 1 - d), ctx.next_seq(rst, d)
    own_ack = p.ack[rst] if p.flags[rst] & _ACK else ctx.last_ack(d, rst)
    peer_ack = ctx.last_ack(1 - d, rst)
    if peer_next is not None and own_ack is not None and _gt(peer_next, own_ack):
        return "unacked-received", (peer_next - own_ack) % _MOD
    if own_next is not None and peer_ack is not None and _gt(own_next, peer_ack):
        return "unacked-sent", (own_next - peer_ack) % _MOD
    return "unknown", 0


def check_rst_validity(ctx: _Ctx) -> Iterator[Anomaly]:
    """T7: a RST whose seq is not exactly its receiver's RCV.NXT (RFC 5961 §3.2): in the window
    it draws a challenge ACK, outside it is ignored; in SYN-SENT it must ack the SYN (§3.10.7.3).
    """
    for rst in ctx.where(flags=_RST):
        if rst in ctx.skip:
            continue
        d = ctx.d(rst)
        own = ctx.next_seq(rst, d)
        if own is None:
            variant, offset = _rst_in_syn_sent(ctx, rst)
        else:
            variant, offset = _rst_synchronised(ctx, rst, own)
        if variant is not None:
            yield ctx.make(
                A.RST_NOT_IN_WINDOW, (rst,), side=ctx.side(rst), variant=variant, offset=offset
            )


def _rst_in_syn_sent(ctx: _Ctx, rst: int) -> tuple[str | None, int]:
    """A RST from a side that sent nothing else: acceptable only if it acks the peer's SYN."""
    p = ctx.p
    syn = next(ctx.before(rst, 1 - ctx.d(rst)), None)
    if syn is None or not p.flags[syn] & _SYN or p.flags[syn] & _ACK:
        return None, 0
    if not p.flags[rst] & _ACK:
        return "syn-sent", 0
    # SYN-SENT: acceptable iff ISS < SEG.ACK =< SND.NXT.
    offset = _signed(p.ack[rst] - ctx.end(syn))
    ok = _gt(p.ack[rst], p.seq[syn]) and _ge(ctx.end(syn), p.ack[rst])
    return (None if ok else "syn-sent"), offset


def _rst_synchronised(ctx: _Ctx, rst: int, own_next: int) -> tuple[str | None, int]:
    """Compare a RST's seq with its receiver's RCV.NXT (the sender's next seq, or the receiver's
    last ack when the sender's last bytes had not arrived)."""
    p, d = ctx.p, ctx.d(rst)
    acked = ctx.last_ack(1 - d, rst)
    seq = p.seq[rst]
    if acked is None or seq in (own_next, acked):
        return None, 0
    base = acked
    scale = ctx.c.server_options.wscale if d == Direction.TO_SERVER else ctx.c.client_options.wscale
    both = ctx.c.client_options.wscale is not None and ctx.c.server_options.wscale is not None
    last = next((r for r in ctx.before(rst, 1 - d)), None)
    window = (p.window[last] if last is not None else 0) << (scale or 0 if both else 0)
    offset = _signed(seq - own_next)
    inside = 0 <= (seq - base) % _MOD < max(window, 1)
    return ("in-window" if inside else "out-of-window"), offset


def check_open_at_end(ctx: _Ctx) -> Iterator[Anomaly]:
    """T8: neither FIN nor RST before the capture ended."""
    c = ctx.c
    if c.teardown is Teardown.OPEN_AT_END and c.handshake not in (
        Handshake.UNANSWERED,
        Handshake.REFUSED,
        Handshake.INCOMPLETE,
        Handshake.OLD_DUPLICATE,
    ):
        yield ctx.make(
            A.OPEN_AT_CAPTURE_END,
            c.packet_index[-1:],
            idle=round(ctx.capture_end - c.last_time, 6),
            duration=round(c.duration, 6),
        )


def check_data_after_close(ctx: _Ctx) -> Iterator[Anomaly]:
    """T9: payload from a side after its own RST, or beyond its own FIN's sequence number.

    Data sent before the RST or FIN but captured after it (seq below it) is reordering, not this.
    """
    p = ctx.p
    after_rst: list[int] = []
    after_fin: list[int] = []
    for d in (Direction.TO_SERVER, Direction.TO_CLIENT):
        rsts, fins = _rsts(ctx, d), _fins(ctx, d)
        data = [r for r in ctx.rows if ctx.d(r) == d and p.length[r] and not p.flags[r] & _SYN]
        if rsts:
            after_rst += [r for r in data if r > rsts[0] and _gt(ctx.end(r), p.seq[rsts[0]])]
        if fins:
            fin_seq = (p.seq[fins[0]] + p.length[fins[0]]) % _MOD
            after_fin += [
                r for r in data if r > fins[0] and _gt(ctx.end(r), fin_seq) and r not in after_rst
            ]
    for slug, rows in ((A.DATA_AFTER_RESET, after_rst), (A.DATA_AFTER_FIN, after_fin)):
        if rows:
            yield ctx.make(
                slug, rows, count=len(rows), bytes=_payload(ctx, rows), side=_sides(ctx, rows)
            )


def check_midstream(ctx: _Ctx) -> Iterator[Anomaly]:
    """T10: the capture started after the handshake (not a scanner's probe, which H7 explains)."""
    c = ctx.c
    if c.handshake is not Handshake.NOT_CAPTURED or not c.packet_index:
        return
    first = c.packet_index[0]
    if _illegal(ctx.p.flags[first]) is None:
        yield ctx.make(A.MIDSTREAM, (first,))


# -------------------------------------------------------------------------------------- detect

# Order matters only where a check marks rows as explained (ctx.skip) for the ones after it.
CHECKS: tuple[Check, ...] = (
    check_simultaneous_open,
    check_refused,
    check_old_duplicate,
    check_unanswered,
    check_incomplete,
    check_syn_retries,
    check_syn_data,
    check_illegal_flags,
    check_ack_without_flag,
    check_syn_in_established,
    check_port_reuse,
    check_zero_window,
    check_retransmissions,
    check_gaps,
    check_acked_unseen,
    check_duplicate_acks,
    check_window_flags,
    check_keep_alive,
    check_oversize,
    check_checksums,
    check_data_before_handshake,
    check_half_close,
    check_fin_retransmitted,
    check_resets,
    check_rst_validity,
    check_open_at_end,
    check_data_after_close,
    check_midstream,
)


def detect(packets: PacketColumns, states: PacketStates, connections: list[Connection]) -> None:
    """Append every finding to its connection's `anomalies`, sorted by first frame.

    packets and states are the aligned columns of the loader and the reconstructor; connections
    are the reconstructor's summaries (their packet_index, handshake, teardown, ISNs, options).
    """
    if not len(packets):
        return
    notable = _gather(packets, states, connections)
    offload = _offload_hosts(packets, connections, notable)
    capture_end = max(packets.time[-1], max((c.last_time for c in connections), default=0.0))
    previous: dict[frozenset[tuple[str, int]], Connection] = {}
    for conn in sorted(connections, key=lambda c: (c.first_time, c.id)):
        key = frozenset(((conn.client.ip, conn.client.port), (conn.server.ip, conn.server.port)))
        ctx = _Ctx(
            packets,
            states,
            conn,
            notable[conn.id],
            capture_end,
            previous.get(key),
            offload_hosts=offload,
        )
        previous[key] = conn
        found = [a for check in CHECKS for a in check(ctx)]
        found.sort(key=lambda a: (a.frames[0] if a.frames else 0, a.slug))
        conn.anomalies.extend(found)
