"""Diagnostics: the error, hint, warning and note lines the CLI writes to stderr, in the
command's language (its --lang; English for a command without one).

cli.py decides when a line is due; this module says it. Errors and warnings arrive as Said texts
(explanations.said) and are said again in the language asked for; a plain text (the operating
system's or tshark's words) is shown as it is. Every line goes through printable(): a file name
or a capture's text cannot move the cursor or forge a line.
"""

from __future__ import annotations

from typing import TextIO

from pcapexplain.errors import PcapExplainError
from pcapexplain.explanations import in_lang, text
from pcapexplain.model import Lang
from pcapexplain.terminal import printable

PROG = "pcapexplain"


def error_lines(message: str, hint: str | None, lang: Lang) -> list[str]:
    """`pcapexplain: error: MESSAGE` and, when there is one, `hint: HINT` (each with its
    newline), the markers and the texts in lang."""
    lines = [f"{PROG}: {text(lang, 'cli.error')}: {printable(in_lang(message, lang))}\n"]
    if hint:
        lines.append(f"{text(lang, 'cli.hint')}: {printable(in_lang(hint, lang))}\n")
    return lines


def report_error(exc: PcapExplainError, lang: Lang, err: TextIO) -> int:
    """Write the error's lines to err; its exit status."""
    err.writelines(error_lines(exc.message, exc.hint, lang))
    return int(exc.exit_status)


def report_unexpected(exc: BaseException, hint: str, lang: Lang, err: TextIO) -> None:
    """An exception that is not a PcapExplainError: its type and words (Python's, English)."""
    err.writelines(error_lines(f"{type(exc).__name__}: {exc}", hint, lang))


def warning_line(name: str, warning: str, lang: Lang) -> str:
    """`pcapexplain: warning: NAME: WARNING` for a capture the analysis could not read fully."""
    said = in_lang(warning, lang)
    return f"{PROG}: {text(lang, 'cli.warning')}: {printable(name)}: {printable(said)}"


def note_line(key: str, lang: Lang, **params: object) -> str:
    """`pcapexplain: note: ...`, the text under cli.<key>."""
    return f"{PROG}: {text(lang, 'cli.note')}: {text(lang, f'cli.{key}', **params)}"


def said_line(key: str, lang: Lang, **params: object) -> str:
    """`pcapexplain: ...`, the text under cli.<key> (an interruption)."""
    return f"{PROG}: {text(lang, f'cli.{key}', **params)}"
