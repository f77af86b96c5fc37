"""Writers' common ground: one typed record per connection, the JSON contract of `connections`.

A ConnectionRecord keeps every closed vocabulary as its enum; `to_json_dict` turns it into the
documented JSON object (README.md), and `flat` into one CSV or DataFrame row.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import operator
import textwrap
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any, NamedTuple, TextIO, get_args, get_origin, get_type_hints

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
)
from pcapexplain.output import write_table

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


def _flat_layout() -> tuple[tuple[tuple[int, Any], ...], tuple[int, ...], tuple[str, ...]]:
    """From the record's type hints: how flat converts each field that is not a plain value
    (enums as _json_value writes them, lists joined), where the options are spread (rightmost
    first), and the flat column names in order."""
    hints = get_type_hints(ConnectionRecord)
    conversions: list[tuple[int, Any]] = []
    options: list[int] = []
    names: list[str] = []
    for at, name in enumerate(_RECORD_FIELDS):
        kind = hints[name]
        if kind is TcpOptions:
            options.append(at)
            names += [f"{name.removesuffix('_options')}_{sub}" for sub in _OPTION_FIELDS]
            continue
        names.append(name)
        if get_origin(kind) is tuple:
            conversions.append((at, _joined))
        elif kind is TcpState:
            conversions.append((at, operator.attrgetter("_name_")))
        elif isinstance(kind, type) and issubclass(kind, StrEnum):
            conversions.append((at, str.__str__))  # the member's text: its value
        elif not (set(get_args(kind)) or {kind}) <= _PLAIN:
            conversions.append((at, _json_value))
    return tuple(conversions), tuple(reversed(options)), tuple(names)


_CONVERSIONS, _OPTIONS_AT, FLAT_NAMES = _flat_layout()
_OPTION_GETTERS = tuple(operator.attrgetter(name) for name in _OPTION_FIELDS)


def flat_rows(records: Sequence[ConnectionRecord]) -> Iterator[tuple[Scalar, ...]]:
    """flat's values of many records, in FLAT_NAMES order, built a column at a time (a field of a
    batch of records per step, rather than a record per step)."""
    for begin in range(0, len(records), _BATCH):
        columns: list[Sequence[Any]] = list(zip(*records[begin : begin + _BATCH], strict=True))
        for at, convert in _CONVERSIONS:
            columns[at] = list(map(convert, columns[at]))
        for at in _OPTIONS_AT:  # from the right, so the positions before stay valid
            options = columns[at]
            columns[at : at + 1] = [list(map(get, options)) for get in _OPTION_GETTERS]
        yield from zip(*columns, strict=True)


_BATCH = 4096  # records per step of flat_rows: its columns stay a few megabytes


def write_csv(records: Sequence[ConnectionRecord], out: TextIO) -> None:
    """The `connections --format csv` text: a header of FLAT_NAMES, then one flat row per record
    (nothing at all for no records)."""
    if records:
        write_table(FLAT_NAMES, flat_rows(records), out)


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def _sources(result: CaptureAnalysis, capture: str) -> dict[str, Callable[[Connection], Any]]:
    """Where each record field comes from: a function of the connection, or a constant (the same
    for every connection of result), by field name."""
    zeek, anomalies_of = result.zeek, result.anomalies_of
    get = operator.attrgetter
    sources: dict[str, Callable[[Connection], Any]] = {
        "id": get("id"),
        "capture": _Constant(capture),
        "client_ip": get("client.ip"),
        "client_port": get("client.port"),
        "server_ip": get("server.ip"),
        "server_port": get("server.port"),
        "roles_inferred": get("roles_inferred"),
        "inferred": get("inferred"),
        "handshake": get("handshake"),
        "teardown": get("teardown"),
        "half_close": get("half_close"),
        "closed_first": get("closed_first"),
        "time_wait": get("time_wait"),
        "client_final_state": get("client_final"),
        "server_final_state": get("server_final"),
        "zeek_state": lambda c: zeek[c.id].state,
        "zeek_history": lambda c: zeek[c.id].history,
        "anomalies": lambda c: tuple(sorted({a.slug for a in anomalies_of(c.id)})),
        "packets_to_server": get("to_server.packets"),
        "bytes_to_server": get("to_server.payload_bytes"),
        "retransmissions_to_server": get("to_server.retransmissions"),
        "packets_to_client": get("to_client.packets"),
        "bytes_to_client": get("to_client.payload_bytes"),
        "retransmissions_to_client": get("to_client.retransmissions"),
        "unknown_length_segments": lambda c: (
            c.to_server.unknown_length + c.to_client.unknown_length
        ),
        "first_frame": get("first_frame"),
        "last_frame": get("last_frame"),
        "first_time": lambda c: round(c.first_time, 6),
        "last_time": lambda c: round(c.last_time, 6),
        "duration": lambda c: round(c.duration, 6),
        "client_isn": get("client_isn"),
        "server_isn": get("server_isn"),
        "client_options": get("client_options"),
        "server_options": get("server_options"),
        "rtt_syn_to_synack": lambda c: _round(c.rtt_syn_synack),
        "rtt_synack_to_ack": lambda c: _round(c.rtt_synack_ack),
        "capture_point": get("vantage.point"),
        "capture_point_weak": get("vantage.weak"),
        "tshark_streams": get("tshark_streams"),
        "tshark_version": _Constant(result.capture.tshark_version or None),
        "reader": _Constant(result.capture.reader),
    }
    if tuple(sources) != _RECORD_FIELDS:  # the record is built from them by position
        raise AssertionError("record sources out of step with ConnectionRecord's fields")
    return sources


@dataclass(frozen=True, slots=True)
class _Constant:
    """A source that gives the same value for every connection."""

    value: object

    def __call__(self, conn: Connection) -> object:
        return self.value


def connection_record(
    conn: Connection, result: CaptureAnalysis, *, capture: str
) -> ConnectionRecord:
    """The record of one connection of result; capture is the name the contract shows."""
    return ConnectionRecord._make(source(conn) for source in _sources(result, capture).values())


def connection_records(result: CaptureAnalysis, capture_name: str) -> list[ConnectionRecord]:
    """Every connection of an analysis as records, in id order (built a field at a time)."""
    connections = result.connections
    columns = [
        itertools.repeat(source.value)
        if isinstance(source, _Constant)
        else map(source, connections)
        for source in _sources(result, capture_name).values()
    ]
    rows = itertools.islice(zip(*columns, strict=False), len(connections))  # constants repeat
    return list(map(ConnectionRecord._make, rows))


def to_json(records: list[ConnectionRecord]) -> str:
    """The `connections --format json` document: a list of JSON-contract objects."""
    buffer = io.StringIO()
    write_json(records, buffer)
    return buffer.getvalue()


def write_json(records: Iterable[ConnectionRecord], out: TextIO) -> None:
    """to_json written to out one object at a time: the same text as json.dumps of the whole
    list with indent=2, without the whole list or text in memory (a port scan has 200,000)."""
    out.write("[")
    separator = "\n"
    for record in records:
        text = json.dumps(record.to_json_dict(), indent=2, ensure_ascii=False)
        out.write(separator + textwrap.indent(text, "  "))
        separator = ",\n"
    out.write("]\n" if separator == "\n" else "\n]\n")
