"""The native reader's TCP analysis with and without its skips, header by header.

tcpfast.ordinary lets runs of ordinary segments skip tcpanalysis's rules when the loop finds the
state it assumed (tcpanalysis.Skips). These tests run the loop with the skips and without them
(every header through the rules) and require the same conversation and flags for every header:
on hand-built header lists rich in what a skip must not swallow (loss, reordering, duplicate
ACKs, zero windows and probes, keep-alives, window-full segments, port reuse, repeated SYNs,
sequence numbers about to wrap), on the sample captures, and on generated and mutated captures.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pcapexplain import capfile, decode, native, tcpanalysis, tcpfast
from pcapexplain.tcpanalysis import Headers
from pcapexplain.tcpheader import REACH_ALL, REACH_FLAGS, REACH_OPTIONS
from tests import scenarios

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "sample_captures").glob("*.pcap"))
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
MOD = 1 << 32


def _headers(rng: random.Random, pairs: int, count: int, syn_rate: float = 0.01) -> Headers:
    """count headers over pairs 4-tuples: mostly in-order data and ACKs, with every kind of
    irregular segment mixed in at random."""
    columns: dict[str, list[int]] = {name: [] for name in Headers.__dataclass_fields__}
    nexts = {
        p: [rng.choice((1000, MOD - 40, rng.randrange(MOD))) for _ in "cs"] for p in range(pairs)
    }
    windows = {pair: [4000, 3000] for pair in range(pairs)}
    opened: set[int] = set()
    clock = 1_700_000_000_000_000_000
    for frame in range(1, count + 1):
        pair = rng.randrange(pairs)
        state_next, state_win = nexts[pair], windows[pair]
        d = rng.randrange(2)
        clock += rng.choice((10, 1000, 100_000, 5_000_000))
        seglen = rng.choice((0, 0, 0, 1, 10, 100, 100, 100))
        seq = state_next[d]
        flags = ACK
        window = state_win[d]
        roll = rng.random()
        if pair not in opened or roll < syn_rate:  # a handshake, perhaps a new ISN (port reuse)
            flags = SYN | (ACK if d else 0)
            seglen = 0
            if rng.random() < 0.5:
                state_next[d] = seq = rng.randrange(MOD)
            opened.add(pair)
        elif roll < syn_rate + 0.04:
            seq = (seq - rng.choice((1, 10, 100, 300))) % MOD  # resent, keep-alive, reordered
        elif roll < syn_rate + 0.07:
            seq = (seq + rng.choice((1, 100, 1000))) % MOD  # a segment not captured
        elif roll < syn_rate + 0.09:
            flags |= rng.choice((FIN, RST))
        elif roll < syn_rate + 0.12:
            window = rng.choice((0, 0, 1000, 65535))
        elif roll < syn_rate + 0.14:
            state_win[d] = window = rng.choice((0, 500, 4000, 8000))
        ack = state_next[1 - d]
        if rng.random() < 0.1:
            ack = (ack - rng.choice((0, 100, 1000))) % MOD  # an older ACK (duplicates follow)
        elif rng.random() < 0.02:
            ack = (ack + 100) % MOD  # acknowledges what the capture never showed
        end = (seq + seglen + (1 if flags & (SYN | FIN) else 0)) % MOD
        if (end - state_next[d]) % MOD < MOD // 2:
            state_next[d] = end
        rare = rng.random()
        values = {
            "frame": frame,
            "time": clock,
            "pair": pair,
            "flow": 2 * pair + d,
            "flags": flags,
            "seq": seq,
            "ack": ack,
            "seglen": -1 if rare < 0.01 else seglen,
            "window": window,
            "reach": REACH_FLAGS if rare > 0.99 else REACH_OPTIONS if rare > 0.98 else REACH_ALL,
            "in_error": int(0.02 < rare < 0.025),
            "ws_stored": rng.choice((0, 2, 7, 14)) if flags & SYN or rare > 0.97 else -1,
            "heavy": int(pair == pairs - 1 and pairs > 3),
        }
        for name, value in values.items():
            columns[name].append(value)
    arrays = {name: np.asarray(values, dtype=np.int64) for name, values in columns.items()}
    arrays["in_error"] = arrays["in_error"].astype(bool)
    arrays["heavy"] = arrays["heavy"].astype(bool)
    return Headers(**arrays)


def _analyse(h: Headers, *, skip: bool, in_frame_order: bool = False) -> list[tuple[int, int]]:
    """(frame that opened the header's conversation, TCP_A_* flags) per header, frame order."""
    rows = np.arange(len(h)) if in_frame_order else np.argsort(h.pair, kind="stable")
    analyser = tcpanalysis.Analyser()
    analysed = analyser.feed(h, rows, tcpfast.ordinary if skip else None)
    opened = np.asarray(analyser.created)[analysed.conversation]
    frames, flags = np.empty_like(opened), np.empty_like(opened)
    frames[rows], flags[rows] = opened, analysed.flags
    return list(zip(frames.tolist(), flags.tolist(), strict=True))


@pytest.mark.parametrize("seed", range(40))
def test_skips_match_the_rules_on_hand_built_headers(seed: int) -> None:
    rng = random.Random(seed)
    syn_rate = 0.01 if seed % 2 else 0.05  # port reuse and repeated SYNs between gaps
    h = _headers(rng, pairs=rng.choice((1, 3, 8)), count=rng.choice((200, 2000)), syn_rate=syn_rate)
    reference = _analyse(h, skip=False, in_frame_order=True)
    assert _analyse(h, skip=False) == reference  # 4-tuples are independent of each other
    assert _analyse(h, skip=True) == reference


def test_skips_match_the_rules_in_small_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs end at the loop's slices, and groups hold whole 4-tuples, however small."""
    rng = random.Random(99)
    h = _headers(rng, pairs=5, count=3000)
    reference = _analyse(h, skip=False)
    monkeypatch.setattr(tcpanalysis, "_SLICE", 7)
    monkeypatch.setattr(tcpanalysis, "_GROUP", 50)
    assert _analyse(h, skip=True) == reference


def test_hand_built_headers_do_skip() -> None:
    """The headers above exercise the skips: many rows skip, and some runs are refused."""
    h = _headers(random.Random(1), pairs=3, count=3000)
    rows = np.argsort(h.pair, kind="stable")
    skips = tcpfast.ordinary(h, rows, 1 << 15)
    assert (skips.end > 0).mean() > 0.3
    for flag in (tcpanalysis.WINDOW_UPDATE, tcpanalysis.DUPLICATE_ACK):
        assert ((skips.end > 0) & (skips.ta == flag)).any()


def _columns(path: Path, **switches: bool) -> tuple[list[int], list[int]]:
    collected = native._Collected()
    for block in capfile.read_records(path, capfile.FileSummary()):
        collected.add(decode.decode(block, validate_checksums=False))
    packets = collected.columns(**switches)
    return list(packets.stream), list(packets.analysis)


def test_skips_match_the_rules_on_captures(tmp_path: Path) -> None:
    """Sample captures, generated ones (planted loss) and their mutations (drops, duplicates,
    reordering): with and without skips, and without any fast path."""
    generated = tmp_path / "generated.pcap"
    script = ROOT / "benchmarks" / "generate.py"
    command = [sys.executable, str(script), str(generated), "--connections", "300", "--seed", "7"]
    subprocess.run(command, check=True, capture_output=True)
    sources = [*SAMPLES, generated]
    sources += [scenarios.mutate(generated, tmp_path / f"m{seed}.pcap", seed) for seed in range(4)]
    for path in sources:
        reference = _columns(path, fast=False)
        assert _columns(path, fast=True, skip=False) == reference, path
        assert _columns(path, fast=True, skip=True) == reference, path
