"""Marking (pure): compare one student answer with the answer computed from their capture.

Decides right or wrong within the question's tolerance, which form of a sequence number the
student gave (raw or relative), whether the frames they cite are the packets the answer is
about, and names the problem for the feedback (a key of the `rubric.verdict.*` texts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from pcapexplain.answers import Answer, AnswerValue
from pcapexplain.questions import SPECS, Computed, ValueType
from pcapexplain.rubric import Question, SequenceForm, Unit

# Words a student may write for each value of a choice question (English, the textbook's
# Chinese, Wireshark's wording); compared after lower-casing and turning "-" and " " into "_".
SYNONYMS: Final[Mapping[str, tuple[str, ...]]] = {
    "client": ("client", "客户端", "客户", "客户机", "a"),
    "server": ("server", "服务器", "服务端", "服务器端", "b"),
    "both": ("both", "双方", "两端", "both_sides", "同时"),
    "none": ("none", "nobody", "neither", "no_one", "无", "没有", "都不"),
    "four_way": ("four_way", "4_way", "4", "four", "四次挥手", "四次"),
    "three_way": ("three_way", "3_way", "3", "three", "三次挥手", "三次"),
    "simultaneous": ("simultaneous", "simultaneous_close", "同时关闭"),
    "reset_by_client": ("reset_by_client", "client_reset", "客户端复位", "客户端重置"),
    "reset_by_server": ("reset_by_server", "server_reset", "服务器复位", "服务器重置"),
}
_NONE_WORDS: Final = frozenset(SYNONYMS["none"]) | {"false", "not_offered", "未提供"}


class Problem(StrEnum):
    """What a marked answer got right or wrong; each has a text under rubric.verdict.*."""

    NO_ANSWER = "no_answer"
    NOT_A_NUMBER = "not_a_number"
    WRONG_VALUE = "wrong_value"
    RAW_WANTED = "raw_wanted"
    RELATIVE_WANTED = "relative_wanted"
    RIGHT = "right"
    RIGHT_RAW = "right_raw"
    RIGHT_RELATIVE = "right_relative"
    RIGHT_MULTIPLIER = "right_multiplier"
    ABSENT_OPTION = "absent_option"
    WRONG_UNIT = "wrong_unit"
    WRONG_COUNT = "wrong_count"
    WRONG_ITEMS = "wrong_items"
    FRAMES_EXPECTED = "frames_expected"
    NO_RETRANSMISSIONS = "no_retransmissions"
    MISSED_RETRANSMISSIONS = "missed_retransmissions"
    NOT_RETRANSMISSIONS = "not_retransmissions"
    RIGHT_SOME = "right_some"
    UNKNOWN_WORD = "unknown_word"
    MISSING_FRAME = "missing_frame"
    WRONG_FRAME = "wrong_frame"


@dataclass(frozen=True, slots=True)
class Mark:
    """The outcome of comparing one answer.

    problem names the `rubric.verdict.<problem>` text; form is how the student wrote a
    number ("raw", "relative", "shift", "multiplier") or None.
    """

    value_ok: bool
    evidence_ok: bool | None  # None: no frame cited and none required
    problem: Problem
    form: str | None = None
    params: dict[str, str] = field(default_factory=dict)


def in_unit(seconds: float, unit: Unit) -> float:
    return seconds * 1000 if unit is Unit.MS else seconds


def normalise(word: str) -> str:
    return word.strip().lower().replace("-", "_").replace(" ", "_")


def _choice(word: str) -> str | None:
    key = normalise(word)
    return next((value for value, words in SYNONYMS.items() if key in words), None)


def mark(question: Question, computed: Computed, answer: Answer | None) -> Mark:
    """Compare answer with computed for question; a missing answer is wrong."""
    if answer is None or answer.value is None:
        return Mark(False, _evidence(question, computed, answer), Problem.NO_ANSWER)
    kind = SPECS[question.kind].value
    value_ok, problem, form, params = _compare(kind, question, computed, answer.value)
    evidence = _evidence(question, computed, answer)
    if value_ok and evidence is False:
        problem = Problem.MISSING_FRAME if not answer.frames else Problem.WRONG_FRAME
    if answer.frames:
        params["cited"] = ", ".join(map(str, answer.frames))
    return Mark(value_ok, evidence, problem, form, params)


def _evidence(question: Question, computed: Computed, answer: Answer | None) -> bool | None:
    cited = answer.frames if answer is not None else ()
    if not cited:
        return False if question.evidence else None
    return all(frame in computed.accepted for frame in cited)


Compared = tuple[bool, Problem, str | None, dict[str, str]]


def _compare(
    kind: ValueType, question: Question, computed: Computed, given: AnswerValue
) -> Compared:
    if kind is ValueType.SEQUENCE:
        return _sequence(question, computed, given)
    if kind is ValueType.COUNT:
        return _count(question, computed, given)
    if kind is ValueType.TIME:
        return _time(question, computed, given)
    if kind is ValueType.TIMES:
        return _times(question, computed, given)
    if kind is ValueType.FRAMES:
        return _frames(computed, given)
    return _word(computed, given)


def _integer(given: AnswerValue) -> int | None:
    if isinstance(given, bool):
        return None
    if isinstance(given, int):
        return given
    if isinstance(given, float) and given.is_integer():
        return int(given)
    if isinstance(given, str) and given.strip().isdigit():
        return int(given.strip())
    return None


def _number(given: AnswerValue) -> float | None:
    if isinstance(given, bool):
        return None
    if isinstance(given, int | float):
        return float(given)
    try:
        return float(str(given).strip())
    except ValueError:
        return None


def _sequence(question: Question, computed: Computed, given: AnswerValue) -> Compared:
    number = _integer(given)
    if number is None:
        return False, Problem.NOT_A_NUMBER, None, {}
    raw_ok = number == computed.value
    rel_ok = computed.relative is not None and number == computed.relative
    form = "raw" if raw_ok else "relative" if rel_ok else None
    if form is None:
        return False, Problem.WRONG_VALUE, None, {}
    if question.sequence is SequenceForm.RAW and form == "relative":
        return False, Problem.RAW_WANTED, form, {}
    if question.sequence is SequenceForm.RELATIVE and form == "raw":
        return False, Problem.RELATIVE_WANTED, form, {}
    return True, Problem.RIGHT_RAW if form == "raw" else Problem.RIGHT_RELATIVE, form, {}


def _count(question: Question, computed: Computed, given: AnswerValue) -> Compared:
    if computed.value is None:
        said_none = (
            isinstance(given, bool)
            and not given
            or (isinstance(given, str) and normalise(given) in _NONE_WORDS)
        )
        return (
            (True, Problem.RIGHT, None, {})
            if said_none
            else (False, Problem.ABSENT_OPTION, None, {})
        )
    number = _number(given)
    if number is None:
        return False, Problem.NOT_A_NUMBER, None, {}
    expected = computed.number()
    if question.tolerance.allows(number, expected):
        return True, Problem.RIGHT, "shift" if computed.also else None, {}
    for alternative in computed.also:
        if isinstance(alternative, int) and number == alternative:
            return True, Problem.RIGHT_MULTIPLIER, "multiplier", {}
    return False, Problem.WRONG_VALUE, None, {"tolerance": question.tolerance.describe()}


def _time(question: Question, computed: Computed, given: AnswerValue) -> Compared:
    number = _number(given)
    if number is None:
        return False, Problem.NOT_A_NUMBER, None, {}
    expected = in_unit(computed.number(), question.unit)
    tolerance = {"tolerance": question.tolerance.describe()}
    if question.tolerance.allows(number, expected):
        return True, Problem.RIGHT, None, tolerance
    other = Unit.S if question.unit is Unit.MS else Unit.MS
    if question.tolerance.allows(number, in_unit(computed.number(), other)):
        return False, Problem.WRONG_UNIT, None, {"unit": question.unit.value}
    return False, Problem.WRONG_VALUE, None, tolerance


def _times(question: Question, computed: Computed, given: AnswerValue) -> Compared:
    expected = [in_unit(v, question.unit) for v in computed.numbers()]
    numbers = [_number(v) for v in (given if isinstance(given, tuple) else (given,))]
    if any(n is None for n in numbers):
        return False, Problem.NOT_A_NUMBER, None, {}
    if len(numbers) != len(expected):
        return False, Problem.WRONG_COUNT, None, {"count": str(len(expected))}
    wrong = [
        str(i + 1)
        for i, (n, e) in enumerate(zip(numbers, expected, strict=True))
        if n is None or not question.tolerance.allows(n, e)
    ]
    if wrong:
        return False, Problem.WRONG_ITEMS, None, {"items": ", ".join(wrong)}
    return True, Problem.RIGHT, None, {"tolerance": question.tolerance.describe()}


def _frames(computed: Computed, given: AnswerValue) -> Compared:
    expected = set(computed.accepted)
    if isinstance(given, bool) or (isinstance(given, str) and normalise(given) in _NONE_WORDS):
        cited: list[int | None] = [] if not given or isinstance(given, str) else [None]
    else:
        cited = [_integer(v) for v in (given if isinstance(given, tuple) else (given,))]
    if any(c is None for c in cited):
        return False, Problem.FRAMES_EXPECTED, None, {}
    frames = {c for c in cited if c is not None}
    if not expected:
        return (
            (True, Problem.RIGHT, None, {})
            if not frames
            else (False, Problem.NO_RETRANSMISSIONS, None, {})
        )
    if not frames:
        return False, Problem.MISSED_RETRANSMISSIONS, None, {}
    wrong = sorted(frames - expected)
    if wrong:
        return False, Problem.NOT_RETRANSMISSIONS, None, {"frames": ", ".join(map(str, wrong))}
    missed = len(expected - frames)
    return True, Problem.RIGHT_SOME if missed else Problem.RIGHT, None, {"missed": str(missed)}


def _word(computed: Computed, given: AnswerValue) -> Compared:
    word = _choice(str(given)) if not isinstance(given, tuple) else None
    if word is None:
        return False, Problem.UNKNOWN_WORD, None, {}
    if word == computed.value or word in computed.also:
        return True, Problem.RIGHT, None, {}
    return False, Problem.WRONG_VALUE, None, {}
