"""A keep-alive answered by a host without the connection, ECN set up (or not) in the handshake,
and urgent data: each told from what the replay computed, on hand-built packets and on the real
sample captures through the shipped `explain` in both languages."""

from __future__ import annotations

from pathlib import Path

import pytest
from markupsafe import escape

from pcapexplain import api
from pcapexplain.explanations import finding_texts, text
from pcapexplain.model import AnalysisFlag, CaptureAnalysis, CaptureInfo, Lang, TcpFlags
from pcapexplain.narrate import NarrativeLine, Story, predecessors, story
from pcapexplain.situations import Situation
from tests import shipped
from tests.builders import ACK, PSH, RST, SYN, Conversation
from tests.conftest import SAMPLES

ECE, CWR, URG = TcpFlags.ECE, TcpFlags.CWR, TcpFlags.URG
EN, ZH = Lang.EN, Lang.ZH
KEEP_ALIVE = int(AnalysisFlag.KEEP_ALIVE)


def _built(conv: Conversation) -> CaptureAnalysis:
    return api.analyse_columns(CaptureInfo("built", 0, "", "TSHARK", 0), conv.columns())


def _told(conv: Conversation, lang: Lang = EN) -> Story:
    result = _built(conv)
    return story(result, result.connections[0], lang)


def _line(told: Story, frame: int) -> NarrativeLine:
    return next(line for line in told.lines if line.frame == frame)


def _sample_story(name: str, lang: Lang) -> Story:
    result = api.analyse(SAMPLES / name).result
    before = predecessors(result.connections)
    return story(result, result.connections[0], lang, before.get(0))


# ------------------------------------------------------------------------ keep-alive and RST


def _probe_then(answer: int, *, probe: bool = True) -> Conversation:
    """A request and reply, then the client's next segment (a keep-alive probe, or new data),
    answered by the server with `answer` at the segment's ack."""
    c = Conversation()
    c.handshake()
    c.data(c.client)
    c.data(c.server)
    c.ack(c.client)
    if probe:
        c.send(c.client, ACK, seq=c.next[c.client] - 1, advance=False, analysis=KEEP_ALIVE)
    else:
        c.data(c.client)
    c.send(c.server, answer, seq=c.next[c.server], ack=0)
    return c


@pytest.mark.parametrize("lang", tuple(Lang))
def test_a_reset_without_ack_answering_a_keep_alive_says_the_probe_found_the_connection_gone(
    lang: Lang,
) -> None:
    told = _told(_probe_then(RST), lang)
    line = _line(told, 8)
    assert line.situation is Situation.RST_KEEP_ALIVE_LOST
    assert line.text.startswith(
        text(
            lang,
            "narr.rst_keep_alive_lost",
            receiver=text(lang, "who.client"),
            sender=text(lang, "who.server"),
            sender_before="ESTABLISHED",
        )[:20]
    )
    # Nothing was sent that the reset could have lost: the data sentence is not told.
    assert "not delivered" not in line.text and "没有被接收" not in line.text


def test_the_same_reset_answering_data_is_still_told_as_a_lost_connection() -> None:
    told = _told(_probe_then(RST, probe=False))
    assert _line(told, 8).situation is Situation.RST_CONNECTION_LOST


@pytest.mark.parametrize(("probe", "cause"), [(True, "keep-alive-lost"), (False, "no-connection")])
def test_the_reset_finding_says_whether_a_probe_or_data_found_the_connection_gone(
    probe: bool, cause: str
) -> None:
    result = _built(_probe_then(RST, probe=probe))
    (reset,) = [a for a in result.anomalies if a.slug == "connection-reset"]
    assert reset.params["cause"] == cause
    for lang in Lang:
        what, why = finding_texts(lang, reset.slug, reset.params)
        keyed = text(lang, "anomaly.connection-reset.why.keep-alive-lost")
        assert (why == keyed) is probe


def test_a_reset_with_ack_after_a_keep_alive_is_an_abort_not_a_lost_connection() -> None:
    """A stack that still has the connection sets ACK on its RST: no half-open connection."""
    told = _told(_probe_then(RST | ACK))
    assert _line(told, 8).situation is Situation.RST_ABORT


