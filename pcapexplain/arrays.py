"""Array helpers of the whole-column stages (pure): stable sorts of integer keys, rows joined."""

from __future__ import annotations

from array import array
from collections.abc import Sequence
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


def first_of_each(keys: Array) -> tuple[Array, Array]:
    """np.unique(keys, return_index=True) of integer keys: each distinct key, ascending, and the
    position of its first occurrence (stable_order keeps equal keys in their order)."""
    order = stable_order(keys)
    ordered = keys[order]
    first = np.ones(len(ordered), dtype=np.bool_)
    first[1:] = ordered[1:] != ordered[:-1]
    return ordered[first], order[first]


def distinct(values: Array) -> Array:
    """np.unique(values) of integers: each distinct value, ascending. np.unique without indexes
    asks whether its input is a masked array, which imports numpy.ma (10-20 ms of CPU in every
    process that reads a capture)."""
    ordered = np.sort(values, axis=None)
    keep = np.ones(len(ordered), dtype=np.bool_)
    keep[1:] = ordered[1:] != ordered[:-1]
    found: Array = ordered[keep]
    return found


def among(values: Array, distinct_values: Array) -> Array:
    """np.isin(values, distinct_values) for distinct's output (sorted, each value once), by binary
    search: np.isin would sort it again, through np.unique (see distinct)."""
    if not len(distinct_values):
        return np.zeros(np.shape(values), dtype=np.bool_)
    at = np.minimum(np.searchsorted(distinct_values, values), len(distinct_values) - 1)
    found: Array = distinct_values[at] == values
    return found


def joined_rows(indexes: Sequence[array[int]]) -> Array:
    """Rows lists (each connection's packet_index) one after another, as one int64 array."""
    if not indexes:
        return np.zeros(0, np.int64)
    kinds = {i.typecode if isinstance(i, array) else "" for i in indexes}
    if len(kinds) == 1 and "" not in kinds:  # arrays of one type: their bytes, joined
        return np.frombuffer(b"".join(indexes), np.dtype(kinds.pop())).astype(np.int64)
    return np.concatenate([np.asarray(i, np.int64) for i in indexes])
