"""ICMP errors about TCP segments: what they say, which connection they concern, the verdict they
give an opening, the finding, and the same errors from both readers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pcapexplain import api, icmp, native
from pcapexplain.anomalies import detect
from pcapexplain.errors import PcapExplainError
from pcapexplain.icmp import IcmpKind
from pcapexplain.model import AnomalySlug, Handshake, IcmpError
from pcapexplain.reconstructor import reconstruct
from tests.builders import SYN, Conversation

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"
CLIENT, SERVER = ("10.0.0.1", 40000), ("10.0.0.2", 80)


def error(
    type_: int = 3,
    code: int = 3,
    *,
    reporter: str = SERVER[0],
    time: float = 0.005,
    seq: int = 1000,
    version: int = 4,
    frame: int = 99,
) -> IcmpError:
    """An ICMP error quoting the client's segment with seq, sent by reporter."""
    return IcmpError(frame, time, reporter, version, type_, code, *CLIENT, *SERVER, seq)


def syn_only() -> Conversation:
    c = Conversation(client=CLIENT, server=SERVER)
    c.send(c.client, SYN)
    return c


@pytest.mark.parametrize(
    ("version", "type_", "code", "kind"),
    [
        (4, 3, 3, IcmpKind.PORT_UNREACHABLE),
        (4, 3, 2, IcmpKind.PORT_UNREACHABLE),  # protocol unreachable: no TCP there at all
        (4, 3, 1, IcmpKind.HOST_UNREACHABLE),
        (4, 3, 0, IcmpKind.NET_UNREACHABLE),
        (4, 3, 13, IcmpKind.PROHIBITED),
        (4, 3, 4, IcmpKind.FRAG_NEEDED),
        (4, 11, 0, IcmpKind.TIME_EXCEEDED),
        (4, 5, 1, IcmpKind.OTHER),  # a redirect is not an unreachable
        (6, 1, 4, IcmpKind.PORT_UNREACHABLE),
        (6, 1, 1, IcmpKind.PROHIBITED),
        (6, 1, 3, IcmpKind.HOST_UNREACHABLE),
        (6, 2, 0, IcmpKind.FRAG_NEEDED),  # packet too big
        (6, 3, 0, IcmpKind.TIME_EXCEEDED),
    ],
)
def test_kind_reads_type_and_code_per_ip_version(
    version: int, type_: int, code: int, kind: IcmpKind
) -> None:
    assert icmp.kind_of(error(type_, code, version=version)) is kind


def test_an_unreachable_answer_to_the_syn_is_its_own_verdict() -> None:
    conns, _ = reconstruct(syn_only().columns(), [error()])
    assert conns[0].handshake is Handshake.UNREACHABLE
    assert conns[0].icmp == (error(),)


def test_path_mtu_news_and_time_exceeded_do_not_end_an_opening() -> None:
    for news in (error(3, 4), error(11, 0)):
        conns, _ = reconstruct(syn_only().columns(), [news])
        assert conns[0].handshake is Handshake.UNANSWERED, news
        assert conns[0].icmp == (news,)


def test_an_error_about_the_servers_segment_gives_no_opening_verdict() -> None:
    """Only an error about the client's SYN says the opening failed."""
    about_server = IcmpError(9, 0.005, CLIENT[0], 4, 3, 3, *SERVER, *CLIENT, 5000)
    conns, _ = reconstruct(syn_only().columns(), [about_server])
    assert conns[0].handshake is Handshake.UNANSWERED


def test_on_one_address_the_port_says_whose_segment_it_was() -> None:
    """Loopback: both ends are 127.0.0.1, so only the port tells that the error quotes the
    server's segment, which says nothing about the client's opening."""
    c = Conversation(client=("127.0.0.1", 40000), server=("127.0.0.1", 80))
    c.send(c.client, SYN)
    about_server = IcmpError(9, 0.005, "127.0.0.1", 4, 3, 3, "127.0.0.1", 80, "127.0.0.1", 40000, 1)
    about_client = IcmpError(9, 0.005, "127.0.0.1", 4, 3, 3, "127.0.0.1", 40000, "127.0.0.1", 80, 1)
    for error_, verdict in (
        (about_server, Handshake.UNANSWERED),
        (about_client, Handshake.UNREACHABLE),
    ):
        conns, _ = reconstruct(c.columns(), [error_])
        assert conns[0].handshake is verdict


