"""DataFrame views of an analysis with explicit dtypes: the only module that imports pandas."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

import numpy as np
import pandas as pd

from pcapexplain.model import CaptureAnalysis as _Result
from pcapexplain.model import (
    Closer,
    Direction,
    Handshake,
    PacketRole,
    TcpState,
    Teardown,
)
from pcapexplain.records import connection_records, flatten


def _categories(enum: type[Enum], by_value: bool = True) -> pd.CategoricalDtype:
    return pd.CategoricalDtype([m.value if by_value else m.name for m in enum])


_OPTIONAL_INT = "Int64"  # nullable: absent options and RTTs stay <NA>, not 0
CONNECTION_DTYPES: dict[str, object] = {
    "id": "int64",
    "capture": "string",
    "client_ip": "string",
    "client_port": "int32",
    "server_ip": "string",
    "server_port": "int32",
    "roles_inferred": "bool",
    "handshake": _categories(Handshake),
    "teardown": _categories(Teardown),
    "half_close": "bool",
    "closed_first": _categories(Closer),
    "time_wait": _categories(Closer),
    "client_final_state": _categories(TcpState, by_value=False),
    "server_final_state": _categories(TcpState, by_value=False),
    "zeek_state": "string",
    "zeek_history": "string",
    "anomalies": "string",
    "packets_to_server": "int64",
    "bytes_to_server": "int64",
    "retransmissions_to_server": "int64",
    "packets_to_client": "int64",
    "bytes_to_client": "int64",
    "retransmissions_to_client": "int64",
    "first_frame": "int64",
    "last_frame": "int64",
    "first_time": "float64",
    "last_time": "float64",
    "duration": "float64",
    "client_isn": _OPTIONAL_INT,
    "server_isn": _OPTIONAL_INT,
    "client_mss": _OPTIONAL_INT,
    "client_wscale": _OPTIONAL_INT,
    "client_sack_permitted": "bool",
    "client_timestamps": "bool",
    "client_tfo": "bool",
    "server_mss": _OPTIONAL_INT,
    "server_wscale": _OPTIONAL_INT,
    "server_sack_permitted": "bool",
    "server_timestamps": "bool",
    "server_tfo": "bool",
    "rtt_syn_to_synack": "float64",
    "rtt_synack_to_ack": "float64",
    "tshark_streams": "string",
    "tshark_version": "string",
}


def connections_frame(result: _Result, capture_name: str | None = None) -> pd.DataFrame:
    """One row per connection, columns as in the JSON contract (options flattened)."""
    name = capture_name if capture_name is not None else result.capture.path
    rows = [flatten(r) for r in connection_records(result, name)]
    frame = pd.DataFrame(rows, columns=list(CONNECTION_DTYPES))
    return frame.astype(CONNECTION_DTYPES)  # type: ignore[arg-type]


def _codes_to_category(codes: Sequence[int], enum: type[Enum]) -> pd.Categorical[str]:
    names = [m.name for m in enum]
    lookup = {m.value: i for i, m in enumerate(enum)}
    mapped = np.fromiter((lookup.get(c, -1) for c in codes), dtype=np.int16, count=len(codes))
    return pd.Categorical.from_codes(mapped, categories=pd.Index(names))


def packets_frame(result: _Result) -> pd.DataFrame:
    """One row per TCP packet: the loader's columns plus connection, role and both states."""
    p, s = result.packets, result.states
    frame = pd.DataFrame(
        {
            "frame": np.asarray(p.frame, dtype=np.int64),
            "time": np.asarray(p.time, dtype=np.float64),
            "src": pd.array(list(p.src), dtype="string"),
            "dst": pd.array(list(p.dst), dtype="string"),
            "sport": np.asarray(p.sport, dtype=np.int32),
            "dport": np.asarray(p.dport, dtype=np.int32),
            "flags": np.asarray(p.flags, dtype=np.int16),
            "seq_raw": np.asarray(p.seq, dtype=np.int64),
            "ack_raw": np.asarray(p.ack, dtype=np.int64),
            "length": np.asarray(p.length, dtype=np.int32),
            "window": np.asarray(p.window, dtype=np.int32),
            "analysis": np.asarray(p.analysis, dtype=np.int32),
            "tshark_stream": np.asarray(p.stream, dtype=np.int64),
            "connection": np.asarray(s.connection, dtype=np.int64),
            "direction": _codes_to_category(s.direction, Direction),
            "role": _codes_to_category(s.role, PacketRole),
            "client_before": _codes_to_category(s.client_before, TcpState),
            "client_after": _codes_to_category(s.client_after, TcpState),
            "server_before": _codes_to_category(s.server_before, TcpState),
            "server_after": _codes_to_category(s.server_after, TcpState),
        }
    )
    return frame
