"""Discovery: captures recognised by content, other files skipped with a reason, safe names."""

from __future__ import annotations

import gzip
import os
import re
import struct
from pathlib import Path

import pytest

from pcapexplain.discovery import (
    CaptureFormat,
    discover,
    named_like_capture,
    output_stems,
    sniff,
)

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"
PCAP = (SAMPLES / "refused.pcap").read_bytes()


def _pcap_header(magic: int, endian: str) -> bytes:
    # pcap-savefile(5): magic, version 2.4, thiszone, sigfigs, snaplen, linktype (Ethernet)
    return struct.pack(f"{endian}IHHiIII", magic, 2, 4, 0, 0, 65535, 1)


def _pcapng_header(endian: str) -> bytes:
    # Section Header Block: type, length, byte-order magic, version 1.0, section length -1
    return struct.pack(f"{endian}IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (_pcap_header(0xA1B2C3D4, "<"), CaptureFormat.PCAP),
        (_pcap_header(0xA1B2C3D4, ">"), CaptureFormat.PCAP),
        (_pcap_header(0xA1B23C4D, "<"), CaptureFormat.PCAP_NS),
        (_pcap_header(0xA1B23C4D, ">"), CaptureFormat.PCAP_NS),
        (_pcapng_header("<"), CaptureFormat.PCAPNG),
        (_pcapng_header(">"), CaptureFormat.PCAPNG),
        (b"hello, this is text\n", None),
        (b"", None),
        (b"\x0a\x0d\x0d\x0a" + b"\0" * 12, None),  # a CR/LF start without the byte-order magic
    ],
    ids=["pcap-le", "pcap-be", "ns-le", "ns-be", "pcapng-le", "pcapng-be", "text", "empty", "crlf"],
)
def test_sniff_knows_every_capture_magic(head: bytes, expected: CaptureFormat | None) -> None:
    assert sniff(head) is expected


def test_the_sample_capture_is_little_endian_pcap() -> None:
    assert sniff(PCAP[:16]) is CaptureFormat.PCAP


@pytest.mark.parametrize(
    ("name", "claimed"),
    [
        ("lab.pcap", True),
        ("LAB.PCAPNG", True),
        ("x.cap.gz", True),
        ("lab.pcap.gz", True),
        ("notes.txt", False),
        ("lab.pcap.txt", False),
        ("pcap", False),
    ],
)
def test_names_that_claim_a_capture(name: str, claimed: bool) -> None:
    assert named_like_capture(name) is claimed


def test_output_stems_are_safe_unique_and_stable() -> None:
    names = [
        "a/lab.pcap",
        "b/lab.pcap",
        "lab.pcap",
        "lab.pcapng",
        "a b.pcap",
        "a_b.pcap",
        "实验-café.pcap",
        "<script>alert(1).pcap",
        ".hidden.pcap",
        "Lab.pcap",
        "x" * 300 + ".pcap",
        "a--lab.pcap",  # the flat name of a/lab.pcap, taken by a real file
    ]
    stems = output_stems(names)
    assert set(stems) == set(names)
    values = list(stems.values())
    assert len({v.casefold() for v in values}) == len(values), stems
    for stem in values:
        assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*", stem), stem
        assert len(stem) <= 140
    assert stems["b/lab.pcap"] == "b--lab.pcap"  # plain names stay readable
    assert stems["a--lab.pcap"] == "a--lab.pcap"  # sorted first, it keeps its name...
    assert stems["a/lab.pcap"] == "a--lab.pcap-2"  # ...and the folder's file gets a number
    assert stems["lab.pcap"] != stems["lab.pcapng"]
    assert stems["a b.pcap"] != stems["a_b.pcap"]
    assert output_stems(list(reversed(names))) == stems


def test_discover_by_content_and_reasons_for_the_rest(tmp_path: Path) -> None:
    (tmp_path / "lab.pcap").write_bytes(PCAP)
    (tmp_path / "no_extension").write_bytes(PCAP)  # found by content alone
    (tmp_path / "zipped.bin.gz").write_bytes(gzip.compress(PCAP))
    (tmp_path / "notes.txt").write_text("not a capture\n")
    (tmp_path / "words.gz").write_bytes(gzip.compress(b"just words"))
    (tmp_path / "broken.gz").write_bytes(b"\x1f\x8b\x08garbage")
    (tmp_path / "empty.dat").write_bytes(b"")
    (tmp_path / "text.pcap").write_text("a text file with a capture's name\n")
    (tmp_path / "fifo.pcap").parent.mkdir(exist_ok=True)
    os.mkfifo(tmp_path / "fifo.pcap")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inner.pcapng").write_bytes(PCAP)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "packed.pcap").write_bytes(PCAP)
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)

    flat = discover(tmp_path, recursive=False)
    found = {f.capture: f for f in flat.captures}
    assert set(found) == {"lab.pcap", "no_extension", "zipped.bin.gz", "text.pcap"}
    assert found["zipped.bin.gz"].gzipped and found["zipped.bin.gz"].weight == len(PCAP)
    assert found["text.pcap"].format is CaptureFormat.UNKNOWN  # analysed, to get its error
    reasons = {s.capture: s.reason for s in flat.skipped}
    assert reasons == {
        "notes.txt": "not a capture: no pcap or pcapng header",
        "words.gz": "gzip file that does not hold a pcap or pcapng capture",
        "broken.gz": "damaged gzip file",
        "empty.dat": "empty file",
        "fifo.pcap": "not a regular file (a pipe, socket or device)",
    }
    assert flat.unsearched_folders == 1  # sub; hidden folders and symlinks are not counted

    deep = discover(tmp_path, recursive=True, exclude=[tmp_path / "lab.pcap"])
    names = [f.capture for f in deep.captures]
    assert names == sorted(names)
    assert "sub/inner.pcapng" in names and "lab.pcap" not in names
    assert not any(n.startswith((".git", "loop")) for n in names)
