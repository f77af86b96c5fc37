"""Writers' common ground: one typed record per connection, the JSON contract of `connections`.

A ConnectionRecord keeps every closed vocabulary as its enum; `to_json_dict` turns it into the
documented JSON object (README.md), and `flat` into one CSV or DataFrame row.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import itertools
import operator
import textwrap
from collections.abc import Callable, Iterable, Iterator, Sequence
from enum import Enum, StrEnum
from typing import Any, NamedTuple, TextIO, get_args, get_origin, get_type_hints

import numpy as np

from pcapexplain.model import (
    AnomalySlug,
    CaptureAnalysis,
    CapturePoint,
    Closer,
    Connection,
    ConnState,
    Endpoint,
    Handshake,
    Inference,
    TcpOptions,
    TcpState,
    Teardown,
    ZeekVerdict,
)
from pcapexplain.output import Kinds, row_texts

Scalar = str | int | float | bool | None


class ConnectionRecord(NamedTuple):
    """One connection as the `connections` command reports it; field order is the JSON order.

    A named tuple rather than a frozen dataclass: as immutable, and built ~15 times faster (a
    frozen dataclass sets each field through object.__setattr__), which a CSV of tens of
    thousands of connections feels.
    """

    id: int
    capture: str
    client_ip: str
    client_port: int
    server_ip: str
    server_port: int
    roles_inferred: bool
    inferred: tuple[Inference, ...]  # what the verdicts rest on beyond the packets
    handshake: Handshake
    teardown: Teardown
    half_close: bool
    closed_first: Closer
    time_wait: Closer
    client_final_state: TcpState  # written by name, e.g. "TIME_WAIT"
    server_final_state: TcpState
    zeek_state: ConnState
    zeek_history: str
    anomalies: tuple[AnomalySlug, ...]  # each slug once, sorted
    packets_to_server: int
    bytes_to_server: int
    retransmissions_to_server: int
    packets_to_client: int
    bytes_to_client: int
    retransmissions_to_client: int
    unknown_length_segments: int  # both directions; their bytes are in neither bytes_to_*
    first_frame: int
    last_frame: int
    first_time: float
    last_time: float
    duration: float
    client_isn: int | None
    server_isn: int | None
    client_options: TcpOptions
    server_options: TcpOptions
    rtt_syn_to_synack: float | None
    rtt_synack_to_ack: float | None
    capture_point: CapturePoint
    capture_point_weak: bool
    tshark_streams: tuple[int, ...]
    tshark_version: str | None  # None when the native reader read the file
    reader: str  # the Reader value of the reader that read the file

    @property
    def client(self) -> Endpoint:
        return Endpoint(self.client_ip, self.client_port)

    @property
    def server(self) -> Endpoint:
        return Endpoint(self.server_ip, self.server_port)

    @property
    def packets(self) -> int:
        return self.packets_to_server + self.packets_to_client

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON-contract object: enums as their values (states by name), options as objects,
        tuples as lists."""
        return {name: _json_value(getattr(self, name)) for name in _RECORD_FIELDS}

    def flat(self) -> dict[str, Scalar]:
        """One CSV/DataFrame row: options spread out (client_mss, ...), lists joined by spaces."""
        # The conversions flat_rows applies to whole columns, applied to this record's values.
        values: list[Any] = list(self)
        for at, convert in _CONVERSIONS:
            values[at] = convert(values[at])
        for at in _OPTIONS_AT:  # from the right, so the positions before stay valid
            values[at : at + 1] = [get(values[at]) for get in _OPTION_GETTERS]
        return dict(zip(FLAT_NAMES, values, strict=True))


def _json_value(value: object) -> Any:
    if type(value) in _PLAIN:  # most fields; the checks below would return it unchanged
        return value
    if isinstance(value, TcpState):
        return value._name_
    if isinstance(value, Enum):
        return value._value_
    if isinstance(value, TcpOptions):
        return {name: getattr(value, name) for name in _OPTION_FIELDS}
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    return value


def _joined(values: tuple[object, ...]) -> str:
    """A list field in a flat row: the JSON values joined by spaces."""
    return " ".join([str(_json_value(v)) for v in values]) if values else ""


