"""The native reader gives what the tshark reader gives: connections, anomalies, Zeek rows, story.

Both readers run on every sample capture, every trace of the Zeek corpus (in the checksum mode
Zeek used), the link-type captures of test_link_types, the tcpdump corpus, and generated
captures (scenarios.py, benchmarks/generate.py, and seeded mutations of both). The results must be
identical: every column of the JSON contract but the reader fields, every anomaly with its frames
and parameters, every Zeek row, and the narrative in both languages. A difference is allowed only
when tests/native_differences.csv lists it with its reason; the list is checked both ways.

A capture the native reader declines (a link type or an encapsulation it does not follow) is no
difference: `auto` reads it with tshark. Those are counted and named in the test output.
"""

from __future__ import annotations

import csv
import gzip
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pcapexplain import (
    api,
    capfile,
    connlog,
    copies,
    decode,
    narrate,
    native,
    readers,
    records,
    tcpfast,
)
from pcapexplain.errors import NativeUnsupported, PcapExplainError
from pcapexplain.model import CaptureAnalysis, Reader
from tests import scenarios

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_captures"
DIFFERENCES = Path(__file__).with_name("native_differences.csv")
READER_FIELDS = ("reader", "tshark_version")
pytestmark = pytest.mark.tshark


def _analysis(path: Path, reader: Reader, validate: bool) -> CaptureAnalysis:
    """The analysis by one reader; the native one declines (NativeUnsupported) as in auto."""
    if reader is Reader.NATIVE:  # readers.load, declining where auto falls back to tshark
        loaded = native.load_capture(path, validate_checksums=validate, strict=True)
        capture = copies.without_copies(loaded)
    else:
        capture = readers.load(path, reader=reader, validate_checksums=validate)
    return api.analyse_capture(capture, checksums_validated=validate)


def _views(result: CaptureAnalysis, name: str, validate: bool) -> dict[str, Any]:
    """Everything a user can see, minus what names the reader."""
    rows = [
        {k: v for k, v in row.to_json_dict().items() if k not in READER_FIELDS}
        for row in records.connection_records(result, name)
    ]
    findings = [
        (a.slug, a.severity.value, a.connection, a.frames, sorted(a.params.items()))
        for a in result.anomalies
    ]
    story = []
    for conn in result.connections:
        for lang in ("en", "zh"):
            story.append(narrate.connection_header(conn, lang))
            found = result.anomalies_of(conn.id)
            lines = narrate.narrate(result.packets, result.states, conn, lang, found)
            story.extend(narrate.format_line(line, lang) for line in lines)
    return {
        "connections": rows,
        "anomalies": findings,
        "zeek": connlog.rows(result.packets, result.states, checksums_validated=validate),
        "narrative": story,
        "warnings": result.capture.warnings,
        "frames": result.capture.total_frames,
    }


def differences(path: Path, *, validate: bool = False) -> list[str]:
    """What the two readers' results disagree on ([] when identical); raises NativeUnsupported."""
    try:
        ours = _analysis(path, Reader.NATIVE, validate)
    except NativeUnsupported:
        raise
    except PcapExplainError as exc:
        with pytest.raises(type(exc)):
            _analysis(path, Reader.TSHARK, validate)
        return []
    theirs = _analysis(path, Reader.TSHARK, validate)
    a, b = _views(ours, path.name, validate), _views(theirs, path.name, validate)
    return [f"{key}: {_first_difference(a[key], b[key])}" for key in a if a[key] != b[key]]


def _first_difference(ours: Any, theirs: Any) -> str:
    if isinstance(ours, list) and isinstance(theirs, list):
        if len(ours) != len(theirs):
            return f"{len(ours)} native vs {len(theirs)} tshark"
        for i, (x, y) in enumerate(zip(ours, theirs, strict=True)):
            if x != y:
                if isinstance(x, dict) and isinstance(y, dict):
                    keys = [k for k in x if x.get(k) != y.get(k)]
                    return f"row {i}: " + ", ".join(f"{k}={x[k]!r} vs {y[k]!r}" for k in keys)
                return f"item {i}: {x!r} vs {y!r}"
    return f"{ours!r} vs {theirs!r}"


def _listed() -> dict[tuple[str, str], str]:
    with DIFFERENCES.open(encoding="utf-8") as handle:
        return {(r["capture"], r["aspect"]): r["reason"] for r in csv.DictReader(handle)}


def _check(path: Path, *, validate: bool = False, label: str | None = None) -> None:
    """Assert equivalence, or exactly the listed differences with their reasons."""
    name = label or path.name
    found = {d.split(":", 1)[0]: d for d in differences(path, validate=validate)}
    listed = {aspect: reason for (capture, aspect), reason in _listed().items() if capture == name}
    assert all(reason.strip() for reason in listed.values())
    assert sorted(found) == sorted(listed), f"{name}: {list(found.values())}"


