"""Command line: typer's coercion of the usual option values, without importing pydantic.

typer (0.2x) turns every option value it is given, the defaults included, into its type through
a pydantic TypeAdapter built for the option (typer.core._TyperParameter.process_value). Importing
pydantic and building those adapters is a tenth of a second of every run's start-up, before a
capture is opened, for values such as `csv`, `2` or a file name. Here typer's own helpers turn
the values that are plainly well-formed (a choice's exact name, a plain number within the
option's bounds, a path) into what typer would make of them, and anything else (a value typer
rejects, a type not named here) goes to typer's own adapter, so that what it accepts and every
message it gives stay typer's. tests/test_cli_values.py checks the two agree.

typer has no setting for this: install() swaps the hook typer calls for each parameter's
coercion; cli.py leaves typer as it is when a typer without these modules cannot import this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Final, get_args, get_origin

import typer.core
from typer import _coercion, _param_types
from typer._click import Context
from typer.models import ParameterInfo

_UNSURE: Final = object()  # a value left to typer's adapter
_MAX_DIGITS = 18  # a plain number that fits an int64: Python and pydantic read it alike


def install() -> None:
    """Have typer coerce parameters with Direct (idempotent)."""
    typer.core.build_runtime_param = direct  # type: ignore[attr-defined]  # typer.core imports it


def direct(descriptor: _coercion.TypeDescriptor) -> _coercion.RuntimeParam:
    """The coercion of one parameter: Direct, or typer's own where it opens files."""
    if descriptor.file_annotation is not None:
        return _coercion.build_runtime_param(descriptor)
    return Direct(annotation=descriptor.annotation, parameter_info=descriptor.parameter_info)


@dataclass(frozen=True)
class Direct(_coercion.RuntimeParam):
    """A parameter's well-formed values as typer makes them; the rest through typer's adapter."""

    def _coerce_value(self, value: Any, param: typer.core._TyperParameter, ctx: Context) -> Any:
        try:
            quick = plain(self.annotation, self.parameter_info, value, ctx)
        except Exception:  # noqa: BLE001 - typer's adapter says what is wrong, in its words
            quick = _UNSURE
        if quick is not _UNSURE:
            return quick
        descriptor = _coercion.TypeDescriptor(self.annotation, self.parameter_info, None)
        return _coercion.build_runtime_param(descriptor)._coerce_value(value, param, ctx)


def plain(annotation: Any, info: ParameterInfo, value: Any, ctx: Context | None) -> Any:
    """value as typer's adapter for annotation would return it, or _UNSURE."""
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        choices = tuple(annotation)
        return _param_types.coerce_cli_choice(
            value, choices=choices, case_sensitive=info.case_sensitive, ctx=ctx
        )
    if annotation is Path and info.path_type is None and info.parser is None:
        if not isinstance(value, str | Path):
            return _UNSURE
        return _param_types.coerce_cli_path(Path(value), info, path_type=Path, ctx=ctx)
    if annotation is str and info.parser is None:
        return value if isinstance(value, str) else _UNSURE
    if annotation in (int, float) and info.parser is None and not info.clamp:
        return _number(annotation, info, value)
    if get_origin(annotation) is list and isinstance(value, list | tuple):
        (item,) = get_args(annotation)
        items = [plain(item, info, each, ctx) for each in value]
        return _UNSURE if _UNSURE in items else items
    return _UNSURE


def _number(kind: type[int] | type[float], info: ParameterInfo, value: Any) -> Any:
    """An int or float value (a default), or a plain decimal integer, within the option's min
    and max; anything else (signs, spaces, exponents, out of bounds) is left to typer."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        if len(value) > _MAX_DIGITS:
            return _UNSURE
        value = kind(value)
    if type(value) is not kind:
        return _UNSURE
    if (info.min is not None and value < info.min) or (info.max is not None and value > info.max):
        return _UNSURE
    return value
