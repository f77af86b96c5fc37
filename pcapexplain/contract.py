"""The grading stages' one view of the connections JSON contract: flat fields and their vocabulary.

Rubric requirements name fields of `pcapexplain connections --format json` (README, "The JSON
contract"). Everything the grading stages read of a connection's record goes through `fields`, so
a change of the contract's producer (records.py) is absorbed here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any, Final

from pcapexplain import records
from pcapexplain.model import (
    AnomalySlug,
    Closer,
    Connection,
    Endpoint,
    Handshake,
    TcpOptions,
    TcpState,
    Teardown,
)

# Bookkeeping fields a requirement has no business testing (file names, tool versions, ids).
_NOT_GRADABLE = frozenset({"id", "capture", "tshark_version", "tshark_streams"})

ZEEK_STATES: Final = (
    "S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH",
)  # fmt: skip


def _names(members: type[Enum], attr: str = "value") -> tuple[str, ...]:
    return tuple(str(getattr(m, attr)) for m in members)


# Fields whose values form a closed vocabulary: a rubric value outside it is a typo.
VOCABULARY: Final[Mapping[str, tuple[str, ...]]] = {
    "handshake": _names(Handshake),
    "teardown": _names(Teardown),
    "closed_first": _names(Closer),
    "time_wait": _names(Closer),
    "client_final_state": _names(TcpState, "name"),
    "server_final_state": _names(TcpState, "name"),
    "zeek_state": ZEEK_STATES,
    "anomalies": _names(AnomalySlug),
}


def fields(conn: Connection) -> dict[str, Any]:
    """The connection's JSON-contract record, options flattened (client_mss, server_wscale, ...),
    lists kept as lists, bookkeeping fields left out."""
    record = records.connection_record(conn, capture="", tshark_version="")
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if key in _NOT_GRADABLE:
            continue
        if isinstance(value, dict):
            for sub, inner in value.items():
                flat[f"{key.removesuffix('_options')}_{sub}"] = inner
        else:
            flat[key] = value
    return flat


def _field_types() -> dict[str, str]:
    """Each gradable field's kind: "bool", "number", "text" or "list"."""
    sample = Connection(
        id=0,
        client=Endpoint("0.0.0.0", 0),
        server=Endpoint("0.0.0.0", 0),
        client_options=TcpOptions(mss=1, wscale=1),
        server_options=TcpOptions(mss=1, wscale=1),
        client_isn=1,
        server_isn=1,
        rtt_syn_synack=0.1,
        rtt_synack_ack=0.1,
    )
    kinds: dict[str, str] = {}
    for key, value in fields(sample).items():
        if isinstance(value, bool):
            kinds[key] = "bool"
        elif isinstance(value, int | float):
            kinds[key] = "number"
        elif isinstance(value, list):
            kinds[key] = "list"
        else:
            kinds[key] = "text"
    return kinds


FIELD_TYPES: Final[Mapping[str, str]] = _field_types()
