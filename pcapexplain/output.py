"""File output shared by every writer: atomic replacement (a temporary file beside the target,
then a rename), and the CSV text of flat rows."""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import operator
import os
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TextIO, cast

import numpy as np

from pcapexplain.errors import OutputError, os_reason
from pcapexplain.explanations import said


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write text to path so that readers see either the old file or the whole new one.

    The temporary file lives in the target's folder so the final os.replace is a rename on one
    file system. Raises OutputError when the folder is missing or not writable.
    """
    return atomic_write(path, lambda handle: handle.write(text))


def atomic_write(path: str | os.PathLike[str], write: Callable[[TextIO], object]) -> Path:
    """atomic_write_text for a writer that writes its text in pieces to the handle it is given,
    so that a large output never has to exist as one string."""
    target = Path(path)
    if target.exists() and not target.is_file():
        return _write_in_place(target, write)  # /dev/null, a FIFO: renaming over them is wrong
    with replacing(target) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        write(handle)
    return target


@contextlib.contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """A temporary path beside target; renamed onto target when the block ends without error.

    For writers that need a path of their own (Parquet) or write in pieces. The file is flushed
    to disk before the rename; on any error, Ctrl-C included, it is removed and target is left
    as it was. Raises OutputError when the folder is missing or not writable.
    """
    tmp = _reserved(target)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OutputError(_unwritable(target, exc)) from exc
        raise


def _reserved(target: Path) -> Path:
    """A new empty file beside target, named ".NAME.XXXXXXXX.tmp", readable by its owner only.

    tempfile.mkstemp leaves its file behind when Ctrl-C lands between its open and the caller's
    cleanup; here the cleanup covers the open itself."""
    folder = target.parent if str(target.parent) else Path(".")
    while True:
        tmp = folder / f".{target.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
        except FileExistsError:
            continue  # another's file: never removed
        except OSError as exc:
            raise OutputError(_unwritable(target, exc)) from exc
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)  # a Ctrl-C raised just after the open
            raise
        return tmp


def _unwritable(target: Path, exc: OSError) -> str:
    return said("error.cannot_write", path=str(target), reason=os_reason(exc))


TEMP_SUFFIX = ".tmp"  # what a writer that was killed outright may leave behind: ".NAME.XXXX.tmp"


def _write_in_place(target: Path, write: Callable[[TextIO], object]) -> Path:
    if target.is_dir():
        raise OutputError(said("error.write_folder", path=str(target)))
    try:
        with open(target, "w", encoding="utf-8", newline="") as handle:
            write(handle)
    except OSError as exc:
        raise OutputError(_unwritable(target, exc)) from exc
    return target


def csv_text(rows: Iterable[Mapping[str, object]]) -> str:
    """Flat rows as CSV with a header line taken from the first row's keys ("" when no rows).

    rows may be a generator: each row is written and dropped, so a port scan's 200,000 rows
    never exist as dicts all at once.
    """
    buffer = io.StringIO()
    write_csv(rows, buffer)
    return buffer.getvalue()


def write_csv(rows: Iterable[Mapping[str, object]], out: TextIO) -> None:
    """csv_text written to out, a row at a time."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return
    names = list(first)
    keys, values = first.keys(), operator.itemgetter(*names)

    def ordered(row: Mapping[str, object]) -> Sequence[object]:
        if row.keys() == keys:
            found = values(row)
            return found if len(names) > 1 else (found,)
        # A row with other keys: as csv.DictWriter does, missing ones empty, extra ones an error.
        extra = row.keys() - keys
        if extra:
            raise ValueError(f"dict contains fields not in fieldnames: {sorted(extra)!r}")
        return [row.get(name, "") for name in names]

    write_table(names, map(ordered, itertools.chain((first,), rows)), out)


