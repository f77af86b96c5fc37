"""The reconstructor's skips, checked against its loops over every row.

Grouping, replay and summary visit only the rows that can change what they compute and write the
others column-wise (reconstructor._SKIP), and the replay starts after a plain handshake, whose
rows endpoints.plain_openings writes column-wise; a connection that then closes plainly
(endpoints.plain_closings) is not replayed, and outcomes.plain_summaries summarises it
column-wise. With the switch off every loop visits every
row; both must give the same connections, every per-packet column and the sparse passed/crossed
maps, on captures rich in what a skip must not swallow: crossed FINs, a FIN resent after its lost
ACK, simultaneous opens, stale SYN-ACKs, zero-window probes, resets, port reuse.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pcapexplain import arrays, endpoints, native, outcomes, reconstructor
from pcapexplain.errors import PcapExplainError
from pcapexplain.model import Connection, PacketColumns, PacketStates
from tests import builders, scenarios, test_reconstructor
from tests.builders import ACK, FIN, PSH, RST, SYN

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "sample_captures").glob("*.pcap"))
_COLUMNS = tuple(f for f in PacketStates.__dataclass_fields__ if f not in ("passed", "crossed"))

Outputs = tuple[
    list[Connection], dict[str, list[int]], dict[int, Any], dict[int, int], dict[int, Any]
]


def _outputs(packets: PacketColumns, skip: bool) -> Outputs:
    sides: dict[int, Any] = {}  # each connection's endpoint sides as the summary gets them
    summarise = outcomes.summarise

    def recording(*args: Any) -> Any:
        sides[args[2].id] = args[3:5]
        return summarise(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reconstructor, "_SKIP", skip)
        patch.setattr(outcomes, "summarise", recording)
        connections, states = reconstructor.reconstruct(packets)
    columns = {name: list(getattr(states, name)) for name in _COLUMNS}
    return connections, columns, dict(states.passed), dict(states.crossed), sides


def _assert_same(packets: PacketColumns) -> None:
    fast, slow = _outputs(packets, True), _outputs(packets, False)
    assert len(fast[0]) == len(slow[0])
    for got, want in zip(fast[0], slow[0], strict=True):
        assert got == want, got.id
    for name in _COLUMNS:
        assert fast[1][name] == slow[1][name], name
    assert fast[2:4] == slow[2:4]
    # The connections summarised column-wise (outcomes.plain_summaries) have no sides.
    assert len(slow[4]) == len(slow[0])
    assert fast[4].items() <= slow[4].items()


# --------------------------------------------------------------------- hand-built packet lists


def _calls(test: Callable[..., None]) -> Iterator[tuple[Any, ...]]:
    marks = [m for m in getattr(test, "pytestmark", []) if m.name == "parametrize"]
    if not marks:
        yield ()
        return
    for values in marks[0].args[1]:
        values = values.values if hasattr(values, "values") else values
        yield tuple(values) if isinstance(values, tuple | list) else (values,)


def _hand_built() -> list[PacketColumns]:
    """Every packet list the reconstructor's own tests build (crossed FINs, a FIN resent after
    a lost ACK, simultaneous opens, stale SYN-ACKs, resets, stray probes, port reuse...)."""
    seen: list[PacketColumns] = []

    def record(packets: PacketColumns, icmp_errors: Any = ()) -> Any:
        seen.append(packets)
        return reconstructor.reconstruct(packets, icmp_errors)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(test_reconstructor, "reconstruct", record)
        for name, test in vars(test_reconstructor).items():
            if name.startswith("test_") and callable(test):
                for args in _calls(test):
                    test(*args)
    return seen


def test_hand_built_packet_lists_give_the_same_both_ways() -> None:
    lists = _hand_built()
    assert len(lists) >= 35
    for packets in lists:
        _assert_same(packets)


# ------------------------------------------------------------------------------ real captures


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_sample_captures_give_the_same_both_ways(path: Path) -> None:
    packets = native.load_capture(str(path)).packets
    _assert_same(packets)
    assert _plain_summarised(packets) == _shortcuts(packets).closed


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_captures_give_the_same_both_ways(seed: int, tmp_path: Path) -> None:
    """benchmarks/generate.py mixes loss, resets, half-closes, unanswered and refused SYNs and
    connections open at the end, interleaved."""
    out = tmp_path / f"generated-{seed}.pcap"
    generator = ROOT / "benchmarks" / "generate.py"
    command = [sys.executable, str(generator), str(out), "--connections", "300"]
    subprocess.run([*command, "--seed", str(seed)], check=True, capture_output=True)
    packets = native.load_capture(str(out)).packets
    _assert_same(packets)
    shortcuts = _shortcuts(packets)
    assert shortcuts.skipped > len(packets) // 2  # the skip does happen
    assert shortcuts.opened > shortcuts.connections // 2  # and the start after a handshake
    assert shortcuts.closed > shortcuts.connections // 4  # and the plain close
    assert _plain_summarised(packets) == shortcuts.closed  # whose facts are read off


def _plain_summarised(packets: PacketColumns) -> int:
    """How many connections the summary took column-wise (outcomes.plain_summaries), each
    checked against summarise over every row of a replay of every row, the rule."""
    taken: list[int] = []
    plain_summaries = outcomes.plain_summaries

    def recording(*args: Any) -> Any:
        taken.extend(conn.id for conn in args[2])
        return plain_summaries(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(outcomes, "plain_summaries", recording)
        fast, _ = reconstructor.reconstruct(packets)
    slow = _outputs(packets, False)[0]
    for cid in taken:
        assert fast[cid] == slow[cid], cid
    return len(taken)


@dataclass
class _Shortcuts:
    skipped: int = 0  # rows the replay did not visit
    opened: int = 0  # connections it took after a plain handshake (closed ones too)
    closed: int = 0  # connections it left whole to plain_closings and plain_summaries
    connections: int = 0


def _shortcuts(packets: PacketColumns) -> _Shortcuts:
    found = _Shortcuts()
    replay, plain_summaries = endpoints.replay, outcomes.plain_summaries

    def counting(*args: Any) -> Any:
        found.skipped += sum(stop - first for first, stop, _, _ in args[4] or ())
        found.skipped += 3 * (args[5] is not None)
        found.opened += args[5] is not None
        found.connections += 1
        return replay(*args)

    def closing(*args: Any) -> Any:
        taken = args[2]
        found.skipped += sum(len(conn.packet_index) for conn in taken)
        found.opened += len(taken)
        found.closed += len(taken)
        found.connections += len(taken)
        return plain_summaries(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(endpoints, "replay", counting)
        patch.setattr(outcomes, "plain_summaries", closing)
        reconstructor.reconstruct(packets)
    return found


# ------------------------------------------------------------- openings near a plain handshake


Conv = builders.Conversation


def _plain(c: Conv) -> Conv:
    c.handshake()
    return c


def _open_with_data(c: Conv) -> Conv:
    """No FIN or RST after the handshake: open at the capture's end, left whole."""
    c.handshake()
    c.data(c.client)
    c.ack(c.server)
    c.data(c.server, 900)
    c.ack(c.client)
    return c