# ------------------------------------------------------------------------------------- ECN


def _opened(syn: int, synack: int, *, syn_seen: bool = True) -> Conversation:
    c = Conversation()
    if syn_seen:
        c.send(c.client, syn, mss=1460)
    else:
        c.next[c.client] += 1
    c.send(c.server, synack, mss=1460)
    c.send(c.client, ACK)
    return c


def _ecn_sentences(told: Story, frame: int, lang: Lang) -> list[str]:
    line = _line(told, frame)
    keys = ("ecn_asks", "ecn_agrees", "ecn_declines", "ecn_agrees_unseen")
    found = []
    for key in keys:
        said = text(lang, f"narr.{key}", sender=text(lang, "who.server"))
        if said in line.text:
            found.append(key)
    return found


@pytest.mark.parametrize("lang", tuple(Lang))
@pytest.mark.parametrize(
    ("syn", "synack", "syn_seen", "told_syn", "told_synack"),
    [
        (SYN | ECE | CWR, SYN | ACK | ECE, True, ["ecn_asks"], ["ecn_agrees"]),
        (SYN | ECE | CWR, SYN | ACK, True, ["ecn_asks"], ["ecn_declines"]),
        # ECE and CWR both in a SYN-ACK set nothing up (RFC 3168 §6.1.1): not an agreement.
        (SYN | ECE | CWR, SYN | ACK | ECE | CWR, True, ["ecn_asks"], []),
        # A SYN that did not ask: the SYN-ACK's ECE agrees to nothing.
        (SYN, SYN | ACK | ECE, True, [], []),
        (SYN, SYN | ACK, True, [], []),
        # ECE alone in a SYN is not a request.
        (SYN | ECE, SYN | ACK, True, [], []),
        (SYN | ECE | CWR, SYN | ACK | ECE, False, None, ["ecn_agrees_unseen"]),
    ],
)
def test_ecn_in_the_handshake_is_told_from_the_syn_and_the_syn_ack_together(
    lang: Lang,
    syn: int,
    synack: int,
    syn_seen: bool,
    told_syn: list[str] | None,
    told_synack: list[str],
) -> None:
    told = _told(_opened(syn, synack, syn_seen=syn_seen), lang)
    if told_syn is not None:
        assert _ecn_sentences(told, 1, lang) == told_syn
    assert _ecn_sentences(told, 2 if syn_seen else 1, lang) == told_synack


def _congested(synack: int) -> Conversation:
    """ECN asked for; two data segments, the server's ACKs echo ECE until the client's CWR;
    later a second echo and CWR."""
    c = _opened(SYN | ECE | CWR, synack)
    c.data(c.client)  # 4
    c.send(c.server, ACK | ECE)  # 5: the first echo
    c.data(c.client)  # 6
    c.send(c.server, ACK | ECE)  # 7: repeats it
    c.send(c.client, ACK | PSH | CWR, 100)  # 8
    c.ack(c.server)  # 9
    c.send(c.server, ACK | ECE)  # 10: a new echo
    c.send(c.client, ACK | PSH | CWR, 100)  # 11
    return c


@pytest.mark.parametrize("lang", tuple(Lang))
def test_ece_and_cwr_after_ecn_was_set_up_are_told_once_per_echo(lang: Lang) -> None:
    told = _told(_congested(SYN | ACK | ECE), lang)
    echo = text(lang, "narr.ecn_echo", sender=text(lang, "who.server"))
    cwr = text(lang, "narr.ecn_cwr", sender=text(lang, "who.client"))
    told_echo = [ln.frame for ln in told.lines if echo in ln.text]
    told_cwr = [ln.frame for ln in told.lines if cwr in ln.text]
    assert (told_echo, told_cwr) == ([5, 10], [8, 11])
    assert _line(told, 6).is_summary  # frames 6-7: data and a repeated ECE, folded


def test_ece_and_cwr_without_ecn_set_up_in_the_handshake_are_not_told() -> None:
    """The server declined: ECE and CWR later are only flags (another ECN variant, a bug)."""
    told = _told(_congested(SYN | ACK))
    for key in ("narr.ecn_echo", "narr.ecn_cwr"):
        for who in ("who.client", "who.server"):
            said = text(EN, key, sender=text(EN, who))
            assert not any(said in ln.text for ln in told.lines)
    assert all(ln.is_summary for ln in told.lines if (ln.frame or 0) <= 5 <= (ln.last_frame or 0))


