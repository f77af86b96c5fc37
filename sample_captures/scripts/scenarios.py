#!/usr/bin/env python3
"""Sample-capture scenarios: tiny TCP clients/servers run in two network namespaces.

Usage (as root, after make_captures.sh has created the namespaces):

    scenarios.py list                 the scenario names, one per line
    scenarios.py run NAME OUTDIR      orchestrate one scenario and write OUTDIR/<file>.pcap
    scenarios.py client NAME          (internal) the client role, run inside namespace pxa
    scenarios.py server NAME          (internal) the server role, run inside namespace pxb

The orchestrator runs in the root namespace. It starts tcpdump inside pxa (the client side, so the
sender of the lossy transfer is the capture point and both originals and retransmissions are
visible), starts the server in pxb and the client in pxa through `ip netns exec`, and talks to both
over their stdin/stdout with one-word lines ("ready", "go", ...), so steps that need outside help
(iptables rules added or removed mid-connection, tcpdump started late) happen at the right moment.

Only the standard library is used, so a fresh Debian 12 `python3` runs it.
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
from dataclasses import dataclass
from pathlib import Path

# make_captures.sh may rename them (NS_A, NS_B, VETH_A): the captures do not change.
CLIENT_NS, SERVER_NS = os.environ.get("NS_A", "pxa"), os.environ.get("NS_B", "pxb")
CLIENT_IF = os.environ.get("VETH_A", "veth-a")
CLIENT_V4, SERVER_V4 = "10.77.0.1", "10.77.0.2"
CLIENT_V6, SERVER_V6 = "fd77::1", "fd77::2"
SCRIPT = Path(__file__).resolve()


# ------------------------------------------------------- line protocol with the orchestrator


def say(word: str) -> None:
    print(word, flush=True)


def hear(word: str) -> None:
    line = sys.stdin.readline().strip()
    if line != word:
        raise SystemExit(f"expected {word!r} from the orchestrator, got {line!r}")


# ---------------------------------------------------------------------------- socket helpers


@dataclass(frozen=True)
class Spec:
    """One scenario: its file, its ports and address family."""

    name: str
    file: str
    port: int  # server port; the client binds port + 10000 so every capture is reproducible
    v6: bool = False

    @property
    def family(self) -> int:
        return socket.AF_INET6 if self.v6 else socket.AF_INET

    @property
    def server_addr(self) -> tuple[str, int]:
        return (SERVER_V6 if self.v6 else SERVER_V4, self.port)

    @property
    def client_addr(self) -> tuple[str, int]:
        return (CLIENT_V6 if self.v6 else CLIENT_V4, self.port + 10000)


def listen(spec: Spec, rcvbuf: int = 0, backlog: int = 4) -> socket.socket:
    srv = socket.socket(spec.family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if rcvbuf:
        # Set before listen() so the accepted socket inherits it and the SYN-ACK's window is small.
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    srv.bind(spec.server_addr)
    srv.listen(backlog)
    say("ready")
    return srv


def connect(spec: Spec, setup: Callable[[socket.socket], None] | None = None) -> socket.socket:
    cli = socket.socket(spec.family, socket.SOCK_STREAM)
    cli.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if setup:
        setup(cli)
    cli.bind(spec.client_addr)
    cli.connect(spec.server_addr)
    return cli


def recv_until_eof(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


REQUEST = b"GET /hello HTTP/1.0\r\n\r\n"
REPLY = b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n"


# ------------------------------------------------------------------------- client/server pairs
# The Linux receiver of a FIN enters "pingpong" (delayed-ACK) mode, so its ACK of the FIN waits
# up to ~40 ms for the application to close too. Sleeping 0.2 s before close() lets the pure ACK
# go out first (four-way close); closing at once piggy-backs the FIN on that ACK (three-way close).
PASSIVE_CLOSE_DELAY = 0.2


def answered_request(spec: Spec) -> socket.socket:
    """Accept one connection, read its request and send the reply."""
    srv = listen(spec)
    conn, _ = srv.accept()
    conn.recv(4096)
    conn.sendall(REPLY)
    return conn


def server_echo_then_wait_eof(spec: Spec, close_delay: float = PASSIVE_CLOSE_DELAY) -> None:
    """Answer one request, then close only after the client has closed (passive close)."""
    conn = answered_request(spec)
    recv_until_eof(conn)
    time.sleep(close_delay)
    conn.close()


def client_request_then_close(spec: Spec) -> None:
    cli = connect(spec)
    cli.sendall(REQUEST)
    recv_exactly(cli, len(REPLY))
    time.sleep(0.1)
    cli.close()


def client_wait_then_request(spec: Spec) -> None:
    """Stay silent after connecting for longer than the server's first SYN-ACK timeout (1 s)."""
    cli = connect(spec)
    time.sleep(1.5)
    cli.sendall(REQUEST)
    recv_exactly(cli, len(REPLY))
    time.sleep(0.1)
    cli.close()


def server_close_after_eof_on_command(spec: Spec) -> None:
    conn = answered_request(spec)
    recv_until_eof(conn)
    time.sleep(PASSIVE_CLOSE_DELAY)  # the delayed ACK of the FIN goes out alone: a four-way close
    say("eof")
    hear("close")
    conn.close()
    say("closed")
    time.sleep(1.5)


def server_reply_then_hold(spec: Spec) -> None:
    """Answer one request, then keep the connection open, silent, until told to exit (after the
    capture has stopped: its close must not be in it)."""
    conn = answered_request(spec)
    hear("exit")
    conn.close()


def replied_then_go(
    spec: Spec, setup: Callable[[socket.socket], None] | None = None
) -> socket.socket:
    """One request and its reply, then wait for the orchestrator's "go"."""
    cli = connect(spec, setup)
    cli.sendall(REQUEST)
    recv_exactly(cli, len(REPLY))
    say("replied")
    hear("go")
    return cli


def client_request_into_silence(spec: Spec) -> None:
    """A second request after the server has fallen silent: resent until tcp_retries2 runs out."""
    cli = replied_then_go(spec)
    cli.sendall(REQUEST)
    with contextlib.suppress(TimeoutError):  # ETIMEDOUT: the stack gave up
        cli.recv(4096)
    say("gave-up")


