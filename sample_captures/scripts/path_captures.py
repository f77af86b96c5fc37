#!/usr/bin/env python3
"""Real sample captures that need a router between the hosts, or offloads switched on.

    python3 sample_captures/scripts/path_captures.py [SCENARIO ...]    (as root)
    python3 sample_captures/scripts/path_captures.py list

Three network namespaces, client -- router -- server, each scenario in a fresh set (deleted on
any exit). Standard library only. PREFIX=... names the namespaces and veths (default `pp`);
OUTDIR=... writes elsewhere than sample_captures/.

    {P}c  client  10.77.1.1     veth {P}-c  <->  {P}-mc  10.77.1.254  {P}m  router
    {P}s  server  10.77.2.1     veth {P}-s  <->  {P}-ms  10.77.2.254  {P}m  router

Scenarios (capture point in brackets):
    tcp_fast_open       [client] RFC 7413: a first connection gets a cookie, the second sends
                        its request on the SYN with it (net.ipv4.tcp_fastopen=3).
    offload_at_sender   [client] TSO/GSO and TX checksum offload on the client veth: the capture
                        sees 64 KB super-segments and checksums not yet filled in.
    reset_by_middlebox  [client] the router sniffs the server's reply and forges three RSTs to
                        the client (its own TTL, a fixed IP id, seq, seq+1460, seq+4380), as
                        on-path censors and IPS boxes do; the server, which never saw a RST,
                        goes on sending.
    loss_before_capture [server] the router drops one data segment once; the server-side
                        capture has a hole until the retransmission timer resends it (SACK off,
                        so neither fast retransmit nor RACK repairs it first).
    loopback            [client's lo] one request and reply between two sockets of the client
                        host: loopback never computes TCP checksums, so all of them are "bad".
    self_connect        [client's lo] one socket bound to 10.77.1.1:45021 connects to
                        10.77.1.1:45021, i.e. to itself (no listener): its own SYN reaches it
                        in SYN_SENT, a simultaneous open with itself; it sends 8 bytes, reads
                        them back and closes.
    captured_twice      [router, `-i any`] one request and reply, seen by the router's capture
                        as each packet enters and again as it leaves: every packet twice, the
                        second copy with a TTL one lower (Linux cooked v2, as `any` records).
    captured_twice_v6   the same over IPv6 (fd77:1::1 -> fd77:2::1), where no IP identification
                        tells a copy from a resend: the second copy has a hop limit one lower.

Internal roles, run inside a namespace: `path_captures.py role SCENARIO client|server|forger`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

SCRIPT = Path(__file__).resolve()
P = os.environ.get("PREFIX", "pp")
CLIENT_NS, ROUTER_NS, SERVER_NS = f"{P}c", f"{P}m", f"{P}s"
CLIENT_IF, SERVER_IF, ROUTER_TO_SERVER = f"{P}-c", f"{P}-s", f"{P}-ms"
CLIENT, SERVER = "10.77.1.1", "10.77.2.1"
CLIENT6, SERVER6 = "fd77:1::1", "fd77:2::1"
PORTS = {
    "tcp_fast_open": 45016,
    "offload_at_sender": 45017,
    "reset_by_middlebox": 45018,
    "loss_before_capture": 45019,
    "loopback": 45020,
    "self_connect": 45021,
    "captured_twice": 45040,
    "captured_twice_v6": 45041,
}
V6 = {PORTS["captured_twice_v6"]}  # scenarios that talk IPv6
REQUEST = b"GET /hello HTTP/1.0\r\n\r\n"
REPLY = b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n"
TCP_FASTOPEN = 23  # socket option on the listener (queue length of pending TFO requests)
MSG_FASTOPEN = 0x20000000


def sh(*cmd: str, check: bool = True) -> None:
    subprocess.run(cmd, check=check, capture_output=not check)


def in_ns(ns: str, *cmd: str, check: bool = True) -> None:
    sh("ip", "netns", "exec", ns, *cmd, check=check)


# ------------------------------------------------------------------------------ topology


def teardown() -> None:
    for ns in (CLIENT_NS, ROUTER_NS, SERVER_NS):
        sh("ip", "netns", "del", ns, check=False)


def setup(offload_client: bool) -> None:
    teardown()
    for ns in (CLIENT_NS, ROUTER_NS, SERVER_NS):
        sh("ip", "netns", "add", ns)
        in_ns(ns, "ip", "link", "set", "lo", "up")
    sh("ip", "link", "add", CLIENT_IF, "netns", CLIENT_NS, "type", "veth",
       "peer", "name", f"{P}-mc", "netns", ROUTER_NS)  # fmt: skip
    sh("ip", "link", "add", SERVER_IF, "netns", SERVER_NS, "type", "veth",
       "peer", "name", ROUTER_TO_SERVER, "netns", ROUTER_NS)  # fmt: skip
    links = (
        (CLIENT_NS, CLIENT_IF, f"{CLIENT}/24", "10.77.1.254", f"{CLIENT6}/64", "fd77:1::fe"),
        (SERVER_NS, SERVER_IF, f"{SERVER}/24", "10.77.2.254", f"{SERVER6}/64", "fd77:2::fe"),
        (ROUTER_NS, f"{P}-mc", "10.77.1.254/24", None, "fd77:1::fe/64", None),
        (ROUTER_NS, ROUTER_TO_SERVER, "10.77.2.254/24", None, "fd77:2::fe/64", None),
    )
    for ns, dev, addr, gateway, addr6, gateway6 in links:
        in_ns(ns, "ip", "addr", "add", addr, "dev", dev)
        in_ns(ns, "ip", "-6", "addr", "add", addr6, "dev", dev, "nodad")  # usable at once
        # Off by default, as on a wire: every captured segment at most one MSS, checksums real.
        offload = "on" if offload_client and dev == CLIENT_IF else "off"
        in_ns(ns, "ethtool", "-K", dev, "tso", offload, "gso", offload, "tx", offload,
              "gro", "off", check=False)  # fmt: skip
        in_ns(ns, "ip", "link", "set", dev, "up")
        if gateway:
            in_ns(ns, "ip", "route", "add", "default", "via", gateway)
            in_ns(ns, "ip", "-6", "route", "add", "default", "via", gateway6)
    in_ns(ROUTER_NS, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    in_ns(ROUTER_NS, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
    time.sleep(0.3)


class Child:
    """A role process inside a namespace; it prints "ready" once listening or sniffing."""

    started: list[Child] = []

    def __init__(self, ns: str, name: str, role: str) -> None:
        cmd = ["ip", "netns", "exec", ns, sys.executable, "-u", str(SCRIPT), "role", name, role]
        self.role = role
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        Child.started.append(self)

    def ready(self) -> None:
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{self.role} did not start")

    def wait(self, timeout: float = 60.0) -> None:
        if self.proc.wait(timeout) != 0:
            raise RuntimeError(f"{self.role} exited with {self.proc.returncode}")

    @classmethod
    def kill_all(cls) -> None:
        for child in cls.started:
            if child.proc.poll() is None:
                child.proc.kill()
                child.proc.wait()
        cls.started.clear()


class Tcpdump:
    def __init__(self, ns: str, dev: str, path: Path) -> None:
        cmd = ["ip", "netns", "exec", ns, "tcpdump", "-i", dev, "-n", "-U", "--immediate-mode"]
        cmd += ["-Z", "root", "-w", str(path), "tcp"]
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        if "data link type" in line:  # on "any" this comes first
            line = self.proc.stderr.readline()
        if "listening" not in line:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"tcpdump did not start: {line}")
        time.sleep(0.3)

    def stop(self, linger: float = 0.5) -> None:
        time.sleep(linger)
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(10)


# ------------------------------------------------------------------------------ the roles


def server_host(port: int) -> str:
    if port in V6:
        return SERVER6
    return CLIENT if port == PORTS["loopback"] else SERVER


def family(port: int) -> socket.AddressFamily:
    return socket.AF_INET6 if port in V6 else socket.AF_INET


def listener(port: int, tfo: bool = False) -> socket.socket:
    srv = socket.socket(family(port))
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if tfo:
        srv.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN, 16)
    srv.bind((server_host(port), port))
    srv.listen(4)
    print("ready")
    return srv


def client_socket(port: int) -> socket.socket:
    """A client socket bound to port, of the family the scenario of port - 10000 talks."""
    server_port = port - 10000 if port - 10000 in PORTS.values() else port
    sock = socket.socket(family(server_port))
    sock.bind((CLIENT6 if server_port in V6 else CLIENT, port))
    return sock


def read_to_eof(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def server_request_reply(port: int, count: int, tfo: bool = False) -> None:
    srv = listener(port, tfo)
    for _ in range(count):
        conn, _ = srv.accept()
        conn.recv(4096)
        conn.sendall(REPLY)
        read_to_eof(conn)
        conn.close()


def client_fast_open(port: int) -> None:
    # The first sendto(MSG_FASTOPEN) has no cookie yet: the SYN asks for one and the request
    # follows the handshake. The second SYN carries the cookie and the request.
    for k in range(2):
        sock = client_socket(port + 10000 * (k + 1))
        sock.sendto(REQUEST, MSG_FASTOPEN, (SERVER, port))
        sock.recv(4096)
        sock.close()
        time.sleep(0.3)


def client_request(port: int) -> None:
    sock = client_socket(port + 10000)
    sock.connect((server_host(port), port))
    sock.sendall(REQUEST)
    sock.recv(4096)
    sock.close()


def client_self_connect(port: int) -> None:
    """What a client retrying a local server gets once its ephemeral port is the server's port."""
    sock = client_socket(port)
    sock.connect((CLIENT, port))
    show = ["ss", "-tan", f"sport = :{port}"]
    subprocess.run(show, stdout=sys.stderr, check=False)  # ESTAB, to itself
    sock.sendall(b"selfconn")
    sock.recv(4096)  # its own 8 bytes
    sock.close()
    subprocess.run(show, stdout=sys.stderr, check=False)  # TIME-WAIT: its FIN came back to it


