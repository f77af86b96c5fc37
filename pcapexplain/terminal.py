"""Terminal output: the connections table, explain's story, batch and grade lines, safe names.

cli.py decides what to print and where; this module only turns results into lines for a terminal
or a pipe. The only rich user; like the stages, imported where it is needed, so that `--version`
and error messages stay fast.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from pcapexplain.batch import BatchResult
    from pcapexplain.batch_model import CaptureRow
    from pcapexplain.classroom import StudentOutcome
    from pcapexplain.model import CaptureAnalysis, CaptureInfo, Connection, Lang
    from pcapexplain.records import ConnectionRecord

TABLE_COLUMNS = (
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
)
PIPED_WIDTH = 200  # a file or `grep` has no terminal width to fold rows to


def printable(text: str) -> str:
    """File names and capture text shown on a terminal: control characters (escape sequences,
    newlines) are written as \\x.. so that they cannot move the cursor or forge a line."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def print_connections(records: Sequence[ConnectionRecord], stream: TextIO, *, reader: str) -> None:
    """The `connections` table, captioned with the reader that read the capture; folded to the
    terminal's width, whole rows when piped."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(show_lines=False, header_style="bold", caption=f"read by {reader}")
    for title in TABLE_COLUMNS:
        table.add_column(title, overflow="fold")
    for r in records:
        inferred = " (inferred)" if r.roles_inferred else ""
        table.add_row(
            str(r.id),
            Text(f"{r.client}{inferred}"),
            Text(str(r.server)),
            r.handshake.value,
            r.teardown.value,
            r.closed_first.value,
            r.time_wait.value,
            str(r.packets),
            f"{r.bytes_to_server:,}",
            f"{r.bytes_to_client:,}",
            r.zeek_state.value,
            Text(", ".join(r.anomalies)),
        )
    width = None if stream.isatty() else PIPED_WIDTH
    Console(file=stream, highlight=False, width=width).print(table)


def story(result: CaptureAnalysis, connections: Sequence[Connection], lang: Lang) -> Iterator[str]:
    """The lines `explain` prints: per connection a header, the notes under it and its narrative
    indented, a blank."""
    from pcapexplain import narrate

    before = narrate.predecessors(result.connections)
    for conn in connections:
        told = narrate.story(result, conn, lang, before.get(conn.id))
        yield told.header
        for note in told.notes:
            yield "  " + note
        for line in told.lines:
            yield "  " + narrate.format_line(line, lang)
        yield ""


def reader_line(info: CaptureInfo, lang: Lang) -> str:
    """The line that ends `explain`: which reader read the capture (tshark with its version)."""
    from pcapexplain.explanations import reader_name, text

    return text(lang, "ui.read_by", reader=reader_name(lang, info.reader, info.read_by))


def batch_line(row: CaptureRow, lang: Lang) -> str:
    """One finished capture of a batch: its status, packets, connections, time and warnings."""
    from pcapexplain.explanations import say

    name, status = printable(row.capture), label(lang, row.status.value)
    s = row.summary
    if s is None:
        return status + say(lang, "cli.line.failed", name=name, error=printable(row.error))
    line = say(
        lang,
        "cli.line.ok",
        name=name,
        packets=f"{s.packets:,}",
        connections=f"{s.connections:,}",
        seconds=f"{row.seconds:.1f}",
    )
    warnings = (" " + say(lang, "cli.line.warning", warning=printable(w)) for w in s.warnings)
    return status + line + "".join(warnings)


def student_line(outcome: StudentOutcome, seconds: float, lang: Lang) -> str:
    """One finished student of `grade`: the score and flags, or why it could not be graded."""
    from pcapexplain.explanations import say, shows_codes, text

    name = printable(outcome.student)
    if outcome.check is None:
        failed = say(lang, "cli.line.failed", name=name, error=printable(outcome.error))
        return label(lang, "error") + failed
    c = outcome.check
    line = say(
        lang,
        "cli.line.graded",
        name=name,
        earned=f"{c.earned:g}",
        possible=f"{c.possible:g}",
        seconds=f"{seconds:.1f}",
    )
    codes = shows_codes(lang)  # English shows the flag's code; Chinese, its label
    flags = [
        f.flag.value if codes else text(lang, f"grade.flag.{f.flag.value}") for f in outcome.flags
    ]
    return (
        label(lang, "graded")
        + line
        + "".join(" " + say(lang, "cli.line.flag", flag=f) for f in flags)
    )


def label(lang: Lang, status: str) -> str:
    """A line's status word (cli.label.<status>) padded to 8 columns and a space, as a terminal
    shows it: a Chinese character takes two columns."""
    import unicodedata

    from pcapexplain.explanations import text

    word = text(lang, f"cli.label.{status}")
    width = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in word)
    return word + " " * (max(8 - width, 0) + 1)


def batch_done_line(result: BatchResult, index: str, lang: Lang) -> str:
    """The line that ends `batch`: the index written and how many captures came to what."""
    from pcapexplain.batch_model import CaptureStatus
    from pcapexplain.explanations import said, said_list, say, sentences

    counts = [
        said(f"cli.count.{status.value}", count=result.count(status))
        for status in CaptureStatus
        if result.count(status)
    ]
    kept = sum(1 for r in result.rows if r.reused)
    line = say(lang, "cli.wrote_index", index=index, counts=said_list(counts))
    if not kept:
        return line
    return sentences(lang, [line, say(lang, "cli.kept_since", kept=kept)])
