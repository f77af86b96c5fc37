"""Reading teacher- and student-written TOML: parse, and find the line of any key for errors.

tomllib reports the line of a syntax error but returns plain dicts, which know no lines. The
locator scans the text once and remembers where each table and key was written, so that a
rubric error says "line 14" even for a key that parsed fine but means nothing.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pcapexplain.errors import CaptureUnreadable, RubricError, os_reason
from pcapexplain.explanations import ForeignWords, said

Key = tuple[str | int, ...]

_BARE_OR_QUOTED = r'(?:[A-Za-z0-9_-]+|"[^"\n]*"|\'[^\'\n]*\')'
_DOTTED = rf"{_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*"
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_DOTTED})\s*\]\]?")
_KEY = re.compile(rf"^\s*({_DOTTED})\s*=")
_INLINE_KEY = re.compile(rf"[{{,]\s*({_DOTTED})\s*=")
_WHERE = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)$")
# tomllib's messages (Python 3.11 to 3.14), each said again from the catalogue: its words
# (error.toml.parse.*) in English, and in the command's language. A message not listed here is
# shown in tomllib's words (error.toml.parse.other).
TOMLLIB_WORDS = ForeignWords(
    "error.toml.parse",
    (
        (r"Invalid statement", "invalid_statement"),
        (r"Expected newline or end of document after a statement", "expected_newline"),
        (r"Expected '\]' at the end of a table declaration", "table_end"),
        (r"Expected '\]\]' at the end of an array declaration", "array_end"),
        (r"Expected '=' after a key in a key/value pair", "expected_equals"),
        (r"Expected (?P<what>.+)", "expected"),
        (r"Found invalid character (?P<char>.+)", "invalid_char"),
        (r"Cannot declare (?P<name>.+) twice", "declared_twice"),
        (r"Cannot overwrite a value", "overwrite"),
        (r"Cannot mutate immutable namespace (?P<name>.+)", "immutable"),
        (r"Cannot redefine namespace (?P<name>.+)", "redefine"),
        (r"Invalid initial character for a key part", "key_start"),
        (r"Unclosed array", "unclosed_array"),
        (r"Duplicate inline table key (?P<name>.+)", "duplicate_key"),
        (r"Unclosed inline table", "unclosed_table"),
        (r"Unescaped '\\' in a string", "backslash"),
        (r"Invalid hex value", "hex"),
        (r"Escaped character is not a Unicode scalar value", "not_scalar"),
        (r"Unterminated string", "unterminated"),
        (r"Illegal character (?P<char>.+)", "illegal_char"),
        (r"Invalid date or datetime", "date"),
        (r"Invalid value", "value"),
    ),
)
MAX_BYTES = 1 << 20  # a rubric or an answers file is a few kilobytes; refuse a disguised capture


def _parts(dotted: str) -> list[str]:
    return [p.strip().strip("\"'") for p in re.findall(_BARE_OR_QUOTED, dotted)]


class Locator:
    """Where each key of a TOML text was written: path (table names, array indexes, keys) → line."""

    def __init__(self, text: str) -> None:
        self._lines: dict[Key, int] = {}
        self._scan(text)

    def _scan(self, text: str) -> None:
        current: Key = ()
        counters: dict[Key, int] = {}
        closing: str | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            if closing is not None:
                if closing in line:
                    closing = None
                continue
            header = _HEADER.match(line)
            if header:
                current = self._header(header, counters)
                self._lines.setdefault(current, number)
                continue
            key = _KEY.match(line)
            if not key:
                continue
            path = current + tuple(_parts(key.group(1)))
            self._lines.setdefault(path, number)
            rest = line[key.end() :]
            for inner in _INLINE_KEY.finditer(rest):
                self._lines.setdefault(path + tuple(_parts(inner.group(1))), number)
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2 == 1:
                    closing = quote

    def _header(self, match: re.Match[str], counters: dict[Key, int]) -> Key:
        names: Key = tuple(_parts(match.group(2)))
        if match.group(1) == "[[":
            index = counters.get(names, 0)
            counters[names] = index + 1
            return (*names, index)
        return names

    def line(self, path: Key) -> int | None:
        """The line of path, else of its nearest written parent (an inline table's key)."""
        for end in range(len(path), 0, -1):
            found = self._lines.get(path[:end])
            if found is not None:
                return found
        return None


def read_toml(path: str | Path, error: type[RubricError]) -> tuple[dict[str, Any], Locator]:
    """Parse a TOML file; error(path, line, message) builds the exception for any problem."""
    target = Path(path)
    name = str(path)
    try:
        size = target.stat().st_size
        if size > MAX_BYTES:
            raise error(name, None, said("error.toml.too_large", size=f"{size:,}"))
        raw = target.read_bytes()
    except FileNotFoundError as exc:
        raise error(name, None, said("error.toml.no_such_file")) from exc
    except IsADirectoryError as exc:
        raise error(name, None, said("error.toml.folder")) from exc
    except OSError as exc:
        reason = os_reason(exc)
        raise CaptureUnreadable(said("error.toml.unreadable", path=name, reason=reason)) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(name, None, said("error.toml.not_utf8")) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(exc, name, text, error) from exc
    return data, Locator(text)


def _syntax_error(
    exc: tomllib.TOMLDecodeError, name: str, text: str, error: type[RubricError]
) -> RubricError:
    """tomllib's complaint in our words, with its line and column (the exception's attributes
    from Python 3.14; before, the end of its message)."""
    message = getattr(exc, "msg", None)
    line, column = getattr(exc, "lineno", None), getattr(exc, "colno", None)
    found = _WHERE.search(str(exc))
    if message is None:
        message = _WHERE.sub("", str(exc)).strip()
    if line is None and found and found.group(1):
        line, column = int(found.group(1)), int(found.group(2))
    detail = TOMLLIB_WORDS.said(message)
    if found and not found.group(1):  # something left open: say where the file ends
        end = max(text.count("\n") + (not text.endswith("\n")), 1)
        return error(
            name, end, said("error.toml.syntax", detail=said("error.toml.at_end", detail=detail))
        )
    if column is None:
        return error(name, line, said("error.toml.syntax", detail=detail))
    return error(name, line, said("error.toml.syntax_at", column=column, detail=detail))


def suggestion(word: str, choices: Iterable[str]) -> str:
    """ " (did you mean 'points'?)" for the nearest choice, or "" when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return said("error.did_you_mean", word=close[0]) if close else ""