def server_sink(port: int) -> None:
    conn, _ = listener(port).accept()
    read_to_eof(conn)
    conn.sendall(b"OK\n")
    conn.close()


def client_upload(port: int) -> None:
    sock = client_socket(port + 10000)
    sock.connect((SERVER, port))
    sock.sendall(bytes(200_000))
    sock.shutdown(socket.SHUT_WR)
    read_to_eof(sock)
    sock.close()


def server_trickle(port: int) -> None:
    """Twenty 500-byte lines 50 ms apart, whatever the client does (it is reset meanwhile)."""
    conn, _ = listener(port).accept()
    conn.recv(4096)
    try:
        for k in range(20):
            conn.sendall(b"%03d" % k + b"." * 496 + b"\n")
            time.sleep(0.05)
        conn.close()
    except ConnectionResetError:
        pass  # the client's stack answers the data it no longer has a socket for


def client_request_read(port: int) -> None:
    sock = client_socket(port + 10000)
    sock.connect((SERVER, port))
    sock.sendall(REQUEST)
    with contextlib.suppress(ConnectionResetError):  # the forged RST
        read_to_eof(sock)
    sock.close()


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def forged_rst(src: str, dst: str, sport: int, dport: int, seq: int, ack: int) -> bytes:
    """RST+ACK with the router's own TTL (64) and a fixed IP id: the signature of an injector."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, 0x14, 0, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 0x3412, 0, 64, 6, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))  # fmt: skip
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return ip + tcp


def forger(port: int) -> None:
    """Sniff the server's third data segment to the client, then inject RSTs in its name."""
    sniff = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    sniff.bind((ROUTER_TO_SERVER, 0))
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    print("ready")
    seen = 0
    while True:
        frame = sniff.recv(65536)
        ip = frame[14:]
        ihl = (ip[0] & 15) * 4
        if ip[9] != 6 or socket.inet_ntoa(ip[12:16]) != SERVER:
            continue
        tcp = ip[ihl:]
        sport, dport, seq, ack = struct.unpack("!HHII", tcp[:12])
        payload = struct.unpack("!H", ip[2:4])[0] - ihl - (tcp[12] >> 4) * 4
        if sport != port or payload <= 0:
            continue
        seen += 1
        if seen == 3:
            time.sleep(0.002)  # the real segment reaches the client first
            for offset in (0, 1460, 4380):
                rst = forged_rst(SERVER, CLIENT, sport, dport, seq + payload + offset, ack)
                raw.sendto(rst, (CLIENT, 0))
            return


