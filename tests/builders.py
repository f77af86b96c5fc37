"""Hand-built packet lists for the pure stages: no tshark, no capture files.

    conv = Conversation()
    conv.syn(); conv.synack(); conv.ack(); conv.fin_from_client(); ...
    packets = conv.columns()

A Conversation keeps each side's next sequence number, so a test writes the exchange the way a
textbook draws it and the numbers come out right.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pcapexplain.model import NO_VALUE, AnalysisFlag, PacketColumns, TcpFlags
from pcapexplain.seqspace import MOD

SYN, ACK, FIN, RST, PSH = TcpFlags.SYN, TcpFlags.ACK, TcpFlags.FIN, TcpFlags.RST, TcpFlags.PSH
CLIENT = ("10.0.0.1", 40000)
SERVER = ("10.0.0.2", 80)


@dataclass
class Packet:
    src: tuple[str, int]
    dst: tuple[str, int]
    flags: int
    seq: int
    ack: int = 0
    length: int = 0
    time: float = 0.0
    analysis: int = 0
    mss: int = NO_VALUE
    wscale: int = NO_VALUE
    window: int = 65535
    ttl: int = 64
    ip_len: int | None = None  # default: 20-byte IPv4 and TCP headers plus the payload
    tfo: bool = False
    length_unknown: bool = False  # tshark left tcp.len empty (length is then 0)
    header_cut: bool = False  # the snapshot length cut the TCP header
    ip_id: int | None = None  # default: the packet's index, as a stack that counts them
    tcp_sum: int = NO_VALUE
    tsval: int = NO_VALUE  # TCP timestamp option's TSval


def columns(packets: list[Packet]) -> PacketColumns:
    """The loader's column layout for a list of hand-built packets (frames numbered from 1)."""
    return PacketColumns(
        frame=[i + 1 for i in range(len(packets))],
        time=[p.time for p in packets],
        src=[p.src[0] for p in packets],
        dst=[p.dst[0] for p in packets],
        sport=[p.src[1] for p in packets],
        dport=[p.dst[1] for p in packets],
        flags=[int(p.flags) for p in packets],
        seq=[p.seq % MOD for p in packets],
        ack=[p.ack % MOD for p in packets],
        length=[p.length for p in packets],
        length_unknown=[int(p.length_unknown) for p in packets],
        header_cut=[int(p.header_cut) for p in packets],
        window=[p.window for p in packets],
        mss=[p.mss for p in packets],
        wscale=[p.wscale for p in packets],
        sack_perm=[int(p.mss != NO_VALUE) for p in packets],
        sack=[0 for _ in packets],
        tsval=[p.tsval for p in packets],
        tfo=[int(p.tfo) for p in packets],
        ttl=[p.ttl for p in packets],
        ip_len=[40 + p.length if p.ip_len is None else p.ip_len for p in packets],
        analysis=[p.analysis for p in packets],
        ip_checksum=[0 for _ in packets],
        tcp_checksum=[0 for _ in packets],
        ip_id=[i if p.ip_id is None else p.ip_id for i, p in enumerate(packets)],
        tcp_sum=[p.tcp_sum for p in packets],
        stream=[0 for _ in packets],
    )


@dataclass
class Conversation:
    """One 4-tuple; methods append packets and advance the sender's sequence number."""

    client: tuple[str, int] = CLIENT
    server: tuple[str, int] = SERVER
    client_isn: int = 1000
    server_isn: int = 5000
    packets: list[Packet] = field(default_factory=list)
    clock: float = 0.0
    step: float = 0.01

    def __post_init__(self) -> None:
        self.next = {self.client: self.client_isn, self.server: self.server_isn}
        self.acked = {self.client: 0, self.server: 0}

    def _peer(self, side: tuple[str, int]) -> tuple[str, int]:
        return self.server if side == self.client else self.client

    def send(
        self,
        side: tuple[str, int],
        flags: int,
        length: int = 0,
        *,
        seq: int | None = None,
        ack: int | None = None,
        advance: bool = True,
        **extra: object,
    ) -> Packet:
        """Append a segment from side; SYN and FIN take one sequence number, as in TCP."""
        peer = self._peer(side)
        start = self.next[side] if seq is None else seq
        ack_value = self.next[peer] if ack is None else ack
        packet = Packet(
            side, peer, int(flags), start, ack_value if flags & ACK else 0, length, self.clock
        )
        for key, value in extra.items():
            setattr(packet, key, value)
        self.packets.append(packet)
        self.clock += self.step
        if advance and seq is None:
            self.next[side] = start + length + bool(flags & SYN) + bool(flags & FIN)
        return packet

    # The textbook steps, named as the diagrams name them.
    def handshake(self) -> None:
        self.send(self.client, SYN, mss=1460, wscale=7)
        self.send(self.server, SYN | ACK, mss=1400, wscale=8)
        self.send(self.client, ACK)

    def data(self, side: tuple[str, int], length: int = 100) -> None:
        self.send(side, ACK | PSH, length)

    def ack(self, side: tuple[str, int]) -> None:
        self.send(side, ACK)

    def fin(self, side: tuple[str, int]) -> None:
        self.send(side, FIN | ACK)

    def rst(self, side: tuple[str, int], *, with_ack: bool = True) -> None:
        self.send(side, RST | ACK if with_ack else RST)

    def columns(self) -> PacketColumns:
        return columns(self.packets)


def client_side_only(request: int, reply: int) -> Conversation:
    """The client's packets only, as a one-way capture shows them: its SYN, the ACK of an unseen
    SYN-ACK, a request; the server's reply of `reply` bytes is counted but not captured."""
    c = Conversation()
    c.send(c.client, SYN)
    c.next[c.server] += 1  # the SYN-ACK, not captured
    c.send(c.client, ACK)
    c.data(c.client, request)
    c.next[c.server] += reply
    return c


def closed_by_client() -> Conversation:
    """The textbook connection: handshake, one data segment acknowledged, a four-way close that
    the client starts."""
    c = Conversation()
    c.handshake()
    c.data(c.client)
    c.ack(c.server)
    c.fin(c.client)
    c.ack(c.server)
    c.fin(c.server)
    c.ack(c.client)
    return c


def closed_three_way(c: Conversation) -> Conversation:
    """c after a handshake, one data segment from the client and a three-way close that the
    client starts (FIN, FIN+ACK, ACK)."""
    c.handshake()
    c.data(c.client)
    c.fin(c.client)
    c.fin(c.server)
    c.ack(c.client)
    return c


def merged(*conversations: Conversation) -> PacketColumns:
    """Several conversations' packets interleaved by time, as a capture would hold them."""
    packets = sorted((p for c in conversations for p in c.packets), key=lambda p: p.time)
    return columns(packets)


RETRANSMISSION = int(AnalysisFlag.RETRANSMISSION)

SELF = ("127.0.0.1", 47999)  # one socket bound to it connects to it: both ends are this pair


def connected_to_itself(isn: int = 5000) -> Conversation:
    """A socket that connected to its own address and port, as Linux does it (see
    sample_captures/self_connect.pcap): its SYN, the SYN-ACK it answers that SYN with (its own
    ISN again, which tshark calls a retransmission of the SYN), then an ACK. Every later segment
    is sent with `c.client` and acknowledges the socket's own sequence numbers."""
    c = Conversation(client=SELF, server=SELF, client_isn=isn, server_isn=isn)
    c.send(c.client, SYN, mss=65495, wscale=10)
    c.send(c.client, SYN | ACK, seq=isn, mss=65495, wscale=10, analysis=RETRANSMISSION)
    c.ack(c.client)
    return c
