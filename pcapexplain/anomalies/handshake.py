"""Handshake-phase checks H1–H10: retries, refusals, stale and crossed SYNs, odd flags, reuse."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

import numpy as np

from pcapexplain.anomalies.context import ACK, AT_END, FIN, RST, SYN, Context, retry_times
from pcapexplain.anomalies.preconditions import Facts, Mask, needs
from pcapexplain.arrays import stable_order
from pcapexplain.model import (
    RETRANSMITTED,
    AnalysisFlag,
    Anomaly,
    AnomalySlug,
    Closer,
    Connection,
    Direction,
    Handshake,
    PacketRole,
    Severity,
    TcpFlags,
    TcpState,
    Teardown,
)
from pcapexplain.seqspace import MOD, seq_add

A = AnomalySlug
F = AnalysisFlag
_FIRST_SYNACK = int(PacketRole.SYN_ACK)
_illegal = cache(TcpFlags.illegal)  # a handful of distinct flag values, one call per row
LINUX_TIME_WAIT = 60.0  # TCP_TIMEWAIT_LEN in include/net/tcp.h
RFC_2MSL = 240.0  # RFC 9293 §3.4.2: MSL = 2 minutes


def _resent_opening(f: Facts) -> Mask:
    """Connections where one side sent two SYNs, or two SYN-ACKs."""
    pure = (f.flags & ACK) == 0
    twice = (f.by_direction(f.syn & pure) > 1) | (f.by_direction(f.syn & ~pure) > 1)
    return np.asarray(twice.any(axis=1), dtype=bool)


@needs(_resent_opening)
def check_syn_retries(ctx: Context) -> Iterator[Anomaly]:
    """H1/H3: SYNs and SYN-ACKs sent again with the same ISN (RFC 9293 §3.8.1 retransmission).

    In a simultaneous open (RFC 9293 Fig. 7) the server sends a SYN too and the client a SYN-ACK:
    their copies are retransmissions as well, which tshark labels so, as it does the client's
    (its label on a first SYN-ACK there is the one that is wrong: check_simultaneous_open).
    """
    c = ctx.c
    for slug, direction, with_ack, isn, side in (
        (A.SYN_RETRANSMITTED, Direction.TO_SERVER, False, c.client_isn, Closer.CLIENT),
        (A.SYN_RETRANSMITTED, Direction.TO_CLIENT, False, c.server_isn, Closer.SERVER),
        (A.SYNACK_RETRANSMITTED, Direction.TO_CLIENT, True, c.server_isn, Closer.SERVER),
        (A.SYNACK_RETRANSMITTED, Direction.TO_SERVER, True, c.client_isn, Closer.CLIENT),
    ):
        rows = [r for r in ctx.syns(direction, with_ack=with_ack) if ctx.p.seq[r] == isn]
        if len(rows) > 1:
            # side first: its variant text, where there is one, tells who resent it.
            params: dict[str, str | int | float] = {"side": side.value, **retry_times(ctx, rows)}
            params["count"] = len(rows) - 1
            yield ctx.make(slug, rows[1:], **params)


@needs(lambda f: f.handshake_in(Handshake.UNANSWERED))
def check_unanswered(ctx: Context) -> Iterator[Anomaly]:
    """H1: SYNs and nothing back; "at capture end" when under AT_END seconds followed."""
    if ctx.c.handshake is not Handshake.UNANSWERED:
        return
    rows = ctx.syns(Direction.TO_SERVER, with_ack=False)
    if not rows:
        return
    after = ctx.capture_end - ctx.p.time[rows[-1]]
    variant = "at-capture-end" if after < AT_END else "timed-out"
    yield ctx.make(
        A.SYN_UNANSWERED,
        rows,
        **retry_times(ctx, rows),
        after_last=round(after, 6),
        variant=variant,
    )


@needs(lambda f: f.handshake_in(Handshake.REFUSED))
def check_refused(ctx: Context) -> Iterator[Anomaly]:
    """H2: the SYN answered by RST (RFC 9293 §3.10.7.1: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><RST,ACK>)."""
    if ctx.c.handshake is not Handshake.REFUSED:
        return
    syns = ctx.syns(Direction.TO_SERVER, with_ack=False)
    rsts = [r for r in ctx.where(flags=RST) if ctx.d(r) == Direction.TO_CLIENT]
    if syns and rsts:
        ctx.skip.add(rsts[0])
        delay = ctx.p.time[rsts[0]] - ctx.p.time[syns[0]]
        yield ctx.make(
            A.CONNECTION_REFUSED, (syns[0], rsts[0]), port=ctx.c.server.port, delay=round(delay, 6)
        )


@needs(lambda f: f.handshake_in(Handshake.INCOMPLETE))
def check_incomplete(ctx: Context) -> Iterator[Anomaly]:
    """H3: a SYN-ACK that the client never acknowledged."""
    if ctx.c.handshake is not Handshake.INCOMPLETE:
        return
    rows = ctx.syns(Direction.TO_CLIENT, with_ack=True)
    if rows:
        wait = ctx.capture_end - ctx.p.time[rows[0]]
        yield ctx.make(A.HANDSHAKE_INCOMPLETE, rows, count=len(rows), wait=round(wait, 6))


def _synack_unexpected(f: Facts) -> Mask:
    """Connections with a SYN-ACK that check_old_duplicate may question: one that acks neither
    end nor ISN+1 of the client's SYN before it, or any RST without ACK from the client."""
    rows = np.flatnonzero(f.client_syn | f.server_synack)
    rows = rows[stable_order(f.cid[rows])]  # by connection, each in capture order
    is_syn = f.client_syn[rows]
    last = np.maximum.accumulate(np.where(is_syn, np.arange(len(rows)), -1))
    recent = rows[last]  # the client's SYN before each row (checked to be of its connection)
    ack = f.ack[rows]
    seq = f.seq[recent]
    mismatch = (
        ~is_syn
        & (last >= 0)
        & (f.cid[recent] == f.cid[rows])
        & (ack != f.segment_end(recent))
        & (ack != (seq + 1) % MOD)
    )
    bare_rst = f.rst & ((f.flags & ACK) == 0) & f.from_(Direction.TO_SERVER)
    return f.any(f.server_synack) & (f.any(bare_rst) | f.any(rows[mismatch]))


