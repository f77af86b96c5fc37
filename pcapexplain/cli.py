"""Command line: parse arguments, run the pipeline, print results.

The one place where errors reach the user.
"""

# Without `from __future__ import annotations`: typer would evaluate each of the ~250 annotation
# strings to build the commands, about a hundredth of a second of every run's start.

import atexit
import functools
import gc
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn, ParamSpec, TextIO, TypeVar

import typer

from pcapexplain import __version__, capture_reading, diagnostics
from pcapexplain.budget import BATCH_TIME_LIMIT
from pcapexplain.errors import ExitStatus, PcapExplainError, bug_hint
from pcapexplain.explanations import said, say, text
from pcapexplain.model import CaptureAnalysis, Lang, Reader
from pcapexplain.terminal import printable

app = typer.Typer(
    name="pcapexplain",
    help="Rebuild every TCP connection in a capture and explain what each packet did.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@dataclass(slots=True)
class _Session:
    debug: bool = False
    lang: Lang = Lang.EN  # the command's --lang: the language of its errors and warnings
    collecting: bool = True  # whether the cyclic collector ran when main() paused it


_state = _Session()


def _speak(lang: Lang) -> Lang:
    """--lang's callback: from here on, errors and warnings are told in the command's language."""
    _state.lang = Lang(lang)
    return lang


def _lang_option(help_text: str) -> typer.models.OptionInfo:
    option: typer.models.OptionInfo = typer.Option("--lang", help=help_text, callback=_speak)
    return option


class _Interrupted(Exception):
    """Ctrl-C in a command, carried to main(): typer itself turns a KeyboardInterrupt into a
    silent exit 130, before main() could say that the command was interrupted."""


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _command(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """app.command() for a command whose Ctrl-C main() reports (see _Interrupted), and which runs
    with the cyclic collector as main() found it (main pauses it while typer starts)."""

    @functools.wraps(func)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if _state.collecting:
            gc.enable()
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            raise _Interrupted from None

    app.command()(run)
    return run


class Format(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"
    ZEEK = "zeek"


CaptureArg = Annotated[
    Path,
    typer.Argument(
        help="A pcap, pcapng or gzip-compressed capture file; - reads standard input.",
        show_default=False,
    ),
]
ChecksumOpt = Annotated[
    bool,
    typer.Option(
        "--check-checksums",
        help="Validate IP and TCP checksums (off by default: offloaded checksums on the "
        "capture host would look bad).",
    ),
]
ReaderOpt = Annotated[
    Reader,
    typer.Option(
        "--reader",
        help="How to read the capture: auto (the native reader when it reads every link type "
        "and encapsulation in the file, else tshark), native, or tshark.",
        case_sensitive=False,
    ),
]

# The same for every command that runs work on all cores (connections, batch, grade).
JobsOpt = Annotated[
    int, typer.Option("--jobs", "-j", min=0, help="Worker processes (0: one per core).")
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
    _state.debug = debug


@_command
def connections(
    capture: CaptureArg,
    fmt: Annotated[
        Format, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
    ] = Format.TABLE,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
    check_checksums: ChecksumOpt = False,
    reader: ReaderOpt = Reader.AUTO,
    jobs: JobsOpt = 0,
    lang: Annotated[
        Lang, _lang_option("Language of the table and messages (csv, json, zeek: unchanged).")
    ] = Lang.EN,
) -> None:
    """List every TCP connection: endpoints, handshake, teardown, Zeek state, anomalies.

    Example: pcapexplain connections lab3.pcapng --format json -o lab3.json
    """
    if fmt is Format.ZEEK:
        analysis = capture_reading.analyse(capture, check_checksums, reader, lang, digest=False)
        _write_conn_log(analysis.result, check_checksums, output, lang)
        return
    if fmt is Format.TABLE and output is None:
        from pcapexplain import terminal

        rows, info = capture_reading.connection_rows(
            capture, check_checksums, reader, lang, jobs=jobs
        )
        terminal.print_connections(rows, sys.stdout, info=info, lang=lang)
        return
    # Paused from before the imports of the stages (numpy's among them) rather than from the
    # reading only: at a million packets they are serial, before the capture is read in parts.
    with capture_reading.collector_paused():
        count, write = _connection_writer(fmt, capture, check_checksums, reader, lang, jobs)
    if output is None:
        write(sys.stdout)
        return
    from pcapexplain.output import atomic_write

    written = atomic_write(output, write)
    path = printable(str(written))
    typer.echo(say(lang, "cli.wrote_connections", count=count, path=path), err=True)


def _connection_writer(
    fmt: Format, capture: Path, check_checksums: bool, reader: Reader, lang: Lang, jobs: int
) -> tuple[int, Callable[[TextIO], object]]:
    """How many connections, and what writes them as JSON or (a table sent to a file) CSV, a row
    at a time: a port scan's rows never exist as one text. CSV rows come already written by the
    processes that analysed them."""
    from pcapexplain import records

    if fmt is Format.JSON:
        rows, _ = capture_reading.connection_rows(capture, check_checksums, reader, lang, jobs=jobs)
        return len(rows), functools.partial(records.write_json, rows)
    parts, _ = capture_reading.connection_csv(capture, check_checksums, reader, lang, jobs=jobs)
    count = sum(len(part.lines) for part in parts)
    return count, functools.partial(records.write_csv_rows, parts)


def _write_conn_log(
    result: CaptureAnalysis, checksums_validated: bool, output: Path | None, lang: Lang
) -> None:
    """Zeek's rows (its splitting and flips), which may outnumber pcapexplain's connections."""
    from pcapexplain import connlog

    rows = connlog.rows(result.packets, result.states, checksums_validated=checksums_validated)
    log = connlog.render(rows, path=result.capture.path)
    if output is None:
        sys.stdout.write(log)
        return
    from pcapexplain.output import atomic_write_text

    written = printable(str(atomic_write_text(output, log)))
    counts = {"rows": len(rows), "connections": len(result.connections)}
    typer.echo(say(lang, "cli.wrote_zeek", path=written, **counts), err=True)


@_command
def explain(
    capture: CaptureArg,
    connection: Annotated[
        list[int] | None,
        typer.Option("--connection", "-c", help="Explain only this connection id (repeatable)."),
    ] = None,
    lang: Annotated[Lang, _lang_option("Language of the explanations.")] = Lang.EN,
    limit: Annotated[
        int, typer.Option(help="Without --connection, explain at most this many connections.")
    ] = 20,
    check_checksums: ChecksumOpt = False,
    reader: ReaderOpt = Reader.AUTO,
) -> None:
    """Tell the story of each connection, packet by packet, in plain language.

    Example: pcapexplain explain lab3.pcapng --connection 0 --lang zh
    """
    from pcapexplain import terminal

    analysis = capture_reading.analyse(capture, check_checksums, reader, lang)
    result = analysis.result
    chosen = [analysis.connection(i) for i in connection] if connection else None
    conns = chosen if chosen is not None else result.connections[:limit]
    for line in terminal.story(result, conns, lang):
        sys.stdout.write(line + "\n")
    sys.stdout.write(terminal.reader_line(analysis.capture, lang) + "\n")
    left = len(result.connections) - len(conns)
    if chosen is None and left > 0:
        limit = len(conns) + left
        typer.echo(text(lang, "cli.more_connections", left=left, limit=limit), err=True)


@_command
def report(
    capture: CaptureArg,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write the HTML (default: NAME.html here)."),
    ] = None,
    lang: Annotated[Lang, _lang_option("Language of the report.")] = Lang.EN,
    connection: Annotated[
        list[int] | None,
        typer.Option("--connection", "-c", help="Draw this connection in full (repeatable)."),
    ] = None,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the report in the default browser.")
    ] = False,
    check_checksums: ChecksumOpt = False,
    reader: ReaderOpt = Reader.AUTO,
) -> None:
    """Write a self-contained HTML report explaining every SYN, ACK, FIN and RST.

    Example: pcapexplain report lab3.pcapng -o lab3.html --lang zh
    """
    from pcapexplain import reporter

    analysis = capture_reading.analyse(capture, check_checksums, reader, lang)
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
    typer.echo(say(lang, "cli.wrote_report", path=printable(str(target))))
    if open_browser:
        import webbrowser  # its import alone costs the other commands a hundredth of a second

        webbrowser.open(target.resolve().as_uri())


def default_report_name(capture: Path) -> str:
    """NAME.html for NAME.pcap, NAME.pcapng, NAME.pcap.gz and the like; stdin.html for -."""
    name = "stdin" if str(capture) == "-" else capture.name
    for suffix in (".gz", ".pcapng", ".pcap", ".cap"):
        name = name.removesuffix(suffix)
    return f"{name or 'capture'}.html"


class CheckFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


RubricOpt = Annotated[
    Path,
    typer.Option("--rubric", "-r", help="The teacher's rubric (TOML).", show_default=False),
]
# The runner's options, the same for every command that runs work on all cores (batch, grade).
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        metavar="ADDRESS",
        help="Send the work to a Dask cluster (tcp://HOST:PORT); needs the dask extra.",
    ),
]
TimeLimitOpt = Annotated[
    float,
    typer.Option(
        "--time-limit",
        min=0,
        metavar="SECONDS",
        help="Stop the work on one input after this long (0: never).",
    ),
]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@_command
def check(
    capture: CaptureArg,
    rubric: RubricOpt,
    answers: Annotated[
        Path | None,
        typer.Option(
            "--answers",
            "-a",
            help="The student's answers (TOML); without it, print "
            "the answers computed from the capture (a model solution).",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Also write the student's feedback page (HTML)."),
    ] = None,
    lang: Annotated[Lang, _lang_option("Language of the feedback.")] = Lang.EN,
    fmt: Annotated[
        CheckFormat, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
    ] = CheckFormat.TEXT,
    reader: ReaderOpt = Reader.AUTO,
) -> None:
    """Grade one capture, and the student's answers about it, against a rubric.

    Exits 0 when every item passes and 3 when one does not.
    Example: pcapexplain check alice.pcapng --rubric lab.toml --answers alice.toml -o alice.html
    """
    from pcapexplain import feedback, grading, reporter
    from pcapexplain import rubric as rubrics
    from pcapexplain.answers import load_answers
    from pcapexplain.submissions import student_id

    teacher = rubrics.load_rubric(rubric)
    sheet = None
    if answers is not None:
        sheet = load_answers(answers, tuple(q.id for q in teacher.questions))
    analysis = capture_reading.analyse(capture, False, reader, lang)
    result = grading.check(analysis.result, teacher, sheet, lang)
    if fmt is CheckFormat.JSON:
        sys.stdout.write(feedback.json_report(result, teacher))
    else:
        for line in feedback.text_report(result, teacher):
            typer.echo(printable(line))
    if output is not None:
        page = feedback.build_feedback(
            analysis.result,
            result,
            teacher,
            student=student_id(capture.name),
            generated_at=_now(),
            version=__version__,
        )
        written = reporter.write_report(reporter.render_feedback(page), output)
        typer.echo(say(lang, "cli.wrote_feedback", path=printable(str(written))), err=True)
    if not result.passed:
        raise typer.Exit(int(ExitStatus.CHECK_FAILED))


@_command
def grade(
    submissions: Annotated[
        Path,
        typer.Argument(
            help="A folder with one capture file or one folder per student.", show_default=False
        ),
    ],
    rubric: RubricOpt,
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Folder for gradebook.csv, summary.html and the feedback pages.",
            show_default=False,
        ),
    ],
    jobs: JobsOpt = 0,
    lang: Annotated[Lang, _lang_option("Language of the feedback.")] = Lang.EN,
    scheduler: SchedulerOpt = None,
    time_limit: TimeLimitOpt = BATCH_TIME_LIMIT,
    reader: ReaderOpt = Reader.AUTO,
) -> None:
    """Grade a whole class: a gradebook, a feedback page per student, a class summary.

    Example: pcapexplain grade submissions/ --rubric lab.toml -o results/ --jobs 2
    """
    from pcapexplain import budget, classroom, gradebook, reporter, run_display, runner
    from pcapexplain import rubric as rubrics
    from pcapexplain.output import atomic_write_text

    teacher = rubrics.load_rubric(rubric)
    stamp = _now()
    tasks = classroom.student_tasks(
        submissions,
        teacher,
        output,
        lang=lang,
        generated_at=stamp,
        version=__version__,
        reader=reader,
    )
    options = runner.RunOptions(
        jobs=jobs or (0 if scheduler else budget.default_jobs()),
        time_limit=time_limit or None,
        scheduler=scheduler,
    )
    result = run_display.grade_class(tasks, options, lang)
    outcomes = result.outcomes
    errors = sum(1 for o in outcomes if o.check is None)
    if result.interrupted:
        done, total = len(outcomes), len(tasks)
        line = diagnostics.said_line("interrupted_grade", lang, done=done, total=total)
        sys.stderr.write(line + "\n")
        raise typer.Exit(int(ExitStatus.INTERRUPTED))
    atomic_write_text(output / "gradebook.csv", gradebook.csv_text(outcomes, teacher))
    summary = gradebook.build_summary(
        outcomes, teacher, lang=lang, generated_at=stamp, version=__version__
    )
    reporter.write_report(reporter.render_summary(summary), output / "summary.html")
    flagged = sum(1 for o in outcomes if o.flags)
    graded = say(
        lang,
        "cli.graded",
        graded=len(outcomes) - errors,
        total=len(outcomes),
        errors=errors,
        flagged=flagged,
        gradebook=printable(str(output / "gradebook.csv")),
        summary=printable(str(output / "summary.html")),
    )
    typer.echo(graded)
    if errors:
        raise typer.Exit(int(ExitStatus.COMPLETED_WITH_ERRORS))


