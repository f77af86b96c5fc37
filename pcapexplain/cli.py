"""Command line: parse arguments, run the pipeline, print results.

The one place where errors reach the user.
"""

from __future__ import annotations

import csv
import io
import os
import sys
import webbrowser
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pcapexplain import __version__
from pcapexplain.errors import ExitStatus, PcapExplainError
from pcapexplain.model import Lang

if TYPE_CHECKING:
    from pcapexplain import api

app = typer.Typer(
    name="pcapexplain",
    help="Rebuild every TCP connection in a capture and explain what each packet did.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

_state = {"debug": False}


class Format(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"
    ZEEK = "zeek"


CaptureArg = Annotated[
    Path, typer.Argument(help="A pcap, pcapng or gzip-compressed capture file.", show_default=False)
]
ChecksumOpt = Annotated[
    bool,
    typer.Option(
        "--check-checksums",
        help="Have tshark validate IP and TCP checksums (off by default: offloaded checksums "
        "on the capture host would look bad).",
    ),
]


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"pcapexplain {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Rebuild every TCP connection in a capture and explain what each packet did."""
    _state["debug"] = debug


def _analyse(capture: Path, check_checksums: bool) -> api.Analysis:
    """Run the pipeline; warnings (a capture cut short) go to stderr, the results still follow."""
    from pcapexplain import api

    analysis = api.analyse(capture, validate_checksums=check_checksums)
    for warning in analysis.capture.warnings:
        typer.echo(f"pcapexplain: warning: {printable(capture.name)}: {warning}", err=True)
    return analysis


def _capture_name(path: Path) -> str:
    return path.name


@app.command()
def connections(
    capture: CaptureArg,
    fmt: Annotated[
        Format, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
    ] = Format.TABLE,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
    check_checksums: ChecksumOpt = False,
) -> None:
    """List every TCP connection: endpoints, handshake, teardown, Zeek state, anomalies.

    Example: pcapexplain connections lab3.pcapng --format json -o lab3.json
    """
    from pcapexplain import records

    analysis = _analyse(capture, check_checksums)
    rows = records.connection_records(analysis.result, _capture_name(capture))
    if fmt is Format.TABLE and output is None:
        _print_table(rows)
        return
    text = _render(fmt, rows, analysis)
    if output is None:
        sys.stdout.write(text)
        return
    from pcapexplain.output import atomic_write_text

    written = atomic_write_text(output, text)
    typer.echo(f"Wrote {len(rows)} connections to {printable(str(written))}", err=True)


def _render(fmt: Format, rows: list[dict[str, object]], analysis: object) -> str:
    from pcapexplain import api, records, zeek

    if fmt is Format.JSON:
        return records.to_json(rows)
    if fmt is Format.ZEEK:
        assert isinstance(analysis, api.Analysis)
        result = analysis.result
        zeek_rows = zeek.zeek_rows(result.packets, result.connections)
        log: str = zeek.conn_log(zeek_rows, path=result.capture.path)
        return log
    return _csv_text([records.flatten(r) for r in rows])


def _csv_text(rows: list[dict[str, object]]) -> str:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()


def _print_table(rows: list[dict[str, object]]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(show_lines=False, header_style="bold")
    for title in (
        "id",
        "client",
        "server",
        "handshake",
        "teardown",
        "closed first",
        "TIME_WAIT",
        "pkts",
        "bytes c→s",
        "bytes s→c",
        "zeek",
        "anomalies",
    ):
        table.add_column(title, overflow="fold")
    for r in rows:
        inferred = " (inferred)" if r["roles_inferred"] else ""
        anomalies = r["anomalies"]
        assert isinstance(anomalies, list)
        table.add_row(
            str(r["id"]),
            Text(f"{_endpoint(r, 'client')}{inferred}"),
            Text(_endpoint(r, "server")),
            str(r["handshake"]),
            str(r["teardown"]),
            str(r["closed_first"]),
            str(r["time_wait"]),
            str(int(str(r["packets_to_server"])) + int(str(r["packets_to_client"]))),
            f"{r['bytes_to_server']:,}",
            f"{r['bytes_to_client']:,}",
            str(r["zeek_state"]),
            Text(", ".join(str(a) for a in anomalies)),
        )
    # Piped output keeps whole rows: a file or `grep` has no terminal width to fold to.
    width = None if sys.stdout.isatty() else 200
    Console(highlight=False, width=width).print(table)


def _endpoint(row: dict[str, object], side: str) -> str:
    ip, port = str(row[f"{side}_ip"]), row[f"{side}_port"]
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


@app.command()
def explain(
    capture: CaptureArg,
    connection: Annotated[
        list[int] | None,
        typer.Option("--connection", "-c", help="Explain only this connection id (repeatable)."),
    ] = None,
    lang: Annotated[Lang, typer.Option("--lang", help="Language of the explanations.")] = (Lang.EN),
    limit: Annotated[
        int, typer.Option(help="Without --connection, explain at most this many connections.")
    ] = 20,
    check_checksums: ChecksumOpt = False,
) -> None:
    """Tell the story of each connection, packet by packet, in plain language.

    Example: pcapexplain explain lab3.pcapng --connection 0 --lang zh
    """
    from pcapexplain import narrate

    analysis = _analyse(capture, check_checksums)
    result = analysis.result
    chosen = [analysis.connection(i) for i in connection] if connection else None
    conns = chosen if chosen is not None else result.connections[:limit]
    out = sys.stdout
    for conn in conns:
        told = narrate.story(result, conn, lang)
        out.write(told.header + "\n")
        for note in told.notes:
            out.write("  " + note + "\n")
        for line in told.lines:
            out.write("  " + narrate.format_line(line, lang) + "\n")
        out.write("\n")
    left = len(result.connections) - len(conns)
    if chosen is None and left > 0:
        typer.echo(
            f"{left} more connections not shown; use --connection N or --limit {len(conns) + left}",
            err=True,
        )


@app.command()
def report(
    capture: CaptureArg,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write the HTML (default: NAME.html here)."),
    ] = None,
    lang: Annotated[Lang, typer.Option("--lang", help="Language of the report.")] = (Lang.EN),
    connection: Annotated[
        list[int] | None,
        typer.Option("--connection", "-c", help="Draw this connection in full (repeatable)."),
    ] = None,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the report in the default browser.")
    ] = False,
    check_checksums: ChecksumOpt = False,
) -> None:
    """Write a self-contained HTML report explaining every SYN, ACK, FIN and RST.

    Example: pcapexplain report lab3.pcapng -o lab3.html --lang zh
    """
    from pcapexplain import reporter

    analysis = _analyse(capture, check_checksums)
    for conn_id in connection or []:
        analysis.connection(conn_id)  # fail early and clearly on an unknown id
    ctx = reporter.build_context(
        analysis.result,
        lang=lang,
        selected=connection or None,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        version=__version__,
    )
    target = output if output is not None else Path.cwd() / default_report_name(capture)
    reporter.write_report(reporter.render_html(ctx), target)
    typer.echo(f"Wrote report to {printable(str(target))}")
    if open_browser:
        webbrowser.open(target.resolve().as_uri())


def default_report_name(capture: Path) -> str:
    """NAME.html for NAME.pcap, NAME.pcapng, NAME.pcap.gz and the like."""
    name = capture.name
    for suffix in (".gz", ".pcapng", ".pcap", ".cap"):
        name = name.removesuffix(suffix)
    return f"{name or 'capture'}.html"


@app.command()
def doctor() -> None:
    """Check that tshark is installed, found through pyshark, and new enough.

    Example: pcapexplain doctor
    """
    from pcapexplain import loader

    info = loader.tshark_info()
    typer.echo(f"tshark:      {info.path}")
    typer.echo(f"version:     {info.version}")
    needed = ".".join(str(n) for n in loader.MIN_TSHARK)
    verdict = "ok" if info.supported else "too old"
    typer.echo(f"needed:      {needed} or newer: {verdict}")
    typer.echo(f"pcapexplain: {__version__}, Python {sys.version.split()[0]}")
    if not info.supported:
        raise typer.Exit(int(ExitStatus.ERROR))


def printable(text: str) -> str:
    """File names and capture text shown on a terminal: control characters (escape sequences,
    newlines) are written as \\x.. so that they cannot move the cursor or forge a line."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _report_error(exc: PcapExplainError) -> int:
    sys.stderr.write(f"pcapexplain: error: {printable(exc.message)}\n")
    if exc.hint:
        sys.stderr.write(f"hint: {printable(exc.hint)}\n")
    return int(exc.exit_status)


def _unexpected(exc: BaseException, hint: str) -> int:
    if _state["debug"]:
        raise exc
    sys.stderr.write(f"pcapexplain: error: {type(exc).__name__}: {printable(str(exc))}\n")
    sys.stderr.write(f"hint: {hint}\n")
    return int(ExitStatus.ERROR)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit status (see errors.ExitStatus)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        result = app(args=args, prog_name="pcapexplain", standalone_mode=False)
    except PcapExplainError as exc:
        if _state["debug"]:
            raise
        return _report_error(exc)
    except typer.TyperException as exc:
        # Usage errors (bad option, missing argument) print click-style help and exit 2.
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            sys.stderr.write(f"pcapexplain: error: {exc.format_message()}\n")
        return int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.stderr.write("pcapexplain: interrupted\n")
        return int(ExitStatus.INTERRUPTED)
    except BrokenPipeError:
        # `pcapexplain ... | head`: the reader left; stay quiet like other Unix tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return int(ExitStatus.OK)
    except (OSError, MemoryError) as exc:
        return _unexpected(exc, "check free memory and disk space, then try again")
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback for users
        return _unexpected(exc, "this is a bug: run again with --debug and report the output")
    return result if isinstance(result, int) else int(ExitStatus.OK)
