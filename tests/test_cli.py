"""The CLI end to end: exit statuses, the one-line error plus hint, and every output format."""

from __future__ import annotations

import csv
import io
import json
import re
import struct
from pathlib import Path
from typing import Any

import pytest

from pcapexplain.cli import default_report_name, main
from pcapexplain.errors import ExitStatus

SAMPLE = (
    Path(__file__).resolve().parent.parent / "sample_captures" / "normal_close_client_first.pcap"
)


def _pcap(records: list[bytes], linktype: int = 1) -> bytes:
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
    body = b"".join(
        struct.pack("<IIII", 1_700_000_000 + i, 0, len(r), len(r)) + r
        for i, r in enumerate(records)
    )
    return header + body


def _udp_frame() -> bytes:
    udp = struct.pack("!HHHH", 5353, 5353, 12, 0) + b"ping"
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(udp),
        1,
        0,
        64,
        17,
        0,
        bytes([10, 0, 0, 1]),
        bytes([10, 0, 0, 2]),
    )
    eth = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00"
    return eth + ip + udp


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def _assert_one_error(err: str) -> None:
    lines = err.strip().splitlines()
    assert lines[0].startswith("pcapexplain: error: ")
    assert lines[1].startswith("hint: ")
    assert len(lines) == 2, err
    assert "Traceback" not in err


def test_missing_file_is_one_error_line_and_a_hint(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, out, err = _run(capsys, "connections", str(tmp_path / "nope.pcap"))
    assert status == ExitStatus.ERROR
    assert out == ""
    _assert_one_error(err)
    assert "nope.pcap" in err


@pytest.mark.tshark
@pytest.mark.parametrize(
    ("content", "word"),
    [
        (b"this is a shopping list, not a capture\n" * 20, "capture"),
        (_pcap([]), "no packets"),
        (_pcap([_udp_frame()]), "TCP"),
    ],
    ids=["not-a-capture", "empty", "no-tcp"],
)
@pytest.mark.parametrize("reader", ["auto", "native", "tshark"])
def test_bad_captures_are_reported_not_raised(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes, word: str, reader: str
) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(content)
    status, _, err = _run(capsys, "connections", str(bad), "--reader", reader)
    assert status == ExitStatus.ERROR
    _assert_one_error(err)
    assert word.lower() in err.lower()


def _ppp_frame() -> bytes:
    """The UDP datagram of _udp_frame in a PPP frame (LINKTYPE_PPP), which only tshark reads."""
    return b"\xff\x03\x00\x21" + _udp_frame()[14:]


@pytest.mark.tshark
def test_reader_choice(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, out, _ = _run(capsys, "connections", str(SAMPLE), "-f", "json", "--reader", "native")
    assert status == ExitStatus.OK
    assert {row["reader"] for row in json.loads(out)} == {"native"}
    assert {row["tshark_version"] for row in json.loads(out)} == {None}
    status, out, _ = _run(capsys, "connections", str(SAMPLE), "-f", "csv", "--reader", "tshark")
    assert status == ExitStatus.OK
    assert {row["reader"] for row in csv.DictReader(io.StringIO(out))} == {"tshark"}
    status, out, _ = _run(capsys, "connections", str(SAMPLE), "--reader", "native")
    assert "read by native" in out  # the table's caption
    _, native_story, _ = _run(capsys, "explain", str(SAMPLE), "--reader", "native")
    _, tshark_story, _ = _run(capsys, "explain", str(SAMPLE), "--reader", "tshark", "--lang", "zh")
    assert native_story.splitlines()[-1] == "read by native"
    assert re.fullmatch(r"读取方式：tshark \d+\.\d+\.\d+", tshark_story.splitlines()[-1])
    # A link type only tshark reads: auto hands it over, native says so and how to go on.
    ppp = tmp_path / "ppp.pcap"
    ppp.write_bytes(_pcap([_ppp_frame()], linktype=9))
    status, _, err = _run(capsys, "connections", str(ppp), "--reader", "native")
    assert status == ExitStatus.ERROR
    _assert_one_error(err)
    assert "link type 9" in err and "--reader tshark" in err
    status, _, err = _run(capsys, "connections", str(ppp), "--reader", "auto")
    assert "no TCP" in err  # tshark read it: a UDP datagram, so no TCP segment


def test_a_directory_is_not_a_capture(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = _run(capsys, "explain", str(tmp_path))
    assert status == ExitStatus.ERROR
    _assert_one_error(err)


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _run(capsys, "connections", "x.pcap", "--format", "yaml")
    assert status == ExitStatus.USAGE
    assert "yaml" in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "--version")
    assert status == ExitStatus.OK
    assert out.startswith("pcapexplain ")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("lab3.pcapng", "lab3.html"), ("a.b.pcap.gz", "a.b.html"), ("trace", "trace.html")],
)
def test_default_report_name(name: str, expected: str) -> None:
    assert default_report_name(Path(name)) == expected


@pytest.mark.tshark
def test_doctor_reports_both_readers(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "doctor")
    assert status == ExitStatus.OK
    assert "tshark" in out and "ok" in out
    assert "native:" in out and "Linux cooked v2" in out


