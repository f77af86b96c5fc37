"""No sentence contradicts the replay: every told packet, every capture, both languages.

Walks every packet of every sample capture and of hand-built cases, through narrate, the shipped
`explain` command and the HTML report, in English and Chinese, and checks:

- every TCP state a line names is one the replay shows for that packet (before, after, or passed
  within it), so no line can claim a transition the replay does not show;
- what the line's situation asserts about the states (situations.CLAIMS) holds in the replay;
- "ISN + n" is said only where the ack is n beyond the ISN; "doubling" only where the waits
  doubled; no line prints "<None>" for a segment without flags;
- the header's state paths are the replay's, and each verdict agrees with the replay (a client
  that never opened is never ESTABLISHED, a stray probe moves no state, a TIME_WAIT verdict is a
  TIME_WAIT in the replay, a side that never sent ACK is never synchronized);
- the replay itself only takes transitions RFC 9293 allows for what each packet carried.

Each error once found in the stories trips one of these: a "three-way close" told where the FIN
had been acknowledged before (claims), "both sides go through CLOSING" where one did not (named
states; narr.* templates name no state literally), "ISN + 1" for a SYN+FIN's ack (arithmetic),
a reset "of an open connection" for probes of a closed port (claims, verdicts), UNKNOWN →
FIN_WAIT_1 for a probe without ACK (transitions), CLOSED → SYN_RECEIVED for a second SYN
(transitions), a stale request whose client turns ESTABLISHED, an `unanswered` Fast Open whose
client ends ESTABLISHED (verdicts), and "doubling" for fixed SYN retries (arithmetic).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pcapexplain import api, copies, loader
from pcapexplain.claims import CLAIMS
from pcapexplain.cli import main
from pcapexplain.explanations import catalog
from pcapexplain.model import (
    AnalysisFlag,
    CaptureAnalysis,
    CaptureInfo,
    Closer,
    Connection,
    Direction,
    Handshake,
    Inference,
    Lang,
    PacketColumns,
    PacketRole,
    TcpFlags,
    TcpState,
    Teardown,
)
from pcapexplain.narrate import NarrativeLine, format_line, predecessors, state_path, story
from pcapexplain.situations import Move, PacketFacts, Situation
from tests.builders import ACK, FIN, PSH, RST, SYN, Conversation, merged

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"
CAPTURES = sorted(p.name for p in SAMPLES.glob("*.pcap*"))
LANGUAGES = tuple(Lang)
T = TcpState
_NAMES = "|".join(sorted((s.name for s in TcpState), key=len, reverse=True))
STATE = re.compile(r"(?<![A-Za-z0-9_])(" + _NAMES + r")(?![A-Za-z0-9_])")
# The label a language gives UNKNOWN (Chinese says 未知) counts as naming it.
UNKNOWN_LABEL = {lang: str(catalog(lang)["narr.unknown_state"]) for lang in Lang}
SYNCHRONIZED = {
    T.ESTABLISHED,
    T.FIN_WAIT_1,
    T.FIN_WAIT_2,
    T.CLOSE_WAIT,
    T.CLOSING,
    T.LAST_ACK,
    T.TIME_WAIT,
}
NEVER_OPENED = {
    Handshake.REFUSED,
    Handshake.UNANSWERED,
    Handshake.INCOMPLETE,
    Handshake.OLD_DUPLICATE,
    Handshake.STRAY,
}
KEEP_ALIVE = re.compile(r"keep-alive|保活")
DOUBLING = re.compile(r"\bdoubles\b|doubling each|每次加倍|就加倍")


# ------------------------------------------------------------------------------ the cases


def _info(name: str) -> CaptureInfo:
    return CaptureInfo(name, 0, "", "TSHARK", 0)


def _hand_built() -> dict[str, PacketColumns]:
    """Exchanges a real stack rarely shows on demand, built packet by packet."""
    cases: dict[str, PacketColumns] = {}

    c = Conversation()  # both FINs cross and neither is lost: both pass through CLOSING
    c.handshake()
    cf = c.next[c.client]
    c.send(c.client, FIN | ACK)
    c.send(c.server, FIN | ACK, ack=cf)
    c.ack(c.client)
    c.ack(c.server)
    cases["true_simultaneous_close"] = c.columns()

    c = Conversation()  # three-way close
    c.handshake()
    c.fin(c.client)
    c.fin(c.server)
    c.ack(c.client)
    cases["three_way_close"] = c.columns()

    c = Conversation()  # the last ACK is lost, the FIN comes again, TIME_WAIT answers it
    c.handshake()
    c.fin(c.client)
    c.ack(c.server)
    c.fin(c.server)
    c.ack(c.client)
    c.send(c.server, FIN | ACK, seq=c.next[c.server] - 1)
    c.ack(c.client)
    cases["lost_final_ack"] = c.columns()

    c = Conversation()  # Fast Open SYN, then FIN+ACK; the SYN-ACK was not captured
    c.send(c.client, SYN, 20, tfo=True)
    c.next[c.server] += 1
    c.send(c.client, FIN | ACK)
    cases["tfo_synack_missed"] = c.columns()

    c = Conversation(client_isn=90, server_isn=300)  # Fig. 8 at the server, nothing after
    c.send(c.client, SYN)
    c.send(c.server, SYN | ACK)
    c.send(c.client, RST, seq=91)
    cases["stale_syn_alone"] = c.columns()

    c = Conversation(client_isn=100, server_isn=300)  # Fig. 8 at the client, nothing after
    c.send(c.client, SYN)
    c.send(c.server, SYN | ACK, ack=91)
    c.send(c.client, RST, seq=91)
    cases["stale_synack_at_client"] = c.columns()

    c = Conversation(client=("10.0.0.1", 5000), server=("10.0.0.2", 6000))  # Fig. 7
    c.send(c.client, SYN)
    c.send(c.server, SYN)
    c.send(c.client, SYN | ACK, seq=1000)
    c.send(c.server, SYN | ACK, seq=5000)
    c.data(c.client, 10)
    cases["simultaneous_open"] = c.columns()

    probes = []  # a NULL, a FIN and an ACK probe of a closed port
    for port, flags, answer in ((55301, 0, RST | ACK), (55302, FIN, RST | ACK), (55303, ACK, RST)):
        p = Conversation(client=("10.0.0.1", port), client_isn=2000)
        p.clock = port - 55300
        p.send(p.client, flags, ack=7000 if flags & ACK else None)
        ack = 2000 + bool(flags & FIN)
        p.send(p.server, answer, seq=7000 if answer == RST else 0, ack=ack)
        probes.append(p)
    cases["closed_port_probes"] = merged(*probes)

    c = Conversation(step=1.0)  # SYN retries at a fixed interval (Linux >= 6.5 linear)
    for _ in range(4):
        c.send(c.client, SYN, seq=1000, advance=False)
    cases["linear_syn_retries"] = c.columns()

    c = Conversation()  # half-close: the server keeps sending after the client's FIN
    c.handshake()
    c.fin(c.client)
    c.ack(c.server)
    for _ in range(3):
        c.data(c.server, 30)
        c.ack(c.client)
    c.fin(c.server)
    c.ack(c.client)
    cases["half_close"] = c.columns()

    c = Conversation()  # the client's first data rides on the third handshake segment
    c.send(c.client, SYN)
    c.send(c.server, SYN | ACK)
    c.send(c.client, ACK | PSH, 40)
    cases["data_on_third_segment"] = c.columns()
    return cases


HAND_BUILT = _hand_built()


@cache
def _capture(name: str) -> loader.Capture:
    """Each sample is read by the real tshark once for the whole module."""
    return loader.load_capture(SAMPLES / name)


@cache
def _sample(name: str) -> CaptureAnalysis:
    capture = copies.without_copies(_capture(name))  # as readers.load leaves it
    return api.analyse_capture(capture)


@cache
def _built(name: str) -> CaptureAnalysis:
    return api.analyse_columns(_info(name), HAND_BUILT[name])


def _all() -> Iterator[tuple[str, CaptureAnalysis]]:
    for name in CAPTURES:
        yield name, _sample(name)
    for name in HAND_BUILT:
        yield name, _built(name)


CASES = [*CAPTURES, *HAND_BUILT]


def _analysis(name: str) -> CaptureAnalysis:
    return _built(name) if name in HAND_BUILT else _sample(name)


# ------------------------------------------------------------------------- the replay's view


def _row_of(result: CaptureAnalysis, frame: int) -> int:
    return list(result.packets.frame).index(frame)


def _states_at(result: CaptureAnalysis, row: int) -> set[TcpState]:
    st = result.states
    found = {
        T(st.client_before[row]),
        T(st.client_after[row]),
        T(st.server_before[row]),
        T(st.server_after[row]),
    }
    for client in (True, False):
        passed = st.passed_through(row, client)
        if passed is not None:
            found.add(passed)
    return found


def _previous(result: CaptureAnalysis, conn: Connection) -> Connection | None:
    pair = {(conn.client.ip, conn.client.port), (conn.server.ip, conn.server.port)}
    earlier = [
        c
        for c in result.connections
        if c.first_time < conn.first_time
        and {(c.client.ip, c.client.port), (c.server.ip, c.server.port)} == pair
    ]
    return max(earlier, key=lambda c: c.first_time, default=None)


def _allowed(result: CaptureAnalysis, conn: Connection, row: int) -> set[str]:
    """The state names a line about this row may use: the replay's, plus, for a connection's
    first packet, the end states of the connection that used the port pair before."""
    allowed = {s.name for s in _states_at(result, row)}
    previous = _previous(result, conn)
    if row == conn.packet_index[0] and previous is not None:
        allowed |= {previous.client_final.name, previous.server_final.name}
    return allowed


def _names(text: str, lang: Lang) -> list[str]:
    """The states a text names, in order."""
    label = UNKNOWN_LABEL[lang]
    pattern = STATE if label == "UNKNOWN" else re.compile(f"{STATE.pattern}|({re.escape(label)})")
    found = []
    for match in pattern.finditer(text):
        found.append("UNKNOWN" if match.group(0) == label else match.group(0))
    return found


def _named(text: str, lang: Lang) -> set[str]:
    return set(_names(text, lang))


def _facts(result: CaptureAnalysis, conn: Connection, row: int) -> PacketFacts:
    """A packet's facts read straight from the replay, for checking the claims."""
    st, p = result.states, result.packets
    client = Move(T(st.client_before[row]), T(st.client_after[row]), st.passed_through(row, True))
    server = Move(T(st.server_before[row]), T(st.server_after[row]), st.passed_through(row, False))
    direction = Direction(st.direction[row])
    to_server = direction is Direction.TO_SERVER
    return PacketFacts(
        direction=direction,
        role=PacketRole(st.role[row]),
        flags=p.flags[row],
        handshake=conn.handshake,
        sender=client if to_server else server,
        receiver=server if to_server else client,
        length=p.length[row],
    )


