"""Anomaly stage (pure): the catalogue of findings and the checks that attach them to connections.

The catalogue (`catalogue.py`) follows TCP-REFERENCE section (b): handshake H1–H10, data phase
D1–D15, teardown T4–T11 (T1–T3 are normal outcomes, carried by `Connection.teardown`). `detect`
gathers each connection's notable rows (`context.gather_columns`), then runs the checks of
`handshake.py`, `data.py`, `network.py` and `teardown.py` on each connection's notable rows: each
check only on the connections its precondition admits (`preconditions.py`), since on the others
it provably finds nothing.
"""

from __future__ import annotations

import gc
from operator import attrgetter

import numpy as np
import numpy.typing as npt

from pcapexplain.anomalies import data, handshake, lookback, network, teardown
from pcapexplain.anomalies.capture_wide import CaptureWide, Tally, capture_wide, combine, tally
from pcapexplain.anomalies.catalogue import CATALOGUE, AnomalySpec
from pcapexplain.anomalies.context import (
    MAX_FRAMES,
    RST,
    Check,
    Context,
    Gathered,
    gather_columns,
)
from pcapexplain.anomalies.preconditions import PRECONDITIONS, Facts, Mask, Precondition
from pcapexplain.model import Anomaly, Connection, PacketColumns, PacketStates

__all__ = [
    "CATALOGUE",
    "CHECKS",
    "MAX_FRAMES",
    "AnomalySpec",
    "CaptureWide",
    "Tally",
    "capture_wide",
    "combine",
    "detect",
    "tally",
]

# Order matters only where a check marks rows as explained (ctx.skip) for the ones after it.
CHECKS: tuple[Check, ...] = (
    handshake.check_self_connect,
    handshake.check_simultaneous_open,
    handshake.check_refused,
    handshake.check_old_duplicate,
    handshake.check_unanswered,
    handshake.check_incomplete,
    handshake.check_syn_retries,
    handshake.check_syn_data,
    handshake.check_illegal_flags,
    handshake.check_ack_without_flag,
    handshake.check_syn_in_established,
    handshake.check_port_reuse,
    network.check_icmp_errors,
    data.check_zero_window,
    data.check_retransmissions,
    data.check_gaps,
    data.check_acked_unseen,
    data.check_duplicate_acks,
    data.check_window_flags,
    data.check_keep_alive,
    data.check_oversize,
    data.check_checksums,
    data.check_length_unknown,
    data.check_data_before_handshake,
    teardown.check_half_close,
    teardown.check_fin_retransmitted,
    teardown.check_resets,
    teardown.check_rst_validity,
    teardown.check_peer_unresponsive,
    teardown.check_stalled,
    teardown.check_open_at_end,
    teardown.check_data_after_close,
    teardown.check_midstream,
)


def detect(
    packets: PacketColumns,
    states: PacketStates,
    connections: list[Connection],
    wide: CaptureWide | None = None,
) -> list[Anomaly]:
    """Every finding in the capture: by connection id, then by first frame and slug.

    packets and states are the aligned columns of the loader and the reconstructor; connections
    are the reconstructor's summaries (their packet_index, handshake, teardown, ISNs, options).
    wide holds the facts of the whole capture when these packets are only a part of it (`combine`
    over every part's `tally`); without it, the packets are the whole capture.
    """
    if not len(packets):
        return []
    # The stage allocates many small objects and makes no reference cycles: the cyclic collector
    # would only rescan the capture's columns and connections, at about a fifth of its time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        if wide is None:
            wide = capture_wide(packets, states, connections)
        return _detect(packets, states, connections, wide)
    finally:
        if collecting:
            gc.enable()