def client_request_through_a_stall(spec: Spec) -> None:
    """A second request while the server cannot hear: resent until the path opens again, then
    answered; then a normal close."""
    cli = replied_then_go(spec)
    cli.sendall(REQUEST)
    recv_exactly(cli, len(REPLY))
    time.sleep(0.1)
    cli.close()


def server_forget_on_command(spec: Spec) -> None:
    """Answer one request, then drop the connection without a word that reaches the client (its
    RST is dropped on the way out): the client still believes in it, as after a crash."""
    conn = answered_request(spec)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    hear("forget")
    conn.close()
    say("forgot")
    hear("exit")


def client_request_after_reply(spec: Spec) -> None:
    cli = replied_then_go(spec)
    cli.sendall(REQUEST)
    with contextlib.suppress(ConnectionResetError):
        cli.recv(4096)
    say("reset")


def client_keepalive_into_silence(spec: Spec) -> None:
    """An idle connection whose keep-alive probes go unanswered: three, then the stack gives up."""
    cli = replied_then_go(spec, set_keepalive)
    with contextlib.suppress(TimeoutError):
        cli.recv(4096)
    say("gave-up")


def client_crash_then_reconnect(spec: Spec) -> None:
    """Drop the connection without a word (SO_LINGER 0, its RST dropped on the way out), as a
    crash does, then connect again from the same port while the server still holds it."""
    cli = replied_then_go(spec)
    cli.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    cli.close()
    say("crashed")
    hear("go")
    client_request_then_close(spec)


def server_until_reset_then_again(spec: Spec) -> None:
    """Answer one request and wait until that connection ends (the reconnecting client's RST
    resets it), then answer the next connection and close after the client has closed."""
    srv = listen(spec)
    for _ in range(2):
        conn, _ = srv.accept()
        conn.recv(4096)
        conn.sendall(REPLY)
        try:
            recv_until_eof(conn)
            time.sleep(PASSIVE_CLOSE_DELAY)
        except ConnectionResetError:
            pass  # the first one: the reconnecting client's RST ended it
        conn.close()


def server_never_accepts(spec: Spec) -> None:
    """A listener with backlog 0 (room for one connection) that never calls accept()."""
    with listen(spec, backlog=0):
        hear("exit")


def client_into_full_accept_queue(spec: Spec) -> None:
    """Two clients: the first one's third ACK waits (TCP_DEFER_ACCEPT on a connecting socket
    makes Linux hold it up to 200 ms), so the second, connecting meanwhile, fills the accept
    queue; the first one's ACK and request then arrive at a full queue."""
    first = socket.socket(spec.family, socket.SOCK_STREAM)
    first.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    first.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 1)
    first.bind(spec.client_addr)
    first.setblocking(False)
    first.connect_ex(spec.server_addr)  # the SYN-ACK comes back at once; the ACK waits
    time.sleep(0.02)
    second = socket.socket(spec.family, socket.SOCK_STREAM)
    second.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    second.bind((spec.client_addr[0], spec.client_addr[1] + 1))
    second.connect(spec.server_addr)
    second.sendall(REQUEST)  # acknowledged by the queued socket, never answered
    time.sleep(0.5)
    first.setblocking(True)
    first.settimeout(15)
    try:
        first.sendall(REQUEST)
        first.recv(4096)
    except OSError as exc:
        say(f"first:{type(exc).__name__}")
    first.close()
    second.close()


def server_reply_and_close(spec: Spec) -> None:
    conn = answered_request(spec)
    conn.close()


def client_read_to_eof_then_close(spec: Spec) -> None:
    cli = connect(spec)
    cli.sendall(REQUEST)
    recv_until_eof(cli)
    time.sleep(PASSIVE_CLOSE_DELAY)
    cli.close()


def client_expect_refused(spec: Spec) -> None:
    try:
        connect(spec)
    except ConnectionRefusedError:
        say("refused")
    else:
        raise SystemExit("the connection was not refused")


# What iptables' REJECT answers on each port of the icmp_unreachable scenario (port offset).
ICMP_REJECTS = ("icmp-port-unreachable", "icmp-host-unreachable", "icmp-admin-prohibited")


