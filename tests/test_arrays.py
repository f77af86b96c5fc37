"""arrays.stable_order: numpy's stable argsort, by radix over 16-bit digits where keys allow."""

from __future__ import annotations

from array import array

import numpy as np
import pytest

from pcapexplain.arrays import first_of_each, joined_rows, stable_order


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