def _half_closed_at_end(c: Conv) -> Conv:
    """One FIN after the handshake: replayed from the fourth row."""
    c.handshake()
    c.data(c.client)
    c.fin(c.client)
    c.ack(c.server)
    return c


def _lost_handshake_ack(c: Conv) -> Conv:
    """The SYN-ACK resent after the ACK: that ACK never arrived (_hs_ack_was_lost reads the
    handshake rows' states)."""
    c.handshake()
    c.send(c.server, SYN | ACK, seq=c.server_isn)
    c.ack(c.client)
    c.data(c.client)
    return c


def _reset_after_handshake(c: Conv) -> Conv:
    c.handshake()
    c.rst(c.server)
    return c


def _data_on_the_handshake_ack(c: Conv) -> Conv:
    c.send(c.client, SYN)
    c.send(c.server, SYN | ACK)
    c.send(c.client, ACK | PSH, 100)
    c.fin(c.client)
    c.fin(c.server)
    c.ack(c.client)
    return c


def _wrapping(c: Conv) -> Conv:
    c.client_isn = c.server_isn = (1 << 32) - 1
    c.__post_init__()
    c.handshake()
    c.data(c.client)
    c.fin(c.client)
    c.fin(c.server)
    c.ack(c.client)
    return c


def _synack_for_another_syn(c: Conv) -> Conv:
    c.send(c.client, SYN)
    c.send(c.server, SYN | ACK, ack=77)
    c.send(c.client, RST, seq=77)
    return c


def _ack_short_of_the_synack(c: Conv) -> Conv:
    c.send(c.client, SYN)
    c.send(c.server, SYN | ACK)
    c.send(c.client, ACK, ack=c.server_isn)
    c.data(c.server)
    return c


def _syn_resent(c: Conv) -> Conv:
    c.send(c.client, SYN)
    c.send(c.client, SYN, seq=c.client_isn)
    c.send(c.server, SYN | ACK)
    c.ack(c.client)
    return c


def _server_speaks_first(c: Conv) -> Conv:
    c.send(c.client, SYN)
    c.send(c.server, SYN | ACK)
    c.data(c.server)
    c.ack(c.client)
    return c


def _refused(c: Conv) -> Conv:
    c.send(c.client, SYN)
    c.rst(c.server)
    c.send(c.client, SYN, seq=c.client_isn)
    return c


