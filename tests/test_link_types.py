"""Link types and encapsulations: a real capture re-wrapped with scapy reads the same.

The bundled captures are Ethernet; these tests re-encapsulate one of them (its IP packets kept
byte for byte) as raw IP, Linux cooked, BSD loopback, 802.1Q, MPLS, PPPoE and IP-in-IP/GRE
tunnels, and check that the loader gives the same TCP columns. Built in a temporary folder at test
time; nothing crafted is committed for this.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import scapy.all as scapy_all  # a dev dependency: missing, it is a set-up error, not a skip
import scapy.contrib.mpls as mpls

from pcapexplain import loader

SAMPLE = (
    Path(__file__).resolve().parent.parent / "sample_captures" / "normal_close_client_first.pcap"
)
COMPARED = ("frame", "src", "dst", "sport", "dport", "flags", "seq", "ack", "length", "window")
pytestmark = pytest.mark.tshark

Wrap = Callable[[object], object]


ETHER = scapy_all.Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
WRAPS: dict[str, tuple[Wrap, int]] = {
    "raw-ip": (lambda ip: ip, 101),  # DLT_RAW
    "linux-cooked": (lambda ip: scapy_all.CookedLinux(pkttype=0, proto=0x0800) / ip, 113),
    "bsd-loopback": (lambda ip: scapy_all.Loopback(type=2) / ip, 0),
    "vlan": (lambda ip: ETHER / scapy_all.Dot1Q(vlan=42) / ip, 1),
    "qinq": (lambda ip: ETHER / scapy_all.Dot1Q(vlan=7) / scapy_all.Dot1Q(vlan=42) / ip, 1),
    "mpls": (lambda ip: ETHER / mpls.MPLS(label=100, s=1, ttl=64) / ip, 1),
    "pppoe": (
        lambda ip: ETHER / scapy_all.PPPoE(sessionid=0x11) / scapy_all.PPP(proto=0x0021) / ip,
        1,
    ),
    "ip-in-ip": (
        lambda ip: ETHER / scapy_all.IP(src="192.0.2.1", dst="192.0.2.2", proto=4) / ip,
        1,
    ),
    "gre": (
        lambda ip: ETHER / scapy_all.IP(src="192.0.2.1", dst="192.0.2.2") / scapy_all.GRE() / ip,
        1,
    ),
}


@pytest.mark.parametrize("name", list(WRAPS))
def test_encapsulation_reads_like_ethernet(name: str, tmp_path: Path) -> None:
    wrap, linktype = WRAPS[name]
    packets = []
    for original in scapy_all.rdpcap(str(SAMPLE)):
        wrapped = wrap(original[scapy_all.IP].copy())
        wrapped.time = original.time
        packets.append(wrapped)
    target = tmp_path / f"{name}.pcap"
    scapy_all.wrpcap(str(target), packets, linktype=linktype)
    expected = loader.load_capture(SAMPLE).packets
    got = loader.load_capture(target).packets
    for column in COMPARED:
        assert list(getattr(got, column)) == list(getattr(expected, column)), (name, column)
