"""arrays: numpy's stable argsort by radix over 16-bit digits where keys allow (stable_order), and
np.unique and np.isin without numpy.ma (distinct, among)."""

from __future__ import annotations

import subprocess
import sys
from array import array
from pathlib import Path

import numpy as np
import pytest

from pcapexplain.arrays import among, distinct, first_of_each, joined_rows, stable_order


@pytest.mark.parametrize("high", [1, 7, 1 << 16, (1 << 16) + 1, 31_768 * 4, 1 << 32, 1 << 40])
@pytest.mark.parametrize("count", [0, 1, 2, 1000, 70_000])
def test_stable_order_is_the_stable_argsort(high: int, count: int) -> None:
    keys = np.random.default_rng(high + count).integers(0, high, count)
    assert stable_order(keys).tolist() == np.argsort(keys, kind="stable").tolist()


def test_stable_order_of_negative_keys_is_the_stable_argsort() -> None:
    keys = np.array([3, -1, 3, 0, -1, 65_536, 2], dtype=np.int64)
    assert stable_order(keys).tolist() == np.argsort(keys, kind="stable").tolist()


@pytest.mark.parametrize("high", [1, 9, 1 << 17, 1 << 40])
def test_first_of_each_is_unique_with_the_first_index(high: int) -> None:
    keys = np.random.default_rng(high).integers(0, high, 5000)
    for part in (keys, keys[:1], keys[:0]):
        found, at = first_of_each(part)
        expected, first = np.unique(part, return_index=True)
        assert found.tolist() == expected.tolist() and at.tolist() == first.tolist()


def test_joined_rows_are_the_rows_one_list_after_another() -> None:
    indexes = [array("l", [3, 1]), array("l"), array("l", [7])]
    assert joined_rows(indexes).tolist() == [3, 1, 7]
    assert joined_rows([array("l", [2]), array("i", [5])]).tolist() == [2, 5]  # mixed types
    assert joined_rows([]).tolist() == []


@pytest.mark.parametrize("high", [1, 9, 1 << 17, 1 << 63])
@pytest.mark.parametrize("dtype", [np.int64, np.uint64, np.int8])
def test_distinct_and_among_are_unique_and_isin(high: int, dtype: type) -> None:
    rng = np.random.default_rng(high)
    values = rng.integers(0, min(high, np.iinfo(dtype).max), 3000, dtype=dtype)
    for part in (values, values[:1], values[:0], values[:40].reshape(8, 5)):
        assert distinct(part).dtype == part.dtype
        assert distinct(part).tolist() == np.unique(part).tolist()
        for chosen in (distinct(part[: len(part) // 3]), distinct(part[:0])):
            assert among(part, chosen).tolist() == np.isin(part, chosen).tolist()
    assert among(values, distinct(values)).all() and not among(values, distinct(values[:0])).any()


@pytest.mark.parametrize("name", ["captured_twice", "accept_queue_abort"])  # copies, options
def test_reading_and_analysing_imports_no_masked_arrays(name: str) -> None:
    """np.unique and np.isin import numpy.ma, 10-20 ms of CPU in each process that reads a
    capture: the native reader and the stages use distinct and among instead."""
    capture = Path(__file__).parent.parent / "sample_captures" / f"{name}.pcap"
    code = (
        "import sys; from pathlib import Path; from pcapexplain import files, shard_run; "
        f"shard_run.read_connection_csv(Path({str(capture)!r}), 'x', checksums_validated=False, "
        "status=files.ReadStatus(), parts=2); print('numpy.ma' in sys.modules)"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "False"  # (the calling process reads and analyses a part)