@needs(_synack_unexpected)
def check_old_duplicate(ctx: Context) -> Iterator[Anomaly]:
    """H4: the client resets a SYN-ACK that acknowledges a SYN it is not (or no longer) making.

    RFC 9293 Fig. 8: B answers a stale SYN; A, in SYN-SENT, finds the ACK unacceptable and sends
    <SEQ=SEG.ACK><RST>. The stale SYN may be in the capture or not.
    """
    p = ctx.p
    for synack in ctx.syns(Direction.TO_CLIENT, with_ack=True):
        # RSTs and SYNs are always notable rows: no need to walk every packet.
        rst = next(
            (r for r in ctx.rsts(Direction.TO_SERVER) if r > synack and not p.flags[r] & ACK),
            None,
        )
        earlier = [r for r in ctx.syns(Direction.TO_SERVER, with_ack=False) if r < synack]
        recent = earlier[-1] if earlier else None
        # With data on the SYN the SYN-ACK may ack ISN+1+len (TFO) or ISN+1 (data ignored).
        mismatch = recent is not None and p.ack[synack] not in (
            ctx.end(recent),
            seq_add(p.seq[recent], 1),
        )
        reset = rst is not None and p.seq[rst] == p.ack[synack]
        if not (mismatch or reset):
            continue
        stale = [
            r
            for r in ctx.syns(Direction.TO_SERVER, with_ack=False)
            if seq_add(p.seq[r], 1) == p.ack[synack]
        ]
        rows = [*stale, synack]
        if rst is not None and reset:
            ctx.skip.add(rst)
            rows.append(rst)
        variant = "stale-syn-captured" if stale else "synack-mismatch"
        yield ctx.make(A.OLD_DUPLICATE_SYN, rows, variant=variant)
        return