# ------------------------------------------------------------------------------- line checks


def _check_line(
    result: CaptureAnalysis, conn: Connection, line: NarrativeLine, lang: Lang
) -> list[str]:
    problems = []
    assert line.frame is not None
    row = _row_of(result, line.frame)
    if line.is_summary:
        rows = [r for r in conn.packet_index if line.frame <= result.packets.frame[r]]
        rows = [r for r in rows if result.packets.frame[r] <= (line.last_frame or line.frame)]
        allowed = set().union(*({s.name for s in _states_at(result, r)} for r in rows))
    else:
        allowed = _allowed(result, conn, row)
    extra = _named(line.text, lang) - allowed
    if extra:
        problems.append(f"names {sorted(extra)}, the replay shows {sorted(allowed)}")
    if line.situation is not None:
        problems += CLAIMS[line.situation].violations(_facts(result, conn, row))
    for n in re.findall(r"ISN \+ (\d+)", line.text):
        if line.ack_rel != int(n):
            problems.append(f"says ISN + {n}, the ack is ISN + {line.ack_rel}")
    if DOUBLING.search(line.text) and not _doubled(result, conn, row):
        problems.append("says the wait doubled; the capture's waits did not")
    if "<None>" in format_line(line, lang):
        problems.append("prints <None>")
    if KEEP_ALIVE.search(line.text) and _probes_a_zero_window(result, conn, line):
        problems.append("calls a zero-window probe a keep-alive")
    if line.situation is Situation.DATA_RESENT_TIMEOUT and not _silent_wait(result, conn, row):
        problems.append("blames a timer, yet the receiver answered or the wait was short")
    return [f"{lang} frame {line.frame} ({line.situation}): {p}" for p in problems]


