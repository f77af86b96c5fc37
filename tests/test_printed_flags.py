"""tcpanalysis.printed_flags's lookup table, built bit by bit, prints for every combination of
TCP_A_* bits what _PRINTED says entry by entry (each entry printed when any of its bits is set)."""

from __future__ import annotations

import numpy as np

from pcapexplain import tcpanalysis


def test_every_combination_prints_what_the_entries_say() -> None:
    every = np.arange(1 << 16, dtype=np.int64)  # and a bit beyond the known ones: it prints nothing
    expected = np.zeros(len(every), dtype=np.int64)
    for bits, flag in tcpanalysis._PRINTED:
        expected |= np.where(every & bits, int(flag), 0)
    assert (tcpanalysis.printed_flags(every) == expected).all()
    assert expected.any() and (expected[::2] != expected[1::2]).any()  # the table is not blank
