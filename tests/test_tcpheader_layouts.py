"""tcpheader reads the option layouts most segments carry (tcpheader._LAYOUTS, and NOP, NOP,
timestamps) without walking them: what it reads must be what the walk of every header reads,
for headers of those layouts and for headers that differ from one of them in one byte, one
length or their captured bytes."""

from __future__ import annotations

import numpy as np

from pcapexplain import tcpheader

_USUAL = ((tcpheader._NOP, 1), (tcpheader._NOP, 1), (tcpheader._TS, 10))


def _header(layout: tuple[tuple[int, int], ...], rng: np.random.Generator) -> np.ndarray:
    """60 random bytes with the layout's options from byte 20 (their values random)."""
    head = rng.integers(0, 256, size=60, dtype=np.uint8)
    pos = 20
    for kind, size in layout:
        head[pos] = kind
        if size > 1:
            head[pos + 1] = size
        pos += size
    return head


def _headers(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Headers of each layout, as they are and altered; with their hlen, limit and reach."""
    heads, hlens, limits = [], [], []
    for layout in (*tcpheader._LAYOUTS, _USUAL):
        length = 20 + sum(size for _, size in layout)
        for variant in range(60):
            head = _header(layout, rng)
            hlen, limit = length, length
            if variant % 4 == 1:  # one byte of the options changed (a kind, a length, a value)
                head[rng.integers(20, length)] = rng.choice([0, 1, 2, 3, 4, 5, 8, 10, 34])
            elif variant % 4 == 2:  # fewer bytes captured than the header holds
                limit = int(rng.integers(20, length))
            elif variant % 4 == 3:  # a longer header: the options padded or followed by more
                hlen = limit = min(60, length + 4 * int(rng.integers(1, 4)))
            heads.append(head)
            hlens.append(hlen)
            limits.append(limit)
    reached = rng.random(len(heads)) < 0.9
    return np.array(heads), np.array(hlens), np.array(limits), reached


def test_layouts_are_read_as_the_walk_reads_them() -> None:
    rng = np.random.default_rng(11)
    head, hlen, limit, reached = _headers(rng)
    fast = tcpheader._options(head, hlen, limit, reached)
    walked = tcpheader._options(head, hlen, limit, reached, layouts=False)
    assert fast.keys() == walked.keys()
    for name in fast:
        assert fast[name].tolist() == walked[name].tolist(), name
    # The layouts were read without the walk for most of the unaltered headers.
    rows = np.flatnonzero(reached & (hlen > 20))
    left = tcpheader._laid_out(head, hlen, limit, rows, *_blank(len(head)))
    assert len(left) < len(rows) * 0.8
    assert fast["mss"].max() > 0 and fast["sack"].any() and fast["sack_perm"].any()


def _blank(n: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    out = {k: np.full(n, -1, dtype=np.int64) for k in ("mss", "wscale", "ws_stored", "tsval")}
    marks = {k: np.zeros(n, dtype=np.int8) for k in ("sack_perm", "sack", "tfo", "cut")}
    return out, marks