def _probes_a_zero_window(result: CaptureAnalysis, conn: Connection, line: NarrativeLine) -> bool:
    """A segment of the line is a probe (tshark: keep-alive) sent while the peer's window is 0."""
    p, st = result.packets, result.states
    last_window: dict[int, int] = {}
    for row in conn.packet_index:
        d = st.direction[row]
        probe = p.analysis[row] & AnalysisFlag.KEEP_ALIVE
        inside = line.frame <= p.frame[row] <= (line.last_frame or line.frame)  # type: ignore[operator]
        if inside and probe and last_window.get(1 - d) == 0:
            return True
        last_window[d] = p.window[row]
    return False


def _silent_wait(result: CaptureAnalysis, conn: Connection, row: int) -> bool:
    """Between the previous copy and this one: no duplicate ACK, no SACK, and 200 ms at least
    (Linux's minimum retransmission timeout)."""
    p, st = result.packets, result.states
    rows = list(conn.packet_index)
    here, d = rows.index(row), st.direction[row]
    earlier = [
        k
        for k in range(here)
        if st.direction[rows[k]] == d
        and p.length[rows[k]]
        and (p.seq[row] - p.seq[rows[k]]) % 2**32 < p.length[rows[k]]
    ]
    if not earlier:
        return False
    start = earlier[-1]
    answers = [rows[k] for k in range(start + 1, here) if st.direction[rows[k]] != d]
    heard = any(p.sack[r] or p.analysis[r] & AnalysisFlag.DUPLICATE_ACK for r in answers)
    return not heard and p.time[row] - p.time[rows[start]] >= 0.2


