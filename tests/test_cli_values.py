"""cli_values: every parameter of every command coerces each value as typer's own adapter does
(the same value and type, or the same error), and the usual command line never imports pydantic."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

import typer.core
import typer.main
from typer import _coercion
from typer._click import Context

from pcapexplain import cli, cli_values

_NUMBERS = [0, 2, 2.0, 30.0, "0", "2", "007", "16", "-1", "+1", " 3", "1.5", "1e3", "x", ""]
_NUMBERS += ["99999999999999999999", "٣", True, None]
_TEXTS = ["tcp://127.0.0.1:8786", "", "-", None, 3]


def _parameters() -> Iterator[tuple[str, typer.core._TyperParameter, Context]]:
    group = typer.main.get_command(cli.app)
    assert isinstance(group, typer.core.TyperGroup)
    commands = [("", group), *group.commands.items()]
    for name, command in commands:
        for param in command.params:
            if isinstance(param, typer.core._TyperParameter):
                yield f"{name} {param.name}", param, Context(command)


def _values(annotation: Any, folder: Path) -> list[Any]:
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        names = [str(m.value) for m in annotation]
        return [*annotation, *names, *(n.upper() for n in names), "xx", "", f" {names[0]}", None]
    if annotation is Path:
        (folder / "file.pcap").write_bytes(b"")
        names = ["file.pcap", "missing.pcap", ".", "", "-", "a\udcffb"]
        return [*(str(folder / n) for n in names), folder / "file.pcap", 3, None]
    if annotation in (int, float):
        return _NUMBERS
    if annotation is bool:
        return [True, False, "true", "no", "", None]
    if annotation == list[int]:
        return [[], (), ["1", "2"], ("3",), ["x"], [4], "5"]
    return _TEXTS


def _outcome(
    runtime: _coercion.RuntimeParam, value: Any, param: typer.core._TyperParameter, ctx: Context
) -> tuple[str, Any, str]:
    try:
        value = runtime.coerce(value, param=param, ctx=ctx)
    except Exception as exc:  # noqa: BLE001 - the error is the outcome compared
        return "error", type(exc), str(exc)
    return "value", type(value), repr(value)


def test_every_parameter_coerces_as_typer_does(tmp_path: Path) -> None:
    checked = 0
    for label, param, ctx in _parameters():
        descriptor = param.type_descriptor
        ours = cli_values.direct(descriptor)
        typers = _coercion.build_runtime_param(descriptor)
        for value in _values(descriptor.annotation, tmp_path):
            expected = _outcome(typers, value, param, ctx)
            got = _outcome(ours, value, param, ctx)
            assert got == expected, (label, value)
            checked += 1
    assert checked > 300  # every command's parameters were reached


def test_the_usual_command_line_never_imports_pydantic(tmp_path: Path) -> None:
    """`connections FILE --format csv` (and the rest of its options) coerce without pydantic:
    importing it and building its adapters was a tenth of a second of every run's start-up."""
    code = (
        "import sys\n"
        "from pcapexplain import cli\n"
        "cli.main(sys.argv[1:])\n"
        "assert 'pydantic' not in sys.modules, 'pydantic was imported'\n"
    )
    missing = tmp_path / "missing.pcap"
    args = ["connections", str(missing), "--format", "csv", "--reader", "native", "-j", "2"]
    args += ["--lang", "zh", "-o", str(tmp_path / "out.csv")]
    run = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(cli.__file__).parent.parent)},
    )
    assert "pydantic was imported" not in run.stderr
    assert run.returncode == 0, run.stderr
    assert "missing.pcap" in run.stderr  # the command ran as far as opening the capture
