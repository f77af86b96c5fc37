"""The `connections` records of a capture, loaded or read in parts, its 4-tuples analysed in
forked processes.

`shards.py` cuts the capture and merges the records; here each part runs the unchanged stages
(`api.analyse_columns`) in a process of its own, the calling process taking the first part.
The parts meet once, after reconstructing, to combine their tallies of the capture-wide facts
(`anomalies.capture_wide`); then each sends its records back, pickled through a pipe. For
CSV, each part sends its rows already written as CSV lines (`records.CsvRows`): unpickling and
formatting tens of thousands of records would otherwise run in the calling process alone.

A large capture file that the native reader reads (MIN_BYTES) is cut before it is read: each
process walks and decodes the whole file but keeps the 4-tuples of its own part
(`native.Cut`), so the interning, the TCP analysis and the copies check cost a part each. The
parts meet twice more while reading: to number tcp.stream across the capture, and to tell the
capture's copies (`copies.told`), so that every part holds the whole capture's CaptureInfo.

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
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, NoReturn, Protocol, TypeVar

import numpy as np

from pcapexplain import anomalies, api, budget, copies, files, native, records, shards
from pcapexplain.model import Capture, CaptureAnalysis, CaptureInfo, Reader
from pcapexplain.records import ConnectionRecord

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

# Below this the second process does not pay: at 100k packets (benchmarks/data/100k.pcap) the
# command's 2.6 s are half Python's start and the reading, which stay in one process, and two
# parts measured no faster; the cut, the pickling and the merge cost about 5 % of the stages.
MIN_PACKETS = 200_000
# The file size from which a capture is cut before it is read: MIN_PACKETS full-sized segments
# (benchmarks/data has about 770 bytes a packet). Under it, the capture is read whole and cut
# after, by its count of packets (processes).
MIN_BYTES = 150_000_000

T = TypeVar("T")
V = TypeVar("V")
W = TypeVar("W")


# What a part's analysis becomes before it travels: its records, or their CSV rows (made from
# the same columns without the records, records.connection_csv_rows); with the capture's name.
Render = Callable[[CaptureAnalysis, str], T]


class Meet(Protocol):
    """Where the parts meet: each gives its value, all get the combination of every part's
    (in part order)."""

    def __call__(self, value: V, combine: Callable[[list[V]], W]) -> W: ...


# Tests set this to a number of parts to cut any capture into, however small.
_FORCE_PARTS: int | None = None


def processes(packets: int, jobs: int = 0) -> int:
    """How many processes analyse a capture of this many packets; jobs as batch's --jobs
    (0: one per core)."""
    if _FORCE_PARTS is not None:
        return _FORCE_PARTS
    if not hasattr(os, "fork") or budget.in_worker() or packets < MIN_PACKETS:
        return 1
    return jobs or budget.default_jobs()


def processes_reading(capture: Path, reader: Reader, jobs: int = 0) -> int:
    """How many processes read a capture file apart, each its part (1: it is read whole and cut
    after, as processes says); jobs as for processes."""
    if reader is not Reader.NATIVE or str(capture) == files.STDIN:
        return 1
    try:
        big = capture.stat().st_size >= MIN_BYTES
    except OSError:
        return 1  # the reader says what is wrong with it
    return processes(MIN_PACKETS if big else 0, jobs)


def connection_records(
    capture: Capture, capture_name: str, *, checksums_validated: bool = False, jobs: int = 0
) -> list[ConnectionRecord]:
    """The records of `connections` for every TCP connection of a loaded capture, exactly as one
    process makes them; jobs as batch's --jobs (0: one per core).

    Cut into parts, the capture is taken over: each process lets go of its packets once it has
    its part's, so the parts do not sit beside a copy of the whole (capture.packets is emptied).
    """
    parts = _parts(capture, capture_name, checksums_validated, jobs, records.connection_records)
    return parts[0] if len(parts) == 1 else shards.merge(parts)


def connection_csv(
    capture: Capture, capture_name: str, *, checksums_validated: bool = False, jobs: int = 0
) -> list[records.CsvRows]:
    """connection_records as CSV rows (records.write_csv_rows writes them), each part's rendered
    in its own process: the process that merges only puts the lines in order."""
    return _parts(capture, capture_name, checksums_validated, jobs, records.connection_csv_rows)


def read_connection_records(
    capture: Path,
    capture_name: str,
    *,
    checksums_validated: bool,
    status: files.ReadStatus,
    parts: int,
) -> tuple[list[ConnectionRecord], CaptureInfo]:
    """connection_records of a capture file the native reader reads in `parts` processes
    (processes_reading), and the whole capture's CaptureInfo."""
    reading = _Reading(
        capture, capture_name, checksums_validated, status, parts, records.connection_records
    )
    found, info = _read_parts(reading)
    return shards.merge(found), info