def _doubled(result: CaptureAnalysis, conn: Connection, row: int) -> bool:
    """This SYN copy came about twice as long after the previous copy as that one after its."""
    p = result.packets
    same = [
        r
        for r in conn.packet_index
        if p.flags[r] & TcpFlags.SYN
        and p.flags[r] & TcpFlags.ACK == p.flags[row] & TcpFlags.ACK
        and p.seq[r] == p.seq[row]
        and r <= row
    ]
    if len(same) < 3:
        return False
    t = [p.time[r] for r in same[-3:]]
    return 1.6 <= (t[2] - t[1]) / (t[1] - t[0]) <= 2.5


# ------------------------------------------------------------------------- connection checks


def _check_paths(
    result: CaptureAnalysis, conn: Connection, notes: tuple[str, ...], lang: Lang
) -> list[str]:
    """The header's state paths name exactly the replay's states, in order."""
    want = [s.name for s in state_path(result.states, conn, True)]
    if conn.self_connect:  # one socket: one path, and the server's columns must hold it too
        assert state_path(result.states, conn, False) == state_path(result.states, conn, True)
    else:
        want += [s.name for s in state_path(result.states, conn, False)]
    got = _names(notes[0], lang)
    return [] if got == want else [f"paths note {got}, the replay {want}"]


def _check_verdicts(result: CaptureAnalysis, conn: Connection) -> list[str]:
    client = state_path(result.states, conn, True)
    server = state_path(result.states, conn, False)
    problems = []
    if conn.handshake in NEVER_OPENED and SYNCHRONIZED & set(client):
        problems.append(f"{conn.handshake.value}, yet the client reaches {client}")
    if conn.handshake is Handshake.STRAY and (len(client) > 1 or len(server) > 1):
        problems.append(f"stray, yet states change: {client} {server}")
    if conn.teardown is Teardown.NONE and {T.FIN_WAIT_1, T.CLOSE_WAIT} & set(client + server):
        problems.append("teardown none, yet a side closes")
    for who, path in ((Closer.CLIENT, client), (Closer.SERVER, server)):
        in_tw = T.TIME_WAIT in path
        said = conn.time_wait in (who, Closer.BOTH)
        if in_tw != said:
            problems.append(f"time_wait {conn.time_wait.value}, {who.value} path {path}")
    if conn.teardown is Teardown.THREE_WAY and not any(
        result.states.passed_through(r, c) is T.FIN_WAIT_2
        for r in conn.packet_index
        for c in (True, False)
    ):
        problems.append("three_way, yet no side goes FIN_WAIT_1 → TIME_WAIT in one segment")
    problems += _silent_sides(result, conn, client, server)
    return problems


