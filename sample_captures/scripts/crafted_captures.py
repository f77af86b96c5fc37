#!/usr/bin/env python3
"""Crafted sample captures: what a real Linux stack on a veth pair will not produce on demand.

    .venv/bin/python sample_captures/scripts/crafted_captures.py [OUTDIR]

Writes crafted_old_duplicate_syn.pcap (RFC 9293 Fig. 8 captured at the server),
crafted_old_duplicate_syn_at_client.pcap (the same exchange captured at the client),
crafted_simultaneous_open.pcap and crafted_illegal_flags.pcap with scapy. Timestamps, ISNs, MACs and IP ids are fixed, so the output
is byte-for-byte identical on every run.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from scapy.utils import EDecimal, wrpcap

A_IP, B_IP = "10.77.0.1", "10.77.0.2"  # A = client (first SYN), B = server
A_MAC, B_MAC = "02:00:00:77:00:01", "02:00:00:77:00:02"
T0 = Decimal(1_700_000_000)  # 2023-11-14T22:13:20Z
OPTS = [("MSS", 1460)]
WIN = 64240


class Wire:
    """Builds one capture: fixed clock steps and per-host IP ids for reproducible bytes."""

    def __init__(self) -> None:
        self.packets: list[Packet] = []
        self.micros = 0  # integer microseconds since T0: exact, reproducible timestamps
        self.ip_id = {A_IP: 1000, B_IP: 5000}

    def send(self, src: str, dst: str, step: float = 0.0001, **tcp: object) -> None:
        self.micros += round(step * 1_000_000)
        macs = (A_MAC, B_MAC) if src == A_IP else (B_MAC, A_MAC)
        self.ip_id[src] += 1
        load = tcp.pop("load", b"")
        assert isinstance(load, bytes)
        pkt = (
            Ether(src=macs[0], dst=macs[1])
            / IP(src=src, dst=dst, ttl=64, id=self.ip_id[src], flags="DF")
            / TCP(**tcp)  # type: ignore[arg-type]
        )
        if load:
            pkt = pkt / Raw(load)
        pkt = Ether(bytes(pkt))  # freeze checksums and lengths
        pkt.time = EDecimal(T0 + Decimal(self.micros) / 1_000_000)
        self.packets.append(pkt)

    def a(self, step: float = 0.0001, **tcp: object) -> None:
        self.send(A_IP, B_IP, step, **tcp)

    def b(self, step: float = 0.0001, **tcp: object) -> None:
        self.send(B_IP, A_IP, step, **tcp)


def exchange_and_close(w: Wire, ap: int, bp: int, a_next: int, b_next: int) -> None:
    """A sends a request, B answers, A closes first: a normal four-way close."""
    req, rep = b"hello\n", b"hello yourself\n"
    w.a(0.01, sport=ap, dport=bp, flags="PA", seq=a_next, ack=b_next, window=WIN, load=req)
    a_next += len(req)
    w.b(sport=bp, dport=ap, flags="A", seq=b_next, ack=a_next, window=WIN)
    w.b(0.001, sport=bp, dport=ap, flags="PA", seq=b_next, ack=a_next, window=WIN, load=rep)
    b_next += len(rep)
    w.a(sport=ap, dport=bp, flags="A", seq=a_next, ack=b_next, window=WIN)
    w.a(0.1, sport=ap, dport=bp, flags="FA", seq=a_next, ack=b_next, window=WIN)
    w.b(0.04, sport=bp, dport=ap, flags="A", seq=b_next, ack=a_next + 1, window=WIN)
    w.b(0.1, sport=bp, dport=ap, flags="FA", seq=b_next, ack=a_next + 1, window=WIN)
    w.a(sport=ap, dport=bp, flags="A", seq=a_next + 1, ack=b_next + 1, window=WIN)


def old_duplicate_syn() -> Wire:
    """RFC 9293 Figure 8 at B: a stale SYN (seq 90) is answered, A resets it (seq 91, no ACK
    flag, since A is in SYN-SENT and the SYN-ACK acknowledges nothing A sent), then A's real SYN
    (seq 100) completes the handshake."""
    w, ap, bp = Wire(), 55101, 45101
    w.a(0.0, sport=ap, dport=bp, flags="S", seq=90, window=WIN, options=OPTS)
    w.b(sport=bp, dport=ap, flags="SA", seq=300, ack=91, window=WIN, options=OPTS)
    w.a(0.0002, sport=ap, dport=bp, flags="R", seq=91, ack=0, window=0)
    w.a(0.0005, sport=ap, dport=bp, flags="S", seq=100, window=WIN, options=OPTS)
    w.b(sport=bp, dport=ap, flags="SA", seq=400, ack=101, window=WIN, options=OPTS)
    w.a(0.0002, sport=ap, dport=bp, flags="A", seq=101, ack=401, window=WIN)
    exchange_and_close(w, ap, bp, 101, 401)
    return w


def old_duplicate_syn_at_client() -> Wire:
    """RFC 9293 Figure 8 at A: A's SYN (seq 100) is still on its way when B's answer to a stale
    SYN arrives (seq 300, ack 91); A, in SYN-SENT, resets it (seq 91, no ACK flag), B returns to
    LISTEN, A's SYN reaches B and the handshake completes (seq 400, ack 101)."""
    w, ap, bp = Wire(), 55104, 45104
    w.a(0.0, sport=ap, dport=bp, flags="S", seq=100, window=WIN, options=OPTS)
    w.b(0.0001, sport=bp, dport=ap, flags="SA", seq=300, ack=91, window=WIN, options=OPTS)
    w.a(sport=ap, dport=bp, flags="R", seq=91, ack=0, window=0)
    w.b(0.0004, sport=bp, dport=ap, flags="SA", seq=400, ack=101, window=WIN, options=OPTS)
    w.a(sport=ap, dport=bp, flags="A", seq=101, ack=401, window=WIN)
    exchange_and_close(w, ap, bp, 101, 401)
    return w