@needs(lambda f: f.self_connect)
def check_self_connect(ctx: Context) -> Iterator[Anomaly]:
    """H5 with one socket at both ends: it sent its SYN to its own address and port.

    Linux picks a free ephemeral port; when it equals the port a client is retrying on the same
    host, and no server holds it, the SYN comes back to its own sender, which is in SYN_SENT: a
    simultaneous open with itself, and the client believes it reached the server. connected: its
    SYN-ACK shows the SYN came back (the replay's simultaneous open); attempt: the capture shows
    no such thing. tshark calls the SYN-ACK a retransmission of the SYN (the same seq, the same
    direction): the handshake, like a simultaneous open's.
    """
    c = ctx.c
    if not c.self_connect:
        return
    connected = c.handshake is Handshake.SIMULTANEOUS_OPEN
    if connected:
        ctx.skip.update(_simultaneous_mislabels(ctx))
    variant = "connected" if connected else "attempt"
    yield ctx.make(A.SELF_CONNECT, ctx.where(flags=SYN), port=c.client.port, variant=variant)


@needs(lambda f: f.handshake_in(Handshake.SIMULTANEOUS_OPEN))
def check_simultaneous_open(ctx: Context) -> Iterator[Anomaly]:
    """H5: SYNs crossed (RFC 9293 Fig. 7); tshark's retransmission and dup-ACK labels are wrong.

    A socket connected to itself is told by check_self_connect instead: one SYN crossed nothing.
    """
    if ctx.c.handshake is not Handshake.SIMULTANEOUS_OPEN or ctx.c.self_connect:
        return
    rows = ctx.where(flags=SYN)
    mislabels = _simultaneous_mislabels(ctx)
    ctx.skip.update(mislabels)
    yield ctx.make(A.SIMULTANEOUS_OPEN, rows, suppressed=len(mislabels))


def _simultaneous_mislabels(ctx: Context) -> list[int]:
    """The SYN-ACKs tshark calls retransmissions and the handshake ACKs it calls dup ACKs.

    Only a side's first SYN-ACK (role SYN_ACK) is mislabelled: it repeats the seq of that side's
    SYN. A SYN or SYN-ACK sent again with the same ISN (SYN_RETRANSMISSION) is one, as tshark says.
    """
    p, role = ctx.p, ctx.s.role
    first_data = next((r for r in ctx.rows if p.length[r]), None)
    found = []
    for r in ctx.rows:
        if first_data is not None and r > first_data:
            break
        syn_ack = p.flags[r] & SYN and role[r] == _FIRST_SYNACK and p.analysis[r] & RETRANSMITTED
        dup = not p.flags[r] & (SYN | FIN | RST) and p.analysis[r] & F.DUPLICATE_ACK
        if syn_ack or dup:
            found.append(r)
    return found


