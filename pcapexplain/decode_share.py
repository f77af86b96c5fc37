"""A large capture's records walked and decoded in a helper process while the caller assembles.

The native reader's read is a pipeline: walk the records of a block (`capfile`), decode its
headers (`decode.decode`), add them to the columns (`native._Collected.add`); the analysis
follows once every block is in. The first two steps take about twice the third, and a block
needs nothing from another to be walked and decoded, so a forked helper does them, block after
block, and sends each block's result through a pipe while the caller adds the one before.

The caller sees exactly the blocks one process would, in the same order, with the file's summary
as it stood after each. When the helper's walk or decoding raises anything (a bad record, a file
cut short in a way the walk rejects, a bug), it says so and stops; the caller then walks the file
itself from the start, skipping the decoding of the blocks it already has, so that the error is
raised by the same code, in the same process, at the same record as without a helper.

One process does it all where os.fork is missing, inside a runner worker (batch and grade already
use every core), when jobs is 1, and for files under MIN_BYTES.
"""

from __future__ import annotations

import contextlib
import copy
import os
import signal
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection, Pipe
from pathlib import Path
from typing import NoReturn

from pcapexplain import capfile, decode, runner

Sent = tuple[decode.BlockResult | None, capfile.FileSummary]

# Below this the helper does not pay: forking it and sending the blocks cost about what a few
# blocks' decoding saves (a block is capfile.BLOCK_SIZE bytes of file).
MIN_BYTES = 16 * capfile.BLOCK_SIZE

# Tests set this to True (or False) to read any capture with a helper (or without).
_FORCE: bool | None = None


def wanted(path: Path, jobs: int) -> bool:
    """Whether a helper decodes the file; jobs as batch's --jobs (0: one per core)."""
    if _FORCE is not None:
        return _FORCE
    if jobs == 1 or not hasattr(os, "fork") or runner.in_worker():
        return False
    return runner.default_jobs() > 1 and path.stat().st_size >= MIN_BYTES


def decoded(
    path: Path,
    summary: capfile.FileSummary,
    *,
    validate_checksums: bool,
    check: Callable[[], None],
    helper: bool = False,
) -> Iterator[decode.BlockResult]:
    """decode.decode of every block of the file, in order, summary filled in as by
    capfile.read_records; check runs before each block is handed on (as it would before the
    block is decoded in one process)."""
    done = 0
    if helper:
        pid, pipe = _start(path, validate_checksums)
        try:
            while (sent := _receive(pipe)) is not None:
                block, seen = sent
                _copy(seen, summary)
                if block is None:  # the end of the file
                    return
                check()
                done += 1
                yield block
        finally:
            _stop(pid, pipe)
    yield from _here(path, summary, validate_checksums, check, skip=done)


def _here(
    path: Path,
    summary: capfile.FileSummary,
    validate_checksums: bool,
    check: Callable[[], None],
    skip: int,
) -> Iterator[decode.BlockResult]:
    """The blocks after the first skip, walked and decoded in this process."""
    for index, records in enumerate(capfile.read_records(path, summary)):
        check()
        if index >= skip:
            yield decode.decode(records, validate_checksums=validate_checksums)


def _start(path: Path, validate_checksums: bool) -> tuple[int, Connection]:
    ours, theirs = Pipe(duplex=False)
    pid = os.fork()
    if pid == 0:
        ours.close()
        _helper(theirs, path, validate_checksums)
    theirs.close()
    return pid, ours


def _helper(pipe: Connection, path: Path, validate_checksums: bool) -> NoReturn:
    """A forked process: walk and decode every block, send each with the summary so far.

    os._exit: the parent's exit handlers, buffers and open files are the parent's to close."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C stops
        summary = capfile.FileSummary()
        try:
            for records in capfile.read_records(path, summary):
                block = decode.decode(records, validate_checksums=validate_checksums)
                pipe.send((block, summary))
        except Exception:  # noqa: BLE001 - the caller meets it again, in its own walk
            pipe.send(None)
        else:
            pipe.send((None, summary))
    finally:
        with contextlib.suppress(Exception):
            pipe.close()
        os._exit(0)


def _receive(pipe: Connection) -> Sent | None:
    """The helper's next block and the summary after it (the block None after the last one);
    None when the helper stopped on an error."""
    try:
        sent: Sent | None = pipe.recv()
    except EOFError:
        # Killed or gone without a word (the OOM killer, most likely): OSError's hint fits.
        raise ChildProcessError("a process reading the capture died") from None
    return sent


def _copy(source: capfile.FileSummary, target: capfile.FileSummary) -> None:
    target.frames, target.damaged = source.frames, source.damaged
    target.linktypes = copy.copy(source.linktypes)


def _stop(pid: int, pipe: Connection) -> None:
    """Leave no helper behind: one still working (after an error or Ctrl-C) is killed; it is
    reaped."""
    pipe.close()
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
