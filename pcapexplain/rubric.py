"""Rubric loading and validation: a teacher's TOML file → a checked, immutable Rubric.

A rubric is data: nothing in it is evaluated or executed. Every problem is a RubricError with
the file's line, and an unknown key or value names the nearest valid one. The format is
documented in README.md ("The rubric format").
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, TypeVar

from pcapexplain.contract import FIELD_TYPES, VOCABULARY
from pcapexplain.errors import RubricError
from pcapexplain.explanations import said
from pcapexplain.model import Lang
from pcapexplain.questions import SPECS, KindSpec, QuestionKind, Side, ValueType
from pcapexplain.tomlfile import Key, Locator, read_toml, suggestion

FORMAT: Final = 1
T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)
Scalar = str | int | float | bool

TOP_KEYS: Final = ("format", "title", "assignment", "select", "requirement", "question")
ASSIGNMENT_KEYS: Final = ("opens", "closes")
SELECT_KEYS: Final = ("server_port", "server_ip", "syn_captured")
REQUIREMENT_KEYS: Final = ("id", "title", "points", "select", "match", "expect", "feedback")
QUESTION_KEYS: Final = (
    "id", "kind", "title", "points", "feedback", "evidence", "evidence_points",
    "tolerance", "sequence", "unit", "count", "side",
)  # fmt: skip
_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")


class Match(StrEnum):
    """How many of a requirement's selected connections must meet its expectations."""

    ANY = "any"  # at least one
    ALL = "all"  # every one (and at least one selected)
    NONE = "none"  # not one


class SequenceForm(StrEnum):
    """Which form of a sequence number a question accepts."""

    RAW = "raw"  # as on the wire (Wireshark: tcp.seq_raw)
    RELATIVE = "relative"  # counted from the ISN (Wireshark's default display)
    EITHER = "either"


class Unit(StrEnum):
    S = "s"
    MS = "ms"


@dataclass(frozen=True, slots=True)
class Bilingual:
    """A teacher's text in each language; a missing language falls back to the other."""

    en: str
    zh: str

    def get(self, lang: Lang) -> str:
        return self.zh if Lang(lang) is Lang.ZH else self.en


@dataclass(frozen=True, slots=True)
class Selector:
    """Which connections: every listed criterion must hold; an empty selector takes all."""

    server_ports: tuple[int, ...] = ()
    server_ips: tuple[str, ...] = ()  # normalised by ipaddress
    syn_captured: bool | None = None

    def describe(self) -> str:
        parts = [f"server_port = {'|'.join(map(str, self.server_ports))}"] * bool(self.server_ports)
        parts += [f"server_ip = {'|'.join(self.server_ips)}"] * bool(self.server_ips)
        if self.syn_captured is not None:
            parts.append(f"syn_captured = {str(self.syn_captured).lower()}")
        return ", ".join(parts) or "*"


@dataclass(frozen=True, slots=True)
class Expectation:
    """One field of the JSON contract and the values it may take."""

    field: str
    one_of: tuple[Scalar, ...] = ()
    none_of: tuple[Scalar, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    def describe(self) -> str:
        """Language-neutral notation: `teardown = four_way`, `anomalies ∋ retransmission`."""
        is_list = FIELD_TYPES[self.field] == "list"
        parts = []
        if self.one_of:
            op = "∋" if is_list else "="
            parts.append(f"{self.field} {op} {' | '.join(_show(v) for v in self.one_of)}")
        if self.none_of:
            op = "∌" if is_list else "≠"
            parts.append(f"{self.field} {op} {' | '.join(_show(v) for v in self.none_of)}")
        if self.minimum is not None:
            parts.append(f"{self.field} ≥ {_show(self.minimum)}")
        if self.maximum is not None:
            parts.append(f"{self.field} ≤ {_show(self.maximum)}")
        return ", ".join(parts)

    def holds(self, value: Any) -> bool:
        values = list(value) if isinstance(value, list) else [value]
        if self.one_of and not any(_same(v, w) for v in values for w in self.one_of):
            return False
        if self.none_of and any(_same(v, w) for v in values for w in self.none_of):
            return False
        if self.minimum is not None and (value is None or value < self.minimum):
            return False
        return self.maximum is None or (value is not None and value <= self.maximum)


def _same(value: Any, wanted: Scalar) -> bool:
    if isinstance(wanted, bool) or isinstance(value, bool):
        return value is wanted
    return bool(value == wanted)


def _show(value: Scalar) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True, slots=True)
class Requirement:
    id: str
    title: Bilingual
    points: float
    select: Selector
    match: Match
    expect: tuple[Expectation, ...]
    feedback: Bilingual | None
    line: int | None


