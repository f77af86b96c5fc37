"""The installed `pcapexplain` command run as a user runs it, and a reader of the logs it writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

_SCRIPT = Path(sys.executable).with_name("pcapexplain")
_ROOT = Path(__file__).resolve().parent.parent


# `python -c` this with `pcapexplain`'s arguments: a run cut into 3 processes whose parts then
# sleep, so that a test can press Ctrl-C while all of them are alive.
SLOW_CHILDREN = """
import sys, time
from pcapexplain import cli, records, shard_run
shard_run._FORCE_PARTS = 3
records.connection_records = records.connection_csv_rows = lambda *a, **k: time.sleep(300)
sys.exit(cli.main(sys.argv[1:]))
"""


def command() -> list[str]:
    """The console script of this environment, or `python -m pcapexplain` where there is none."""
    return [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "pcapexplain"]


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `pcapexplain ARGS`; raises subprocess.TimeoutExpired when it does not finish in time."""
    return subprocess.run(
        [*command(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def read_conn_log(path: Path) -> list[dict[str, str]]:
    """The rows of a Zeek ASCII log, keyed by its #fields header."""
    lines = path.read_text(encoding="utf-8").splitlines()
    fields = next(ln for ln in lines if ln.startswith("#fields\t")).split("\t")[1:]
    return [dict(zip(fields, ln.split("\t"), strict=True)) for ln in lines if ln[:1] != "#"]


def interrupted_when_running(
    argv: list[str], processes: int, leftover: Callable[[float], list[int]]
) -> None:
    """Starts argv, waits until it runs in `processes` processes, presses Ctrl-C (SIGINT to its
    process group, as a terminal does to a foreground job) and asserts that it ends with 130,
    without a traceback, and leaves nothing behind; leftover: the leftover_processes fixture."""
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a shell gives a foreground job
    )
    deadline = time.monotonic() + 60
    while len(leftover(0)) < processes and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(leftover(0)) == processes, "the processes never started"
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert leftover(5.0) == []


def generated(folder: Path, *args: str) -> Path:
    """A capture made by benchmarks/generate.py with these arguments, in folder."""
    out = folder / ("generated" + "_".join(args) + ".pcap")
    subprocess.run(
        [sys.executable, str(_ROOT / "benchmarks" / "generate.py"), str(out), *args],
        check=True,
        capture_output=True,
    )
    return out
