"""Packets captured twice: the rule on hand-built lists, and the shipped commands on the real
captured_twice.pcap (a router's capture on `any`: every packet as it enters and as it leaves)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from pcapexplain import copies
from pcapexplain.cli import main
from pcapexplain.explanations import in_lang, plural, text
from pcapexplain.model import NO_VALUE, Capture, CaptureInfo, Lang
from tests.builders import ACK, PSH, Conversation, Packet, columns

SAMPLE = Path(__file__).resolve().parent.parent / "sample_captures" / "captured_twice.pcap"


def _exchange(ip_id: int | None = 7) -> tuple[Conversation, Packet]:
    """A handshake and a request (its IP identification given, checksum field 0x1234)."""
    c = Conversation()
    c.handshake()
    request = c.send(c.client, ACK | PSH, 100)
    request.ip_id, request.tcp_sum = ip_id, 0x1234
    return c, request


def _again(c: Conversation, packet: Packet, after: float, **changed: object) -> Packet:
    """packet recorded once more, `after` seconds later, with the fields given changed."""
    copy = replace(packet, time=packet.time + after, **changed)  # type: ignore[arg-type]
    c.packets.append(copy)
    return copy


def _found(c: Conversation) -> dict[int, int]:
    return copies.copies(columns(c.packets))


def test_a_copy_with_the_same_identification_is_left_out_even_behind_other_packets() -> None:
    """A router's queue may hold the copy back behind the server's answer."""
    c, request = _exchange()
    c.ack(c.server)
    _again(c, request, 0.3)
    assert _found(c) == {5: 3}


def test_a_resend_has_a_new_identification_and_stays() -> None:
    c, request = _exchange()
    _again(c, request, 0.0001, ip_id=8)
    assert _found(c) == {}


@pytest.mark.parametrize("ip_id", (NO_VALUE, 0))
def test_without_an_identification_only_an_immediate_copy_counts(ip_id: int) -> None:
    """IPv6 has none; Linux SYN-ACKs and FreeBSD packets carry 0."""
    c, request = _exchange(ip_id)
    _again(c, request, copies.COPY_GAP / 2)
    assert _found(c) == {4: 3}
    c, request = _exchange(ip_id)
    _again(c, request, copies.COPY_GAP * 5)  # as soon as a resend could come: not a copy
    assert _found(c) == {}


def test_without_an_identification_a_packet_of_the_peer_between_makes_it_a_resend() -> None:
    """Duplicate ACKs with one timestamp tick: each answers a segment of the other side."""
    c, request = _exchange(NO_VALUE)
    c.data(c.server, 10)
    _again(c, request, copies.COPY_GAP / 2)
    assert _found(c) == {}


@pytest.mark.parametrize("ip_id", (NO_VALUE, 0, 7))
def test_the_same_timestamp_more_than_a_second_later_is_a_copy(ip_id: int) -> None:
    """A router's queue held the first copy back (neighbour discovery); every timestamp clock
    ticks at least once a second (RFC 7323 §5.4), so a resend would carry a new TSval."""
    c, request = _exchange(ip_id)
    request.tsval = 4242
    c.ack(c.server)  # even with the other side's packet in between
    _again(c, request, copies.TS_TICK_MAX * 1.1)
    assert _found(c) == {5: 3}


def test_late_with_a_new_timestamp_or_without_one_it_is_a_resend() -> None:
    c, request = _exchange(NO_VALUE)
    request.tsval = 4242
    _again(c, request, copies.TS_TICK_MAX * 1.1, tsval=5300)
    assert _found(c) == {}
    c, request = _exchange(NO_VALUE)  # no timestamp option: nothing tells a copy from a resend
    _again(c, request, copies.TS_TICK_MAX * 1.1)
    assert _found(c) == {}
    c, request = _exchange(NO_VALUE)  # a TSval of 0: a clock that does not run
    request.tsval = 0
    _again(c, request, copies.TS_TICK_MAX * 1.1)
    assert _found(c) == {}


def test_the_same_timestamp_within_a_second_proves_nothing_without_more() -> None:
    """A clock ticking once a second (RFC 7323 allows it) gives a resend 0.5 s later the same
    TSval."""
    c, request = _exchange(NO_VALUE)
    request.tsval = 4242
    _again(c, request, copies.TS_TICK_MAX / 2)
    assert _found(c) == {}


def test_another_4_tuples_packet_with_the_same_fields_between_hides_no_copy() -> None:
    """Found whole as in a part holding the 4-tuple alone (shard_run reads large files so)."""
    c, request = _exchange()
    c.packets.append(replace(request, src=("10.0.0.9", 4000)))  # the same seq, ack, sum and id
    _again(c, request, 0.0001)
    assert _found(c) == {5: 3}


def test_a_header_cut_before_its_checksum_is_never_a_copy() -> None:
    c, request = _exchange()
    request.tcp_sum = NO_VALUE
    _again(c, request, 0.0001)
    assert _found(c) == {}


def test_any_field_its_sender_sets_differs_and_it_is_no_copy() -> None:
    for change in ({"seq": 5}, {"ack": 9}, {"window": 1}, {"flags": ACK}, {"length": 99}):
        c, request = _exchange()
        _again(c, request, 0.0001, **change)
        assert _found(c) == {}, change


def test_three_records_of_one_packet_leave_one() -> None:
    c, request = _exchange()
    _again(c, request, 0.0001)
    _again(c, request, 0.0002)
    assert _found(c) == {4: 3, 5: 4}
    info = CaptureInfo(path="x", size_bytes=0, sha256="", tshark_version="", total_frames=6)
    kept = copies.without_copies(Capture(info=info, packets=columns(c.packets)))
    assert list(kept.packets.frame) == [1, 2, 3, 4]
    assert len(kept.info.warnings) == 1
    assert kept.info.copies == ((5, 4), (6, 4))  # the third copy names the kept first one


def _warning(c: Conversation, lang: Lang = Lang.EN) -> str:
    info = CaptureInfo(path="x", size_bytes=0, sha256="", tshark_version="", total_frames=0)
    kept = copies.without_copies(Capture(info=info, packets=columns(c.packets)))
    (warning,) = kept.info.warnings
    return in_lang(warning, lang)


@pytest.mark.parametrize("ip_id", (NO_VALUE, 0))
def test_the_warning_names_what_was_compared_without_an_identification(ip_id: int) -> None:
    """IPv6: no identification was compared, only the time and the other side's silence."""
    c, request = _exchange(ip_id)
    _again(c, request, copies.COPY_GAP / 2)
    for lang in Lang:
        said = _warning(c, lang)
        assert text(lang, "warning.compared.weak", gap="1") in said
        assert text(lang, "warning.compared.strong") not in said
    assert "identification" not in _warning(c).split("(there was no")[0]


