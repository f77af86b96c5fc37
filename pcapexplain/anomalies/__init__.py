"""Anomaly stage (pure): the catalogue of findings and the checks that attach them to connections.

The catalogue (`catalogue.py`) follows TCP-REFERENCE section (b): handshake H1–H10, data phase
D1–D15, teardown T4–T11 (T1–T3 are normal outcomes, carried by `Connection.teardown`). `detect`
gathers each connection's notable rows (`context.gather`), then runs every check of `handshake.py`,
`data.py` and `teardown.py` on each connection's notable rows.
"""

from __future__ import annotations

from pcapexplain.anomalies import data, handshake, network, teardown
from pcapexplain.anomalies.catalogue import CATALOGUE, AnomalySpec
from pcapexplain.anomalies.context import MAX_FRAMES, Check, Context, gather, offload_hosts
from pcapexplain.model import Anomaly, Connection, PacketColumns, PacketStates

__all__ = ["CATALOGUE", "CHECKS", "MAX_FRAMES", "AnomalySpec", "detect"]

# Order matters only where a check marks rows as explained (ctx.skip) for the ones after it.
CHECKS: tuple[Check, ...] = (
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
    teardown.check_open_at_end,
    teardown.check_data_after_close,
    teardown.check_midstream,
)


def detect(
    packets: PacketColumns, states: PacketStates, connections: list[Connection]
) -> list[Anomaly]:
    """Every finding in the capture: by connection id, then by first frame and slug.

    packets and states are the aligned columns of the loader and the reconstructor; connections
    are the reconstructor's summaries (their packet_index, handshake, teardown, ISNs, options).
    """
    if not len(packets):
        return []
    notable = gather(packets, states, connections)
    offload = offload_hosts(packets, connections, notable)
    capture_end = max(packets.time[-1], max((c.last_time for c in connections), default=0.0))
    previous: dict[frozenset[tuple[str, int]], Connection] = {}
    found: dict[int, list[Anomaly]] = {}
    # In order of first packet, so that each connection meets the incarnation before it.
    for conn in sorted(connections, key=lambda c: (c.first_time, c.id)):
        key = frozenset(((conn.client.ip, conn.client.port), (conn.server.ip, conn.server.port)))
        mine_notable = notable[conn.id]
        ctx = Context(
            packets,
            states,
            conn,
            mine_notable.rows,
            capture_end,
            previous.get(key),
            offload_hosts=offload,
            seen_flags=mine_notable.flags,
            seen_bits=mine_notable.bits,
            seen_bad_checksum=mine_notable.bad_checksum,
            seen_zero_window=mine_notable.zero_window,
        )
        previous[key] = conn
        mine = [a for check in CHECKS for a in check(ctx)]
        mine.sort(key=lambda a: (a.frames[0] if a.frames else 0, a.slug))
        found[conn.id] = mine
    return [a for conn in connections for a in found[conn.id]]
