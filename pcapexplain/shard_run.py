"""The `connections` records of a loaded capture, its 4-tuples analysed in forked processes.

`shards.py` cuts the capture and merges the records; here each part runs the unchanged stages
(`api.analyse_columns`) in a process of its own, the calling process taking the first part.
The parts meet once, after reconstructing, to combine their tallies of the capture-wide facts
(`anomalies.capture_wide`); then each sends its records back, pickled through a pipe. For
CSV, each part sends its rows already written as CSV lines (`records.CsvRows`): unpickling and
formatting tens of thousands of records would otherwise run in the calling process alone.

One process does it all, as without this module, where `os.fork` is missing, where one CPU is
available, inside a runner worker (batch and grade already use every core), and for captures
under MIN_PACKETS, where forking and merging cost more than they save.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, Pipe
from typing import Any, Generic, NoReturn, TypeVar

from pcapexplain import anomalies, api, records, runner, shards
from pcapexplain.model import Capture, CaptureAnalysis
from pcapexplain.records import ConnectionRecord

# Below this the second process does not pay: at 100k packets (benchmarks/data/100k.pcap) the
# command's 2.6 s are half Python's start and the reading, which stay in one process, and two
# parts measured no faster; the cut, the pickling and the merge cost about 5 % of the stages.
MIN_PACKETS = 200_000

T = TypeVar("T")

# Tests set this to a number of parts to cut any capture into, however small.
_FORCE_PARTS: int | None = None


def processes(packets: int, jobs: int = 0) -> int:
    """How many processes analyse a capture of this many packets; jobs as batch's --jobs
    (0: one per core)."""
    if _FORCE_PARTS is not None:
        return _FORCE_PARTS
    if not hasattr(os, "fork") or runner.in_worker() or packets < MIN_PACKETS:
        return 1
    return jobs or runner.default_jobs()


def connection_records(
    capture: Capture, capture_name: str, *, checksums_validated: bool = False, jobs: int = 0
) -> list[ConnectionRecord]:
    """The records of `connections` for every TCP connection of a loaded capture, exactly as one
    process makes them; jobs as batch's --jobs (0: one per core).

    Cut into parts, the capture is taken over: each process lets go of its packets once it has
    its part's, so the parts do not sit beside a copy of the whole (capture.packets is emptied).
    """
    parts = _parts(capture, capture_name, checksums_validated, jobs, _unchanged)
    return parts[0] if len(parts) == 1 else shards.merge(parts)


def connection_csv(
    capture: Capture, capture_name: str, *, checksums_validated: bool = False, jobs: int = 0
) -> list[records.CsvRows]:
    """connection_records as CSV rows (records.write_csv_rows writes them), each part's rendered
    in its own process: the process that merges only puts the lines in order."""
    return _parts(capture, capture_name, checksums_validated, jobs, records.csv_rows)


def _unchanged(found: list[ConnectionRecord]) -> list[ConnectionRecord]:
    return found


def _parts(
    capture: Capture,
    capture_name: str,
    checksums_validated: bool,
    jobs: int,
    render: Callable[[list[ConnectionRecord]], T],
) -> list[T]:
    """render of each part's records, in part order (one part when the capture is not cut)."""
    count = processes(len(capture.packets), jobs)
    where = shards.split(capture.packets, capture.icmp, count) if count > 1 else None
    if where is None or where.parts < 2:
        result = api.analyse_capture(capture, checksums_validated=checksums_validated)
        return [render(records.connection_records(result, capture_name))]
    task = _Task(capture, where, capture_name, checksums_validated, render)
    return _run(task)


@dataclass(frozen=True, slots=True)
class _Task(Generic[T]):
    """What every process of a cut capture knows: the capture, its cut, and what to make of a
    part's records before they travel to the calling process."""

    capture: Capture
    where: shards.Split
    capture_name: str
    checksums_validated: bool
    render: Callable[[list[ConnectionRecord]], T]


