#!/usr/bin/env python3
"""Make the example class: real captures of the Linux TCP stack, one small lab per student.

Usage (as root; needs ip, tcpdump, editcap and tshark):

    python3 examples/class/make_class.py [OUTDIR]     default: examples/class/submissions

Each student runs in a fresh pair of network namespaces, grading-c (the student's computer,
10.99.0.1, the capture point) and grading-s (the web server, 10.99.0.2), joined by the veth
pair grading-vc <-> grading-vs; both are deleted afterwards, also on errors. Nothing leaves
them. Each lab is an upload to port 80 (a small HTTP POST, enough for six data segments), and
each capture also holds the student's "personal" connection to port 8443, which the feedback
must leave out.

    alice   passes: client closes, four-way close; answers copied from tshark's fields
    bob     the server closes first; bob answers as if the client had (fails on teardown)
    carol   started tcpdump after the connection was open (mid-connection); no answers
    dave    a normal lab; erin submitted dave's capture file byte for byte, with his answers
    frank   submitted a text file instead of a capture
    grace   a normal lab, dated a year back with editcap -t (last year's capture, reused)

The answers are written from tshark's own fields (tests/tshark_reference.py), as a student
would read them off Wireshark: some raw, some relative, frames cited where the rubric asks.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NS_C, NS_S = "grading-c", "grading-s"
IF_C, IF_S = "grading-vc", "grading-vs"
CLIENT, SERVER = "10.99.0.1", "10.99.0.2"
WEB, PERSONAL = 80, 8443
BODY = bytes(
    i % 251 for i in range(9000)
)  # seven full segments at MSS 1460 (with timestamps: 1448)
REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
PASSIVE_CLOSE_DELAY = 0.2  # > Linux's delayed-ACK time: the close is four-way, not three-way
YEAR = 365 * 24 * 3600


def request(n: int = 1) -> bytes:
    head = f"POST /upload/{n} HTTP/1.1\r\nHost: {SERVER}\r\nContent-Length: {len(BODY)}\r\n\r\n"
    return head.encode() + BODY


# ---------------------------------------------------------------------------- the two roles


def recv_request(conn: socket.socket) -> None:
    want = len(request())
    got = b""
    while len(got) < want:
        chunk = conn.recv(65536)
        if not chunk:
            return
        got += chunk


def recv_all(sock: socket.socket) -> None:
    while sock.recv(65536):
        pass


def server(mode: str) -> None:
    """Run in grading-s: the web server on port 80 and the 'personal' service on 8443."""
    web = socket.create_server((SERVER, WEB))
    other = socket.create_server((SERVER, PERSONAL))
    print("ready", flush=True)
    conn, _ = other.accept()
    conn.sendall(conn.recv(100))
    recv_all(conn)
    conn.close()
    conn, _addr = web.accept()
    for _ in range(2 if mode == "midstream" else 1):
        recv_request(conn)
        conn.sendall(REPLY)
    if mode == "server_closes":
        conn.close()  # the server is the active closer
        return
    recv_all(conn)
    time.sleep(PASSIVE_CLOSE_DELAY)
    conn.close()


def client(mode: str) -> None:
    """Run in grading-c: the student's 'personal' connection, then the lab's upload."""
    with socket.create_connection((SERVER, PERSONAL)) as mine:
        mine.sendall(b"my own private traffic\n")
        mine.recv(100)
    time.sleep(0.1)
    web = socket.create_connection((SERVER, WEB))
    web.sendall(request())
    if mode == "midstream":
        web.recv(len(REPLY))
        print("connected", flush=True)
        sys.stdin.readline()  # the capture starts now
        web.sendall(request(2))
    if mode == "server_closes":
        recv_all(web)  # the server's FIN arrives first
        time.sleep(PASSIVE_CLOSE_DELAY)
    else:
        web.recv(len(REPLY))
        time.sleep(0.1)
    web.close()
    time.sleep(0.3)


# ---------------------------------------------------------------------------- orchestration


def sh(*cmd: str, check: bool = True) -> None:
    subprocess.run(cmd, check=check, capture_output=not check)


def namespaces_up() -> None:
    namespaces_down()
    sh("ip", "netns", "add", NS_C)
    sh("ip", "netns", "add", NS_S)
    sh(
        "ip",
        "link",
        "add",
        IF_C,
        "netns",
        NS_C,
        "type",
        "veth",
        "peer",
        "name",
        IF_S,
        "netns",
        NS_S,
    )
    sh("ip", "-n", NS_C, "addr", "add", f"{CLIENT}/24", "dev", IF_C)
    sh("ip", "-n", NS_S, "addr", "add", f"{SERVER}/24", "dev", IF_S)
    for ns, dev in ((NS_C, IF_C), (NS_S, IF_S)):
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        # No segmentation offload: each captured segment is at most one MSS, as on a wire.
        sh(
            "ip",
            "netns",
            "exec",
            ns,
            "ethtool",
            "-K",
            dev,
            "tso",
            "off",
            "gso",
            "off",
            "gro",
            "off",
            check=False,
        )
        sh("ip", "-n", ns, "link", "set", dev, "up")
    time.sleep(0.3)


def namespaces_down() -> None:
    sh("ip", "netns", "del", NS_C, check=False)
    sh("ip", "netns", "del", NS_S, check=False)


def role(ns: str, name: str, mode: str) -> subprocess.Popen[str]:
    cmd = [
        "ip",
        "netns",
        "exec",
        ns,
        sys.executable,
        "-u",
        str(Path(__file__).resolve()),
        name,
        mode,
    ]
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def tcpdump(path: Path) -> subprocess.Popen[str]:
    cmd = ["ip", "netns", "exec", NS_C, "tcpdump", "-i", IF_C, "-n", "-U", "--immediate-mode"]
    proc = subprocess.Popen(
        [*cmd, "-Z", "root", "-w", str(path), "tcp"], stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    if "listening" not in proc.stderr.readline():
        raise RuntimeError("tcpdump did not start")
    time.sleep(0.3)
    return proc


def lab(path: Path, mode: str) -> None:
    """One student's lab: namespaces up, server, capture, client, capture stopped, down."""
    namespaces_up()
    try:
        srv = role(NS_S, "server", mode)
        assert srv.stdout is not None
        assert srv.stdout.readline().strip() == "ready"
        if mode == "midstream":
            cli = role(NS_C, "client", mode)
            assert cli.stdout is not None and cli.stdin is not None
            assert cli.stdout.readline().strip() == "connected"
            cap = tcpdump(path)
            cli.stdin.write("go\n")
            cli.stdin.flush()
        else:
            cap = tcpdump(path)
            cli = role(NS_C, "client", mode)
        if cli.wait(30) or srv.wait(30):
            raise RuntimeError(f"lab {mode} failed")
        time.sleep(0.5)
        cap.send_signal(2)
        cap.wait(10)
    finally:
        namespaces_down()


