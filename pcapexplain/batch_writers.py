"""Batch writers: the index page, captures.csv, and the batch-wide connections.csv,
connections.parquet and conn.log, joined from the per-capture parts the workers wrote.

The parts are streamed one at a time, so memory stays bounded however many captures and
connections the batch has. Every file is written atomically (a temporary file, then a rename).
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pcapexplain import __version__, capture_task, reporter, tables
from pcapexplain.batch_model import CaptureRow
from pcapexplain.errors import BatchError
from pcapexplain.explanations import said
from pcapexplain.index_context import build_index_context
from pcapexplain.model import Handshake, Lang, Severity, Teardown
from pcapexplain.output import atomic_write_text, csv_text, replacing

INDEX = "index.html"
CAPTURES_CSV = "captures.csv"
CONNECTIONS_CSV = "connections.csv"
CONNECTIONS_PARQUET = "connections.parquet"
CONN_LOG = "conn.log"
OUTPUT_FILES = (INDEX, CAPTURES_CSV, CONNECTIONS_CSV, CONNECTIONS_PARQUET, CONN_LOG)

_CHUNK = 5_000  # rows read from a part at a time


def write_all(
    outdir: Path,
    rows: Sequence[CaptureRow],
    parts: Sequence[str],
    *,
    folder: str,
    lang: Lang,
    interrupted: bool,
) -> tuple[Path, ...]:
    """Write the five batch files into outdir; parts are the prefixes of the analysed captures'
    table parts, in the order their rows should appear. Returns the paths written."""
    rows_parts = [Path(p + capture_task.ROWS_PART) for p in parts]
    write_connections(rows_parts, outdir / CONNECTIONS_CSV, outdir / CONNECTIONS_PARQUET)
    write_conn_log([Path(p + capture_task.CONN_LOG_PART) for p in parts], outdir / CONN_LOG)
    atomic_write_text(outdir / CAPTURES_CSV, csv_text(captures_csv_rows(rows)))
    ctx = build_index_context(
        rows,
        folder=folder,
        lang=lang,
        interrupted=interrupted,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        version=__version__,
    )
    reporter.write_report(reporter.render_index(ctx), outdir / INDEX)
    return tuple(outdir / name for name in OUTPUT_FILES)


def captures_csv_rows(rows: Sequence[CaptureRow]) -> list[dict[str, object]]:
    """One flat row per file: what README documents for captures.csv."""
    out = []
    for row in rows:
        s = row.summary
        flat: dict[str, object] = {
            "capture": row.capture,
            "status": row.status.value,
            "error": row.error,
            "hint": row.hint,
            "warning": " ".join(s.warnings) if s else "",
            "sha256": row.sha256,
            "packets": s.packets if s else "",
            "connections": s.connections if s else "",
            "reader": s.reader if s else "",
            "report": row.report,
        }
        for prefix, values, counts in (
            ("handshake", [m.value for m in Handshake], s.handshakes if s else None),
            ("teardown", [m.value for m in Teardown], s.teardowns if s else None),
            ("anomalies", [m.value for m in Severity], s.severities if s else None),
        ):
            for value in values:
                flat[f"{prefix}_{value}"] = counts.get(value, 0) if counts is not None else ""
        flat["reused"] = row.reused
        flat["seconds"] = f"{row.seconds:.3f}" if s else ""
        out.append(flat)
    return out


def write_connections(parts: Sequence[Path], csv_target: Path, parquet_target: Path) -> None:
    """connections.csv and connections.parquet from the captures' row parts, in one pass; rows
    are read a chunk at a time, so a capture with a million connections is never all in memory."""
    with (
        replacing(csv_target) as tmp,
        open(tmp, "w", encoding="utf-8", newline="") as out,
        tables.parquet_rows(parquet_target) as add,
    ):
        writer: csv.DictWriter[str] | None = None
        for part in parts:
            rows = capture_task.read_rows_part(str(part))
            while chunk := list(itertools.islice(rows, _CHUNK)):
                if writer is None:
                    # The header of `connections --format csv`, after the leading capture column.
                    writer = csv.DictWriter(out, fieldnames=list(chunk[0]), lineterminator="\n")
                    writer.writeheader()
                elif list(chunk[0]) != writer.fieldnames:
                    raise BatchError(said("error.stale_parts", name=part.name))
                writer.writerows(chunk)
                add(chunk)
        if writer is None:
            out.write(",".join(tables.BATCH_COLUMNS) + "\n")


def write_conn_log(parts: Sequence[Path], target: Path) -> None:
    """One Zeek conn.log of every part's records: the header of the first part, opened at the
    earliest part's #open and closed at the latest part's #close."""
    if not parts:
        atomic_write_text(target, capture_task.empty_conn_log())
        return
    headers = [_zeek_header(p) for p in parts]
    fields = {
        tuple(h for h in lines if h.startswith(("#fields", "#types"))) for lines, _ in headers
    }
    if len(fields) > 1:
        raise BatchError(said("error.stale_parts", name="conn.log"))
    opened = min(_stamp(lines, "#open") for lines, _ in headers)
    closed = max(close for _, close in headers)
    with replacing(target) as tmp, open(tmp, "w", encoding="utf-8", newline="") as out:
        for line in headers[0][0]:
            out.write(f"#open\t{opened}\n" if line.startswith("#open") else line + "\n")
        for part in parts:
            with open(part, encoding="utf-8", newline="") as handle:
                for line in handle:
                    if not line.startswith("#"):
                        out.write(line)
        out.write(f"#close\t{closed}\n")


def _zeek_header(part: Path) -> tuple[list[str], str]:
    """The leading #-lines of a Zeek log and the stamp of its #close line."""
    lines = []
    with open(part, encoding="utf-8", newline="") as handle:
        for line in handle:
            if not line.startswith("#"):
                break
            lines.append(line.rstrip("\n"))
    with open(part, "rb") as raw:
        raw.seek(max(0, part.stat().st_size - 200))
        tail = raw.read().decode("utf-8", "replace").rstrip("\n").rsplit("\n", 1)[-1]
    close = tail.split("\t", 1)[1] if tail.startswith("#close\t") else _stamp(lines, "#open")
    return [ln for ln in lines if not ln.startswith("#close")], close


def _stamp(lines: list[str], key: str) -> str:
    for line in lines:
        if line.startswith(key + "\t"):
            return line.split("\t", 1)[1]
    return ""
