"""Situations (pure): what one packet did, as the replay computed it, and the story it selects.

`PacketFacts` holds only computed values: both endpoints' states before and after the packet (and
any state passed in between), the connection's verdict, what the packet's sequence and
acknowledgment numbers cover, and timing. `select` maps those facts to a `Situation`, the key of
the sentence that tells the packet (``narr.<value>`` in the text catalogues). A sentence is never
picked from the flags alone: the flags say what a segment asked for, the states what it did.

claims.CLAIMS says, for each situation, what its sentence asserts about the states; the
consistency tests check every told packet of every sample capture against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Final

from pcapexplain.model import Direction, Handshake, PacketRole, TcpFlags, TcpState
from pcapexplain.retransmission import Cause

T = TcpState


class Situation(StrEnum):
    """Every story a told packet can have; the value is its key under ``narr.`` ."""

    # opening
    SYN = "syn"
    SYN_DATA = "syn_data"
    SYN_TFO = "syn_tfo"
    SYN_AGAIN = "syn_again"  # the first retry: its wait is the initial timeout
    SYN_AGAIN_DOUBLED = "syn_again_doubled"  # the wait doubled: exponential backoff
    SYN_AGAIN_SAME = "syn_again_same"  # the same wait again: linear retries
    SYN_AGAIN_OTHER = "syn_again_other"
    SYN_AGAIN_NEW = "syn_again_new"  # its first copy reached the connection before: told there
    SYN_STALE = "syn_stale"  # RFC 9293 Fig. 8 at the server: a SYN its client never made
    SYN_CROSSING = "syn_crossing"  # the second SYN of a simultaneous open (Fig. 7)
    SYN_IN_CONNECTION = "syn_in_connection"  # a SYN inside a synchronized connection
    # one socket at both ends (Connection.self_connect): each segment comes back to its sender
    SELF_SYN = "self_syn"  # its SYN, to its own address and port
    SELF_SYNACK = "self_synack"  # answers its own SYN: SYN_SENT → SYN_RECEIVED → ESTABLISHED
    SELF_FIN = "self_fin"  # its FIN comes back to it: FIN_WAIT_1 → CLOSING
    SELF_FINACK = "self_finack"  # the ACK of its own FIN: CLOSING → TIME_WAIT
    SELF_RST = "self_rst"
    SYNACK = "synack"
    SYNACK_TFO = "synack_tfo"
    SYNACK_TFO_IGNORED = "synack_tfo_ignored"
    SYNACK_AGAIN = "synack_again"
    SYNACK_STALE = "synack_stale"  # answers the stale SYN the capture shows
    SYNACK_STALE_UNSEEN = "synack_stale_unseen"  # answers a SYN the capture never showed
    SYNACK_NO_SYN = "synack_no_syn"  # the capture starts with the SYN-ACK
    SYNACK_CROSSING = "synack_crossing"  # reaches a peer that has sent its own SYN-ACK
    SYNACK_SIMULTANEOUS = "synack_simultaneous"  # its sender had received the peer's SYN
    SYNACK_SIMULTANEOUS_LAST = "synack_simultaneous_last"
    HS_ACK = "hs_ack"
    HS_ACK_DATA = "hs_ack_data"  # data rides on the third segment
    HS_ACK_INFERRED = "hs_ack_inferred"  # proves a SYN-ACK the capture missed
    HS_ACK_UNDELIVERED = "hs_ack_undelivered"  # the SYN-ACK is resent later: no effect there
    HS_ACK_UNCONFIRMED = "hs_ack_unconfirmed"  # the server never shows it: a RST follows instead
    HS_ACK_AGAIN = "hs_ack_again"  # answers a resent SYN-ACK; the server's next segment shows it
    HS_ACK_AGAIN_OR_LATER = "hs_ack_again_or_later"  # ... it, or the client's segments after it
    HS_ACK_AGAIN_UNSHOWN = "hs_ack_again_unshown"  # ... nothing later shows the server took it
    DATA_ACK_PROVES_HS_ACK = "data_ack_proves_hs_ack"  # from SYN_RECEIVED: a missed third ACK
    ACK_OPENS_SIMULTANEOUS = "ack_opens_simultaneous"
    ACK_AFTER_CROSSED_SYNACK = "ack_after_crossed_synack"  # its sender's crossed SYN-ACK came first
    # resets
    RST_REFUSED = "rst_refused"
    RST_CLOSED_PORT = "rst_closed_port"  # answers a segment without ACK (RFC 9293 §3.10.7.1)
    RST_CLOSED_PORT_ACK = "rst_closed_port_ack"  # answers a segment with ACK
    RST_OLD_DUPLICATE = "rst_old_duplicate"
    RST_HANDSHAKE = "rst_handshake"
    RST_NOT_ACCEPTED = "rst_not_accepted"
    RST_ABORT = "rst_abort"
    RST_FIRST_SEEN = "rst_first_seen"  # nothing of the connection before it: abort or answer
    RST_GIVES_UP = "rst_gives_up"  # ends a side's unanswered tries (retransmission.stall)
    RST_CONNECTION_LOST = "rst_connection_lost"  # answers as a host without the connection
    RST_KEEP_ALIVE_LOST = "rst_keep_alive_lost"  # the same, answering a keep-alive probe
    RST_HANDSHAKE_DROPPED = "rst_handshake_dropped"  # the same, from SYN_RECEIVED
    RST_AFTER_FIN = "rst_after_fin"
    RST_NO_CONNECTION = "rst_no_connection"
    RST_NO_EFFECT = "rst_no_effect"
    # closing
    FIN_ACTIVE = "fin_active"
    FIN_ACTIVE_UNDELIVERED = "fin_active_undelivered"  # its receiver had not got it yet
    FIN_CROSSING = "fin_crossing"  # reaches a side in FIN_WAIT_1: CLOSING
    FIN_AFTER_MISSED_SYNACK = "fin_after_missed_synack"
    FIN_PASSIVE = "fin_passive"
    FIN_THREE_WAY = "fin_three_way"  # FIN+ACK acknowledging the peer's FIN: FIN_WAIT_1 → TIME_WAIT
    FIN_AGAIN = "fin_again"  # resent after its ACK was captured: that ACK went missing
    FIN_AGAIN_UNPROVEN = "fin_again_unproven"  # resent, no ACK of it captured: which was lost?
    FIN_ORDER_UNKNOWN = "fin_order_unknown"  # one direction unseen: active or passive unknown
    FIN_FIRST_PEER_UNSEEN = "fin_first_peer_unseen"  # proven first; the unseen peer's move unknown
    FIN_AGAIN_PEER_UNSEEN = "fin_again_peer_unseen"  # resent; whether a copy arrived is unseen
    ACK_PEER_UNSEEN = "ack_peer_unseen"  # may acknowledge an unseen FIN: states unknown after
    FIN_AGAIN_DELIVERED = "fin_again_delivered"  # resent; only this copy arrives
    FIN_AGAIN_ACKS_MORE = "fin_again_acks_more"  # resent with a higher ACK: may be no timeout
    FIN_OTHER = "fin_other"
    FINACK_FIRST = "finack_first"
    FINACK_FIRST_DATA = "finack_first_data"  # acknowledges the FIN and sends data: half-close
    FINACK_FIRST_DATA_REFUSED = "finack_first_data_refused"  # ... to a socket closed for good
    FINACK_FROM_CLOSING = "finack_from_closing"  # sent from CLOSING; its own FIN not yet there
    FINACK_CROSSED = "finack_crossed"  # its sender's own FIN arrived first: CLOSING, TIME_WAIT
    FINACK_CLOSING = "finack_closing"  # moves its receiver CLOSING → TIME_WAIT
    FINACK_LAST = "finack_last"
    FINACK_AGAIN = "finack_again"  # from TIME_WAIT, to a resent FIN
    FINACK_UNDELIVERED = "finack_undelivered"  # the FIN is resent later: this ACK was lost
    FINACK_OTHER = "finack_other"
    # data sent again, by the cause the capture shows (retransmission.evidence)
    DATA_RESENT_DUP_ACKS = "data_resent_dup_acks"
    DATA_RESENT_SACK = "data_resent_sack"
    DATA_RESENT_TIMEOUT = "data_resent_timeout"
    DATA_RESENT_EARLY = "data_resent_early"
    DATA_RESENT_OPTIONS_CUT = "data_resent_options_cut"  # the peer's headers in between were cut
    DATA_RESENT_SPURIOUS = "data_resent_spurious"
    DATA_RESENT = "data_resent"  # the earlier copy is not in the capture
    # data and everything else
    DATA_HALF_CLOSE = "data_half_close"  # data from CLOSE_WAIT
    DATA_AFTER_CLOSE = "data_after_close"  # the same, answered by a RST: the peer had closed
    ACK_HALF_CLOSE = "ack_half_close"  # acknowledges half-close data from FIN_WAIT_2
    STRAY_SEGMENT = "stray_segment"  # a segment for which its receiver has no connection
    DATA = "data"
    PURE_ACK = "pure_ack"
    WINDOW_UPDATE = "window_update"
    KEEP_ALIVE = "keep_alive"
    ZERO_WINDOW_PROBE = "zero_window_probe"
    ZERO_WINDOW = "zero_window"  # an ACK that advertises a window of zero
    OTHER = "other"


class EcnSetup(Enum):
    """What a SYN or SYN-ACK says about ECN (RFC 3168 §6.1.1), read against the SYN it answers."""

    NONE = "none"  # nothing to tell: no ECN bits, or bits that set up nothing
    ASKS = "asks"  # a SYN with ECE and CWR: an ECN-setup SYN
    AGREES = "agrees"  # ECE without CWR, answering an ECN-setup SYN: ECN is on
    DECLINES = "declines"  # no ECE, answering an ECN-setup SYN: ECN stays off
    AGREES_UNSEEN = "agrees_unseen"  # ECE without CWR; the SYN it answers is not captured


class EcnSignal(Enum):
    """What ECE or CWR says after ECN was set up in the captured handshake (RFC 3168 §6.1)."""

    NONE = "none"  # no ECN bit, an ECE repeating an echo already told, or no ECN set up
    ECHO = "echo"  # the first ECE of an echo: its sender received a packet marked CE
    CWR = "cwr"  # its sender reduced its congestion window after an ECE


class Backoff(Enum):
    """How a retry's wait compares with the previous one (RFC 6298 doubles it)."""

    FIRST = "first"
    DOUBLED = "doubled"
    SAME = "same"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Move:
    """One endpoint's states around a packet, as the replay computed them."""

    before: TcpState
    after: TcpState
    passed: TcpState | None = None  # a state entered and left within the packet

    @property
    def changed(self) -> bool:
        return self.before is not self.after


