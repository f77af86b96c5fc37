"""The runner with real worker processes: results, isolation, time limit, order, Ctrl-C."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from pcapexplain import runner
from pcapexplain.errors import NotACapture
from pcapexplain.runner import ErrorKind, Finished, RunOptions


def work(item: str) -> str:
    """What the workers run (module level, so it pickles by reference)."""
    if item == "bad":
        raise NotACapture("bad is not a capture file tshark can read", "export it again")
    if item == "bug":
        raise ValueError("a bug in the function")
    if item == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    if item.startswith("hang"):
        # A child of the worker, like tshark: the time limit must take it down too.
        subprocess.Popen(["sleep", "300"])
        time.sleep(300)
    if item.startswith("slow"):
        time.sleep(30)
    if item.startswith("late:"):  # leaves a trace on disk if it is not stopped within a second
        time.sleep(1)
        open(item.removeprefix("late:"), "w").close()
    return item.upper() + f"@{os.getpid()}"


class Heard:
    """A runner.Listener that remembers the labels it heard, in order."""

    def __init__(self) -> None:
        self.starts: list[str] = []
        self.ends: list[str] = []

    def started(self, index: int, label: str) -> None:
        self.starts.append(label)

    def finished(self, done: Finished[Any, Any], label: str) -> None:
        self.ends.append(label)


def _by_item(outcome: runner.Outcome[str, str]) -> dict[str, Finished[str, str]]:
    return {f.item: f for f in outcome.finished}


def test_results_and_errors_come_back_per_item(
    leftover_processes: Callable[[float], list[int]],
) -> None:
    items = ["a", "bad", "b", "bug", "c"]
    outcome = runner.run(work, items, RunOptions(jobs=2))
    done = _by_item(outcome)
    assert not outcome.interrupted and outcome.not_run == []
    assert {i: (done[i].result or "").split("@")[0] for i in "abc"} == {
        "a": "A",
        "b": "B",
        "c": "C",
    }
    assert len({(done[i].result or "").split("@")[1] for i in "abc"}) <= 2  # two workers, reused
    bad = done["bad"].error
    assert bad is not None and bad.kind is ErrorKind.FAILED
    assert (bad.message, bad.hint) == (
        "bad is not a capture file tshark can read",
        "export it again",
    )
    bug = done["bug"].error
    assert bug is not None and bug.kind is ErrorKind.BUG
    assert bug.message == "ValueError: a bug in the function" and "--debug" in (bug.hint or "")
    assert done["bad"].result is None and done["a"].error is None
    assert leftover_processes(5.0) == []


def test_largest_first_and_the_listener_hears_everything() -> None:
    heard = Heard()
    items = ["s", "xl", "m", "l", "xs"]
    weights = {"xs": 1, "s": 2, "m": 3, "l": 4, "xl": 5}
    runner.run(work, items, RunOptions(jobs=1), weight=weights.__getitem__, listener=heard)
    assert heard.starts == ["xl", "l", "m", "s", "xs"]
    assert heard.ends == heard.starts


def test_a_worker_that_dies_is_one_error_and_is_replaced(
    leftover_processes: Callable[[float], list[int]],
) -> None:
    outcome = runner.run(work, ["a", "die", "b"], RunOptions(jobs=1))
    done = _by_item(outcome)
    died = done["die"].error
    assert died is not None and died.kind is ErrorKind.CRASHED
    assert "killed by SIGKILL" in died.message
    assert done["b"].result is not None and done["b"].result.startswith("B@")
    assert leftover_processes(5.0) == []


def test_the_time_limit_kills_the_worker_and_what_it_started(
    leftover_processes: Callable[[float], list[int]],
) -> None:
    start = time.monotonic()
    outcome = runner.run(work, ["hang", "a"], RunOptions(jobs=1, time_limit=2.0))
    assert time.monotonic() - start < 60
    hang = _by_item(outcome)["hang"].error
    assert hang is not None and hang.kind is ErrorKind.TIMEOUT
    assert hang.message == "stopped after 2 s, the time limit for one input"
    assert _by_item(outcome)["a"].result is not None  # the batch went on
    assert leftover_processes(5.0) == []  # the `sleep 300` child included


def test_ctrl_c_keeps_what_finished_and_leaves_no_process(
    leftover_processes: Callable[[float], list[int]],
) -> None:
    heard = Heard()
    items = ["a", "slow1", "slow2", "slow3", "slow4"]
    weights = {"a": 9, "slow1": 5, "slow2": 4, "slow3": 3, "slow4": 2}

    def interrupt() -> None:
        while "a" not in heard.ends:
            time.sleep(0.05)
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    outcome = runner.run(
        work, items, RunOptions(jobs=2), weight=weights.__getitem__, listener=heard
    )
    assert outcome.interrupted
    assert [f.item for f in outcome.finished] == ["a"]
    assert sorted(items[i] for i in outcome.not_run) == ["slow1", "slow2", "slow3", "slow4"]
    assert leftover_processes(5.0) == []


def test_ctrl_c_just_after_an_item_was_sent_stops_the_worker_that_got_it(
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    leftover_processes: Callable[[float], list[int]],
) -> None:
    """Ctrl-C between handing an item over and noting the worker as busy: the worker must still
    be stopped, or it finishes the item (a batch's report, say) after the caller cleaned up."""
    trace = tmp_path / "written-late"
    send = runner.WorkerProcess.send

    def send_then_interrupt(self: runner.WorkerProcess, func: Any, item: Any) -> None:
        send(self, func, item)
        raise KeyboardInterrupt

    monkeypatch.setattr(runner.WorkerProcess, "send", send_then_interrupt)
    outcome = runner.run(work, [f"late:{trace}"], RunOptions(jobs=1))
    assert outcome.interrupted and outcome.finished == []
    assert leftover_processes(5.0) == []
    time.sleep(1.5)  # longer than the item takes
    assert not trace.exists()


def test_call_isolated_is_the_same_call_on_a_dask_worker() -> None:
    result, error = runner.call_isolated(work, "a", None)
    assert error is None and result.startswith("A@") and int(result.split("@")[1]) != os.getpid()
    again, _ = runner.call_isolated(work, "b", None)
    assert again.split("@")[1] == result.split("@")[1]  # the worker process is kept and reused
    result, error = runner.call_isolated(work, "bad", 5.0)
    assert result is None and error.kind is ErrorKind.FAILED
    result, error = runner.call_isolated(work, "hang-isolated", 1.0)
    assert result is None and error.kind is ErrorKind.TIMEOUT


@pytest.mark.parametrize("weights", [[], [3], [1, 3, 2, 3]])
def test_schedule_is_largest_first_and_stable(weights: list[int]) -> None:
    order = runner.schedule(weights)
    assert sorted(order) == list(range(len(weights)))
    assert [weights[i] for i in order] == sorted(weights, reverse=True)
    if weights == [1, 3, 2, 3]:
        assert order == [1, 3, 2, 0]


def test_a_worker_whose_caller_is_gone_leaves_without_a_traceback() -> None:
    """Ctrl-C closes the caller's end while a worker is busy: its answer meets a broken pipe,
    and the worker, whose stderr is the user's terminal, must leave without a word."""
    task_r, task_w = os.pipe()
    result_r, result_w = os.pipe()
    boot = "from pcapexplain.runner import boot; boot()"
    command = [sys.executable, "-c", boot, str(task_r), str(result_w), str(os.getpid())]
    worker = subprocess.Popen(command, pass_fds=(task_r, result_w), stderr=subprocess.PIPE)
    os.close(task_r)
    os.close(result_w)
    assert os.read(result_r, runner._LENGTH.size) == runner._LENGTH.pack(0)  # ready
    os.close(result_r)  # the caller is gone
    frame = pickle.dumps((time.sleep, 0.2))
    os.write(task_w, runner._LENGTH.pack(len(frame)) + frame)
    os.close(task_w)
    _, err = worker.communicate(timeout=30)
    assert b"Traceback" not in err, err.decode(errors="replace")
    assert worker.returncode == 0