def write_table(names: Sequence[str], rows: Iterable[Sequence[object]], out: TextIO) -> None:
    """A header line of names, then the rows (values in the order of names), as CSV."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    writer.writerows(rows)


def write_columns(
    names: Sequence[str], batches: Iterable[Sequence[Sequence[object]]], out: TextIO
) -> None:
    """write_table's text for rows given as batches of columns (one sequence of values per name,
    all of a batch the same length), each batch written as one string."""
    csv.writer(out, lineterminator="\n").writerow(names)
    for columns in batches:
        lines = row_texts(columns)
        if lines:
            out.write("\n".join(lines) + "\n")


Kinds = frozenset[type] | None  # the types of a column's values, when known beforehand


def row_texts(
    columns: Sequence[Sequence[object]], kinds: Sequence[Kinds] | None = None
) -> list[str]:
    """Each row of a batch of columns as csv.writer writes it, without its line break.

    One %-format per row turns each value into text as csv.writer does (str; None as nothing;
    a column of floats by _float_fields); when a value's text needs quotes (a comma, quote or
    line break in it), csv.writer writes the batch instead. Rows as separate texts let processes
    that made them apart be put in order (and numbered) by one writer. kinds, when given, holds
    each column's value types (None: unknown), which spares looking at every value for them.
    """
    rows = len(columns[0]) if columns else 0
    if rows and len(columns) > 1:  # csv quotes a lone empty field
        known = kinds if kinds is not None else [None] * len(columns)
        fields = [_fields(column, k) for column, k in zip(columns, known, strict=True)]
        if all(field is not None for field in fields):
            line = ",".join(field[0] for field in fields if field is not None)
            values = [value for field in fields if field is not None for value in field[1]]
            if not values:  # every column one value: the same line throughout
                return [line % ()] * rows
            return list(map(line.__mod__, zip(*values, strict=True)))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    found = []
    for row in zip(*columns, strict=True):
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
        found.append(buffer.getvalue()[:-1])
    return found


Field = tuple[str, list[Sequence[object]]]  # a %-format of one field, and the columns it takes


def _fields(column: Sequence[object], kinds: Kinds = None) -> Field | None:
    """How row_texts formats a column: a %-format and its argument columns; None when some
    value's text needs quotes (a delimiter, quote or line break in it). kinds: the types of its
    values, when known."""
    if kinds is None:
        kinds = frozenset(map(type, column))
    if len(kinds) == 1 and kinds <= _SAME_TEXT and column.count(column[0]) == len(column):
        # One value throughout (a capture's name, a reader, an option no host sets): its text
        # goes into the format once, rather than through it on every row.
        text = _text(column[0])
        return None if any(c in text for c in _QUOTED) else (text.replace("%", "%%"), [])
    if kinds <= _NO_QUOTES:  # their str has none of those characters
        if kinds <= _FLOAT_OR_NONE and float in kinds:
            return _float_fields(column)
        return "%s", [_no_none(column) if type(None) in kinds else column]
    texts = cast("Sequence[str]", column) if kinds == {str} else [_text(v) for v in column]
    text = "".join(texts)
    if any(c in text for c in _QUOTED):
        return None
    return "%s", [texts]


_NO_QUOTES = frozenset((int, float, bool, type(None)))
# Types whose equal values have one text (unlike floats: 0.0 == -0.0; or 1 == True across types).
_SAME_TEXT = frozenset((int, bool, str, type(None)))
_QUOTED = ',"\n\r'  # csv.writer quotes a field holding one of them (QUOTE_MINIMAL)


def _float_fields(column: Sequence[object]) -> Field:
    """A column of floats and Nones as str writes each (None: nothing), in three fields: floats
    of at most six decimals from their digits as integers (units, then the point and the
    decimals), which str's shortest round-trip search (repr) takes several times longer to find.

    With n the integer nearest v·10⁶ and v the double nearest n·10⁻⁶ (v == n / 10⁶, a correctly
    rounded division of exact values), repr(v) is n·10⁻⁶ written out without its trailing zeros
    when 10⁻⁴ <= v < 2³³: doubles there lie under 10⁻⁶ apart, so no other decimal of at most six
    decimals, hence none with fewer digits, reads back as v; below 10⁻⁴ repr writes an exponent.
    Every other value is its str in the first field.
    """
    x = np.array(column, dtype=np.float64)  # None as nan
    whole = np.rint(x * 1e6)
    with np.errstate(invalid="ignore"):
        sure = (whole / 1e6 == x) & (x >= 1e-4) & (x < 2.0**33)
    units, fraction = np.divmod(np.where(sure, whole, 0).astype(np.int64), 1_000_000)
    high, low = np.divmod(fraction, 1000)
    # The point and fraction's digits without trailing zeros: high's three and low's, or high's.
    head: list[object] = np.where(low != 0, _POINT_DIGITS[high], _POINT_HEAD[high]).tolist()
    tail: list[object] = _TAIL[low].tolist()
    first: list[object] = units.tolist()
    for at in np.flatnonzero(~sure).tolist():
        value = column[at]
        first[at], head[at], tail[at] = "" if value is None else str(value), "", ""
    return "%s%s%s", [first, head, tail]


_FLOAT_OR_NONE = frozenset((float, type(None)))
_TAIL = np.array([f"{k:03d}".rstrip("0") for k in range(1000)], dtype=object)  # 0: nothing
_POINT_DIGITS = np.array([f".{k:03d}" for k in range(1000)], dtype=object)
_POINT_HEAD = np.array(["." + (t or "0") for t in _TAIL], dtype=object)  # 0: ".0", as "12.0"


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _no_none(column: Sequence[object]) -> Sequence[object]:
    """The column with None as "", as csv.writer writes it."""
    if column.count(None):
        return ["" if v is None else v for v in column]
    return column