@dataclass(frozen=True, slots=True)
class PacketFacts:
    """Everything a packet's sentence may rest on; each field is computed, none is a string."""

    direction: Direction
    role: PacketRole
    flags: int
    handshake: Handshake
    sender: Move
    receiver: Move
    length: int
    resent: bool = False  # a SYN, SYN-ACK or FIN with the sequence number of an earlier one
    fin_acks_more: bool = False  # a resent FIN acknowledging more than its sender's last segment
    backoff: Backoff = Backoff.FIRST  # for a resent SYN or SYN-ACK
    syn_captured: bool = True  # the client's SYN is in the capture
    synack_ack_delta: int | None = None  # a SYN-ACK's ack minus the client's ISN
    syn_length: int = 0  # data bytes on the client's SYN
    tfo: bool = False  # the TCP Fast Open option is present
    syn_copy: int | None = None  # the row of the same SYN told in the connection before (facts)
    answers_ack: bool = False  # a RST answers a segment that carried ACK
    first_seen: bool = False  # no earlier segment of its connection is in the capture
    half_close: bool = False  # data or its ACK while one direction is closed
    reacks_fin: bool = False  # acknowledges a FIN this sender had acknowledged before
    window_zero: bool = False  # the window field is 0: the sender can take no more data
    resent_because: Cause | None = None  # why a data segment was sent again, when it was
    fin_resent_later: bool = False  # the FIN this acknowledges is sent again later
    fin_acked_before: bool = False  # the receiver acknowledged its sender's FIN before it
    synack_resent_later: bool = False  # the SYN-ACK this acknowledges is sent again later
    synack_crossed: bool = False  # its sender's SYN-ACK crossed the receiver's (Fig. 7)
    sent_synack: bool = False  # its sender has sent a SYN-ACK before it
    hs_acked_before: bool = False  # its sender has sent a handshake ACK before it
    # A later segment of the receiver, no SYN or RST, shows it ESTABLISHED; None: none was captured.
    # True: the sender sent nothing in between, so this packet is what took it there.
    receiver_shows_it: bool | None = None
    self_connect: bool = False  # sender and receiver are one socket (Connection.self_connect)
    close_order_unknown: bool = False  # Connection.closed_first is Closer.UNKNOWN
    peer_unseen: bool = False  # none of the other side's packets is in the capture
    gives_up: bool = False  # a RST that ends its sender's unanswered tries
    lost_connection: bool = False  # a RST in the form of an answer from no connection
    answers_keep_alive: bool = False  # the peer's latest segment is a keep-alive probe
    refused_after_close: bool = False  # data the receiver, past its FIN, answers with a RST
    ecn: EcnSetup = EcnSetup.NONE  # a SYN's or SYN-ACK's part in setting up ECN
    ecn_signal: EcnSignal = EcnSignal.NONE  # an ECE or CWR on a connection with ECN

    @property
    def illegal(self) -> bool:
        return TcpFlags.illegal(self.flags) is not None


