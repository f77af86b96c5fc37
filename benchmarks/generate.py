"""Benchmark input: write a large, realistic synthetic TCP capture (pcap, Ethernet) in pure Python.

Usage:
    python benchmarks/generate.py OUT.pcap --packets 1000000 [--seed 1]
    python benchmarks/generate.py OUT.pcap --connections 500 [--summary OUT.json]

Every connection is planned up front as a list of segments (sequence and acknowledgment numbers
kept consistent, timestamps and SACK blocks included), then the connections are merged by time,
so many of them are open at once as in a real capture. Frames are packed with `struct`, with valid
IPv4 and TCP checksums (RFC 1071 one's-complement sums, built incrementally). The capture point is
near the client: the client's packets are seen as sent, the server's one RTT later.

With --packets the capture is cut after exactly that many packets (the connections still in
flight then look open at the end); with --connections every connection is written in full.
A summary (connections per scenario, planted retransmissions, expected tcp.stream count) goes to
stderr, and to --summary as JSON.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
CLIENT, SERVER = 0, 1
MASK32 = 0xFFFFFFFF
BASE_TIME_US = 1_700_000_000_000_000  # 2023-11-14, fixed so a seed gives identical bytes
MAX_PAYLOAD = 1460

# Scenario → weight. The names say how the connection ends (or fails to start).
SCENARIOS: dict[str, int] = {
    "four_way_client": 30,  # client FIN, server ACK, server FIN, client ACK (RFC 9293 §3.6)
    "four_way_server": 14,  # the same, server first (e.g. keep-alive timeout)
    "three_way": 12,  # FIN, FIN+ACK, ACK: the peer's FIN rides on its ACK
    "reset_client": 5,  # client aborts with RST after some data
    "reset_server": 4,  # server aborts with RST in the middle of a response
    "half_close": 6,  # client shuts down writing, server still answers, then closes
    "open": 5,  # data, no teardown before the capture ends
    "refused": 4,  # SYN answered by RST+ACK (RFC 9293 §3.5.2)
    "unanswered": 3,  # SYN retransmitted after 1 s and 3 s, never answered
}
# Kinds of planted loss in the first flight of a response (needs at least 6 segments).
LOSS_KINDS = ("fast", "rto", "upstream")
LOSS_PROBABILITY = 0.12


def _fold(s: int) -> int:
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def _word_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


@dataclass(slots=True)
class Side:
    """One endpoint's sending state and its precomputed header material."""

    eth: bytes  # Ethernet header for frames this side sends
    addrs: bytes  # source + destination address bytes
    ip_const: int  # word sum of the constant IPv4 header words (0 for IPv6)
    pseudo: int  # word sum of the pseudo-header without the TCP length
    ports: int  # word sum of source + destination port
    sport: int
    dport: int
    ttl: int
    isn: int
    seq: int = 0  # next sequence number to send (unbounded; masked when packed)
    rcv: int = 0  # next sequence number expected from the peer
    ooo: list[tuple[int, int]] = field(default_factory=list)  # peer data beyond rcv
    ts_off: int = 0
    tsecr: int = 0
    window: int = 0
    ip_id: int = 0
    flow: int = 0  # IPv6 flow label


