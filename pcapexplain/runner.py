"""Runner: map one function over many inputs, each call in a separate process, with progress,
isolation, a time limit, clean Ctrl-C, and a choice of scheduler (this machine or a Dask cluster).

It knows nothing of captures: `batch` maps the per-capture task over a folder with it, and any
other command that processes a list of inputs the same way can do the same.

API::

    from pcapexplain import runner

    def grade_one(item: Submission) -> Grade: ...  # a module-level function (picklable);
                                                   # raises PcapExplainError for a bad input
    outcome = runner.run(
        grade_one,
        items,                                     # a sequence of picklable inputs
        runner.RunOptions(jobs=4, time_limit=600.0, scheduler=None),  # or "tcp://host:8786"
        weight=lambda s: s.size,                   # larger runs first (default: input order)
        label=lambda s: s.name,                    # names the input in progress and errors
        listener=listener,                         # runner.Listener (started, finished) or None
    )
    outcome.finished      # list of Finished(index, item, result, error, seconds), finishing order
    outcome.interrupted   # True after Ctrl-C: what had finished is kept, the rest is not run
    outcome.not_run       # indexes of the inputs that did not finish

What it guarantees, on this machine and on a cluster alike:

- Isolation. Each call runs in a worker process of its own session (process group). An input
  whose call raises gives a Finished with `error` set and `result` None, and the run goes on:
  a PcapExplainError keeps its message and hint (ErrorKind.FAILED), any other exception
  becomes ErrorKind.BUG. A worker that dies (a crash, the OOM killer) is ErrorKind.CRASHED and
  is replaced.
- Time limit. A call that takes longer than `time_limit` seconds is stopped by killing its
  worker's whole process group, so any program it started (tshark) dies with it
  (ErrorKind.TIMEOUT). None or 0: no limit.
- Largest first: inputs start in decreasing weight, so one big input does not finish last alone.
- Ctrl-C (KeyboardInterrupt in the calling thread) stops the run: every worker and what it
  started is killed, and run() returns normally with `interrupted` set. Workers ignore SIGINT
  themselves (they are in their own sessions); they also exit when the calling process dies.
- The listener hears `started(index, label)` when an input is handed to a worker and
  `finished(done, label)` as soon as it ends, in the calling thread, so it may print or write.
- `scheduler="tcp://HOST:PORT"` sends the same calls to an existing Dask distributed cluster
  (pcapexplain.cluster, the optional `dask` extra); there each call also runs in a worker
  process of its own on the Dask worker, with the same time limit and the same errors. The
  function and its inputs must be importable and meaningful on the Dask workers (same package,
  same paths).

The local workers are persistent Python processes (`python -c ... serve()`), fed pickled calls
through a pipe: the start-up cost (Python, then the imports of the first call) is paid once per
worker, not once per input.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import queue
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import IO, Any, Generic, Protocol, TypeVar

from pcapexplain import budget
from pcapexplain.errors import PcapExplainError, WorkerStartError, bug_hint
from pcapexplain.explanations import said

T = TypeVar("T")
R = TypeVar("R")

IDLE_EXIT = 60.0  # seconds a worker waits for work before it exits on its own
_WATCH_PARENT = 1.0  # how often a worker checks that the process that started it still lives
_KILL_WAIT = 5.0


class ErrorKind(StrEnum):
    """Why a call gave no result."""

    FAILED = "failed"  # the function raised a PcapExplainError: a bad input, explained
    BUG = "bug"  # the function raised anything else
    TIMEOUT = "timeout"  # stopped at the time limit
    CRASHED = "crashed"  # the worker process died


@dataclass(frozen=True, slots=True)
class ItemError:
    kind: ErrorKind
    message: str
    hint: str | None = None


@dataclass(frozen=True, slots=True)
class Finished(Generic[T, R]):
    index: int  # position in the input sequence
    item: T
    result: R | None  # None exactly when error is set
    error: ItemError | None
    seconds: float  # wall time of the call, as seen by the caller


@dataclass(slots=True)
class Outcome(Generic[T, R]):
    finished: list[Finished[T, R]] = field(default_factory=list)
    interrupted: bool = False
    not_run: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RunOptions:
    jobs: int  # worker processes here; on a cluster, calls in flight (0: the cluster's threads)
    time_limit: float | None = None  # seconds per call; None or 0: none
    scheduler: str | None = None  # a Dask scheduler address, or None for this machine


class Listener(Protocol):
    def started(self, index: int, label: str) -> None: ...

    def finished(self, done: Finished[Any, Any], label: str) -> None: ...


def schedule(weights: Sequence[int]) -> list[int]:
    """Indexes in decreasing weight; equal weights keep their order."""
    return sorted(range(len(weights)), key=lambda i: -weights[i])


def run(
    func: Callable[[T], R],
    items: Sequence[T],
    options: RunOptions,
    *,
    weight: Callable[[T], int] | None = None,
    label: Callable[[T], str] = str,
    listener: Listener | None = None,
) -> Outcome[T, R]:
    """Call func on every item, in worker processes, largest weight first; see the module doc.

    Raises PcapExplainError only for the scheduler itself (Dask missing or unreachable).
    """
    if not items:
        return Outcome()
    order = schedule([weight(i) for i in items]) if weight else list(range(len(items)))
    heard = listener if listener is not None else _Silent()
    if options.scheduler:
        from pcapexplain import cluster

        return cluster.run(func, items, order, options, label=label, listener=heard)
    return _LocalRun(func, items, options, label, heard).run(order)


class _Silent:
    def started(self, index: int, label: str) -> None:
        pass

    def finished(self, done: Finished[Any, Any], label: str) -> None:
        pass


def timeout_error(limit: float) -> ItemError:
    return ItemError(
        ErrorKind.TIMEOUT,
        said("error.timeout", limit=f"{limit:g}"),
        said("hint.time_limit"),
    )


def bug_error(exc: BaseException) -> ItemError:
    return ItemError(ErrorKind.BUG, f"{type(exc).__name__}: {exc}", bug_hint())


# --------------------------------------------------------------------------- worker processes

_BOOT = "from pcapexplain.runner import boot; boot()"
_LENGTH = struct.Struct(">Q")


class WorkerProcess:
    """A persistent Python process, in a session of its own, that runs one call at a time.

    preload names a module the worker imports before it says it is ready (the module of the
    function it will run), so that import time counts neither in a call's time nor its limit.
    """

    def __init__(self, preload: str = "") -> None:
        task_r, task_w = os.pipe()
        result_r, result_w = os.pipe()
        # The worker imports what this process imports: same interpreter, same search path.
        path = os.pathsep.join(p for p in sys.path if p)
        env = {**os.environ, "PYTHONPATH": path}
        argv = [sys.executable, "-c", _BOOT, str(task_r), str(result_w), str(os.getpid()), preload]
        try:
            self._process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                pass_fds=(task_r, result_w),
                start_new_session=True,
                env=env,
            )
        finally:
            os.close(task_r)
            os.close(result_w)
        self._tasks: IO[bytes] = os.fdopen(task_w, "wb")
        self._results: IO[bytes] = os.fdopen(result_r, "rb")
        self.ready = False

    def take_ready(self) -> None:
        """Wait for the worker to finish starting; raises WorkerStartError if it died instead."""
        if _read_frame(self._results) != b"":
            self.kill()
            raise WorkerStartError(
                said("error.worker_start", code=str(self._process.returncode)),
                said("hint.worker_start", python=sys.executable),
            )
        self.ready = True

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def fileno(self) -> int:
        """The result pipe, for select()."""
        return self._results.fileno()

    def send(self, func: Callable[[T], R], item: T) -> None:
        """Hand over one call. Raises pickle.PicklingError (or TypeError, AttributeError) when
        func or item cannot be pickled, OSError when the worker is gone."""
        data = pickle.dumps((func, item), protocol=pickle.HIGHEST_PROTOCOL)
        self._tasks.write(_LENGTH.pack(len(data)) + data)
        self._tasks.flush()

    def receive(self) -> tuple[Any, ItemError | None]:
        """The (result, error) of the call sent last; raises EOFError when the worker died."""
        frame = _read_frame(self._results)
        if frame is None:
            raise EOFError("worker exited")
        answer: tuple[Any, ItemError | None] = pickle.loads(frame)
        return answer

    def call(self, func: Callable[[T], R], item: T, time_limit: float | None) -> tuple[Any, Any]:
        """One call with a time limit: (result, None) or (None, ItemError); never raises for the
        call's own failures. A worker that timed out or died is unusable afterwards."""
        if not self.ready:
            self.take_ready()
        try:
            self.send(func, item)
        except OSError:
            return None, self.crashed()
        except Exception as exc:  # noqa: BLE001 - pickling raises more than PicklingError
            return None, bug_error(exc)
        ready, _, _ = select.select([self], [], [], time_limit or None)
        if not ready:
            self.kill()
            return None, timeout_error(time_limit or 0)
        try:
            return self.receive()
        except EOFError:
            return None, self.crashed()

    def crashed(self) -> ItemError:
        """The error for the call that was running when this worker died; reaps it."""
        self.kill()
        code = self._process.returncode
        if code is not None and code < 0:
            message = said("error.worker_killed", signal=signal.Signals(-code).name)
        else:
            message = said("error.worker_exited", code=str(code))
        return ItemError(ErrorKind.CRASHED, message, said("hint.worker_crashed"))

    def kill(self) -> None:
        """Kill the worker and everything in its process group (tshark included), and reap it."""
        if self._process.returncode is not None:  # reaped: its pid may belong to another now
            self._close_pipes()
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self._process.kill()
        self._process.wait()
        self._close_pipes()

    def close(self) -> None:
        """Let an idle worker exit (end of its input), killing it if it does not."""
        self._close_pipes()
        try:
            self._process.wait(timeout=_KILL_WAIT)
        except subprocess.TimeoutExpired:
            self.kill()

    def _close_pipes(self) -> None:
        for pipe in (self._tasks, self._results):
            with contextlib.suppress(OSError):
                pipe.close()