_PLAIN = frozenset((int, float, str, bool, type(None)))
_RECORD_FIELDS = ConnectionRecord._fields
_OPTION_FIELDS = tuple(f.name for f in dataclasses.fields(TcpOptions))


def _flat_layout() -> tuple[
    tuple[tuple[int, Any], ...], tuple[int, ...], tuple[str, ...], tuple[Kinds, ...]
]:
    """From the record's type hints: how flat converts each field that is not a plain value
    (enums as _json_value writes them, lists joined), where the options are spread (rightmost
    first), the flat column names in order, and each flat column's value type where the hints
    fix one (None: not one plain type)."""
    hints = get_type_hints(ConnectionRecord)
    conversions: list[tuple[int, Any]] = []
    options: list[int] = []
    names: list[str] = []
    kinds: list[Kinds] = []
    for at, name in enumerate(_RECORD_FIELDS):
        kind = hints[name]
        if kind is TcpOptions:
            options.append(at)
            names += [f"{name.removesuffix('_options')}_{sub}" for sub in _OPTION_FIELDS]
            option_hints = get_type_hints(TcpOptions)
            kinds += [_kinds(option_hints[sub]) for sub in _OPTION_FIELDS]
            continue
        names.append(name)
        kinds.append(_kinds(kind))
        if get_origin(kind) is tuple:
            conversions.append((at, _joined))
            kinds[-1] = frozenset((str,))
        elif kind is TcpState:
            conversions.append((at, operator.attrgetter("_name_")))
            kinds[-1] = frozenset((str,))
        elif isinstance(kind, type) and issubclass(kind, StrEnum):
            conversions.append((at, operator.attrgetter("_value_")))  # as _json_value writes it
            kinds[-1] = frozenset((str,))
        elif not (set(get_args(kind)) or {kind}) <= _PLAIN:
            conversions.append((at, _json_value))
            kinds[-1] = None
    return tuple(conversions), tuple(reversed(options)), tuple(names), tuple(kinds)


def _kinds(hint: object) -> Kinds:
    """A plain type's values are of that type alone (mypy holds the record to its hints)."""
    return frozenset((hint,)) if hint in (int, str, bool) else None


_CONVERSIONS, _OPTIONS_AT, FLAT_NAMES, _FLAT_KINDS = _flat_layout()
if FLAT_NAMES[0] != "id" or not all(n.isidentifier() for n in FLAT_NAMES):
    raise AssertionError("write_csv_rows writes the id first and the names unquoted")
_OPTION_GETTERS = tuple(operator.attrgetter(name) for name in _OPTION_FIELDS)


def flat_rows(records: Sequence[ConnectionRecord]) -> Iterator[tuple[Scalar, ...]]:
    """flat's values of many records, in FLAT_NAMES order."""
    for columns in flat_columns(records):
        yield from zip(*columns, strict=True)


def flat_columns(records: Sequence[ConnectionRecord]) -> Iterator[list[Sequence[Scalar]]]:
    """flat_rows in batches of columns, built a column at a time (a field of a batch of records
    per step, rather than a record per step)."""
    return _flattened(
        list(zip(*records[begin : begin + _BATCH], strict=True))
        for begin in range(0, len(records), _BATCH)
    )


def _flattened(batches: Iterable[list[Sequence[Any]]]) -> Iterator[list[Sequence[Scalar]]]:
    """Batches of record columns (one sequence per ConnectionRecord field, in order) as the
    columns of their flat rows."""
    for columns in batches:
        for at, convert in _CONVERSIONS:
            if convert is _joined:
                columns[at] = _joined_column(columns[at])
            else:
                columns[at] = list(map(convert, columns[at]))
        for at in _OPTIONS_AT:  # from the right, so the positions before stay valid
            options = columns[at]
            columns[at : at + 1] = [list(map(get, options)) for get in _OPTION_GETTERS]
        yield columns


_BATCH = 4096  # records per step of flat_rows: its columns stay a few megabytes