@_command
def batch(
    folder: Annotated[
        Path, typer.Argument(help="A folder of captures (found by content).", show_default=False)
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Folder for the reports, index and tables.", show_default=False
        ),
    ],
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Search subfolders too.")
    ] = False,
    jobs: JobsOpt = 0,
    lang: Annotated[Lang, _lang_option("Language of the reports and index.")] = Lang.EN,
    force: Annotated[
        bool, typer.Option("--force", help="Redo captures that are unchanged since the last run.")
    ] = False,
    scheduler: SchedulerOpt = None,
    time_limit: TimeLimitOpt = BATCH_TIME_LIMIT,
    reader: ReaderOpt = Reader.AUTO,
) -> None:
    """Report on every capture in a folder, in parallel, with an index and summary tables.

    Example: pcapexplain batch labs/ -o labs-report --recursive
    """
    from pcapexplain import batch as batch_stage
    from pcapexplain import run_display, terminal
    from pcapexplain.batch_model import CaptureStatus

    options = batch_stage.BatchOptions(
        lang=lang,
        recursive=recursive,
        jobs=jobs,
        force=force,
        scheduler=scheduler,
        time_limit=time_limit or None,
        reader=reader,
    )
    plan = batch_stage.plan(folder, output, options)
    run_display.print_plan(plan, sys.stdout, sys.stderr)
    result = run_display.run_batch(plan)
    typer.echo(terminal.batch_done_line(result, printable(str(result.outputs[0])), lang))
    if result.interrupted:
        sys.stderr.write(diagnostics.said_line("interrupted_batch", lang) + "\n")
        raise typer.Exit(int(ExitStatus.INTERRUPTED))
    if result.count(CaptureStatus.ERROR):
        raise typer.Exit(int(ExitStatus.COMPLETED_WITH_ERRORS))