def _read_frame(stream: IO[bytes]) -> bytes | None:
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    data = stream.read(size)
    return data if len(data) == size else None


def boot() -> None:
    """Entry point of `python -c _BOOT TASK_FD RESULT_FD PARENT_PID [PRELOAD]`."""
    task_fd, result_fd, parent = (int(a) for a in sys.argv[1:4])
    serve(task_fd, result_fd, parent, *sys.argv[4:5])


def serve(task_fd: int, result_fd: int, parent: int, preload: str = "") -> None:
    """A worker's main loop: import preload, say ready (an empty frame), then read a pickled
    (func, item), answer (result, error), repeat.

    Ends at the end of its input, after IDLE_EXIT seconds without work, or when the process that
    started it is gone.
    """
    budget.mark_worker()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller decides what Ctrl-C stops
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if preload:
        with contextlib.suppress(Exception):  # a broken import shows up again in the first call
            importlib.import_module(preload)
    try:
        _serve(task_fd, result_fd)
    except BrokenPipeError:
        # The caller closed its end (Ctrl-C, or it stopped this worker) while an answer was on
        # its way: nobody is left to tell, and a traceback would reach the user's terminal.
        os._exit(0)


def _serve(task_fd: int, result_fd: int) -> None:
    with os.fdopen(task_fd, "rb") as tasks, os.fdopen(result_fd, "wb") as results:
        results.write(_LENGTH.pack(0))
        results.flush()
        while select.select([tasks], [], [], IDLE_EXIT)[0]:
            frame = _read_frame(tasks)
            if frame is None:
                return
            answer = _answer(frame)
            results.write(_LENGTH.pack(len(answer)) + answer)
            results.flush()


