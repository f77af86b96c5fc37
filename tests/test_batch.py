"""`pcapexplain batch` end to end: a folder of good, bad and oddly named captures, the real
command in a subprocess, and every file it writes checked against each capture run alone."""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import pcapexplain
from pcapexplain.cli import main
from pcapexplain.reporter import CSP

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"
PCAPEXPLAIN = [sys.executable, "-m", "pcapexplain"]
SCRIPT_NAME = "<script>alert(1).pcap"  # no "/": that would make it a folder

pytestmark = [pytest.mark.tshark, pytest.mark.slow]

# file in the batch folder -> sample it is made from ("" for the ones made in the fixture)
GOOD = {
    "normal.pcap": "normal_close_client_first.pcap",
    "week 1/lossy transfer.pcap": "lossy_transfer.pcap",
    "a/lab.pcap": "refused.pcap",
    "b/lab.pcap": "half_close.pcap",
    "三次握手-café.pcap": "ipv6_normal.pcap",
    SCRIPT_NAME: "reset_by_client_linger0.pcap",
    "no_extension": "keep_alive.pcap",
    "three_way.pcap.gz": "",
    "truncated.pcap": "",
}
BAD = ("notes.pcap", "empty.pcap", "crafted_no_tcp.pcap")
SKIPPED = {"README.txt": "not a capture: no pcap or pcapng header", "empty.dat": "empty file"}