@_command
def doctor(
    lang: Annotated[Lang, _lang_option("Language of the report and messages.")] = Lang.EN,
) -> None:
    """Check both readers: the native one (built in) and tshark (found through pyshark).

    Example: pcapexplain doctor --lang zh
    """
    from pcapexplain import linklayer, loader, terminal

    names = sorted({text(lang, f"doctor.link.{k}") for k in linklayer.LINKTYPE_NAMES.values()})
    kinds = text(lang, "doctor.list_sep").join(names)
    found = [("native", say(lang, "doctor.native", kinds=kinds))]
    info = loader.tshark_info()
    needed = ".".join(str(n) for n in loader.MIN_TSHARK)
    verdict = text(lang, "doctor.ok" if info.supported else "doctor.too_old")
    found += [
        ("tshark", printable(info.path)),
        ("version", info.version),
        ("needed", say(lang, "doctor.needed", needed=needed, verdict=verdict)),
        (
            "pcapexplain",
            say(lang, "doctor.pcapexplain", version=__version__, python=sys.version.split()[0]),
        ),
    ]
    for line in terminal.labelled_lines(lang, "doctor", found):
        typer.echo(line)
    if not info.supported:
        raise typer.Exit(int(ExitStatus.ERROR))


def _reader_left() -> int:
    """`pcapexplain ... | head`: the reader left; stay quiet like other Unix tools."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return int(ExitStatus.OK)


def _unexpected(exc: BaseException, hint: str) -> int:
    if _state.debug:
        raise exc
    diagnostics.report_unexpected(exc, hint, _state.lang, sys.stderr)
    return int(ExitStatus.ERROR)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit status (see errors.ExitStatus)."""
    args = sys.argv[1:] if argv is None else argv
    _state.lang = Lang.EN  # until a command's --lang says otherwise
    # Typer's start (building the commands and their option parsers) makes
    # long-lived objects and no garbage, yet triggers collections that rescan all imported so
    # far: about 3 % of the instructions before `connections` forks. Off until the command runs.
    _state.collecting = gc.isenabled()
    gc.disable()
    try:
        return _main(args)
    finally:
        if _state.collecting:
            gc.enable()