def simultaneous_open() -> Wire:
    """RFC 9293 Figure 7: both SYNs cross; each side answers the other's SYN with SYN,ACK that
    repeats its own original ISN and acknowledges the peer's."""
    w, ap, bp = Wire(), 55102, 45102
    w.a(0.0, sport=ap, dport=bp, flags="S", seq=100, window=WIN, options=OPTS)
    w.b(0.00002, sport=bp, dport=ap, flags="S", seq=300, window=WIN, options=OPTS)
    w.a(0.0001, sport=ap, dport=bp, flags="SA", seq=100, ack=301, window=WIN, options=OPTS)
    w.b(0.00002, sport=bp, dport=ap, flags="SA", seq=300, ack=101, window=WIN, options=OPTS)
    exchange_and_close(w, ap, bp, 101, 301)
    return w


def illegal_flags() -> Wire:
    """Three scanner probes against a closed port 80, each from its own source port, each
    answered as RFC 9293 §3.10.7.1 says for CLOSED: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
    (SYN and FIN each count one in SEG.LEN)."""
    w, bp = Wire(), 80
    probes = (("SF", 55201, 1000, 2), ("", 55202, 2000, 0), ("FPU", 55203, 3000, 1))
    for i, (flags, ap, seq, seg_len) in enumerate(probes):
        w.a(0.0 if i == 0 else 0.5, sport=ap, dport=bp, flags=flags, seq=seq, window=1024)
        w.b(sport=bp, dport=ap, flags="RA", seq=0, ack=seq + seg_len, window=0)
    return w


def handshake(w: Wire, ap: int, bp: int, a_isn: int, b_isn: int) -> None:
    w.a(0.5, sport=ap, dport=bp, flags="S", seq=a_isn, window=WIN, options=OPTS)
    w.b(sport=bp, dport=ap, flags="SA", seq=b_isn, ack=a_isn + 1, window=WIN, options=OPTS)
    w.a(0.0002, sport=ap, dport=bp, flags="A", seq=a_isn + 1, ack=b_isn + 1, window=WIN)