def _joined_column(column: Sequence[tuple[object, ...]]) -> list[str]:
    """_joined of each list of a column, each list object once: most rows share one (the empty
    tuple; _slugs' tuples)."""
    # By identity: the column holds every list, so no id is reused.
    distinct = dict(zip(map(id, column), column, strict=True))
    texts = dict(zip(distinct, _joined_lists(list(distinct.values())), strict=True))
    return list(map(texts.__getitem__, map(id, column)))


def _joined_lists(column: Sequence[tuple[object, ...]]) -> list[str]:
    """_joined of each list: lists of plain values (tshark_streams: each list its own) have the
    values' str joined; others (enums: anomalies, inferred), which repeat, are joined once per
    distinct list."""
    if set(map(type, itertools.chain.from_iterable(column))) <= _PLAIN:
        return list(map(" ".join, map(map, itertools.repeat(str), column)))
    # Told apart by the values' identities: an enum member hashes through a Python call
    # (Enum.__hash__), its id does not; the column holds every value, so no id is reused.
    keys = list(map(tuple, map(map, itertools.repeat(id), column)))
    texts = {key: _joined(values) for key, values in dict(zip(keys, column, strict=True)).items()}
    return list(map(texts.__getitem__, keys))


def write_csv(records: Sequence[ConnectionRecord], out: TextIO) -> None:
    """The `connections --format csv` text: a header of FLAT_NAMES, then one flat row per record
    (nothing at all for no records)."""
    write_csv_rows([csv_rows(records)], out)


class CsvRows(NamedTuple):
    """Connections as CSV lines, each without its id (the first field), and their first frames.

    The writer gives the ids: connections are numbered in the order of their first packet
    (reconstructor.reconstruct), so the parts of a capture analysed apart (shard_run.py) are
    rendered in their processes and numbered once they meet, as shards.merge numbers records.
    """

    first_frames: list[int]
    lines: list[str]


def csv_rows(records: Sequence[ConnectionRecord]) -> CsvRows:
    """The CsvRows of some records (in any order)."""
    return CsvRows([r.first_frame for r in records], _lines(flat_columns(records)))


def connection_csv_rows(result: CaptureAnalysis, capture_name: str) -> CsvRows:
    """csv_rows of connection_records(result, capture_name), from the columns the records would
    be built of (_records_of), without the records: a connection's row holds the same values."""
    conns, sources = result.connections, _sources(result, capture_name).values()
    batches: Iterator[list[Sequence[Any]]] = (
        [list(source(batch)) for source in sources] for batch in _batches(conns)
    )
    return CsvRows([c.first_frame for c in conns], _lines(_flattened(batches)))


def _lines(batches: Iterable[list[Sequence[Scalar]]]) -> list[str]:
    lines: list[str] = []
    for columns in batches:
        lines += row_texts(columns[1:], _FLAT_KINDS[1:])  # the id is written by write_csv_rows
    return lines


def write_csv_rows(parts: Sequence[CsvRows], out: TextIO) -> int:
    """write_csv's text of the records of every part, numbered in first-frame order (ties in
    the parts' order); returns how many rows it wrote."""
    lines = [line for part in parts for line in part.lines]
    if not lines:
        return 0
    frames = np.concatenate([np.asarray(p.first_frames, dtype=np.int64) for p in parts])
    order = np.argsort(frames, kind="stable").tolist()
    out.write(",".join(FLAT_NAMES) + "\n")  # the names need no quotes
    for begin in range(0, len(order), _BATCH):
        chosen = [lines[at] for at in order[begin : begin + _BATCH]]
        numbered = zip(range(begin, begin + len(chosen)), chosen, strict=True)
        out.write("".join(map("%d,%s\n".__mod__, numbered)))
    return len(order)


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def _round_all(values: Sequence[float | None]) -> list[float | None]:
    """_round of each value, a column at once: the same doubles, without round()'s decimal string
    and back (about a microsecond a value).

    With n the integer nearest v·10⁶, round(v, 6) is the double nearest n·10⁻⁶, which is n / 10⁶
    in floating point, whenever n·10⁻⁶ is the 6-digit decimal nearest v, with no tie. That holds
    when v·10⁶ is under 0.49 from n once the product's own error (below 2⁻⁵² of it) is added,
    and when v is already the double nearest n·10⁻⁶ and |v| < 2³³ (doubles there are under
    10⁻⁶ apart, so v is under 5·10⁻⁷ from n·10⁻⁶). Other values (near a tie, huge, None, not
    floats) take _round itself.
    """
    if not set(map(type, values)) <= _FLOAT_OR_NONE:
        return list(map(_round, values))
    x = np.array(values, dtype=np.float64)  # None as nan
    scaled = x * 1e6
    whole = np.rint(scaled)
    divided = whole / 1e6
    with np.errstate(invalid="ignore"):  # inf - inf: nan, which is not sure
        near = np.abs(scaled - whole) + np.abs(scaled) * 2.0**-52 < 0.49
        sure = near | ((divided == x) & (np.abs(x) < 2.0**33))
    rounded: list[float | None] = divided.tolist()
    for at in np.flatnonzero(~sure).tolist():
        rounded[at] = _round(values[at])
    return rounded