SYNCHRONIZED = frozenset(
    {T.ESTABLISHED, T.FIN_WAIT_1, T.FIN_WAIT_2, T.CLOSE_WAIT, T.CLOSING, T.LAST_ACK}
)
NO_CONNECTION = frozenset({T.CLOSED, T.LISTEN, T.TIME_WAIT})
AFTER_OWN_FIN = frozenset({T.FIN_WAIT_1, T.FIN_WAIT_2, T.CLOSING, T.LAST_ACK})
HANDSHAKING = frozenset({T.SYN_SENT, T.SYN_RECEIVED})
MAY_CLOSE_FIRST = frozenset({T.ESTABLISHED, T.UNKNOWN, T.SYN_RECEIVED})


def select(f: PacketFacts) -> Situation:
    """The situation that tells this packet, chosen from the computed facts alone."""
    if f.handshake is Handshake.STRAY:
        if f.flags & TcpFlags.RST:
            return Situation.RST_CLOSED_PORT_ACK if f.answers_ack else Situation.RST_CLOSED_PORT
        return Situation.STRAY_SEGMENT
    if f.self_connect:
        found = _self(f)
        if found is not None:
            return found
    if f.flags & TcpFlags.RST:
        return _reset(f)
    if f.flags & TcpFlags.SYN:
        return _synack(f) if f.flags & TcpFlags.ACK else _syn(f)
    if f.flags & TcpFlags.FIN:
        return _fin(f)
    return _ack_or_data(f)


