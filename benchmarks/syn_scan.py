"""Memory of a port scan: many SYN-only connections, and pcapexplain's peak memory reading them.

Usage:
    python benchmarks/syn_scan.py benchmarks/data/scan.pcap --connections 200000
    python benchmarks/syn_scan.py benchmarks/data/scan.pcap --measure [--command connections]

Writes one SYN per connection (Ethernet, IPv4, valid checksums, a new source port and address
per SYN, as a scanner's probes or a SYN flood look), 200,000 of them in about 14 MB. With
--measure it runs the shipped command on the file and prints the peak RSS of pcapexplain and of
tshark, read from `wait4` (ru_maxrss: the largest single process of the tree).
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
ETH = bytes.fromhex("0200000000020200000000010800")
SYN = 0x02
MSS_OPTION = struct.pack("!BBH", 2, 4, 1460)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _frame(n: int) -> bytes:
    src = bytes((10, 1 + (n >> 16) % 200, (n >> 8) & 0xFF, n & 0xFF))
    dst = bytes((192, 0, 2, 1))
    sport, dport = 1024 + n % 60000, 1 + (n * 7) % 1024
    tcp = (
        struct.pack(
            "!HHIIBBHHH", sport, dport, (n * 2654435761) & 0xFFFFFFFF, 0, 6 << 4, SYN, 64240, 0, 0
        )
        + MSS_OPTION
    )
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", _checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), n & 0xFFFF, 0, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return ETH + ip + tcp


def write(path: Path, connections: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb", buffering=1 << 20) as out:
        out.write(PCAP_HEADER)
        for n in range(connections):
            frame = _frame(n)
            t = 1_700_000_000_000_000 + n * 50  # 20,000 SYNs per second
            out.write(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(frame), len(frame)))
            out.write(frame)


def measure(path: Path, command: str) -> None:
    exe = Path(sys.executable).with_name("pcapexplain")
    args = {
        "connections": [str(exe), "connections", str(path), "--format", "csv", "-o", os.devnull],
        "report": [str(exe), "report", str(path), "-o", os.devnull + ".html"],
    }[command]
    if command == "report":
        args[-1] = str(path.with_suffix(".html"))
    start = time.monotonic()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - start
    # ru_maxrss of the children: the largest of pcapexplain and tshark (KiB on Linux).
    print(
        f"{command}: exit {os.waitstatus_to_exitcode(status)}, wall {wall:.1f} s, "
        f"peak RSS {usage.ru_maxrss / 1024:.0f} MiB ({' '.join(args[1:])})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--connections", type=int, default=200_000)
    parser.add_argument("--measure", action="store_true", help="measure instead of writing")
    parser.add_argument("--command", choices=("connections", "report"), default="connections")
    args = parser.parse_args(argv)
    if args.measure:
        measure(args.out, args.command)
    else:
        write(args.out, args.connections)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