def client_expect_icmp_errors(spec: Spec) -> None:
    """One connection attempt per port of ICMP_REJECTS: each fails at once on the ICMP error."""
    for offset in range(len(ICMP_REJECTS)):
        sock = socket.socket(spec.family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((spec.client_addr[0], spec.client_addr[1] + offset))
        sock.settimeout(5)
        try:
            sock.connect((spec.server_addr[0], spec.port + offset))
        except OSError as exc:
            say(f"failed:{exc.strerror}")
        else:
            raise SystemExit("the connection was not rejected")
        finally:
            sock.close()


def client_expect_timeout(spec: Spec) -> None:
    try:
        connect(spec)
    except (TimeoutError, OSError) as exc:
        say(f"gave-up:{type(exc).__name__}")
    else:
        raise SystemExit("the SYN was answered")


def server_until_reset(spec: Spec) -> None:
    conn = answered_request(spec)
    try:
        recv_until_eof(conn)
    except ConnectionResetError:
        say("reset")
    conn.close()


def client_linger0(spec: Spec) -> None:
    cli = connect(spec)
    cli.sendall(REQUEST)
    recv_exactly(cli, len(REPLY))
    time.sleep(0.1)
    # SO_LINGER on with a zero timeout: close() discards the connection and sends RST, no FIN.
    cli.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    cli.close()


def server_close_with_unread(spec: Spec) -> None:
    srv = listen(spec)
    conn, _ = srv.accept()
    conn.recv(len(REQUEST))  # read the request line only; the upload stays unread
    time.sleep(0.2)
    conn.sendall(b"HTTP/1.0 413 Payload Too Large\r\n\r\n")
    time.sleep(0.1)
    # RFC 2525 §2.17 / RFC 1122 §4.2.2.13: closing with unread data sends RST instead of FIN.
    conn.close()


def client_upload_until_reset(spec: Spec) -> None:
    cli = connect(spec)
    cli.sendall(REQUEST + b"x" * 600)
    try:
        recv_until_eof(cli)
    except ConnectionResetError:
        say("reset")
    cli.close()


def server_half_close(spec: Spec) -> None:
    srv = listen(spec)
    conn, _ = srv.accept()
    recv_until_eof(conn)  # the client's FIN arrives: we are in CLOSE_WAIT and may still send
    time.sleep(PASSIVE_CLOSE_DELAY)
    for i in range(3):
        conn.sendall(f"line {i} sent after your FIN\n".encode())
        time.sleep(0.05)
    time.sleep(PASSIVE_CLOSE_DELAY)
    conn.close()


def client_half_close(spec: Spec) -> None:
    cli = connect(spec)
    cli.sendall(REQUEST)
    cli.shutdown(socket.SHUT_WR)
    recv_until_eof(cli)
    cli.close()


def server_close_on_command(spec: Spec) -> None:
    conn = answered_request(spec)
    hear("close")
    conn.close()
    say("closed")
    time.sleep(1.5)


def client_close_on_command(spec: Spec) -> None:
    cli = connect(spec)
    cli.sendall(REQUEST)
    recv_exactly(cli, len(REPLY))
    say("ready-to-close")
    hear("go")
    cli.close()
    say("closed")
    time.sleep(1.5)


LOSSY_BYTES = 150_000
LOSSY_TRAILER = 777  # a unique size, so an iptables length match can drop exactly this segment


def server_sink(spec: Spec) -> None:
    srv = listen(spec)
    conn, _ = srv.accept()
    got = len(recv_until_eof(conn))
    conn.sendall(f"received {got} bytes\n".encode())
    conn.close()


def client_upload(spec: Spec) -> None:
    cli = connect(spec)
    cli.sendall(bytes(i % 251 for i in range(LOSSY_BYTES)))
    time.sleep(0.3)  # all acknowledged: the trailer below is alone in flight
    cli.sendall(b"t" * LOSSY_TRAILER)
    time.sleep(0.6)  # no FIN behind it either: only a timer can recover the lost trailer
    cli.shutdown(socket.SHUT_WR)
    recv_until_eof(cli)
    cli.close()


ZERO_WINDOW_BYTES = 40_000


def server_slow_reader(spec: Spec) -> None:
    srv = listen(spec, rcvbuf=4096)
    conn, _ = srv.accept()
    time.sleep(2.5)  # not reading: the receive buffer fills and the window drops to zero
    recv_exactly(conn, ZERO_WINDOW_BYTES)
    conn.sendall(b"thanks\n")
    recv_until_eof(conn)
    time.sleep(PASSIVE_CLOSE_DELAY)
    conn.close()


def client_bulk_writer(spec: Spec) -> None:
    cli = connect(spec)
    cli.sendall(b"z" * ZERO_WINDOW_BYTES)
    recv_exactly(cli, len(b"thanks\n"))
    cli.close()


def set_keepalive(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 5)


def client_keepalive(spec: Spec) -> None:
    cli = connect(spec, setup=set_keepalive)
    cli.sendall(REQUEST)
    recv_exactly(cli, len(REPLY))
    time.sleep(3.5)  # idle: a probe after 1 s, then one every second
    cli.close()


def server_twice(spec: Spec) -> None:
    srv = listen(spec)
    for _ in range(2):
        conn, _ = srv.accept()
        conn.recv(4096)
        conn.sendall(REPLY)
        recv_until_eof(conn)
        time.sleep(PASSIVE_CLOSE_DELAY)
        conn.close()


def client_twice_same_port(spec: Spec) -> None:
    for round_ in range(2):
        client_request_then_close(spec)  # SO_REUSEADDR + the same fixed source port
        if round_ == 0:
            # The client closed first, so its socket is in TIME_WAIT. With tcp_tw_reuse=1 Linux
            # lets connect() take the TIME_WAIT 4-tuple once the last timestamp is >1 s old.
            time.sleep(2.2)
            say("in-time-wait")
            hear("go")


def client_midstream(spec: Spec) -> None:
    cli = connect(spec)
    cli.sendall(REQUEST)
    recv_exactly(cli, len(REPLY))
    say("connected")
    hear("go")
    cli.sendall(REQUEST)
    recv_exactly(cli, len(REPLY))
    time.sleep(0.1)
    cli.close()


def server_two_requests(spec: Spec) -> None:
    srv = listen(spec)
    conn, _ = srv.accept()
    for _ in range(2):
        conn.recv(4096)
        conn.sendall(REPLY)
    recv_until_eof(conn)
    time.sleep(PASSIVE_CLOSE_DELAY)
    conn.close()


def server_close_at_once(spec: Spec) -> None:
    server_echo_then_wait_eof(spec, close_delay=0.0)


def peer_connect_on_command(spec: Spec) -> None:
    """The "server" of a simultaneous open: no listener; it connects to the client's port itself,
    from its own fixed port, once the client's SYN is on its way."""
    sock = socket.socket(spec.family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(spec.server_addr)
    say("ready")
    hear("go")
    sock.connect(spec.client_addr)
    request = recv_exactly(sock, len(REQUEST))
    sock.sendall(REPLY if request == REQUEST else b"?")
    recv_until_eof(sock)
    time.sleep(PASSIVE_CLOSE_DELAY)
    sock.close()


def client_connect_first(spec: Spec) -> None:
    """The first SYN of a simultaneous open: sent without waiting, then the peer's SYN arrives."""
    sock = socket.socket(spec.family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(spec.client_addr)
    sock.setblocking(False)
    sock.connect_ex(spec.server_addr)  # EINPROGRESS: the SYN is sent, the socket is in SYN_SENT
    say("syn-sent")
    sock.setblocking(True)
    sock.settimeout(10)
    sock.sendall(REQUEST)  # blocks until the connection is established
    recv_exactly(sock, len(REPLY))
    sock.close()


# ------------------------------------------------ keep-alive, ECN and urgent data (45061 ...)


def client_keepalive_into_reset(spec: Spec) -> None:
    """An idle connection with keep-alive whose server has forgotten it: the first probe is
    answered with a RST."""
    cli = replied_then_go(spec, set_keepalive)
    with contextlib.suppress(ConnectionResetError):
        cli.recv(4096)
    say("reset")


ECN_BYTES = 300_000


def client_ecn_upload(spec: Spec) -> None:
    cli = connect(spec)
    cli.sendall(bytes(i % 251 for i in range(ECN_BYTES)))
    cli.shutdown(socket.SHUT_WR)
    recv_until_eof(cli)
    cli.close()


def server_urgent(spec: Spec) -> None:
    """Read the request, then the urgent byte out of band (SO_OOBINLINE off), then reply."""
    conn = answered_request(spec)
    hear("read-oob")
    say(f"oob:{conn.recv(1, socket.MSG_OOB)!r}")
    recv_until_eof(conn)
    time.sleep(PASSIVE_CLOSE_DELAY)
    conn.close()


def client_urgent(spec: Spec) -> None:
    """A request, its reply, then one byte sent with MSG_OOB (the URG flag), then a close."""
    cli = connect(spec)
    cli.sendall(REQUEST)
    recv_exactly(cli, len(REPLY))
    time.sleep(0.1)
    cli.send(b"!", socket.MSG_OOB)
    say("sent-oob")
    hear("close")
    time.sleep(0.1)
    cli.close()


LINGER_BYTES = 60_000


def server_late_reader(spec: Spec) -> None:
    """Read nothing for 3 s (the window fills), then everything, reply and close."""
    srv = listen(spec, rcvbuf=4096)
    conn, _ = srv.accept()
    time.sleep(3.0)
    recv_exactly(conn, LINGER_BYTES)
    recv_until_eof(conn)
    conn.sendall(b"thanks\n")
    conn.close()


def client_linger_timeout(spec: Spec) -> None:
    """SO_LINGER {on, 1 s}: close() waits for the unsent data and the FIN to be acknowledged, at
    most 1 s; the peer does not read, so it returns after 1 s, with the data still unsent."""
    cli = connect(spec)
    cli.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 1))
    cli.sendall(b"l" * LINGER_BYTES)
    start = time.monotonic()
    cli.close()
    say(f"close-returned-after {time.monotonic() - start:.2f} s")


def server_shut_rd(spec: Spec) -> None:
    """Read the request, reply, shutdown(SHUT_RD), then close 0.5 s later without reading what
    the client sent meanwhile."""
    conn = answered_request(spec)
    conn.shutdown(socket.SHUT_RD)
    say(f"recv-after-shut-rd {conn.recv(4096)!r}")
    time.sleep(0.5)
    conn.close()


def client_keeps_sending(spec: Spec) -> None:
    """A request, its reply, then two more lines 0.1 s apart, while the server has shut its
    reading side."""
    cli = connect(spec)
    cli.sendall(REQUEST)
    recv_exactly(cli, len(REPLY))
    for i in range(2):
        time.sleep(0.1)
        cli.sendall(f"more {i}\n".encode())
    try:
        recv_until_eof(cli)
        say("eof")
    except ConnectionResetError:
        say("reset")
    cli.close()


# --------------------------------------------------------------------------- orchestration


class Child:
    """A role process inside a namespace, spoken to line by line."""

    started: list[Child] = []  # killed on error, so nothing outlives its namespace

    def __init__(self, ns: str, role: str, name: str) -> None:
        cmd = ["ip", "netns", "exec", ns, sys.executable, "-u", str(SCRIPT), role, name]
        self.role = role
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        Child.started.append(self)

    @classmethod
    def kill_all(cls) -> None:
        for child in cls.started:
            if child.proc.poll() is None:
                child.proc.kill()
                child.proc.wait()

    def expect(self, word: str) -> str:
        """Read the child's lines until one starts with `word` (plain blocking reads: a select()
        on a buffered pipe would miss a second line already read into the buffer)."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip().startswith(word):
                return line.strip()
        raise RuntimeError(f"{self.role} exited (status {self.proc.wait()}) before {word!r}")

    def tell(self, word: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()

    def wait(self, timeout: float = 30.0) -> None:
        if self.proc.wait(timeout) != 0:
            raise RuntimeError(f"{self.role} exited with {self.proc.returncode}")


class Tcpdump:
    """tcpdump in the client namespace, TCP only (unless told), default snaplen (unless told),
    classic pcap."""

    def __init__(self, path: Path, capture_filter: str = "tcp", snaplen: int = 0) -> None:
        # --immediate-mode: without it, packets still in the kernel's TPACKET_V3 block when
        # tcpdump gets SIGINT are lost (a 2-packet refusal came out empty).
        cmd = ["ip", "netns", "exec", CLIENT_NS, "tcpdump", "-i", CLIENT_IF, "-n", "-U"]
        cmd += ["--immediate-mode", "-Z", "root", "-w", str(path)]
        cmd += ["-s", str(snaplen)] if snaplen else []
        cmd += [capture_filter]
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()  # "listening on veth-a, ..." once the socket is live
        if "listening" not in line:
            raise RuntimeError(f"tcpdump did not start: {line}")
        time.sleep(0.3)

    def stop(self, linger: float = 0.5) -> None:
        time.sleep(linger)  # catch the final ACKs
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(10)


def netns(ns: str, *cmd: str) -> None:
    subprocess.run(["ip", "netns", "exec", ns, *cmd], check=True)


def iptables(rule: str) -> None:
    """Apply one iptables rule in the server namespace (where drops happen after pxa saw them)."""
    netns(SERVER_NS, "iptables", *rule.split())


def run_plain(spec: Spec, out: Path, linger: float = 0.5, snaplen: int = 0) -> None:
    """Capture, start the server (if any), run the client to the end, stop the capture."""
    cap = Tcpdump(out, snaplen=snaplen)
    try:
        server = None
        if spec.name in SERVERS:
            server = Child(SERVER_NS, "server", spec.name)
            server.expect("ready")
        client = Child(CLIENT_NS, "client", spec.name)
        client.wait(60)
        if server:
            server.wait(30)
    finally:
        cap.stop(linger)


def run_unanswered(spec: Spec, out: Path) -> None:
    # tcp_syn_retries is per network namespace: SYN, then retries after 1 s and 3 s, give up at 7 s.
    netns(CLIENT_NS, "sysctl", "-qw", "net.ipv4.tcp_syn_retries=2")
    # Linux >= 6.5 retries the first SYNs every second (tcp_syn_linear_timeouts=4); turn that off
    # for the classic RFC 6298 doubling. Older kernels (Debian 12's 6.1) lack the knob: ignore.
    linear = f"ip netns exec {CLIENT_NS} sysctl -qw net.ipv4.tcp_syn_linear_timeouts=0"
    subprocess.run(linear.split(), check=False, capture_output=True)
    iptables(f"-A INPUT -p tcp --dport {spec.port} --syn -j DROP")
    run_plain(spec, out)


def run_simultaneous_close(spec: Spec, out: Path) -> None:
    """Make the FINs cross: the server must send its FIN before it has seen the client's.

    On a veth pair the FIN arrives in microseconds, so the client's first FIN is dropped in the
    server's namespace (after tcpdump in pxa has seen it); the server then closes without having
    seen it; the rule is removed and the client's FIN retransmission completes the close.
    """
    cap = Tcpdump(out)
    rule = f"INPUT -p tcp --dport {spec.port} --tcp-flags FIN FIN -j DROP"
    try:
        server = Child(SERVER_NS, "server", spec.name)
        server.expect("ready")
        client = Child(CLIENT_NS, "client", spec.name)
        client.expect("ready-to-close")
        iptables(f"-I {rule}")
        client.tell("go")
        client.expect("closed")
        server.tell("close")
        server.expect("closed")
        time.sleep(0.02)
        iptables(f"-D {rule}")
        client.wait()
        server.wait()
    finally:
        cap.stop()


def run_handshake_ack_lost(spec: Spec, out: Path) -> None:
    """The client's third handshake ACK is dropped in pxb, after tcpdump in pxa saw it: the
    server, still in SYN_RECEIVED, resends its SYN-ACK after 1 s, and the client, silent for
    1.5 s, answers it with the ACK again. conntrack counts the SYN as the connection's first
    packet in the original direction and the ACK as its second."""
    iptables(
        f"-A INPUT -p tcp --dport {spec.port} --tcp-flags ALL ACK -m connbytes --connbytes 2:2"
        " --connbytes-dir original --connbytes-mode packets -j DROP"
    )
    run_plain(spec, out)


def run_last_ack_lost(spec: Spec, out: Path) -> None:
    """The active closer's last ACK is lost once (the textbook reason for TIME_WAIT): the
    client's pure ACKs are dropped in pxb from the server's close until 0.1 s later, before the
    server's FIN retransmission timer (at least 200 ms) fires; the FIN comes again, and the
    client answers it from TIME_WAIT."""
    cap = Tcpdump(out)
    rule = f"INPUT -p tcp --dport {spec.port} --tcp-flags ALL ACK -j DROP"
    try:
        server = Child(SERVER_NS, "server", spec.name)
        server.expect("ready")
        client = Child(CLIENT_NS, "client", spec.name)
        server.expect("eof")
        iptables(f"-I {rule}")
        server.tell("close")
        server.expect("closed")
        time.sleep(0.1)
        iptables(f"-D {rule}")
        client.wait()
        server.wait()
    finally:
        cap.stop(1.0)


def replied_pair(spec: Spec) -> tuple[Child, Child]:
    """The server, then the client, started; the client's first request has been answered."""
    server = Child(SERVER_NS, "server", spec.name)
    server.expect("ready")
    client = Child(CLIENT_NS, "client", spec.name)
    client.expect("replied")
    return server, client


def run_peer_silent(spec: Spec, out: Path) -> None:
    """After one request and reply, every packet towards the server is dropped in pxb (after
    tcpdump in pxa saw it), as if the server had vanished: the client keeps trying until its
    stack gives up (tcp_retries2=3 for data, three keep-alive probes for an idle connection).
    The server holds its socket open until the capture has stopped."""
    netns(CLIENT_NS, "sysctl", "-qw", "net.ipv4.tcp_retries2=3")
    cap = Tcpdump(out)
    try:
        server, client = replied_pair(spec)
        iptables(f"-A INPUT -p tcp --dport {spec.port} -j DROP")
        client.tell("go")
        client.expect("gave-up")
        client.wait()
    finally:
        cap.stop()
    server.tell("exit")
    server.wait()


STALL_SECONDS = 4.0  # the client's resends come 0.2, 0.4, 0.9, 1.7, 3.4 and 6.9 s after its request


def run_stall(spec: Spec, out: Path) -> None:
    """After one request and reply, every packet towards the server is dropped in pxb (after
    tcpdump in pxa saw it) for STALL_SECONDS, then the rule is removed: the client's second
    request is resent with doubling waits until a resend gets through and the server answers."""
    cap = Tcpdump(out)
    rule = f"INPUT -p tcp --dport {spec.port} -j DROP"
    try:
        server, client = replied_pair(spec)
        iptables(f"-I {rule}")
        client.tell("go")
        time.sleep(STALL_SECONDS)
        iptables(f"-D {rule}")
        client.wait(60)
        server.wait(30)
    finally:
        cap.stop()


def run_server_lost_connection(spec: Spec, out: Path) -> None:
    """The server forgets the connection while its RST is dropped in pxb's OUTPUT chain (so the
    client, and tcpdump in pxa, never see it): a crash or restart without a word. The client's
    next request (keep_alive_reset: its first keep-alive probe, 1 s after the reply) is answered
    by the server's stack as one for no connection."""
    cap = Tcpdump(out)
    rule = f"OUTPUT -p tcp --sport {spec.port} --tcp-flags RST RST -j DROP"
    try:
        server, client = replied_pair(spec)
        iptables(f"-I {rule}")
        server.tell("forget")
        server.expect("forgot")
        iptables(f"-D {rule}")
        client.tell("go")
        client.expect("reset")
        client.wait()
        server.tell("exit")
        server.wait()
    finally:
        cap.stop()


def run_client_crash(spec: Spec, out: Path) -> None:
    """The client forgets its connection while its RST is dropped in its own namespace's OUTPUT
    chain (so neither tcpdump nor the server sees it), then reconnects from the same port: the
    server, still ESTABLISHED, answers the new SYN with a challenge ACK (RFC 5961 §4)."""
    cap = Tcpdump(out)
    rule = f"OUTPUT -p tcp --dport {spec.port} --tcp-flags RST RST -j DROP".split()
    try:
        server = Child(SERVER_NS, "server", spec.name)
        server.expect("ready")
        client = Child(CLIENT_NS, "client", spec.name)
        client.expect("replied")
        netns(CLIENT_NS, "iptables", "-I", *rule)
        client.tell("go")
        client.expect("crashed")
        netns(CLIENT_NS, "iptables", "-D", *rule)
        time.sleep(0.5)
        client.tell("go")
        client.wait()
        server.wait()
    finally:
        cap.stop()


def run_accept_queue_full(spec: Spec, out: Path) -> None:
    """net.ipv4.tcp_abort_on_overflow=0 (the default): Linux drops an ACK that would complete a
    handshake at a full accept queue; the server resends its SYN-ACK twice
    (tcp_synack_retries=2), then forgets the request, and answers the next segment with RST.
    With 1 (accept_queue_abort) it answers that ACK with a RST at once."""
    abort = int(spec.name == "accept_queue_abort")
    netns(SERVER_NS, "sysctl", "-qw", "net.ipv4.tcp_synack_retries=2")
    netns(SERVER_NS, "sysctl", "-qw", f"net.ipv4.tcp_abort_on_overflow={abort}")
    cap = Tcpdump(out)
    try:
        server = Child(SERVER_NS, "server", spec.name)
        server.expect("ready")
        client = Child(CLIENT_NS, "client", spec.name)
        print(f"  {client.expect('first:')}")
        client.wait()
    finally:
        cap.stop()
    server.tell("exit")
    server.wait()


def run_fin_lost(spec: Spec, out: Path) -> None:
    """The client's first FIN is dropped on arrival in pxb, after tcpdump in pxa saw it (a
    capture anywhere before the loss shows the same): the client resends it by timer, and only
    then does the server ACK it."""
    iptables(
        f"-A INPUT -p tcp --dport {spec.port} --tcp-flags FIN FIN"
        " -m statistic --mode nth --every 1000 --packet 0 -j DROP"
    )
    run_plain(spec, out)


def run_one_direction(spec: Spec, out: Path) -> None:
    """A plain scenario captured with a filter that keeps one side's packets only, as a capture
    point passed one way (asymmetric routing) or a `src host` filter would: the client's in
    one_direction (client closes first), the server's in one_direction_server (server first)."""
    sender = SERVER_V4 if spec.name == "one_direction_server" else CLIENT_V4
    cap = Tcpdump(out, f"tcp and src host {sender}")
    try:
        server = Child(SERVER_NS, "server", spec.name)
        server.expect("ready")
        Child(CLIENT_NS, "client", spec.name).wait(60)
        server.wait(30)
    finally:
        cap.stop()


def run_icmp_unreachable(spec: Spec, out: Path) -> None:
    """The server's namespace rejects each port with another ICMP error (iptables REJECT): the
    capture, TCP and ICMP, shows each SYN and the error that answered it."""
    for offset, reject in enumerate(ICMP_REJECTS):
        iptables(f"-A INPUT -p tcp --dport {spec.port + offset} -j REJECT --reject-with {reject}")
    cap = Tcpdump(out, "tcp or icmp")
    try:
        client = Child(CLIENT_NS, "client", spec.name)
        client.wait()
    finally:
        cap.stop()


def run_simultaneous_open(spec: Spec, out: Path) -> None:
    """Both sides connect to each other (RFC 9293 Fig. 7), with no listener anywhere.

    The client's SYN is dropped on arrival in pxb (after tcpdump in pxa saw it), so the server,
    still in CLOSED, cannot answer it; the server then connects and its SYN finds the client in
    SYN_SENT. What Linux does from there (which side sends a SYN-ACK, and whether the client's
    SYN timer still fires) is the stack's own.
    """
    rule = f"INPUT -p tcp --dport {spec.port} --syn -j DROP"
    iptables(f"-A {rule}")
    cap = Tcpdump(out)
    try:
        server = Child(SERVER_NS, "server", spec.name)
        server.expect("ready")
        client = Child(CLIENT_NS, "client", spec.name)
        client.expect("syn-sent")
        time.sleep(0.05)
        server.tell("go")
        client.wait()
        server.wait()
    finally:
        cap.stop(linger=1.5)  # the client's SYN retransmission timer (1 s) may still fire
        iptables(f"-D {rule}")


def run_lossy(spec: Spec, out: Path, snaplen: int = 0) -> None:
    # Deterministic loss: every 23rd full-sized segment towards the server is dropped on arrival
    # in pxb, after tcpdump in pxa saw it leave; the receiver's dup ACKs carry SACK blocks.
    iptables(
        f"-A INPUT -p tcp --dport {spec.port} -m length --length 1000:65535"
        " -m statistic --mode nth --every 23 --packet 7 -j DROP"
    )
    # The lone trailer segment is dropped once: no duplicate ACKs can follow, so it is resent by
    # the tail-loss probe / retransmission timer (a timeout retransmission, not a fast one).
    # IPv4 length = 20 (IP) + 32 (TCP with timestamps) + payload.
    iptables(
        f"-A INPUT -p tcp --dport {spec.port} -m length --length {LOSSY_TRAILER + 52}"
        " -m statistic --mode nth --every 2 --packet 0 -j DROP"
    )
    run_plain(spec, out, linger=1.0, snaplen=snaplen)


def run_snaplen_cut(spec: Spec, out: Path) -> None:
    # The lossy transfer captured with 70 bytes of each frame: 14 (Ethernet) + 20 (IPv4) leave
    # 36 for TCP, enough for a 32-byte header with timestamps, too few for the SYN's 40 bytes of
    # options or a duplicate ACK's SACK block (44): their options are cut, and tshark's analysis
    # flags none of those segments.
    run_lossy(spec, out, snaplen=70)


def run_port_reuse(spec: Spec, out: Path) -> None:
    netns(CLIENT_NS, "sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1")
    cap = Tcpdump(out)
    try:
        server = Child(SERVER_NS, "server", spec.name)
        server.expect("ready")
        client = Child(CLIENT_NS, "client", spec.name)
        client.expect("in-time-wait")
        ss = f"ip netns exec {CLIENT_NS} ss -Htn state time-wait"
        tw = subprocess.run(ss.split(), capture_output=True, text=True, check=True).stdout
        print(f"  TIME_WAIT in {CLIENT_NS} before the reuse: {' '.join(tw.split()) or 'none'}")
        client.tell("go")
        client.wait()
        server.wait()
    finally:
        cap.stop()


def run_midstream(spec: Spec, out: Path) -> None:
    server = Child(SERVER_NS, "server", spec.name)
    server.expect("ready")
    client = Child(CLIENT_NS, "client", spec.name)
    client.expect("connected")  # handshake and a first request/reply done, not captured
    cap = Tcpdump(out)
    try:
        client.tell("go")
        client.wait()
        server.wait()
    finally:
        cap.stop()


def run_ecn(spec: Spec, out: Path) -> None:
    """net.ipv4.tcp_ecn=1 in the client (it asks for ECN in its SYN); in the server 1 for
    ecn_negotiated and ecn_congestion (it agrees), 0 for ecn_not_accepted. For ecn_congestion
    nftables in the client's namespace does what a congested router's AQM does (this kernel has
    no AQM qdisc): it sets CE on every 40th ECN-capable segment towards the server, in
    POSTROUTING, so tcpdump on the client's veth sees the mark."""
    netns(CLIENT_NS, "sysctl", "-qw", "net.ipv4.tcp_ecn=1")
    server_ecn = 0 if spec.name == "ecn_not_accepted" else 1
    netns(SERVER_NS, "sysctl", "-qw", f"net.ipv4.tcp_ecn={server_ecn}")
    if spec.name == "ecn_congestion":
        netns(CLIENT_NS, "nft", "add", "table", "ip", "ce")
        netns(CLIENT_NS, "nft", "add chain ip ce post { type filter hook postrouting priority 0; }")
        netns(
            CLIENT_NS,
            "nft",
            f"add rule ip ce post tcp dport {spec.port} ip ecn ect0"
            " numgen inc mod 40 == 0 ip ecn set ce",
        )
    run_plain(spec, out)


def run_urgent(spec: Spec, out: Path) -> None:
    cap = Tcpdump(out)
    try:
        server = Child(SERVER_NS, "server", spec.name)
        server.expect("ready")
        client = Child(CLIENT_NS, "client", spec.name)
        client.expect("sent-oob")
        server.tell("read-oob")
        print(f"  {server.expect('oob:')}")
        client.tell("close")
        client.wait()
        server.wait()
    finally:
        cap.stop()


def run_printing(spec: Spec, out: Path) -> None:
    """run_plain, printing what the client and the server report (close()'s wait, recv()'s)."""
    cap = Tcpdump(out)
    try:
        server = Child(SERVER_NS, "server", spec.name)
        server.expect("ready")
        client = Child(CLIENT_NS, "client", spec.name)
        for child in (server, client):
            assert child.proc.stdout is not None
        if spec.name == "shutdown_read":
            print(f"  server: {server.expect('recv-after-shut-rd')}")
            print(f"  client: {client.expect('')}")
        else:
            print(f"  client: {client.expect('close-returned-after')}")
        client.wait(60)
        server.wait(30)
    finally:
        cap.stop(1.0)


SPECS = {
    s.name: s
    for s in (
        Spec("normal_close_client_first", "normal_close_client_first.pcap", 45001),
        Spec("normal_close_server_first", "normal_close_server_first.pcap", 45002),
        Spec("refused", "refused.pcap", 45003),
        Spec("syn_unanswered", "syn_unanswered.pcap", 45004),
        Spec("reset_by_client_linger0", "reset_by_client_linger0.pcap", 45005),
        Spec("reset_by_server_unread_data", "reset_by_server_unread_data.pcap", 45006),
        Spec("half_close", "half_close.pcap", 45007),
        Spec("simultaneous_close", "simultaneous_close.pcap", 45008),
        Spec("three_way_close", "three_way_close.pcap", 45009),
        Spec("lossy_transfer", "lossy_transfer.pcap", 45010),
        Spec("zero_window", "zero_window.pcap", 45011),
        Spec("keep_alive", "keep_alive.pcap", 45012),
        Spec("ipv6_normal", "ipv6_normal.pcap", 45013, v6=True),
        Spec("port_reuse_time_wait", "port_reuse_time_wait.pcap", 45014),
        Spec("midstream", "midstream.pcap", 45015),
        Spec("simultaneous_open", "simultaneous_open.pcap", 45016),
        Spec("icmp_unreachable", "icmp_unreachable.pcap", 45017),  # and 45018, 45019
        Spec("one_direction", "one_direction.pcap", 45020),
        Spec("one_direction_server", "one_direction_server.pcap", 45021),
        Spec("handshake_ack_lost", "handshake_ack_lost.pcap", 45022),
        Spec("last_ack_lost", "last_ack_lost.pcap", 45023),
        Spec("peer_vanished", "peer_vanished.pcap", 45024),
        Spec("keep_alive_unanswered", "keep_alive_unanswered.pcap", 45025),
        Spec("server_lost_connection", "server_lost_connection.pcap", 45026),
        Spec("stalled_then_recovered", "stalled_then_recovered.pcap", 45027),
        Spec("client_reconnects", "client_reconnects.pcap", 45027),
        Spec("accept_queue_full", "accept_queue_full.pcap", 45028),  # and client port 55029
        Spec("fin_lost", "fin_lost.pcap", 45030),
        Spec("accept_queue_abort", "accept_queue_abort.pcap", 45031),  # and client port 55032
        Spec("keep_alive_reset", "keep_alive_reset.pcap", 45061),
        Spec("ecn_negotiated", "ecn_negotiated.pcap", 45062),
        Spec("ecn_not_accepted", "ecn_not_accepted.pcap", 45063),
        Spec("ecn_congestion", "ecn_congestion.pcap", 45064),
        Spec("urgent_data", "urgent_data.pcap", 45065),
        Spec("linger_timeout", "linger_timeout.pcap", 45066),
        Spec("shutdown_read", "shutdown_read.pcap", 45067),
        Spec("snaplen_cut", "snaplen_cut.pcap", 45068),
    )
}

SERVERS: dict[str, Callable[[Spec], None]] = {
    "normal_close_client_first": server_echo_then_wait_eof,
    "one_direction": server_echo_then_wait_eof,
    "one_direction_server": server_reply_and_close,
    "normal_close_server_first": server_reply_and_close,
    "reset_by_client_linger0": server_until_reset,
    "reset_by_server_unread_data": server_close_with_unread,
    "half_close": server_half_close,
    "simultaneous_close": server_close_on_command,
    "three_way_close": server_close_at_once,
    "lossy_transfer": server_sink,
    "snaplen_cut": server_sink,
    "zero_window": server_slow_reader,
    "keep_alive": server_echo_then_wait_eof,
    "ipv6_normal": server_echo_then_wait_eof,
    "port_reuse_time_wait": server_twice,
    "midstream": server_two_requests,
    "simultaneous_open": peer_connect_on_command,
    "handshake_ack_lost": server_echo_then_wait_eof,
    "last_ack_lost": server_close_after_eof_on_command,
    "peer_vanished": server_reply_then_hold,
    "keep_alive_unanswered": server_reply_then_hold,
    "server_lost_connection": server_forget_on_command,
    "stalled_then_recovered": server_two_requests,
    "client_reconnects": server_until_reset_then_again,
    "accept_queue_full": server_never_accepts,
    "fin_lost": server_echo_then_wait_eof,
    "accept_queue_abort": server_never_accepts,
    "keep_alive_reset": server_forget_on_command,
    "ecn_negotiated": server_echo_then_wait_eof,
    "ecn_not_accepted": server_echo_then_wait_eof,
    "ecn_congestion": server_sink,
    "urgent_data": server_urgent,
    "linger_timeout": server_late_reader,
    "shutdown_read": server_shut_rd,
}

CLIENTS: dict[str, Callable[[Spec], None]] = {
    "normal_close_client_first": client_request_then_close,
    "one_direction": client_request_then_close,
    "one_direction_server": client_read_to_eof_then_close,
    "normal_close_server_first": client_read_to_eof_then_close,
    "refused": client_expect_refused,
    "syn_unanswered": client_expect_timeout,
    "reset_by_client_linger0": client_linger0,
    "reset_by_server_unread_data": client_upload_until_reset,
    "half_close": client_half_close,
    "simultaneous_close": client_close_on_command,
    "three_way_close": client_request_then_close,
    "lossy_transfer": client_upload,
    "snaplen_cut": client_upload,
    "zero_window": client_bulk_writer,
    "keep_alive": client_keepalive,
    "ipv6_normal": client_request_then_close,
    "port_reuse_time_wait": client_twice_same_port,
    "midstream": client_midstream,
    "simultaneous_open": client_connect_first,
    "icmp_unreachable": client_expect_icmp_errors,
    "handshake_ack_lost": client_wait_then_request,
    "last_ack_lost": client_request_then_close,
    "peer_vanished": client_request_into_silence,
    "keep_alive_unanswered": client_keepalive_into_silence,
    "server_lost_connection": client_request_after_reply,
    "stalled_then_recovered": client_request_through_a_stall,
    "client_reconnects": client_crash_then_reconnect,
    "accept_queue_full": client_into_full_accept_queue,
    "fin_lost": client_request_then_close,
    "accept_queue_abort": client_into_full_accept_queue,
    "keep_alive_reset": client_keepalive_into_reset,
    "ecn_negotiated": client_request_then_close,
    "ecn_not_accepted": client_request_then_close,
    "ecn_congestion": client_ecn_upload,
    "urgent_data": client_urgent,
    "linger_timeout": client_linger_timeout,
    "shutdown_read": client_keeps_sending,
}

RUNNERS: dict[str, Callable[[Spec, Path], None]] = {
    "syn_unanswered": run_unanswered,
    "simultaneous_close": run_simultaneous_close,
    "lossy_transfer": run_lossy,
    "snaplen_cut": run_snaplen_cut,
    "port_reuse_time_wait": run_port_reuse,
    "midstream": run_midstream,
    "simultaneous_open": run_simultaneous_open,
    "icmp_unreachable": run_icmp_unreachable,
    "one_direction": run_one_direction,
    "one_direction_server": run_one_direction,
    "handshake_ack_lost": run_handshake_ack_lost,
    "last_ack_lost": run_last_ack_lost,
    "peer_vanished": run_peer_silent,
    "keep_alive_unanswered": run_peer_silent,
    "server_lost_connection": run_server_lost_connection,
    "stalled_then_recovered": run_stall,
    "client_reconnects": run_client_crash,
    "accept_queue_full": run_accept_queue_full,
    "fin_lost": run_fin_lost,
    "accept_queue_abort": run_accept_queue_full,
    "keep_alive_reset": run_server_lost_connection,
    "ecn_negotiated": run_ecn,
    "ecn_not_accepted": run_ecn,
    "ecn_congestion": run_ecn,
    "urgent_data": run_urgent,
    "linger_timeout": run_printing,
    "shutdown_read": run_printing,
}


def main(argv: list[str]) -> int:
    if argv[:1] == ["list"]:
        print("\n".join(SPECS))
        return 0
    if len(argv) >= 2 and argv[0] in ("client", "server"):
        spec = SPECS[argv[1]]
        (CLIENTS if argv[0] == "client" else SERVERS)[spec.name](spec)
        return 0
    if len(argv) == 3 and argv[0] == "run":
        spec = SPECS[argv[1]]
        out = Path(argv[2]) / spec.file
        out.unlink(missing_ok=True)
        try:
            RUNNERS.get(spec.name, run_plain)(spec, out)
        finally:
            Child.kill_all()
        print(f"  wrote {out} ({out.stat().st_size} bytes)")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
