"""Grading (pure): one analysed capture + a rubric (+ a student's answers) → a CheckResult.

Selects the connections each item is about, checks the requirements against the connections
JSON contract, computes every question's answer from this student's own capture, marks the
student's answers, and writes each item's texts (verdict and concept) in the chosen language.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from pcapexplain import contract, integrity
from pcapexplain.answers import AnswerSheet
from pcapexplain.explanations import in_lang, text
from pcapexplain.integrity import Flag
from pcapexplain.marking import Mark, Problem, in_unit, mark
from pcapexplain.model import AnalysisFlag, CaptureAnalysis, Connection, Lang, PacketRole
from pcapexplain.questions import (
    SPECS,
    Computed,
    Params,
    Unanswerable,
    ValueType,
    View,
    extract,
)
from pcapexplain.rubric import Match, Question, Requirement, Rubric, Selector

MAX_EVIDENCE: Final = 20  # frames listed per item; the rest are in the feedback's packet list
# Every rubric.verdict.* text formats with (a subset of) these; unused ones are empty.
VERDICT_PARAMS: Final = (
    "expected", "given", "raw", "relative", "cited", "evidence", "tolerance", "unit",
    "count", "items", "frames", "missed",
)  # fmt: skip


class ItemKind(StrEnum):
    REQUIREMENT = "requirement"
    QUESTION = "question"


class Status(StrEnum):
    """An item's outcome; texts under rubric.status.*."""

    PASSED = "passed"
    FAILED = "failed"
    PARTIAL = "partial"  # the value is right, the cited frame is not: evidence points lost
    UNANSWERABLE = "unanswerable"  # the capture cannot answer it: not graded
    ANSWER = "answer"  # no answers were given: the computed answer, for a model solution


@dataclass(frozen=True, slots=True)
class ItemResult:
    id: str
    kind: ItemKind
    title: str
    points: float
    earned: float
    status: Status
    expected: Any  # JSON-ready
    given: Any  # JSON-ready; None when nothing was given
    given_form: str | None  # raw / relative / shift / multiplier
    expected_text: str  # the expected value in words, in the chosen language
    given_text: str
    evidence_frames: tuple[int, ...]
    connection: int | None  # the connection the evidence frames belong to
    verdict: str  # what was right or wrong, in the chosen language
    explanation: str  # the concept behind the item
    feedback: str  # the teacher's text, shown when the item did not pass
    question_kind: str | None = None

    @property
    def passed(self) -> bool | None:
        if self.status in (Status.UNANSWERABLE, Status.ANSWER):
            return None
        return self.status is Status.PASSED


@dataclass(frozen=True, slots=True)
class CheckResult:
    capture: str
    sha256: str
    rubric: str
    lang: Lang
    items: tuple[ItemResult, ...]
    flags: tuple[Flag, ...]
    about: tuple[int, ...]  # ids of the connections the rubric is about, shown in feedback
    notes: tuple[str, ...]
    first_time: float | None
    last_time: float | None
    connection_keys: frozenset[integrity.ConnectionKey]
    answered: bool  # answers were given (else the questions are a model solution)

    @property
    def earned(self) -> float:
        return sum(i.earned for i in self.items)

    @property
    def possible(self) -> float:
        graded = (Status.PASSED, Status.FAILED, Status.PARTIAL)
        return sum(i.points for i in self.items if i.status in graded)

    @property
    def not_graded(self) -> float:
        return sum(i.points for i in self.items if i.status is Status.UNANSWERABLE)

    @property
    def passed(self) -> bool:
        return all(i.passed is not False for i in self.items)


def selected(connections: Sequence[Connection], selector: Selector) -> list[Connection]:
    """The connections a selector takes, in id order."""
    return [c for c in connections if _takes(selector, c)]


def _takes(selector: Selector, conn: Connection, *, need_syn: bool = True) -> bool:
    if selector.server_ports and conn.server.port not in selector.server_ports:
        return False
    if selector.server_ips and conn.server.ip not in selector.server_ips:
        return False
    if need_syn and selector.syn_captured is not None:
        return (conn.client_isn is not None) == selector.syn_captured
    return True


def question_connection(connections: Sequence[Connection], selector: Selector) -> Connection | None:
    """The first connection [select] takes; failing that, the first to the right server even
    without a captured SYN, so that the questions it can still answer are answered."""
    strict = selected(connections, selector)
    if strict:
        return strict[0]
    return next((c for c in connections if _takes(selector, c, need_syn=False)), None)


