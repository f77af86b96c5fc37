"""Sequence-number arithmetic modulo 2**32 (RFC 9293 §3.4), for the grading stages."""

from __future__ import annotations

MOD = 1 << 32
HALF = 1 << 31


def seq_ge(a: int, b: int) -> bool:
    """a >= b in sequence space: a is at most 2**31 - 1 ahead of b."""
    return (a - b) % MOD < HALF


def relative(value: int, base: int) -> int:
    """value counted from base, as Wireshark's relative numbers show it (base itself is 0)."""
    return (value - base) % MOD
