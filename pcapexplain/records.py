"""Writers' common ground: one typed record per connection, the JSON contract of `connections`.

A ConnectionRecord keeps every closed vocabulary as its enum; `to_json_dict` turns it into the
documented JSON object (README.md), and `flat` into one CSV or DataFrame row.
"""

from __future__ import annotations

import dataclasses
import io
import json
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TextIO

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

Scalar = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class ConnectionRecord:
    """One connection as the `connections` command reports it; field order is the JSON order."""

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
        # The same values as to_json_dict's, without building that dict first (a CSV of a
        # million-packet capture has tens of thousands of rows).
        flat: dict[str, Scalar] = {}
        for key in _RECORD_FIELDS:
            value = getattr(self, key)
            if type(value) in _PLAIN:
                flat[key] = value
            elif isinstance(value, TcpOptions):
                prefix = key.removesuffix("_options")
                for sub in _OPTION_FIELDS:
                    flat[f"{prefix}_{sub}"] = getattr(value, sub)
            elif isinstance(value, tuple):
                flat[key] = " ".join(str(_json_value(v)) for v in value)
            else:
                flat[key] = _json_value(value)
        return flat


def _json_value(value: object) -> Any:
    if type(value) in _PLAIN:  # most fields; the checks below would return it unchanged
        return value
    if isinstance(value, TcpState):
        return value.name
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, TcpOptions):
        return {name: getattr(value, name) for name in _OPTION_FIELDS}
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    return value


_PLAIN = frozenset((int, float, str, bool, type(None)))
_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(ConnectionRecord))
_OPTION_FIELDS = tuple(f.name for f in dataclasses.fields(TcpOptions))


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def connection_record(
    conn: Connection, result: CaptureAnalysis, *, capture: str
) -> ConnectionRecord:
    """The record of one connection of result; capture is the name the contract shows."""
    zeek = result.zeek[conn.id]
    return ConnectionRecord(
        id=conn.id,
        capture=capture,
        client_ip=conn.client.ip,
        client_port=conn.client.port,
        server_ip=conn.server.ip,
        server_port=conn.server.port,
        roles_inferred=conn.roles_inferred,
        inferred=conn.inferred,
        handshake=conn.handshake,
        teardown=conn.teardown,
        half_close=conn.half_close,
        closed_first=conn.closed_first,
        time_wait=conn.time_wait,
        client_final_state=conn.client_final,
        server_final_state=conn.server_final,
        zeek_state=zeek.state,
        zeek_history=zeek.history,
        anomalies=tuple(sorted({a.slug for a in result.anomalies_of(conn.id)})),
        packets_to_server=conn.to_server.packets,
        bytes_to_server=conn.to_server.payload_bytes,
        retransmissions_to_server=conn.to_server.retransmissions,
        packets_to_client=conn.to_client.packets,
        bytes_to_client=conn.to_client.payload_bytes,
        retransmissions_to_client=conn.to_client.retransmissions,
        unknown_length_segments=conn.to_server.unknown_length + conn.to_client.unknown_length,
        first_frame=conn.first_frame,
        last_frame=conn.last_frame,
        first_time=round(conn.first_time, 6),
        last_time=round(conn.last_time, 6),
        duration=round(conn.duration, 6),
        client_isn=conn.client_isn,
        server_isn=conn.server_isn,
        client_options=conn.client_options,
        server_options=conn.server_options,
        rtt_syn_to_synack=_round(conn.rtt_syn_synack),
        rtt_synack_to_ack=_round(conn.rtt_synack_ack),
        capture_point=conn.vantage.point,
        capture_point_weak=conn.vantage.weak,
        tshark_streams=conn.tshark_streams,
        tshark_version=result.capture.tshark_version or None,
        reader=result.capture.reader,
    )


def connection_records(result: CaptureAnalysis, capture_name: str) -> list[ConnectionRecord]:
    """Every connection of an analysis as records, in id order."""
    return [connection_record(conn, result, capture=capture_name) for conn in result.connections]


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
