"""A capture analysed in parts (shards.py, shard_run.py) gives what it gives analysed whole.

The shipped `connections` command, forced to cut every capture into 2 and 3 parts
(`shard_run._FORCE_PARTS`), writes byte-identical CSV and JSON on every sample capture, the Zeek
and tcpdump corpora and generated captures. Below the command, each part's findings (every
parameter) equal the whole capture's when the parts share the capture-wide facts
(`anomalies.capture_wide`), and hand-built captures show each fact going wrong when a part
computes it alone. A failure in a child reaches the user as it does in one process, and Ctrl-C
leaves no child behind.
"""

from __future__ import annotations

import gc
import io
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from pcapexplain import anomalies, api, budget, reconstructor, records, shard_run, shards
from pcapexplain.anomalies import context
from pcapexplain.cli import main
from pcapexplain.errors import EmptyCapture
from pcapexplain.explanations import said
from pcapexplain.model import (
    AnalysisFlag,
    AnomalySlug,
    Capture,
    CaptureAnalysis,
    CaptureInfo,
    ChecksumStatus,
    IcmpError,
    PacketColumns,
)
from tests import shipped
from tests.builders import ACK, PSH, SYN, Conversation, closed_three_way, merged

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "sample_captures").glob("*.pcap"))
PARTS = (2, 3)
BAD = int(ChecksumStatus.BAD)
Row = tuple[int, str, str, tuple[int, ...], tuple[tuple[str, Any], ...]]


# ------------------------------------------------------------------------ the shipped command


def _command(
    path: Path, fmt: str, out: Path, parts: int | None, reader: str = "auto"
) -> tuple[int, bytes]:
    """`pcapexplain connections PATH --format FMT -o OUT --reader READER` with parts forced
    (None: as shipped); its exit status and what it wrote."""
    shard_run._FORCE_PARTS = parts
    try:
        status = main(
            ["connections", str(path), "--format", fmt, "-o", str(out), "--reader", reader]
        )
    finally:
        shard_run._FORCE_PARTS = None
    return status, out.read_bytes() if status == 0 else b""


class _Merges:
    """Counts the runs that really merged two parts or more (a capture of one 4-tuple has one):
    records (JSON) or rows already written as CSV lines in the parts."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.parts: list[int] = []
        for module, name in ((shards, "merge"), (records, "write_csv_rows")):
            monkeypatch.setattr(module, name, self._counted(getattr(module, name)))

    def _counted(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def counted(parts: Sequence[Any], *rest: Any) -> Any:
            self.parts.append(len(parts))
            return real(parts, *rest)

        return counted


def _same_output(
    paths: Sequence[Path], tmp_path: Path, merges: _Merges, reader: str = "auto"
) -> int:
    """Asserts identical output with 1, 2 and 3 processes, in CSV and JSON; returns how many
    captures ran in two parts or more."""
    split = 0
    for path in paths:
        for fmt in ("csv", "json"):
            whole = _command(path, fmt, tmp_path / f"whole.{fmt}", None, reader)
            for parts in PARTS:
                before = len(merges.parts)
                cut = _command(path, fmt, tmp_path / f"cut{parts}.{fmt}", parts, reader)
                assert cut == whole, f"{path.name} in {parts} parts, {fmt}"
                split += len(merges.parts) > before and merges.parts[-1] >= 2
    return split


def test_sample_captures_give_the_same_csv_and_json_in_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    merges = _Merges(monkeypatch)
    split = _same_output(SAMPLES, tmp_path, merges)
    assert split >= 12  # most samples hold one connection; a dozen runs had several parts


@pytest.mark.slow
def test_zeek_corpus_gives_the_same_csv_and_json_in_parts(
    zeek_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    traces = sorted((zeek_corpus / "traces").iterdir())
    assert traces
    assert _same_output(traces, tmp_path, _Merges(monkeypatch)) > 0


@pytest.mark.slow
def test_tcpdump_corpus_gives_the_same_output_in_parts(
    tcpdump_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read natively (the parts are cut after reading, so the reader does not matter; tshark
    would take minutes here); the files it cannot read fail the same way in both."""
    traces = sorted((tcpdump_corpus / "traces").iterdir())
    assert traces
    assert _same_output(traces, tmp_path, _Merges(monkeypatch), "native") > 20


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated capture of 40 connections: three parts, all of them busy."""
    return shipped.generated(tmp_path_factory.mktemp("small"), "--connections", "40", "--seed", "4")


@pytest.mark.slow
def test_generated_captures_give_the_same_csv_and_json_in_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planted loss (fast retransmit, timeout, upstream), many connections open at once, and a
    capture cut short with connections open at its end."""
    paths = [
        shipped.generated(tmp_path, "--connections", "300", "--seed", "1"),
        shipped.generated(tmp_path, "--connections", "300", "--seed", "2"),
        shipped.generated(tmp_path, "--packets", "6000", "--seed", "3"),
    ]
    assert _same_output(paths, tmp_path, _Merges(monkeypatch)) == len(paths) * 4