def _self(f: PacketFacts) -> Situation | None:
    """A socket connected to itself: sender and receiver are one Move, applied as sent and then
    as received. None: the segment is told as any other (data, ACKs, resent SYNs)."""
    s = f.sender
    if f.role is PacketRole.SYN_RETRANSMISSION:
        return None
    if f.flags & TcpFlags.RST:
        return Situation.SELF_RST if s.changed else None
    if f.flags & TcpFlags.SYN:
        if f.flags & TcpFlags.ACK:
            opened = s.passed is T.SYN_RECEIVED and s.after is T.ESTABLISHED
            return Situation.SELF_SYNACK if opened else Situation.OTHER
        return Situation.SELF_SYN if s.after is T.SYN_SENT else Situation.OTHER
    if f.flags & TcpFlags.FIN and s.passed is T.FIN_WAIT_1 and s.after is T.CLOSING:
        return Situation.SELF_FIN
    if s.before is T.CLOSING and s.after is T.TIME_WAIT:
        return Situation.SELF_FINACK
    return None


def _reset(f: PacketFacts) -> Situation:
    s, r = f.sender, f.receiver
    if f.handshake is Handshake.REFUSED and r.before is T.SYN_SENT:
        return Situation.RST_REFUSED
    if f.handshake is Handshake.OLD_DUPLICATE and s.before is T.CLOSED and not s.changed:
        return Situation.RST_OLD_DUPLICATE
    if f.first_seen and s.before is T.UNKNOWN:
        return Situation.RST_FIRST_SEEN
    if f.gives_up and r.after is T.UNKNOWN:
        return Situation.RST_GIVES_UP
    if f.lost_connection and s.after is T.CLOSED:
        if s.before is T.SYN_RECEIVED:
            return Situation.RST_HANDSHAKE_DROPPED
        if f.answers_keep_alive:
            return Situation.RST_KEEP_ALIVE_LOST
        return Situation.RST_CONNECTION_LOST
    if not s.changed and not r.changed:
        return Situation.RST_NOT_ACCEPTED if r.before is T.SYN_SENT else Situation.RST_NO_EFFECT
    if s.before in NO_CONNECTION:
        return Situation.RST_NO_CONNECTION
    if s.before in HANDSHAKING or r.before in HANDSHAKING:
        return Situation.RST_HANDSHAKE
    if s.before in AFTER_OWN_FIN:
        return Situation.RST_AFTER_FIN
    return Situation.RST_ABORT