def test_an_error_belongs_to_the_incarnation_that_had_begun() -> None:
    """Two connections on one 4-tuple: the error at 1.5 s concerns the second, not the first."""
    c = Conversation(client=CLIENT, server=SERVER)
    c.send(c.client, SYN)
    c.clock = 1.0
    c.send(c.client, SYN, seq=9000)
    late = error(time=1.5, seq=9000)
    conns, _ = reconstruct(c.columns(), [late])
    assert [x.icmp for x in conns] == [(), (late,)]
    assert [x.handshake for x in conns] == [Handshake.UNANSWERED, Handshake.UNREACHABLE]


def test_errors_about_no_captured_connection_are_left_out() -> None:
    stranger = IcmpError(9, 0.005, "10.9.9.9", 4, 3, 1, "10.0.0.7", 1234, "10.0.0.8", 22, 1)
    conns, _ = reconstruct(syn_only().columns(), [stranger])
    assert conns[0].icmp == ()


@pytest.mark.parametrize(
    ("reporter", "source"), [(SERVER[0], "destination"), ("192.0.2.1", "router")]
)
def test_the_finding_says_what_the_error_said_and_who_sent_it(reporter: str, source: str) -> None:
    packets = syn_only().columns()
    conns, states = reconstruct(packets, [error(3, 1, reporter=reporter)])
    found = [a for a in detect(packets, states, conns) if a.slug is AnomalySlug.ICMP_ERROR]
    assert len(found) == 1
    assert found[0].params == {
        "count": 1,
        "kind": "host-unreachable",
        "source": source,
        "type": 3,
        "code": 1,
    }
    assert found[0].frames == (1,)  # the SYN it quotes


@pytest.mark.tshark
@pytest.mark.parametrize("reader", ["native", "tshark"])
def test_the_sample_shows_three_rejections_through_the_shipped_command(
    reader: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from pcapexplain.cli import main

    assert main(["explain", str(SAMPLES / "icmp_unreachable.pcap"), "--reader", reader]) == 0
    out = capsys.readouterr().out
    assert out.count("handshake: unreachable (an ICMP error answered the SYN)") == 3
    for kind in ("port unreachable", "host unreachable", "administratively prohibited"):
        assert f"destination unreachable, {kind}" in out
    assert out.count("the destination itself") == 3
    assert out.count("Flagged: ICMP error") == 3


def _corpus() -> list[Path]:
    found = [p for p in SAMPLES.glob("*.pcap")]
    root = os.environ.get("PCAPEXPLAIN_TCPDUMP_CORPUS")
    if root and Path(root).is_dir():
        found += sorted(p for p in Path(root).rglob("*") if p.suffix in (".pcap", ".pcapng"))
    return found


@pytest.mark.tshark
def test_both_readers_find_the_same_icmp_errors() -> None:
    """Every sample capture and, when PCAPEXPLAIN_TCPDUMP_CORPUS is set, every tcpdump capture:
    the native reader reports exactly the ICMP errors (and what they quote) that tshark does."""
    from pcapexplain import loader

    compared = with_errors = 0
    for path in _corpus():
        try:
            theirs = loader.load_capture(path).icmp
            ours = native.load_capture(path).icmp
        except PcapExplainError:
            continue  # a file one reader refuses is the readers' equivalence test's business
        assert ours == theirs, path.name
        compared += 1
        with_errors += bool(theirs)
    assert compared and with_errors, (compared, with_errors)


def test_a_report_names_the_error() -> None:
    result = api.analyse(SAMPLES / "icmp_unreachable.pcap", reader="native").result
    assert [c.handshake for c in result.connections] == [Handshake.UNREACHABLE] * 3
    kinds = [a.params["kind"] for a in result.anomalies]
    assert kinds == ["port-unreachable", "host-unreachable", "prohibited"]