def check(
    result: CaptureAnalysis, rubric: Rubric, answers: AnswerSheet | None, lang: Lang
) -> CheckResult:
    """Grade one capture (and the student's answers, when given) against a rubric."""
    lang = Lang(lang)
    target = question_connection(result.connections, rubric.select)
    view = None if target is None else View(result.packets, result.states, target)
    items = [_requirement(result, r, lang) for r in rubric.requirements]
    items += [_question(view, q, answers, lang) for q in rubric.questions]
    about = {i.connection for i in items if i.connection is not None}
    if target is not None:
        about.add(target.id)
    packets = result.packets
    first = packets.time[0] if len(packets) else None
    last = packets.time[-1] if len(packets) else None
    matched = any(_takes(rubric.select, c, need_syn=False) for c in result.connections)
    notes = [
        text(lang, "rubric.note.unknown_answer", id=ident, hint=in_lang(hint, lang))
        for ident, hint in (answers.unknown if answers else ())
    ]
    return CheckResult(
        capture=os.path.basename(result.capture.path),
        sha256=result.capture.sha256,
        rubric=rubric.title.get(lang),
        lang=lang,
        items=tuple(items),
        flags=integrity.capture_flags(first, last, rubric.opens, rubric.closes, matched),
        about=tuple(sorted(about)),
        notes=tuple(notes),
        first_time=first,
        last_time=last,
        connection_keys=integrity.connection_keys(result.connections),
        answered=answers is not None,
    )


# ------------------------------------------------------------------------------ requirements


def _requirement(result: CaptureAnalysis, req: Requirement, lang: Lang) -> ItemResult:
    candidates = selected(result.connections, req.select)
    records = [(c, contract.fields(c, result)) for c in candidates]
    held = [(c, f, sum(e.holds(f[e.field]) for e in req.expect)) for c, f in records]
    meets = [(c, f) for c, f, n in held if n == len(req.expect)]
    misses = [(c, f, n) for c, f, n in held if n < len(req.expect)]
    if req.match is Match.ANY:
        passed = bool(meets)
        shown = meets[0] if meets else _closest(misses)
    elif req.match is Match.ALL:
        passed = bool(candidates) and not misses
        shown = (misses and _closest(misses)) or (meets[0] if meets else None)
    else:
        passed = not meets
        shown = meets[0] if meets else None
    conn, fields = shown if shown else (None, None)
    verdict = _requirement_verdict(lang, req, passed, conn, bool(candidates))
    return ItemResult(
        id=req.id,
        kind=ItemKind.REQUIREMENT,
        title=req.title.get(lang),
        points=req.points,
        earned=req.points if passed else 0.0,
        status=Status.PASSED if passed else Status.FAILED,
        expected=[e.describe() for e in req.expect],
        given=None if fields is None else {e.field: fields[e.field] for e in req.expect},
        given_form=None,
        expected_text=", ".join(e.describe() for e in req.expect),
        given_text="–"
        if fields is None
        else ", ".join(f"{e.field} = {_show_given(fields[e.field])}" for e in req.expect),
        evidence_frames=() if conn is None else _field_frames(result, conn, req),
        connection=None if conn is None else conn.id,
        verdict=verdict,
        explanation=_field_concepts(lang, req),
        feedback="" if passed or req.feedback is None else req.feedback.get(lang),
    )


def _closest(
    misses: list[tuple[Connection, dict[str, Any], int]],
) -> tuple[Connection, dict[str, Any]] | None:
    if not misses:
        return None
    conn, fields, _ = max(misses, key=lambda m: (m[2], -m[0].id))
    return conn, fields


def _requirement_verdict(
    lang: Lang, req: Requirement, passed: bool, conn: Connection | None, any_selected: bool
) -> str:
    if not any_selected:
        return text(lang, "rubric.req.none_selected", select=req.select.describe())
    key = f"rubric.req.{req.match.value}.{'passed' if passed else 'failed'}"
    if conn is None:
        return text(lang, key, connection="–", client="", server="")
    return text(lang, key, connection=conn.id, client=str(conn.client), server=str(conn.server))