def _silent_sides(
    result: CaptureAnalysis,
    conn: Connection,
    client: tuple[TcpState, ...],
    server: tuple[TcpState, ...],
) -> list[str]:
    """A side that never set ACK on a segment other than SYN or RST is never synchronized."""
    p, st = result.packets, result.states
    problems = []
    for d, path in ((Direction.TO_SERVER, client), (Direction.TO_CLIENT, server)):
        sent = [r for r in conn.packet_index if st.direction[r] == d]
        plain = [r for r in sent if not p.flags[r] & (TcpFlags.SYN | TcpFlags.RST)]
        silent = plain and not any(p.flags[r] & TcpFlags.ACK for r in plain)
        if silent and SYNCHRONIZED & set(path):
            problems.append(f"{d.name} never sent ACK, yet its path is {path}")
    return problems


# -------------------------------------------------------------------- RFC 9293's transitions

_RECEIVE_FIN = {
    (T.ESTABLISHED, T.CLOSE_WAIT),
    (T.UNKNOWN, T.CLOSE_WAIT),
    (T.SYN_RECEIVED, T.CLOSE_WAIT),
    (T.FIN_WAIT_1, T.CLOSING),
    (T.FIN_WAIT_2, T.TIME_WAIT),
}
_RECEIVE_ACK = {
    (T.SYN_RECEIVED, T.ESTABLISHED),
    (T.UNKNOWN, T.ESTABLISHED),
    (T.LISTEN, T.ESTABLISHED),
    (T.FIN_WAIT_1, T.FIN_WAIT_2),
    (T.CLOSING, T.TIME_WAIT),
    (T.LAST_ACK, T.CLOSED),
}


def _edges(flags: int, sender: bool, crossed_fin: bool) -> set[tuple[TcpState, TcpState]]:
    """Single steps RFC 9293 Fig. 5 (and §3.10.7) allows a side for a packet it sent or got."""
    syn, ack, fin, rst = (bool(flags & f) for f in (SYN, ACK, FIN, RST))
    edges: set[tuple[TcpState, TcpState]] = set()
    if rst:
        edges |= {(s, T.CLOSED) for s in TcpState} | {(T.SYN_RECEIVED, T.LISTEN)}
        if not sender:  # a RST giving up on a silent peer may never arrive (rst_gives_up)
            edges |= {(s, T.UNKNOWN) for s in TcpState}
        return edges
    if sender:
        if syn and not ack:
            edges |= {(T.CLOSED, T.SYN_SENT)}
            # A SYN inside a synchronized connection: its sender no longer holds that one.
            edges |= {(s, T.CLOSED) for s in SYNCHRONIZED}
        if syn and ack:
            edges |= {(s, T.SYN_RECEIVED) for s in (T.UNKNOWN, T.LISTEN, T.CLOSED, T.SYN_SENT)}
        if ack and not syn:
            edges |= {(T.SYN_SENT, T.ESTABLISHED)}  # its ACK proves a SYN-ACK not captured
            edges |= {(T.SYN_RECEIVED, T.ESTABLISHED)}  # its ACK of data proves a third ACK
            edges |= _RECEIVE_FIN  # the ACK shows a crossed FIN has reached its sender
        if fin:
            edges |= {(s, T.FIN_WAIT_1) for s in (T.ESTABLISHED, T.UNKNOWN, T.SYN_RECEIVED)}
            edges |= {(T.CLOSE_WAIT, T.LAST_ACK)}
        return edges
    if syn and not ack:
        edges |= {(T.LISTEN, T.SYN_RECEIVED), (T.SYN_SENT, T.SYN_RECEIVED)}
    if syn and ack:
        edges |= {(T.SYN_SENT, T.ESTABLISHED), (T.UNKNOWN, T.ESTABLISHED)}
        edges |= {(T.SYN_RECEIVED, T.ESTABLISHED)}
    if ack:
        edges |= _RECEIVE_ACK
    if fin or crossed_fin:
        edges |= _RECEIVE_FIN
    return edges


