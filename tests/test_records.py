"""The typed record behind `connections`: enums to the edge, one JSON form, one flat form."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import pytest

from pcapexplain import api, records
from pcapexplain.model import (
    AnomalySlug,
    CaptureInfo,
    ConnState,
    Handshake,
    Reader,
    TcpFlags,
    TcpState,
)
from pcapexplain.output import csv_text, row_texts, write_columns, write_table
from tests.builders import Conversation

SAMPLES = sorted((Path(__file__).parent.parent / "sample_captures").glob("*.pcap"))


def _refused() -> list[records.ConnectionRecord]:
    conv = Conversation()
    conv.send(conv.client, TcpFlags.SYN, mss=1460)
    conv.send(conv.server, TcpFlags.RST | TcpFlags.ACK, seq=0)
    packets = conv.columns()
    result = api.analyse_columns(CaptureInfo("r.pcap", 1, "0", "4.0.17", len(packets)), packets)
    return records.connection_records(result, "r.pcap")


def test_the_record_keeps_closed_vocabularies_as_enums() -> None:
    (record,) = _refused()
    assert record.handshake is Handshake.REFUSED
    assert record.zeek_state is ConnState.REJ
    assert record.client_final_state is TcpState.CLOSED
    assert record.anomalies == (AnomalySlug.CONNECTION_REFUSED,)
    assert record.packets == 2


def test_json_writes_values_states_by_name_and_options_as_objects() -> None:
    (row,) = json.loads(records.to_json(_refused()))
    assert row["handshake"] == "refused" and row["zeek_state"] == "REJ"
    assert row["client_final_state"] == "CLOSED"
    assert row["anomalies"] == ["connection-refused"]
    assert row["client_options"]["mss"] == 1460
    assert row["tshark_streams"] == [0] and row["tshark_version"] == "4.0.17"


def test_flat_spreads_options_and_joins_lists() -> None:
    (record,) = _refused()
    flat = record.flat()
    assert flat["client_mss"] == 1460 and flat["server_mss"] is None
    assert flat["anomalies"] == "connection-refused"
    assert "client_options" not in flat
    header = csv_text([flat]).splitlines()[0].split(",")
    assert header == list(flat)


def test_json_built_row_by_row_is_the_whole_list_dumped() -> None:
    rows = _refused() * 3
    whole = json.dumps([r.to_json_dict() for r in rows], indent=2, ensure_ascii=False) + "\n"
    assert records.to_json(rows) == whole
    assert records.to_json([]) == json.dumps([], indent=2) + "\n"


def test_csv_from_a_generator_is_the_csv_of_the_list() -> None:
    rows = _refused() * 3
    assert csv_text(r.flat() for r in rows) == csv_text([r.flat() for r in rows])
    assert csv_text(iter(())) == ""


def test_unknown_length_is_counted_never_negative_nor_syn_data() -> None:
    conv = Conversation()
    conv.send(conv.client, TcpFlags.SYN, mss=1460)
    packets = conv.columns()
    packets.length_unknown[0] = 1  # type: ignore[index]
    result = api.analyse_columns(CaptureInfo("u.pcap", 1, "0", "4.0.17", 1), packets)
    (record,) = records.connection_records(result, "u.pcap")
    assert record.unknown_length_segments == 1 and record.bytes_to_server == 0
    assert AnomalySlug.LENGTH_UNKNOWN in record.anomalies
    assert AnomalySlug.SYN_DATA not in record.anomalies


def test_duration_runs_from_the_earliest_to_the_latest_time() -> None:
    conv = Conversation()
    conv.handshake()
    packets = conv.columns()
    packets.time[2] = packets.time[0] - 5.0  # type: ignore[index]
    result = api.analyse_columns(CaptureInfo("b.pcap", 1, "0", "4.0.17", 3), packets)
    (record,) = records.connection_records(result, "b.pcap")
    assert record.duration >= 5.0
    assert record.first_time == round(packets.time[2], 6)


def _reference_flat(record: records.ConnectionRecord) -> dict[str, object]:
    """The flat row from the JSON form, the contract's own definition: option objects spread
    (client_mss, ...), lists joined by spaces, everything else as JSON has it."""
    flat: dict[str, object] = {}
    for key, value in record.to_json_dict().items():
        if isinstance(value, dict):
            flat.update({f"{key.removesuffix('_options')}_{k}": v for k, v in value.items()})
        elif isinstance(value, list):
            flat[key] = " ".join(str(v) for v in value)
        else:
            flat[key] = value
    return flat


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_csv_built_by_columns_is_the_csv_of_the_json_form(path: Path) -> None:
    result = api.analyse(path, reader=Reader.NATIVE).result
    rows = records.connection_records(result, path.name)
    assert [
        records.connection_record(c, result, capture=path.name) for c in result.connections
    ] == (rows)
    reference = [_reference_flat(r) for r in rows]
    assert [r.flat() for r in rows] == reference
    assert [type(v) for r in rows for v in r.flat().values()] == [
        type(v) for r in reference for v in r.values()
    ]  # plain values, no enums
    expected = io.StringIO()
    writer = csv.DictWriter(expected, fieldnames=list(reference[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(reference)
    written = io.StringIO()
    records.write_csv(rows, written)
    assert written.getvalue() == expected.getvalue()
    assert csv_text(r.flat() for r in rows) == expected.getvalue()


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_csv_rows_of_an_analysis_are_those_of_its_records(path: Path) -> None:
    result = api.analyse(path, reader=Reader.NATIVE).result
    made = records.connection_csv_rows(result, path.name)
    assert made == records.csv_rows(records.connection_records(result, path.name))
    assert len(made.lines) == len(result.connections)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_flat_columns_hold_only_the_types_their_hints_give(path: Path) -> None:
    """row_texts trusts these kinds rather than looking at every value: they must hold."""
    result = api.analyse(path, reader=Reader.NATIVE).result
    rows = [list(r.flat().values()) for r in records.connection_records(result, path.name)]
    for row in rows:
        for value, kinds in zip(row, records._FLAT_KINDS, strict=True):
            assert kinds is None or type(value) in kinds
    assert sum(k is not None for k in records._FLAT_KINDS) > 30
    columns = [list(c) for c in zip(*rows, strict=True)]
    if columns:  # the kinds looked up give the texts of the kinds found
        assert row_texts(columns, records._FLAT_KINDS) == row_texts(columns)


def test_csv_of_rows_with_other_keys_is_what_dictwriter_writes() -> None:
    assert csv_text([{"a": 1, "b": "x,y"}, {"b": 2}]) == 'a,b\n1,"x,y"\n,2\n'
    assert csv_text([{"a": "one"}, {"a": "two"}]) == "a\none\ntwo\n"  # one column: not its letters
    assert csv_text([]) == ""
    with pytest.raises(ValueError, match="not in fieldnames"):
        csv_text([{"a": 1}, {"a": 2, "c": 3}])


class _Float(float):
    """A float whose str and repr differ."""

    def __str__(self) -> str:
        return "str"


@pytest.mark.parametrize(
    "column",
    [
        ["a,b", "plain"],  # the delimiter
        ['say "hi"', "plain"],  # the quote
        ["two\nlines", "plain"],
        ["carriage\rreturn", "plain"],
        ["", "plain"],  # empty text, not quoted beside other fields
        [None, 3],
        [1.5, None],
        [0.1 + 0.2, 1e-07],  # floats by repr
        [_Float(2.5), 1.0],
        [True, False],
        [ConnState.SF, ConnState.REJ],  # a StrEnum: its value
        [TcpState.ESTABLISHED, TcpState.CLOSED],  # another enum: str() as csv does
        ["é 中文", "plain"],
        ["x" * 40 + ",", "plain"],
        [" leading space", "tab\there"],
        [(1, "a,b"), ("x",)],  # not a plain value: its str
        ["50%", "50%"],  # one text throughout, put in the line's format: its % kept
        ["a,b", "a,b"],  # one text throughout that needs quotes
        [1, True],  # equal values of two types: their own texts
        [0.0, -0.0],  # equal floats with two texts
        [None, None],
    ],
)
def test_csv_written_by_columns_is_what_csv_writer_writes(column: list[object]) -> None:
    names = ["n", "value", "tail"]
    batches = [[[1, 2], column, ["end", "end"]], [[3], column[:1], ["z"]], [[], [], []]]
    expected, written = io.StringIO(), io.StringIO()
    rows = (row for batch in batches for row in zip(*batch, strict=True))
    write_table(names, rows, expected)
    write_columns(names, batches, written)
    assert written.getvalue() == expected.getvalue()
    one, alone = io.StringIO(), io.StringIO()
    write_table(["value"], ((v,) for v in column), one)
    write_columns(["value"], [[column]], alone)  # a lone empty field is quoted
    assert alone.getvalue() == one.getvalue()


def test_float_columns_are_written_as_csv_writer_writes_them() -> None:
    """row_texts writes floats of six decimals from their digits: every double, rounded or not,
    near the bounds of that path or far from them, comes out as csv.writer's repr."""
    rng = random.Random(11)
    special: list[float | None] = [
        None, 0.0, -0.0, 1e-4, 0.0001, 0.000099, 0.0000999999, 9.9999e-05, 0.00010000000000000002,
        1.0, 10.0, 100.5, 0.1 + 0.2, 2.0**33, 2.0**33 - 2.0**-20, 8589934591.999999, 1e16, 1e20,
        float("nan"), float("inf"), -float("inf"), -1.5, 5e-324, 1700000000.000001, 0.000100,
        123.000450, 7.120000, 0.005, 1234567890.1234565,
    ]  # fmt: skip
    values: list[float | None] = list(special)
    for _ in range(20000):
        values.append(round(rng.uniform(0, 10 ** rng.randint(-5, 10)), 6))  # times, delays
        values.append(1_700_000_000 + rng.randint(0, 10**9) / 1e6)  # a microsecond timestamp
        values.append(rng.uniform(-1, 1) * 10.0 ** rng.randint(-8, 17))  # any double
        values.append(rng.randint(0, 10**6) / 1e6)  # every fraction digit pattern
    for column in (values, [v for v in values if v is not None], special[1:3]):
        expected, written = io.StringIO(), io.StringIO()
        write_table(["n", "value"], enumerate(column), expected)
        write_columns(["n", "value"], [[list(range(len(column))), column]], written)
        assert written.getvalue() == expected.getvalue()


