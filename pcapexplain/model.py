"""Shared value types for every stage: packet columns, TCP states, outcomes, connections, anomalies.

This module does no I/O and imports nothing heavy, so the pure stages (reconstructor, anomalies,
zeek, narrate) and their tests never pull in pyshark, pandas or jinja2.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag, StrEnum


class Lang(StrEnum):
    """Languages of every text pcapexplain shows; each has a catalogue in texts/<value>.toml."""

    EN = "en"  # English
    ZH = "zh"  # Simplified Chinese, in the terms of Xie Xiren's textbook


class IllegalFlags(StrEnum):
    """Why a segment's flags are a combination no TCP sends (TCP-REFERENCE H7); the values are
    the `variant` of the illegal-flags anomaly."""

    SYN_FIN = "syn-fin"  # opens and closes at once
    SYN_RST = "syn-rst"  # opens and aborts at once
    FIN_RST = "fin-rst"  # closes gracefully and aborts at once
    NULL = "null"  # no flag at all (a "NULL scan")
    XMAS = "xmas"  # FIN, PSH and URG without ACK (an "Xmas scan")
    NO_ACK = "no-ack"  # neither SYN, ACK nor RST: FIN, PSH, URG or ECN bits alone


class TcpFlags(IntFlag):
    """TCP header control bits (RFC 9293 §3.1, RFC 3168 for ECE/CWR)."""

    FIN = 0x001  # no more data from sender
    SYN = 0x002  # synchronize sequence numbers
    RST = 0x004  # reset the connection
    PSH = 0x008  # push function
    ACK = 0x010  # acknowledgment field is significant
    URG = 0x020  # urgent pointer field is significant
    ECE = 0x040  # ECN echo
    CWR = 0x080  # congestion window reduced
    AE = 0x100  # accurate ECN (formerly NS)

    @staticmethod
    def illegal(bits: int) -> IllegalFlags | None:
        """Why these flags are a combination no TCP sends, or None when a TCP may send them.

        The one definition, used by the narrative and the anomaly checks alike. The first rule
        that matches names the reason.
        """
        if bits & _SYN_FIN == _SYN_FIN:
            # SYN opens a sequence space, FIN ends one. Only the historic T/TCP (RFC 1644, made
            # Historic by RFC 6247) sent both; today it is a scanner's fingerprinting probe.
            return IllegalFlags.SYN_FIN
        if bits & _SYN_RST == _SYN_RST:
            # A RST is never a connection request: RFC 9293 §3.10.7 handles RST before SYN in
            # every state, so the SYN can mean nothing.
            return IllegalFlags.SYN_RST
        if bits & _FIN_RST == _FIN_RST:
            # RST aborts and discards queued data, FIN asks for an orderly close after it; Zeek
            # records the pair as inconsistent (history I).
            return IllegalFlags.FIN_RST
        if not bits & _ALL_FLAGS:
            # RFC 9293 §3.10.7: a segment without SYN, ACK or RST is dropped in every state.
            return IllegalFlags.NULL
        if bits & (_SYN | _ACK | _RST):
            # The initial SYN is the one segment without ACK that opens a connection; a RST may
            # lack ACK (<SEQ=SEG.ACK><CTL=RST>, RFC 9293 §3.10.7.1); everything else carries ACK.
            return None
        if bits & _XMAS == _XMAS:
            return IllegalFlags.XMAS
        # RFC 9293 §3.4: after the initial SYN "the ACK bit is always set"; a FIN, PSH, URG or
        # ECN bit alone cannot belong to any connection (§3.10.7.4 drops it: "ACK bit off").
        return IllegalFlags.NO_ACK


_SYN, _ACK, _RST = int(TcpFlags.SYN), int(TcpFlags.ACK), int(TcpFlags.RST)
_SYN_FIN = int(TcpFlags.SYN | TcpFlags.FIN)
_SYN_RST = int(TcpFlags.SYN | TcpFlags.RST)
_FIN_RST = int(TcpFlags.FIN | TcpFlags.RST)
_XMAS = int(TcpFlags.FIN | TcpFlags.PSH | TcpFlags.URG)
_ALL_FLAGS = int(~TcpFlags(0))  # the nine bits RFC 9293 and RFC 3168 name


class AnalysisFlag(IntFlag):
    """tshark's `tcp.analysis.*` verdicts for one packet, packed into one integer column."""

    RETRANSMISSION = 1 << 0
    FAST_RETRANSMISSION = 1 << 1
    SPURIOUS_RETRANSMISSION = 1 << 2
    OUT_OF_ORDER = 1 << 3
    LOST_SEGMENT = 1 << 4  # "previous segment not captured"
    ACK_LOST_SEGMENT = 1 << 5  # "ACKed unseen segment"
    DUPLICATE_ACK = 1 << 6
    ZERO_WINDOW = 1 << 7
    ZERO_WINDOW_PROBE = 1 << 8
    ZERO_WINDOW_PROBE_ACK = 1 << 9
    WINDOW_FULL = 1 << 10
    WINDOW_UPDATE = 1 << 11
    KEEP_ALIVE = 1 << 12
    KEEP_ALIVE_ACK = 1 << 13
    REUSED_PORTS = 1 << 14


