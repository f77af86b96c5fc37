"""Writers' common ground: one plain dict per connection, the JSON contract of `connections`."""

from __future__ import annotations

import json
from typing import Any

from pcapexplain.model import CaptureAnalysis, Connection, TcpOptions

SCHEMA_VERSION = 1

# Flat column order for CSV and DataFrames; nested option dicts become client_mss, server_mss, ...
OPTION_KEYS = ("mss", "wscale", "sack_permitted", "timestamps", "tfo")


def _options(opts: TcpOptions) -> dict[str, Any]:
    return {
        "mss": opts.mss,
        "wscale": opts.wscale,
        "sack_permitted": opts.sack_permitted,
        "timestamps": opts.timestamps,
        "tfo": opts.tfo,
    }


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def connection_record(conn: Connection, *, capture: str, tshark_version: str) -> dict[str, Any]:
    """The JSON-contract object for one connection (documented in README.md)."""
    return {
        "id": conn.id,
        "capture": capture,
        "client_ip": conn.client.ip,
        "client_port": conn.client.port,
        "server_ip": conn.server.ip,
        "server_port": conn.server.port,
        "roles_inferred": conn.roles_inferred,
        "inferred": [i.value for i in conn.inferred],
        "handshake": conn.handshake.value,
        "teardown": conn.teardown.value,
        "half_close": conn.half_close,
        "closed_first": conn.closed_first.value,
        "time_wait": conn.time_wait.value,
        "client_final_state": conn.client_final.name,
        "server_final_state": conn.server_final.name,
        "zeek_state": conn.zeek_state,
        "zeek_history": conn.zeek_history,
        "anomalies": sorted({a.slug for a in conn.anomalies}),
        "packets_to_server": conn.to_server.packets,
        "bytes_to_server": conn.to_server.payload_bytes,
        "retransmissions_to_server": conn.to_server.retransmissions,
        "packets_to_client": conn.to_client.packets,
        "bytes_to_client": conn.to_client.payload_bytes,
        "retransmissions_to_client": conn.to_client.retransmissions,
        "first_frame": conn.first_frame,
        "last_frame": conn.last_frame,
        "first_time": _round(conn.first_time),
        "last_time": _round(conn.last_time),
        "duration": _round(conn.duration),
        "client_isn": conn.client_isn,
        "server_isn": conn.server_isn,
        "client_options": _options(conn.client_options),
        "server_options": _options(conn.server_options),
        "rtt_syn_to_synack": _round(conn.rtt_syn_synack),
        "rtt_synack_to_ack": _round(conn.rtt_synack_ack),
        "capture_point": conn.vantage.point.value,
        "capture_point_weak": conn.vantage.weak,
        "tshark_streams": list(conn.tshark_streams),
        "tshark_version": tshark_version,
    }


def connection_records(result: CaptureAnalysis, capture_name: str) -> list[dict[str, Any]]:
    """Every connection of an analysis as JSON-contract dicts, in id order."""
    version = result.capture.tshark_version
    return [
        connection_record(conn, capture=capture_name, tshark_version=version)
        for conn in result.connections
    ]


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    """A JSON-contract dict made flat for CSV: options spread out, lists joined with spaces."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            for sub, inner in value.items():
                flat[f"{key.removesuffix('_options')}_{sub}"] = inner
        elif isinstance(value, list):
            flat[key] = " ".join(str(v) for v in value)
        else:
            flat[key] = value
    return flat


def to_json(records: list[dict[str, Any]]) -> str:
    return json.dumps(records, indent=2, ensure_ascii=False) + "\n"