def _answer(frame: bytes) -> bytes:
    try:
        func, item = pickle.loads(frame)
        reply: tuple[Any, ItemError | None] = (func(item), None)
    except PcapExplainError as exc:
        reply = (None, ItemError(ErrorKind.FAILED, exc.message, exc.hint))
    except Exception as exc:  # noqa: BLE001 - isolation: any failure is this input's error row
        reply = (None, bug_error(exc))
    try:
        return pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - an unpicklable result is a bug of the caller
        return pickle.dumps((None, bug_error(exc)), protocol=pickle.HIGHEST_PROTOCOL)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_WATCH_PARENT)
    os._exit(1)  # the process group goes too: tshark dies by its parent-death signal


# Workers kept by a process that runs calls for others (a Dask worker): reused between calls.
_IDLE: queue.SimpleQueue[WorkerProcess] = queue.SimpleQueue()


def call_isolated(func: Callable[[T], R], item: T, time_limit: float | None) -> tuple[Any, Any]:
    """Run func(item) in a worker process of this process; (result, None) or (None, ItemError).

    What a Dask worker runs for each input, so that a crash, a hang or a time limit there ends
    one worker process, never the Dask worker itself.
    """
    worker = None
    while worker is None:
        try:
            worker = _IDLE.get_nowait()
        except queue.Empty:
            worker = WorkerProcess(_module_of(func))
        if not worker.alive:  # it waited longer than IDLE_EXIT and left
            worker.kill()
            worker = None
    answer = worker.call(func, item, time_limit)
    if worker.alive:
        _IDLE.put(worker)
    return answer