# Any of tshark's retransmission verdicts. tshark also sets RETRANSMISSION on fast and spurious
# retransmissions; hand-built packets need not, so every reader asks for all three bits.
RETRANSMITTED = int(
    AnalysisFlag.RETRANSMISSION
    | AnalysisFlag.FAST_RETRANSMISSION
    | AnalysisFlag.SPURIOUS_RETRANSMISSION
)


class ChecksumStatus(IntEnum):
    """Checksum verdict for a header; only BAD/GOOD when validation was asked for."""

    UNVERIFIED = 0
    GOOD = 1
    BAD = 2


NO_VALUE = -1  # integer columns use this where the field was absent from the packet


class Reader(StrEnum):
    """Which reader turns the capture file into packet columns."""

    AUTO = "auto"  # native when it reads every link type and encapsulation in the file, else tshark
    NATIVE = "native"  # pcapexplain's own reader of the file's bytes (no tshark needed)
    TSHARK = "tshark"  # Wireshark's dissectors, through tshark


@dataclass(slots=True)
class PacketColumns:
    """One entry per TCP packet, in capture order; every column has the same length.

    Columns are plain sequences (lists or `array.array`) so the pure stages can zip over them
    in a tight loop. Integer option columns hold NO_VALUE when the option was absent.
    """

    frame: Sequence[int]  # capture frame number, 1-based as in Wireshark
    time: Sequence[float]  # seconds since the epoch
    src: Sequence[str]  # network-layer source address (innermost IP header)
    dst: Sequence[str]
    sport: Sequence[int]
    dport: Sequence[int]
    flags: Sequence[int]  # TcpFlags bits
    seq: Sequence[int]  # raw (absolute) sequence number
    ack: Sequence[int]  # raw acknowledgment number (present even without the ACK flag)
    length: Sequence[int]  # TCP payload bytes (0 when unknown)
    length_unknown: Sequence[int]  # 1 when tshark could not tell the length (malformed, cut)
    # 1 when the capture's snapshot length cut the TCP header: its options are partly unknown,
    # and tshark prints no analysis flags for it (duplicate ACK, zero window, ...)
    header_cut: Sequence[int]
    window: Sequence[int]  # window field as sent, unscaled
    mss: Sequence[int]  # MSS option value or NO_VALUE
    wscale: Sequence[int]  # window-scale shift or NO_VALUE
    sack_perm: Sequence[int]  # 1 when the SACK-permitted option is present
    sack: Sequence[int]  # 1 when SACK blocks are present
    tsval: Sequence[int]  # timestamp option TSval or NO_VALUE
    tfo: Sequence[int]  # 1 when the TCP Fast Open option (kind 34) is present
    ttl: Sequence[int]  # IPv4 TTL or IPv6 hop limit, NO_VALUE if unknown
    ip_len: Sequence[int]  # IP total length (IPv6: payload length + 40), NO_VALUE if unknown
    analysis: Sequence[int]  # AnalysisFlag bits from tshark
    ip_checksum: Sequence[int]  # ChecksumStatus of the IPv4 header (UNVERIFIED for IPv6)
    tcp_checksum: Sequence[int]  # ChecksumStatus of the TCP segment
    ip_id: Sequence[int]  # IPv4 identification field, NO_VALUE for IPv6 (copies.py)
    tcp_sum: Sequence[int]  # the TCP checksum field as sent, NO_VALUE when not captured
    stream: Sequence[int]  # tshark's tcp.stream index, for cross-checking only

    def __len__(self) -> int:
        return len(self.frame)


