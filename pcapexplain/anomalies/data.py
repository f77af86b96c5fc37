"""Data-phase checks D1–D15: resends, gaps, duplicate ACKs, windows, keep-alives, checksums."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

import numpy as np

from pcapexplain import retransmission
from pcapexplain.anomalies.context import (
    AT_END,
    BAD_CHECKSUM,
    FIN,
    LOOK_BACK,
    RST,
    SYN,
    Context,
    side_name,
)
from pcapexplain.anomalies.preconditions import Facts, Mask, needs
from pcapexplain.model import (
    RETRANSMITTED,
    AnalysisFlag,
    Anomaly,
    AnomalySlug,
    Direction,
    Handshake,
    PacketRole,
    Severity,
    TcpState,
)
from pcapexplain.retransmission import Cause
from pcapexplain.seqspace import seq_ge, seq_gt, seq_sub

A = AnomalySlug
F = AnalysisFlag
_ZERO_WINDOW_PROBE = int(PacketRole.ZERO_WINDOW_PROBE)
_KEEP_ALIVE = int(PacketRole.KEEP_ALIVE)
_PROBE_ANSWER = int(F.KEEP_ALIVE_ACK | F.ZERO_WINDOW_PROBE_ACK)
_KEEP_ALIVE_BITS = int(F.KEEP_ALIVE | F.KEEP_ALIVE_ACK)
_PROBE_BITS = int(F.ZERO_WINDOW_PROBE | F.ZERO_WINDOW_PROBE_ACK)
_ESTABLISHED = int(TcpState.ESTABLISHED)
_RETRANSMISSION, _FAST = int(F.RETRANSMISSION), int(F.FAST_RETRANSMISSION)
_SPURIOUS, _OUT_OF_ORDER = int(F.SPURIOUS_RETRANSMISSION), int(F.OUT_OF_ORDER)
_EARLY = frozenset(int(s) for s in (TcpState.CLOSED, TcpState.LISTEN, TcpState.SYN_SENT))


@needs(lambda f: (f.bits & (RETRANSMITTED | F.OUT_OF_ORDER)) != 0)
def check_retransmissions(ctx: Context) -> Iterator[Anomaly]:
    """D1–D3, D6: tshark's retransmission verdicts, minus the SYNs and bare FINs (H1, H3, T5)."""
    p = ctx.p
    data = [
        r
        for r in ctx.where(bits=RETRANSMITTED | _OUT_OF_ORDER)
        if r not in ctx.skip and not p.flags[r] & SYN and (p.length[r] or not p.flags[r] & FIN)
    ]
    # Plain ints: IntFlag's own `&` costs a call per row.
    bits = [(r, p.analysis[r]) for r in data]
    spurious = [r for r, b in bits if b & _SPURIOUS]
    fast = [r for r, b in bits if b & _FAST and not b & _SPURIOUS]
    plain = [r for r, b in bits if b & _RETRANSMISSION and not b & (_FAST | _SPURIOUS)]
    ooo = [r for r, b in bits if b & _OUT_OF_ORDER and not b & RETRANSMITTED]
    yield from _retransmissions_by_cause(ctx, plain)
    for slug, rows in (
        (A.FAST_RETRANSMISSION, fast),
        (A.SPURIOUS_RETRANSMISSION, spurious),
        (A.OUT_OF_ORDER, ooo),
    ):
        if rows:
            yield ctx.make(slug, rows, count=len(rows), bytes=ctx.payload(rows))


def _retransmissions_by_cause(ctx: Context, plain: list[int]) -> Iterator[Anomaly]:
    """D1, one finding per cause the capture shows (a timer, SACK, duplicate ACKs, too early)."""
    if not plain:
        return
    c = ctx.c
    rtt = retransmission.handshake_rtt(c)
    found = retransmission.evidence_of(ctx.p, c.packet_index, ctx.s.direction, plain, rtt)
    by_cause: dict[Cause, list[tuple[int, float]]] = {}
    for r in plain:
        by_cause.setdefault(found[r].cause, []).append((r, found[r].delay))
    total_bytes = max(c.to_server.payload_bytes + c.to_client.payload_bytes, 1)
    for cause, group in sorted(by_cause.items(), key=lambda item: item[1][0][0]):
        resent = [r for r, _ in group]
        sent = ctx.payload(resent)
        share = sent / max(total_bytes, sent)
        delays = [delay for _, delay in group]
        # TCP-REFERENCE D1: more than 1 % of the stream resent is worth a warning.
        yield ctx.make(
            A.RETRANSMISSION,
            resent,
            Severity.WARN if share > 0.01 else Severity.NOTE,
            count=len(resent),
            bytes=sent,
            share=round(share, 6),
            cause=cause.value,
            delay_min=round(min(delays) * 1000, 3),
            delay_max=round(max(delays) * 1000, 3),
            rtt="-" if rtt is None else round(rtt * 1000, 3),
        )


