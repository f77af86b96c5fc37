"""Shared fixtures: sample capture paths, the Zeek corpus, and skips for missing tools."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_captures"
ZEEK_CORPUS_ENV = "PCAPEXPLAIN_ZEEK_CORPUS"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tool-dependent tests with a visible reason when the tool is absent."""
    no_tshark = shutil.which("tshark") is None
    for item in items:
        if no_tshark and "tshark" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="tshark is not installed"))


@pytest.fixture
def samples() -> Path:
    return SAMPLES


@pytest.fixture
def zeek_corpus() -> Path:
    value = os.environ.get(ZEEK_CORPUS_ENV)
    if not value:
        pytest.skip(f"{ZEEK_CORPUS_ENV} is not set; point it at shared/captures/zeek")
    path = Path(value)
    if not (path / "expected.csv").is_file():
        pytest.skip(f"{ZEEK_CORPUS_ENV}={value} holds no expected.csv")
    return path


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
