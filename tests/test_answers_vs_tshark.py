"""The computed answers agree with tshark's own fields on every sample capture.

The reference (tests/tshark_reference.py) reads tcp.seq_raw, tcp.ack_raw, tcp.seq, tcp.ack,
tcp.options.mss_val, tcp.options.wscale.shift, tcp.window_size, frame.number and
frame.time_epoch straight from tshark, and never calls pcapexplain.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from pcapexplain import api
from pcapexplain.model import Closer
from pcapexplain.questions import (
    Computed,
    Params,
    QuestionKind,
    Side,
    Unanswerable,
    View,
    extract,
)
from tests import tshark_reference

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = sorted((ROOT / "sample_captures").glob("*.pcap")) + sorted(
    p for p in (ROOT / "examples" / "class" / "submissions").rglob("*.pcap")
)
SEQUENCE = {
    QuestionKind.CLIENT_ISN: "client_isn",
    QuestionKind.SYNACK_SEQ: "synack_seq",
    QuestionKind.SYNACK_ACK: "synack_ack",
    QuestionKind.FIRST_DATA_SEQ: "first_data_seq",
    QuestionKind.FIN_SEQ: "fin_seq",
    QuestionKind.FIN_ACK: "fin_ack",
}

pytestmark = pytest.mark.tshark


@cache
def analysed(path: Path) -> api.Analysis:
    return api.analyse(path)


def cases() -> list[tuple[Path, int]]:
    return [(p, c.id) for p in CAPTURES for c in analysed(p).result.connections]


def ask(view: View, kind: QuestionKind, side: Side = Side.CLIENT) -> Computed | None:
    found = extract(kind, view, Params(side=side))
    return None if isinstance(found, Unanswerable) else found


@pytest.mark.parametrize(("path", "conn_id"), cases(), ids=lambda v: getattr(v, "name", str(v)))
def test_computed_answers_match_tsharks_fields(path: Path, conn_id: int) -> None:
    result = analysed(path).result
    conn = result.connections[conn_id]
    view = View(result.packets, result.states, conn)
    frames = {result.packets.frame[i] for i in conn.packet_index}
    ref = tshark_reference.answers(path, conn.tshark_streams, conn.server.port, frames)
    # tshark numbers each stream from its own first SYN: relative numbers compare only where the
    # connection is one whole stream.
    split = (
        len(conn.tshark_streams) > 1
        or sum(c.tshark_streams == conn.tshark_streams for c in result.connections) > 1
    )
    illegal = any(a.slug == "illegal-flags" for a in result.anomalies_of(conn.id))
    for kind, key in SEQUENCE.items():
        if illegal and key.startswith("fin"):
            continue  # a scanner's FIN+PSH+URG is no close; the reference takes any FIN
        got = ask(view, kind)
        if key not in ref:
            assert got is None, (kind, got)
            continue
        if kind is QuestionKind.FIN_SEQ and conn.closed_first is Closer.UNKNOWN:
            assert got is None, kind  # one direction: the first FIN captured may not be the first
            continue
        raw, relative, frame = ref[key]
        assert got is not None, kind
        assert got.value == raw, kind
        # A connection split off a shared stream (a stale SYN-ACK and its RST) is numbered from
        # the SYN its own ack names; one spanning two streams, from its first SYN.
        assert split or got.relative == relative, kind
        assert frame in got.accepted and got.evidence[0] == frame, kind
    for kind, key in (
        (QuestionKind.CLIENT_MSS, "client_mss"),
        (QuestionKind.CLIENT_WSCALE, "client_wscale"),
    ):
        got = ask(view, kind)
        expected = ref.get(key, "absent")
        if expected is None and _options_cut(view):
            # tshark has no field for an option the snapshot length cut off, as for one never
            # offered; whether it was offered is unknown, so no answer is computed.
            expected = "absent"
        assert (got.value if got else "absent") == expected, kind
    window = ask(view, QuestionKind.MIN_WINDOW, Side.SERVER)
    # In a stream tshark starts at a SYN inside the connection (a reconnecting client's), the
    # server's segments before that stream's SYN-ACK have no known window scale: tshark leaves
    # them unscaled.
    spans = len(conn.tshark_streams) > 1
    if _options_cut(view):
        # tshark scales nothing when the snapshot length cut the shifts off, as if never offered;
        # the factor is unknown, so no answer is computed.
        assert window is None, "min_window"
    else:
        assert spans or (window.value if window else None) == ref.get("min_window"), "min_window"
    rtt = ask(view, QuestionKind.HANDSHAKE_RTT)
    if "handshake_rtt" in ref:
        assert rtt is not None and rtt.value == pytest.approx(ref["handshake_rtt"], abs=2e-6)
    resent = ask(view, QuestionKind.RETRANSMITTED_FRAMES)
    assert resent is not None and list(resent.value) == ref["retransmitted_frames"]  # type: ignore[arg-type]
    samples = ask(view, QuestionKind.SAMPLE_RTTS)
    expected = ref["sample_rtts"]
    if samples is None:
        assert expected == []
    else:
        assert samples.evidence == tuple(frame for _, frame in expected)
        assert list(samples.value) == pytest.approx([s for s, _ in expected], abs=2e-6)  # type: ignore[arg-type]
        estimate = ask(view, QuestionKind.ESTIMATED_RTT)
        assert estimate is not None
        assert estimate.value == pytest.approx(tshark_reference.estimated([s for s, _ in expected]))
    if not illegal and "first_fin_sender" in ref:
        sender = ask(view, QuestionKind.FIRST_FIN_SENDER)
        if conn.closed_first is Closer.UNKNOWN:
            assert sender is None  # the reference's first FIN is only the first one captured
        else:
            assert sender is not None
            assert (sender.value, sender.evidence[0]) == ref["first_fin_sender"]


def test_every_sample_capture_is_covered() -> None:
    assert len(CAPTURES) >= 20
    assert len(cases()) >= 30


def _options_cut(view: View) -> bool:
    """The first SYN's options were cut off by the snapshot length."""
    syns = view.syns()
    return bool(syns) and bool(view.packets.header_cut[syns[0]])