# ----------------------------------------------------------------------------------- urgent


@pytest.mark.parametrize("lang", tuple(Lang))
def test_a_segment_with_urg_is_told_on_its_own_and_says_so(lang: Lang) -> None:
    c = Conversation()
    c.handshake()
    c.data(c.client)
    c.ack(c.server)
    c.send(c.client, ACK | PSH | URG, 1)
    c.ack(c.server)
    told = _told(c, lang)
    urgent = text(lang, "narr.urgent", sender=text(lang, "who.client"))
    line = _line(told, 6)
    assert not line.is_summary and urgent in line.text
    assert sum(urgent in ln.text for ln in told.lines) == 1  # frame 4's plain data: no URG


# --------------------------------------------------------------- the real captures, shipped


def _explain(name: str, lang: Lang) -> str:
    done = shipped.run("explain", str(SAMPLES / name), "--lang", lang.value)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.tshark
@pytest.mark.parametrize("lang", tuple(Lang))
def test_keep_alive_reset_pcap_tells_the_probe_that_found_a_half_open_connection(
    lang: Lang, tmp_path: Path
) -> None:
    """keep_alive_reset.pcap: the client's keep-alive (8) answered by a RST without ACK at its
    ack (9), from a server that had forgotten the idle connection."""
    told = _sample_story("keep_alive_reset.pcap", lang)
    assert _line(told, 9).situation is Situation.RST_KEEP_ALIVE_LOST
    out = _explain("keep_alive_reset.pcap", lang)
    assert _line(told, 9).text in out
    assert "RFC 1122 §4.2.3.6" in out
    page = tmp_path / "keep_alive_reset.html"
    capture = str(SAMPLES / "keep_alive_reset.pcap")
    done = shipped.run("report", capture, "-o", str(page), "--lang", lang.value)
    assert done.returncode == 0, done.stderr
    params = {"side": "server", "cause": "keep-alive-lost"}
    html = page.read_text(encoding="utf-8")
    for said in finding_texts(lang, "connection-reset", params):
        assert str(escape(said)) in html


@pytest.mark.tshark
@pytest.mark.parametrize("lang", tuple(Lang))
@pytest.mark.parametrize(
    ("name", "synack_key"),
    [("ecn_negotiated.pcap", "ecn_agrees"), ("ecn_not_accepted.pcap", "ecn_declines")],
)
def test_ecn_captures_tell_the_request_and_the_answer(
    lang: Lang, name: str, synack_key: str
) -> None:
    out = _explain(name, lang)
    server = text(lang, "who.server")
    assert text(lang, "narr.ecn_asks") in out
    assert text(lang, f"narr.{synack_key}", sender=server) in out
    other = "ecn_declines" if synack_key == "ecn_agrees" else "ecn_agrees"
    assert text(lang, f"narr.{other}", sender=server) not in out


@pytest.mark.tshark
@pytest.mark.parametrize("lang", tuple(Lang))
def test_urgent_data_pcap_tells_the_urg_segment(lang: Lang) -> None:
    """urgent_data.pcap: one byte sent with MSG_OOB (8), PSH, ACK, URG."""
    told = _sample_story("urgent_data.pcap", lang)
    line = _line(told, 8)
    assert line.flags is not None and line.flags & URG
    out = _explain("urgent_data.pcap", lang)
    assert line.text in out
    assert text(lang, "narr.urgent", sender=text(lang, "who.client")) in out


@pytest.mark.tshark
@pytest.mark.parametrize("lang", tuple(Lang))
def test_ecn_congestion_pcap_tells_the_echo_and_the_cwr(lang: Lang) -> None:
    """ecn_congestion.pcap: five segments marked CE (4-8); the server's first ECE (9) and the
    client's CWR (24) are told, the repeated ECEs between (10-23) are folded."""
    told = _sample_story("ecn_congestion.pcap", lang)
    echo = text(lang, "narr.ecn_echo", sender=text(lang, "who.server"))
    cwr = text(lang, "narr.ecn_cwr", sender=text(lang, "who.client"))
    assert [ln.frame for ln in told.lines if echo in ln.text] == [9]
    assert [ln.frame for ln in told.lines if cwr in ln.text] == [24]
    out = _explain("ecn_congestion.pcap", lang)
    assert _line(told, 9).text in out and _line(told, 24).text in out


