"""Sequence-space arithmetic (pure): the one definition of "before" and "after" for seq/ack.

RFC 9293 §3.4: the sequence number space "ranges from 0 to 2^32 - 1", so "all arithmetic dealing
with sequence numbers must be performed modulo 2^32". A number lies *after* another when it is less
than half the space ahead of it (Wireshark's GT_SEQ, Zeek's seq_delta > 0), so a connection that
wraps past 2**32 - 1 keeps counting forwards. Every stage that compares, adds or subtracts
sequence or acknowledgment numbers calls these functions.
"""

from __future__ import annotations

from collections.abc import Iterable

from pcapexplain.model import TcpFlags

MOD = 1 << 32  # sequence and acknowledgment numbers are 32 bits (RFC 9293 §3.1)
HALF = 1 << 31  # less than this far ahead is "after"; more is "before", wrapped around
# A SYN may carry data (TCP Fast Open, RFC 7413) and a FIN: an ack this far past the ISN still
# answers that SYN.
SYN_ACK_SLACK = 1 << 16

_SYN, _FIN = int(TcpFlags.SYN), int(TcpFlags.FIN)


def seq_wrap(number: int) -> int:
    """number as a 32-bit sequence number: wrapped modulo 2**32 (negative numbers too)."""
    return number % MOD


def seq_add(seq: int, count: int) -> int:
    """seq moved count numbers forwards (backwards when count is negative), modulo 2**32."""
    return (seq + count) % MOD


def seq_sub(a: int, b: int) -> int:
    """How far a lies ahead of b, from 0 to 2**32 - 1 (b itself is 0)."""
    return (a - b) % MOD


def seq_subs(values: Iterable[int], b: int) -> list[int]:
    """seq_sub(a, b) for each a of values, without a call per value."""
    return [(a - b) % MOD for a in values]


def seq_diff(a: int, b: int) -> int:
    """a - b as a signed distance in sequence space, from -2**31 to 2**31 - 1 (Zeek's seq_delta)."""
    delta = (a - b) % MOD
    return delta - MOD if delta >= HALF else delta


def seq_lt(a: int, b: int) -> bool:
    """a is before b (RFC 9293 §3.4 "<")."""
    return 0 < (b - a) % MOD < HALF


def seq_le(a: int, b: int) -> bool:
    """a is b or before it ("=<")."""
    return (b - a) % MOD < HALF


def seq_gt(a: int, b: int) -> bool:
    """a is after b (">")."""
    return 0 < (a - b) % MOD < HALF


def seq_ge(a: int, b: int) -> bool:
    """a is b or after it (">=")."""
    return (a - b) % MOD < HALF


def segment_end(seq: int, length: int, flags: int) -> int:
    """The sequence number just after a segment: SEG.SEQ + SEG.LEN, where SEG.LEN counts the
    payload and one each for SYN and FIN (RFC 9293 §3.4)."""
    return (seq + length + bool(flags & _SYN) + bool(flags & _FIN)) % MOD


def relative(value: int, base: int | None) -> int | None:
    """value counted from base, as Wireshark shows relative numbers (negative just behind base);
    None without a base."""
    return None if base is None else seq_diff(value, base)


def acks_syn(ack: int, isn: int) -> bool:
    """The ack covers a SYN sent with this ISN (and any data or FIN that rode on it).

    Also elementwise over numpy int64 arrays (the reconstructor's column-wise shortcuts), hence
    & for "and"."""
    distance = (ack - isn) % MOD
    return (distance > 0) & (distance <= SYN_ACK_SLACK)
