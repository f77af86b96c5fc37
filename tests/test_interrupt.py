"""Ctrl-C: every command says it was interrupted, in one line in its language, and exits 130,
with no traceback and nothing left running (tshark, the processes of a sharded read)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pcapexplain import files, loader, progress, shard_run
from pcapexplain.diagnostics import said_line
from pcapexplain.errors import ExitStatus
from pcapexplain.model import Lang

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Enough packets that a command is still reading when the interrupt comes."""
    path = tmp_path_factory.mktemp("interrupt") / "interrupt_big.pcap"
    subprocess.run(
        [sys.executable, "benchmarks/generate.py", str(path), "--packets", "300000"],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return path


def _reading(pid: int, capture: Path, marked: list[int]) -> bool:
    """Whether the command (or a process it started) has the capture open: it is past start-up
    (a Ctrl-C during Python's imports is Python's, before pcapexplain runs)."""
    for process in {pid, *marked}:
        try:
            fds = list(Path(f"/proc/{process}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) == str(capture):
                    return True
            except OSError:
                continue
    return False


@pytest.mark.tshark
@pytest.mark.parametrize(
    ("args", "lang"),
    [
        (("connections", "-f", "csv", "--reader", "native", "--jobs", "2"), Lang.EN),
        (("connections", "--reader", "tshark"), Lang.ZH),
        (("connections", "-f", "json", "--reader", "native", "--jobs", "1"), Lang.ZH),
        (("explain", "--reader", "native"), Lang.EN),
        (("report", "--reader", "tshark"), Lang.ZH),
    ],
    ids=["connections-sharded", "connections-tshark-zh", "connections-zh", "explain", "report-zh"],
)
def test_ctrl_c_says_interrupted_in_one_line_and_exits_130(
    args: tuple[str, ...],
    lang: Lang,
    big: Path,
    tmp_path: Path,
    leftover_processes: Callable[[float], list[int]],
) -> None:
    command, *options = args
    extra = ["-o", str(tmp_path / "r.html")] if command == "report" else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "pcapexplain", command, str(big), *options, *extra]
        + ["--lang", lang.value],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a shell gives a foreground job
    )
    deadline = time.monotonic() + 60
    while not _reading(proc.pid, big, leftover_processes(0)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the command ended before the interrupt"
    time.sleep(0.5)  # well into the reading
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitStatus.INTERRUPTED, err
    assert err.splitlines() == [said_line("interrupted", lang)]
    assert leftover_processes(5.0) == []
    assert not (tmp_path / "r.html").exists()


@pytest.mark.tshark
def test_a_ctrl_c_inside_pandas_read_call_is_an_interrupt_not_a_tshark_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # pandas' C reader catches whatever its call to read() raises, KeyboardInterrupt included, and
    # reports a ValueError: without noting the signal itself, Ctrl-C read as bad tshark output.
    original = loader._Drained.read

    def read_under_ctrl_c(self: loader._Drained, size: int = -1) -> bytes:
        signal.raise_signal(signal.SIGINT)  # Python's handler raises here, inside pandas' call
        return original(self, size)

    monkeypatch.setattr(loader._Drained, "read", read_under_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        loader.load_capture(ROOT / "sample_captures" / "normal_close_client_first.pcap")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_ctrl_c_while_a_child_is_forked_waits_until_it_is_listed() -> None:
    """shard_run forks inside _interrupts_held; a Ctrl-C then must wait, even with other threads
    alive (numpy's, the progress display's), which a signal mask in the main thread alone would
    not stop: the kernel hands the signal to one of them and Python raises it all the same."""
    display = progress.CaptureProgress(
        files.ReadStatus(), lang=Lang.EN, stream=io.StringIO(), live=True, delay=30
    )
    reached = False
    with display, pytest.raises(KeyboardInterrupt), shard_run._interrupts_held():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.3)  # raised here if the Ctrl-C were not held back
        reached = True
    assert reached  # and delivered once the block ended