COLUMN_NAMES: tuple[str, ...] = tuple(PacketColumns.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class CaptureInfo:
    """Facts about the capture file and the tshark that read it."""

    path: str
    size_bytes: int
    sha256: str
    tshark_version: str  # "" when the native reader read the file
    total_frames: int  # every frame, TCP or not
    truncated_at: int | None = None  # frame after which the file was cut, when it was
    warnings: tuple[str, ...] = ()
    reader: str = "tshark"  # Reader value of the reader that read the file
    # (frame left out, the kept frame it copies): packets captured twice (copies.without_copies)
    copies: tuple[tuple[int, int], ...] = ()

    @property
    def read_by(self) -> str:
        """Which reader read the capture, as outputs name it: "native", or "tshark" and its
        version."""
        return self.reader if self.reader != "tshark" else f"tshark {self.tshark_version}"


@dataclass(frozen=True, slots=True)
class IcmpError:
    """An ICMP or ICMPv6 error message that quotes the start of a TCP segment (RFC 792, 4443).

    The quoted addresses, ports and sequence number are the segment's as its sender sent it.
    """

    frame: int
    time: float
    reporter: str  # the source address of the ICMP message: the host or router that sent it
    version: int  # 4 (ICMP) or 6 (ICMPv6)
    type: int
    code: int
    src: str  # the quoted segment's sender
    sport: int
    dst: str
    dport: int
    seq: int

    @property
    def unreachable(self) -> bool:
        """Destination unreachable (ICMP type 3, ICMPv6 type 1)."""
        return self.type == (3 if self.version == 4 else 1)


@dataclass(slots=True)
class Capture:
    """Loader output: the TCP packets as typed columns, plus facts about the file."""

    info: CaptureInfo
    packets: PacketColumns
    icmp: tuple[IcmpError, ...] = ()  # ICMP errors about TCP segments, in capture order


class TcpState(IntEnum):
    """Endpoint states, named as in RFC 9293 §3.3.2 (Figure 5)."""

    UNKNOWN = 0  # the capture cannot tell (e.g. it started mid-connection)
    CLOSED = 1  # no connection
    LISTEN = 2  # waiting for a SYN (assumed for a server that answers one)
    SYN_SENT = 3  # sent a SYN, waiting for the matching SYN
    SYN_RECEIVED = 4  # got a SYN, sent its own, waiting for the ACK of it
    ESTABLISHED = 5  # open: data flows both ways
    FIN_WAIT_1 = 6  # sent a FIN (active close), not yet acknowledged
    FIN_WAIT_2 = 7  # its FIN is acknowledged; waiting for the peer's FIN
    CLOSE_WAIT = 8  # got the peer's FIN; its application may still send
    CLOSING = 9  # both FINs sent, its own not yet acknowledged (simultaneous close)
    LAST_ACK = 10  # passive closer sent its FIN, waiting for the final ACK
    TIME_WAIT = 11  # active closer waits 2MSL before the 4-tuple may be reused


class PacketRole(IntEnum):
    """What one packet did in its connection."""

    SYN = 1  # handshake step 1
    SYN_ACK = 2  # handshake step 2
    HANDSHAKE_ACK = 3  # handshake step 3
    DATA = 4  # carries payload
    PURE_ACK = 5  # acknowledges, carries nothing else
    WINDOW_UPDATE = 6  # only changes the advertised window
    KEEP_ALIVE = 7  # probe of an idle connection (or its answer)
    FIN = 8  # teardown: closes the sender's direction
    FIN_ACK = 9  # teardown: acknowledges the peer's FIN
    RST = 10  # reset
    SYN_RETRANSMISSION = 11  # a SYN or SYN-ACK sent again with the same ISN
    OTHER = 12  # anything else (illegal flag combinations, stray segments)
    ZERO_WINDOW_PROBE = 13  # probes a peer's zero window (or answers with the window still 0)


class Direction(IntEnum):
    TO_SERVER = 0  # client → server
    TO_CLIENT = 1  # server → client


class Handshake(StrEnum):
    """How the connection was (or was not) opened."""

    COMPLETE = "complete"  # SYN, SYN-ACK, ACK
    REFUSED = "refused"  # SYN answered by RST: nothing listening
    UNANSWERED = "unanswered"  # SYN(s) with no reply
    UNREACHABLE = "unreachable"  # SYN(s) answered by an ICMP destination unreachable only
    INCOMPLETE = "incomplete"  # SYN-ACK never acknowledged
    SIMULTANEOUS_OPEN = "simultaneous_open"  # both sides sent SYN (RFC 9293 Fig. 7)
    OLD_DUPLICATE = "old_duplicate"  # client reset a SYN-ACK for a stale SYN (RFC 9293 Fig. 8)
    NOT_CAPTURED = "not_captured"  # capture started after the handshake
    STRAY = "stray"  # no SYN; segments a closed port answered with RST (RFC 9293 §3.10.7.1)


class Inference(StrEnum):
    """What a connection's verdict rests on beyond the captured packets (the `inferred` list)."""

    ROLES = "roles"  # no SYN captured: client and server guessed (SYN-ACK, ports, probe)
    SYNACK_NOT_CAPTURED = "synack_not_captured"  # the client's ACK proves a SYN-ACK never seen
    SYN_NOT_CAPTURED = "syn_not_captured"  # a SYN-ACK answers a SYN the capture never showed
    ACK_NOT_CAPTURED = "ack_not_captured"  # the server ACKs data: a handshake ACK never seen
    CLIENT_NOT_CAPTURED = "client_not_captured"  # none of its packets, yet the server ACKs it
    SERVER_NOT_CAPTURED = "server_not_captured"  # none of its packets, yet the client ACKs it


class Teardown(StrEnum):
    """How the connection ended."""

    FOUR_WAY = "four_way"  # FIN, ACK, FIN, ACK
    THREE_WAY = "three_way"  # FIN, FIN+ACK, ACK
    SIMULTANEOUS = "simultaneous"  # both FINs crossed: both CLOSING, both TIME_WAIT
    RESET_BY_CLIENT = "reset_by_client"
    RESET_BY_SERVER = "reset_by_server"
    HALF_CLOSED_AT_END = "half_closed_at_end"  # one FIN, then the capture ended
    OPEN_AT_END = "open_at_end"  # no FIN or RST before the capture ended
    NONE = "none"  # never opened


class Closer(StrEnum):
    """Which side did something: closed first, or ends in TIME_WAIT."""

    CLIENT = "client"
    SERVER = "server"
    BOTH = "both"
    NONE = "none"
    UNKNOWN = "unknown"  # one direction was not captured and its packets may decide it


class CapturePoint(StrEnum):
    """Where on the path the capture was most likely taken, from the handshake's two halves."""

    NEAR_CLIENT = "near_client"  # SYN → SYN-ACK held nearly the whole round trip
    NEAR_SERVER = "near_server"  # SYN-ACK → ACK held nearly the whole round trip
    MIDDLE = "middle"  # both halves took a real share of it
    UNKNOWN = "unknown"  # no SYN, SYN-ACK and ACK all captured: nothing to split


@dataclass(frozen=True, slots=True)
class Vantage:
    """The capture point and how far each endpoint was from it (one way, seconds).

    A segment reaches an endpoint, and the endpoint changes state, about its delay after the
    capture shows the segment; the endpoint's own segments left it about that much earlier.
    """

    point: CapturePoint = CapturePoint.UNKNOWN
    weak: bool = True  # the round trip is so short that processing time weighs as much as the path
    client_delay: float | None = None  # half of SYN-ACK → ACK
    server_delay: float | None = None  # half of SYN → SYN-ACK


class Severity(StrEnum):
    """Anomaly severity; maps onto Wireshark's expert levels Chat < Note < Warn < Error."""

    INFO = "info"
    NOTE = "note"
    WARN = "warn"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.INFO: 0, Severity.NOTE: 1, Severity.WARN: 2, Severity.ERROR: 3}