def _analyse_part(task: _Task[T], which: int, share: api.Share) -> tuple[T, CaptureAnalysis]:
    """A part's rendered records, and its analysis: freeing that takes a few tenths of a second
    at a million packets, which a child skips by sending first and leaving with os._exit."""
    capture = task.capture
    part = shards.part(capture.packets, capture.icmp, task.where, which)
    capture.packets = shards.take(capture.packets, shards.NO_ROWS)  # freed once all have a part
    result = api.analyse_columns(
        capture.info,
        part.packets,
        checksums_validated=task.checksums_validated,
        icmp=part.icmp,
        share=share,
    )
    return task.render(records.connection_records(result, task.capture_name)), result


def _run(task: _Task[T]) -> list[T]:
    """Each part's rendered records, in part order; a child's error is raised here as it was
    there."""
    children: list[tuple[int, Connection]] = []
    # Objects the parent made stay out of the collector's reach: a collection in a child would
    # otherwise write to (and so copy) every page holding one of them. (The commands, and the
    # workers of batch and grade, pause the collector for the whole analysis,
    # capture_reading.collector_paused; other callers may not.)
    gc.freeze()
    try:
        for which in range(1, task.where.parts):
            ours, theirs = Pipe()
            pid = os.fork()
            if pid == 0:
                ours.close()
                for _, other in children:
                    other.close()
                _child(theirs, task, which)
            theirs.close()
            children.append((pid, ours))
        pipes = [pipe for _, pipe in children]
        # The parent frees its analysis at once, while the children may still work.
        mine = _analyse_part(task, 0, share=lambda tally: _exchange(tally, pipes))[0]
        theirs_: list[T] = [_answer(pipe) for _, pipe in children]
        return [mine, *theirs_]
    finally:
        gc.unfreeze()
        _stop(children)


def _child(pipe: Connection, task: _Task[T], which: int) -> NoReturn:
    """A forked process: analyse one part, send its rendered records (or its error), leave at
    once.

    os._exit: the parent's exit handlers, buffers and open files are the parent's to close."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C stops

        def share(tally: anomalies.Tally) -> anomalies.CaptureWide:
            pipe.send(("tally", tally))
            wide: anomalies.CaptureWide = pipe.recv()
            return wide

        found, _analysis = _analyse_part(task, which, share)  # never freed: see _analyse_part
        pipe.send(("records", found))
    except BaseException as exc:  # noqa: BLE001 - every failure goes to the parent, as it is
        code = 1
        with contextlib.suppress(Exception):
            pipe.send(("error", _portable(exc)))
    finally:
        with contextlib.suppress(Exception):
            pipe.close()
        os._exit(code)


def _exchange(tally: anomalies.Tally, pipes: Sequence[Connection]) -> anomalies.CaptureWide:
    """The parent's side of the meeting: every part's tally in, the capture's facts out."""
    tallies = [tally]
    for pipe in pipes:
        kind, value = _receive(pipe)
        if kind != "tally":
            raise RuntimeError(f"a part sent {kind} before its tally")
        tallies.append(value)
    wide = anomalies.combine(tallies)
    for pipe in pipes:
        pipe.send(wide)
    return wide


def _answer(pipe: Connection) -> Any:
    kind, value = _receive(pipe)
    if kind != "records":
        raise RuntimeError(f"a part sent {kind} instead of its records")
    return value


def _receive(pipe: Connection) -> tuple[str, Any]:
    """The next message of a child; its error raised as the child raised it."""
    try:
        kind, value = pipe.recv()
    except EOFError:
        # Killed or gone without a word (the OOM killer, most likely): OSError's hint fits.
        raise ChildProcessError("a process analysing part of the capture died") from None
    if kind == "error":
        raise value
    return str(kind), value


def _portable(exc: BaseException) -> BaseException:
    """The exception itself (pickling keeps its attributes: PcapExplainError's message and
    hint), or a stand-in with its type's name and text when it cannot be pickled."""
    try:
        pickle.dumps(exc)
    except Exception:  # noqa: BLE001 - whatever it was, its text still reaches the user
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def _stop(children: Sequence[tuple[int, Connection]]) -> None:
    """Leave no child behind: after an error or Ctrl-C they are killed; all are reaped."""
    for pid, pipe in children:
        pipe.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
