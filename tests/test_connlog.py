"""The conn.log: Zeek's rows and sizes on hand-built packets, and the file the command writes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from pcapexplain import connlog
from pcapexplain.model import PacketColumns
from pcapexplain.reconstructor import reconstruct
from tests import shipped
from tests.builders import ACK, FIN, PSH, RST, SYN, Conversation, columns, merged

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"


def log_rows(packets: PacketColumns, *, validated: bool = False) -> list[connlog.ConnLogRow]:
    _, states = reconstruct(packets)
    return connlog.rows(packets, states, checksums_validated=validated)


def textbook(**sides: object) -> Conversation:
    c = Conversation(**sides)  # type: ignore[arg-type]
    c.handshake()
    c.data(c.client, 120)
    c.data(c.server, 700)
    c.fin(c.client)
    c.fin(c.server)
    c.ack(c.client)
    return c


def test_textbook_row_counts_payload_packets_and_ip_bytes() -> None:
    (row,) = log_rows(textbook().columns())
    assert (row.conn_state.value, row.history) == ("SF", "ShADdFf")
    assert (row.orig_bytes, row.resp_bytes, row.missed_bytes) == (120, 700, 0)
    assert (row.orig_pkts, row.resp_pkts) == (5, 3)
    # builders give every packet 40 bytes of IPv4 and TCP header
    assert (row.orig_ip_bytes, row.resp_ip_bytes) == (5 * 40 + 120, 3 * 40 + 700)
    assert row.connections == (0,)


def test_duration_stops_once_both_sides_closed() -> None:
    """Zeek leaves the last ACK out of the duration (conn/main.zeek, Conn::Info$duration)."""
    c = textbook()
    (row,) = log_rows(c.columns())
    second_fin = c.packets[-2].time
    assert row.duration == pytest.approx(second_fin - c.packets[0].time)


def test_a_single_packet_has_no_duration_and_no_byte_counts() -> None:
    c = Conversation()
    c.send(c.client, SYN)
    (row,) = log_rows(c.columns())
    assert (row.duration, row.orig_bytes, row.resp_bytes) == (None, None, None)
    line = connlog.render([row], path="a.pcap").splitlines()[-2].split("\t")
    assert line[8:11] == ["-", "-", "-"]


def test_bytes_are_counted_in_sequence_space_across_the_wrap() -> None:
    c = Conversation(client_isn=2**32 - 50)
    c.handshake()
    for _ in range(3):
        c.data(c.client, 40)  # crosses 2**32: sequence numbers start again at 0
    c.fin(c.client)
    c.fin(c.server)
    (row,) = log_rows(c.columns())
    assert row.orig_bytes == 120


def test_bytes_count_what_was_sent_not_what_was_captured() -> None:
    """Sequence space, as Zeek counts it: a segment the capture lost still counts once acked."""
    c = Conversation()
    c.handshake()
    c.data(c.client, 100)
    c.next[c.client] += 100  # a 100-byte segment the capture never saw
    c.data(c.client, 100)
    c.ack(c.server)
    c.fin(c.client)
    c.fin(c.server)
    (row,) = log_rows(c.columns())
    assert row.orig_bytes == 300
    assert row.missed_bytes == 100  # acknowledged, never seen: a content gap


def test_a_gap_refilled_before_its_ack_is_not_missed() -> None:
    c = Conversation()
    c.handshake()
    c.data(c.client, 100)
    late = c.next[c.client]
    c.next[c.client] += 100
    c.data(c.client, 100)
    c.send(c.client, ACK | PSH, 100, seq=late)  # out of order: the hole is filled
    c.ack(c.server)
    (row,) = log_rows(c.columns())
    assert (row.orig_bytes, row.missed_bytes) == (300, 0)


def test_midstream_connection_counts_from_its_first_segment() -> None:
    c = Conversation(client=("10.0.0.1", 40000), server=("10.0.0.2", 4000))
    c.data(c.client, 10)
    c.data(c.server, 30)
    c.data(c.client, 10)
    c.ack(c.server)
    (row,) = log_rows(c.columns())
    assert (row.conn_state.value, row.orig_bytes, row.resp_bytes) == ("OTH", 20, 30)


def test_an_attempt_aborted_by_its_own_rst_is_size_zero() -> None:
    c = Conversation()
    c.send(c.client, SYN)
    c.send(c.client, RST, seq=c.client_isn + 1)
    (row,) = log_rows(c.columns())
    assert (row.conn_state.value, row.orig_bytes, row.resp_bytes) == ("RSTOS0", 0, 0)


def test_zeek_split_rows_name_the_pcapexplain_connection_they_cover() -> None:
    c = Conversation()
    c.send(c.client, SYN)
    c.clock = 6.0  # past tcp_attempt_delay: Zeek starts a new connection, pcapexplain does not
    c.data(c.client)
    c.fin(c.client)
    rows = log_rows(c.columns())
    assert [(r.conn_state.value, r.history) for r in rows] == [("S0", "S"), ("SH", "DF")]
    assert [r.connections for r in rows] == [(0,), (0,)]


def test_rows_follow_first_packets_and_map_several_connections() -> None:
    first, second = textbook(), textbook(client=("10.0.0.3", 41000))
    for packet in second.packets:
        packet.time += 0.005  # interleaved with the first
    rows = log_rows(merged(first, second))
    assert [(r.orig_h, r.connections) for r in rows] == [("10.0.0.1", (0,)), ("10.0.0.3", (1,))]


def test_render_is_zeek_ascii_with_our_column_last() -> None:
    packets = columns(textbook().packets + Conversation(client=("10.0.0.9", 5)).packets)
    text = connlog.render(log_rows(packets), path="x\ty.pcap")
    lines = text.splitlines()
    assert lines[0] == "#separator \\x09" and lines[-1].startswith("#close\t")
    fields = next(ln for ln in lines if ln.startswith("#fields")).split("\t")[1:]
    types = next(ln for ln in lines if ln.startswith("#types")).split("\t")[1:]
    assert fields[-1] == connlog.EXTRA_FIELD and types[-1] == "set[count]"
    assert fields[:6] == ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p"]
    rows = [ln.split("\t") for ln in lines if not ln.startswith("#")]
    assert len(rows) == 1 and len(rows[0]) == len(fields) == len(types)
    record = dict(zip(fields, rows[0], strict=True))
    assert record["uid"].startswith("C") and len(record["uid"]) == 18
    assert (record["local_orig"], record["service"], record["tunnel_parents"]) == ("-",) * 3
    assert record[connlog.EXTRA_FIELD] == "0"


def test_uid_is_stable() -> None:
    assert connlog.uid("a.pcap", 3) == connlog.uid("a.pcap", 3) != connlog.uid("a.pcap", 4)


def test_capture_text_cannot_break_the_tsv() -> None:
    row = log_rows(textbook().columns())[0]
    odd = connlog.ConnLogRow(**{**_fields(row), "history": "a\tb\nc"})
    line = connlog.render([odd], path="p").splitlines()[-2]
    assert "a\\x09b\\x0ac" in line and len(line.split("\t")) == len(connlog.FIELDS)


def _fields(row: connlog.ConnLogRow) -> dict[str, object]:
    return {name: getattr(row, name) for name in connlog.ConnLogRow.__dataclass_fields__}


# ------------------------------------------------------------------ the command and its file


def _write(tmp_path: Path, capture: str) -> Path:
    target = tmp_path / "conn.log"
    done = shipped.run("connections", str(SAMPLES / capture), "--format", "zeek", "-o", str(target))
    assert done.returncode == 0, done.stderr
    assert "Wrote 1 Zeek connection (1 pcapexplain connection)" in done.stderr
    return target


@pytest.mark.tshark
def test_the_written_log_reads_in_zat_with_zeek_types(tmp_path: Path) -> None:
    zat = pytest.importorskip("zat.log_to_dataframe", reason="zat (a dev dependency) is missing")
    target = _write(tmp_path, "normal_close_client_first.pcap")
    frame = zat.LogToDataFrame().create_dataframe(str(target))
    ours = shipped.read_conn_log(target)
    assert len(frame) == len(ours) == 1
    assert isinstance(frame.index, pd.DatetimeIndex)  # ts, a Zeek time
    assert str(frame["id.orig_p"].dtype) == "UInt16"  # port
    for name in ("orig_bytes", "resp_bytes", "missed_bytes", "orig_ip_bytes", "resp_ip_bytes"):
        assert str(frame[name].dtype) == "UInt64", name  # count
    assert pd.api.types.is_timedelta64_dtype(frame["duration"])  # interval
    row = frame.iloc[0]
    assert (row["conn_state"], row["history"]) == ("SF", "ShADadFf")
    assert (int(row["orig_bytes"]), int(row["resp_bytes"])) == (23, 44)
    assert row["duration"].total_seconds() == pytest.approx(float(ours[0]["duration"]))
    assert pd.isna(row["local_orig"]) and pd.isna(row["service"])


@pytest.mark.tshark
@pytest.mark.parametrize(
    "capture", ["normal_close_client_first.pcap", "ipv6_normal.pcap", "lossy_transfer.pcap"]
)
def test_sizes_agree_with_tshark_and_the_json_output(tmp_path: Path, capture: str) -> None:
    (row,) = shipped.read_conn_log(_write(tmp_path, capture))
    (conn,) = json.loads(shipped.run("connections", str(SAMPLES / capture), "-f", "json").stdout)
    assert row["id.orig_h"] == conn["client_ip"] and row[connlog.EXTRA_FIELD] == str(conn["id"])
    assert (int(row["orig_pkts"]), int(row["resp_pkts"])) == (
        conn["packets_to_server"],
        conn["packets_to_client"],
    )
    # Sequence space as tshark numbers it: the byte after the last one sent, less the SYN and FIN.
    assert (int(row["orig_bytes"]), int(row["resp_bytes"])) == (
        _sent(capture, conn["client_ip"]),
        _sent(capture, conn["server_ip"]),
    )
    # Ethernet: an IP packet is its frame less the 14-byte Ethernet header.
    frames = _tshark(capture, "frame.len")
    assert int(row["orig_ip_bytes"]) + int(row["resp_ip_bytes"]) == sum(
        int(n) - 14 for (n,) in frames
    )


def _tshark(capture: str, *fields: str, display: str = "tcp") -> list[list[str]]:
    command = ["tshark", "-n", "-r", str(SAMPLES / capture), "-Y", display, "-T", "fields"]
    for name in fields:
        command += ["-e", name]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def _sent(capture: str, sender: str) -> int:
    """Payload bytes sender sent, from tshark's relative sequence numbers (tcp.nxtseq)."""
    source = f"ipv6.src=={sender}" if ":" in sender else f"ip.src=={sender}"
    rows = _tshark(capture, "tcp.nxtseq", "tcp.flags.fin", display=source)
    fin = any(flag in ("1", "True") for _, flag in rows)
    return max(int(n) for n, _ in rows) - 1 - fin


def test_fin_alone_counts_no_byte() -> None:
    c = Conversation()
    c.handshake()
    c.send(c.client, FIN | ACK)
    c.send(c.server, FIN | ACK)
    c.ack(c.client)
    (row,) = log_rows(c.columns())
    assert (row.orig_bytes, row.resp_bytes) == (0, 0)


def test_a_segment_of_unknown_length_moves_no_counter() -> None:
    """tshark leaves tcp.len empty (-1 in the columns) on malformed segments."""
    c = Conversation()
    c.handshake()
    c.send(c.client, ACK | PSH, -1, advance=False)
    c.fin(c.client)
    c.fin(c.server)
    (row,) = log_rows(c.columns())
    assert (row.orig_bytes, row.resp_bytes, row.missed_bytes) == (0, 0, 0)
