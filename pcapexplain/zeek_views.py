"""Zeek's view of pcapexplain's own connections (pure): each one's conn_state and history.

`verdicts` runs zeek's per-packet machine over each connection pcapexplain found (one per TCP
incarnation, no timer splits), so Zeek's verdict sits beside pcapexplain's own. The machine sees
every packet that can change its state: runs of steady segments that zeek_runs plans are skipped
when the machine's state at that point proves them quiet (`quiet`), their sums added instead; and
connections whose packets the machine reads alike (the same event codes) share one verdict.
"""

from __future__ import annotations

from collections.abc import Iterator

from pcapexplain.model import ChecksumStatus, Connection, ConnState, PacketColumns, ZeekVerdict
from pcapexplain.zeek import E, ZeekConn, conn_state, feed, new_conn, swapped
from pcapexplain.zeek_runs import ACKED, DATA, EVENT_CODE, Plan, plan

_BAD = int(ChecksumStatus.BAD)
_CODE_SIZE = EVENT_CODE.itemsize


def verdicts(
    packets: PacketColumns,
    connections: list[Connection],
    *,
    checksums_validated: bool = False,
    skip_quiet: bool = True,
    share: bool = True,
) -> dict[int, ZeekVerdict]:
    """Zeek's conn_state and history for each of pcapexplain's connections, by connection id.

    skip_quiet: skip the runs of segments zeek_runs proves quiet (False feeds every packet).
    share: with skip_quiet, connections whose packets the machine reads alike (the same codes,
    zeek_runs.Plan.codes) share the verdict of the first of them.
    """
    if not skip_quiet:
        seen = views(packets, connections, checksums_validated, skip_quiet=False)
        return {conn.id: _verdict(zc) for conn, zc in zip(connections, seen, strict=True)}
    found: dict[int, ZeekVerdict] = {}
    known: dict[bytes, ZeekVerdict] = {}
    for conn, runs, i in _planned(packets, connections, checksums_validated):
        key = _key(packets, runs, i, checksums_validated) if share else None
        verdict = known.get(key) if key is not None else None
        if verdict is None:
            zc, settled = _view_planned(packets, conn, runs, i, checksums_validated)
            verdict = _verdict(zc)
            if key is not None and settled:
                known[key] = verdict
        found[conn.id] = verdict
    return found


def _verdict(zc: ZeekConn | None) -> ZeekVerdict:
    if zc is None:  # every packet dropped for a bad IP checksum: Zeek saw nothing
        return ZeekVerdict(ConnState.OTH, "")
    history = zc.history_text()
    return ZeekVerdict(conn_state(zc.orig_side, zc.resp_side, history), history)


def _key(packets: PacketColumns, runs: Plan, i: int, checksums_validated: bool) -> bytes | None:
    """What the machine reads of connection i's packets (None when the codes cannot say it): the
    codes of its events, after whether the first packet Zeek keeps is sent by the responder.

    Two connections with the same key take the same steps through the machine: it reads nothing
    else of their packets but what goes into the counters (quiet runs' sizes, payload lengths
    beyond nonzero), and it tells the sides apart by address and port only to find their state.
    """
    if not runs.shareable[i]:
        return None
    begin, end = runs.bounds[i], runs.bounds[i + 1]
    codes = runs.codes[begin * _CODE_SIZE : end * _CODE_SIZE]
    events = runs.events
    for k in range(begin, end):  # mostly the first alone: no copy of the connection's events
        event = events[k]
        if event < 0:
            return None  # a run before any packet: never planned so, but then not shared
        if not (checksums_validated and packets.ip_checksum[event] == _BAD):
            return (b"r" if swapped(packets, event) else b"s") + codes
    return codes