def test_the_warning_counts_copies_matched_by_each_rule() -> None:
    c, request = _exchange(7)
    _again(c, request, 0.0001)
    for lang in Lang:
        assert text(lang, "warning.compared.strong") in _warning(c, lang)
    answer = c.send(c.server, ACK)
    answer.ip_id, answer.tcp_sum = 0, 0x4321
    _again(c, answer, copies.COPY_GAP / 2)
    said = _warning(c)
    assert "; 1 copy also had the same IP identification, 1 copy had none" in said


def test_the_warning_names_the_timestamp_rule() -> None:
    c, request = _exchange(NO_VALUE)
    request.tsval = 4242
    _again(c, request, copies.TS_TICK_MAX * 1.1)
    for lang in Lang:
        assert _warning(c, lang).count(text(lang, "warning.compared.late", tick="1")) == 1
    _again(c, request, copies.TS_TICK_MAX * 1.1 + copies.COPY_GAP / 2)  # and one right after
    late = text(Lang.EN, "warning.compared.also_late", others="", late="1 copy", tick="1")
    assert late in _warning(c) and text(Lang.EN, "warning.compared.weak", gap="1") in _warning(c)


# ------------------------------------------------------------------ the shipped commands


@pytest.mark.tshark
@pytest.mark.parametrize("reader", ("native", "tshark"))
def test_connections_counts_each_packet_once(
    reader: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["connections", str(SAMPLE), "--format", "json", "--reader", reader]) == 0
    captured = capsys.readouterr()
    (row,) = json.loads(captured.out)
    assert row["packets_to_server"] + row["packets_to_client"] == 10
    assert row["retransmissions_to_server"] == row["retransmissions_to_client"] == 0
    assert row["anomalies"] == []
    assert (row["handshake"], row["teardown"]) == ("complete", "three_way")
    assert "10 packets were captured twice" in captured.err
    # The SYN-ACK's copy (frame 4) carries identification 0, as Linux's SYN-ACKs do: it matched
    # by the time and the client's silence, the nine others by their identification.
    assert "9 copies also had the same IP identification, 1 copy had none" in captured.err