@dataclass(frozen=True, slots=True)
class Tolerance:
    amount: float
    percent: bool  # amount is a percentage of the expected value

    def allows(self, given: float, expected: float) -> bool:
        slack = abs(expected) * self.amount / 100 if self.percent else self.amount
        return abs(given - expected) <= slack + 1e-12

    def describe(self) -> str:
        return f"±{_show(self.amount)}%" if self.percent else f"±{_show(self.amount)}"


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    kind: QuestionKind
    title: Bilingual | None
    points: float
    feedback: Bilingual | None
    evidence: bool  # the answer must cite the frame it is about
    evidence_points: float  # lost when the cited frame is missing or wrong
    tolerance: Tolerance
    sequence: SequenceForm
    unit: Unit
    count: int
    side: Side
    line: int | None


@dataclass(frozen=True, slots=True)
class Rubric:
    path: str
    title: Bilingual
    select: Selector
    requirements: tuple[Requirement, ...]
    questions: tuple[Question, ...]
    opens: float | None  # seconds since the epoch; captures outside are flagged
    closes: float | None

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.requirements) + tuple(q.id for q in self.questions)


DEFAULT_TOLERANCE: Final = {
    ValueType.TIME: Tolerance(5, percent=True),  # timestamps read off a screen are rounded
    ValueType.TIMES: Tolerance(5, percent=True),
}


def load_rubric(path: str | Path) -> Rubric:
    """Read and check a rubric; raises RubricError with the line of the first problem."""
    data, locator = read_toml(path, RubricError)
    return _Checker(str(path), locator).rubric(data)