def _check_transitions(result: CaptureAnalysis, conn: Connection) -> list[str]:
    p, st = result.packets, result.states
    problems = []
    fin_sent: set[int] = set()
    for row in conn.packet_index:
        d = st.direction[row]
        flags = p.flags[row]
        for client in (True, False):
            sender = (d == Direction.TO_SERVER) == client
            before = T(st.client_before[row] if client else st.server_before[row])
            after = T(st.client_after[row] if client else st.server_after[row])
            if before is after:
                continue
            passed = st.passed_through(row, client)
            steps = [(before, after)] if passed is None else [(before, passed), (passed, after)]
            # A FIN its sender sent earlier may reach the receiver just before this packet.
            edges = _edges(flags, sender, d in fin_sent)
            if conn.self_connect:  # one socket sends the segment, then receives it
                edges |= _edges(flags, not sender, d in fin_sent)
            if {Inference.CLIENT_NOT_CAPTURED, Inference.SERVER_NOT_CAPTURED} & set(conn.inferred):
                edges |= {(s, T.UNKNOWN) for s in TcpState}  # an unseen FIN may have come
            bad = [s for s in steps if s not in edges]
            if bad:
                who = "client" if client else "server"
                problems.append(
                    f"frame {p.frame[row]}: {who} {bad} ({'sends' if sender else 'gets'})"
                )
        if flags & FIN:
            fin_sent.add(d)
    return problems


# ------------------------------------------------------------------------------------ tests


@pytest.mark.tshark
@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("name", CASES)
def test_every_told_packet_agrees_with_the_replay(name: str, lang: Lang) -> None:
    result = _analysis(name)
    problems = []
    before = predecessors(result.connections)
    for conn in result.connections:
        told = story(result, conn, lang, before.get(conn.id))
        for line in told.lines:
            problems += [f"#{conn.id} {p}" for p in _check_line(result, conn, line, lang)]
        # Every packet is on a line: told alone, or inside a summary that the check above read.
        frames = [result.packets.frame[r] for r in conn.packet_index]
        told_frames = [
            f for x in told.lines for f in frames if (x.frame or 0) <= f <= (x.last_frame or 0)
        ]
        assert told_frames == frames, f"#{conn.id}: lines do not cover each packet once"
        problems += [f"#{conn.id} {p}" for p in _check_paths(result, conn, told.notes, lang)]
        # The header names a state only in the TIME_WAIT verdict, which _check_verdicts checks.
        expected = set() if conn.time_wait is Closer.NONE else {"TIME_WAIT"}
        assert _named(told.header, lang) == expected, told.header
    assert not problems, "\n".join(problems)


@pytest.mark.tshark
@pytest.mark.parametrize("name", CASES)
def test_verdicts_and_transitions_agree_with_the_replay(name: str) -> None:
    result = _analysis(name)
    problems = []
    for conn in result.connections:
        problems += [f"#{conn.id} {p}" for p in _check_verdicts(result, conn)]
        problems += [f"#{conn.id} {p}" for p in _check_transitions(result, conn)]
    problems += _check_findings(result)
    assert not problems, "\n".join(problems)


def _check_findings(result: CaptureAnalysis) -> list[str]:
    """What findings say about their frames holds in the packets."""
    p = result.packets
    frame_row = {f: r for r, f in enumerate(p.frame)}
    problems = []
    for found in result.anomalies:
        rows = [frame_row[f] for f in found.frames]
        conn = result.connections[found.connection]
        if found.slug == "zero-window":
            problems += [
                f"zero-window at frame {p.frame[r]}, window {p.window[r]}"
                for r in rows
                if p.window[r]
            ]
        if found.slug == "connection-reset" and conn.handshake is Handshake.STRAY:
            problems.append(f"connection-reset in stray connection {conn.id}")
        if found.slug == "acked-unseen-segment":
            problems += [
                f"frame {p.frame[r]} acks what was seen"
                for r in rows
                if not _beyond(result, conn, r)
            ]
        if found.slug == "retransmission" and found.params.get("cause") == "timeout":
            problems += [
                f"timeout at frame {p.frame[r]}" for r in rows if not _silent_wait(result, conn, r)
            ]
    return problems


def _beyond(result: CaptureAnalysis, conn: Connection, row: int) -> bool:
    """The ack lies beyond every sequence number (SYN and FIN counted) the peer sent before."""
    p, st = result.packets, result.states
    peer = 1 - st.direction[row]
    for r in conn.packet_index:
        if r >= row:
            break
        if st.direction[r] == peer and not p.flags[r] & RST:
            end = p.seq[r] + p.length[r] + bool(p.flags[r] & SYN) + bool(p.flags[r] & FIN)
            if (p.ack[row] - end) % 2**32 >= 2**31 or p.ack[row] == end % 2**32:
                return False
    return True