def views(
    packets: PacketColumns,
    connections: list[Connection],
    checksums_validated: bool,
    *,
    skip_quiet: bool,
) -> Iterator[ZeekConn | None]:
    """view of each connection in turn (each dropped once used: thousands of them held at once
    weigh on memory and on the garbage collector); with skip_quiet, quiet runs only add to the
    counters."""
    if not skip_quiet:
        for conn in connections:
            yield view(packets, conn, checksums_validated=checksums_validated)
        return
    for conn, runs, i in _planned(packets, connections, checksums_validated):
        yield _view_planned(packets, conn, runs, i, checksums_validated)[0]


def _planned(
    packets: PacketColumns, connections: list[Connection], checksums_validated: bool
) -> Iterator[tuple[Connection, Plan, int]]:
    """Each connection with the plan of its chunk and its place in that plan."""
    for chunk in _chunks(connections):
        runs = plan(packets, chunk, checksums_validated=checksums_validated)
        for i, conn in enumerate(chunk):
            yield conn, runs, i


_CHUNK_ROWS = 1 << 17  # packets planned at once: the plan's arrays stay some tens of megabytes


def _chunks(connections: list[Connection]) -> Iterator[list[Connection]]:
    """Consecutive connections in groups of about _CHUNK_ROWS packets (a larger one alone)."""
    begin, rows = 0, 0
    for end, conn in enumerate(connections, 1):
        rows += len(conn.packet_index)
        if rows >= _CHUNK_ROWS:
            yield connections[begin:end]
            begin, rows = end, 0
    if begin < len(connections):
        yield connections[begin:]


def _view_planned(
    packets: PacketColumns, conn: Connection, runs: Plan, i: int, checksums_validated: bool
) -> tuple[ZeekConn | None, bool]:
    """The machine over connection i of runs, and whether every run it met was quiet."""
    zc: ZeekConn | None = None
    settled = True
    client = (conn.client.ip, conn.client.port)
    server = (conn.server.ip, conn.server.port)
    for event in runs.events[runs.bounds[i] : runs.bounds[i + 1]]:
        if event >= 0:
            zc = _step(zc, packets, event, checksums_validated)
            continue
        k = ~event
        if zc is not None and quiet(zc, client, server, runs.letters[k]):
            zc.sides[client].packets += runs.client_packets[k]
            zc.sides[client].payload += runs.client_bytes[k]
            zc.sides[server].packets += runs.server_packets[k]
            zc.sides[server].payload += runs.server_bytes[k]
            zc.last = packets.time[runs.rows[runs.end[k] - 1]]
            continue
        settled = False
        for row in runs.rows[runs.start[k] : runs.end[k]].tolist():
            zc = _step(zc, packets, row, checksums_validated)
    return zc, settled


def quiet(zc: ZeekConn, client: tuple[str, int], server: tuple[str, int], letters: int) -> bool:
    """Whether feeding steady segments that carry these letters (zeek_runs.Plan.letters) takes
    feed's common path and records nothing: the sides that send them are running and have
    recorded those letters, and the originator is settled (no late flip pending)."""
    if not zc.flipped and (not zc.history or zc.history[0][1] == "H"):
        return False
    for key, bits in ((client, letters & 3), (server, letters >> 2)):
        if not bits:
            continue
        side = zc.sides.get(key)
        if side is None or side.state is E.INACTIVE:
            return False
        if (bits & DATA and "D" not in side.once) or (bits & ACKED and "A" not in side.once):
            return False
    return True


def _step(
    zc: ZeekConn | None, packets: PacketColumns, row: int, checksums_validated: bool
) -> ZeekConn | None:
    """One packet of view: dropped for a bad IP checksum, or fed (the first one makes zc)."""
    if checksums_validated and packets.ip_checksum[row] == _BAD:
        return zc
    if zc is None:
        zc = new_conn(packets, row)
    feed(zc, packets, row, checksums_validated=checksums_validated, timers=False, meter=False)
    return zc


def view(
    packets: PacketColumns, conn: Connection, *, checksums_validated: bool = False
) -> ZeekConn | None:
    """Zeek's machine over one of pcapexplain's connections (no timer splits)."""
    zc: ZeekConn | None = None
    for row in conn.packet_index:
        zc = _step(zc, packets, row, checksums_validated)
    return zc