_HANDSHAKE_ROLES = frozenset(
    int(r)
    for r in (
        PacketRole.SYN,
        PacketRole.SYN_ACK,
        PacketRole.HANDSHAKE_ACK,
        PacketRole.SYN_RETRANSMISSION,
    )
)
_CLOSE_ROLES = frozenset(int(r) for r in (PacketRole.FIN, PacketRole.FIN_ACK, PacketRole.RST))
_RESENT = int(
    AnalysisFlag.RETRANSMISSION
    | AnalysisFlag.FAST_RETRANSMISSION
    | AnalysisFlag.SPURIOUS_RETRANSMISSION
)
_HANDSHAKE_FIELDS = frozenset(
    {"handshake", "roles_inferred", "client_isn", "server_isn", "rtt_syn_to_synack"}
)


def _field_frames(result: CaptureAnalysis, conn: Connection, req: Requirement) -> tuple[int, ...]:
    """The packets that show each expected field's value: handshake packets for `handshake`,
    the FINs, their ACKs and RSTs for the close, the flagged frames for `anomalies`."""
    packets, roles = result.packets, result.states.role
    frames: set[int] = set()
    for expectation in req.expect:
        name = expectation.field
        if (
            name in _HANDSHAKE_FIELDS
            or name.startswith(("client_", "server_"))
            and ("mss" in name or "wscale" in name or "sack" in name or "timestamps" in name)
        ):
            frames.update(
                packets.frame[r] for r in conn.packet_index if roles[r] in _HANDSHAKE_ROLES
            )
        elif name.startswith("retransmissions"):
            frames.update(
                packets.frame[r] for r in conn.packet_index if packets.analysis[r] & _RESENT
            )
        elif name == "anomalies":
            found = result.anomalies_of(conn.id)
            wanted = set(expectation.one_of) or {a.slug for a in found}
            frames.update(f for a in found if a.slug in wanted for f in a.frames)
        else:
            frames.update(packets.frame[r] for r in conn.packet_index if roles[r] in _CLOSE_ROLES)
    if not frames:
        frames.add(conn.first_frame)
    return tuple(sorted(frames)[:MAX_EVIDENCE])


def _field_concepts(lang: Lang, req: Requirement) -> str:
    """The teaching behind each expected value, from the catalogue (handshake.*.why, ...)."""
    seen: list[str] = []
    for e in req.expect:
        value = e.one_of[0] if e.one_of else None
        if e.field == "handshake" and not e.one_of:
            key = "rubric.field.syn_captured"  # handshake ≠ not_captured: "the SYN is in it"
        elif e.field == "anomalies" and isinstance(value, str):
            key = f"anomaly.{value}.why"
        elif e.field in ("handshake", "teardown", "closed_first", "time_wait", "half_close"):
            key = f"rubric.field.{e.field}"
        elif e.field in ("roles_inferred", "client_isn", "server_isn"):
            key = "rubric.field.syn_captured"
        else:
            key = "rubric.field.other"
        explanation = text(lang, key)
        if explanation not in seen:
            seen.append(explanation)
    return ("" if lang is Lang.ZH else " ").join(seen)  # Chinese sentences take no space


# --------------------------------------------------------------------------------- questions


def _question(
    view: View | None, question: Question, answers: AnswerSheet | None, lang: Lang
) -> ItemResult:
    computed = extract(question.kind, view, Params(side=question.side, count=question.count))
    title = (
        question.title.get(lang)
        if question.title
        else text(lang, f"rubric.q.{question.kind.value}.title")
    )
    status, earned, form, shown = Status.ANSWER, 0.0, None, "–"
    expected: Any = None
    evidence: tuple[int, ...] = ()
    if isinstance(computed, Unanswerable):
        status, verdict = Status.UNANSWERABLE, text(lang, f"rubric.reason.{computed.reason.value}")
    else:
        expected = expected_value(question, computed)
        evidence = computed.evidence[:MAX_EVIDENCE]
        shown = show_value(lang, question, expected)
        verdict = text(lang, "rubric.verdict.model", expected=shown)
        if answers is not None:
            answer = answers.answers.get(question.id)
            result = mark(question, computed, answer)
            status, earned = _score(question, result)
            form = result.form
            given = answer.value if answer else None
            verdict = _verdict(lang, question, computed, expected, given, result)
    failed = status in (Status.FAILED, Status.PARTIAL)
    return ItemResult(
        id=question.id,
        kind=ItemKind.QUESTION,
        title=title,
        points=question.points,
        earned=earned,
        status=status,
        expected=expected,
        given=_given(answers, question),
        given_form=form,
        expected_text=shown,
        given_text=_show_answer(lang, answers, question),
        evidence_frames=evidence,
        connection=None if view is None else view.conn.id,
        verdict=verdict,
        explanation=text(lang, f"rubric.q.{question.kind.value}.explain"),
        feedback=question.feedback.get(lang) if failed and question.feedback else "",
        question_kind=question.kind.value,
    )