def test_narrative_templates_name_no_state_but_through_placeholders() -> None:
    """A literal state name in a narr.* template would be a claim nothing checks."""
    for lang in LANGUAGES:
        for key, template in catalog(lang).items():
            if not key.startswith("narr.") or not isinstance(template, str):
                continue
            if key == "narr.unknown_state":
                continue  # the label of UNKNOWN itself
            literal = "".join(part for part, *_ in string.Formatter().parse(template))
            assert not STATE.search(literal), (lang, key, STATE.findall(literal))


def test_every_situation_has_a_claim_and_a_text() -> None:
    for situation in Situation:
        assert situation in CLAIMS
        for lang in LANGUAGES:
            assert f"narr.{situation.value}" in catalog(lang)


# ---------------------------------------------------------------- the commands users run


@pytest.fixture
def cached_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands run in full on the capture the real tshark read once (_capture)."""
    real = loader.load_capture

    def load(path: object, **options: object) -> loader.Capture:
        name = Path(str(path)).name
        if options.get("validate_checksums") or name not in CAPTURES:
            return real(path, **options)  # type: ignore[arg-type]
        return _capture(name)

    monkeypatch.setattr(loader, "load_capture", load)


_EXPLAIN_LINE = re.compile(r"^  (?:frame|帧) (\d+) · ")


@pytest.mark.tshark
@pytest.mark.usefixtures("cached_loader")
@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("name", CAPTURES)
def test_explain_command_tells_the_replay(
    name: str, lang: Lang, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", str(SAMPLES / name), "--lang", lang.value, "--limit", "1000"]) == 0
    out = capsys.readouterr().out
    result = _sample(name)
    before = predecessors(result.connections)
    told = [
        line
        for conn in result.connections
        for line in story(result, conn, lang, before.get(conn.id)).lines
    ]
    assert [format_line(line, lang) for line in told] == [
        line[2:] for line in out.splitlines() if re.match(r"^  (?:frames?|帧) ", line)
    ]
    problems = []
    for text_line in out.splitlines():
        match = _EXPLAIN_LINE.match(text_line)
        if not match:
            continue
        row = _row_of(result, int(match.group(1)))
        conn = result.connections[result.states.connection[row]]
        extra = _named(text_line, lang) - _allowed(result, conn, row)
        if extra:
            problems.append(f"{text_line[:60]}…: {sorted(extra)}")
    assert "<None>" not in out
    assert not problems, "\n".join(problems)


class _Explanations(HTMLParser):
    """The explanation cell of every packet row of the report: row id → its text and state
    line (the links to concept notes under it name general notes, not this packet)."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[str, str] = {}
        self._row: str | None = None
        self._depth = 0
        self._links_at = 0  # depth of the "read more" block being skipped, 0 when none

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "tr" and "packet" in classes:
            self._row = dict(attrs).get("id")
        elif tag == "td" and self._row and "explanation" in classes:
            self._depth = 1
            self.cells[self._row] = ""
        elif self._depth:
            self._depth += 1
            if "related" in classes and not self._links_at:
                self._links_at = self._depth

    def handle_endtag(self, tag: str) -> None:
        if self._depth:
            if self._depth == self._links_at:
                self._links_at = 0
            self._depth -= 1
            if not self._depth:
                self._row = None

    def handle_data(self, data: str) -> None:
        if self._depth and self._row and not self._links_at:
            self.cells[self._row] += data


@pytest.mark.tshark
@pytest.mark.usefixtures("cached_loader")
@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("name", CAPTURES)
def test_report_tells_the_replay(name: str, lang: Lang, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    args = ["report", str(SAMPLES / name), "-o", str(out), "--lang", lang.value]
    assert main(args) == 0
    parser = _Explanations()
    parser.feed(out.read_text(encoding="utf-8"))
    result = _sample(name)
    assert parser.cells, "no packet rows"
    problems = []
    for anchor, cell in parser.cells.items():
        cid, frame = (int(x) for x in re.fullmatch(r"c(\d+)-f(\d+)", anchor).groups())  # type: ignore[union-attr]
        row = _row_of(result, frame)
        extra = _named(cell, lang) - _allowed(result, result.connections[cid], row)
        if extra:
            problems.append(f"{anchor}: {sorted(extra)} in {cell[:80]}…")
    assert "&lt;None&gt;" not in out.read_text(encoding="utf-8")
    assert not problems, "\n".join(problems)
