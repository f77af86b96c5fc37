"""Teardown-phase checks T4–T11: half-close, lost final ACKs, resets and their causes, the end."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from operator import attrgetter

import numpy as np

from pcapexplain import closed_port, retransmission
from pcapexplain.anomalies.context import ACK, RST, SYN, Context, retry_times, side_name
from pcapexplain.anomalies.preconditions import Facts, Mask, needs
from pcapexplain.arrays import joined_rows
from pcapexplain.model import (
    RETRANSMITTED,
    Anomaly,
    AnomalySlug,
    Direction,
    Handshake,
    PacketRole,
    Severity,
    TcpFlags,
    TcpState,
    Teardown,
)
from pcapexplain.seqspace import seq_add, seq_diff, seq_ge, seq_gt, seq_sub

A = AnomalySlug
# No connection to reset: refused, a stale SYN's, or a closed port's answer (check_resets).
_NO_RESET = (Handshake.REFUSED, Handshake.OLD_DUPLICATE, Handshake.STRAY)


def _closed_first_then(f: Facts) -> Mask:
    """Connections where the side that sent the first FIN may have a half-close to report: its
    peer sent new data after that FIN, or the replay saw a half-close, or the peer sent neither
    FIN nor RST (CLOSE_WAIT lingering)."""
    first = f.first(f.fin).reshape(-1, 2)
    count = len(f.p)
    closer = np.argmin(first, axis=1)  # the direction whose FIN came first
    first_fin = first.min(axis=1, initial=count)
    data = (
        (f.length > 0)
        & ((f.analysis & RETRANSMITTED) == 0)
        & (f.rows > first_fin[f.cid])
        & (f.direction != closer[f.cid])
    )
    peer = 1 - closer
    ids = np.arange(f.size)
    quiet = (first[ids, peer] == count) & (f.by_direction(f.rst)[ids, peer] == 0)
    closed = first_fin < count
    return np.asarray(closed & (f.any(data) | quiet | f.half_close), dtype=np.bool_)


@needs(_closed_first_then)
def check_half_close(ctx: Context) -> Iterator[Anomaly]:
    """T4: the peer kept sending after a FIN (RFC 1122 §4.2.2.13 half-duplex close), or never
    sent its own FIN and sat in CLOSE_WAIT until the capture ended."""
    p = ctx.p
    for d in (Direction.TO_SERVER, Direction.TO_CLIENT):
        fins = ctx.fins(d)
        if not fins or ctx.fins(1 - d) and ctx.fins(1 - d)[0] < fins[0]:
            continue  # this side did not close first
        y = 1 - d
        data = [
            r
            for r in ctx.rows[bisect_right(ctx.rows, fins[0]) :]
            if ctx.d(r) == y and p.length[r] and not p.analysis[r] & RETRANSMITTED
        ]
        if data or ctx.c.half_close and ctx.c.closed_first.value == side_name(d):
            yield ctx.make(
                A.HALF_CLOSE,
                data or fins[:1],
                side=side_name(y),
                bytes=ctx.payload(data),
                count=len(data),
            )
        final = ctx.c.server_final if y == Direction.TO_CLIENT else ctx.c.client_final
        # A side none of whose packets is in the capture may have sent its FIN unseen.
        seen = (ctx.c.to_client if y == Direction.TO_CLIENT else ctx.c.to_server).packets
        if (
            seen
            and not ctx.fins(y)
            and not ctx.rsts(y)
            and not ctx.rsts(d)  # the closer's reset ended the CLOSE_WAIT, as the peer's would
            and (
                final == TcpState.CLOSE_WAIT
                or (acked := ctx.last_ack(y)) is not None  # walked back for only when asked
                and acked == ctx.end(fins[0])
            )
        ):
            yield ctx.make(
                A.CLOSE_WAIT_LINGERING,
                fins[:1],
                side=side_name(y),
                seconds=round(ctx.capture_end - p.time[fins[0]], 6),
            )


@needs(lambda f: f.by_direction(f.fin).max(axis=1, initial=0) > 1)
def check_fin_retransmitted(ctx: Context) -> Iterator[Anomaly]:
    """T5: a FIN sent again. If its receiver had already ACKed it and ACKs it again, the first
    ACK was lost after the capture point and TIME_WAIT did its job (RFC 9293 §3.4.2 reason 1).
    A copy that acknowledges more than its sender's previous segment is not flagged: it may be
    the FIN flag that some stacks set on every segment while their FIN is unacknowledged."""
    p = ctx.p
    for d in (Direction.TO_SERVER, Direction.TO_CLIENT):
        fins = ctx.fins(d)
        again = [r for r in fins[1:] if p.seq[r] == p.seq[fins[0]] or p.analysis[r] & RETRANSMITTED]
        lost: list[int] = []
        plain: list[int] = []
        for r in again:
            fin_end = ctx.end(r)
            acked_before = any(
                p.flags[x] & ACK and seq_ge(p.ack[x], fin_end)
                for x in ctx.before(r, 1 - d)
                if x > fins[0]
            )
            answer = next(ctx.after(r, 1 - d), None)
            acked_again = (
                answer is not None and p.flags[answer] & ACK and seq_ge(p.ack[answer], fin_end)
            )
            if acked_before and acked_again:
                lost.append(r)
                continue
            previous = next((x for x in ctx.before(r, d) if not p.flags[x] & RST), None)
            if not retransmission.acks_more(p, previous, r):
                plain.append(r)
        if lost:
            yield ctx.make(A.LOST_FINAL_ACK, lost, count=len(lost), side=side_name(d))
        if plain:
            yield ctx.make(A.FIN_RETRANSMITTED, plain, count=len(plain), side=side_name(d))


@needs(lambda f: f.any(f.rst) & ~f.handshake_in(*_NO_RESET))
def check_resets(ctx: Context) -> Iterator[Anomaly]:
    """T6: the first RST that ended the connection, and what the capture says about its cause."""
    p = ctx.p
    rsts = [r for r in ctx.where(flags=RST) if r not in ctx.skip]
    if not rsts or ctx.c.handshake in _NO_RESET:
        return
    rst = rsts[0]
    d, side = ctx.d(rst), ctx.side(rst)
    own_fin = [r for r in ctx.fins(d) if r < rst]
    peer_fin = [r for r in ctx.fins(1 - d) if r < rst]
    if own_fin and peer_fin:
        return  # a RST after both FINs: the close had completed (Zeek folds it back, too)
    ttl, usual = p.ttl[rst], _usual_ttl(ctx, rst)
    answered = _answered(ctx, rst)
    cause, unacked = _reset_cause(ctx, rst, answered, own_fin[-1] if own_fin else None)
    stalled = ctx.stall()
    if stalled is not None and stalled.gave_up == rst:
        cause = "gave-up"  # its unread or unacknowledged data is not why: nothing answered it
    elif usual is not None and ttl >= 0 and ttl != usual:
        cause = "middlebox"
        yield ctx.make(A.RESET_BY_MIDDLEBOX, (rst,), side=side, ttl=ttl, usual_ttl=usual)
    elif closed_port.no_connection_answer(p, ctx.s, answered, rst, _isn(ctx, d)):
        cause = "keep-alive-lost" if _answers_probe(ctx, answered) else "no-connection"
    elif cause not in ("unknown", "gave-up", "no-connection"):
        yield ctx.make(
            A.RESET_UNREAD_DATA, own_fin[-1:] + [rst], side=side, cause=cause, bytes=unacked
        )
    # TCP-REFERENCE T6: warn, but only a note when it is the unread-data close (case a).
    severity = (
        Severity.NOTE
        if cause in ("after-fin", "data-after-close", "unacked-received", "unacked-sent")
        else Severity.WARN
    )
    yield ctx.make(A.CONNECTION_RESET, (rst,), severity, side=side, cause=cause)


def _answered(ctx: Context, rst: int) -> int | None:
    """The peer's latest segment before the RST: what a RST of the closed-port form answers,
    the SYN a RST from SYN-SENT must ack, the window a synchronised RST must fall in."""
    return next(ctx.before(rst, 1 - ctx.d(rst)), None)


def _answers_probe(ctx: Context, answered: int | None) -> bool:
    """The RST answers (answered: the peer's segment before it) a keep-alive probe, which
    carries no new data: it found the idle connection gone, and lost nothing."""
    return answered is not None and ctx.s.role[answered] == PacketRole.KEEP_ALIVE


def _isn(ctx: Context, d: int) -> int | None:
    return ctx.c.client_isn if d == Direction.TO_SERVER else ctx.c.server_isn


def _usual_ttl(ctx: Context, rst: int) -> int | None:
    """The TTL of the RST sender's other recent packets, when they agree on one."""
    if rst in ctx.usual_ttls:
        return ctx.usual_ttls[rst]  # answered beforehand (lookback.py)
    ttl, flags = ctx.p.ttl, ctx.p.flags  # bound once: the walk reads up to LOOK_BACK rows
    ttls = {ttl[r] for r in ctx.before(rst, ctx.d(rst)) if not flags[r] & RST}
    ttls.discard(-1)
    return ttls.pop() if len(ttls) == 1 else None


def _reset_cause(
    ctx: Context, rst: int, answered: int | None, own_fin: int | None
) -> tuple[str, int]:
    """Sub-case (a) of T6: RST right after its own FIN, or with data still unacknowledged.
    answered: the peer's segment before the RST (_answered).

    RFC 1122 §4.2.2.13: closing with unread received data sends RST; SO_LINGER 0 discards what is
    still unsent or unacknowledged.
    """
    if own_fin is not None:
        return _after_fin(ctx, rst, answered, own_fin)
    d, p = ctx.d(rst), ctx.p
    peer_next, own_next = ctx.next_seq(rst, 1 - d), ctx.next_seq(rst, d)
    own_ack = p.ack[rst] if p.flags[rst] & ACK else ctx.last_ack(d, rst)
    peer_ack = ctx.last_ack(1 - d, rst)
    if peer_next is not None and own_ack is not None and seq_gt(peer_next, own_ack):
        return "unacked-received", seq_sub(peer_next, own_ack)
    if own_next is not None and peer_ack is not None and seq_gt(own_next, peer_ack):
        return "unacked-sent", seq_sub(own_next, peer_ack)
    return "unknown", 0


def _after_fin(ctx: Context, rst: int, data: int | None, fin: int) -> tuple[str, int]:
    """RFC 1122 §4.2.2.13: data received after CLOSE draws a RST too. A RST that answers the
    peer's data sent after this side's FIN in the form of a closed port, <SEQ=SEG.ACK><CTL=RST>
    (as Linux answers it), says that the application had closed the socket, not only its sending
    direction: the data could reach no one. data: the peer's segment before the RST (_answered);
    bytes: its data."""
    p = ctx.p
    if data is None or data < fin or not p.length[data]:
        return "after-fin", 0
    if not closed_port.closed_port_answer(p, data, rst):
        return "after-fin", 0
    return "data-after-close", int(p.length[data])


@needs(lambda f: f.any(f.rst))
def check_rst_validity(ctx: Context) -> Iterator[Anomaly]:
    """T7: a RST whose seq is not exactly its receiver's RCV.NXT (RFC 5961 §3.2): in the window
    it draws a challenge ACK, outside it is ignored; in SYN-SENT it must ack the SYN (§3.10.7.3).
    """
    for rst in ctx.where(flags=RST):
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


def _rst_in_syn_sent(ctx: Context, rst: int) -> tuple[str | None, int]:
    """A RST from a side that sent nothing else: acceptable only if it acks the peer's SYN."""
    p = ctx.p
    syn = _answered(ctx, rst)
    if syn is None or not p.flags[syn] & SYN or p.flags[syn] & ACK:
        return None, 0
    if not p.flags[rst] & ACK:
        return "syn-sent", 0
    # SYN-SENT: acceptable iff ISS < SEG.ACK =< SND.NXT.
    offset = seq_diff(p.ack[rst], ctx.end(syn))
    ok = seq_gt(p.ack[rst], p.seq[syn]) and seq_ge(ctx.end(syn), p.ack[rst])
    return (None if ok else "syn-sent"), offset


def _rst_synchronised(ctx: Context, rst: int, own_next: int) -> tuple[str | None, int]:
    """Compare a RST's seq with its receiver's RCV.NXT (the sender's next seq, or the receiver's
    last ack when the sender's last bytes had not arrived)."""
    p, d = ctx.p, ctx.d(rst)
    seq = p.seq[rst]
    if seq == own_next:
        return None, 0  # exactly RCV.NXT, whatever the receiver last acked (no walk for it)
    acked = ctx.last_ack(1 - d, rst)
    if acked is None or seq == acked:
        return None, 0
    base = acked
    scale = ctx.c.server_options.wscale if d == Direction.TO_SERVER else ctx.c.client_options.wscale
    both = ctx.c.client_options.wscale is not None and ctx.c.server_options.wscale is not None
    last = _answered(ctx, rst)
    window = (p.window[last] if last is not None else 0) << (scale or 0 if both else 0)
    offset = seq_diff(seq, own_next)
    inside = seq_sub(seq, base) < max(window, 1)
    return ("in-window" if inside else "out-of-window"), offset


def _tried_twice(f: Facts) -> Mask:
    """Connections where one run of one side's packets holds two or more rows that may be tries
    (retransmission.may_be_try): a stall's tries lie in one such run (_tries_before)."""
    tried = f.by_direction(retransmission.may_be_try(f.flags, f.analysis))
    found = np.asarray(tried.max(axis=1, initial=0) >= retransmission.MIN_TRIES, dtype=np.bool_)
    # Those connections' own packets, one connection after another, cut into runs where the
    # sender changes or a connection begins.
    if not found.any():
        return found
    listed = found.tolist()
    conns = [c for c in f.connections if listed[c.id]]
    sizes = np.fromiter(map(len, map(attrgetter("packet_index"), conns)), np.int64, len(conns))
    owner = np.repeat(np.fromiter(map(attrgetter("id"), conns), np.int64, len(conns)), sizes)
    rows = joined_rows([c.packet_index for c in conns])
    sender = np.asarray(f.s.direction).take(rows)
    begins = np.ones(len(rows), dtype=np.bool_)
    begins[1:] = (sender[1:] != sender[:-1]) | (owner[1:] != owner[:-1])
    run = np.cumsum(begins) - 1
    flags, analysis = np.asarray(f.p.flags).take(rows), np.asarray(f.p.analysis).take(rows)
    tries = retransmission.may_be_try(flags, analysis)
    enough = np.bincount(run[tries], minlength=int(run[-1]) + 1) >= retransmission.MIN_TRIES
    found[:] = False
    found[owner[begins][enough]] = True
    return found


@needs(_tried_twice)
def check_peer_unresponsive(ctx: Context) -> Iterator[Anomaly]:
    """A side whose tries after its peer's last packet went unanswered (retransmission.stall)."""
    found = ctx.stall()
    if found is None:
        return
    p = ctx.p
    end = ctx.capture_end if found.gave_up is None else p.time[found.gave_up]
    yield ctx.make(
        A.PEER_UNRESPONSIVE,
        found.tries + ([] if found.gave_up is None else [found.gave_up]),
        side=side_name(found.direction),
        ending="at-capture-end" if found.gave_up is None else "gave-up",
        **retry_times(ctx, found.tries),
        silent=round(end - p.time[found.silent_since], 6),
    )


@needs(_tried_twice)
def check_stalled(ctx: Context) -> Iterator[Anomaly]:
    """A side whose tries its peer left unanswered, then answered (retransmission.stalls).

    The stall counts from when the side began to wait (retransmission.waiting_since), not from
    the peer's last packet: an idle connection before the tries (keep-alives) was not hung.
    A warning when data or a FIN waited; only a note for probes alone (keep-alives, zero-window
    probes), which no data waits behind that the other findings do not already name.
    """
    p, s, index = ctx.p, ctx.s, ctx.c.packet_index
    for found in retransmission.stalls(p, s, ctx.c):
        assert found.answered is not None  # stalls returns the answered ones
        answer, start = found.answered, retransmission.waiting_since(p, s, index, found)
        side = side_name(found.direction)
        probes = all(s.role[r] in retransmission.PROBES for r in found.tries)
        yield ctx.make(
            A.STALLED,
            [*found.tries, answer],
            Severity.NOTE if probes else Severity.WARN,
            variant=f"{side}-{'reset' if p.flags[answer] & RST else 'answered'}",
            side=side,
            **retry_times(ctx, found.tries),
            stalled=round(p.time[answer] - p.time[start], 6),
            silent=round(p.time[answer] - p.time[found.silent_since], 6),
            frame=p.frame[answer],
        )


@needs(lambda f: f.teardown_is(Teardown.OPEN_AT_END))
def check_open_at_end(ctx: Context) -> Iterator[Anomaly]:
    """T8: neither FIN nor RST before the capture ended."""
    c = ctx.c
    if c.teardown is Teardown.OPEN_AT_END and c.handshake not in (
        Handshake.UNANSWERED,
        Handshake.UNREACHABLE,
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


def _data_after_own_close(f: Facts) -> Mask:
    """Connections where a side sent payload (not on a SYN) after its own first RST or FIN."""
    first = f.first(f.rst | f.fin)
    return f.any((f.length > 0) & ((f.flags & SYN) == 0) & f.later_than(first))


@needs(_data_after_own_close)
def check_data_after_close(ctx: Context) -> Iterator[Anomaly]:
    """T9: payload from a side after its own RST, or beyond its own FIN's sequence number.

    Data sent before the RST or FIN but captured after it (seq below it) is reordering, not this;
    so is a retransmission that carries the FIN again: only the payload's end is compared.
    """
    p = ctx.p
    after_rst: list[int] = []
    after_fin: list[int] = []
    for d in (Direction.TO_SERVER, Direction.TO_CLIENT):
        rsts, fins = ctx.rsts(d), ctx.fins(d)
        if not rsts and not fins:
            continue
        # Only rows after the first RST or FIN can count; the rows are in capture order.
        first = min(r[0] for r in (rsts, fins) if r)
        data = [
            r
            for r in ctx.rows[bisect_right(ctx.rows, first) :]
            if ctx.d(r) == d and p.length[r] and not p.flags[r] & SYN
        ]
        ends = {r: seq_add(p.seq[r], p.length[r]) for r in data}
        if rsts:
            after_rst += [r for r in data if r > rsts[0] and seq_gt(ends[r], p.seq[rsts[0]])]
        if fins:
            fin_seq = seq_add(p.seq[fins[0]], p.length[fins[0]])
            after_fin += [
                r for r in data if r > fins[0] and seq_gt(ends[r], fin_seq) and r not in after_rst
            ]
    for slug, rows in ((A.DATA_AFTER_RESET, after_rst), (A.DATA_AFTER_FIN, after_fin)):
        if rows:
            yield ctx.make(
                slug, rows, count=len(rows), bytes=ctx.payload(rows), side=ctx.sides(rows)
            )


@needs(lambda f: f.handshake_in(Handshake.NOT_CAPTURED))
def check_midstream(ctx: Context) -> Iterator[Anomaly]:
    """T10: the capture started after the handshake (not a scanner's probe, which H7 explains)."""
    c = ctx.c
    if c.handshake is not Handshake.NOT_CAPTURED or not c.packet_index:
        return
    first = c.packet_index[0]
    if TcpFlags.illegal(ctx.p.flags[first]) is None:
        yield ctx.make(A.MIDSTREAM, (first,))
