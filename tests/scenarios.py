"""Generated captures for reader-equivalence and fuzz tests: TCP behaviours, then mutations.

Each scenario writes an Ethernet/IPv4 pcap of two endpoints exchanging segments, built with
struct (checksums correct), covering what the bundled samples show little of: zero windows and
their probes, reordering, loss with fast and timeout retransmissions, spurious retransmissions,
keep-alives and port reuse. `mutate` then drops, duplicates, swaps and re-times records at random
(seeded), which gives the odd sequences real networks and capture points produce.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
CLIENT, SERVER = 0, 1
_ADDR = (bytes([10, 9, 0, 1]), bytes([10, 9, 0, 2]))
_MAC = (b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02")
_SYN_OPTIONS = struct.pack("!BBHBBBBBB", 2, 4, 1460, 1, 3, 3, 7, 4, 2) + b"\x00\x00"


def _fold(total: int) -> int:
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


@dataclass
class Capture:
    """Segments of one connection (or several on the same ports), in capture order."""

    ports: tuple[int, int] = (40000, 8080)
    time_us: int = 1_700_000_000_000_000
    seq: list[int] = field(default_factory=lambda: [1000, 5000])
    ack: list[int] = field(default_factory=lambda: [0, 0])
    window: list[int] = field(default_factory=lambda: [64240, 65160])
    frames: list[tuple[int, bytes]] = field(default_factory=list)
    early: list[list[tuple[int, int]]] = field(default_factory=lambda: [[], []])  # out of order

    def send(
        self,
        side: int,
        flags: int,
        size: int = 0,
        *,
        gap_us: int = 1000,
        seq: int | None = None,
        window: int | None = None,
        deliver: bool = True,
        record: bool = True,
    ) -> None:
        """One segment from side; deliver=False leaves the peer's ACK number where it was."""
        self.time_us += gap_us
        first = self.seq[side] if seq is None else seq
        length = size + (1 if flags & (SYN | FIN) else 0)
        if deliver:
            self._receive(1 - side, first, first + length, flags)
        if seq is None:
            self.seq[side] += length
        ack = self.ack[side] if flags & ACK else 0
        win = self.window[side] if window is None else window
        if record:
            self.frames.append((self.time_us, self._frame(side, flags, first, ack, win, size)))

    def _receive(self, side: int, start: int, end: int, flags: int) -> None:
        """The receiver's cumulative ACK moves over contiguous data only (RFC 9293 §3.10.7.4)."""
        if flags & SYN and not flags & ACK or flags & SYN and not self.ack[side]:
            self.ack[side] = end
            return
        if start > self.ack[side]:
            self.early[side].append((start, end))
            return
        self.ack[side] = max(self.ack[side], end)
        for first, last in sorted(self.early[side]):
            if first <= self.ack[side]:
                self.ack[side] = max(self.ack[side], last)
        self.early[side] = [r for r in self.early[side] if r[1] > self.ack[side]]

    def _frame(self, side: int, flags: int, seq: int, ack: int, window: int, size: int) -> bytes:
        options = _SYN_OPTIONS if flags & SYN else b""
        payload = bytes((seq + i) & 0xFF for i in range(size))
        offset = (20 + len(options)) // 4
        src, dst = _ADDR[side], _ADDR[1 - side]
        sport, dport = self.ports if side == CLIENT else self.ports[::-1]
        header = struct.pack(
            "!HHIIHHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
            offset << 12 | flags, window, 0, 0,
        )  # fmt: skip
        segment = header + options + payload
        pseudo = _sum(src + dst) + 6 + len(segment)
        check = ~_fold(pseudo + _sum(segment)) & 0xFFFF
        segment = segment[:16] + struct.pack("!H", check) + segment[18:]
        ip = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(segment), 1, 0x4000, 64, 6, 0)
        ip_check = ~_fold(_sum(ip + src + dst)) & 0xFFFF
        ip = ip[:10] + struct.pack("!H", ip_check) + src + dst
        return _MAC[1 - side] + _MAC[side] + b"\x08\x00" + ip + segment

    def handshake(self) -> None:
        self.send(CLIENT, SYN, gap_us=0)
        self.send(SERVER, SYN | ACK, gap_us=20_000)
        self.send(CLIENT, ACK, gap_us=100)

    def close(self) -> None:
        self.send(CLIENT, FIN | ACK, gap_us=5000)
        self.send(SERVER, ACK, gap_us=20_000)
        self.send(SERVER, FIN | ACK, gap_us=300)
        self.send(CLIENT, ACK, gap_us=20_000)

    def write(self, path: Path) -> Path:
        records = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
        for t, frame in self.frames:
            sec, usec = divmod(t, 1_000_000)
            records.append(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
        path.write_bytes(b"".join(records))
        return path


def zero_window(c: Capture) -> None:
    c.handshake()
    for _ in range(4):
        c.send(CLIENT, PSH | ACK, 1000)
    c.send(SERVER, ACK, window=0, gap_us=20_000)  # the receiver's buffer is full
    for gap in (200_000, 400_000, 800_000):  # probes, answered with the zero window again
        c.send(CLIENT, ACK, 1, gap_us=gap, seq=c.seq[CLIENT], deliver=False)
        c.send(SERVER, ACK, window=0, gap_us=20_000)
    c.send(SERVER, ACK, window=30000, gap_us=50_000)  # the window update
    c.send(CLIENT, PSH | ACK, 1000, gap_us=20_000)
    c.send(SERVER, ACK, gap_us=20_000)
    c.close()


def reordering(c: Capture) -> None:
    c.handshake()
    for spacing in (500, 5000):  # swaps within and beyond tshark's 3 ms out-of-order threshold
        first = c.seq[CLIENT]
        c.send(CLIENT, ACK, 1000, record=False, deliver=False)  # overtaken on the way
        c.send(CLIENT, PSH | ACK, 1000, gap_us=spacing)
        c.send(SERVER, ACK, gap_us=200)  # a duplicate ACK: the first segment is missing
        c.send(CLIENT, ACK, 1000, seq=first, gap_us=spacing)
        c.send(SERVER, ACK, gap_us=200)
    c.close()


def loss(c: Capture) -> None:
    c.handshake()
    lost = c.seq[CLIENT]
    c.send(CLIENT, ACK, 1400, deliver=False)
    for _ in range(4):  # three duplicate ACKs, then a fast retransmission
        c.send(CLIENT, ACK, 1400, gap_us=300)
        c.send(SERVER, ACK, gap_us=100)
    c.send(CLIENT, ACK, 1400, seq=lost, gap_us=2000)
    c.send(SERVER, ACK, gap_us=20_000)
    tail = c.seq[CLIENT]
    c.send(CLIENT, PSH | ACK, 500, deliver=False)  # a tail loss: retransmitted on timeout
    c.send(CLIENT, PSH | ACK, 500, seq=tail, gap_us=300_000)
    c.send(SERVER, ACK, gap_us=20_000)
    c.send(CLIENT, PSH | ACK, 500, seq=tail, gap_us=300_000)  # spurious: already acknowledged
    c.send(SERVER, ACK, gap_us=20_000)
    c.send(CLIENT, ACK, 300, record=False)  # never captured: the peer ACKs it anyway
    c.send(SERVER, ACK, gap_us=20_000)
    c.close()


def keep_alive(c: Capture) -> None:
    c.handshake()
    c.send(CLIENT, PSH | ACK, 200)
    c.send(SERVER, ACK, gap_us=20_000)
    for _ in range(3):
        c.send(CLIENT, ACK, seq=c.seq[CLIENT] - 1, gap_us=2_000_000)
        c.send(SERVER, ACK, gap_us=20_000)
    c.close()


def port_reuse(c: Capture) -> None:
    c.handshake()
    c.send(CLIENT, PSH | ACK, 300)
    c.send(SERVER, PSH | ACK, 800, gap_us=20_000)
    c.close()
    c.seq = [c.seq[0] + 100_000, 900_000]  # new ISNs on the same four-tuple
    c.ack, c.early = [0, 0], [[], []]
    c.time_us += 1_000_000
    c.handshake()
    c.send(CLIENT, SYN, seq=c.seq[CLIENT] - 1, gap_us=1_000_000)  # the SYN again, same ISN
    c.send(CLIENT, SYN, seq=c.seq[CLIENT] - 70_000, gap_us=10_000)  # a stale one, another ISN
    c.send(SERVER, SYN | ACK, seq=c.seq[SERVER] + 5, gap_us=20_000)
    c.send(CLIENT, RST | ACK, gap_us=50_000)


SCENARIOS: dict[str, Callable[[Capture], None]] = {
    "zero_window": zero_window,
    "reordering": reordering,
    "loss": loss,
    "keep_alive": keep_alive,
    "port_reuse": port_reuse,
}


def build(name: str, folder: Path) -> Path:
    capture = Capture()
    SCENARIOS[name](capture)
    return capture.write(folder / f"{name}.pcap")


def mutate(source: Path, target: Path, seed: int) -> Path:
    """Drop, duplicate, swap and re-time records of a pcap at random (seeded)."""
    rng = random.Random(seed)
    data = source.read_bytes()
    header, pos, records = data[:24], 24, []
    while pos + 16 <= len(data):
        sec, usec, incl, _ = struct.unpack_from("<IIII", data, pos)
        records.append([sec * 1_000_000 + usec, data[pos + 16 : pos + 16 + incl]])
        pos += 16 + incl
    out: list[list[object]] = []
    for time_us, frame in records:
        roll = rng.random()
        if roll < 0.05:
            continue  # lost before the capture point
        out.append([time_us, frame])
        if roll > 0.95:
            out.append([time_us + rng.randint(0, 5000), frame])  # captured twice
    for i in range(len(out) - 1):
        if rng.random() < 0.08:
            out[i], out[i + 1] = out[i + 1], out[i]  # reordered, keeping their time stamps
    body = []
    for time_us, frame in out:
        assert isinstance(time_us, int) and isinstance(frame, bytes)
        sec, usec = divmod(time_us, 1_000_000)
        body.append(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
    target.write_bytes(header + b"".join(body))
    return target