@needs(lambda f: f.any(f.client_syn & (f.length > 0)))
def check_syn_data(ctx: Context) -> Iterator[Anomaly]:
    """H6: data on the SYN; accepted if the SYN-ACK acks ISN+1+len, ignored if ISN+1 (RFC 7413)."""
    p = ctx.p
    for syn in ctx.syns(Direction.TO_SERVER, with_ack=False):
        if not p.length[syn]:
            continue
        synack = next(
            (
                r
                for r in ctx.after(syn, Direction.TO_CLIENT)
                if p.flags[r] & SYN and p.flags[r] & ACK
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
            Severity.NOTE if outcome == "ignored" else Severity.INFO,
            bytes=p.length[syn],
            kind="tfo" if p.tfo[syn] else "plain",
            outcome=outcome,
        )
        return


@needs(lambda f: f.any(_illegal_rows(f)))
def check_illegal_flags(ctx: Context) -> Iterator[Anomaly]:
    """H7: flag combinations no TCP sends (typical of scanners fingerprinting a host)."""
    flags = ctx.p.flags
    found = [(r, kind) for r in ctx.rows if (kind := _illegal(flags[r])) is not None]
    if found:
        kinds = {kind.value for _, kind in found}
        rows = [r for r, _ in found]
        yield ctx.make(
            A.ILLEGAL_FLAGS,
            rows,
            count=len(rows),
            variant=kinds.pop() if len(kinds) == 1 else "mixed",
            side=ctx.sides(rows),
        )


@needs(lambda f: f.any(((f.flags & (ACK | SYN | RST)) == 0) & (f.ack != 0)))
def check_ack_without_flag(ctx: Context) -> Iterator[Anomaly]:
    """H8: a non-zero ack field without the ACK flag.

    Not on a SYN (some stacks leave the field unset there) nor on a RST without ACK: Linux's
    tcp_v4_send_reset sends <SEQ=SEG.ACK><RST> with the field zero, but others leave stale values.
    """
    p = ctx.p
    rows = [r for r in ctx.rows if not p.flags[r] & (ACK | SYN | RST) and p.ack[r]]
    if rows:
        yield ctx.make(A.ACK_WITHOUT_ACK_FLAG, rows, count=len(rows))


@needs(lambda f: f.any(((f.flags & SYN) != 0) & _both_established(f)))
def check_syn_in_established(ctx: Context) -> Iterator[Anomaly]:
    """H10: a SYN with a new sequence number on an open connection (RFC 5961 §4: challenge ACK)."""
    p, s = ctx.p, ctx.s
    est = TcpState.ESTABLISHED
    rows = []
    for r in ctx.where(flags=SYN):
        isn = ctx.c.client_isn if ctx.d(r) == Direction.TO_SERVER else ctx.c.server_isn
        if s.client_before[r] == est and s.server_before[r] == est and p.seq[r] != isn:
            rows.append(r)
    if rows:
        yield ctx.make(A.SYN_IN_ESTABLISHED, rows, count=len(rows), side=ctx.sides(rows))


@needs(lambda f: f.has_previous)
def check_port_reuse(ctx: Context) -> Iterator[Anomaly]:
    """H9/T11: a new incarnation of a 4-tuple, and whether the old one was still in TIME_WAIT."""
    prev, c = ctx.prev, ctx.c
    syns = ctx.syns(Direction.TO_SERVER, with_ack=False)
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
    if answer is not None and tw_side != Closer.CLIENT.value and not ctx.p.flags[answer] & SYN:
        # The TIME_WAIT end refused the SYN: a (challenge) ACK or a RST instead of SYN-ACK.
        kind = "rst" if ctx.p.flags[answer] & RST else "ack"
        yield ctx.make(
            A.TIME_WAIT_CONFLICT, (syn, answer), gap=gap, answer=kind, time_wait_side=tw_side
        )


def _illegal_rows(f: Facts) -> Mask:
    """Rows whose flags no TCP sends, asking TcpFlags.illegal once per distinct value."""
    counts = np.bincount(f.flags) if len(f.flags) else np.zeros(0, dtype=np.int64)
    table = np.zeros(len(counts), dtype=np.bool_)
    table[[v for v in np.flatnonzero(counts).tolist() if _illegal(v) is not None]] = True
    return np.asarray(table[f.flags], dtype=np.bool_)


def _both_established(f: Facts) -> Mask:
    est = int(TcpState.ESTABLISHED)
    both = (f.client_before == est) & (f.server_before == est)
    return np.asarray(both, dtype=np.bool_)


def _ended(conn: Connection) -> bool:
    """The incarnation saw a FIN or a RST."""
    return conn.handshake is Handshake.REFUSED or conn.teardown not in (
        Teardown.OPEN_AT_END,
        Teardown.NONE,
    )


def _time_wait_side(prev: Connection, new: Connection) -> str | None:
    """Which end of the new connection was (presumably) still in TIME_WAIT from prev."""
    if prev.time_wait in (Closer.NONE, Closer.UNKNOWN):
        return None
    if prev.time_wait is Closer.BOTH:
        return Closer.BOTH.value
    endpoint = prev.client if prev.time_wait is Closer.CLIENT else prev.server
    return Closer.CLIENT.value if endpoint == new.client else Closer.SERVER.value