@needs(lambda f: (f.bits & F.LOST_SEGMENT) != 0)
def check_gaps(ctx: Context) -> Iterator[Anomaly]:
    """D4: bytes missing before a segment; capture loss when the receiver ACKed past them unsent.

    A gap later filled by an out-of-order segment only is reordering (D6), not loss.
    """
    lost: list[tuple[int, int, str]] = []  # row, missing bytes, cause
    for r in ctx.where(bits=F.LOST_SEGMENT):
        d = ctx.d(r)
        expected = ctx.next_seq(r, d)
        if expected is None or not seq_gt(ctx.p.seq[r], expected):
            continue  # the gap is at the start of the capture: nothing to compare with
        missing = seq_sub(ctx.p.seq[r], expected)
        filler = _filled_by(ctx, r, expected)
        if filler == "reordered":
            continue
        acked = ctx.last_ack(1 - d)
        if filler is None and acked is not None and seq_ge(acked, ctx.p.seq[r]):
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


def _filled_by(ctx: Context, gap_row: int, start: int) -> str | None:
    """How the bytes [start, seq of gap_row) were later sent: "retransmitted", "reordered", None."""
    p, d, stop = ctx.p, ctx.d(gap_row), ctx.p.seq[gap_row]
    first = bisect_left(ctx.rows, gap_row) + 1
    for r in ctx.rows[first : first + 4 * LOOK_BACK]:  # fillers come soon after, as notable rows
        if ctx.d(r) != d or not p.length[r]:
            continue
        if seq_gt(ctx.end(r), start) and seq_gt(stop, p.seq[r]):
            return "retransmitted" if p.analysis[r] & RETRANSMITTED else "reordered"
    return None


@needs(lambda f: (f.bits & F.ACK_LOST_SEGMENT) != 0)
def check_acked_unseen(ctx: Context) -> Iterator[Anomaly]:
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
        Severity.WARN if variant == "unexplained" else Severity.INFO,
        count=len(rows),
        variant=variant,
    )


def _acks_beyond_sent(ctx: Context, flagged: list[int]) -> list[int]:
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
            if peer_end is None or seq_gt(p.ack[r], peer_end):
                found.append(r)
        if not p.flags[r] & RST:
            end = ctx.end(r)
            if d not in highest or seq_gt(end, highest[d]):
                highest[d] = end
    return found


@needs(lambda f: (f.bits & F.DUPLICATE_ACK) != 0)
def check_duplicate_acks(ctx: Context) -> Iterator[Anomaly]:
    """D7: duplicate ACKs, in runs of the same ack value; three or more trigger fast retransmit."""
    p = ctx.p
    rows = [r for r in ctx.where(bits=F.DUPLICATE_ACK) if r not in ctx.skip]
    if not rows:
        return
    runs: list[list[int]] = []
    direction, ack = ctx.s.direction, p.ack
    for r in rows:
        last = runs[-1][-1] if runs else None
        if last is not None and direction[last] == direction[r] and ack[last] == ack[r]:
            runs[-1].append(r)
        else:
            runs.append([r])
    longest = max(len(run) for run in runs)
    yield ctx.make(A.DUPLICATE_ACK, rows, count=len(rows), runs=len(runs), longest=longest)
    triples = [run[2] for run in runs if len(run) >= 3]
    if triples:
        yield ctx.make(A.TRIPLE_DUPLICATE_ACK, triples, count=len(triples), longest=longest)


def _window_closed(ctx: Context, row: int) -> bool:
    return ctx.p.window[row] == 0 and not ctx.p.flags[row] & (SYN | FIN | RST)


