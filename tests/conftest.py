"""Shared fixtures: sample capture paths, the corpora, and skips for missing tools.

With PCAPEXPLAIN_REQUIRE_ALL=1 (set by .ci/run) every skip is a failure, except in tests marked
`may_skip` and where no corpus variable is set (dev.sh sets them when the corpora sit beside the
project, and says so when they do not): on a machine that `bash dev.sh test` set up, a missing tool
is a broken set-up, never a reason to run less.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Generator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_captures"
ZEEK_CORPUS_ENV = "PCAPEXPLAIN_ZEEK_CORPUS"
TCPDUMP_CORPUS_ENV = "PCAPEXPLAIN_TCPDUMP_CORPUS"
REQUIRE_ALL_ENV = "PCAPEXPLAIN_REQUIRE_ALL"
NO_CORPUS = "no corpus: "  # the one skip reason PCAPEXPLAIN_REQUIRE_ALL lets through


def _require_all() -> bool:
    return os.environ.get(REQUIRE_ALL_ENV) == "1"


def _as_failure(report: pytest.TestReport | pytest.CollectReport, where: str) -> None:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    if reason.removeprefix("Skipped: ").startswith(NO_CORPUS):
        return
    report.outcome = "failed"
    report.longrepr = f"{where} skipped under {REQUIRE_ALL_ENV}=1 (a broken set-up): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report = outcome.get_result()
    allowed = item.get_closest_marker("may_skip") is not None or hasattr(report, "wasxfail")
    if report.skipped and _require_all() and not allowed:
        _as_failure(report, item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, None]:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _require_all():
        _as_failure(report, collector.nodeid)  # a whole module skipped (importorskip)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tool-dependent tests with a visible reason when the tool is absent."""
    no_tshark = shutil.which("tshark") is None
    for item in items:
        if no_tshark and "tshark" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="tshark is not installed"))


@pytest.fixture
def samples() -> Path:
    return SAMPLES


def _corpus(variable: str, index: str, where: str) -> Path:
    """The corpus folder named by an environment variable; skips, saying why, without it."""
    value = os.environ.get(variable)
    if not value:
        pytest.skip(f"{NO_CORPUS}{variable} is not set; point it at {where}")
    path = Path(value)
    if not (path / index).is_file():
        pytest.skip(f"{variable}={value} holds no {index}")
    return path


@pytest.fixture(scope="session")
def zeek_corpus() -> Path:
    return _corpus(ZEEK_CORPUS_ENV, "expected.csv", "shared/captures/zeek")


@pytest.fixture(scope="session")
def tcpdump_corpus() -> Path:
    return _corpus(TCPDUMP_CORPUS_ENV, "files.csv", "shared/captures/tcpdump")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-gold",
        action="store_true",
        help="rewrite tests/gold/*.html from the current output (read the diff before committing)",
    )


MARK_ENV = "PCAPEXPLAIN_TEST_MARK"


@pytest.fixture
def leftover_processes(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], list[int]]:
    """Marks every process started from now on (they inherit the environment: workers, tshark)
    and returns leftover(wait): the marked processes still alive after waiting up to wait
    seconds for them to go, for "nothing is left running" checks."""
    mark = uuid.uuid4().hex
    monkeypatch.setenv(MARK_ENV, mark)
    needle = f"{MARK_ENV}={mark}".encode()

    def alive() -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if needle in environ.split(b"\0") and state != "Z":
                found.append(int(entry.name))
        return found

    def leftover(wait: float = 5.0) -> list[int]:
        deadline = time.monotonic() + wait
        while (left := alive()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return left

    return leftover
