"""End to end through the real tshark: every verdict in sample_captures/README.md holds."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from pcapexplain import api
from pcapexplain.model import RETRANSMITTED, AnalysisFlag, Handshake, PacketRole, TcpFlags
from tests import shipped
from tests.findings import check_against_catalogue

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"
COLUMNS = (
    "file",
    "shows",
    "handshake",
    "teardown",
    "closed_first",
    "time_wait",
    "half_close",
    "anomalies",
)


def _rows() -> Iterator[dict[str, str]]:
    text = (SAMPLES / "README.md").read_text(encoding="utf-8")
    for line in text.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) != len(COLUMNS) or not re.search(r"\.pcap(ng)?(#\d+)?$", cells[0]):
            continue
        yield dict(zip(COLUMNS, cells, strict=True))


def _checksum_rows() -> dict[str, set[str]]:
    """The README's last table: what --check-checksums adds, per connection."""
    text = (SAMPLES / "README.md").read_text(encoding="utf-8")
    table = text.split("### With `--check-checksums`", 1)[1]
    added = {}
    for line in table.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and re.search(r"\.pcap(ng)?(#\d+)?$", cells[0]):
            added[cells[0]] = {s.strip() for s in cells[1].split(",")}
    return added


# Rows whose listed anomalies are right and the analysis is not yet: strict, so a fix shows.
KNOWN_WRONG = {
    "reset_by_middlebox.pcap": "retransmission: tshark takes the forged RSTs' sequence numbers "
    "as sent, so the server's next segment (frame 15), sent once, looks resent",
}
# Captures where tshark starts more streams than there are connections, and why.
MERGED_STREAMS = {
    # A SYN with a new ISN on an established connection (frame 20) starts a tshark stream; it
    # belongs to the connection it lands in (RFC 5961 §4 answers it there), as in Zeek.
    "crafted_protocol_violations.pcap": 1,
}
ROWS = [
    pytest.param(
        row,
        id=row["file"],
        marks=[pytest.mark.xfail(strict=True, reason=KNOWN_WRONG[row["file"]])]
        if row["file"] in KNOWN_WRONG
        else [],
    )
    for row in _rows()
]
CAPTURES = sorted(SAMPLES.glob("*.pcap*"))


@cache
def _analyse(name: str) -> api.Analysis:
    return api.analyse(SAMPLES / name)


def test_readme_has_a_row_for_every_capture() -> None:
    named = {row["file"].split("#")[0] for row in _rows()}
    assert CAPTURES, "no sample captures"
    assert named == {p.name for p in CAPTURES}
    assert set(KNOWN_WRONG) <= {row["file"] for row in _rows()}


@pytest.mark.tshark
@pytest.mark.parametrize("capture", CAPTURES, ids=[p.name for p in CAPTURES])
def test_readme_has_a_row_for_every_connection(capture: Path) -> None:
    rows = {row["file"] for row in _rows() if row["file"].split("#")[0] == capture.name}
    count = len(_analyse(capture.name).result.connections)
    expected = {capture.name} if count == 1 else {f"{capture.name}#{i}" for i in range(count)}
    assert rows == expected


@pytest.mark.tshark
@pytest.mark.parametrize("capture", CAPTURES, ids=[p.name for p in CAPTURES])
def test_every_finding_matches_its_catalogue_entry(capture: Path) -> None:
    for finding in _analyse(capture.name).anomalies:
        check_against_catalogue(finding)


@pytest.mark.tshark
@pytest.mark.parametrize("row", ROWS)
def test_sample_verdicts(row: dict[str, str]) -> None:
    name, _, index = row["file"].partition("#")
    analysis = _analyse(name)
    conn = analysis.connection(int(index or 0))
    got = {
        "handshake": conn.handshake.value,
        "teardown": conn.teardown.value,
        "closed_first": conn.closed_first.value,
        "time_wait": conn.time_wait.value,
        "half_close": "yes" if conn.half_close else "no",
    }
    expected = {key: row[key] for key in got}
    assert got == expected
    listed = _listed(row)
    found = {a.slug.value for a in analysis.result.anomalies_of(conn.id)}
    assert found == listed, f"missing {sorted(listed - found)}, unlisted {sorted(found - listed)}"


def _listed(row: dict[str, str]) -> set[str]:
    return {s.strip() for s in row["anomalies"].split(",") if s.strip() not in ("", "-")}


def _shipped_anomalies(capture: Path, *options: str) -> list[set[str]]:
    done = shipped.run("connections", str(capture), "--format", "json", *options)
    assert done.returncode == 0, done.stderr
    return [set(conn["anomalies"]) for conn in json.loads(done.stdout)]


