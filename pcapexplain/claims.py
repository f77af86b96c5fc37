"""Claims (pure): what each situation's sentence asserts about the replay's states.

The narrative selects a sentence from computed facts (situations.select); this table says, for
every Situation, which states its sentence presumes, so that a test can hold each told packet of
each capture against the replay (tests/test_story_consistency.py). A sentence that asserts
something not listed here would go unchecked: keep the two in step when a text changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pcapexplain.model import Handshake, TcpState
from pcapexplain.situations import (
    AFTER_OWN_FIN,
    HANDSHAKING,
    MAY_CLOSE_FIRST,
    NO_CONNECTION,
    RESENT_SITUATIONS,
    SYNCHRONIZED,
    PacketFacts,
    Situation,
)

T = TcpState


@dataclass(frozen=True, slots=True)
class Claim:
    """What a situation's sentence asserts; None means it asserts nothing about that state."""

    sender_before: frozenset[TcpState] | None = None
    sender_after: frozenset[TcpState] | None = None
    receiver_before: frozenset[TcpState] | None = None
    receiver_after: frozenset[TcpState] | None = None
    receiver_passed: frozenset[TcpState] | None = None
    sender_passed: frozenset[TcpState] | None = None
    handshake: frozenset[Handshake] | None = None
    sender_stays: bool = False  # the sentence says the sender's state does not change
    receiver_stays: bool = False  # ... the receiver's

    def violations(self, f: PacketFacts) -> list[str]:
        """Each assertion the facts contradict, named; empty when the sentence holds."""
        checks = (
            ("sender before", self.sender_before, f.sender.before),
            ("sender after", self.sender_after, f.sender.after),
            ("sender passed", self.sender_passed, f.sender.passed),
            ("receiver before", self.receiver_before, f.receiver.before),
            ("receiver after", self.receiver_after, f.receiver.after),
            ("receiver passed", self.receiver_passed, f.receiver.passed),
            ("handshake", self.handshake, f.handshake),
        )
        found = [
            f"{name} is {value}, the text needs one of {sorted(map(str, allowed))}"
            for name, allowed, value in checks
            if allowed is not None and value not in allowed
        ]
        if self.sender_stays and f.sender.changed:
            found.append("the sender's state changes, the text says it does not")
        if self.receiver_stays and f.receiver.changed:
            found.append("the receiver's state changes, the text says it does not")
        return found


def _s(*states: TcpState) -> frozenset[TcpState]:
    return frozenset(states)


_SYNC_OR_UNKNOWN = SYNCHRONIZED | {T.UNKNOWN}
_SUPPORTS_FIN_WAIT = _s(T.FIN_WAIT_1)

