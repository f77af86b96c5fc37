"""The grading stages' one view of the connections JSON contract: flat fields and their vocabulary.

Rubric requirements name fields of `pcapexplain connections --format json` (README, "The JSON
contract"). Everything the grading stages read of a connection's record goes through `fields`, so
a change of the contract's producer (records.py) is absorbed here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields as dataclass_fields
from enum import Enum
from typing import Any, Final, get_args, get_origin, get_type_hints

from pcapexplain import records
from pcapexplain.model import (
    AnomalySlug,
    CaptureAnalysis,
    Closer,
    Connection,
    ConnState,
    Handshake,
    TcpOptions,
    TcpState,
    Teardown,
)

# Bookkeeping fields a requirement has no business testing (file names, tool versions, ids).
_NOT_GRADABLE = frozenset({"id", "capture", "tshark_version", "tshark_streams"})


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
    "zeek_state": _names(ConnState),
    "anomalies": _names(AnomalySlug),
}


def fields(conn: Connection, result: CaptureAnalysis) -> dict[str, Any]:
    """The connection's JSON-contract record, options flattened (client_mss, server_wscale, ...),
    lists kept as lists, bookkeeping fields left out."""
    record = records.connection_record(conn, result, capture="").to_json_dict()
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


def _kind(annotation: object) -> str:
    """ "bool", "number", "text" or "list" for a record field's type (None allowed)."""
    if get_origin(annotation) is tuple:
        return "list"
    types = set(get_args(annotation)) - {type(None)} or {annotation}
    if types <= {bool}:
        return "bool"
    if types <= {int, float}:
        return "number"
    return "text"


def _field_types() -> dict[str, str]:
    """Each gradable field's kind, read from the record's and the options' type hints."""
    kinds: dict[str, str] = {}
    options = get_type_hints(TcpOptions)
    for name, annotation in get_type_hints(records.ConnectionRecord).items():
        if name in _NOT_GRADABLE:
            continue
        if annotation is TcpOptions:
            side = name.removesuffix("_options")
            for option in dataclass_fields(TcpOptions):
                kinds[f"{side}_{option.name}"] = _kind(options[option.name])
        else:
            kinds[name] = _kind(annotation)
    return kinds


FIELD_TYPES: Final[Mapping[str, str]] = _field_types()