def _syn(f: PacketFacts) -> Situation:
    s, r = f.sender, f.receiver
    if f.role is PacketRole.SYN_RETRANSMISSION:
        return _again(f.backoff)
    if f.handshake is Handshake.OLD_DUPLICATE and s.before is s.after is T.CLOSED:
        return Situation.SYN_STALE
    if s.after is T.SYN_SENT and r.before is r.after is T.SYN_SENT:
        return Situation.SYN_CROSSING
    if s.before in SYNCHRONIZED or f.role is PacketRole.OTHER:
        return Situation.SYN_IN_CONNECTION
    if s.after is not T.SYN_SENT:
        return Situation.OTHER
    if f.syn_copy is not None:
        return Situation.SYN_AGAIN_NEW
    if not f.length:
        return Situation.SYN
    return Situation.SYN_TFO if f.tfo else Situation.SYN_DATA


def _again(backoff: Backoff) -> Situation:
    return {
        Backoff.FIRST: Situation.SYN_AGAIN,
        Backoff.DOUBLED: Situation.SYN_AGAIN_DOUBLED,
        Backoff.SAME: Situation.SYN_AGAIN_SAME,
        Backoff.OTHER: Situation.SYN_AGAIN_OTHER,
    }[backoff]


def _synack(f: PacketFacts) -> Situation:
    s, r = f.sender, f.receiver
    if f.role is PacketRole.SYN_RETRANSMISSION:
        return Situation.SYNACK_AGAIN
    if f.handshake is Handshake.OLD_DUPLICATE and r.before is r.after is T.CLOSED:
        return Situation.SYNACK_STALE if f.syn_captured else Situation.SYNACK_STALE_UNSEEN
    if f.handshake is Handshake.SIMULTANEOUS_OPEN:
        if not r.changed:
            return Situation.SYNACK_CROSSING if s.changed else Situation.OTHER
        return Situation.SYNACK_SIMULTANEOUS if s.changed else Situation.SYNACK_SIMULTANEOUS_LAST
    if r.after is not T.ESTABLISHED or not r.changed:
        return Situation.OTHER
    if r.before is T.UNKNOWN or not f.syn_captured:
        return Situation.SYNACK_NO_SYN
    if r.before is not T.SYN_SENT or f.synack_ack_delta is None:
        return Situation.OTHER
    if f.syn_length and f.synack_ack_delta == 1 + f.syn_length:
        return Situation.SYNACK_TFO
    if f.synack_ack_delta != 1:
        return Situation.OTHER
    return Situation.SYNACK_TFO_IGNORED if f.syn_length else Situation.SYNACK