def _episodes(ctx: Context) -> list[tuple[list[int], int | None]]:
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


@needs(lambda f: ((f.bits & (_KEEP_ALIVE_BITS | _PROBE_BITS)) != 0) | f.zero_window)
def check_zero_window(ctx: Context) -> Iterator[Anomaly]:
    """D8/D9: each zero-window episode, and the probes sent into it.

    Linux probes with zero-length segments at SND.UNA − 1 that tshark labels keep-alives; which
    of them probe a zero window is the replay's one rule (PacketRole.ZERO_WINDOW_PROBE, decided
    in endpoints.py), so that a finding and the story never call one segment two things.
    """
    # The replay gives the probe role only to rows with probe or keep-alive bits, and a closed
    # window is a zero window field: without either among the notable rows there is nothing.
    probing = ctx.seen_bits & (_KEEP_ALIVE_BITS | _PROBE_BITS)
    if not probing and not ctx.seen_zero_window:
        return
    all_probes = [
        r
        for r in (ctx.rows if probing else ())
        if ctx.s.role[r] == _ZERO_WINDOW_PROBE and not ctx.p.analysis[r] & _PROBE_ANSWER
    ]
    probes: list[int] = []
    kinds: set[str] = set()
    for rows, reopened in _episodes(ctx) if ctx.seen_zero_window else ():
        start, d = rows[0], ctx.d(rows[0])
        stop = reopened if reopened is not None else ctx.c.packet_index[-1]
        inside = [r for r in all_probes if start < r <= stop and ctx.d(r) != d]
        probes += inside
        kinds.update("one-byte" if ctx.p.length[r] else "zero-length" for r in inside)
        end = reopened if reopened is not None else rows[-1]
        yield ctx.make(
            A.ZERO_WINDOW,
            rows,  # only segments that advertise 0; the one that reopens it is a window update
            side=side_name(d),
            duration=round(ctx.p.time[end] - ctx.p.time[start], 6),
            probes=len(inside),
            variant="reopened" if reopened is not None else "still-closed",
        )
    counted = set(probes)
    probes += [r for r in all_probes if r not in counted]
    kinds.update("one-byte" for r in probes if ctx.p.length[r])
    if probes:
        ctx.skip.update(probes)
        yield ctx.make(
            A.ZERO_WINDOW_PROBE,
            probes,
            count=len(probes),
            variant=kinds.pop() if len(kinds) == 1 else "mixed",
        )


@needs(lambda f: (f.bits & (F.WINDOW_FULL | F.WINDOW_UPDATE)) != 0)
def check_window_flags(ctx: Context) -> Iterator[Anomaly]:
    """D10/D11: the sender filled the window; the receiver only changed its window."""
    full = ctx.where(bits=F.WINDOW_FULL)
    if full:
        yield ctx.make(A.WINDOW_FULL, full, count=len(full), side=ctx.sides(full))
    updates = ctx.where(bits=F.WINDOW_UPDATE)
    if updates:
        yield ctx.make(A.WINDOW_UPDATE, updates, count=len(updates))


@needs(lambda f: (f.bits & _KEEP_ALIVE_BITS) != 0)
def check_keep_alive(ctx: Context) -> Iterator[Anomaly]:
    """D12: keep-alive probes (seq = next − 1) and their ACKs; idle time before the first.

    The replay's role decides (endpoints.py): a probe of a zero window and its answer are not
    keep-alives, even where tshark calls them so.
    """
    if not ctx.seen_bits & _KEEP_ALIVE_BITS:
        return  # the replay gives the role only to rows with these bits (endpoints.plain_roles)
    own = [r for r in ctx.rows if ctx.s.role[r] == _KEEP_ALIVE and r not in ctx.skip]
    probes = [r for r in own if not ctx.p.analysis[r] & _PROBE_ANSWER]
    if not probes:
        return
    acks = [r for r in own if ctx.p.analysis[r] & _PROBE_ANSWER]
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


def _above_mss(f: Facts) -> Mask:
    """Connections with payload above the MSS its receiver announced."""
    # By pair_key (cid * 2 + Direction code): TO_SERVER (0) is limited by the server's MSS.
    limit = np.stack((f.server_mss, f.client_mss), axis=1).reshape(-1)[f.pair_key]
    return f.any((limit > 0) & (f.length > limit))