CLAIMS: Final[dict[Situation, Claim]] = {
    Situation.SYN: Claim(sender_after=_s(T.SYN_SENT)),
    Situation.SYN_DATA: Claim(sender_after=_s(T.SYN_SENT)),
    Situation.SYN_TFO: Claim(sender_after=_s(T.SYN_SENT)),
    Situation.SYN_AGAIN_NEW: Claim(sender_after=_s(T.SYN_SENT)),
    Situation.SYN_AGAIN: Claim(sender_before=HANDSHAKING),
    Situation.SYN_AGAIN_DOUBLED: Claim(sender_before=HANDSHAKING),
    Situation.SYN_AGAIN_SAME: Claim(sender_before=HANDSHAKING),
    Situation.SYN_AGAIN_OTHER: Claim(sender_before=HANDSHAKING),
    Situation.SYN_STALE: Claim(
        sender_before=_s(T.CLOSED),
        sender_after=_s(T.CLOSED),
        receiver_after=_s(T.SYN_RECEIVED),
        handshake=frozenset({Handshake.OLD_DUPLICATE}),
    ),
    Situation.SYN_CROSSING: Claim(
        sender_after=_s(T.SYN_SENT),
        receiver_before=_s(T.SYN_SENT),
        receiver_after=_s(T.SYN_SENT),
    ),
    Situation.SYN_IN_CONNECTION: Claim(),
    # A socket connected to itself: sender and receiver are the same Move.
    Situation.SELF_SYN: Claim(sender_after=_s(T.SYN_SENT), receiver_after=_s(T.SYN_SENT)),
    Situation.SELF_SYNACK: Claim(
        sender_before=_s(T.SYN_SENT),
        sender_passed=_s(T.SYN_RECEIVED),
        sender_after=_s(T.ESTABLISHED),
        receiver_after=_s(T.ESTABLISHED),
        handshake=frozenset({Handshake.SIMULTANEOUS_OPEN}),
    ),
    Situation.SELF_FIN: Claim(
        sender_passed=_s(T.FIN_WAIT_1),
        sender_after=_s(T.CLOSING),
        receiver_after=_s(T.CLOSING),
    ),
    Situation.SELF_FINACK: Claim(
        sender_before=_s(T.CLOSING),
        sender_after=_s(T.TIME_WAIT),
        receiver_after=_s(T.TIME_WAIT),
    ),
    Situation.SELF_RST: Claim(sender_after=_s(T.CLOSED), receiver_after=_s(T.CLOSED)),
    Situation.SYNACK: Claim(
        sender_after=_s(T.SYN_RECEIVED),
        receiver_before=_s(T.SYN_SENT),
        receiver_after=_s(T.ESTABLISHED),
    ),
    Situation.SYNACK_TFO: Claim(receiver_before=_s(T.SYN_SENT), receiver_after=_s(T.ESTABLISHED)),
    Situation.SYNACK_TFO_IGNORED: Claim(
        receiver_before=_s(T.SYN_SENT), receiver_after=_s(T.ESTABLISHED)
    ),
    Situation.SYNACK_AGAIN: Claim(sender_before=_s(T.SYN_RECEIVED), sender_stays=True),
    Situation.SYNACK_STALE: Claim(
        sender_after=_s(T.SYN_RECEIVED),
        receiver_before=_s(T.CLOSED),
        receiver_after=_s(T.CLOSED),
        handshake=frozenset({Handshake.OLD_DUPLICATE}),
    ),
    Situation.SYNACK_STALE_UNSEEN: Claim(
        sender_after=_s(T.SYN_RECEIVED),
        receiver_before=_s(T.CLOSED),
        receiver_after=_s(T.CLOSED),
        handshake=frozenset({Handshake.OLD_DUPLICATE}),
    ),
    Situation.SYNACK_NO_SYN: Claim(receiver_after=_s(T.ESTABLISHED)),
    Situation.SYNACK_CROSSING: Claim(
        sender_before=_s(T.SYN_SENT),
        sender_after=_s(T.SYN_RECEIVED),
        receiver_before=_s(T.SYN_SENT),
        receiver_after=_s(T.SYN_SENT),
        handshake=frozenset({Handshake.SIMULTANEOUS_OPEN}),
    ),
    Situation.SYNACK_SIMULTANEOUS: Claim(
        sender_before=_s(T.SYN_SENT),
        sender_after=_s(T.SYN_RECEIVED),
        receiver_after=_s(T.ESTABLISHED),
        handshake=frozenset({Handshake.SIMULTANEOUS_OPEN}),
    ),
    Situation.SYNACK_SIMULTANEOUS_LAST: Claim(
        receiver_before=_s(T.SYN_RECEIVED),
        receiver_after=_s(T.ESTABLISHED),
        handshake=frozenset({Handshake.SIMULTANEOUS_OPEN}),
    ),
    Situation.HS_ACK: Claim(receiver_before=_s(T.SYN_RECEIVED), receiver_after=_s(T.ESTABLISHED)),
    Situation.HS_ACK_DATA: Claim(
        receiver_before=_s(T.SYN_RECEIVED), receiver_after=_s(T.ESTABLISHED)
    ),
    Situation.HS_ACK_INFERRED: Claim(sender_before=_s(T.SYN_SENT), sender_after=_s(T.ESTABLISHED)),
    Situation.HS_ACK_UNDELIVERED: Claim(
        receiver_before=_s(T.SYN_RECEIVED), receiver_after=_s(T.SYN_RECEIVED), receiver_stays=True
    ),
    Situation.HS_ACK_UNCONFIRMED: Claim(
        receiver_before=_s(T.SYN_RECEIVED), receiver_after=_s(T.SYN_RECEIVED), receiver_stays=True
    ),
    Situation.HS_ACK_AGAIN: Claim(
        receiver_before=_s(T.SYN_RECEIVED), receiver_after=_s(T.ESTABLISHED)
    ),
    Situation.HS_ACK_AGAIN_OR_LATER: Claim(
        receiver_before=_s(T.SYN_RECEIVED), receiver_after=_s(T.ESTABLISHED)
    ),
    Situation.HS_ACK_AGAIN_UNSHOWN: Claim(
        receiver_before=_s(T.SYN_RECEIVED), receiver_after=_s(T.ESTABLISHED)
    ),
    Situation.DATA_ACK_PROVES_HS_ACK: Claim(
        sender_before=_s(T.SYN_RECEIVED), sender_after=_s(T.ESTABLISHED)
    ),
    Situation.ACK_OPENS_SIMULTANEOUS: Claim(
        sender_after=_s(T.ESTABLISHED),
        receiver_before=_s(T.SYN_RECEIVED),
        receiver_after=_s(T.ESTABLISHED),
        handshake=frozenset({Handshake.SIMULTANEOUS_OPEN}),
    ),
    Situation.ACK_AFTER_CROSSED_SYNACK: Claim(
        receiver_before=_s(T.SYN_RECEIVED),
        receiver_after=_s(T.ESTABLISHED),
        handshake=frozenset({Handshake.SIMULTANEOUS_OPEN}),
    ),
    Situation.RST_REFUSED: Claim(
        sender_before=_s(T.CLOSED),
        receiver_before=_s(T.SYN_SENT),
        receiver_after=_s(T.CLOSED),
        handshake=frozenset({Handshake.REFUSED}),
    ),
    Situation.RST_CLOSED_PORT: Claim(
        sender_before=_s(T.CLOSED),
        sender_after=_s(T.CLOSED),
        receiver_after=_s(T.CLOSED),
        handshake=frozenset({Handshake.STRAY}),
    ),
    Situation.RST_CLOSED_PORT_ACK: Claim(
        sender_before=_s(T.CLOSED),
        sender_after=_s(T.CLOSED),
        handshake=frozenset({Handshake.STRAY}),
    ),
    Situation.RST_OLD_DUPLICATE: Claim(
        sender_before=_s(T.CLOSED),
        sender_after=_s(T.CLOSED),
        receiver_before=_s(T.SYN_RECEIVED),
        receiver_after=_s(T.LISTEN),
        handshake=frozenset({Handshake.OLD_DUPLICATE}),
    ),
    Situation.RST_HANDSHAKE: Claim(),
    Situation.RST_NOT_ACCEPTED: Claim(
        receiver_before=_s(T.SYN_SENT), receiver_after=_s(T.SYN_SENT), sender_stays=True
    ),
    Situation.RST_ABORT: Claim(
        sender_before=_SYNC_OR_UNKNOWN, receiver_before=_SYNC_OR_UNKNOWN, sender_after=_s(T.CLOSED)
    ),
    Situation.RST_AFTER_FIN: Claim(sender_before=AFTER_OWN_FIN, sender_after=_s(T.CLOSED)),
    Situation.RST_NO_CONNECTION: Claim(sender_before=NO_CONNECTION),
    Situation.RST_NO_EFFECT: Claim(sender_stays=True, receiver_stays=True),
    Situation.RST_FIRST_SEEN: Claim(sender_before=_s(T.UNKNOWN), sender_after=_s(T.CLOSED)),
    Situation.RST_GIVES_UP: Claim(sender_after=_s(T.CLOSED), receiver_after=_s(T.UNKNOWN)),
    Situation.RST_CONNECTION_LOST: Claim(
        sender_before=_s(T.ESTABLISHED), sender_after=_s(T.CLOSED)
    ),
    Situation.RST_KEEP_ALIVE_LOST: Claim(
        sender_before=_s(T.ESTABLISHED), sender_after=_s(T.CLOSED)
    ),
    Situation.RST_HANDSHAKE_DROPPED: Claim(
        sender_before=_s(T.SYN_RECEIVED), sender_after=_s(T.CLOSED)
    ),
    Situation.FIN_ACTIVE: Claim(
        sender_before=MAY_CLOSE_FIRST,
        sender_after=_SUPPORTS_FIN_WAIT,
        receiver_after=_s(T.CLOSE_WAIT),
    ),
    Situation.FIN_ACTIVE_UNDELIVERED: Claim(sender_after=_SUPPORTS_FIN_WAIT, receiver_stays=True),
    Situation.FIN_CROSSING: Claim(
        sender_after=_SUPPORTS_FIN_WAIT,
        receiver_before=_s(T.FIN_WAIT_1),
        receiver_after=_s(T.CLOSING),
    ),
    Situation.FIN_AFTER_MISSED_SYNACK: Claim(
        sender_before=_s(T.SYN_SENT),
        sender_passed=_s(T.ESTABLISHED),
        sender_after=_SUPPORTS_FIN_WAIT,
    ),
    Situation.FIN_PASSIVE: Claim(
        sender_before=_s(T.CLOSE_WAIT),
        sender_after=_s(T.LAST_ACK),
        receiver_before=_s(T.FIN_WAIT_2),
        receiver_after=_s(T.TIME_WAIT),
    ),
    Situation.FIN_THREE_WAY: Claim(
        sender_before=_s(T.CLOSE_WAIT),
        sender_after=_s(T.LAST_ACK),
        receiver_before=_s(T.FIN_WAIT_1),
        receiver_after=_s(T.TIME_WAIT),
    ),
    Situation.FIN_AGAIN: Claim(receiver_stays=True),
    Situation.FIN_AGAIN_UNPROVEN: Claim(),
    Situation.FIN_AGAIN_DELIVERED: Claim(),
    Situation.FIN_AGAIN_ACKS_MORE: Claim(),
    Situation.FIN_OTHER: Claim(),
    Situation.FIN_ORDER_UNKNOWN: Claim(sender_after=_s(T.UNKNOWN), receiver_after=_s(T.UNKNOWN)),
    Situation.FIN_FIRST_PEER_UNSEEN: Claim(
        sender_before=MAY_CLOSE_FIRST,
        sender_after=_SUPPORTS_FIN_WAIT,
        receiver_after=_s(T.UNKNOWN),
    ),
    Situation.FIN_AGAIN_PEER_UNSEEN: Claim(receiver_after=_s(T.UNKNOWN)),
    Situation.ACK_PEER_UNSEEN: Claim(sender_after=_s(T.UNKNOWN), receiver_after=_s(T.UNKNOWN)),
    Situation.FINACK_FIRST: Claim(
        sender_before=_s(T.CLOSE_WAIT),
        receiver_before=_s(T.FIN_WAIT_1),
        receiver_after=_s(T.FIN_WAIT_2),
    ),
    Situation.FINACK_FIRST_DATA: Claim(
        sender_before=_s(T.CLOSE_WAIT),
        receiver_before=_s(T.FIN_WAIT_1),
        receiver_after=_s(T.FIN_WAIT_2),
    ),
    Situation.FINACK_FIRST_DATA_REFUSED: Claim(
        sender_before=_s(T.CLOSE_WAIT),
        receiver_before=_s(T.FIN_WAIT_1),
        receiver_after=_s(T.FIN_WAIT_2),
    ),
    Situation.FINACK_FROM_CLOSING: Claim(
        sender_before=_s(T.CLOSING),
        receiver_before=_s(T.FIN_WAIT_1),
        receiver_after=_s(T.FIN_WAIT_2),
    ),
    Situation.FINACK_CROSSED: Claim(
        receiver_before=_s(T.FIN_WAIT_1),
        receiver_passed=_s(T.CLOSING),
        receiver_after=_s(T.TIME_WAIT),
    ),
    Situation.FINACK_CLOSING: Claim(receiver_before=_s(T.CLOSING), receiver_after=_s(T.TIME_WAIT)),
    Situation.FINACK_LAST: Claim(receiver_before=_s(T.LAST_ACK), receiver_after=_s(T.CLOSED)),
    Situation.FINACK_AGAIN: Claim(sender_before=_s(T.TIME_WAIT), sender_after=_s(T.TIME_WAIT)),
    Situation.FINACK_UNDELIVERED: Claim(receiver_stays=True),
    Situation.FINACK_OTHER: Claim(),
    Situation.DATA_HALF_CLOSE: Claim(sender_before=_s(T.CLOSE_WAIT)),
    Situation.DATA_AFTER_CLOSE: Claim(sender_before=_s(T.CLOSE_WAIT)),
    Situation.ACK_HALF_CLOSE: Claim(sender_before=_s(T.FIN_WAIT_2)),
    Situation.STRAY_SEGMENT: Claim(receiver_before=_s(T.CLOSED), receiver_after=_s(T.CLOSED)),
    Situation.DATA: Claim(),
    Situation.PURE_ACK: Claim(),
    Situation.WINDOW_UPDATE: Claim(),
    Situation.KEEP_ALIVE: Claim(),
    Situation.ZERO_WINDOW_PROBE: Claim(),
    Situation.ZERO_WINDOW: Claim(),
    **{situation: Claim() for situation in RESENT_SITUATIONS.values()},
    Situation.OTHER: Claim(),
}
