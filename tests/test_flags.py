"""The one definition of an illegal flag combination (TCP-REFERENCE H7), case by case."""

from __future__ import annotations

import pytest

from pcapexplain.model import IllegalFlags, TcpFlags

FIN, SYN, RST, PSH = TcpFlags.FIN, TcpFlags.SYN, TcpFlags.RST, TcpFlags.PSH
ACK, URG, ECE, CWR, AE = TcpFlags.ACK, TcpFlags.URG, TcpFlags.ECE, TcpFlags.CWR, TcpFlags.AE
ILL = IllegalFlags

CASES = [
    # What a TCP sends.
    (SYN, None),  # the initial SYN, the one segment without ACK that opens
    (SYN | ECE | CWR, None),  # ECN-setup SYN (RFC 3168 §6.1.1)
    (SYN | ACK, None),
    (SYN | ACK | ECE, None),  # ECN-setup SYN-ACK
    (ACK, None),
    (PSH | ACK, None),
    (FIN | ACK, None),
    (FIN | PSH | ACK, None),
    (URG | ACK, None),
    (ACK | ECE, None),
    (ACK | CWR, None),
    (FIN | PSH | URG | ACK, None),  # urgent data and a FIN: odd, but legal with ACK
    (RST, None),  # <SEQ=SEG.ACK><CTL=RST>, RFC 9293 §3.10.7.1
    (RST | ACK, None),
    (RST | PSH | ACK, None),
    # What no TCP sends.
    (SYN | FIN, ILL.SYN_FIN),
    (SYN | FIN | ACK, ILL.SYN_FIN),
    (SYN | FIN | PSH | URG, ILL.SYN_FIN),  # SYN+FIN wins over Xmas
    (SYN | FIN | RST, ILL.SYN_FIN),
    (SYN | RST, ILL.SYN_RST),
    (SYN | RST | ACK, ILL.SYN_RST),
    (FIN | RST, ILL.FIN_RST),
    (FIN | RST | ACK, ILL.FIN_RST),
    (TcpFlags(0), ILL.NULL),
    (FIN | PSH | URG, ILL.XMAS),
    (FIN, ILL.NO_ACK),
    (PSH, ILL.NO_ACK),
    (URG, ILL.NO_ACK),
    (FIN | PSH, ILL.NO_ACK),
    (ECE, ILL.NO_ACK),
    (CWR, ILL.NO_ACK),
    (AE, ILL.NO_ACK),
    (ECE | CWR, ILL.NO_ACK),
]


@pytest.mark.parametrize(("flags", "reason"), CASES, ids=[repr(f) for f, _ in CASES])
def test_illegal(flags: TcpFlags, reason: IllegalFlags | None) -> None:
    assert TcpFlags.illegal(int(flags)) is reason


def test_every_reason_is_reachable() -> None:
    assert {reason for _, reason in CASES} - {None} == set(IllegalFlags)


def test_bits_outside_the_header_flags_change_nothing() -> None:
    """tshark's tcp.flags includes the three reserved bits above AE."""
    for flags, reason in CASES:
        assert TcpFlags.illegal(int(flags) | 0xE00) is reason