class _Checker:
    def __init__(self, path: str, locator: Locator) -> None:
        self.path, self.locator = path, locator

    def fail(self, where: Key, message: str, hint: str | None = None) -> RubricError:
        return RubricError(self.path, self.locator.line(where), message, hint)

    def keys(self, table: Mapping[str, Any], where: Key, allowed: Sequence[str], what: str) -> None:
        for key in table:
            if key not in allowed:
                raise self.fail(
                    (*where, key),
                    said(
                        "error.rubric.unknown_key",
                        key_name=key,
                        what=what,
                        maybe=suggestion(key, allowed),
                    ),
                    said("hint.rubric.keys", what=what, keys=", ".join(allowed)),
                )

    def table(self, value: Any, where: Key, what: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, said("error.rubric.not_table", what=what))
        return value

    def rubric(self, data: Mapping[str, Any]) -> Rubric:
        self.keys(data, (), TOP_KEYS, said("error.what.rubric"))
        fmt = data.get("format", FORMAT)
        if fmt != FORMAT:
            raise self.fail(("format",), said("error.rubric.format", format=repr(fmt)))
        title = self.text(data.get("title", Path(self.path).stem), ("title",), "title")
        opens, closes = self.window(data.get("assignment", {}))
        select = self.selector(data.get("select", {}), ("select",), "[select]")
        requirements = self.array(data, "requirement", self.requirement)
        questions = self.array(data, "question", self.question)
        if not requirements and not questions:
            raise self.fail((), said("error.rubric.no_items"))
        ids: list[tuple[str, Key]] = [
            (r.id, ("requirement", i)) for i, r in enumerate(requirements)
        ]
        ids += [(q.id, ("question", i)) for i, q in enumerate(questions)]
        seen: set[str] = set()
        for ident, where in ids:
            if ident in seen:
                raise self.fail((*where, "id"), said("error.rubric.id_twice", id=ident))
            seen.add(ident)
        return Rubric(self.path, title, select, requirements, questions, opens, closes)

    def array(
        self, data: Mapping[str, Any], name: str, build: Callable[[Any, Key], T]
    ) -> tuple[T, ...]:
        items = data.get(name, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise self.fail((name,), said("error.rubric.array", name=name))
        return tuple(build(item, (name, i)) for i, item in enumerate(items))

    def text(self, value: Any, where: Key, what: str) -> Bilingual:
        if isinstance(value, str):
            return Bilingual(value, value)
        table = self.table(value, where, said("error.what.text_table", what=what))
        self.keys(table, where, ("en", "zh"), what)
        texts = {k: v for k, v in table.items() if isinstance(v, str) and v.strip()}
        if len(texts) != len(table) or not texts:
            raise self.fail(where, said("error.rubric.empty_text", what=what))
        en = texts.get("en", texts.get("zh", ""))
        return Bilingual(en, texts.get("zh", en))

    def window(self, value: Any) -> tuple[float | None, float | None]:
        table = self.table(value, ("assignment",), "[assignment]")
        self.keys(table, ("assignment",), ASSIGNMENT_KEYS, "[assignment]")
        opens = self.moment(table.get("opens"), "opens", end_of_day=False)
        closes = self.moment(table.get("closes"), "closes", end_of_day=True)
        if opens is not None and closes is not None and closes <= opens:
            raise self.fail(("assignment", "closes"), said("error.rubric.closes_first"))
        return opens, closes

    def moment(self, value: Any, key: str, *, end_of_day: bool) -> float | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=UTC)
            return aware.timestamp()
        if isinstance(value, date):
            day = value + timedelta(days=1) if end_of_day else value
            return datetime.combine(day, time(), tzinfo=UTC).timestamp()
        raise self.fail(
            ("assignment", key),
            said("error.rubric.date", key_name=key),
        )

    def selector(self, value: Any, where: Key, what: str) -> Selector:
        table = self.table(value, where, what)
        self.keys(table, where, SELECT_KEYS, what)
        ports = self.listed(table.get("server_port", []), (*where, "server_port"))
        for port in ports:
            if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
                raise self.fail(
                    (*where, "server_port"), said("error.rubric.port", value=repr(port))
                )
        ips = []
        for ip in self.listed(table.get("server_ip", []), (*where, "server_ip")):
            try:
                ips.append(str(ipaddress.ip_address(str(ip))))
            except ValueError:
                raise self.fail(
                    (*where, "server_ip"), said("error.rubric.ip", value=repr(ip))
                ) from None
        syn = table.get("syn_captured")
        if syn is not None and not isinstance(syn, bool):
            raise self.fail(
                (*where, "syn_captured"), said("error.rubric.bool", key_name="syn_captured")
            )
        return Selector(tuple(ports), tuple(ips), syn)

    def listed(self, value: Any, where: Key) -> list[Any]:
        return value if isinstance(value, list) else [value]

    def ident(self, item: Mapping[str, Any], where: Key, what: str) -> str:
        value = item.get("id")
        if not isinstance(value, str) or not _ID.match(value):
            raise self.fail(
                (*where, "id"),
                said("error.rubric.id", what=what, value=repr(value)),
            )
        return value

    def points(self, value: Any, where: Key) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise self.fail(where, said("error.rubric.points", value=repr(value)))
        return float(value)

    def requirement(self, item: Mapping[str, Any], where: Key) -> Requirement:
        ident = self.ident(item, where, "[[requirement]]")
        what = said("error.what.requirement", id=ident)
        self.keys(item, where, REQUIREMENT_KEYS, what)
        match = self.choice(item.get("match", "any"), (*where, "match"), Match, "match")
        expect = self.table(
            item.get("expect"), (*where, "expect"), said("error.what.expect_of", what=what)
        )
        if not expect:
            raise self.fail((*where, "expect"), said("error.rubric.expects_nothing", what=what))
        return Requirement(
            id=ident,
            title=self.text(item.get("title", ident), (*where, "title"), "title"),
            points=self.points(item.get("points", 1), (*where, "points")),
            select=self.selector(
                item.get("select", {}), (*where, "select"), said("error.what.select_of", what=what)
            ),
            match=match,
            expect=tuple(self.expectation(k, v, (*where, "expect", k)) for k, v in expect.items()),
            feedback=self.optional_text(item, where, "feedback"),
            line=self.locator.line(where),
        )

    def optional_text(self, item: Mapping[str, Any], where: Key, key: str) -> Bilingual | None:
        return None if key not in item else self.text(item[key], (*where, key), key)

    def choice(self, value: Any, where: Key, enum: type[E], key: str) -> E:
        names = [m.value for m in enum]
        if value not in names:
            raise self.fail(
                where,
                said(
                    "error.rubric.choice",
                    key_name=key,
                    value=repr(value),
                    maybe=suggestion(str(value), names),
                ),
                said("hint.rubric.choose", names=", ".join(names)),
            )
        return enum(value)

    def expectation(self, name: str, value: Any, where: Key) -> Expectation:
        if name not in FIELD_TYPES:
            raise self.fail(
                where,
                said("error.rubric.field", name=name, maybe=suggestion(name, FIELD_TYPES)),
                said("hint.rubric.fields"),
            )
        if isinstance(value, dict):
            on = said("error.what.expectation", name=name)
            self.keys(value, where, ("min", "max", "not"), on)
            none_of = self.values(name, value.get("not", []), (*where, "not"))
            low, high = (self.bound(name, value.get(k), (*where, k)) for k in ("min", "max"))
            return Expectation(name, none_of=none_of, minimum=low, maximum=high)
        return Expectation(name, one_of=self.values(name, value, where))

    def values(self, name: str, value: Any, where: Key) -> tuple[Scalar, ...]:
        kind = FIELD_TYPES[name]
        found: list[Scalar] = []
        for v in self.listed(value, where):
            ok = {
                "bool": isinstance(v, bool),
                "number": isinstance(v, int | float) and not isinstance(v, bool),
            }.get(kind, isinstance(v, str))
            if not ok:
                words = said(f"error.what.{_KIND_WORDS.get(kind, 'words')}")
                raise self.fail(
                    where, said("error.rubric.holds", name=name, kind=words, value=repr(v))
                )
            vocabulary = VOCABULARY.get(name)
            if vocabulary is not None and v not in vocabulary:
                raise self.fail(
                    where,
                    said(
                        "error.rubric.never",
                        name=name,
                        value=repr(v),
                        maybe=suggestion(str(v), vocabulary),
                    ),
                    said("hint.rubric.values", values=", ".join(vocabulary)),
                )
            found.append(v)
        return tuple(found)

    def bound(self, name: str, value: Any, where: Key) -> float | None:
        if value is None:
            return None
        if FIELD_TYPES[name] != "number":
            raise self.fail(where, said("error.rubric.not_number", name=name))
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(where, said("error.rubric.bounds", value=repr(value)))
        return float(value)

    def question(self, item: Mapping[str, Any], where: Key) -> Question:
        ident = self.ident(item, where, "[[question]]")
        if "kind" not in item and ident not in set(QuestionKind):
            names = [k.value for k in QuestionKind]
            raise self.fail(
                (*where, "id"),
                said("error.rubric.no_kind", id=ident, maybe=suggestion(ident, names)),
                said("hint.rubric.add_kind", names=", ".join(names)),
            )
        kind = self.choice(item.get("kind", ident), (*where, "kind"), QuestionKind, "kind")
        spec = SPECS[kind]
        allowed = [k for k in QUESTION_KEYS if _applies(k, spec)]
        what = said("error.what.question", id=ident, kind=kind.value)
        for key in item:
            if key in QUESTION_KEYS and key not in allowed:
                raise self.fail(
                    (*where, key), said("error.rubric.not_apply", key_name=key, what=what)
                )
        self.keys(item, where, allowed, what)
        points = self.points(item.get("points", 1), (*where, "points"))
        evidence = item.get("evidence", False)
        if not isinstance(evidence, bool):
            raise self.fail((*where, "evidence"), said("error.rubric.bool", key_name="evidence"))
        share = self.points(item.get("evidence_points", points / 2), (*where, "evidence_points"))
        if share > points:
            raise self.fail((*where, "evidence_points"), said("error.rubric.evidence_points"))
        count = item.get("count", 6)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100:
            raise self.fail((*where, "count"), said("error.rubric.count"))
        return Question(
            id=ident,
            kind=kind,
            title=self.optional_text(item, where, "title"),
            points=points,
            feedback=self.optional_text(item, where, "feedback"),
            evidence=evidence,
            evidence_points=share if evidence else 0.0,
            tolerance=self.tolerance(item.get("tolerance"), (*where, "tolerance"), spec.value),
            sequence=self.choice(
                item.get("sequence", "either"), (*where, "sequence"), SequenceForm, "sequence"
            ),
            unit=self.choice(item.get("unit", "ms"), (*where, "unit"), Unit, "unit"),
            count=count,
            side=self.choice(
                item.get("side", spec.side or "client"), (*where, "side"), Side, "side"
            ),
            line=self.locator.line(where),
        )

    def tolerance(self, value: Any, where: Key, kind: ValueType) -> Tolerance:
        if value is None:
            return DEFAULT_TOLERANCE.get(kind, Tolerance(0, percent=False))
        if isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*%\s*", value):
            return Tolerance(float(value.strip().rstrip("%")), percent=True)
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return Tolerance(float(value), percent=False)
        raise self.fail(where, said("error.rubric.tolerance", value=repr(value)))


def _applies(key: str, spec: KindSpec) -> bool:
    """Which optional question keys make sense for a kind's value type."""
    value = spec.value
    return {
        "tolerance": value in (ValueType.COUNT, ValueType.TIME, ValueType.TIMES),
        "sequence": value is ValueType.SEQUENCE,
        "unit": value in (ValueType.TIME, ValueType.TIMES),
        "count": spec.samples,
        "side": spec.side is not None,
    }.get(key, True)


# What a field of each type holds, as keys of error.what.*.
_KIND_WORDS: Final = {"bool": "bool_words", "number": "numbers", "list": "words"}