@pytest.mark.tshark
@pytest.mark.parametrize("lang", tuple(Lang))
def test_explain_names_the_frames_a_range_spans_but_no_count_includes(
    lang: Lang, capsys: pytest.CaptureFixture[str]
) -> None:
    """ "frames 7–13" spans the copies 8, 10 and 12: the story names every left-out frame."""
    assert main(["explain", str(SAMPLE), "--lang", lang.value]) == 0
    out = capsys.readouterr().out
    frames = text(lang, "ui.list_sep").join(str(f) for f in range(2, 21, 2))
    assert plural(lang, "ui.copies", 10, frames=frames) in out
    assert text(lang, "ui.frames", first=7, last=13) in out
    assert plural(lang, "narr.sum.acks", 2) in out  # the range's counts: kept packets only


@pytest.mark.tshark
@pytest.mark.parametrize("lang", tuple(Lang))
def test_report_counts_the_copies_apart_from_the_tcp_packets(lang: Lang, tmp_path: Path) -> None:
    page = tmp_path / "r.html"
    assert main(["report", str(SAMPLE), "--lang", lang.value, "-o", str(page)]) == 0
    html = page.read_text(encoding="utf-8")
    assert text(lang, "report.fact.copies_left_out", shown="20 / 10 TCP", count="10") in html


@pytest.mark.tshark
@pytest.mark.parametrize("lang", tuple(Lang))
def test_explain_tells_no_copy_as_a_resend(lang: Lang, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", str(SAMPLE), "--lang", lang.value]) == 0
    captured = capsys.readouterr()
    counted = plural(lang, "warning.packets", 10)
    assert counted in captured.err
    both = text(lang, "warning.compared.both", strong="9", weak="1", gap="1")
    assert both.split("9")[0] in captured.err.replace("\n", "")
    assert plural(lang, "warning.copy_count", 9) in captured.err
    assert text(lang, "warning.compared.strong") not in captured.err
    flagged = text(lang, "narr.flagged", titles="").split(":")[0].split("：")[0]
    again = "again (seq" if lang is Lang.EN else "又发了一次"
    assert flagged not in captured.out and again not in captured.out
    for frame in (2, 4, 16):  # the copies of the SYN, the SYN-ACK and the client's FIN
        shown = f"frame {frame} ·" if lang is Lang.EN else f"帧 {frame} ·"
        assert shown not in captured.out


# ------------------------------------------------- IPv6, where no identification can be compared

SAMPLE_V6 = SAMPLE.with_name("captured_twice_v6.pcap")


def _client_syns(path: Path) -> list[tuple[int, float, int]]:
    """(frame, time, TSval) of every SYN without ACK, as tshark prints them."""
    fields = ["frame.number", "frame.time_epoch", "tcp.options.timestamp.tsval"]
    command = ["tshark", "-n", "-r", str(path), "-Y", "tcp.flags == 0x002", "-T", "fields"]
    for name in fields:
        command += ["-e", name]
    lines = subprocess.run(command, capture_output=True, text=True, check=True).stdout.split("\n")
    return [(int(f), float(t), int(v)) for f, t, v in (ln.split("\t") for ln in lines if ln)]


@pytest.mark.tshark
@pytest.mark.parametrize("lang", tuple(Lang))
def test_a_syn_held_back_by_the_router_is_a_copy_not_a_resend(
    lang: Lang, capsys: pytest.CaptureFixture[str]
) -> None:
    """captured_twice_v6.pcap: the router holds the first SYN until neighbour discovery ends,
    and lets it out beside the client's resend a second later."""
    syns = _client_syns(SAMPLE_V6)
    first_seen: dict[int, tuple[int, float]] = {}
    late = []
    for frame, time, tsval in syns:
        if tsval in first_seen and time - first_seen[tsval][1] > copies.TS_TICK_MAX:
            late.append(frame)
        first_seen.setdefault(tsval, (frame, time))
    assert len(late) == 1 and len(first_seen) == 2  # one SYN held back; the SYN and its resend
    assert main(["explain", str(SAMPLE_V6), "--lang", lang.value]) == 0
    captured = capsys.readouterr()
    one = plural(lang, "warning.copy_count", 1)
    assert text(lang, "warning.compared.also_late", others="", late=one, tick="1") in captured.err
    shown = f"frame {late[0]} ·" if lang is Lang.EN else f"帧 {late[0]} ·"
    assert shown not in captured.out
    flagged = text(lang, "anomaly.syn-retransmitted.title")
    assert captured.out.count(flagged) == 1  # the client's one resend, told once