def make_folder(root: Path) -> Path:
    for name, sample in GOOD.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if sample:
            shutil.copy(SAMPLES / sample, target)
    (root / "three_way.pcap.gz").write_bytes(
        gzip.compress((SAMPLES / "three_way_close.pcap").read_bytes())
    )
    lossy = (SAMPLES / "lossy_transfer.pcap").read_bytes()
    (root / "truncated.pcap").write_bytes(lossy[: len(lossy) // 2 + 7])  # cut inside a packet
    (root / "notes.pcap").write_text("my notes, not a capture\n")
    (root / "empty.pcap").write_bytes(b"")
    (root / "empty.dat").write_bytes(b"")
    (root / "README.txt").write_text("lab captures\n")
    _write_udp_icmp(root / "crafted_no_tcp.pcap")
    return root


def _write_udp_icmp(path: Path) -> None:
    """A capture without TCP: a DNS query and answer and an ICMP echo, crafted with scapy."""
    from scapy.all import DNS, DNSQR, ICMP, IP, UDP, Ether, wrpcap

    a, b = "10.77.0.1", "10.77.0.2"
    packets = [
        Ether() / IP(src=a, dst=b) / UDP(sport=5353, dport=53) / DNS(qd=DNSQR(qname="lab.")),
        Ether() / IP(src=b, dst=a) / UDP(sport=53, dport=5353) / DNS(qr=1, qd=DNSQR(qname="lab.")),
        Ether() / IP(src=a, dst=b) / ICMP(type=8),
        Ether() / IP(src=b, dst=a) / ICMP(type=0),
    ]
    for i, packet in enumerate(packets):
        packet.time = 1_700_000_000 + i / 10
    wrpcap(str(path), packets)


@dataclass
class Run:
    folder: Path
    out: Path
    returncode: int
    stdout: str
    stderr: str


def run_batch(folder: Path, out: Path, *args: str) -> Run:
    done = subprocess.run(
        [*PCAPEXPLAIN, "batch", str(folder), "-o", str(out), *args],
        capture_output=True,
        text=True,
        timeout=900,
    )
    return Run(folder, out, done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def batch_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = make_folder(tmp_path_factory.mktemp("captures"))
    return run_batch(folder, tmp_path_factory.mktemp("out") / "report", "-r", "--jobs", "2")


def captures_csv(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "captures.csv", encoding="utf-8", newline="") as handle:
        return {row["capture"]: row for row in csv.DictReader(handle)}


def single(*args: str) -> tuple[int, str]:
    """A single-file command in this process: its exit code and stderr."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, err.getvalue()


# ------------------------------------------------------------------------------ the run itself


def test_exit_code_says_completed_with_errors(batch_run: Run) -> None:
    assert batch_run.returncode == 4, batch_run.stderr
    assert "Traceback" not in batch_run.stderr


def test_one_plain_line_per_file_when_piped(batch_run: Run) -> None:
    lines = batch_run.stdout.splitlines()
    firsts = {line.split()[0] for line in lines[:-1]}
    assert firsts <= {"ok", "error", "skipped"}
    assert sum(line.startswith("ok ") for line in lines) == len(GOOD)
    assert sum(line.startswith("error ") for line in lines) == len(BAD)
    assert sum(line.startswith("skipped ") for line in lines) == len(SKIPPED)
    assert lines[-1].startswith("Wrote ") and "9 ok, 3 error, 2 skipped" in lines[-1]
    assert "\x1b[" not in batch_run.stdout  # no progress bar drawn into a pipe


def test_every_output_file_is_there_and_whole(batch_run: Run) -> None:
    out = batch_run.out
    for name in (
        "index.html",
        "captures.csv",
        "connections.csv",
        "connections.parquet",
        "conn.log",
    ):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    leftovers = [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    reports = sorted(p.name for p in (out / "reports").iterdir())
    rows = captures_csv(out)
    assert reports == sorted(Path(r["report"]).name for r in rows.values() if r["report"])
    for name in reports:
        assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*\.html", name), name
        assert (out / "reports" / name).read_text(encoding="utf-8").rstrip().endswith("</html>")


def test_captures_csv_statuses_and_errors_match_single_files(batch_run: Run) -> None:
    rows = captures_csv(batch_run.out)
    assert set(rows) == set(GOOD) | set(BAD) | set(SKIPPED)
    for name in GOOD:
        assert rows[name]["status"] == "ok", (name, rows[name]["error"])
        assert re.fullmatch(r"[0-9a-f]{64}", rows[name]["sha256"])
        assert rows[name]["reader"] == "native", name  # auto: plain Ethernet, pcap or gzip
    for name in [*BAD, *SKIPPED]:
        assert rows[name]["reader"] == ""
    for name, reason in SKIPPED.items():
        assert (rows[name]["status"], rows[name]["error"]) == ("skipped", reason)
    for name in BAD:
        code, stderr = single("connections", str(batch_run.folder / name), "--format", "csv")
        assert code == 1
        message, hint = stderr.splitlines()
        assert rows[name]["status"] == "error"
        assert f"pcapexplain: error: {rows[name]['error']}" == message
        assert f"hint: {rows[name]['hint']}" == hint
    assert "holds no packets" in rows["empty.pcap"]["error"]
    assert "but no TCP segment" in rows["crafted_no_tcp.pcap"]["error"]
    assert "cut short" in rows["truncated.pcap"]["warning"]


def test_connections_csv_rows_equal_each_capture_alone(batch_run: Run, tmp_path: Path) -> None:
    with open(batch_run.out / "connections.csv", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        batch_rows = list(reader)
    ours = {r["capture"] for r in batch_rows}
    assert ours == set(GOOD)
    for name in GOOD:
        reference = tmp_path / "one.csv"
        assert (
            single(
                "connections", str(batch_run.folder / name), "--format", "csv", "-o", str(reference)
            )[0]
            == 0
        )
        with open(reference, encoding="utf-8", newline="") as handle:
            alone = csv.DictReader(handle)
            assert header == ["capture", *(c for c in alone.fieldnames or [] if c != "capture")]
            rows_alone = list(alone)
        assert all(r["capture"] == Path(name).name for r in rows_alone)
        expected = [{k: v for k, v in r.items() if k != "capture"} for r in rows_alone]
        got = [
            {k: v for k, v in r.items() if k != "capture"}
            for r in batch_rows
            if r["capture"] == name
        ]
        assert got == expected, name


def test_parquet_has_the_dtypes_and_values_of_analyse(batch_run: Run) -> None:
    table = pd.read_parquet(batch_run.out / "connections.parquet")
    frames = []
    for name in sorted(GOOD):
        frame = pcapexplain.analyse(batch_run.folder / name).connections
        frame["capture"] = pd.array([name] * len(frame), dtype=frame["capture"].dtype)
        frames.append(frame)
    expected = pd.concat(frames, ignore_index=True)
    expected = expected[["capture", *(c for c in expected.columns if c != "capture")]]
    assert list(table.columns) == list(expected.columns)
    assert table.dtypes.to_dict() == expected.dtypes.to_dict()
    pd.testing.assert_frame_equal(table, expected)


def test_conn_log_holds_every_capture_as_alone_with_unique_uids(
    batch_run: Run, tmp_path: Path
) -> None:
    log = (batch_run.out / "conn.log").read_text(encoding="utf-8").splitlines()
    records = [line.split("\t") for line in log if not line.startswith("#")]
    header = [line for line in log if line.startswith("#")]
    assert [h.split("\t")[0] for h in header] == [
        "#separator \\x09", "#set_separator", "#empty_field", "#unset_field", "#path", "#open",
        "#fields", "#types", "#close",
    ]  # fmt: skip
    assert len({r[1] for r in records}) == len(records)
    expected = []
    for name in sorted(GOOD):
        alone = tmp_path / "one.log"
        single("connections", str(batch_run.folder / name), "--format", "zeek", "-o", str(alone))
        lines = alone.read_text(encoding="utf-8").splitlines()
        expected += [line.split("\t") for line in lines if not line.startswith("#")]
    without_uid = [[*r[:1], *r[2:]] for r in records]
    assert without_uid == [[*r[:1], *r[2:]] for r in expected]


def test_each_report_is_the_page_report_writes(batch_run: Run, tmp_path: Path) -> None:
    rows = captures_csv(batch_run.out)
    stamp = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")
    for name in ("normal.pcap", SCRIPT_NAME, "three_way.pcap.gz"):
        alone = tmp_path / "alone.html"
        assert single("report", str(batch_run.folder / name), "-o", str(alone))[0] == 0
        ours = (batch_run.out / rows[name]["report"]).read_text(encoding="utf-8")
        assert stamp.sub("T", ours) == stamp.sub("T", alone.read_text(encoding="utf-8")), name


# ------------------------------------------------------------------------------ the index page


class IndexParser(HTMLParser):
    """The rows of #capture-table as cell texts and link targets, plus what a page loads."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, object]] = []
        self.scripts = 0
        self.loads: list[str] = []
        self.csp = ""
        self.ids: dict[str, str] = {}
        self._in_table = False
        self._cell: list[str] | None = None
        self._id: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "link" or "src" in a:
            self.loads.append(tag)
        if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy":
            self.csp = a.get("content") or ""
        if a.get("id") == "capture-table":
            self._in_table = True
        if a.get("id", "").startswith("total-"):
            self._id = a["id"]
        if self._in_table and tag == "tr" and "data-status" in a:
            self.rows.append({"status": a["data-status"], "cells": [], "href": None})
        if self._in_table and self.rows and tag == "td":
            self._cell = []
        if self._in_table and self.rows and tag == "a":
            self.rows[-1]["href"] = a.get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_table = False
        if tag == "td" and self._cell is not None:
            cells = self.rows[-1]["cells"]
            assert isinstance(cells, list)
            cells.append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._id is not None:
            self.ids[self._id] = data
            self._id = None


def parse_index(out: Path) -> IndexParser:
    parser = IndexParser()
    parser.feed((out / "index.html").read_text(encoding="utf-8"))
    return parser


def test_index_rows_parsed(batch_run: Run) -> None:
    page = parse_index(batch_run.out)
    rows = captures_csv(batch_run.out)
    assert page.csp == CSP and page.scripts == 1 and page.loads == []
    by_name = {str(r["cells"][0]): r for r in page.rows}  # type: ignore[index]
    assert set(by_name) == set(rows)  # every name verbatim, <script> and 三次握手 included
    for name, row in rows.items():
        shown = by_name[name]
        cells = shown["cells"]
        assert isinstance(cells, list)
        assert shown["status"] == row["status"]
        assert cells[2].replace(",", "") == row["packets"]
        assert cells[3].replace(",", "") == row["connections"]
        if row["report"]:
            href = str(shown["href"])
            assert (batch_run.out / href).is_file(), href
            assert href == row["report"]
        else:
            assert shown["href"] is None
        if row["error"]:
            assert row["error"] in cells[7]
    assert page.ids["total-packets"].replace(",", "") == str(
        sum(int(r["packets"] or 0) for r in rows.values())
    )
    with open(batch_run.out / "connections.csv", encoding="utf-8", newline="") as handle:
        total_rows = len(list(csv.DictReader(handle)))
    assert page.ids["total-connections"].replace(",", "") == str(total_rows)
    assert page.ids["total-status-error"] == "3"
    html = (batch_run.out / "index.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1).pcap" in html


# ------------------------------------------------------------------------------ a second run


def test_a_second_run_keeps_everything_and_force_redoes_it(batch_run: Run, tmp_path: Path) -> None:
    out = tmp_path / "again"
    shutil.copytree(batch_run.out, out)
    before = {p.name: p.stat().st_mtime_ns for p in (out / "reports").iterdir()}
    again = run_batch(batch_run.folder, out, "-r", "--jobs", "2")
    assert again.returncode == 4
    assert not any(line.startswith(("ok ", "error ")) for line in again.stdout.splitlines())
    rows = captures_csv(out)
    assert all(r["reused"] == "True" for r in rows.values() if r["status"] != "skipped")
    assert {p.name: p.stat().st_mtime_ns for p in (out / "reports").iterdir()} == before
    assert (out / "connections.csv").read_bytes() == (
        batch_run.out / "connections.csv"
    ).read_bytes()

    (batch_run.folder / "normal.pcap").write_bytes((SAMPLES / "refused.pcap").read_bytes())
    try:
        changed = run_batch(batch_run.folder, out, "-r", "--jobs", "2")
    finally:
        shutil.copy(SAMPLES / GOOD["normal.pcap"], batch_run.folder / "normal.pcap")
    assert [line.split()[:2] for line in changed.stdout.splitlines() if line.startswith("ok ")] == [
        ["ok", "normal.pcap"]
    ]
    forced = run_batch(batch_run.folder, out, "-r", "--jobs", "2", "--force")
    assert sum(line.startswith(("ok ", "error ")) for line in forced.stdout.splitlines()) == 12


def test_errors_about_the_folder_itself(tmp_path: Path) -> None:
    code, stderr = single("batch", str(tmp_path / "missing"), "-o", str(tmp_path / "out"))
    assert code == 1 and stderr.startswith("pcapexplain: error: ") and "hint: " in stderr
    (tmp_path / "notes.txt").write_text("no captures here\n")
    (tmp_path / "sub").mkdir()
    code, stderr = single("batch", str(tmp_path), "-o", str(tmp_path / "out"))
    assert code == 1 and "no capture found" in stderr and "--recursive" in stderr
    assert not (tmp_path / "out").exists()


def test_unreachable_scheduler_is_one_error(tmp_path: Path) -> None:
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    (tmp_path / "in").mkdir()
    shutil.copy(SAMPLES / "refused.pcap", tmp_path / "in")
    code, stderr = single(
        "batch",
        str(tmp_path / "in"),
        "-o",
        str(tmp_path / "out"),
        "--scheduler",
        "tcp://127.0.0.1:9",
    )
    assert code == 1
    assert stderr.startswith(
        "pcapexplain: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9"
    )
    assert "dask scheduler" in stderr


def test_a_terminal_gets_a_progress_bar(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("refused.pcap", "half_close.pcap", "lossy_transfer.pcap"):
        shutil.copy(SAMPLES / name, folder / name)
    (folder / "bad.pcap").write_text("not a capture\n")
    leader, follower = os.openpty()
    process = subprocess.Popen(
        [*PCAPEXPLAIN, "batch", str(folder), "-o", str(tmp_path / "out")],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env={**os.environ, "COLUMNS": "160", "TERM": "xterm-256color"},
    )
    os.close(follower)
    chunks = []
    with contextlib.suppress(OSError):  # EIO once the terminal's other end is closed
        while chunk := os.read(leader, 65536):
            chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=300) == 4
    text = b"".join(chunks).decode("utf-8", "replace")
    assert "\x1b[" in text  # drawn, not printed line by line
    assert "4/4" in text and "packets/s" in text
    assert "error    bad.pcap: bad.pcap" in text  # errors are printed above the bar
    assert not re.search(r"^ok ", text, flags=re.MULTILINE)  # no plain lines for the rest
    assert "Wrote " in text


# ------------------------------------------------------------------------------ Ctrl-C


def test_ctrl_c_keeps_what_finished_and_a_rerun_does_the_rest(
    tmp_path: Path, leftover_processes: Callable[[float], list[int]]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    samples = sorted(p for p in SAMPLES.glob("*.pcap"))[:14]
    for i, sample in enumerate(samples):
        shutil.copy(sample, folder / f"{i:02d}-{sample.name}")
    out = tmp_path / "out"
    process = subprocess.Popen(
        [*PCAPEXPLAIN, "batch", str(folder), "-o", str(out), "--jobs", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    finished = []
    for line in process.stdout:
        finished.append(line)
        if len(finished) == 3:
            break
    process.send_signal(2)  # SIGINT, as Ctrl-C sends it
    rest, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert leftover_processes(5.0) == []  # no worker, no tshark

    rows = captures_csv(out)
    done = {name for name, row in rows.items() if row["status"] == "ok"}
    assert 3 <= len(done) < len(samples)
    assert {r["status"] for r in rows.values()} == {"ok", "interrupted"}
    assert [p for p in out.rglob("*") if p.name.endswith(".tmp")] == []
    reports = {p.name for p in (out / "reports").iterdir()}
    assert reports == {Path(rows[n]["report"]).name for n in done}
    for report in (out / "reports").iterdir():
        assert report.read_text(encoding="utf-8").rstrip().endswith("</html>")
    page = parse_index(out)
    assert page.ids["total-status-interrupted"] == str(len(samples) - len(done))
    assert "interrupted" in (out / "index.html").read_text(encoding="utf-8")
    with open(out / "connections.csv", encoding="utf-8", newline="") as handle:
        assert {r["capture"] for r in csv.DictReader(handle)} == done

    resumed = run_batch(folder, out, "--jobs", "2")
    assert resumed.returncode == 0, resumed.stderr
    redone = {line.split()[1] for line in resumed.stdout.splitlines() if line.startswith("ok ")}
    assert redone == set(rows) - done
    rows = captures_csv(out)
    assert all(r["status"] == "ok" for r in rows.values())
    assert {n for n, r in rows.items() if r["reused"] == "True"} == done


def test_ctrl_c_while_a_result_is_recorded_leaves_it_to_the_rerun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A capture counts as done only once its record is written; otherwise the interrupted run
    lists it as done and the rerun, finding no record, does it again."""
    from pcapexplain import batch, runner

    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(SAMPLES / "refused.pcap", folder / "a.pcap")
    p = batch.plan(folder, tmp_path / "out", batch.BatchOptions(jobs=1))
    committer = batch._Committer(p, None)
    planned = p.to_run[0]
    done: runner.Finished[object, object] = runner.Finished(
        0, planned.task, None, runner.ItemError(runner.ErrorKind.FAILED, "bad capture"), 0.1
    )

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(batch, "atomic_write_text", interrupted)
    with pytest.raises(KeyboardInterrupt):
        committer.finished(done, planned.found.capture)
    assert committer.rows == {}


def test_the_time_limit_makes_one_error_row(
    tmp_path: Path, leftover_processes: Callable[[float], list[int]]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    generator = Path(__file__).resolve().parent.parent / "benchmarks" / "generate.py"
    # Read by tshark, the slower reader, so that big.pcap takes several times the limit even on a
    # fast idle machine (about 40 s here), while the small capture stays well within it on a
    # loaded one (its worker's first call also looks tshark up).
    subprocess.run(
        [sys.executable, str(generator), str(folder / "big.pcap"), "--packets", "400000"],
        check=True,
        capture_output=True,
    )
    shutil.copy(SAMPLES / "refused.pcap", folder / "small.pcap")
    result = run_batch(
        folder, tmp_path / "out", "--jobs", "2", "--time-limit", "10", "--reader", "tshark"
    )
    assert result.returncode == 4, result.stderr
    rows = captures_csv(tmp_path / "out")
    assert rows["small.pcap"]["status"] == "ok"
    assert rows["big.pcap"]["status"] == "error"
    assert rows["big.pcap"]["error"] == "stopped after 10 s, the time limit for one input"
    assert "--time-limit" in rows["big.pcap"]["hint"]
    assert leftover_processes(5.0) == []  # the tshark reading big.pcap was killed with its worker
    assert not os.path.exists(tmp_path / "out" / "reports" / "big.pcap.html")


def test_a_batch_worker_reads_and_analyses_with_the_collector_paused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As `report` alone does (capture_reading.collector_paused): the collections its many
    small objects trigger would rescan the large lists it builds. The worker has it back after."""
    import gc

    from pcapexplain import api, capture_task

    seen: list[bool] = []
    real = api.analyse_columns

    def watched(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "analyse_columns", watched)
    task = capture_task.CaptureTask(
        path=str(SAMPLES / "normal_close_client_first.pcap"),
        capture="normal_close_client_first.pcap",
        report=str(tmp_path / "report.html"),
        parts=str(tmp_path / "part"),
        lang="en",
    )
    assert gc.isenabled()
    summary = capture_task.run_capture(task)
    assert seen == [False] and summary.connections == 1
    assert gc.isenabled()