def protocol_violations() -> Wire:
    """Five connections: four break a rule of RFC 9293 no Linux stack breaks, one is corrupted."""
    w = Wire()
    # #0: a data segment with PSH but no ACK flag, its ack field still filled in. B drops it
    # (§3.10.7.4: "if the ACK bit is off, drop the segment"); A resends it with ACK.
    ap, bp = 55301, 45301
    handshake(w, ap, bp, 100, 300)
    w.a(0.01, sport=ap, dport=bp, flags="P", seq=101, ack=301, window=WIN, load=b"hello\n")
    w.a(0.2, sport=ap, dport=bp, flags="PA", seq=101, ack=301, window=WIN, load=b"hello\n")
    w.b(sport=bp, dport=ap, flags="A", seq=301, ack=107, window=WIN)
    exchange_and_close(w, ap, bp, 107, 301)
    # #1: a SYN with a new ISN on an established connection (A lost its state, B did not): B
    # answers with a challenge ACK (RFC 5961 §4), A in SYN-SENT resets <SEQ=SEG.ACK>.
    ap, bp = 55302, 45302
    handshake(w, ap, bp, 100, 300)
    w.a(0.01, sport=ap, dport=bp, flags="PA", seq=101, ack=301, window=WIN, load=b"hello\n")
    w.b(sport=bp, dport=ap, flags="A", seq=301, ack=107, window=WIN)
    w.a(5.0, sport=ap, dport=bp, flags="S", seq=9000, window=WIN, options=OPTS)
    w.b(sport=bp, dport=ap, flags="A", seq=301, ack=107, window=WIN)
    w.a(0.0002, sport=ap, dport=bp, flags="R", seq=107, window=0)
    # #2: A sends its request right behind its SYN, before B's SYN-ACK, without TFO: B, in
    # SYN-RECEIVED, drops a segment without ACK (§3.10.7.4); A resends it once established.
    ap, bp = 55303, 45303
    w.a(0.5, sport=ap, dport=bp, flags="S", seq=100, window=WIN, options=OPTS)
    w.a(0.0001, sport=ap, dport=bp, flags="P", seq=101, window=WIN, load=b"hello\n")
    w.b(0.0002, sport=bp, dport=ap, flags="SA", seq=300, ack=101, window=WIN, options=OPTS)
    w.a(0.0002, sport=ap, dport=bp, flags="A", seq=101, ack=301, window=WIN)
    exchange_and_close(w, ap, bp, 101, 301)
    # #3: A sends FIN (seq 107), then 6 more bytes beyond it; B ACKs only up to the FIN.
    ap, bp = 55304, 45304
    handshake(w, ap, bp, 100, 300)
    w.a(0.01, sport=ap, dport=bp, flags="PA", seq=101, ack=301, window=WIN, load=b"hello\n")
    w.b(sport=bp, dport=ap, flags="A", seq=301, ack=107, window=WIN)
    w.a(0.1, sport=ap, dport=bp, flags="FA", seq=107, ack=301, window=WIN)
    w.a(0.0001, sport=ap, dport=bp, flags="PA", seq=108, ack=301, window=WIN, load=b"again\n")
    w.b(0.04, sport=bp, dport=ap, flags="A", seq=301, ack=108, window=WIN)
    w.b(0.1, sport=bp, dport=ap, flags="FA", seq=301, ack=108, window=WIN)
    w.a(sport=ap, dport=bp, flags="A", seq=108, ack=302, window=WIN)
    # #4: A's request is corrupted on the way (its TCP checksum no longer matches); B drops it
    # and A's retransmission timer resends it intact. Shows only with --check-checksums.
    ap, bp = 55305, 45305
    handshake(w, ap, bp, 100, 300)
    w.a(0.01, sport=ap, dport=bp, flags="PA", seq=101, ack=301, window=WIN, load=b"hello\n",
        chksum=0x1234)  # fmt: skip
    w.a(0.2, sport=ap, dport=bp, flags="PA", seq=101, ack=301, window=WIN, load=b"hello\n")
    w.b(sport=bp, dport=ap, flags="A", seq=301, ack=107, window=WIN)
    exchange_and_close(w, ap, bp, 107, 301)
    return w


CRAFTED = {
    "crafted_old_duplicate_syn.pcap": old_duplicate_syn,
    "crafted_old_duplicate_syn_at_client.pcap": old_duplicate_syn_at_client,
    "crafted_simultaneous_open.pcap": simultaneous_open,
    "crafted_illegal_flags.pcap": illegal_flags,
    "crafted_protocol_violations.pcap": protocol_violations,
}


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent
    for name, build in CRAFTED.items():
        wrpcap(str(out / name), build().packets)
        print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