def _to_itself(c: Conv) -> Conv:
    return builders.connected_to_itself()


_TAKEN = (
    _plain,
    _open_with_data,
    _half_closed_at_end,
    _lost_handshake_ack,
    _reset_after_handshake,
    _data_on_the_handshake_ack,
    _wrapping,
)
# Left whole to plain_summaries: each ends in a three-way close, or in none (open at the end).
_TAKEN_WHOLE = (_plain, _open_with_data, _data_on_the_handshake_ack, _wrapping)
_NOT_TAKEN = (
    _synack_for_another_syn,
    _ack_short_of_the_synack,
    _syn_resent,
    _server_speaks_first,
    _refused,
    _to_itself,
)


@pytest.mark.parametrize("make", _TAKEN + _NOT_TAKEN, ids=lambda m: m.__name__)
def test_openings_near_a_plain_handshake_give_the_same_both_ways(make: Any) -> None:
    packets = make(Conv()).columns()
    _assert_same(packets)
    shortcuts = _shortcuts(packets)
    assert shortcuts.opened == (make in _TAKEN)
    assert shortcuts.closed == (make in _TAKEN_WHOLE)


def _four_way(c: Conv, closer: tuple[str, int], data: int = 1) -> Conv:
    c.handshake()
    for _ in range(data):
        c.data(c.client)
        c.data(c.server)
    return _close(c, closer)


def _close(c: Conv, closer: tuple[str, int]) -> Conv:
    """c with a four-way close that closer starts."""
    other = c._peer(closer)
    c.fin(closer)
    c.ack(other)
    c.fin(other)
    c.ack(closer)
    return c


def _closed_by_client(c: Conv) -> Conv:
    return _four_way(c, c.client)


def _closed_by_server(c: Conv) -> Conv:
    return _four_way(c, c.server, data=3)


def _closed_at_once(c: Conv) -> Conv:
    return _four_way(c, c.client, data=0)


def _three_way(c: Conv) -> Conv:
    return builders.closed_three_way(c)


def _three_way_by_server(c: Conv) -> Conv:
    c.handshake()
    c.data(c.server)
    c.fin(c.server)
    c.fin(c.client)
    c.ack(c.server)
    return c


def _three_way_fin_short(c: Conv) -> Conv:
    builders.closed_three_way(c)
    c.packets[-2].ack -= 1  # the second FIN does not acknowledge the first
    return c


def _three_way_last_ack_short(c: Conv) -> Conv:
    builders.closed_three_way(c)
    c.packets[-1].ack -= 1
    return c


def _three_way_data_on_the_fin(c: Conv) -> Conv:
    builders.closed_three_way(c)
    c.packets[-2].length = 10
    return c


def _crossed_fins(c: Conv) -> Conv:
    c.handshake()
    c.data(c.client)
    c.ack(c.server)
    fin = c.send(c.client, FIN | ACK)
    c.send(c.server, FIN | ACK, ack=fin.seq)  # sent before the client's FIN arrived
    c.ack(c.server)
    c.ack(c.client)
    return c


def _second_fin_short(c: Conv) -> Conv:
    _four_way(c, c.client)
    c.packets[-2].ack -= 1
    return c


def _last_ack_short(c: Conv) -> Conv:
    _four_way(c, c.client)
    c.packets[-1].ack -= 1
    return c


def _data_on_the_fin(c: Conv) -> Conv:
    _four_way(c, c.client)
    c.packets[-4].length = 10
    return c


def _reset_before_the_close(c: Conv) -> Conv:
    c.handshake()
    c.rst(c.client)
    return _close(c, c.client)


def _fin_resent(c: Conv) -> Conv:
    c.handshake()
    c.data(c.client)
    fin = c.send(c.client, FIN | ACK)
    c.ack(c.server)
    c.send(c.client, FIN | ACK, seq=fin.seq)
    c.fin(c.server)
    c.ack(c.client)
    return c


_CLOSED = (_closed_by_client, _closed_by_server, _closed_at_once, _three_way, _three_way_by_server)
_NOT_CLOSED = (
    _three_way_fin_short,
    _three_way_last_ack_short,
    _three_way_data_on_the_fin,
    _crossed_fins,
    _second_fin_short,
    _last_ack_short,
    _data_on_the_fin,
    _reset_before_the_close,
    _fin_resent,
)


@pytest.mark.parametrize("make", _CLOSED + _NOT_CLOSED, ids=lambda m: m.__name__)
def test_closings_near_a_plain_close_give_the_same_both_ways(make: Any) -> None:
    packets = make(Conv()).columns()
    _assert_same(packets)
    assert _shortcuts(packets).closed == (make in _CLOSED)


