"""The loader against the real tshark: formats, damaged files, a hostile profile, and reaping."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pcapexplain import loader
from pcapexplain.errors import TsharkFailed, TsharkMissing, TsharkTooOld
from pcapexplain.model import COLUMN_NAMES, Capture

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"
LOSSY = SAMPLES / "lossy_transfer.pcap"

pytestmark = pytest.mark.tshark


def _rows(capture: Capture) -> list[tuple[object, ...]]:
    p = capture.packets
    return list(zip(*(getattr(p, name) for name in COLUMN_NAMES), strict=True))


def test_columns_are_typed_and_aligned() -> None:
    capture = loader.load_capture(LOSSY)
    p = capture.packets
    assert len(p) == capture.info.total_frames > 100
    assert {len(getattr(p, n)) for n in COLUMN_NAMES} == {len(p)}
    assert all(isinstance(v, int) for v in (p.seq[0], p.flags[0], p.analysis[0]))
    assert p.src[0] == "10.77.0.1" and p.flags[0] == 0x002  # the client's SYN
    assert p.mss[0] == 1460 and p.sack_perm[0] == 1
    assert any(p.analysis), "tshark's analysis flags must be read"
    assert capture.info.tshark_version.startswith(tuple("0123456789"))
    assert len(capture.info.sha256) == 64


def test_gzip_and_pcapng_read_the_same(tmp_path: Path) -> None:
    plain = _rows(loader.load_capture(LOSSY))
    gz = tmp_path / "lossy.pcap.gz"
    gz.write_bytes(gzip.compress(LOSSY.read_bytes()))
    ng = tmp_path / "lossy.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", str(LOSSY), str(ng)], check=True)
    assert _rows(loader.load_capture(gz)) == plain
    assert _rows(loader.load_capture(ng)) == plain


def test_truncated_capture_is_read_up_to_the_cut(tmp_path: Path) -> None:
    cut = tmp_path / "cut.pcap"
    data = LOSSY.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    capture = loader.load_capture(cut)
    assert 0 < len(capture.packets) < len(loader.load_capture(LOSSY).packets)
    assert capture.info.truncated_at == capture.packets.frame[-1]
    assert "cut short" in capture.info.warnings[0]


def test_user_profile_cannot_change_the_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _rows(loader.load_capture(LOSSY))
    profile = tmp_path / ".config" / "wireshark"
    profile.mkdir(parents=True)
    (profile / "preferences").write_text(
        "tcp.analyze_sequence_numbers: FALSE\n"
        "tcp.relative_sequence_numbers: FALSE\n"
        'gui.column.format: "No.", "%m"\n'
    )
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("WIRESHARK_CONFIG_DIR", str(profile))
    assert _rows(loader.load_capture(LOSSY)) == expected


def test_command_pins_preferences_and_disables_name_resolution() -> None:
    command = loader.tshark_command("tshark", "x.pcap", validate_checksums=False)
    assert "-n" in command
    joined = " ".join(command)
    assert "tcp.analyze_sequence_numbers:TRUE" in joined
    assert "tcp.check_checksum:FALSE" in joined


@pytest.fixture(autouse=True)
def _fresh_tshark_lookup() -> Iterator[None]:
    """tshark_info() is cached per process; tests that fake tshark need a fresh look-up."""
    loader.tshark_info.cache_clear()
    yield
    loader.tshark_info.cache_clear()


def test_tshark_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from pyshark.tshark import tshark as pyshark_tshark

    def missing(*_: object, **__: object) -> str:
        raise pyshark_tshark.TSharkNotFoundException("not found")

    monkeypatch.setattr(pyshark_tshark, "get_process_path", missing)
    with pytest.raises(TsharkMissing) as err:
        loader.load_capture(LOSSY)
    assert "apt-get install" in (err.value.hint or "")


def test_tshark_too_old(monkeypatch: pytest.MonkeyPatch) -> None:
    from pyshark.tshark import tshark as pyshark_tshark

    monkeypatch.setattr(pyshark_tshark, "get_tshark_version", lambda *_: "2.6.20")
    with pytest.raises(TsharkTooOld):
        loader.load_capture(LOSSY)


def test_tshark_crash_is_an_error_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    crash = ["sh", "-c", "echo 'boom' >&2; kill -SEGV $$"]
    monkeypatch.setattr(loader, "tshark_command", lambda *_, **__: crash)
    with pytest.raises(TsharkFailed) as err:
        loader.load_capture(LOSSY)
    assert "crashed" in err.value.message


def _tshark_children(marker: str) -> list[str]:
    out = subprocess.run(["pgrep", "-a", "-x", "tshark"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if marker in line]


@pytest.mark.skipif(shutil.which("pgrep") is None, reason="pgrep (procps) is not installed")
def test_ctrl_c_leaves_no_tshark_behind(tmp_path: Path) -> None:
    big = tmp_path / "ctrl_c_big.pcap"
    # Enough packets that tshark is still running when the interrupt comes.
    subprocess.run(
        [sys.executable, "benchmarks/generate.py", str(big), "--packets", "150000"],
        check=True,
        capture_output=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "pcapexplain", "connections", str(big), "-f", "json"]
        + ["--reader", "tshark"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not _tshark_children(big.name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _tshark_children(big.name), "tshark never started"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    time.sleep(0.2)
    assert _tshark_children(big.name) == []


@pytest.mark.may_skip  # root reads any file: the check cannot be made as root
def test_unreadable_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("running as root: file permissions do not stop reading")
    locked = tmp_path / "locked.pcap"
    locked.write_bytes(LOSSY.read_bytes())
    locked.chmod(0)
    from pcapexplain.errors import CaptureUnreadable

    with pytest.raises(CaptureUnreadable):
        loader.load_capture(locked)


def test_every_numeric_field_names_one_occurrence() -> None:
    """Why one parser suffices: tshark prints one value per numeric column, never "1460,1400"."""
    for name, spec, kind in loader._FIELDS:
        if kind in ("int", "float", "number") and not spec.startswith("frame."):
            assert spec.split(":")[1:2] in (["1"], ["-1"]), (name, spec)


def test_repeated_options_and_quoted_icmp_are_read_by_the_one_parser(tmp_path: Path) -> None:
    """Two MSS, window-scale and timestamp options in one SYN, and an ICMP error quoting an ICMP
    message (two icmp.type values): the first option counts; the ICMP packet is no TCP segment."""
    from scapy.layers.inet import ICMP, IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    syn = TCP(
        sport=40000,
        dport=80,
        flags="S",
        seq=1000,
        options=[("MSS", 1460), ("MSS", 1400), ("WScale", 7), ("WScale", 2),
                 ("Timestamp", (11, 0)), ("Timestamp", (22, 0))],
    )  # fmt: skip
    quoted = IP(src="10.0.0.2", dst="10.0.0.1") / ICMP(type=8)
    frames = [
        Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / syn,
        Ether() / IP(src="10.0.0.9", dst="10.0.0.1") / ICMP(type=3, code=1) / quoted,
    ]
    for i, frame in enumerate(frames):
        frame.time = 1_700_000_000 + i
    capture = tmp_path / "repeated.pcap"
    wrpcap(str(capture), frames)
    p = loader.load_capture(capture).packets
    assert len(p) == 1
    assert (p.mss[0], p.wscale[0], p.tsval[0]) == (1460, 7, 11)


def test_unreadable_output_is_an_error_and_tshark_runs_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs: list[list[str]] = []
    bad = ["sh", "-c", "printf 'one\\tnot a number\\n'"]
    monkeypatch.setattr(loader, "tshark_command", lambda *_, **__: bad)
    real_run = loader._run

    def counted(command: list[str], consume: object, status: object) -> str:
        runs.append(command)
        return real_run(command, consume, status)  # type: ignore[arg-type]

    monkeypatch.setattr(loader, "_run", counted)
    with pytest.raises(TsharkFailed) as err:
        loader.load_capture(LOSSY)
    assert "could not be read" in err.value.message
    assert len(runs) == 1


@pytest.mark.parametrize("capture", sorted(SAMPLES.glob("*.pcap")), ids=lambda p: p.name)
def test_one_pass_gives_the_same_analysis_flags_as_two(capture: Path) -> None:
    """Why the loader skips `-2` (25-35 % of tshark's time): the tcp.analysis.* flags it reads
    are decided from earlier packets only, so the second pass changes none of them. Fields that
    look ahead, such as tcp.completeness, are not read. One exception, which no stage uses:
    with `-2`, tcp.analysis.reused_ports also marks a stale SYN-ACK that a later SYN-ACK with
    another ISN follows (crafted_old_duplicate_syn_at_client.pcap). And tcp.seq, read only from
    an ICMP error's quoted header (seq_in_error): in a stream tshark starts at a reconnecting
    client's SYN, the server's challenge ACK is numbered from that stream's later SYN-ACK with
    `-2` (client_reconnects.pcap)."""
    one = loader.tshark_command("tshark", str(capture), validate_checksums=False)
    two = [*one[:1], "-2", *one[1:]]
    names = [name for name, _, _ in loader._FIELDS]
    quoted, icmp = names.index("seq_in_error"), (names.index("icmp"), names.index("icmp6"))

    def compared(line: bytes) -> bytes:
        fields = line.rsplit(b"\t", 1)[0].split(b"\t")
        if not any(fields[i] for i in icmp):
            fields[quoted] = b""
        return b"\t".join(fields)

    outputs = [
        [
            compared(line)
            for line in subprocess.run(c, capture_output=True, check=True).stdout.splitlines()
        ]
        for c in (one, two)
    ]
    assert loader._ANALYSIS_FIELDS[-1] == "tcp.analysis.reused_ports"  # the column left out
    assert outputs[0] == outputs[1]


def test_one_pass_equals_two_on_the_zeek_corpus(zeek_corpus: Path) -> None:
    for trace in sorted((zeek_corpus / "traces").iterdir()):
        one = loader.tshark_command("tshark", str(trace), validate_checksums=True)
        two = [*one[:1], "-2", *one[1:]]
        outputs = [subprocess.run(c, capture_output=True, check=True).stdout for c in (one, two)]
        assert outputs[0] == outputs[1], trace.name


def test_every_zeek_corpus_trace_loads(zeek_corpus: Path) -> None:
    """Ethernet, 802.1Q VLAN and Linux cooked captures, pcap and pcapng."""
    for trace in sorted((zeek_corpus / "traces").iterdir()):
        capture = loader.load_capture(trace)
        assert len(capture.packets) > 0, trace.name
        assert capture.info.warnings == (), trace.name


def _fields_but_short(command: list[str]) -> list[list[bytes]]:
    """tshark's output without the `_ws.short` column: an application dissector that runs out of
    captured payload marks the frame short too, and the reader relies on data mode, where only
    the TCP header can (tests/test_snaplen.py checks the marks against the file's bytes)."""
    short = [name for name, _, _ in loader._FIELDS].index("short")
    lines = subprocess.run(command, capture_output=True, check=True).stdout.splitlines()
    return [[v for k, v in enumerate(ln.split(b"\t")) if k != short] for ln in lines]


def _with_and_without_data_mode(capture: Path, validate: bool) -> list[list[list[bytes]]]:
    fast = loader.tshark_command("tshark", str(capture), validate_checksums=validate)
    i = fast.index("-d")
    return [_fields_but_short(c) for c in (fast, fast[:i] + fast[i + 2 :])]


@pytest.mark.parametrize("capture", sorted(SAMPLES.glob("*.pcap")), ids=lambda p: p.name)
def test_payload_as_data_changes_no_field(capture: Path) -> None:
    """Why every TCP payload is decoded as plain data: ~15 % faster, and no field changes."""
    fast, full = _with_and_without_data_mode(capture, validate=False)
    assert fast == full


def test_payload_as_data_changes_no_field_on_the_zeek_corpus(zeek_corpus: Path) -> None:
    """HTTP, TLS, SSH, FTP, POP3, IRC and Kerberos payloads: the TCP fields stay the same."""
    for trace in sorted((zeek_corpus / "traces").iterdir()):
        fast, full = _with_and_without_data_mode(trace, validate=True)
        assert fast == full, trace.name
