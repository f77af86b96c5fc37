"""Array helpers of the whole-column stages (pure): a stable sort of small integer keys."""

from __future__ import annotations

from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]
_DIGIT = 1 << 16  # numpy sorts keys of 16 bits by radix, in linear time


def stable_order(keys: Array) -> Array:
    """np.argsort(keys, kind="stable") of integer keys: for keys in [0, 2³²), two radix passes
    over 16-bit digits (the low digit, then, stably, the high one), several times faster than
    the merge sort numpy gives wider integers."""
    if not len(keys) or keys.min() < 0 or keys.max() >= _DIGIT * _DIGIT:
        return np.argsort(keys, kind="stable")
    if keys.max() < _DIGIT:
        return np.argsort(keys.astype(np.uint16), kind="stable")
    order = np.argsort((keys % _DIGIT).astype(np.uint16), kind="stable")
    high = (keys[order] // _DIGIT).astype(np.uint16)
    return order[np.argsort(high, kind="stable")]
