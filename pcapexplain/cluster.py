"""Cluster: the runner's Dask backend, for when one machine is not enough; the only module that
imports dask.distributed (the optional `dask` extra).

The calls go to an existing Dask scheduler. Each runs, on a Dask worker, through
`runner.call_isolated`: in a worker process of its own there, with the same time limit and the
same errors as on this machine, so a crash or a hang never takes a Dask worker down. At most as
many calls are in flight as the cluster has threads (or `jobs`, when given), handed out largest
first as the earlier ones finish, so progress shows what is really running.

On Ctrl-C the calls not yet started are cancelled; calls already running on the cluster finish
there (each within the time limit) and their results are dropped.
"""

from __future__ import annotations

import importlib
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pcapexplain.errors import DaskMissing, SchedulerUnavailable
from pcapexplain.explanations import said
from pcapexplain.runner import (
    ErrorKind,
    Finished,
    ItemError,
    Listener,
    Outcome,
    RunOptions,
    bug_error,
    call_isolated,
)

T = TypeVar("T")
R = TypeVar("R")

CONNECT_TIMEOUT = 10  # seconds to reach the scheduler


def _distributed() -> Any:
    """dask.distributed, untyped: its calls are made through Any."""
    return importlib.import_module("distributed")


def run(
    func: Callable[[T], R],
    items: Sequence[T],
    order: list[int],
    options: RunOptions,
    *,
    label: Callable[[T], str],
    listener: Listener,
) -> Outcome[T, R]:
    """Run func over items in the given order on the Dask cluster at options.scheduler.

    Raises DaskMissing without the extra, SchedulerUnavailable when the scheduler does not answer.
    """
    try:
        distributed = _distributed()
    except ImportError as exc:
        raise DaskMissing(said("error.dask_missing")) from exc
    address = str(options.scheduler)
    try:
        client = distributed.Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise SchedulerUnavailable(
            said("error.no_scheduler", address=address, reason=str(exc))
        ) from exc
    with client:
        slots = options.jobs if options.jobs > 0 else sum(client.nthreads().values())
        return _Submitter(client, func, items, options, label, listener).run(order, max(1, slots))


class _Submitter:
    def __init__(
        self,
        client: Any,
        func: Callable[..., Any],
        items: Sequence[Any],
        options: RunOptions,
        label: Callable[[Any], str],
        listener: Listener,
    ) -> None:
        self.client, self.func, self.items = client, func, items
        self.limit = options.time_limit or None
        self.label, self.listener = label, listener
        self.flight: dict[Any, tuple[int, float]] = {}
        self.completed = _distributed().as_completed(loop=client.loop)
        self.batch = uuid.uuid4().hex[:12]

    def run(self, order: list[int], slots: int) -> Outcome[Any, Any]:
        outcome: Outcome[Any, Any] = Outcome()
        pending = deque(order)
        try:
            while pending and len(self.flight) < slots:
                self._submit(pending.popleft())
            for future in self.completed:
                index, start = self.flight.pop(future)
                result, error = self._answer(future)
                item = self.items[index]
                done = Finished(index, item, result, error, time.monotonic() - start)
                outcome.finished.append(done)
                self.listener.finished(done, self.label(item))
                if pending:
                    self._submit(pending.popleft())
        except KeyboardInterrupt:
            outcome.interrupted = True
            self.client.cancel(list(self.flight))
        finished = {f.index for f in outcome.finished}
        outcome.not_run = [i for i in order if i not in finished]
        return outcome

    def _submit(self, index: int) -> None:
        item = self.items[index]
        future = self.client.submit(
            call_isolated,
            self.func,
            item,
            self.limit,
            key=f"pcapexplain-{self.batch}-{index}",
            pure=False,
        )
        self.flight[future] = (index, time.monotonic())
        self.completed.add(future)
        self.listener.started(index, self.label(item))

    @staticmethod
    def _answer(future: Any) -> tuple[Any, ItemError | None]:
        killed_worker = importlib.import_module("distributed.scheduler").KilledWorker
        try:
            answer: tuple[Any, ItemError | None] = future.result()
        except killed_worker as exc:
            return None, ItemError(
                ErrorKind.CRASHED,
                said("error.dask_worker_died", reason=str(exc)),
                said("hint.dask_worker_log"),
            )
        except Exception as exc:  # noqa: BLE001 - a failure on the cluster is this input's error
            return None, bug_error(exc)
        return answer