def _score(question: Question, result: Mark) -> tuple[Status, float]:
    if not result.value_ok:
        return Status.FAILED, 0.0
    if question.evidence and not result.evidence_ok:
        return Status.PARTIAL, question.points - question.evidence_points
    return Status.PASSED, question.points


def _given(answers: AnswerSheet | None, question: Question) -> Any:
    answer = answers.answers.get(question.id) if answers else None
    if answer is None:
        return None
    value = list(answer.value) if isinstance(answer.value, tuple) else answer.value
    return {"value": value, "frames": list(answer.frames)} if answer.frames else value


def expected_value(question: Question, computed: Computed) -> Any:
    """The computed answer as the student should write it (times in the question's unit)."""
    kind = SPECS[question.kind].value
    value = computed.value
    if kind is ValueType.SEQUENCE:
        return {"raw": value, "relative": computed.relative}
    if kind is ValueType.TIME:
        return round(in_unit(computed.number(), question.unit), 6)
    if kind is ValueType.TIMES:
        return [round(in_unit(v, question.unit), 6) for v in computed.numbers()]
    if kind is ValueType.FRAMES:
        return [int(v) for v in computed.numbers()]
    return value


def show_value(lang: Lang, question: Question, expected: Any) -> str:
    """An expected value in words: "2507598367 (relative 1)", "0.412 ms", "none"."""
    kind = SPECS[question.kind].value
    unit = text(lang, f"rubric.unit.{question.unit.value}")
    if kind is ValueType.SEQUENCE:
        if expected["relative"] is None:
            return str(expected["raw"])
        return text(
            lang, "rubric.show.sequence", raw=expected["raw"], relative=expected["relative"]
        )
    if kind is ValueType.TIME:
        return f"{expected:.6g} {unit}"
    if kind is ValueType.TIMES:
        return ", ".join(f"{v:.6g}" for v in expected) + f" {unit}"
    if kind is ValueType.FRAMES:
        return ", ".join(map(str, expected)) if expected else text(lang, "rubric.show.none")
    if expected is None:
        return text(lang, "rubric.show.not_offered")
    return str(expected)


def _verdict(
    lang: Lang,
    question: Question,
    computed: Computed,
    expected: Any,
    given: Any,
    result: Mark,
) -> str:
    values = dict.fromkeys(VERDICT_PARAMS, "")
    values.update(result.params)
    values["expected"] = show_value(lang, question, expected)
    values["given"] = _show_given(given)
    values["evidence"] = ", ".join(map(str, computed.evidence[:MAX_EVIDENCE])) or "–"
    if SPECS[question.kind].value is ValueType.SEQUENCE:
        values["raw"], values["relative"] = str(computed.value), str(computed.relative)
    values["unit"] = text(lang, f"rubric.unit.{question.unit.value}")
    sentence = text(lang, f"rubric.verdict.{result.problem}", **values)
    if result.evidence_ok is False and result.problem not in (
        Problem.MISSING_FRAME,
        Problem.WRONG_FRAME,
    ):
        key = "rubric.verdict.wrong_frame" if values["cited"] else "rubric.verdict.missing_frame"
        if values["cited"] or question.evidence:
            sentence += " " + text(lang, key, **values)
    return sentence


def _show_answer(lang: Lang, answers: AnswerSheet | None, question: Question) -> str:
    answer = answers.answers.get(question.id) if answers else None
    if answer is None:
        return "–"
    shown = "–" if answer.value is None else _show_given(answer.value)
    if not answer.frames:
        return shown
    frames = ", ".join(map(str, answer.frames))
    return text(lang, "rubric.show.cited", value=shown, frames=frames)


def _show_given(given: Any) -> str:
    if given is None:
        return "–"
    if isinstance(given, tuple | list):
        return ", ".join(map(str, given))
    if isinstance(given, bool):
        return str(given).lower()
    return str(given)
