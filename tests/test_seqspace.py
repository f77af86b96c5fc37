"""Sequence-space arithmetic: comparisons that survive the wrap at 2**32 (RFC 9293 §3.4)."""

from __future__ import annotations

import pytest

from pcapexplain import seqspace
from pcapexplain.model import TcpFlags
from pcapexplain.seqspace import (
    MOD,
    acks_syn,
    relative,
    segment_end,
    seq_add,
    seq_diff,
    seq_ge,
    seq_gt,
    seq_le,
    seq_lt,
    seq_sub,
    seq_subs,
)

TOP = MOD - 1  # the last number before the wrap


@pytest.mark.parametrize(
    ("a", "b"),
    [(1, 0), (0, TOP), (5, TOP - 5), ((1 << 31) - 1, 0), (100, 99)],
    ids=["one-ahead", "across-the-wrap", "five-across", "just-under-half", "plain"],
)
def test_after_and_before_are_mirror_images(a: int, b: int) -> None:
    assert seq_gt(a, b) and seq_ge(a, b)
    assert seq_lt(b, a) and seq_le(b, a)
    assert not seq_lt(a, b) and not seq_le(a, b)
    assert not seq_gt(b, a) and not seq_ge(b, a)


def test_equal_numbers_are_neither_before_nor_after() -> None:
    for n in (0, 1, TOP):
        assert seq_ge(n, n) and seq_le(n, n)
        assert not seq_gt(n, n) and not seq_lt(n, n)


def test_more_than_half_the_space_ahead_counts_as_behind() -> None:
    half = 1 << 31
    assert seq_gt(half - 1, 0)
    assert seq_lt(half + 1, 0)
    assert not seq_gt(half, 0) and not seq_lt(half, 0)  # exactly opposite: undefined, neither


def test_add_sub_and_signed_difference_wrap() -> None:
    assert seq_add(TOP, 1) == 0
    assert seq_add(0, -1) == TOP
    assert seq_sub(0, TOP) == 1
    assert seq_sub(TOP, 0) == TOP
    assert seq_diff(0, TOP) == 1
    assert seq_diff(TOP, 0) == -1
    assert seq_diff(1 << 31, 0) == -(1 << 31)


def test_seq_subs_is_seq_sub_of_each() -> None:
    values = [0, 1, 5, TOP, 1 << 31, (1 << 31) - 1]
    for base in (0, 1, TOP, 1 << 31):
        assert seq_subs(values, base) == [seq_sub(a, base) for a in values]
    assert seq_subs([], 7) == []


@pytest.mark.parametrize(
    ("flags", "length", "end"),
    [
        (TcpFlags.SYN, 0, 1),
        (TcpFlags.SYN | TcpFlags.ACK, 0, 1),
        (TcpFlags.ACK, 100, 100),
        (TcpFlags.FIN | TcpFlags.ACK, 0, 1),
        (TcpFlags.FIN | TcpFlags.ACK, 22, 23),
        (TcpFlags.SYN, 500, 501),  # TCP Fast Open: data on the SYN
        (TcpFlags.SYN | TcpFlags.FIN, 0, 2),  # a scanner's probe uses two numbers
        (TcpFlags.RST, 0, 0),
    ],
)
def test_segment_end_counts_syn_and_fin(flags: TcpFlags, length: int, end: int) -> None:
    assert segment_end(TOP, length, int(flags)) == seq_add(TOP, end)


def test_acks_syn_accepts_isn_plus_one_and_data_on_the_syn() -> None:
    assert acks_syn(seq_add(TOP, 1), TOP)
    assert acks_syn(seq_add(TOP, 1 + 1400), TOP)  # the SYN carried 1400 bytes
    assert not acks_syn(TOP, TOP)
    assert not acks_syn(seq_add(TOP, seqspace.SYN_ACK_SLACK + 1), TOP)


def test_relative_numbers_count_from_the_base() -> None:
    assert relative(5, TOP) == 6
    assert relative(TOP, 0) == -1
    assert relative(7, None) is None