def reference() -> object:
    spec = importlib.util.spec_from_file_location(
        "tshark_reference", ROOT / "tests" / "tshark_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def web_stream(capture: Path) -> int:
    out = subprocess.run(
        [
            "tshark",
            "-n",
            "-r",
            str(capture),
            "-Y",
            f"tcp.port == {WEB}",
            "-T",
            "fields",
            "-e",
            "tcp.stream",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return int(out[0])


def write_answers(capture: Path, target: Path, *, wrong_close: bool = False) -> None:
    """A student's answers copied out of tshark; wrong_close answers as if the client closed."""
    ref = reference()
    found = ref.answers(capture, web_stream(capture), WEB)  # type: ignore[attr-defined]
    rtts = [round(s * 1000, 4) for s, _ in found["sample_rtts"]]
    fin_sender = "client" if wrong_close else found["first_fin_sender"][0]
    plain = [
        "# My answers for the TCP lab (numbers read off Wireshark).",
        f"synack_seq = {found['synack_seq'][1]}   # relative: Wireshark's default display",
        f"client_mss = {found['client_mss']}",
        f"client_wscale = {found['client_wscale']}",
        f"handshake_rtt = {found['handshake_rtt'] * 1000:.4f}   # ms",
        f"sample_rtts = [{', '.join(map(str, rtts))}]   # ms",
        f"estimated_rtt = {ref.estimated(rtts):.4f}   # ms, alpha = 0.125",  # type: ignore[attr-defined]
        f"min_window = {found['min_window']}",
        f"retransmitted_frames = {found['retransmitted_frames'] or 'false'}",
        f"fin_seq = {found['fin_seq'][0]}",
        'teardown = "four-way"',
        'time_wait_side = "client"' if wrong_close else 'time_wait_side = "客户端"',
    ]
    tables = {  # answers citing a frame: value (raw or relative, as the student chose) + frame
        "client_isn": (found["client_isn"][0], found["client_isn"][2]),
        "synack_ack": (found["synack_ack"][1], found["synack_ack"][2]),
        "first_data_seq": (found["first_data_seq"][1], found["first_data_seq"][2]),
        "first_fin_sender": (f'"{fin_sender}"', found["first_fin_sender"][1]),
        "fin_ack": (found["fin_ack"][0], found["fin_ack"][2]),
    }
    lines = plain + [
        f"\n[{key}]\nvalue = {value}\nframe = {frame}" for key, (value, frame) in tables.items()
    ]
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")


def need() -> None:
    missing = [t for t in ("tcpdump", "ethtool", "editcap", "tshark") if not shutil.which(t)]
    packages = sorted({"editcap": "tshark"}.get(t, t) for t in missing)
    if packages:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True)


def make(out: Path) -> None:
    need()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in ("alice", "bob", "dave"):
        (out / name).mkdir()
    lab(out / "alice" / "alice-lab.pcap", "normal")
    write_answers(out / "alice" / "alice-lab.pcap", out / "alice" / "answers.toml")
    lab(out / "bob" / "capture.pcap", "server_closes")
    write_answers(out / "bob" / "capture.pcap", out / "bob" / "answers.toml", wrong_close=True)
    lab(out / "carol.pcap", "midstream")
    lab(out / "dave" / "tcp-lab.pcap", "normal")
    write_answers(out / "dave" / "tcp-lab.pcap", out / "dave" / "answers.toml")
    shutil.copytree(out / "dave", out / "erin")
    (out / "frank.pcapng").write_text(
        "I could not get Wireshark to run, sorry.\n", encoding="utf-8"
    )
    lab(out / "grace-raw.pcap", "normal")
    subprocess.run(
        ["editcap", "-t", str(-YEAR), str(out / "grace-raw.pcap"), str(out / "grace.pcap")],
        check=True,
    )
    (out / "grace-raw.pcap").unlink()


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] in ("server", "client"):
        (server if sys.argv[1] == "server" else client)(sys.argv[2])
    else:
        make(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "submissions")