def _fin(f: PacketFacts) -> Situation:
    s, r = f.sender, f.receiver
    if f.peer_unseen and s.after is T.UNKNOWN:  # outcomes._one_sided_close forgot the states
        if f.resent:
            return Situation.FIN_AGAIN_ACKS_MORE if f.fin_acks_more else Situation.FIN_OTHER
        return Situation.FIN_ORDER_UNKNOWN if f.close_order_unknown else Situation.FIN_OTHER
    if f.peer_unseen and r.after is T.UNKNOWN:  # outcomes._one_sided_close forgot the peer
        if f.resent:
            return Situation.FIN_AGAIN_PEER_UNSEEN
        if s.before in MAY_CLOSE_FIRST and s.after is T.FIN_WAIT_1 and r.changed:
            return Situation.FIN_FIRST_PEER_UNSEEN
        return Situation.FIN_OTHER
    if f.resent:
        if r.changed:
            return Situation.FIN_AGAIN_DELIVERED
        if f.fin_acks_more:
            return Situation.FIN_AGAIN_ACKS_MORE
        return Situation.FIN_AGAIN if f.fin_acked_before else Situation.FIN_AGAIN_UNPROVEN
    if s.before is T.SYN_SENT and s.passed is T.ESTABLISHED:
        return Situation.FIN_AFTER_MISSED_SYNACK
    if s.before in MAY_CLOSE_FIRST and s.after is T.FIN_WAIT_1:
        if r.before is T.FIN_WAIT_1 and r.after is T.CLOSING:
            return Situation.FIN_CROSSING
        if not r.changed:
            return Situation.FIN_ACTIVE_UNDELIVERED
        if r.after is T.CLOSE_WAIT:
            return Situation.FIN_ACTIVE
    if s.before is T.CLOSE_WAIT and s.after is T.LAST_ACK and r.after is T.TIME_WAIT:
        if r.before is T.FIN_WAIT_1:
            return Situation.FIN_THREE_WAY
        if r.before is T.FIN_WAIT_2:
            return Situation.FIN_PASSIVE
    return Situation.FIN_OTHER


def _hs_ack_again(f: PacketFacts) -> Situation:
    """The ACK before it did not take effect: this one did only if the server's next segment
    shows it, and before the client's next segment, which could have done it instead."""
    if f.receiver_shows_it is None:
        return Situation.HS_ACK_AGAIN_UNSHOWN
    return Situation.HS_ACK_AGAIN if f.receiver_shows_it else Situation.HS_ACK_AGAIN_OR_LATER


def _ack_or_data(f: PacketFacts) -> Situation:
    s, r = f.sender, f.receiver
    if f.role is PacketRole.HANDSHAKE_ACK:
        if s.before is T.SYN_SENT and s.after is T.ESTABLISHED:
            return Situation.HS_ACK_INFERRED
        if r.before is T.SYN_RECEIVED and r.after is T.ESTABLISHED:
            if f.handshake is Handshake.SIMULTANEOUS_OPEN and f.synack_crossed:
                return Situation.ACK_AFTER_CROSSED_SYNACK
            if f.handshake is Handshake.SIMULTANEOUS_OPEN and not f.sent_synack:
                return Situation.ACK_OPENS_SIMULTANEOUS
            if f.length:
                return Situation.HS_ACK_DATA
            return _hs_ack_again(f) if f.hs_acked_before else Situation.HS_ACK
        if r.before is r.after is T.SYN_RECEIVED:
            if f.synack_resent_later:
                return Situation.HS_ACK_UNDELIVERED
            return Situation.HS_ACK_UNCONFIRMED
    if s.before is T.SYN_RECEIVED and s.after is T.ESTABLISHED:
        return Situation.DATA_ACK_PROVES_HS_ACK
    if f.reacks_fin and s.before is T.TIME_WAIT:
        return Situation.FINACK_AGAIN
    if f.peer_unseen and s.after is T.UNKNOWN and s.changed:
        return Situation.ACK_PEER_UNSEEN
    if r.changed or s.changed:
        return _acks_fin(f)
    if f.role is PacketRole.FIN_ACK:
        return Situation.FINACK_UNDELIVERED if f.fin_resent_later else Situation.FINACK_OTHER
    if f.resent_because is not None and f.length:
        return RESENT_SITUATIONS[f.resent_because]
    if f.half_close:
        if not f.length:
            return Situation.ACK_HALF_CLOSE
        return Situation.DATA_AFTER_CLOSE if f.refused_after_close else Situation.DATA_HALF_CLOSE
    if f.window_zero and f.role in (PacketRole.PURE_ACK, PacketRole.ZERO_WINDOW_PROBE):
        return Situation.ZERO_WINDOW
    return {
        PacketRole.DATA: Situation.DATA,
        PacketRole.PURE_ACK: Situation.PURE_ACK,
        PacketRole.WINDOW_UPDATE: Situation.WINDOW_UPDATE,
        PacketRole.KEEP_ALIVE: Situation.KEEP_ALIVE,
        PacketRole.ZERO_WINDOW_PROBE: Situation.ZERO_WINDOW_PROBE,
    }.get(f.role, Situation.OTHER)