@needs(_above_mss)
def check_oversize(ctx: Context) -> Iterator[Anomaly]:
    """D13: payload above the peer's MSS: TSO/GSO on the capture host, not on the wire."""
    # By direction code: Direction.TO_SERVER (0) is limited by the server's MSS.
    limits = (ctx.c.server_options.mss, ctx.c.client_options.mss)
    if not any(limits):
        return
    d, length = ctx.s.direction, ctx.p.length
    rows = [r for r in ctx.rows if (m := limits[d[r]]) and length[r] > m]
    if rows:
        largest = max(length[r] for r in rows)
        mss = min(limits[d[r]] or 0 for r in rows)
        yield ctx.make(
            A.SEGMENT_EXCEEDS_MSS,
            rows,
            count=len(rows),
            largest=largest,
            mss=mss,
            side=ctx.sides(rows),
        )


def _early_data(f: Facts) -> Mask:
    """Connections with payload (not on a SYN) from a side still closed, listening or SYN-SENT
    (on any row: the check walks every packet, not the notable rows)."""
    f = f.whole
    # The sender's state, a product and sums of the small codes (np.where and np.isin take
    # several times longer over a million rows).
    to_client = f.direction != Direction.TO_SERVER
    sender = f.client_before + (f.server_before - f.client_before) * to_client
    early = np.zeros(len(sender), dtype=np.bool_)
    for state in _EARLY:
        early |= sender == state
    return f.any(early & (f.length > 0) & ((f.flags & SYN) == 0))


@needs(lambda f: _early_data(f) & ~f.handshake_in(Handshake.NOT_CAPTURED))
def check_data_before_handshake(ctx: Context) -> Iterator[Anomaly]:
    """D15: payload from the client before it could ACK the SYN-ACK, or from the server before
    its SYN-ACK (RFC 9293 §3.10.7.3); TFO data on or right after the SYN is legitimate."""
    c, p, s = ctx.c, ctx.p, ctx.s
    if c.handshake is Handshake.NOT_CAPTURED or c.client_options.tfo:
        return
    rows = []
    for k in range(min(len(c.packet_index), LOOK_BACK)):
        r = c.packet_index[k]
        if s.client_before[r] == _ESTABLISHED and s.server_before[r] == _ESTABLISHED:
            break
        before = s.client_before[r] if ctx.d(r) == Direction.TO_SERVER else s.server_before[r]
        if p.length[r] and not p.flags[r] & SYN and before in _EARLY:
            rows.append(r)
    if rows:
        yield ctx.make(
            A.DATA_BEFORE_HANDSHAKE,
            rows,
            count=len(rows),
            bytes=ctx.payload(rows),
            side=ctx.sides(rows),
        )


@needs(lambda f: f.unknown_length > 0)
def check_length_unknown(ctx: Context) -> Iterator[Anomaly]:
    """Segments whose payload length tshark could not tell (a malformed or cut TCP header):
    counted apart, never as bytes, and read as carrying no data by every other check."""
    c, p = ctx.c, ctx.p
    if not c.to_server.unknown_length + c.to_client.unknown_length:
        return
    rows = [r for r in c.packet_index if p.length_unknown[r]]
    yield ctx.make(A.LENGTH_UNKNOWN, rows, count=len(rows), side=ctx.sides(rows))


@needs(lambda f: f.bad_checksum)
def check_checksums(ctx: Context) -> Iterator[Anomaly]:
    """D14: bad checksums (seen only when validation was on); an offload artefact when every
    packet of the sending host is bad (captured before the NIC filled the checksum in)."""
    p = ctx.p
    if not ctx.seen_bad_checksum:
        return
    bad = [r for r in ctx.rows if p.tcp_checksum[r] == BAD_CHECKSUM]
    offload = [r for r in bad if p.src[r] in ctx.offload_hosts]
    other = [r for r in bad if p.src[r] not in ctx.offload_hosts]
    if offload:
        yield ctx.make(A.CHECKSUM_OFFLOAD, offload, count=len(offload), side=ctx.sides(offload))
    if other:
        yield ctx.make(A.BAD_CHECKSUM, other, count=len(other), side=ctx.sides(other))