def _module_of(func: Callable[..., Any]) -> str:
    module = getattr(func, "__module__", "") or ""
    return "" if module == "__main__" else module


# --------------------------------------------------------------------------- this machine


@dataclass(slots=True)
class _Running:
    index: int
    start: float
    deadline: float


class _LocalRun(Generic[T, R]):
    def __init__(
        self,
        func: Callable[[T], R],
        items: Sequence[T],
        options: RunOptions,
        label: Callable[[T], str],
        listener: Listener,
    ) -> None:
        self.func, self.items, self.label, self.listener = func, items, label, listener
        self.jobs = max(1, options.jobs)
        self.limit = options.time_limit or None
        self.preload = _module_of(func)
        self.outcome: Outcome[T, R] = Outcome()
        self.running: dict[WorkerProcess, _Running] = {}
        self.starting: list[WorkerProcess] = []
        self.idle: list[WorkerProcess] = []
        # Every worker ever started: Ctrl-C can land between a worker leaving one of the lists
        # above and joining another (just after it was sent an item, say), and the clean-up
        # must still stop it, or it finishes the item after the caller cleaned up.
        self.spawned: list[WorkerProcess] = []

    def run(self, order: list[int]) -> Outcome[T, R]:
        pending = deque(order)
        try:
            for _ in range(min(self.jobs, len(order))):
                self._spawn()
            while pending or self.running:
                while self.idle and pending:
                    worker = self.idle.pop()
                    if worker.alive:
                        self._dispatch(worker, pending.popleft())
                    else:  # it idled out
                        worker.kill()
                        self._spawn()
                self._wait()
        except KeyboardInterrupt:
            self.outcome.interrupted = True
        finally:
            with _no_interrupts():
                self._stop()
        done = {f.index for f in self.outcome.finished}
        self.outcome.not_run = [i for i in order if i not in done]
        return self.outcome

    def _spawn(self) -> None:
        worker = WorkerProcess(self.preload)
        self.spawned.append(worker)
        self.starting.append(worker)

    def _stop(self) -> None:
        stop = bool(self.running) or self.outcome.interrupted
        for worker in self.spawned:  # killing one already reaped is harmless
            if stop or worker not in self.idle:
                worker.kill()
            else:
                worker.close()

    def _dispatch(self, worker: WorkerProcess, index: int) -> None:
        item = self.items[index]
        self.listener.started(index, self.label(item))
        start = time.monotonic()
        try:
            worker.send(self.func, item)
        except OSError:
            self._finish(index, start, None, worker.crashed())
            self._spawn()
            return
        except Exception as exc:  # noqa: BLE001 - pickling raises more than PicklingError
            self._finish(index, start, None, bug_error(exc))
            self.idle.append(worker)
            return
        deadline = start + self.limit if self.limit else float("inf")
        self.running[worker] = _Running(index, start, deadline)

    def _wait(self) -> None:
        if not self.running and not self.starting:
            return
        nearest = min((r.deadline for r in self.running.values()), default=float("inf"))
        timeout = None if nearest == float("inf") else max(0.0, nearest - time.monotonic())
        ready, _, _ = select.select([*self.running, *self.starting], [], [], timeout)
        for worker in ready:
            if worker in self.starting:
                self.starting.remove(worker)
                worker.take_ready()
                self.idle.append(worker)
                continue
            task = self.running.pop(worker)
            try:
                result, error = worker.receive()
                self.idle.append(worker)
            except EOFError:
                result, error = None, worker.crashed()
                self._spawn()
            self._finish(task.index, task.start, result, error)
        now = time.monotonic()
        for worker, task in list(self.running.items()):
            if task.deadline <= now:
                del self.running[worker]
                worker.kill()
                self._spawn()
                self._finish(task.index, task.start, None, timeout_error(self.limit or 0))

    def _finish(self, index: int, start: float, result: R | None, error: ItemError | None) -> None:
        item = self.items[index]
        done = Finished(index, item, result, error, time.monotonic() - start)
        self.outcome.finished.append(done)
        self.listener.finished(done, self.label(item))


@contextlib.contextmanager
def _no_interrupts() -> Iterator[None]:
    """A second Ctrl-C must not stop the clean-up of the first one half-way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
