"""Capture reading for the commands: one capture read with signs of life on a terminal, then
analysed or made into connection rows, and its warnings told on stderr once the progress line
is gone.

cli.py's commands call it; a capture that cannot be read raises a PcapExplainError, which cli.py
reports.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, TypeVar

from pcapexplain import diagnostics
from pcapexplain.model import Capture, CaptureInfo, Lang, Reader

if TYPE_CHECKING:
    from pcapexplain import api
    from pcapexplain.files import ReadStatus
    from pcapexplain.records import ConnectionRecord, CsvRows

T = TypeVar("T")


def analyse(
    capture: Path, check_checksums: bool, reader: Reader, lang: Lang, *, digest: bool = True
) -> api.Analysis:
    """Run the pipeline; warnings (a capture cut short) go to stderr, the results still follow.

    digest=False for the commands whose outputs never show the file's SHA-256."""
    from pcapexplain import api

    with progress(lang) as status, collector_paused():
        loaded = load(capture, check_checksums, reader, status, digest=digest)
        result = api.analyse_capture(loaded, checksums_validated=check_checksums)
    warn(capture, loaded.info, lang)
    return api.Analysis(result)


def connection_rows(
    capture: Path, check_checksums: bool, reader: Reader, lang: Lang, *, jobs: int
) -> tuple[list[ConnectionRecord], CaptureInfo]:
    """The rows of `connections` (in `jobs` processes for a large capture), and what was read."""
    from pcapexplain import shard_run

    return _rows(
        (shard_run.connection_records, shard_run.read_connection_records),
        capture,
        check_checksums,
        reader,
        lang,
        jobs,
    )


def connection_csv(
    capture: Path, check_checksums: bool, reader: Reader, lang: Lang, *, jobs: int
) -> tuple[list[CsvRows], CaptureInfo]:
    """connection_rows as CSV rows (records.write_csv_rows writes them)."""
    from pcapexplain import shard_run

    return _rows(
        (shard_run.connection_csv, shard_run.read_connection_csv),
        capture,
        check_checksums,
        reader,
        lang,
        jobs,
    )


def _rows(
    make: tuple[Callable[..., T], Callable[..., tuple[T, CaptureInfo]]],
    capture: Path,
    check_checksums: bool,
    reader: Reader,
    lang: Lang,
    jobs: int,
) -> tuple[T, CaptureInfo]:
    """make: (rows of a loaded capture, rows of a capture file read in parts)."""
    from pcapexplain import shard_run

    of_loaded, read_in_parts = make
    name = capture_name(capture)
    with progress(lang) as status, collector_paused():
        parts = shard_run.processes_reading(capture, Reader(reader), jobs)
        if parts > 1:
            rows, info = read_in_parts(
                capture, name, checksums_validated=check_checksums, status=status, parts=parts
            )
        else:
            loaded = load(capture, check_checksums, reader, status, digest=False)
            rows = of_loaded(loaded, name, checksums_validated=check_checksums, jobs=jobs)
            info = loaded.info
    warn(capture, info, lang)
    return rows, info


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a capture is read and analysed.

    These stages make no reference cycles (a collection after them finds none at a million
    packets), yet their many small objects trigger collections that rescan the large lists they
    build: about 0.3 s of CPU a part at 1M packets. Processes forked to analyse parts inherit the
    pause and leave without enabling it again. The single-capture commands use it here, the
    workers of batch and grade around each capture's read and analysis (capture_task,
    classroom)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


@contextmanager
def progress(lang: Lang) -> Iterator[ReadStatus]:
    """Signs of life on a terminal while a capture is read and analysed."""
    from pcapexplain.files import ReadStatus
    from pcapexplain.progress import CaptureProgress

    status = ReadStatus()
    with CaptureProgress(status, lang=lang):
        yield status


def load(
    capture: Path, check_checksums: bool, reader: Reader, status: ReadStatus, *, digest: bool
) -> Capture:
    """The capture read by the reader asked for (readers.load), its progress kept in status."""
    from pcapexplain import readers

    return readers.load(
        capture,
        reader=Reader(reader),
        validate_checksums=check_checksums,
        status=status,
        digest=digest,
    )


def warn(capture: Path, info: CaptureInfo, lang: Lang, err: TextIO | None = None) -> None:
    """The capture's warnings, once the progress line is gone."""
    out = sys.stderr if err is None else err
    for warning in info.warnings:
        out.write(diagnostics.warning_line(capture.name, warning, lang) + "\n")
    out.flush()


def capture_name(path: Path) -> str:
    """The file name as the JSON and CSV show it (bytes that are not UTF-8 as U+FFFD)."""
    return os.fsencode(path.name).decode("utf-8", "replace")