@dataclass(slots=True)
class Conn:
    """A planned connection: its two sides and its segments in time order."""

    n: int
    v6: bool
    sides: tuple[Side, Side]
    scenario: str
    timestamps: bool
    sack_ok: bool
    mss: int
    t: int  # current time, µs since BASE_TIME_US
    segs: list[tuple[int, int, int, int, int, int, int, bytes]] = field(default_factory=list)
    planted: dict[str, int] = field(default_factory=dict)

    def send(
        self,
        gap: int,
        d: int,
        flags: int,
        length: int = 0,
        *,
        seq: int | None = None,
        captured: bool = True,
        delivered: bool = True,
    ) -> None:
        """Append one segment `gap` µs after the previous; update both sides' state."""
        self.t += gap
        me, peer = self.sides[d], self.sides[1 - d]
        s = me.seq if seq is None else seq
        end = s + length + (1 if flags & (SYN | FIN) else 0)
        if seq is None:
            me.seq = end
        ack = me.rcv if flags & ACK else 0
        tsval = (me.ts_off + self.t // 1000) & MASK32
        if captured:
            opts = self._options(d, flags, tsval)
            window = SYN_WINDOW[d] if flags & SYN else me.window  # never scaled in a SYN
            self.segs.append((self.t, d, flags, s, ack, length, window, opts))
        if delivered and not flags & RST:
            peer.tsecr = tsval
            if flags & SYN:
                peer.rcv = s
            _receive(peer, s, end)

    def _options(self, d: int, flags: int, tsval: int) -> bytes:
        me = self.sides[d]
        if flags & SYN:
            wscale = 7 if d == CLIENT else 9
            if not self.timestamps:  # Windows order: MSS, NOP, WS, NOP, NOP, SACK_PERM
                return struct.pack("!BBHBBBBBBBB", 2, 4, self.mss, 1, 3, 3, wscale, 1, 1, 4, 2)
            tsecr = me.tsecr if flags & ACK else 0
            return struct.pack(
                "!BBHBBBBIIBBBB", 2, 4, self.mss, 4, 2, 8, 10, tsval, tsecr, 1, 3, 3, wscale
            )
        opts = struct.pack("!BBBBII", 1, 1, 8, 10, tsval, me.tsecr) if self.timestamps else b""
        if me.ooo and self.sack_ok and flags & ACK:  # SACK blocks, RFC 2018 §3
            blocks = me.ooo[:3]
            opts += struct.pack("!BBBB", 1, 1, 5, 2 + 8 * len(blocks))
            opts += b"".join(struct.pack("!II", a & MASK32, b & MASK32) for a, b in blocks)
        return opts


def _receive(side: Side, s: int, end: int) -> None:
    """Record peer data [s, end) at this side; fill rcv from the out-of-order list."""
    if end <= side.rcv:
        return
    if s > side.rcv:
        side.ooo = _merge([*side.ooo, (s, end)])
        return
    side.rcv = end
    while side.ooo and side.ooo[0][0] <= side.rcv:
        side.rcv = max(side.rcv, side.ooo.pop(0)[1])


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


# --- planning: endpoints and scenarios --------------------------------------------------------

SYN_WINDOW = (64240, 65160)  # unscaled windows in SYN and SYN-ACK (RFC 7323 §2.2), Linux defaults
DATA_WINDOW = (502, 501)  # window field after the handshake, scaled by the peer's shift
SERVER_PORTS = (443, 443, 443, 443, 80, 80, 8443, 8080, 5432)  # no 22: SSH flags tiny segments
GATEWAY_MAC = bytes.fromhex("020000ff0001")


def _side(
    v6: bool, src: bytes, dst: bytes, macs: tuple[bytes, bytes], ports: tuple[int, int]
) -> Side:
    addrs = src + dst
    eth = macs[1] + macs[0] + (b"\x86\xdd" if v6 else b"\x08\x00")
    return Side(
        eth=eth,
        addrs=addrs,
        ip_const=0,
        pseudo=_word_sum(addrs) + 6,  # protocol 6 = TCP in the pseudo-header (RFC 9293 §3.1)
        ports=ports[0] + ports[1],
        sport=ports[0],
        dport=ports[1],
        ttl=0,
        isn=0,
    )


def _new_conn(rng: random.Random, n: int, start: int) -> Conn:
    scenario = rng.choices(list(SCENARIOS), weights=list(SCENARIOS.values()))[0]
    v6 = rng.random() < 0.3
    host, server = n % 250, rng.randrange(40)
    cport = 32768 + (n // 250) % 28000  # unique 4-tuple per connection below 7M connections
    sport = SERVER_PORTS[server % len(SERVER_PORTS)]
    if v6:
        caddr = bytes.fromhex("fd000000000000000000000000010000")[:14] + host.to_bytes(2, "big")
        saddr = bytes.fromhex("20010db8000100000000000000000000")[:14] + (server + 1).to_bytes(
            2, "big"
        )
    else:
        caddr, saddr = bytes((10, 1, 0, host + 1)), bytes((198, 51, 100, server + 1))
    cmac = bytes.fromhex("02000000") + host.to_bytes(2, "big")
    client = _side(v6, caddr, saddr, (cmac, GATEWAY_MAC), (cport, sport))
    srv = _side(v6, saddr, caddr, (GATEWAY_MAC, cmac), (sport, cport))
    client.ttl, srv.ttl = 64, (64 if server % 3 else 128) - 8 - server % 10
    for side, d in ((client, CLIENT), (srv, SERVER)):
        side.isn = side.seq = rng.getrandbits(32)
        side.ts_off, side.ip_id, side.flow = rng.getrandbits(32), rng.getrandbits(16), n & 0xFFFFF
        side.window = DATA_WINDOW[d]
        if not v6:
            side.ip_const = 0x4500 + 0x4000 + (side.ttl << 8 | 6) + _word_sum(side.addrs)
    timestamps = rng.random() < 0.85  # the rest behave like Windows: no TCP timestamps
    mss = 1440 if v6 else 1460
    return Conn(n, v6, (client, srv), scenario, timestamps, True, mss - 12 * timestamps, start)


def _rtt(rng: random.Random) -> int:
    return min(300_000, max(300, int(rng.lognormvariate(9.6, 0.9))))  # µs, median ≈ 15 ms


def _response_size(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.5:
        return rng.randint(60, 1400)
    if r < 0.8:
        return rng.randint(1500, 10_000)
    if r < 0.95:
        return rng.randint(10_000, 40_000)
    return rng.randint(40_000, 200_000)


def _handshake(c: Conn, rng: random.Random, rtt: int) -> None:
    c.send(0, CLIENT, SYN)
    c.send(rtt, SERVER, SYN | ACK)
    c.send(rng.randint(20, 200), CLIENT, ACK)


def _flight(
    c: Conn, rng: random.Random, d: int, sizes: list[int], first_gap: int, rtt: int
) -> None:
    """Send one flight of segments from d; the peer ACKs every second one (RFC 9293 §3.8.6.3),
    at once when a segment arrives out of order (a duplicate ACK, RFC 5681 §4.2)."""
    r = 1 - d
    lose, kind = -1, ""
    if len(sizes) >= 6 and rng.random() < LOSS_PROBABILITY:
        kind = rng.choice(LOSS_KINDS)
        lose = len(sizes) - 1 if kind == "rto" else rng.randint(1, 2)
    pending, lost_seq, last_ack = 0, 0, c.sides[r].rcv
    for i, size in enumerate(sizes):
        gap = first_gap if i == 0 else rng.randint(12, 120)
        flags = ACK | (PSH if i == len(sizes) - 1 else 0)
        if i == lose:
            lost_seq = c.sides[d].seq
            c.send(gap, d, flags, size, captured=kind != "upstream", delivered=False)
            c.planted["lost_segment"] = c.planted.get("lost_segment", 0) + (kind == "upstream")
            continue
        c.send(gap, d, flags, size)
        pending += 1
        if c.sides[r].ooo or pending >= 2 or i == len(sizes) - 1:
            dup = c.sides[r].rcv == last_ack  # same ACK again, data pending: RFC 5681 §2
            c.planted["duplicate_ack"] = c.planted.get("duplicate_ack", 0) + dup
            c.send(rng.randint(8, 40), r, ACK)
            pending, last_ack = 0, c.sides[r].rcv
    if pending:
        c.send(rng.randint(200, 2000), r, ACK)
    if lose >= 0:
        wait = max(200_000, 3 * rtt) if kind == "rto" else rtt
        c.send(wait, d, ACK | PSH, sizes[lose], seq=lost_seq)
        c.planted["retransmission"] = c.planted.get("retransmission", 0) + 1
        c.send(rng.randint(8, 40), r, ACK)


def _segments(total: int, mss: int) -> list[int]:
    full, rest = divmod(total, mss)
    return [mss] * full + ([rest] if rest else [])


def _response(c: Conn, rng: random.Random, rtt: int, d: int = SERVER) -> None:
    sizes = _segments(_response_size(rng), c.mss)
    gap = rtt + rng.randint(50, 5000)  # one RTT plus the server's processing time
    for start in range(0, len(sizes), 10):  # flights of 10 segments (initial window, RFC 6928)
        _flight(c, rng, d, sizes[start : start + 10], gap, rtt)
        gap = rtt


def _rounds(c: Conn, rng: random.Random, rtt: int, count: int, think_mean: int) -> None:
    for i in range(count):
        think = rng.randint(50, 500) if i == 0 else int(rng.expovariate(1 / think_mean))
        c.send(think, CLIENT, PSH | ACK, rng.randint(80, 900))
        _response(c, rng, rtt)


def _plan(rng: random.Random, n: int, start: int) -> Conn:
    """Plan connection n, starting at `start` µs: handshake, data rounds, its ending."""
    c = _new_conn(rng, n, start)
    rtt, s = _rtt(rng), c.scenario
    if s == "refused":
        c.send(0, CLIENT, SYN)
        c.sides[SERVER].seq = 0  # a RST answering a SYN carries seq 0 (RFC 9293 §3.10.7.1)
        c.send(rtt, SERVER, RST | ACK)
        return c
    if s == "unanswered":
        isn = c.sides[CLIENT].isn
        for gap in (0, 1_000_000, 2_000_000):  # Linux SYN backoff: 1 s, then 2 s more
            c.send(gap, CLIENT, SYN, seq=isn, delivered=False)
        c.sides[CLIENT].seq = isn + 1
        c.planted["retransmission"] = 2
        return c
    think = 3_000_000 if rng.random() < 0.1 else 200_000  # a few long-lived, idle connections
    _handshake(c, rng, rtt)
    if s == "half_close":
        c.send(rng.randint(50, 500), CLIENT, PSH | ACK, rng.randint(80, 900))
        c.send(rng.randint(20, 100), CLIENT, FIN | ACK)  # shutdown(SHUT_WR) after the request
        _response(c, rng, rtt)
        c.send(rng.randint(50, 2000), SERVER, FIN | ACK)
        c.send(rng.randint(20, 100), CLIENT, ACK)
        return c
    _rounds(c, rng, rtt, rng.randint(1, 3), think)
    _teardown(c, rng, rtt, think)
    return c


def _teardown(c: Conn, rng: random.Random, rtt: int, think: int) -> None:
    s, idle = c.scenario, int(rng.expovariate(1 / think))
    if s == "four_way_client":
        c.send(idle, CLIENT, FIN | ACK)
        c.send(rtt, SERVER, ACK)
        c.send(rng.randint(50, 2000), SERVER, FIN | ACK)
        c.send(rng.randint(20, 100), CLIENT, ACK)
    elif s == "four_way_server":
        c.send(idle + rtt, SERVER, FIN | ACK)
        c.send(rng.randint(20, 100), CLIENT, ACK)
        c.send(rng.randint(100, 2000), CLIENT, FIN | ACK)
        c.send(rtt, SERVER, ACK)
    elif s == "three_way":
        c.send(idle, CLIENT, FIN | ACK)
        c.send(rtt, SERVER, FIN | ACK)
        c.send(rng.randint(20, 100), CLIENT, ACK)
    elif s == "reset_client":
        c.send(idle, CLIENT, RST | ACK)
    elif s == "reset_server":
        c.send(idle + rtt, SERVER, RST | ACK)


# --- writing ----------------------------------------------------------------------------------

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)  # µs, LINKTYPE_ETHERNET
RECORD = struct.Struct("<IIII")
TCP_HEADER = struct.Struct("!HHIIHHHH")
IP4_HEADER = struct.Struct("!BBHHHBBH")
IP6_HEADER = struct.Struct("!IHBB")


class FrameWriter:
    """Packs planned segments into pcap records; the payload is a prefix of one random block."""

    def __init__(self, rng: random.Random) -> None:
        self.payload = rng.randbytes(MAX_PAYLOAD)
        # word sums of every payload prefix, so a segment's checksum costs O(header)
        self.psum = [_word_sum(self.payload[:n]) for n in range(MAX_PAYLOAD + 1)]

    def record(self, conn: Conn, seg: tuple[int, int, int, int, int, int, int, bytes]) -> bytes:
        t, d, flags, seq, ack, length, window, opts = seg
        side = conn.sides[d]
        seq, ack = seq & MASK32, ack & MASK32
        tcp_len = 20 + len(opts) + length
        off_flags = (5 + len(opts) // 4) << 12 | flags
        s = side.pseudo + tcp_len + side.ports + (seq >> 16) + (seq & 0xFFFF) + (ack >> 16)
        s += (ack & 0xFFFF) + off_flags + window + _word_sum(opts) + self.psum[length]
        tcp = TCP_HEADER.pack(
            side.sport, side.dport, seq, ack, off_flags, window, ~_fold(s) & 0xFFFF, 0
        )
        if conn.v6:
            ip = IP6_HEADER.pack(0x60000000 | side.flow, tcp_len, 6, side.ttl)
        else:
            total, ip_id = 20 + tcp_len, side.ip_id
            side.ip_id = (ip_id + 1) & 0xFFFF
            check = ~_fold(side.ip_const + total + ip_id) & 0xFFFF
            ip = IP4_HEADER.pack(0x45, 0, total, ip_id, 0x4000, side.ttl, 6, check)
        frame = b"".join((side.eth, ip, side.addrs, tcp, opts, self.payload[:length]))
        sec, usec = divmod(BASE_TIME_US + t, 1_000_000)
        return RECORD.pack(sec, usec, len(frame), len(frame)) + frame


@dataclass
class Summary:
    packets: int = 0
    connections: int = 0  # connections with at least one packet written (= tshark tcp.stream count)
    ipv6_connections: int = 0
    max_in_flight: int = 0  # connections with packets still to come, at the busiest moment
    duration_s: float = 0.0
    scenarios: dict[str, int] = field(default_factory=dict)
    planted: dict[str, int] = field(default_factory=dict)  # in connections fully written
    cut_connections: int = 0  # connections the --packets limit cut short


def write_capture(
    path: Path,
    *,
    packets: int | None = None,
    connections: int | None = None,
    seed: int = 1,
    rate: float = 400.0,
) -> Summary:
    """Write the capture to path; stop after `packets` packets or after `connections` connections.

    rate is the mean number of new connections per second of capture time (Poisson arrivals).
    """
    rng = random.Random(seed)
    writer, summary = FrameWriter(rng), Summary()
    heap: list[tuple[int, int, int, Conn]] = []
    started = planned = next_start = 0
    with path.open("wb", buffering=1 << 20) as out:
        out.write(PCAP_HEADER)
        while True:
            while _may_start(packets, connections, started, planned) and (
                not heap or next_start <= heap[0][0]
            ):
                conn = _plan(rng, started, next_start)
                started, planned = started + 1, planned + len(conn.segs)
                heapq.heappush(heap, (conn.segs[0][0], conn.n, 0, conn))
                next_start += int(rng.expovariate(rate) * 1_000_000)
            if not heap:
                break
            summary.max_in_flight = max(summary.max_in_flight, len(heap))
            t, n, i, conn = heap[0]
            out.write(writer.record(conn, conn.segs[i]))
            summary.packets += 1
            if i == 0:
                _count_start(summary, conn)
            if i + 1 < len(conn.segs):
                heapq.heapreplace(heap, (conn.segs[i + 1][0], n, i + 1, conn))
            else:
                heapq.heappop(heap)
                for key, value in conn.planted.items():
                    summary.planted[key] = summary.planted.get(key, 0) + value
            if summary.packets == packets:
                summary.cut_connections = len(heap)
                break
        summary.duration_s = (t - 0) / 1e6 if summary.packets else 0.0
    return summary


def _may_start(packets: int | None, connections: int | None, started: int, planned: int) -> bool:
    if packets is not None:
        return planned < packets
    return started < (connections or 0)


def _count_start(summary: Summary, conn: Conn) -> None:
    summary.connections += 1
    summary.ipv6_connections += conn.v6
    summary.scenarios[conn.scenario] = summary.scenarios.get(conn.scenario, 0) + 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="pcap file to write")
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--packets", type=int, help="stop after exactly this many packets")
    size.add_argument("--connections", type=int, help="write this many complete connections")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=float, default=400.0, help="new connections per second")
    parser.add_argument("--summary", type=Path, help="also write the summary as JSON here")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    summary = write_capture(
        args.out, packets=args.packets, connections=args.connections, seed=args.seed, rate=args.rate
    )
    text = json.dumps(summary.__dict__, indent=2, sort_keys=True)
    if args.summary:
        args.summary.write_text(text + "\n")
    size_mb = args.out.stat().st_size / 1e6
    print(text, file=sys.stderr)
    print(
        f"wrote {summary.packets} packets, {summary.connections} connections, {size_mb:.1f} MB "
        f"to {args.out} in {time.perf_counter() - began:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