def test_plain_shapes_of_many_connections_give_the_same_both_ways() -> None:
    """Every kind at once, on distinct ports, interleaved: plain_openings' rows per connection."""
    makers = _TAKEN + _NOT_TAKEN + _CLOSED + _NOT_CLOSED
    conversations = [make(Conv(client=("10.0.0.1", 40000 + k))) for k, make in enumerate(makers)]
    packets = builders.merged(*conversations)
    _assert_same(packets)
    shortcuts = _shortcuts(packets)
    assert shortcuts.opened == len(_TAKEN) + len(_CLOSED) + len(_NOT_CLOSED)
    assert shortcuts.closed == len(_CLOSED) + len(_TAKEN_WHOLE)


def test_generated_scenarios_and_their_mutations_give_the_same_both_ways(tmp_path: Path) -> None:
    """Zero windows and probes, reordering, loss, keep-alives, port reuse; then records dropped,
    duplicated, swapped and re-timed at random."""
    for name in scenarios.SCENARIOS:
        source = scenarios.build(name, tmp_path)
        _assert_same(native.load_capture(str(source)).packets)
        for seed in range(4):
            mutated = scenarios.mutate(source, tmp_path / f"{name}-{seed}.pcap", seed)
            _assert_same(native.load_capture(str(mutated)).packets)


def test_zeek_corpus_gives_the_same_both_ways(zeek_corpus: Path) -> None:
    traces = sorted((zeek_corpus / "traces").glob("*.pcap"))
    assert traces
    for trace in traces:
        _assert_same(native.load_capture(str(trace)).packets)


def test_stream_numbers_per_connection_match_a_set_per_connection() -> None:
    """Most connections have one tshark stream (found without sorting); some have several."""
    rng = np.random.default_rng(7)
    owner = rng.integers(0, 50, size=2000)
    streams = np.where(owner % 3 == 0, rng.integers(0, 4, size=2000), owner * 10)
    expected: dict[int, set[int]] = {}
    for cid, stream in zip(owner.tolist(), streams.tolist(), strict=True):
        expected.setdefault(cid, set()).add(stream)
    found = outcomes._streams(owner, streams.tolist(), 52)  # 50 and 51 have no rows
    assert found == [tuple(sorted(expected.get(cid, ()))) for cid in range(52)]
    assert any(len(s) > 1 for s in found) and any(len(s) == 1 for s in found)
    assert found[50] == found[51] == ()


def test_tcpdump_corpus_gives_the_same_both_ways(tcpdump_corpus: Path) -> None:
    compared = 0
    for trace in sorted((tcpdump_corpus / "traces").iterdir()):
        try:
            packets = native.load_capture(str(trace)).packets
        except PcapExplainError:
            continue  # a link type or format the native reader leaves to tshark
        _assert_same(packets)
        compared += 1
    assert compared >= 50


def test_pair_keys_are_one_per_4_tuple_in_both_directions_even_past_int32_codes() -> None:
    """Past 32,767 addresses the endpoint codes no longer multiply within int64: the keys are
    then made from dense codes, and must still name each 4-tuple once, either way round."""
    rng = np.random.default_rng(3)
    for top in (1 << 20, 1 << 40):
        ends = rng.integers(0, top, size=(400, 2))
        sender = np.concatenate((ends[:, 0], ends[:, 1]))
        receiver = np.concatenate((ends[:, 1], ends[:, 0]))
        keys = reconstructor._pair_keys(sender.copy(), receiver.copy()).tolist()
        assert keys[:400] == keys[400:]
        pairs = {frozenset(p) for p in ends.tolist()}
        assert len(set(keys)) == len(pairs)


def test_key_order_is_the_stable_sort_of_the_keys_whatever_the_stream_numbers() -> None:
    """_key_order sorts one key per stream when the streams lie within 4-tuples, and every key
    otherwise: the rows come out in the same order either way."""
    rng = np.random.default_rng(11)
    keys = rng.integers(0, 1 << 40, size=60)[rng.integers(0, 60, size=5000)]
    tuples = np.unique(keys, return_inverse=True)[1].reshape(-1)
    # Two streams for some 4-tuples (port reuse), numbered apart from the others'.
    within = np.where((tuples % 3 == 0) & (np.arange(5000) > 2500), tuples + 60, tuples)
    spanning = rng.integers(0, 30, size=5000)
    cases = {"within": within, "spanning": spanning, "zeros": np.zeros(5000, np.int64)}
    cases |= {"negative": within - 1, "past the rows": within * 1000}
    sorted_by_stream = []
    stable_order = arrays.stable_order

    def recording(values: Any) -> Any:
        sorted_by_stream.append(name)
        return stable_order(values)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(arrays, "stable_order", recording)
        for name, streams in cases.items():
            got = reconstructor._key_order(keys, streams.tolist())
            assert np.array_equal(got, np.argsort(keys, kind="stable")), name
    assert sorted_by_stream == ["within"]
