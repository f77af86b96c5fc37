"""Usage errors (a bad command line, exit 2) said in the language the command line asked for.

click (typer's copy of it) says them in English; under `--lang zh` the usage line stays, and the
error and its hint are said from the catalogue (error.usage.*). typer stays in cli.py: an error is
read by its attributes (option_name, command_name, param, possibilities), as click documents
them, and a bad value's reason by its words, which typer chooses (anything else is shown in its
words, under error.usage.other).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pcapexplain.explanations import ForeignWords, Said, in_lang, said, text
from pcapexplain.model import Lang
from pcapexplain.terminal import printable

PROG = "pcapexplain"

# A bad value's reason, in typer's and click's words -> its text and what it takes from them.
VALUE_WORDS = ForeignWords(
    "error.usage",
    (
        (r"(?:Value error, )?(?P<value>'.*') is not one of (?P<choices>.+)\.", "not_a_choice"),
        (r"Input should be a valid integer.*", "not_int"),
        (r"Input should be a valid number.*|.* is not a valid float\.", "not_number"),
        # click names the type "integer"; the click inside typer 0.26 to 0.28 names it "int".
        (r"'.*' is not a valid int(?:eger)?\.", "not_int"),
        (r"Input should be greater than or equal to (?P<minimum>\S+)", "at_least"),
        (r".* is not in the range x>=(?P<minimum>\S+)\.", "at_least"),
    ),
)
_EXTRA = re.compile(r"Got unexpected extra arguments? ?(?:\(s\))? \((?P<args>.*)\)")
_NO_COMMAND = re.compile(r"No such command (?P<name>'.*')\.(?: Did you mean (?P<maybe>'.*')\?)?")
_POSSIBLE = re.compile(r"\(Possible options: (?P<names>.+)\)")
_NEEDS = re.compile(r"Option (?P<option>'.*') requires an argument\.")


def asked_lang(args: Sequence[str]) -> Lang:
    """The --lang a command line gives (before it is parsed: parsing is what failed)."""
    for i, arg in enumerate(args):
        if arg == "--":
            break
        value = arg.removeprefix("--lang=") if arg.startswith("--lang=") else None
        if arg == "--lang" and i + 1 < len(args):
            value = args[i + 1]
        if value in {lang.value for lang in Lang}:
            return Lang(value)
    return Lang.EN


def is_usage_error(exc: Exception) -> bool:
    """A bad command line (click's UsageError: exit 2), not `pcapexplain` alone asking for help."""
    return getattr(exc, "exit_code", None) == 2 and type(exc).__name__ != "NoArgsIsHelpError"


def usage_lines(exc: Exception, lang: Lang) -> list[str]:
    """The usage line, the error line and a hint of a click UsageError, in lang."""
    ctx = getattr(exc, "ctx", None)
    lines = []
    if ctx is not None:
        usage = ctx.get_usage().removeprefix("Usage:")
        lines.append(f"{text(lang, 'cli.usage')}:{usage}\n")
    message = in_lang(usage_said(exc), lang)
    lines.append(f"{PROG}: {text(lang, 'cli.error')}: {printable(message)}\n")
    if ctx is not None:
        hint = text(lang, "cli.try_help", command=ctx.command_path)
        lines.append(f"{text(lang, 'cli.hint')}: {printable(hint)}\n")
    return lines


def usage_said(exc: Exception) -> Said:
    """A click UsageError as a catalogue text (error.usage.other: in click's words)."""
    detail = str(getattr(exc, "message", exc))
    if hasattr(exc, "possibilities") and hasattr(exc, "option_name"):  # NoSuchOption
        found = said("error.usage.no_such_option", option=str(exc.option_name))
        return _possible(found, exc, detail)
    param = getattr(exc, "param", None)
    if param is not None:
        name = _param_name(exc, param)
        if hasattr(exc, "param_type"):  # MissingParameter
            if getattr(param, "param_type_name", None) == "argument":
                return said("error.usage.missing_argument", name=name)
            return said("error.usage.missing_option", name=name)
        return said("error.usage.invalid_value", name=name, detail=VALUE_WORDS.said(detail))
    command = _NO_COMMAND.fullmatch(detail)
    if command:
        found = said("error.usage.no_such_command", name=command["name"])
        maybe = command["maybe"]
        return said("error.usage.possible", message=found, possibilities=maybe) if maybe else found
    extra = _EXTRA.fullmatch(detail)
    if extra:
        return said("error.usage.extra_arguments", args=extra["args"])
    needs = _NEEDS.fullmatch(detail)
    if needs:
        return said("error.usage.needs_argument", option=needs["option"])
    return said("error.usage.other", detail=detail)


def _param_name(exc: Exception, param: object) -> str:
    """'--jobs' / '-j' for an option, 'capture' for an argument, as click names them."""
    hint = getattr(exc, "param_hint", None)
    if isinstance(hint, str):
        return hint
    names = list(hint or getattr(param, "opts", None) or [getattr(param, "name", "?")])
    return " / ".join(f"'{n}'" for n in names)


def _possible(found: Said, exc: Exception, detail: str) -> Said:
    """click's close matches (typer writes them into the message instead)."""
    listed = _POSSIBLE.search(detail)
    possibilities = list(getattr(exc, "possibilities", None) or [])
    shown = listed["names"] if listed else ", ".join(sorted(possibilities))
    return said("error.usage.possible", message=found, possibilities=shown) if shown else found