RESENT_SITUATIONS: Final[dict[Cause, Situation]] = {
    Cause.DUP_ACKS: Situation.DATA_RESENT_DUP_ACKS,
    Cause.SACK: Situation.DATA_RESENT_SACK,
    Cause.TIMEOUT: Situation.DATA_RESENT_TIMEOUT,
    Cause.EARLY: Situation.DATA_RESENT_EARLY,
    Cause.OPTIONS_CUT: Situation.DATA_RESENT_OPTIONS_CUT,
    Cause.SPURIOUS: Situation.DATA_RESENT_SPURIOUS,
    Cause.UNKNOWN: Situation.DATA_RESENT,
}


def _acks_fin(f: PacketFacts) -> Situation:
    """An ACK that moves a side on: its FIN acknowledged, or a crossed FIN delivered."""
    s, r = f.sender, f.receiver
    if r.before is T.FIN_WAIT_1 and r.after is T.FIN_WAIT_2:
        if s.before is T.CLOSING:
            return Situation.FINACK_FROM_CLOSING
        if s.before is T.CLOSE_WAIT:
            if not f.length:
                return Situation.FINACK_FIRST
            if f.refused_after_close:
                return Situation.FINACK_FIRST_DATA_REFUSED
            return Situation.FINACK_FIRST_DATA
    if r.before is T.FIN_WAIT_1 and r.passed is T.CLOSING and r.after is T.TIME_WAIT:
        return Situation.FINACK_CROSSED
    if r.before is T.CLOSING and r.after is T.TIME_WAIT:
        return Situation.FINACK_CLOSING
    if r.before is T.LAST_ACK and r.after is T.CLOSED and s.after is T.TIME_WAIT:
        return Situation.FINACK_LAST
    return Situation.FINACK_OTHER