_FLOAT_OR_NONE = frozenset((float, type(None)))


def _slugs(result: CaptureAnalysis) -> dict[int, tuple[AnomalySlug, ...]]:
    """Each slug once, sorted, by connection id (connections without findings left out)."""
    found: dict[int, set[AnomalySlug]] = {}
    for anomaly in result.anomalies:
        found.setdefault(anomaly.connection, set()).add(anomaly.slug)
    sorted_slugs = {cid: tuple(sorted(slugs)) for cid, slugs in found.items()}
    # Equal tuples as one object (one of them), which _joined_column then joins once.
    shared = {slugs: slugs for slugs in sorted_slugs.values()}
    return {cid: shared[slugs] for cid, slugs in sorted_slugs.items()}


class _Batch:
    """Some connections, and what the sources read of them, each attribute path read once: the
    objects under client, to_server, ... are gathered once for every field read of them."""

    __slots__ = ("conns", "_read")

    def __init__(self, conns: Sequence[Connection]) -> None:
        self.conns = conns
        self._read: dict[str, list[Any]] = {}

    def __len__(self) -> int:
        return len(self.conns)

    def values(self, path: str) -> list[Any]:
        """The attribute at path (dotted) of each connection."""
        found = self._read.get(path)
        if found is None:
            parent, _, name = path.rpartition(".")
            owners = self.values(parent) if parent else self.conns
            found = self._read[path] = list(map(operator.attrgetter(name), owners))
        return found

    def kept(self, key: str, make: Callable[[], list[Any]]) -> list[Any]:
        """make's list, made once per batch (key names it)."""
        found = self._read.get(key)
        if found is None:
            found = self._read[key] = make()
        return found


Column = Callable[[_Batch], Iterable[Any]]