def read_connection_csv(
    capture: Path,
    capture_name: str,
    *,
    checksums_validated: bool,
    status: files.ReadStatus,
    parts: int,
) -> tuple[list[records.CsvRows], CaptureInfo]:
    """connection_csv of a capture file the native reader reads in `parts` processes."""
    reading = _Reading(
        capture, capture_name, checksums_validated, status, parts, records.connection_csv_rows
    )
    return _read_parts(reading)


def _parts(
    capture: Capture,
    capture_name: str,
    checksums_validated: bool,
    jobs: int,
    render: Render[T],
) -> list[T]:
    """render of each part's analysis, in part order (one part when the capture is not cut)."""
    count = processes(len(capture.packets), jobs)
    where = shards.split(capture.packets, capture.icmp, count) if count > 1 else None
    if where is None or where.parts < 2:
        result = api.analyse_capture(capture, checksums_validated=checksums_validated)
        return [render(result, capture_name)]
    task = _Task(capture, where, capture_name, checksums_validated, render)
    return _run(where.parts, lambda which, meet: _analyse_part(task, which, meet))


@dataclass(frozen=True, slots=True)
class _Task(Generic[T]):
    """What every process of a cut capture knows: the capture, its cut, and what to make of a
    part's analysis before it travels to the calling process."""

    capture: Capture
    where: shards.Split
    capture_name: str
    checksums_validated: bool
    render: Render[T]


def _analyse_part(task: _Task[T], which: int, meet: Meet) -> tuple[T, CaptureAnalysis]:
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
        share=lambda tally: meet(tally, anomalies.combine),
    )
    return task.render(result, task.capture_name), result


@dataclass(frozen=True, slots=True)
class _Reading(Generic[T]):
    """What every process reading a capture file apart knows: the file, how to read it, into
    how many parts, and what to make of a part's analysis."""

    capture: Path
    capture_name: str
    checksums_validated: bool
    status: files.ReadStatus
    parts: int
    render: Render[T]


def _read_parts(reading: _Reading[T]) -> tuple[list[T], CaptureInfo]:
    """Each part's rendered records, in part order, and the capture's CaptureInfo (the
    calling process's: every part holds the same)."""
    found = _run(reading.parts, lambda which, meet: _read_part(reading, which, meet))
    return [rendered for rendered, _ in found], found[0][1]


def _read_part(
    reading: _Reading[T], which: int, meet: Meet
) -> tuple[tuple[T, CaptureInfo], CaptureAnalysis]:
    """_analyse_part of a part read from the file: readers.load's native reading (with the
    copies left out) of this part's 4-tuples only."""
    cut = native.Cut(which, reading.parts, lambda opened: meet(opened, _all_sorted))
    capture = native.load_capture(
        reading.capture,
        validate_checksums=reading.checksums_validated,
        status=reading.status,
        digest=False,
        cut=cut,
    )
    found, packets = copies.left_out(capture.packets)
    info = copies.told(capture.info, meet(found, _in_capture_order))
    result = api.analyse_columns(
        info,
        packets,
        checksums_validated=reading.checksums_validated,
        icmp=capture.icmp,
        share=lambda tally: meet(tally, anomalies.combine),
    )
    return (reading.render(result, reading.capture_name), info), result