# ---------------------------------------------------------------------------------- samples


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*.pcap*")))
def test_samples(name: str) -> None:
    _check(SAMPLES / name)


@pytest.mark.parametrize("name", ["lossy_transfer.pcap", "zero_window.pcap"])
def test_samples_with_checksums_validated(name: str) -> None:
    _check(SAMPLES / name, validate=True, label=f"{name} (checksums)")


# ------------------------------------------------------------------------------ Zeek corpus


def test_zeek_corpus(zeek_corpus: Path) -> None:
    traces = list(csv.DictReader((zeek_corpus / "traces.csv").open(encoding="utf-8")))
    for info in traces:
        validated = info["zeek_checksums"] == "validated"
        _check(zeek_corpus / "traces" / info["trace"], validate=validated)
    assert len(traces) >= 12


# ------------------------------------------------------------------------- tcpdump corpus


def test_tcpdump_corpus(tcpdump_corpus: Path) -> None:
    """Every trace the native reader takes is equivalent; the rest are read by tshark in auto."""
    corpus = tcpdump_corpus
    names = [r["trace"] for r in csv.DictReader((corpus / "files.csv").open(encoding="utf-8"))]
    declined: dict[str, str] = {}
    for name in names:
        try:
            _check(corpus / "traces" / name)
        except NativeUnsupported as exc:
            declined[name] = exc.message
    compared = len(names) - len(declined)
    sys.stderr.write(f"\ntcpdump corpus: {compared} equivalent, {len(declined)} read by tshark\n")
    for name, why in sorted(declined.items()):
        sys.stderr.write(f"  {name}: {why}\n")
    assert compared >= 90  # every claimed link type without a tunnel (93 of 118 when written)


# ---------------------------------------------------------------------- link-type captures


def test_link_type_captures(tmp_path: Path) -> None:
    """test_link_types' encapsulations: the native ones equivalent, the others left to tshark."""
    link_types = pytest.importorskip("tests.test_link_types")
    native_kinds = {"raw-ip", "linux-cooked", "bsd-loopback", "vlan", "qinq"}
    for name in link_types.WRAPS:
        path = link_types.wrapped(name, tmp_path)
        if name in native_kinds:
            _check(path, label=f"link type {name}")
        else:
            with pytest.raises(NativeUnsupported):
                native.load_capture(path, strict=True)
            assert readers.load(path, reader=Reader.AUTO).info.reader == Reader.TSHARK.value


# ----------------------------------------------------------------------- generated captures


def _generated(folder: Path) -> Iterator[tuple[str, Path]]:
    for name in scenarios.SCENARIOS:
        source = scenarios.build(name, folder)
        yield name, source
        for seed in range(4):
            mutated = folder / f"{name}-m{seed}.pcap"
            yield f"{name} mutated {seed}", scenarios.mutate(source, mutated, seed)


def test_generated_scenarios(tmp_path: Path) -> None:
    for label, path in _generated(tmp_path):
        _check(path, label=label)


def test_benchmark_generator(tmp_path: Path) -> None:
    """benchmarks/generate.py: loss before and after the capture point, SACK, IPv6, every close."""
    path = tmp_path / "generated.pcap"
    script = ROOT / "benchmarks" / "generate.py"
    command = [sys.executable, str(script), str(path), "--connections", "150", "--seed", "7"]
    subprocess.run(command, check=True, capture_output=True)
    _check(path, label="benchmarks/generate.py --connections 150 --seed 7")
    for seed in range(3):
        mutated = scenarios.mutate(path, tmp_path / f"m{seed}.pcap", seed)
        _check(mutated, label=f"benchmarks/generate.py mutated {seed}")


def _damaged(folder: Path) -> Iterator[tuple[str, Path]]:
    """Bad input: cut files, damaged records and blocks, an unknown link type mid-file."""
    good = (SAMPLES / "lossy_transfer.pcap").read_bytes()
    starts, pos = [], 24
    while pos + 16 <= len(good):
        starts.append(pos)
        pos += 16 + struct.unpack_from("<I", good, pos + 8)[0]
    huge = bytearray(good)
    struct.pack_into("<I", huge, starts[4] + 8, 400_000)
    longer = bytearray(good)
    struct.pack_into(
        "<I", longer, starts[2] + 12, struct.unpack_from("<I", good, starts[2] + 8)[0] - 10
    )
    cases = {
        "empty": b"",
        "three bytes": good[:3],
        "text": b"not a capture at all\n" * 20,
        "header only": good[:24],
        "header cut": good[:20],
        "cut mid-record": good[:3000],
        "huge record": bytes(huge),
        "captured longer than wire": bytes(longer),
        "gzip cut": gzip.compress(good)[:2500],
        "pcapng": _pcapng(good),
        "pcapng cut": _pcapng(good)[:-100],
        "pcapng bad block": _pcapng(good, damage=6),
        "pcapng unknown link type mid-file": _pcapng(good, second_linktype=65000),
    }
    for label, data in cases.items():
        path = folder / f"{label.replace(' ', '_')}.bin"
        path.write_bytes(data)
        yield label, path