def test_csv_fields_that_need_quotes_are_the_same_in_parts(
    small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The capture's name, in every row, needs quotes: each part's lines are written by
    csv.writer rather than the %-format, and numbered apart from them."""
    named = tmp_path / 'odd, "name"\nhere.pcap'
    named.write_bytes(small.read_bytes())
    merges = _Merges(monkeypatch)
    assert _same_output([named], tmp_path, merges) == 4  # CSV and JSON, 2 and 3 parts
    text = (tmp_path / "cut3.csv").read_text()
    assert '"odd, ""name""\nhere.pcap"' in text


def test_csv_rows_are_numbered_by_first_frame_whichever_part_wrote_them(small: Path) -> None:
    from pcapexplain import native

    single = records.connection_records(api.analyse_capture(native.load_capture(small)), "x")
    assert len(single) == 40
    whole = io.StringIO()
    records.write_csv(single, whole)
    parts = [records.csv_rows(list(reversed(single[1:]))), records.csv_rows(single[:1])]
    cut = io.StringIO()
    assert records.write_csv_rows(parts, cut) == len(single)
    assert cut.getvalue() == whole.getvalue()
    assert [line.split(",")[0] for line in whole.getvalue().splitlines()[1:]] == [
        str(r.id) for r in single
    ]


# ------------------------------------------------------------------ findings, every parameter

INFO = CaptureInfo("hand-built", 0, "", "", 0, reader="native")


def _described(result: CaptureAnalysis) -> list[Row]:
    """Every finding, its connection (and a `previous` connection) named by first frame."""
    first = {c.id: c.first_frame for c in result.connections}
    found = []
    for a in result.anomalies:
        params = {k: first[int(v)] if k == "previous" else v for k, v in a.params.items()}
        found.append(
            (first[a.connection], a.slug.value, a.severity.value, a.frames, _sorted(params))
        )
    return sorted(found)


def _sorted(params: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(params.items()))


def _whole(packets: PacketColumns, icmp: Sequence[IcmpError] = ()) -> list[Row]:
    return _described(api.analyse_columns(INFO, packets, icmp=icmp))


def _in_parts(
    packets: PacketColumns,
    icmp: Sequence[IcmpError],
    parts: int,
    *,
    alone: bool = False,
) -> list[Row] | None:
    """The parts' findings, each part checked with the capture's facts (combined from every
    part's tally), or with alone, with its own (what a part would compute by itself); None when
    the capture has fewer 4-tuples than parts."""
    where = shards.split(packets, icmp, parts)
    if where.parts != parts:
        return None
    pieces = [shards.part(packets, icmp, where, k) for k in range(where.parts)]
    built = [reconstructor.reconstruct(p.packets, p.icmp) for p in pieces]
    tallies = [anomalies.tally(p.packets, s, c) for p, (c, s) in zip(pieces, built, strict=True)]
    wide = anomalies.combine(tallies)
    found: list[Row] = []
    for piece, (conns, states), tally in zip(pieces, built, tallies, strict=True):
        facts = anomalies.combine([tally]) if alone else wide
        findings = anomalies.detect(piece.packets, states, conns, facts)
        result = CaptureAnalysis(INFO, piece.packets, states, conns, findings, {})
        found += _described(result)
    return sorted(found)


def test_findings_with_every_parameter_are_the_same_in_parts(small: Path) -> None:
    from pcapexplain import native

    split = 0
    for capture in (native.load_capture(str(p)) for p in [*SAMPLES, small]):
        whole = _whole(capture.packets, capture.icmp)
        for parts in PARTS:
            cut = _in_parts(capture.packets, capture.icmp, parts)
            if cut is not None:
                split += 1
                assert cut == whole, f"{capture.info.path} in {parts} parts"
    assert split >= 5  # the generated capture in 2 and 3, and the samples of several 4-tuples


def _apart(build: Callable[[int], PacketColumns], first_frames: tuple[int, int]) -> PacketColumns:
    """build(port) for the first client port that puts the two frames' 4-tuples in different
    parts of two (the split is the same in every run: a hash of the addresses' bytes)."""
    for port in range(41000, 41200):
        packets = build(port)
        where = shards.split(packets, (), 2)
        a, b = (packets.frame.index(f) for f in first_frames)
        if where.parts == 2 and where.row_part[a] != where.row_part[b]:
            return packets
    raise AssertionError("no port puts them apart")


def _offload_across_parts(port: int) -> PacketColumns:
    """10.0.0.1's bad checksum that 10.0.0.2 acknowledged (offload, then, on all its
    connections), and its one bad segment among good ones to 10.0.0.3 (damage, alone)."""
    a = Conversation()
    a.handshake()
    a.data(a.client)  # bad, acknowledged by the server's reply
    a.data(a.server)
    a.ack(a.client)
    b = Conversation(client=("10.0.0.1", port), server=("10.0.0.3", 80), step=0.011)
    b.handshake()
    b.data(b.client)  # bad, then resent: unacknowledged
    b.send(
        b.client, ACK | PSH, 100, seq=b.client_isn + 1, analysis=int(AnalysisFlag.RETRANSMISSION)
    )
    b.data(b.server)
    packets = merged(a, b)
    bad = {(p.time, p.src[1]) for p in (a.packets[3], b.packets[3])}  # the client data
    packets.tcp_checksum = [
        BAD if sent in bad else 0 for sent in zip(packets.time, packets.sport, strict=True)
    ]
    return packets


def test_an_offloading_host_seen_in_another_part_is_offloading_in_every_part() -> None:
    packets = _apart(_offload_across_parts, (1, 2))
    whole = _whole(packets)
    slugs = {row[1] for row in whole}
    assert AnomalySlug.CHECKSUM_OFFLOAD.value in slugs
    assert AnomalySlug.BAD_CHECKSUM.value not in slugs
    assert _in_parts(packets, (), 2) == whole
    alone = {row[1] for row in _in_parts(packets, (), 2, alone=True) or ()}
    assert AnomalySlug.BAD_CHECKSUM.value in alone  # the part without the ACK calls it damage


def _unanswered_then_long(port: int) -> PacketColumns:
    """SYNs nobody answers, in the first seconds; another connection goes on for 100 s."""
    a = Conversation(step=1.0)
    for _ in range(3):
        a.send(a.client, SYN, seq=a.client_isn, mss=1460)
    b = Conversation(client=("10.0.0.5", port), server=("10.0.0.6", 443), step=10.0)
    b.handshake()
    for _ in range(8):
        b.data(b.client)
        b.ack(b.server)
    return merged(a, b)


def test_an_unanswered_syn_waited_until_the_capture_ended_not_its_part() -> None:
    packets = _apart(_unanswered_then_long, (1, 2))
    whole = _whole(packets)
    unanswered = [r for r in whole if r[1] == AnomalySlug.SYN_UNANSWERED.value]
    assert ("variant", "timed-out") in unanswered[0][4]
    assert _in_parts(packets, (), 2) == whole
    alone = [r for r in _in_parts(packets, (), 2, alone=True) or () if r[1] == unanswered[0][1]]
    assert ("variant", "at-capture-end") in alone[0][4]


def _small_mss_elsewhere(port: int) -> PacketColumns:
    """A connection that announces MSS 536, and another (MSS 1400/1460) with 1000-byte
    segments: larger than the capture's smallest MSS, so notable rows of the whole capture."""
    a = Conversation()
    a.send(a.client, SYN, mss=536)
    a.send(a.server, SYN | ACK, mss=536)
    a.ack(a.client)
    b = Conversation(client=("10.0.0.7", port), server=("10.0.0.8", 80), step=0.013)
    b.handshake()
    for _ in range(4):
        b.data(b.client, 1000)
        b.ack(b.server)
    return merged(a, b)


def _notable_frames(packets: PacketColumns, min_mss: int | None) -> set[int]:
    """Frames of the notable rows, with this smallest MSS (None: the capture's own)."""
    conns, states = reconstructor.reconstruct(packets)
    if min_mss is None:
        min_mss = anomalies.capture_wide(packets, states, conns).min_mss
    notable = context.gather_columns(packets, states, conns, min_mss)
    return {packets.frame[r] for r in notable.rows}


def test_the_smallest_mss_of_another_part_still_marks_rows_notable() -> None:
    packets = _apart(_small_mss_elsewhere, (1, 2))
    whole = _notable_frames(packets, None)
    where = shards.split(packets, (), 2)
    pieces = [shards.part(packets, (), where, k) for k in range(2)]
    built = [reconstructor.reconstruct(p.packets) for p in pieces]
    wide = anomalies.combine(
        [anomalies.tally(p.packets, s, c) for p, (c, s) in zip(pieces, built, strict=True)]
    )
    assert wide.min_mss == 536
    shared = set().union(*(_notable_frames(p.packets, wide.min_mss) for p in pieces))
    alone = set().union(*(_notable_frames(p.packets, None) for p in pieces))
    assert shared == whole
    assert alone < whole  # b's 1000-byte segments, in the part that never saw MSS 536
    assert _in_parts(packets, (), 2) == _whole(packets)


def test_icmp_errors_go_to_the_part_of_the_4_tuple_they_quote() -> None:
    from pcapexplain import native

    capture = native.load_capture(str(ROOT / "sample_captures" / "icmp_unreachable.pcap"))
    assert capture.icmp
    whole = _whole(capture.packets, capture.icmp)
    assert any(r[1] == AnomalySlug.ICMP_ERROR.value for r in whole)
    for parts in PARTS:
        where = shards.split(capture.packets, capture.icmp, parts)
        if where.parts == parts:
            assert _in_parts(capture.packets, capture.icmp, parts) == whole


def test_port_reuse_keeps_every_incarnation_of_a_4_tuple_in_one_part() -> None:
    """Many incarnations of a few 4-tuples, interleaved: ids, `previous` and the records."""
    conversations = []
    for k in range(6):
        c = Conversation(client=("10.0.1.1", 42000 + k % 3), client_isn=1000 + 7919 * k)
        c.clock = k * 0.5
        conversations.append(closed_three_way(c))
    packets = merged(*conversations)
    whole = _whole(packets)
    reused = {AnomalySlug.PORT_REUSED.value, AnomalySlug.PORT_REUSED_IN_TIME_WAIT.value}
    assert sum(r[1] in reused for r in whole) == 3
    single = records.connection_records(api.analyse_capture(Capture(INFO, packets)), "x")
    for parts in PARTS:
        shard_run._FORCE_PARTS = parts
        try:
            assert shard_run.connection_records(Capture(INFO, packets), "x") == single
        finally:
            shard_run._FORCE_PARTS = None
        assert _in_parts(packets, (), parts) in (whole, None)
    assert shards.split(packets, (), 2).parts == 2


def test_a_split_by_printed_addresses_is_the_cut_the_native_reader_makes_from_bytes() -> None:
    """One rule: the hash of an address's bytes, which split reaches back from its name (IPv4,
    IPv6, an IPv4-mapped IPv6 address); a name that is no address still gets a fixed part."""
    import numpy as np

    from pcapexplain import decode

    located = [
        (4, bytes(12) + bytes([192, 0, 2, 7])),
        (6, bytes.fromhex("20010db8000000000000000000000001")),
        (6, bytes(10) + b"\xff\xff" + bytes([10, 0, 0, 1])),
    ]
    family = np.array([f for f, _ in located], dtype=np.int64)
    raw = np.frombuffer(b"".join(r for _, r in located), dtype=np.uint8).reshape(-1, 16)
    names = [decode.address_text(r, f) for f, r in located]
    assert names[2] == "::ffff:10.0.0.1"
    from_bytes = shards.address_hashes(family, raw)
    ports = np.array([443, 80, 22], dtype=np.int64)
    for parts in (2, 3, 5):
        cut = shards.parts_of(from_bytes, ports, from_bytes[::-1], ports[::-1], parts)
        by_name = shards._part_of(
            shards._tuple_hashes(names, ports.tolist(), names[::-1], ports[::-1].tolist()), parts
        )
        assert cut.tolist() == by_name.tolist()
    assert len(set(from_bytes.tolist())) == 3
    odd = shards._tuple_hashes(["client", "server"], [1, 2], ["server", "client"], [2, 1])
    assert odd[0] == odd[1]  # both directions of one 4-tuple
    assert odd.tolist() == shards._tuple_hashes(["client"], [1], ["server"], [2]).tolist() * 2


def test_merge_numbers_connections_by_first_frame() -> None:
    capture = Capture(INFO, _offload_across_parts(41000))
    single = records.connection_records(api.analyse_capture(capture), "x")
    assert [r.id for r in single] == list(range(len(single)))
    shuffled = [list(reversed(single[1:])), single[:1]]
    renumbered = [r._replace(id=99) for r in single]
    assert shards.merge(shuffled) == single
    assert shards.merge([renumbered]) == single


# ------------------------------------------------------------------------ failures, Ctrl-C


_RENDERS = {"connection_records": records.connection_records}
_RENDERS["connection_csv_rows"] = records.connection_csv_rows


def _fail_in_child(monkeypatch: pytest.MonkeyPatch, error: Exception, everywhere: bool) -> None:
    """records.connection_records and connection_csv_rows (what a part's analysis becomes)
    raise error in the forked children only, or everywhere."""
    parent = os.getpid()

    def failing(real: Callable[..., Any]) -> Callable[..., Any]:
        def fail(*args: Any, **kwargs: Any) -> Any:
            if everywhere or os.getpid() != parent:
                raise error
            return real(*args, **kwargs)

        return fail

    for name, real in _RENDERS.items():
        monkeypatch.setattr(records, name, failing(real))


@pytest.mark.parametrize(
    "error",
    [
        EmptyCapture(said("error.no_packets", name="x.pcap"), said("hint.doctor")),
        ValueError("a bug in a stage"),
    ],
    ids=["user-error", "bug"],
)
def test_a_failure_in_a_child_reaches_the_user_as_in_one_process(
    error: Exception,
    small: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sample = small
    _fail_in_child(monkeypatch, error, everywhere=True)
    single = _command(sample, "csv", tmp_path / "one.csv", None)
    single_err = capsys.readouterr().err
    _fail_in_child(monkeypatch, error, everywhere=False)
    cut = _command(sample, "csv", tmp_path / "two.csv", 3)
    cut_err = capsys.readouterr().err
    assert cut == single and single[0] == 1
    assert cut_err == single_err
    assert "hint:" in cut_err and "Traceback" not in cut_err
    assert not (tmp_path / "two.csv").exists()


def test_ctrl_c_leaves_no_child_behind(
    small: Path, leftover_processes: Callable[[float], list[int]]
) -> None:
    argv = [sys.executable, "-c", shipped.SLOW_CHILDREN, "connections", str(small), "-f", "csv"]
    shipped.interrupted_when_running(argv, 3, leftover_processes)


@pytest.mark.parametrize(
    ("fmt", "parts"), [("csv", None), ("csv", 3), ("zeek", None)], ids=["one", "three", "zeek"]
)
def test_the_collector_is_paused_in_every_process_and_enabled_again_after(
    fmt: str, parts: int | None, small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stages run without the cyclic collector in the caller and in each forked part (the
    Zeek format analyses the capture in one process); the caller has it back once they are done,
    whether they finished or an error stopped them."""
    seen = tmp_path / "seen"
    real = api.analyse_columns

    def watched(*args: Any, **kwargs: Any) -> Any:
        with seen.open("a") as log:  # written by each process, children included
            log.write(f"{os.getpid()} {gc.isenabled()}\n")
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "analyse_columns", watched)
    assert gc.isenabled()
    status, _ = _command(small, fmt, tmp_path / "out", parts)
    processes = dict(line.split() for line in seen.read_text().splitlines())
    assert status == 0 and len(processes) == (parts or 1)
    assert set(processes.values()) == {"False"}
    assert gc.isenabled()
    monkeypatch.setattr(api, "analyse_columns", _raises(ValueError("a bug in a stage")))
    assert _command(small, fmt, tmp_path / "bad", parts)[0] == 1
    assert gc.isenabled()


def _raises(error: Exception) -> Callable[..., Any]:
    def failing(*args: Any, **kwargs: Any) -> Any:
        raise error

    return failing


# ------------------------------------------------------------------------ how many processes


def test_one_process_where_sharding_cannot_pay(monkeypatch: pytest.MonkeyPatch) -> None:
    big = shard_run.MIN_PACKETS
    assert shard_run.processes(big - 1, 4) == 1  # small: forking costs more than it saves
    assert shard_run.processes(big, 4) == 4
    assert shard_run.processes(big, 1) == 1
    monkeypatch.setattr(budget, "default_jobs", lambda: 1)
    assert shard_run.processes(big) == 1  # one CPU
    monkeypatch.setattr(budget, "default_jobs", lambda: 8)
    assert shard_run.processes(big) == 8
    monkeypatch.setattr(budget, "_IN_WORKER", True)
    assert shard_run.processes(big) == 1  # batch and grade workers already use every core
    monkeypatch.setattr(budget, "_IN_WORKER", False)
    monkeypatch.delattr(os, "fork")
    assert shard_run.processes(big) == 1