def _main(args: list[str]) -> int:
    try:
        result = app(args=args, prog_name="pcapexplain", standalone_mode=False)
    except PcapExplainError as exc:
        if _state.debug:
            raise
        return diagnostics.report_error(exc, _state.lang, sys.stderr)
    except typer.TyperException as exc:
        # Usage errors (bad option, missing argument) print click-style help and exit 2; in the
        # language the command line asked for, which its parsing never reached.
        from pcapexplain import usage_errors  # its patterns compiled only for a usage error

        asked = usage_errors.asked_lang(args)
        show = getattr(exc, "show", None)
        if asked is not Lang.EN and usage_errors.is_usage_error(exc):
            sys.stderr.writelines(usage_errors.usage_lines(exc, asked))
        elif callable(show):
            show()
        else:
            sys.stderr.writelines(diagnostics.error_lines(exc.format_message(), None, _state.lang))
        return int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt, _Interrupted):
        sys.stderr.write(diagnostics.said_line("interrupted", _state.lang) + "\n")
        return int(ExitStatus.INTERRUPTED)
    except BrokenPipeError:
        return _reader_left()
    except SystemExit as exc:
        # click turns a broken pipe into exit 1 even outside standalone mode.
        if isinstance(exc.__context__, BrokenPipeError):
            return _reader_left()
        raise
    except (OSError, MemoryError) as exc:
        return _unexpected(exc, said("hint.memory"))
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback for users
        return _unexpected(exc, bug_hint())
    return result if isinstance(result, int) else int(ExitStatus.OK)


def run() -> NoReturn:
    """The console script and `python -m pcapexplain`: main(), then leave at once.

    Tearing the interpreter down (its modules, numpy's included, and a large capture's heap) takes
    a tenth of a second at a million packets and changes nothing a user sees: what it would do
    that does matter is done here first, the exit functions and the flushing of stdout and
    stderr. A thread still working (none in these commands), or a flush that fails (the reader
    left just then), takes the usual way out, which waits for it or tells it as before.

    numpy's OpenBLAS starts a thread per core when numpy is imported, which spins for about a
    tenth of a second of CPU (as much as the import itself) beside the start-up, and in each
    batch worker beside the other workers; pcapexplain does no linear algebra. A value the user
    set is kept."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    status = main()
    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon for t in threading.enumerate()):
        sys.exit(status)
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001 - the interpreter's exit flushes again and says so
        sys.exit(status)
    os._exit(status)