@pytest.mark.tshark
@pytest.mark.parametrize("capture", CAPTURES, ids=[p.name for p in CAPTURES])
def test_check_checksums_adds_what_the_readme_says(capture: Path) -> None:
    """The shipped command: --check-checksums adds exactly the last table's anomalies (the
    rest is test_sample_verdicts' exact set)."""
    plain = _shipped_anomalies(capture)
    checked = _shipped_anomalies(capture, "--check-checksums")
    added = _checksum_rows()
    assert len(plain) == len(checked)
    for i, (without, with_) in enumerate(zip(plain, checked, strict=True)):
        key = capture.name if len(plain) == 1 else f"{capture.name}#{i}"
        assert with_ == without | added.get(key, set()), key
        assert not without & added.get(key, set()), key


def test_checksum_table_names_known_rows() -> None:
    added = _checksum_rows()
    assert added, "no --check-checksums table"
    assert set(added) <= {row["file"] for row in _rows()}


def _tshark_fields(path: Path, *fields: str) -> list[list[str]]:
    args = ["tshark", "-n", "-r", str(path), "-Y", "tcp && !icmp && !icmpv6", "-T", "fields"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


@pytest.mark.tshark
@pytest.mark.parametrize("capture", CAPTURES, ids=[p.name for p in CAPTURES])
def test_connection_count_matches_tshark_streams(capture: Path) -> None:
    """One connection per tshark stream, except a stale SYN-ACK and its RST seen at the client:
    tshark keeps them in the client's stream; they are a connection of their own, as at the
    server (RFC 9293 Fig. 8), so they share the stream of the client's real connection."""
    streams = {row[0] for row in _tshark_fields(capture, "tcp.stream")}
    result = _analyse(capture.name).result
    connections = result.connections
    # A reconnecting client's SYN (a new ISN on an established connection) starts a tshark
    # stream, but lands in the old connection (RFC 5961 §4 answers it there); the connection its
    # retransmission opens shares that stream, as a stale SYN-ACK's does.
    restarted = {a.connection for a in result.anomalies if a.slug.value == "syn-in-established"}
    reopened = {
        c.id
        for c in connections
        for o in connections
        if o.id in restarted and set(o.tshark_streams) & set(c.tshark_streams)
    }
    sharing = [
        c
        for c in connections
        if any(o is not c and set(o.tshark_streams) & set(c.tshark_streams) for o in connections)
        and c.id not in reopened
    ]
    assert all(c.handshake is Handshake.OLD_DUPLICATE for c in sharing[1::2]), sharing
    merged = MERGED_STREAMS.get(capture.name, 0)
    assert len(connections) == len(streams) + len(sharing) // 2 - merged


@pytest.mark.tshark
@pytest.mark.parametrize("capture", CAPTURES, ids=[p.name for p in CAPTURES])
def test_retransmission_counts_match_tshark(capture: Path) -> None:
    rows = _tshark_fields(capture, "frame.number", "tcp.analysis.retransmission")
    result = _analyse(capture.name).result
    # Second copies of a packet captured twice are left out (copies.py): tshark calls them
    # retransmissions, and they are no packets of their own.
    left_out = {int(frame) for frame, _ in rows} - set(result.packets.frame)
    theirs = {int(frame) for frame, flag in rows if flag} - left_out
    ours = {
        frame
        for frame, bits in zip(result.packets.frame, result.packets.analysis, strict=True)
        if bits & AnalysisFlag.RETRANSMISSION
    }
    assert ours == theirs
    flagged = [r for r, bits in enumerate(result.packets.analysis) if bits & RETRANSMITTED]
    # Corrected mislabel: a simultaneous open's SYN-ACKs (one or two) repeat their sender's SYN
    # sequence number, so tshark flags each; they are first sends, not retransmissions.
    mislabels = [r for r in flagged if result.states.role[r] == PacketRole.SYN_ACK]
    opens = [c for c in result.connections if c.handshake is Handshake.SIMULTANEOUS_OPEN]
    synacks = [
        r for c in opens for r in c.packet_index if result.states.role[r] == PacketRole.SYN_ACK
    ]
    assert sorted(mislabels) == sorted(synacks)
    # A reconnecting client's SYN is told in the old connection, which it finds established
    # (RFC 5961 §4); the copy it resends after the challenge ACK opens the next one, first there.
    p = result.packets
    in_old = {
        (p.src[r], p.sport[r], p.seq[r])
        for r, role in enumerate(result.states.role)
        if p.flags[r] == TcpFlags.SYN and role == PacketRole.OTHER
    }
    reopening = [
        r
        for r in flagged
        if result.states.role[r] == PacketRole.SYN and (p.src[r], p.sport[r], p.seq[r]) in in_old
    ]
    counted = sum(
        c.to_server.retransmissions + c.to_client.retransmissions for c in result.connections
    )
    assert counted == len(flagged) - len(mislabels) - len(reopening)