@dataclass(frozen=True, slots=True)
class Endpoint:
    ip: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class TcpOptions:
    """Options one side offered in its SYN or SYN-ACK."""

    mss: int | None = None
    wscale: int | None = None
    sack_permitted: bool = False
    timestamps: bool = False
    tfo: bool = False
    # the capture's snapshot length cut the segment's options: one not shown may have been offered
    options_cut: bool = False


@dataclass(slots=True)
class DirectionStats:
    """Counters for one direction of a connection."""

    packets: int = 0
    payload_bytes: int = 0
    retransmissions: int = 0  # packets tshark flagged as any kind of retransmission
    unknown_length: int = 0  # segments whose payload length tshark could not tell (not in bytes)


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One finding: stable slug, severity, the frames it concerns, and formatting parameters.

    The text is not stored here: explanations.py renders it per language from the slug and params.
    """

    slug: AnomalySlug
    severity: Severity
    connection: int
    frames: tuple[int, ...]
    params: dict[str, str | int | float] = field(default_factory=dict, compare=False, hash=False)


@dataclass(slots=True)
class Connection:
    """One TCP incarnation (a 4-tuple between its SYN and its end), built by the reconstructor."""

    id: int
    client: Endpoint
    server: Endpoint
    roles_inferred: bool = False
    inferred: tuple[Inference, ...] = ()  # what the verdicts rest on beyond the packets
    handshake: Handshake = Handshake.NOT_CAPTURED
    teardown: Teardown = Teardown.OPEN_AT_END
    half_close: bool = False
    closed_first: Closer = Closer.NONE
    time_wait: Closer = Closer.NONE
    first_time: float = 0.0  # the earliest timestamp of its packets
    last_time: float = 0.0  # the latest (timestamps may go backwards in a reordered capture)
    first_frame: int = 0
    last_frame: int = 0
    client_isn: int | None = None
    server_isn: int | None = None
    client_options: TcpOptions = field(default_factory=TcpOptions)
    server_options: TcpOptions = field(default_factory=TcpOptions)
    rtt_syn_synack: float | None = None  # seconds, SYN → SYN-ACK at the capture point
    rtt_synack_ack: float | None = None  # seconds, SYN-ACK → ACK
    vantage: Vantage = field(default_factory=Vantage)  # where the capture was taken
    to_server: DirectionStats = field(default_factory=DirectionStats)
    to_client: DirectionStats = field(default_factory=DirectionStats)
    client_final: TcpState = TcpState.UNKNOWN
    server_final: TcpState = TcpState.UNKNOWN
    packet_index: array[int] = field(default_factory=lambda: array("l"))  # rows of PacketColumns
    tshark_streams: tuple[int, ...] = ()
    icmp: tuple[IcmpError, ...] = ()  # ICMP errors about its segments, in capture order

    @property
    def duration(self) -> float:
        return self.last_time - self.first_time

    @property
    def self_connect(self) -> bool:
        """Both ends are one address and port: one socket that sends and receives every segment
        (it connected to itself, RFC 9293 Fig. 7 with one SYN playing both)."""
        # Endpoint equality field by field, without the tuples its generated __eq__ builds:
        # the replay and the summary ask once per connection.
        client, server = self.client, self.server
        return client.port == server.port and client.ip == server.ip


@dataclass(slots=True)
class PacketStates:
    """Per-packet reconstructor output, aligned row for row with PacketColumns.

    Stored as compact arrays of enum codes: at a million packets an object per packet would cost
    more than the whole capture.
    """

    connection: array[int]  # Connection.id
    direction: array[int]  # Direction code
    role: array[int]  # PacketRole code
    client_before: array[int]  # TcpState codes
    client_after: array[int]
    server_before: array[int]
    server_after: array[int]
    # A packet that moves a side through two transitions (an ACK and a FIN processed in one
    # segment, RFC 9293 §3.10.7.4) passes a state in between: row -> (client's, server's) state
    # passed, UNKNOWN for none. Sparse: such packets are a handful per connection.
    passed: dict[int, tuple[int, int]] = field(default_factory=dict)
    # Segments that crossed in flight: row -> the row of the opposite segment its sender had not
    # received yet when it sent it (crossing SYNs, SYN-ACKs or FINs, as the replay decided).
    crossed: dict[int, int] = field(default_factory=dict)

    def passed_through(self, row: int, client: bool) -> TcpState | None:
        """The state a side passed through within this packet, if any."""
        pair = self.passed.get(row)
        if pair is None:
            return None
        code = pair[0 if client else 1]
        return None if code == TcpState.UNKNOWN else TcpState(code)


class ConnState(StrEnum):
    """Zeek's conn_state codes (scripts/base/protocols/conn/main.zeek)."""

    S0 = "S0"  # connection attempt seen, no reply
    S1 = "S1"  # established, not terminated
    SF = "SF"  # normal establishment and termination
    REJ = "REJ"  # connection attempt rejected
    S2 = "S2"  # established, originator tried to close, no reply from the responder
    S3 = "S3"  # established, responder tried to close, no reply from the originator
    RSTO = "RSTO"  # established, originator aborted with a RST
    RSTR = "RSTR"  # responder sent a RST
    RSTOS0 = "RSTOS0"  # originator sent a SYN then a RST, no SYN-ACK seen
    RSTRH = "RSTRH"  # responder sent a SYN-ACK then a RST, no SYN from the originator seen
    SH = "SH"  # originator sent a SYN then a FIN, no SYN-ACK seen
    SHR = "SHR"  # responder sent a SYN-ACK then a FIN, no SYN from the originator seen
    OTH = "OTH"  # no SYN seen, only midstream traffic