def _sources(result: CaptureAnalysis, capture: str) -> dict[str, Column]:
    """Where each record field comes from: a function of the connections that gives the field's
    value for each of them, in order, by field name. Built of maps over attribute getters and
    built-ins, which run without a Python call per connection and field."""
    zeek, slugs = result.zeek, _slugs(result)

    def verdicts(batch: _Batch) -> list[ZeekVerdict]:
        return batch.kept(" zeek", lambda: list(map(zeek.__getitem__, batch.values("id"))))

    sources: dict[str, Column] = {
        "id": _attr("id"),
        "capture": _constant(capture),
        "client_ip": _attr("client.ip"),
        "client_port": _attr("client.port"),
        "server_ip": _attr("server.ip"),
        "server_port": _attr("server.port"),
        "roles_inferred": _attr("roles_inferred"),
        "inferred": _attr("inferred"),
        "handshake": _attr("handshake"),
        "teardown": _attr("teardown"),
        "half_close": _attr("half_close"),
        "closed_first": _attr("closed_first"),
        "time_wait": _attr("time_wait"),
        "client_final_state": _attr("client_final"),
        "server_final_state": _attr("server_final"),
        "zeek_state": lambda batch: map(_STATE, verdicts(batch)),
        "zeek_history": lambda batch: map(_HISTORY, verdicts(batch)),
        "anomalies": lambda batch: map(slugs.get, batch.values("id"), itertools.repeat(())),
        "packets_to_server": _attr("to_server.packets"),
        "bytes_to_server": _attr("to_server.payload_bytes"),
        "retransmissions_to_server": _attr("to_server.retransmissions"),
        "packets_to_client": _attr("to_client.packets"),
        "bytes_to_client": _attr("to_client.payload_bytes"),
        "retransmissions_to_client": _attr("to_client.retransmissions"),
        "unknown_length_segments": lambda batch: map(
            operator.add,
            batch.values("to_server.unknown_length"),
            batch.values("to_client.unknown_length"),
        ),
        "first_frame": _attr("first_frame"),
        "last_frame": _attr("last_frame"),
        "first_time": _rounded("first_time"),
        "last_time": _rounded("last_time"),
        "duration": _rounded("duration"),
        "client_isn": _attr("client_isn"),
        "server_isn": _attr("server_isn"),
        "client_options": _attr("client_options"),
        "server_options": _attr("server_options"),
        "rtt_syn_to_synack": _rounded("rtt_syn_synack"),
        "rtt_synack_to_ack": _rounded("rtt_synack_ack"),
        "capture_point": _attr("vantage.point"),
        "capture_point_weak": _attr("vantage.weak"),
        "tshark_streams": _attr("tshark_streams"),
        "tshark_version": _constant(result.capture.tshark_version or None),
        "reader": _constant(result.capture.reader),
    }
    if tuple(sources) != _RECORD_FIELDS:  # the record is built from them by position
        raise AssertionError("record sources out of step with ConnectionRecord's fields")
    return sources


_STATE, _HISTORY = operator.attrgetter("state"), operator.attrgetter("history")


def _attr(path: str) -> Column:
    """The attribute at path (dotted) of each connection."""
    return lambda batch: batch.values(path)


def _rounded(path: str) -> Column:
    """The attribute at path of each connection, rounded to 6 digits (None stays None)."""
    return lambda batch: _round_all(batch.values(path))


def _constant(value: object) -> Column:
    """The same value for every connection."""
    return lambda batch: itertools.repeat(value, len(batch))


def connection_record(
    conn: Connection, result: CaptureAnalysis, *, capture: str
) -> ConnectionRecord:
    """The record of one connection of result; capture is the name the contract shows."""
    return _records_of([conn], result, capture)[0]


def connection_records(result: CaptureAnalysis, capture_name: str) -> list[ConnectionRecord]:
    """Every connection of an analysis as records, in id order (built a field at a time)."""
    return _records_of(result.connections, result, capture_name)


def _records_of(
    connections: Sequence[Connection], result: CaptureAnalysis, capture: str
) -> list[ConnectionRecord]:
    """The records of some connections of result, in their order."""
    sources = _sources(result, capture).values()
    # tuple.__new__ makes each record from its row without _make's Python call: the sources are
    # the fields, in order (checked by _sources), and zip's strict check keeps each row whole.
    make = functools.partial(tuple.__new__, ConnectionRecord)
    found: list[ConnectionRecord] = []
    for batch in _batches(connections):
        found += map(make, zip(*[source(batch) for source in sources], strict=True))
    return found


def _batches(connections: Sequence[Connection]) -> Iterator[_Batch]:
    """The connections _BATCH at a time (what a batch reads is kept while it is built)."""
    for begin in range(0, len(connections), _BATCH):
        yield _Batch(connections[begin : begin + _BATCH])


def to_json(records: list[ConnectionRecord]) -> str:
    """The `connections --format json` document: a list of JSON-contract objects."""
    buffer = io.StringIO()
    write_json(records, buffer)
    return buffer.getvalue()


def write_json(records: Iterable[ConnectionRecord], out: TextIO) -> None:
    """to_json written to out one object at a time: the same text as json.dumps of the whole
    list with indent=2, without the whole list or text in memory (a port scan has 200,000)."""
    import json  # here: the CSV path, which most runs take, never needs it

    out.write("[")
    separator = "\n"
    for record in records:
        text = json.dumps(record.to_json_dict(), indent=2, ensure_ascii=False)
        out.write(separator + textwrap.indent(text, "  "))
        separator = ",\n"
    out.write("]\n" if separator == "\n" else "\n]\n")