# Concept notes each situation links to (ids of explanations.CONCEPTS).
CONCEPT_LINKS: Final[dict[Situation, tuple[str, ...]]] = {
    Situation.SYN: ("three_way_handshake", "sequence_numbers"),
    Situation.SYN_DATA: ("three_way_handshake",),
    Situation.SYN_TFO: ("three_way_handshake",),
    Situation.SYN_AGAIN: ("three_way_handshake",),
    Situation.SYN_AGAIN_NEW: ("three_way_handshake",),
    Situation.SYN_AGAIN_DOUBLED: ("three_way_handshake",),
    Situation.SYN_AGAIN_SAME: ("three_way_handshake",),
    Situation.SYN_AGAIN_OTHER: ("three_way_handshake",),
    Situation.SYN_STALE: ("stale_syn",),
    Situation.SYN_CROSSING: ("simultaneous_open",),
    Situation.SELF_SYN: ("simultaneous_open",),
    Situation.SELF_SYNACK: ("simultaneous_open",),
    Situation.SELF_FIN: ("closing",),
    Situation.SELF_FINACK: ("closing", "time_wait"),
    Situation.SELF_RST: ("rst",),
    Situation.SYNACK: ("three_way_handshake", "sequence_numbers"),
    Situation.SYNACK_TFO: ("three_way_handshake",),
    Situation.SYNACK_TFO_IGNORED: ("three_way_handshake",),
    Situation.SYNACK_AGAIN: ("three_way_handshake",),
    Situation.SYNACK_STALE: ("stale_syn",),
    Situation.SYNACK_STALE_UNSEEN: ("stale_syn",),
    Situation.SYNACK_NO_SYN: ("three_way_handshake",),
    Situation.SYNACK_CROSSING: ("simultaneous_open",),
    Situation.SYNACK_SIMULTANEOUS: ("simultaneous_open",),
    Situation.SYNACK_SIMULTANEOUS_LAST: ("simultaneous_open",),
    Situation.HS_ACK: ("three_way_handshake", "why_three_minimum"),
    Situation.HS_ACK_DATA: ("three_way_handshake", "why_three_minimum"),
    Situation.HS_ACK_INFERRED: ("three_way_handshake",),
    Situation.HS_ACK_UNDELIVERED: ("three_way_handshake",),
    Situation.HS_ACK_UNCONFIRMED: ("three_way_handshake",),
    Situation.HS_ACK_AGAIN: ("three_way_handshake", "why_three_minimum"),
    Situation.HS_ACK_AGAIN_OR_LATER: ("three_way_handshake", "why_three_minimum"),
    Situation.HS_ACK_AGAIN_UNSHOWN: ("three_way_handshake",),
    Situation.DATA_ACK_PROVES_HS_ACK: ("three_way_handshake",),
    Situation.ACK_OPENS_SIMULTANEOUS: ("simultaneous_open",),
    Situation.ACK_AFTER_CROSSED_SYNACK: ("simultaneous_open",),
    Situation.RST_REFUSED: ("rst", "sequence_numbers"),
    Situation.RST_CLOSED_PORT: ("rst", "sequence_numbers"),
    Situation.RST_CLOSED_PORT_ACK: ("rst",),
    Situation.RST_OLD_DUPLICATE: ("stale_syn", "why_three_minimum"),
    Situation.RST_HANDSHAKE: ("rst",),
    Situation.RST_NOT_ACCEPTED: ("rst",),
    Situation.RST_ABORT: ("rst",),
    Situation.RST_FIRST_SEEN: ("rst",),
    Situation.RST_GIVES_UP: ("rst",),
    Situation.RST_CONNECTION_LOST: ("rst",),
    Situation.RST_KEEP_ALIVE_LOST: ("rst",),
    Situation.RST_HANDSHAKE_DROPPED: ("rst", "three_way_handshake"),
    Situation.RST_AFTER_FIN: ("rst",),
    Situation.RST_NO_CONNECTION: ("rst",),
    Situation.RST_NO_EFFECT: ("rst",),
    Situation.FIN_ACTIVE: ("four_way_close", "close_states"),
    Situation.FIN_ACTIVE_UNDELIVERED: ("close_states", "closing"),
    Situation.FIN_CROSSING: ("closing", "who_time_wait"),
    Situation.FIN_AFTER_MISSED_SYNACK: ("four_way_close", "close_states"),
    Situation.FIN_PASSIVE: ("four_way_close", "close_states"),
    Situation.FIN_THREE_WAY: ("four_way_close", "close_states"),
    Situation.FIN_AGAIN: ("time_wait",),
    Situation.FIN_AGAIN_UNPROVEN: ("close_states",),
    Situation.FIN_AGAIN_DELIVERED: ("close_states",),
    Situation.FIN_AGAIN_ACKS_MORE: ("close_states",),
    Situation.FIN_ORDER_UNKNOWN: ("close_states",),
    Situation.FIN_FIRST_PEER_UNSEEN: ("four_way_close", "close_states"),
    Situation.FIN_AGAIN_PEER_UNSEEN: ("time_wait",),
    Situation.ACK_PEER_UNSEEN: ("close_states",),
    Situation.FINACK_FIRST: ("four_way_close", "close_states"),
    Situation.FINACK_FIRST_DATA: ("four_way_close", "close_states"),
    Situation.FINACK_FIRST_DATA_REFUSED: ("close_states", "rst"),
    Situation.FINACK_FROM_CLOSING: ("closing", "who_time_wait"),
    Situation.FINACK_CROSSED: ("closing", "who_time_wait"),
    Situation.FINACK_CLOSING: ("closing", "time_wait"),
    Situation.FINACK_LAST: ("time_wait", "who_time_wait"),
    Situation.FINACK_AGAIN: ("time_wait",),
    Situation.FINACK_UNDELIVERED: ("time_wait",),
    Situation.DATA_RESENT_TIMEOUT: ("retransmission",),
    Situation.DATA_RESENT_DUP_ACKS: ("retransmission",),
    Situation.DATA_RESENT_SACK: ("retransmission",),
    Situation.DATA_RESENT_EARLY: ("retransmission",),
    Situation.DATA_RESENT_OPTIONS_CUT: ("retransmission",),
    Situation.DATA_RESENT_SPURIOUS: ("retransmission",),
    Situation.DATA_HALF_CLOSE: ("four_way_close",),
    Situation.DATA_AFTER_CLOSE: ("close_states", "rst"),
    Situation.ACK_HALF_CLOSE: ("four_way_close",),
    Situation.STRAY_SEGMENT: ("rst",),
}