def _detect(
    packets: PacketColumns, states: PacketStates, connections: list[Connection], wide: CaptureWide
) -> list[Anomaly]:
    notable = gather_columns(packets, states, connections, wide.min_mss)
    # In order of first packet, so that each connection meets the incarnation before it.
    ordered = _by_first_packet(connections)
    previous = _previous_incarnations(ordered)
    wanted = _checks_to_run(packets, states, connections, notable, previous)
    known = lookback.known(packets, states, connections, _asked(notable))
    # Plain values, read once per connection below.
    rows, starts = notable.rows, notable.starts
    flags, bits = notable.flags.tolist(), notable.bits.tolist()
    bad, zero = notable.bad_checksum.tolist(), notable.zero_window.tolist()
    found: dict[int, list[Anomaly]] = {}
    for conn in ordered:
        checks = wanted[conn.id]
        if not checks:
            found[conn.id] = []
            continue
        cid = conn.id
        ctx = Context(
            packets,
            states,
            conn,
            rows[starts[cid] : starts[cid + 1]],
            wide.end,
            previous.get(cid),
            offload_hosts=wide.offload_hosts,
            next_seqs=known.next_seqs,
            usual_ttls=known.usual_ttls,
            seen_flags=flags[cid],
            seen_bits=bits[cid],
            seen_bad_checksum=bad[cid],
            seen_zero_window=zero[cid],
            notable=notable,
        )
        mine = [a for check in checks for a in check(ctx)]
        if len(mine) > 1:
            mine.sort(key=lambda a: (a.frames[0] if a.frames else 0, a.slug))
        found[cid] = mine
    return [a for conn in connections for a in found[conn.id]]


def _by_first_packet(connections: list[Connection]) -> list[Connection]:
    """The connections by first packet time, then id."""
    times = np.fromiter(map(attrgetter("first_time"), connections), np.float64, len(connections))
    ids = np.fromiter(map(attrgetter("id"), connections), np.int64, len(connections))
    return list(map(connections.__getitem__, np.lexsort((ids, times)).tolist()))


def _asked(notable: Gathered) -> npt.NDArray[np.int64]:
    """The notable rows whose look-backs a check may ask for."""
    asked = ((notable.row_bits & lookback.ASKED_BITS) | (notable.row_flags & RST)) != 0
    return np.asarray(notable.row_numbers[asked], dtype=np.int64)


def _previous_incarnations(ordered: list[Connection]) -> dict[int, Connection]:
    """Connection id → the incarnation of the same 4-tuple just before it, if any."""
    last: dict[tuple[str, int, str, int], Connection] = {}
    previous: dict[int, Connection] = {}
    for conn in ordered:
        one, other = conn.client, conn.server
        # The 4-tuple either way round: its two ends in order.
        if (one.ip, one.port) > (other.ip, other.port):
            one, other = other, one
        key = (one.ip, one.port, other.ip, other.port)
        if key in last:
            previous[conn.id] = last[key]
        last[key] = conn
    return previous


# Tests set this to run every check on every connection, to prove the preconditions skip only
# connections on which a check finds nothing.
_EVERY_CHECK_EVERYWHERE = False


def _checks_to_run(
    packets: PacketColumns,
    states: PacketStates,
    connections: list[Connection],
    notable: Gathered,
    previous: dict[int, Connection],
) -> dict[int, tuple[Check, ...]]:
    """Connection id → the checks (in CHECKS order) whose preconditions it meets."""
    if _EVERY_CHECK_EVERYWHERE:
        return {c.id: CHECKS for c in connections}
    size = len(notable.starts) - 1
    has_previous = np.zeros(size, dtype=np.bool_)
    has_previous[list(previous)] = True
    facts = Facts(
        packets,
        states,
        connections,
        size=size,
        zero_window=notable.zero_window,
        bad_checksum=notable.bad_checksum,
        bits=notable.bits,
        has_previous=has_previous,
        rows=notable.row_numbers,
    )
    codes = np.zeros(size, dtype=np.int64)
    masks: dict[Precondition, Mask] = {}  # checks that share a precondition ask it once
    for k, check in enumerate(CHECKS):
        precondition = PRECONDITIONS.get(check)
        if precondition is not None and precondition not in masks:
            masks[precondition] = precondition(facts)
        codes |= (masks[precondition] if precondition else True) * np.int64(1 << k)
    ids = list(map(attrgetter("id"), connections))
    mine = codes[ids].tolist()
    by_code = {
        code: tuple(ch for k, ch in enumerate(CHECKS) if code >> k & 1) for code in set(mine)
    }
    return dict(zip(ids, map(by_code.__getitem__, mine), strict=True))