def client_split_write(port: int) -> None:
    """A 1000-byte write (dropped once on the path), then a 300-byte one right behind it."""
    sock = client_socket(port + 10000)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.connect((SERVER, port))
    sock.sendall(b"a" * 1000)
    sock.sendall(b"b" * 300)
    sock.shutdown(socket.SHUT_WR)
    read_to_eof(sock)
    sock.close()


ROLES: dict[str, dict[str, Callable[[int], None]]] = {
    "tcp_fast_open": {
        "server": lambda port: server_request_reply(port, 2, tfo=True),
        "client": client_fast_open,
    },
    "offload_at_sender": {"server": server_sink, "client": client_upload},
    "reset_by_middlebox": {
        "server": server_trickle,
        "forger": forger,
        "client": client_request_read,
    },
    "loss_before_capture": {"server": server_sink, "client": client_split_write},
    "loopback": {"server": lambda port: server_request_reply(port, 1), "client": client_request},
    "self_connect": {"client": client_self_connect},
    "captured_twice": {
        "server": lambda port: server_request_reply(port, 1),
        "client": client_request,
    },
    "captured_twice_v6": {
        "server": lambda port: server_request_reply(port, 1),
        "client": client_request,
    },
}


# ------------------------------------------------------------------------------ orchestration


def run(name: str, out_dir: Path) -> None:
    port = PORTS[name]
    setup(offload_client=name == "offload_at_sender")
    for ns in (CLIENT_NS, SERVER_NS):
        in_ns(ns, "sysctl", "-qw", "net.ipv4.tcp_fastopen=3")
    capture_at = (CLIENT_NS, CLIENT_IF)
    if name == "loss_before_capture":
        capture_at = (SERVER_NS, SERVER_IF)
        in_ns(CLIENT_NS, "sysctl", "-qw", "net.ipv4.tcp_sack=0")
        # IPv4 length 20 + TCP 32 (timestamps) + 1000: the first write only, and only once.
        in_ns(ROUTER_NS, "iptables", "-A", "FORWARD", "-p", "tcp", "--dport", str(port),
              "-m", "length", "--length", "1052", "-m", "statistic", "--mode", "nth",
              "--every", "1000", "--packet", "0", "-j", "DROP")  # fmt: skip
    if name in ("loopback", "self_connect"):
        capture_at = (CLIENT_NS, "lo")
    if name in ("captured_twice", "captured_twice_v6"):
        capture_at = (ROUTER_NS, "any")
    out = out_dir / f"{name}.pcap"
    out.unlink(missing_ok=True)
    cap = Tcpdump(*capture_at, out)
    try:
        roles = ROLES[name]
        server = None
        if "server" in roles:
            server = Child(CLIENT_NS if name == "loopback" else SERVER_NS, name, "server")
            server.ready()
        forger_child = None
        if "forger" in roles:
            forger_child = Child(ROUTER_NS, name, "forger")
            forger_child.ready()
        client = Child(CLIENT_NS, name, "client")
        client.wait()
        if server:
            server.wait()
        if forger_child:
            forger_child.wait()
    finally:
        cap.stop(1.0)
        Child.kill_all()
    print(f"  wrote {out} ({out.stat().st_size} bytes)")


def main(argv: list[str]) -> int:
    if argv[:1] == ["list"]:
        print("\n".join(PORTS))
        return 0
    if len(argv) == 3 and argv[0] == "role":
        ROLES[argv[1]][argv[2]](PORTS[argv[1]])
        return 0
    if os.geteuid() != 0:
        print("path_captures.py: run as root (namespaces, tcpdump, iptables)", file=sys.stderr)
        return 1
    out_dir = Path(os.environ.get("OUTDIR", SCRIPT.parent.parent))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        for name in argv or list(PORTS):
            print(f"== {name}")
            run(name, out_dir)
    finally:
        Child.kill_all()
        teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
