"""`pcapexplain batch --scheduler` against a real Dask cluster: `dask scheduler` and `dask worker`
started as separate processes on localhost give the same files as a local run."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"
DASK = Path(sys.executable).parent / "dask"

pytestmark = [pytest.mark.tshark, pytest.mark.slow]


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _scheduler_address(info: Path, deadline: float) -> str:
    """The address in the scheduler's file, once it is whole: dask writes the file in place, so
    it can exist, empty or cut short, before the JSON is complete."""
    while True:
        try:
            address: str = json.loads(info.read_text())["address"]
            return address
        except (OSError, ValueError, KeyError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@contextlib.contextmanager
def dask_cluster(folder: Path) -> Iterator[str]:
    """A scheduler and one worker process (two threads), each started with the dask command."""
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    if not DASK.exists():
        pytest.skip(f"{DASK} is missing: pip install '.[dask]'")
    info = folder / "scheduler.json"
    logs = [open(folder / f"{name}.log", "wb") for name in ("scheduler", "worker")]  # noqa: SIM115
    common = ["--no-dashboard", "--host", "127.0.0.1"]
    scheduler = subprocess.Popen(
        [str(DASK), "scheduler", "--port", "0", "--scheduler-file", str(info), *common],
        stdout=logs[0],
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = None
    try:
        address = _scheduler_address(info, deadline=time.monotonic() + 90)
        worker = subprocess.Popen(
            [str(DASK), "worker", address, "--nworkers", "1", "--nthreads", "2", *common],
            stdout=logs[1],
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=90)
        yield address
    finally:
        for process in (worker, scheduler):
            if process is not None:
                _stop(process)
        for log in logs:
            log.close()


def test_a_dask_cluster_gives_the_same_files_as_a_local_run(
    tmp_path: Path, leftover_processes: Callable[[float], list[int]]
) -> None:
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    for name in ("refused.pcap", "half_close.pcap", "lossy_transfer.pcap", "midstream.pcap"):
        shutil.copy(SAMPLES / name, folder / name)
    shutil.copy(SAMPLES / "refused.pcap", folder / "sub" / "refused.pcap")
    (folder / "broken.pcap").write_text("not a capture\n")
    (folder / "notes.txt").write_text("lab notes\n")

    command = [sys.executable, "-m", "pcapexplain", "batch", str(folder), "-r"]
    local = subprocess.run(
        [*command, "-o", str(tmp_path / "local")], capture_output=True, text=True
    )
    assert local.returncode == 4, local.stderr
    with dask_cluster(tmp_path) as address:
        remote = subprocess.run(
            [*command, "-o", str(tmp_path / "dask"), "--scheduler", address],
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert remote.returncode == 4, remote.stderr
    assert leftover_processes(10.0) == []  # the cluster's worker processes went with it

    def lines(text: str) -> list[str]:
        return sorted(line.rsplit(" · ", 1)[0] for line in text.splitlines()[:-1])

    assert lines(remote.stdout) == lines(local.stdout)  # the same lines, bar the seconds
    for name in ("connections.csv", "conn.log"):
        ours, theirs = (tmp_path / run / name for run in ("dask", "local"))
        assert ours.read_bytes() == theirs.read_bytes(), name

    def captures(run: str) -> list[dict[str, str]]:
        with open(tmp_path / run / "captures.csv", encoding="utf-8", newline="") as handle:
            return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(handle)]

    assert captures("dask") == captures("local")
    broken = next(r for r in captures("dask") if r["capture"] == "broken.pcap")
    assert broken["status"] == "error" and "broken.pcap" in broken["error"]
    assert sorted(p.name for p in (tmp_path / "dask" / "reports").iterdir()) == sorted(
        p.name for p in (tmp_path / "local" / "reports").iterdir()
    )