def _pcapng(pcap: bytes, *, damage: int = -1, second_linktype: int = 0) -> bytes:
    """A pcap's records as pcapng EPBs; damage=N breaks block N's trailer; a second interface
    with another link type, when given, carries every other packet."""

    def block(kind: int, body: bytes, trailer_delta: int = 0) -> bytes:
        body += b"\x00" * (-len(body) % 4)
        size = 12 + len(body)
        return struct.pack("<II", kind, size) + body + struct.pack("<I", size + trailer_delta)

    out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
    out.append(block(1, struct.pack("<HHI", 1, 0, 0)))
    pos, index = 24, 0
    while pos + 16 <= len(pcap):
        sec, usec, incl, orig = struct.unpack_from("<IIII", pcap, pos)
        if second_linktype and index == 3:
            out.append(block(1, struct.pack("<HHI", second_linktype, 0, 0)))
        iface = 1 if second_linktype and index > 3 and index % 2 else 0
        ts = sec * 1_000_000 + usec
        body = struct.pack("<IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, incl, orig)
        out.append(block(6, body + pcap[pos + 16 : pos + 16 + incl], 4 if index == damage else 0))
        pos += 16 + incl
        index += 1
    return b"".join(out)


def test_bad_input_gets_the_same_errors_and_warnings(tmp_path: Path) -> None:
    """The same error class, or the same results with the same cut-short warning and frame."""
    declined = []
    for label, path in _damaged(tmp_path):
        try:
            _check(path, label=f"bad input: {label}")
        except NativeUnsupported:
            declined.append(label)
            try:
                info = readers.load(path).info
            except PcapExplainError as exc:  # auto gives tshark's error
                with pytest.raises(type(exc)):
                    readers.load(path, reader=Reader.TSHARK)
            else:
                assert info.reader == Reader.TSHARK.value, label
    assert declined == ["three bytes", "text", "pcapng unknown link type mid-file"]


def _stream_and_flags(path: Path, *, fast: bool) -> tuple[list[int], list[int]]:
    collected = native._Collected()
    for block in capfile.read_records(path, capfile.FileSummary()):
        collected.add(decode.decode(block, validate_checksums=False))
    packets = collected.columns(fast=fast)
    return list(packets.stream), list(packets.analysis)


def test_fast_path_matches_the_reference_loop(tmp_path: Path) -> None:
    """tcpfast (in-order 4-tuples, vectorised) against tcpanalysis alone, header by header."""
    sources = [path for _, path in _generated(tmp_path)]
    sources += [SAMPLES / name for name in ("lossy_transfer.pcap", "port_reuse_time_wait.pcap")]
    generated = tmp_path / "generated.pcap"
    script = ROOT / "benchmarks" / "generate.py"
    command = [sys.executable, str(script), str(generated), "--connections", "300", "--seed", "3"]
    subprocess.run(command, check=True, capture_output=True)
    sources.append(generated)
    for seed in range(6):
        sources.append(scenarios.mutate(generated, tmp_path / f"g{seed}.pcap", seed))
    for path in sources:
        assert _stream_and_flags(path, fast=True) == _stream_and_flags(path, fast=False), path


def test_fast_path_in_small_groups_matches_the_reference_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tcpfast takes the 4-tuples a group at a time: with groups of a few dozen headers (a
    4-tuple longer than that makes a group alone) it still agrees with the reference loop."""
    generated = tmp_path / "generated.pcap"
    script = ROOT / "benchmarks" / "generate.py"
    command = [sys.executable, str(script), str(generated), "--connections", "200", "--seed", "5"]
    subprocess.run(command, check=True, capture_output=True)
    sources = [generated, scenarios.mutate(generated, tmp_path / "m.pcap", 1)]
    sources += [SAMPLES / name for name in ("lossy_transfer.pcap", "port_reuse_time_wait.pcap")]
    reference = {path: _stream_and_flags(path, fast=False) for path in sources}
    monkeypatch.setattr(tcpfast, "_CHUNK", 40)
    for path in sources:
        assert _stream_and_flags(path, fast=True) == reference[path], path


@pytest.mark.parametrize("top", [1, 3, 1 << 16, 70_000, 1 << 33])
def test_stable_order_is_numpys_stable_argsort(top: int) -> None:
    """tcpfast.stable_order sorts 16 bits at a time; it must give np.argsort's stable order,
    ties in their original order, whatever the keys' width."""
    rng = np.random.default_rng(top)
    for n in (0, 1, 7, 50_000):
        keys = rng.integers(0, top, n)
        expected = np.argsort(keys, kind="stable")
        assert np.array_equal(tcpfast.stable_order(keys), expected), (top, n)


def test_every_listed_difference_has_a_reason() -> None:
    listed = _listed()
    assert all(reason.strip() for reason in listed.values())