def _all_sorted(opened: list[native.Array]) -> native.Array:
    """Every part's opening frames, in one sorted array."""
    joined: native.Array = np.sort(np.concatenate(opened))
    return joined


def _in_capture_order(found: list[list[copies.Copy]]) -> list[copies.Copy]:
    return sorted((c for part in found for c in part), key=lambda c: c.frame)


# A part's work: its rendered records, and what to keep alive until they are sent (see
# _analyse_part).
Work = Callable[[int, Meet], tuple[T, object]]


def _run(parts: int, work: Work[T]) -> list[T]:
    """Each part's rendered records, in part order; a child's error is raised here as it was
    there."""
    from multiprocessing.connection import Pipe  # here: most captures are analysed in one part

    children: list[tuple[int, Connection]] = []
    # Objects the parent made stay out of the collector's reach: a collection in a child would
    # otherwise write to (and so copy) every page holding one of them. (The commands, and the
    # workers of batch and grade, pause the collector for the whole analysis,
    # capture_reading.collector_paused; other callers may not.)
    gc.freeze()
    try:
        for which in range(1, parts):
            ours, theirs = Pipe()
            with _interrupts_held():
                pid = os.fork()
                if pid == 0:
                    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides
                    ours.close()
                    for _, other in children:
                        other.close()
                    _child(theirs, work, which)
                children.append((pid, ours))
            theirs.close()
        pipes = [pipe for _, pipe in children]

        def meet(value: V, combine: Callable[[list[V]], W]) -> W:
            return _gather(value, combine, pipes)

        # The parent frees its analysis at once, while the children may still work.
        mine = work(0, meet)[0]
        theirs_: list[T] = [_answer(pipe) for _, pipe in children]
        return [mine, *theirs_]
    finally:
        gc.unfreeze()
        _stop(children)


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """A Ctrl-C held back while a child is forked and listed, and delivered after: one arriving
    during os.fork would raise KeyboardInterrupt in Python's after-fork hooks, which print it and
    carry on, and one arriving before the child is listed would leave it unkilled.

    A handler that only notes it, not a signal mask: a mask is one thread's, the kernel hands the
    signal to any thread that does not block it (numpy's BLAS threads, the progress display), and
    Python then raises it in the main thread all the same."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread sets handlers, and only it is interrupted
        return
    noted: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: noted.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)
        if noted:
            signal.raise_signal(signal.SIGINT)


def _child(pipe: Connection, work: Work[T], which: int) -> NoReturn:
    """A forked process: analyse one part, send its rendered records (or its error), leave at
    once.

    os._exit: the parent's exit handlers, buffers and open files are the parent's to close."""
    code = 0
    try:

        def meet(value: V, combine: Callable[[list[V]], W]) -> W:
            pipe.send(("meet", value))
            combined: W = pipe.recv()
            return combined

        found, _analysis = work(which, meet)  # never freed: see _analyse_part
        pipe.send(("records", found))
    except BaseException as exc:  # noqa: BLE001 - every failure goes to the parent, as it is
        code = 1
        with contextlib.suppress(Exception):
            pipe.send(("error", _portable(exc)))
    finally:
        with contextlib.suppress(Exception):
            pipe.close()
        os._exit(code)


def _gather(value: V, combine: Callable[[list[V]], W], pipes: Sequence[Connection]) -> W:
    """The parent's side of a meeting: every part's value in, their combination out."""
    values = [value]
    for pipe in pipes:
        kind, theirs = _receive(pipe)
        if kind != "meet":
            raise RuntimeError(f"a part sent {kind} instead of meeting")
        values.append(theirs)
    combined = combine(values)
    for pipe in pipes:
        pipe.send(combined)
    return combined


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
