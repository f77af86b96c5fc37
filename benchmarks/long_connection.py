"""Benchmark input and timing: one long connection, to show that per-connection work is linear.

Usage:
    python benchmarks/long_connection.py OUT.pcap --segments 100000
    python benchmarks/long_connection.py --scale 25000 50000 100000 200000 [--python PY ...]

Most captures hold many short connections; a lab's bulk transfer or a stalled download is one
connection of hundreds of thousands of packets. Every look-up a stage makes from one packet into
the rest of its connection (the copy sent before a resent segment, the peer's last window before
a probe, a later FIN) must then be an index or a bounded step, never a scan of the connection.

The capture (written with generate.py's frame packer): a handshake, then the server sends
`segments` data segments in flights of FLIGHT, the client ACKing every second one; one flight in
LOSS_EVERY loses its last segment, resent after an RTO (a plain retransmission, a whole flight
after the copy before it); every STALL_EVERY segments the client's window closes and the server
probes it PROBES times (zero-window probes that tshark calls keep-alives), then it reopens; a
four-way close ends it. Retransmissions and probes grow with the connection, so a per-packet
scan of the connection would make the time grow with its square.

--scale writes one capture per size and times `pcapexplain explain` and `pcapexplain report` on
each with every --python given (default: this interpreter), as whole processes (CPU from the
operating system's accounting).
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate  # noqa: E402
from generate import ACK, CLIENT, FIN, PSH, SERVER  # noqa: E402

FLIGHT = 200  # data segments per flight
LOSS_EVERY = 10  # one flight in this many loses its tail segment
STALL_EVERY = 1000  # data segments between zero-window stalls
PROBES = 20  # zero-window probes per stall
RTT = 20_000  # µs
RTO = 200_000  # µs: Linux's minimum retransmission timeout


def plan(segments: int, seed: int = 1) -> generate.Conn:
    """The one connection, planned segment by segment."""
    rng = random.Random(seed)
    c = generate._new_conn(rng, 0, 0)
    c.scenario = "bulk"
    generate._handshake(c, rng, RTT)
    c.send(500, CLIENT, PSH | ACK, 300)  # the request
    sent, flight = 0, 0
    while sent < segments:
        size = min(FLIGHT, segments - sent)
        _flight(c, rng, size, lose_tail=flight % LOSS_EVERY == LOSS_EVERY - 1)
        sent, flight = sent + size, flight + 1
        if sent % STALL_EVERY < FLIGHT and sent < segments:
            _stall(c, rng)
    c.send(RTT, SERVER, FIN | ACK)
    c.send(50, CLIENT, ACK)
    c.send(500, CLIENT, FIN | ACK)
    c.send(RTT, SERVER, ACK)
    return c


def _flight(c: generate.Conn, rng: random.Random, size: int, *, lose_tail: bool) -> None:
    mss = c.mss
    for i in range(size):
        lost = lose_tail and i == size - 1
        if lost:
            lost_seq = c.sides[SERVER].seq
        c.send(RTT if i == 0 else rng.randint(10, 40), SERVER, ACK, mss, delivered=not lost)
        if i % 2 == 1 and not lost:
            c.send(rng.randint(8, 40), CLIENT, ACK)
    if lose_tail:
        c.send(RTO, SERVER, ACK | PSH, mss, seq=lost_seq)  # the timer fires: a plain resend
        c.send(rng.randint(8, 40), CLIENT, ACK)


def _stall(c: generate.Conn, rng: random.Random) -> None:
    """The client's window closes; the server probes it (seq = SND.UNA - 1, no data), then the
    window opens again with a window update."""
    client, server = c.sides[CLIENT], c.sides[SERVER]
    open_window = client.window
    client.window = 0
    c.send(rng.randint(8, 40), CLIENT, ACK)
    wait = RTO
    for _ in range(PROBES):
        c.send(wait, SERVER, ACK, seq=server.seq - 1)  # a keep-alive-shaped probe
        c.send(rng.randint(8, 40), CLIENT, ACK)  # the answer: the window is still 0
        wait = min(wait * 2, 2_000_000)
    client.window = open_window
    c.send(rng.randint(1000, 5000), CLIENT, ACK)  # window update


def write(path: Path, segments: int) -> int:
    """Write the capture; the number of packets written."""
    conn = plan(segments)
    writer = generate.FrameWriter(random.Random(2))
    with path.open("wb", buffering=1 << 20) as out:
        out.write(generate.PCAP_HEADER)
        for seg in conn.segs:
            out.write(writer.record(conn, seg))
    return len(conn.segs)


def _timed(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) for one whole-process run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def scale(sizes: list[int], pythons: list[str]) -> None:
    print("| segments | packets | python | explain wall, CPU s | report wall, CPU s |")
    print("|---:|---:|---|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="long_connection_") as tmp:
        for size in sizes:
            capture = Path(tmp) / f"long_{size}.pcap"
            packets = write(capture, size)
            for py in pythons:
                base = [*py.split(), "-m", "pcapexplain"]
                explain = _timed([*base, "explain", str(capture), "--limit", "1"])
                report = _timed([*base, "report", str(capture), "-o", str(Path(tmp) / "r.html")])
                print(
                    f"| {size:,} | {packets:,} | `{py}` | {explain[0]:.1f}, {explain[1]:.1f} "
                    f"| {report[0]:.1f}, {report[1]:.1f} |",
                    flush=True,
                )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, nargs="?", help="pcap file to write")
    parser.add_argument("--segments", type=int, default=100_000)
    parser.add_argument("--scale", type=int, nargs="+", help="time explain and report per size")
    parser.add_argument("--python", action="append", help="interpreter command, repeatable")
    args = parser.parse_args(argv)
    if args.scale:
        scale(args.scale, args.python or [sys.executable])
        return 0
    if args.out is None:
        parser.error("give OUT.pcap or --scale")
    packets = write(args.out, args.segments)
    print(f"{args.out}: {packets:,} packets in one connection", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
