"""arrays.stable_order: numpy's stable argsort, by radix over 16-bit digits where keys allow."""

from __future__ import annotations

import numpy as np
import pytest

from pcapexplain.arrays import stable_order


@pytest.mark.parametrize("high", [1, 7, 1 << 16, (1 << 16) + 1, 31_768 * 4, 1 << 32, 1 << 40])
@pytest.mark.parametrize("count", [0, 1, 2, 1000, 70_000])
def test_stable_order_is_the_stable_argsort(high: int, count: int) -> None:
    keys = np.random.default_rng(high + count).integers(0, high, count)
    assert stable_order(keys).tolist() == np.argsort(keys, kind="stable").tolist()


def test_stable_order_of_negative_keys_is_the_stable_argsort() -> None:
    keys = np.array([3, -1, 3, 0, -1, 65_536, 2], dtype=np.int64)
    assert stable_order(keys).tolist() == np.argsort(keys, kind="stable").tolist()
