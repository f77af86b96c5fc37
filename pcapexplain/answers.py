"""The student's answers file (TOML) → one Answer per question id.

A student writes `client_isn = 2507598366`, or a table when citing frames:

    [synack_ack]
    value = 1
    frame = 2

Answers to ids the rubric does not ask are kept aside (the feedback names them, with the
nearest question id); a malformed file is an AnswersError with its line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pcapexplain.errors import AnswersError
from pcapexplain.explanations import said
from pcapexplain.tomlfile import Key, Locator, read_toml, suggestion

AnswerValue = int | float | str | bool | tuple[int | float | str, ...]
TABLE_KEYS: Final = ("value", "frame", "frames")
MAX_FRAMES: Final = 10_000


@dataclass(frozen=True, slots=True)
class Answer:
    id: str
    value: AnswerValue | None  # None: only frames were given
    frames: tuple[int, ...]  # frames cited as evidence
    line: int | None


@dataclass(frozen=True, slots=True)
class AnswerSheet:
    path: str
    answers: Mapping[str, Answer]
    unknown: tuple[tuple[str, str], ...]  # (id, " (did you mean 'x'?)" or "")


def load_answers(path: str | Path, question_ids: tuple[str, ...]) -> AnswerSheet:
    """Read an answers file; ids not among question_ids are set aside in `unknown`."""
    data, locator = read_toml(path, AnswersError)
    checker = _Checker(str(path), locator, question_ids)
    answers: dict[str, Answer] = {}
    unknown: list[tuple[str, str]] = []
    for ident, raw in data.items():
        if ident not in question_ids:
            unknown.append((ident, suggestion(ident, question_ids)))
            continue
        answers[ident] = checker.answer(ident, raw)
    return AnswerSheet(str(path), answers, tuple(unknown))


class _Checker:
    def __init__(self, path: str, locator: Locator, question_ids: tuple[str, ...]) -> None:
        self.path, self.locator, self.question_ids = path, locator, question_ids

    def fail(self, where: Key, message: str) -> AnswersError:
        return AnswersError(self.path, self.locator.line(where), message)

    def answer(self, ident: str, raw: Any) -> Answer:
        where: Key = (ident,)
        if not isinstance(raw, dict):
            return Answer(ident, self.value(raw, where), (), self.locator.line(where))
        for key in raw:
            if key in self.question_ids:
                raise self.fail(
                    (*where, key),
                    said("error.answers.inside_table", key_name=key, id=ident),
                )
            if key not in TABLE_KEYS:
                raise self.fail(
                    (*where, key),
                    said(
                        "error.answers.unknown_key",
                        key_name=key,
                        id=ident,
                        maybe=suggestion(key, TABLE_KEYS),
                    ),
                )
        value = self.value(raw["value"], (*where, "value")) if "value" in raw else None
        frames = self.frames(raw.get("frames", raw.get("frame", [])), where)
        if value is None and not frames:
            raise self.fail(where, said("error.answers.empty", id=ident))
        return Answer(ident, value, frames, self.locator.line(where))

    def value(self, raw: Any, where: Key) -> AnswerValue:
        if isinstance(raw, list):
            if len(raw) > MAX_FRAMES or not all(_plain(v) for v in raw):
                raise self.fail(where, said("error.answers.list"))
            return tuple(raw)
        if not _plain(raw) and not isinstance(raw, bool):
            raise self.fail(where, said("error.answers.value"))
        value: AnswerValue = raw
        return value

    def frames(self, raw: Any, where: Key) -> tuple[int, ...]:
        cited = raw if isinstance(raw, list) else [raw]
        if len(cited) > MAX_FRAMES or not all(
            isinstance(f, int) and not isinstance(f, bool) and f >= 1 for f in cited
        ):
            raise self.fail((*where, "frame"), said("error.answers.frames"))
        return tuple(cited)


def _plain(value: Any) -> bool:
    return isinstance(value, int | float | str) and not isinstance(value, bool)