def test_rounding_a_column_gives_the_doubles_round_gives() -> None:
    rng = random.Random(7)
    values: list[float | None] = [
        None, 0.0, -0.0, 1e-9, -1e-9, 0.0078125, -0.0078125, 2.5e-06, 0.0000005, 1.0000005,
        float("nan"), float("inf"), -float("inf"), 2.0**33, 2.0**33 - 2.0**-20, 1e20, 5e-324,
        1e15 + 0.5, 2.0**52, 4503599627.3704965, 1234567890.1234565,
    ]  # fmt: skip
    for _ in range(20000):
        scale = 10.0 ** rng.randint(-8, 16)
        values.append(rng.uniform(-1, 1) * scale)  # any double
        stamp = 1_700_000_000 + rng.randint(0, 10**9) / 1e6
        values.append(stamp)  # a microsecond timestamp
        values.append(stamp - (1_700_000_000 + rng.randint(0, 10**9) / 1e6))  # a difference
        values.append(rng.randint(-(10**9), 10**9) / 2 ** rng.randint(0, 30))  # dyadic: ties
        values.append(rng.randint(0, 2**33) + rng.randint(0, 2**20) / 2**20)  # spacing 2⁻²⁰
    expected = [repr(records._round(v)) for v in values]
    assert [repr(v) for v in records._round_all(values)] == expected
    assert records._round_all([1, 2.5, None]) == [1, 2.5, None]  # an int stays an int