@pytest.mark.tshark
def test_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "connections", str(SAMPLE), "--format", "json")
    assert status == ExitStatus.OK
    rows = json.loads(out)
    assert isinstance(rows, list) and rows
    required = {
        "id",
        "client_ip",
        "client_port",
        "server_ip",
        "server_port",
        "roles_inferred",
        "handshake",
        "teardown",
        "half_close",
        "closed_first",
        "time_wait",
        "zeek_state",
        "zeek_history",
        "anomalies",
        "packets_to_server",
        "bytes_to_server",
        "packets_to_client",
        "bytes_to_client",
        "first_time",
        "last_time",
        "client_isn",
        "server_isn",
        "client_options",
        "server_options",
        "rtt_syn_to_synack",
        "rtt_synack_to_ack",
        "tshark_version",
    }
    assert required <= set(rows[0])
    first = rows[0]
    assert first["handshake"] == "complete"
    assert first["client_options"]["mss"] and first["rtt_syn_to_synack"] is not None
    assert first["packets_to_server"] > 0 and first["packets_to_client"] > 0


@pytest.mark.tshark
def test_csv_and_file_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "conns.csv"
    status, out, err = _run(capsys, "connections", str(SAMPLE), "-f", "csv", "-o", str(target))
    assert status == ExitStatus.OK
    assert out == "" and "Wrote" in err
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert rows and rows[0]["handshake"] == "complete"
    assert "client_mss" in rows[0]
    assert not list(tmp_path.glob(".*.tmp")), "temporary file left behind"


@pytest.mark.tshark
def test_zeek_conn_log_header(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "connections", str(SAMPLE), "--format", "zeek")
    assert status == ExitStatus.OK
    lines = out.splitlines()
    fields = next(line for line in lines if line.startswith("#fields"))
    names = fields.split("\t")[1:]
    assert names[:6] == ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p"]
    rows = [line.split("\t") for line in lines if not line.startswith("#")]
    assert rows and all(len(r) == len(names) for r in rows)
    assert rows[0][names.index("conn_state")] == "SF"


@pytest.mark.tshark
def test_table_output_lists_connections(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "connections", str(SAMPLE))
    assert status == ExitStatus.OK
    assert "complete" in out and "four_way" in out


@pytest.mark.tshark
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_explain_narrates_handshake_and_teardown(
    capsys: pytest.CaptureFixture[str], lang: str
) -> None:
    status, out, _ = _run(capsys, "explain", str(SAMPLE), "--lang", lang)
    assert status == ExitStatus.OK
    assert "SYN" in out and "FIN" in out
    # A note under the header says where the capture was taken (a veth pair: too close to tell).
    notes = out.split("\n  frame 1 ", 1)[0] if lang == "en" else out.split("\n  帧 1 ", 1)[0]
    assert ("cannot be told reliably" if lang == "en" else "无法可靠地判断抓包点") in notes
    if lang == "zh":
        assert "握手" in out


@pytest.mark.tshark
def test_unknown_connection_id(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _run(capsys, "explain", str(SAMPLE), "--connection", "999")
    assert status == ExitStatus.ERROR
    _assert_one_error(err)
    assert "999" in err


@pytest.mark.tshark
def test_unwritable_output_is_an_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "missing-folder" / "x.json"
    status, _, err = _run(capsys, "connections", str(SAMPLE), "-f", "json", "-o", str(target))
    assert status == ExitStatus.ERROR
    _assert_one_error(err)


@pytest.mark.tshark
def test_truncated_capture_warns_and_still_reports(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lossy = SAMPLE.with_name("lossy_transfer.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(lossy[: len(lossy) // 2])
    status, out, err = _run(capsys, "connections", str(cut), "--format", "json")
    assert status == ExitStatus.OK
    assert json.loads(out)[0]["handshake"] == "complete"
    assert "pcapexplain: warning: cut.pcap: the capture is cut short after frame" in err


def test_control_characters_in_file_names_cannot_reach_the_terminal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    evil = tmp_path / "a\x1b[2J\nforged line.pcap"
    status, _, err = _run(capsys, "connections", str(evil))
    assert status == ExitStatus.ERROR
    assert "\x1b" not in err
    _assert_one_error(err)
    assert "\\x1b[2J\\x0aforged line.pcap" in err


def test_a_reader_that_leaves_early_is_no_error() -> None:
    """`pcapexplain explain ... | head -1`: the closed pipe ends the run quietly with status 0."""
    import subprocess
    import sys

    reader = subprocess.Popen(["head", "-c", "1"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    run = subprocess.run(
        [sys.executable, "-m", "pcapexplain", "explain", str(SAMPLE), "--lang", "zh"],
        stdout=reader.stdin,
        stderr=subprocess.PIPE,
        timeout=120,
        check=False,
    )
    assert reader.stdin is not None
    reader.stdin.close()
    reader.wait(timeout=30)
    assert (run.returncode, run.stderr) == (0, b"")


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_connections_never_hashes_the_file_and_shows_the_same(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    fmt: str,
) -> None:
    """No output of `connections` shows the SHA-256, so it is not computed (a sixth of the native
    reader's CPU); the rows are those of an analysis that has the digest."""
    from pcapexplain import api, files, records

    analysis = api.analyse(SAMPLE, reader="native")
    assert len(analysis.capture.sha256) == 64
    rows = records.connection_records(analysis.result, SAMPLE.name)
    expected = io.StringIO()
    (records.write_json if fmt == "json" else records.write_csv)(rows, expected)
    real, calls = files.sha256, []

    def counted(*args: Any) -> str:
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(files, "sha256", counted)
    status, out, _ = _run(capsys, "connections", str(SAMPLE), "-f", fmt, "--reader", "native")
    assert status == ExitStatus.OK
    assert not calls
    assert out == expected.getvalue()
    status, _, _ = _run(capsys, "report", str(SAMPLE), "-o", str(tmp_path / "r.html"))
    assert status == ExitStatus.OK and calls  # the report shows it: computed there
