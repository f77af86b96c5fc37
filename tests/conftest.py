"""Shared fixtures: sample capture paths, the Zeek corpus, and skips for missing tools."""

from __future__ import annotations

import os
import shutil
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


@pytest.fixture(scope="session")
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
