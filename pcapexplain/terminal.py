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

# The table's columns, keys of table.col.* in the text catalogues.
TABLE_COLUMNS = (
    "id",
    "client",
    "server",
    "handshake",
    "teardown",
    "closed_first",
    "time_wait",
    "packets",
    "bytes_up",
    "bytes_down",
    "zeek",
    "anomalies",
)
PIPED_WIDTH = 200  # a file or `grep` has no terminal width to fold rows to


def printable(text: str) -> str:
    """File names and capture text shown on a terminal: control characters (escape sequences,
    newlines) are written as \\x.. so that they cannot move the cursor or forge a line."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def print_connections(
    records: Sequence[ConnectionRecord], stream: TextIO, *, info: CaptureInfo, lang: Lang
) -> None:
    """The `connections` table in lang, captioned with the reader that read the capture; folded
    to the terminal's width, whole rows when piped."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from pcapexplain.explanations import reader_name, say, shows_codes, text

    codes = shows_codes(lang)  # English shows the codes of the CSV; Chinese, their short labels
    reader = info.reader if codes else reader_name(lang, info.reader, info.read_by)
    caption = say(lang, "table.caption", reader=reader)
    table = Table(show_lines=False, header_style="bold", caption=caption)
    for column in TABLE_COLUMNS:
        table.add_column(text(lang, f"table.col.{column}"), overflow="fold")
    for r in records:
        client = str(r.client)
        table.add_row(
            str(r.id),
            Text(say(lang, "table.inferred", endpoint=client) if r.roles_inferred else client),
            Text(str(r.server)),
            _cell(lang, codes, "short.handshake", r.handshake.value),
            _cell(lang, codes, "short.teardown", r.teardown.value),
            _cell(lang, codes, "closer", r.closed_first.value),
            _cell(lang, codes, "closer", r.time_wait.value),
            str(r.packets),
            f"{r.bytes_to_server:,}",
            f"{r.bytes_to_client:,}",
            r.zeek_state.value,
            Text(text(lang, "table.list_sep").join(_anomaly(lang, codes, a) for a in r.anomalies)),
        )
    width = None if stream.isatty() else PIPED_WIDTH
    Console(file=stream, highlight=False, width=width).print(table)


def _cell(lang: Lang, codes: bool, table: str, value: str) -> str:
    """A code as the CSV writes it, or its label under table.<value> in lang."""
    from pcapexplain.explanations import text

    return value if codes else text(lang, f"{table}.{value}")


def _anomaly(lang: Lang, codes: bool, slug: str) -> str:
    """An anomaly's slug, or its title in lang (the slug when it has none)."""
    from pcapexplain.explanations import has, text

    title = f"anomaly.{slug}.title"
    return slug if codes or not has(lang, title) else text(lang, title)


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
    """A line's status word (cli.label.<status>) padded to 8 columns and a space."""
    from pcapexplain.explanations import text

    word = text(lang, f"cli.label.{status}")
    return word + " " * (max(8 - columns(word), 0) + 1)


def labelled_lines(lang: Lang, table: str, rows: Sequence[tuple[str, str]]) -> list[str]:
    """`label: value` lines, the values aligned: each label is <table>.label.<name>, followed
    by <table>.colon."""
    from pcapexplain.explanations import text

    colon = text(lang, f"{table}.colon")
    labels = [text(lang, f"{table}.label.{name}") + colon for name, _ in rows]
    width = max(columns(shown) for shown in labels)
    return [
        shown + " " * (width - columns(shown) + 1) + value
        for shown, (_, value) in zip(labels, rows, strict=True)
    ]


def columns(text: str) -> int:
    """The columns text takes on a terminal: a Chinese character takes two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


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