# ----------------------------------------------------------- data after a close, SO_LINGER


def _closed_then_data(answer: int | None) -> Conversation:
    """The client closes (FIN, 8) after a request and reply; the server's next segment
    acknowledges the FIN and carries 7 bytes (9); the client answers with `answer` at its ack."""
    c = Conversation()
    c.handshake()
    c.data(c.client)
    c.ack(c.server)
    c.data(c.server)
    c.ack(c.client)
    c.fin(c.client)
    c.send(c.server, ACK | PSH, 7)
    if answer is not None:
        c.send(c.client, answer, seq=c.next[c.client], ack=c.next[c.server])
    return c


@pytest.mark.parametrize("lang", tuple(Lang))
def test_data_answered_by_a_closed_port_reset_after_a_fin_is_told_as_data_after_close(
    lang: Lang,
) -> None:
    result = _built(_closed_then_data(RST))
    told = story(result, result.connections[0], lang)
    assert _line(told, 9).situation is Situation.FINACK_FIRST_DATA_REFUSED
    (unread,) = [a for a in result.anomalies if a.slug == "reset-unread-data"]
    assert (unread.params["cause"], unread.params["bytes"]) == ("data-after-close", 7)
    assert "7" in finding_texts(lang, unread.slug, unread.params)[0]


@pytest.mark.parametrize(
    ("answer", "cause"),
    [
        (None, None),  # nothing after the data: the other side may well keep receiving
        (RST | ACK, "after-fin"),  # a RST with ACK is no closed port's answer: not proven
    ],
)
def test_data_after_a_fin_without_a_closed_port_answer_stays_a_half_close(
    answer: int | None, cause: str | None
) -> None:
    result = _built(_closed_then_data(answer))
    told = story(result, result.connections[0], EN)
    assert _line(told, 9).situation is Situation.FINACK_FIRST_DATA
    found = [a.params["cause"] for a in result.anomalies if a.slug == "reset-unread-data"]
    assert found == ([cause] if cause else [])


@pytest.mark.tshark
@pytest.mark.parametrize("lang", tuple(Lang))
def test_linger_timeout_pcap_tells_the_reply_that_reached_a_closed_socket(
    lang: Lang, tmp_path: Path
) -> None:
    """linger_timeout.pcap: the server's 7-byte reply (74) after the client's FIN (73), answered
    by the client's stack with a RST without ACK at its ack (75); the report's finding says so."""
    told = _sample_story("linger_timeout.pcap", lang)
    assert _line(told, 74).situation is Situation.FINACK_FIRST_DATA_REFUSED
    out = _explain("linger_timeout.pcap", lang)
    assert _line(told, 74).text in out
    page = tmp_path / "linger.html"
    capture = str(SAMPLES / "linger_timeout.pcap")
    done = shipped.run("report", capture, "-o", str(page), "--lang", lang.value)
    assert done.returncode == 0, done.stderr
    params = {"side": "client", "cause": "data-after-close", "bytes": 7}
    what, why = finding_texts(lang, "reset-unread-data", params)
    html = page.read_text(encoding="utf-8")
    assert str(escape(what)) in html and str(escape(why)) in html


@pytest.mark.tshark
@pytest.mark.parametrize("lang", tuple(Lang))
def test_shutdown_read_pcap_is_told_as_a_reset_of_an_open_connection(lang: Lang) -> None:
    """shutdown_read.pcap: SHUT_RD sends nothing; the RST,ACK of close() with unread data (12)
    is an abort, as for any program that closes with data unread."""
    told = _sample_story("shutdown_read.pcap", lang)
    assert _line(told, 12).situation is Situation.RST_ABORT
    assert _line(told, 12).text in _explain("shutdown_read.pcap", lang)