@dataclass(frozen=True, slots=True)
class ZeekVerdict:
    """Zeek's view of one of pcapexplain's connections, as the zeek stage computes it."""

    state: ConnState
    history: str  # Zeek's history letters, upper case for the originator


@dataclass(slots=True)
class CaptureAnalysis:
    """Everything the stages found in one capture; the input of every writer.

    Each field is one stage's return value (see api.analyse_columns): the loader's packets, the
    reconstructor's states and connections, the anomaly stage's findings, the zeek stage's
    verdicts.
    """

    capture: CaptureInfo
    packets: PacketColumns
    states: PacketStates
    connections: list[Connection]
    anomalies: list[Anomaly]  # every finding, by connection id, then by first frame
    zeek: dict[int, ZeekVerdict]  # connection id → Zeek's conn_state and history
    icmp: dict[int, tuple[IcmpError, ...]] = field(default_factory=dict)  # connection id → errors
    _by_connection: dict[int, tuple[Anomaly, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        grouped: dict[int, list[Anomaly]] = {}
        for anomaly in self.anomalies:
            grouped.setdefault(anomaly.connection, []).append(anomaly)
        self._by_connection = {cid: tuple(found) for cid, found in grouped.items()}

    def anomalies_of(self, connection_id: int) -> tuple[Anomaly, ...]:
        """The findings of one connection, by first frame."""
        return self._by_connection.get(connection_id, ())


class AnomalySlug(StrEnum):
    """Stable identifiers of every finding; the catalogue ids (H1…, D1…, T1…) follow
    TCP-REFERENCE section (b). Severity defaults and checks live in anomalies/; texts in
    explanations.py."""

    # handshake
    SYN_UNANSWERED = "syn-unanswered"  # H1
    SYN_RETRANSMITTED = "syn-retransmitted"  # H1: SYN resent with the same ISN
    CONNECTION_REFUSED = "connection-refused"  # H2
    HANDSHAKE_INCOMPLETE = "handshake-incomplete"  # H3
    SYNACK_RETRANSMITTED = "synack-retransmitted"  # H3
    OLD_DUPLICATE_SYN = "old-duplicate-syn"  # H4, RFC 9293 Fig. 8
    SIMULTANEOUS_OPEN = "simultaneous-open"  # H5, RFC 9293 Fig. 7
    SELF_CONNECT = "self-connect"  # H5 with one socket at both ends: it connected to itself
    SYN_DATA = "syn-data"  # H6, data on the SYN / TCP Fast Open
    ILLEGAL_FLAGS = "illegal-flags"  # H7
    ACK_WITHOUT_ACK_FLAG = "ack-without-ack-flag"  # H8
    PORT_REUSED = "port-reused"  # H9
    PORT_REUSED_IN_TIME_WAIT = "port-reused-in-time-wait"  # H9 sub-rule
    SYN_IN_ESTABLISHED = "syn-in-established"  # H10
    ICMP_ERROR = "icmp-error"  # an ICMP error about its segments (any phase)
    # data phase
    RETRANSMISSION = "retransmission"  # D1
    FAST_RETRANSMISSION = "fast-retransmission"  # D2
    SPURIOUS_RETRANSMISSION = "spurious-retransmission"  # D3
    SEGMENT_NOT_CAPTURED = "segment-not-captured"  # D4, cause unknown or network loss
    CAPTURE_LOSS = "capture-loss"  # D4: receiver ACKed past the gap, nothing resent
    ACKED_UNSEEN_SEGMENT = "acked-unseen-segment"  # D5
    OUT_OF_ORDER = "out-of-order"  # D6
    DUPLICATE_ACK = "duplicate-ack"  # D7
    TRIPLE_DUPLICATE_ACK = "triple-duplicate-ack"  # D7, fast retransmit expected
    ZERO_WINDOW = "zero-window"  # D8
    ZERO_WINDOW_PROBE = "zero-window-probe"  # D9
    WINDOW_FULL = "window-full"  # D10
    WINDOW_UPDATE = "window-update"  # D11
    KEEP_ALIVE = "keep-alive"  # D12
    SEGMENT_EXCEEDS_MSS = "segment-exceeds-mss"  # D13, offload on the capture host
    BAD_CHECKSUM = "bad-checksum"  # D14
    CHECKSUM_OFFLOAD = "checksum-offload"  # D14, every packet from one host is bad
    DATA_BEFORE_HANDSHAKE = "data-before-handshake"  # D15
    LENGTH_UNKNOWN = "length-unknown"  # malformed or cut segments: payload length not known
    # teardown
    HALF_CLOSE = "half-close"  # T4
    CLOSE_WAIT_LINGERING = "close-wait-lingering"  # T4, peer never sent its FIN
    LOST_FINAL_ACK = "lost-final-ack"  # T5
    FIN_RETRANSMITTED = "fin-retransmitted"  # T5 without evidence of which ACK was lost
    CONNECTION_RESET = "connection-reset"  # T6
    RESET_UNREAD_DATA = "reset-unread-data"  # T6a, close with unread data or SO_LINGER 0
    RESET_BY_MIDDLEBOX = "reset-by-middlebox"  # T6c, TTL differs from the sender's packets
    RST_NOT_IN_WINDOW = "rst-not-in-window"  # T7, RFC 5961
    OPEN_AT_CAPTURE_END = "open-at-capture-end"  # T8
    PEER_UNRESPONSIVE = "peer-unresponsive"  # T8: the end is a side's unanswered retries
    STALLED = "stalled"  # a side's unanswered retries, then the peer answered
    DATA_AFTER_RESET = "data-after-reset"  # T9
    DATA_AFTER_FIN = "data-after-fin"  # T9
    MIDSTREAM = "midstream"  # T10, capture started after the handshake
    TIME_WAIT_CONFLICT = "time-wait-conflict"  # T11
