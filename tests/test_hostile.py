"""Odd and hostile input through the shipped command: standard input, files that are not regular
files, no work left running after a failed run, and progress only on a terminal."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from pcapexplain import files, output, readers
from pcapexplain.errors import CaptureUnreadable, NotACapture
from pcapexplain.model import Reader
from tests.shipped import command, run

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"
SAMPLE = SAMPLES / "normal_close_client_first.pcap"
CAPTURE_COMMANDS = (("connections",), ("explain",), ("report", "-o", os.devnull + ".html"))

pytestmark = pytest.mark.tshark


def _piped(
    args: list[str], data: bytes, tmp: Path, timeout: float = 120
) -> subprocess.CompletedProcess[bytes]:
    """The shipped command with data on its standard input and TMPDIR in tmp."""
    env = {**os.environ, "TMPDIR": str(tmp)}
    return subprocess.run(
        [*command(), *args], input=data, capture_output=True, timeout=timeout, env=env, check=False
    )


def _one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith("pcapexplain: error: ") and lines[1].startswith("hint: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("reader", ["auto", "native", "tshark"])
def test_dash_reads_standard_input_like_the_file(tmp_path: Path, reader: str) -> None:
    spool = tmp_path / "tmp"
    spool.mkdir()
    args = ["connections", "-", "--format", "json", "--reader", reader]
    piped = _piped(args, SAMPLE.read_bytes(), spool)
    assert piped.returncode == 0, piped.stderr
    direct = run("connections", str(SAMPLE), "--format", "json", "--reader", reader)
    from_stdin, from_file = json.loads(piped.stdout), json.loads(direct.stdout)
    assert [r["capture"] for r in from_stdin] == ["-"] * len(from_file)
    for row in (*from_stdin, *from_file):
        del row["capture"]
    assert from_stdin == from_file
    assert not list(spool.iterdir()), "the spooled copy of standard input was left behind"


def test_dash_for_report_and_explain(tmp_path: Path) -> None:
    spool = tmp_path / "tmp"
    spool.mkdir()
    story = _piped(["explain", "-"], SAMPLE.read_bytes(), spool)
    assert story.returncode == 0 and b"SYN" in story.stdout
    target = tmp_path / "out.html"
    page = _piped(["report", "-", "-o", str(target)], SAMPLE.read_bytes(), spool)
    assert page.returncode == 0, page.stderr
    assert hashlib.sha256(SAMPLE.read_bytes()).hexdigest() in target.read_text(encoding="utf-8")
    assert not list(spool.iterdir())


def test_dash_with_something_else_on_standard_input_is_one_error(tmp_path: Path) -> None:
    for data, said in (
        (b"", "standard input"),
        (b"hello, not a capture\n" * 100, "standard input"),
    ):
        result = _piped(["connections", "-"], data, tmp_path)
        assert result.returncode == 1
        assert said in _one_error(result.stderr.decode())
    assert not list(tmp_path.iterdir())


def test_interrupted_while_reading_standard_input_leaves_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    process = subprocess.Popen(
        [*command(), "connections", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdin is not None
    process.stdin.write(SAMPLE.read_bytes()[:1000])
    process.stdin.flush()
    deadline = time.monotonic() + 60
    while not list(tmp_path.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)  # until the spool file exists: the command is reading its input
    assert list(tmp_path.iterdir()), "standard input was never spooled"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert not list(tmp_path.iterdir())


def test_ctrl_c_just_after_the_spool_folder_is_made_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The window the command-level test above can only hit by chance under load: the interrupt
    # lands after mkdir returned, before any cleanup was set up.
    real_mkdir = os.mkdir

    def mkdir_then_ctrl_c(path: str | os.PathLike[str], mode: int = 0o777) -> None:
        real_mkdir(path, mode)
        raise KeyboardInterrupt

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    monkeypatch.setattr(os, "mkdir", mkdir_then_ctrl_c)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    with pytest.raises(KeyboardInterrupt), files.spooled_stdin(files.ReadStatus()):
        pass
    assert not list(tmp_path.iterdir())


def test_ctrl_c_just_after_the_output_temporary_is_made_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def open_then_ctrl_c(path: str | os.PathLike[str], flags: int, mode: int = 0o777) -> int:
        os.close(real_open(path, flags, mode))  # the file exists, as after mkstemp's open
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "open", open_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        output.atomic_write_text(tmp_path / "report.html", "never written")
    assert not list(tmp_path.iterdir())


def _fifo(tmp: Path) -> Path:
    path = tmp / "capture.pcap"
    os.mkfifo(path)
    return path


def _socket(tmp: Path) -> Path:
    path = tmp / "s.pcap"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    return path


@pytest.mark.parametrize("reader", ["native", "tshark"])
@pytest.mark.parametrize("args", CAPTURE_COMMANDS, ids=lambda a: a[0])
@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (_fifo, "a pipe (FIFO)"),
        (lambda _: Path("/dev/zero"), "a character device"),
        (_socket, "a socket"),
        (lambda tmp: tmp, "a folder"),
    ],
    ids=["fifo", "dev-zero", "socket", "folder"],
)
def test_files_that_are_not_regular_are_refused_at_once(
    tmp_path: Path, args: tuple[str, ...], make: object, kind: str, reader: str
) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    start = time.monotonic()
    result = run(args[0], str(path), *args[1:], "--reader", reader, timeout=60)
    assert result.returncode == 1
    assert f"is {kind}, not a capture file" in _one_error(result.stderr)
    assert time.monotonic() - start < 30


@pytest.mark.parametrize("reader", [Reader.NATIVE, Reader.TSHARK])
def test_no_background_work_outlives_a_failed_load(tmp_path: Path, reader: Reader) -> None:
    # 256 MiB that either reader refuses at once: the hash of the file must stop with the run.
    junk = tmp_path / "junk.pcap"
    with junk.open("wb") as out:
        out.truncate(256 << 20)
    before = threading.active_count()
    start = time.monotonic()
    with pytest.raises(NotACapture):
        readers.load(junk, reader=reader)
    assert threading.active_count() == before
    assert time.monotonic() - start < 30


def test_standard_input_on_a_terminal_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal:
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal())
    with pytest.raises(CaptureUnreadable, match="terminal"):
        readers.load("-")


def _on_terminal(args: list[str], timeout: float = 300) -> tuple[int, str]:
    """Run the shipped command with stderr on a pseudo-terminal; (exit status, what it drew)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [*command(), *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower
    )
    os.close(follower)
    drawn = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                block = os.read(leader, 65536)
            except OSError:
                break
            if not block:
                break
            drawn += block
        elif process.poll() is not None:
            break
    os.close(leader)
    return process.wait(timeout=60), drawn.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A port scan big enough to take a few seconds: 60,000 SYNs (benchmarks/syn_scan.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    try:
        import syn_scan
    finally:
        sys.path.pop(0)
    path = tmp_path_factory.mktemp("scan") / "scan.pcap"
    syn_scan.write(path, 60_000)
    return path


def test_long_work_shows_progress_on_a_terminal_only(scan: Path) -> None:
    status, drawn = _on_terminal(["connections", str(scan), "--format", "csv", "-o", os.devnull])
    assert status == 0, drawn
    assert "packets/s" in drawn or "analysing" in drawn, drawn
    piped = run("connections", str(scan), "--format", "csv", "-o", os.devnull, timeout=300)
    assert piped.returncode == 0
    assert "packets/s" not in piped.stderr and "analysing" not in piped.stderr
    assert piped.stderr.startswith("Wrote "), piped.stderr


def test_a_file_name_that_is_not_utf8_is_shown_replaced(tmp_path: Path) -> None:
    folder = os.fsencode(tmp_path)
    capture = folder + b"/lab\xff3.pcap"
    with open(capture, "wb") as out:
        out.write(SAMPLE.read_bytes())
    page = folder + b"/lab\xff3.html"
    made = subprocess.run(
        [*command(), "report", os.fsdecode(capture), "-o", os.fsdecode(page)],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    with open(page, encoding="utf-8") as html:
        assert "lab\ufffd3.pcap" in html.read()
    listed = run("connections", os.fsdecode(capture), "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert {row["capture"] for row in json.loads(listed.stdout)} == {"lab\ufffd3.pcap"}
