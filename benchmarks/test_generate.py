"""Benchmark input checks: the synthetic capture is valid, deterministic, holds what was planted.

Run with `.venv/bin/pytest benchmarks/test_generate.py -q` (not part of the main suite).
"""

from __future__ import annotations

import collections
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate  # noqa: E402

FIELDS = (
    "tcp.stream",
    "_ws.malformed",
    "ip.checksum.status",
    "tcp.checksum.status",
    "tcp.analysis.retransmission",
    "tcp.analysis.out_of_order",
    "tcp.analysis.duplicate_ack",
    "tcp.analysis.lost_segment",
    "tcp.analysis.reused_ports",
    "tcp.analysis.ack_lost_segment",
    "ipv6.src",
)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.pcap", tmp_path / "b.pcap", tmp_path / "c.pcap"
    generate.write_capture(a, connections=60, seed=7)
    generate.write_capture(b, connections=60, seed=7)
    generate.write_capture(c, connections=60, seed=8)
    assert _sha(a) == _sha(b)
    assert _sha(a) != _sha(c)


def test_packet_limit_is_exact_and_cuts_connections(tmp_path: Path) -> None:
    out = tmp_path / "cut.pcap"
    summary = generate.write_capture(out, packets=5000, seed=3)
    assert summary.packets == 5000
    assert summary.cut_connections > 0  # connections in flight at the cut look open at the end
    # 24-byte file header, then a 16-byte record header per packet
    data, offset, count = out.read_bytes(), 24, 0
    while offset < len(data):
        offset += 16 + int.from_bytes(data[offset + 8 : offset + 12], "little")
        count += 1
    assert count == 5000 and offset == len(data)


@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")
def test_tshark_reads_it_as_planned(tmp_path: Path) -> None:
    out = tmp_path / "small.pcap"
    summary = generate.write_capture(out, connections=400, seed=1)
    rows = _tshark_rows(out)
    assert len(rows) == summary.packets
    assert len({r["tcp.stream"] for r in rows}) == summary.connections == 400
    assert not any(r["_ws.malformed"] for r in rows)
    assert {r["tcp.checksum.status"] for r in rows} == {"1"}  # every TCP checksum good
    assert {r["ip.checksum.status"] for r in rows if not r["ipv6.src"]} == {"1"}
    assert len({r["tcp.stream"] for r in rows if r["ipv6.src"]}) == summary.ipv6_connections > 0
    flags = collections.Counter(k for r in rows for k, v in r.items() if k.startswith("tcp.") and v)
    # a retransmission lands as retransmission or, when it follows a gap soon, out-of-order
    retransmitted = flags["tcp.analysis.retransmission"] + flags["tcp.analysis.out_of_order"]
    assert retransmitted == summary.planted["retransmission"] > 0
    assert flags["tcp.analysis.duplicate_ack"] == summary.planted["duplicate_ack"] > 0
    assert flags["tcp.analysis.lost_segment"] == summary.planted["lost_segment"] > 0
    assert flags["tcp.analysis.reused_ports"] == flags["tcp.analysis.ack_lost_segment"] == 0
    assert set(summary.scenarios) == set(generate.SCENARIOS)


def _tshark_rows(path: Path) -> list[dict[str, str]]:
    cmd = ["tshark", "-n", "-r", str(path), "-o", "tcp.check_checksum:TRUE"]
    cmd += ["-o", "ip.check_checksum:TRUE", "-T", "fields", "-E", "separator=/t"]
    for name in FIELDS:
        cmd += ["-e", name]
    text = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout
    return [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in text.splitlines()]
