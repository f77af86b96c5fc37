"""Feedback preparation (pure): a CheckResult as terminal text, as JSON, and as the HTML context.

The HTML feedback is the report of the connections the rubric is about, and only those (a
student's capture holds unrelated, personal traffic), with the rubric results on top; each
item links to the packet lines that are its evidence.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pcapexplain import report_context
from pcapexplain.explanations import text, ui_texts
from pcapexplain.grading import CheckResult, ItemResult, Status
from pcapexplain.integrity import Flag
from pcapexplain.model import CaptureAnalysis, Lang
from pcapexplain.rubric import Rubric

SCHEMA_VERSION = 1


def points(value: float) -> str:
    """1, 0.5, 2.25: no trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def score_line(lang: Lang, check: CheckResult) -> str:
    return text(
        lang, "rubric.ui.score", earned=points(check.earned), possible=points(check.possible)
    )


def flag_text(lang: Lang, flag: Flag, rubric: Rubric) -> tuple[str, str]:
    """A flag's title and explanation, naming the students or the window involved."""

    def day(moment: float | None) -> str:
        if moment is None:
            return text(lang, "grade.window.open")
        return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M UTC")

    window = text(lang, "grade.window", opens=day(rubric.opens), closes=day(rubric.closes))
    explain = text(
        lang,
        f"grade.flag.{flag.flag.value}.explain",
        others=", ".join(flag.others),
        window=window,
        select=rubric.select.describe(),
    )
    return text(lang, f"grade.flag.{flag.flag.value}"), explain


# ---------------------------------------------------------------------------------- terminal


def text_report(check: CheckResult, rubric: Rubric) -> list[str]:
    """The lines `pcapexplain check` prints: header, score, then every item with its texts."""
    lang = check.lang
    ui = ui_texts(lang, "rubric.ui.")
    lines = [
        text(lang, "rubric.ui.labelled", label=ui["capture"], value=check.capture)
        + " · "
        + text(lang, "rubric.ui.labelled", label=ui["rubric"], value=check.rubric),
        score_line(lang, check),
    ]
    if check.not_graded:
        lines.append(text(lang, "rubric.ui.not_graded", points=points(check.not_graded)))
    if not check.answered and any(i.status is Status.ANSWER for i in check.items):
        lines.append(ui["model"])
    lines.append(ui["passed"] if check.passed else ui["failed"])
    for flag in check.flags:
        title, explain = flag_text(lang, flag, rubric)
        lines.append(
            text(lang, "rubric.ui.labelled", label=f"{ui['flags']} · {title}", value=explain)
        )
    lines += [text(lang, "rubric.ui.labelled", label=ui["notes"], value=n) for n in check.notes]
    for item in check.items:
        lines.append("")
        lines += _item_lines(lang, ui, item)
    return lines


def _item_lines(lang: Lang, ui: dict[str, str], item: ItemResult) -> list[str]:
    status = text(lang, f"rubric.status.{item.status.value}")
    kind = text(lang, f"rubric.kind.{item.kind.value}")
    graded = item.status not in (Status.ANSWER, Status.UNANSWERABLE)
    earned = points(item.earned) if graded else "–"
    head = f"{status:<10} {item.id} · {kind} · {earned}/{points(item.points)}"
    lines = [head, f"    {item.title}", f"    {item.verdict}"]
    if graded:
        lines.append(_labelled(lang, ui["expected"], item.expected_text))
    if graded or item.given_text != "–":
        lines.append(_labelled(lang, ui["given"], item.given_text))
    if item.evidence_frames:
        lines.append(_labelled(lang, ui["evidence"], evidence_text(lang, item)))
    if item.feedback:
        lines.append(_labelled(lang, ui["feedback"], item.feedback))
    lines.append(_labelled(lang, ui["concept"], item.explanation))
    return lines


def _labelled(lang: Lang, label: str, value: str) -> str:
    return "    " + text(lang, "rubric.ui.labelled", label=label, value=value)


def evidence_text(lang: Lang, item: ItemResult) -> str:
    frames = ", ".join(map(str, item.evidence_frames))
    return text(lang, "rubric.ui.frames_in", frames=frames, id=item.connection)


# -------------------------------------------------------------------------------------- JSON


def item_record(item: ItemResult) -> dict[str, Any]:
    return {
        "id": item.id,
        "kind": item.kind.value,
        "title": item.title,
        "points": item.points,
        "earned": item.earned,
        "passed": item.passed,
        "status": item.status.value,
        "expected": item.expected,
        "given": item.given,
        "given_form": item.given_form,
        "evidence_frames": list(item.evidence_frames),
        "connection": item.connection,
        "verdict": item.verdict,
        "feedback": item.feedback,
        "explanation": item.explanation,
        "question_kind": item.question_kind,
    }


def json_report(check: CheckResult, rubric: Rubric) -> str:
    """`pcapexplain check --format json`: one object, its items in rubric order."""
    record = {
        "schema_version": SCHEMA_VERSION,
        "capture": check.capture,
        "sha256": check.sha256,
        "rubric": check.rubric,
        "lang": check.lang.value,
        "answered": check.answered,
        "passed": check.passed,
        "score": {
            "earned": check.earned,
            "possible": check.possible,
            "not_graded": check.not_graded,
        },
        "flags": [
            {
                "flag": f.flag.value,
                "others": list(f.others),
                "explanation": flag_text(check.lang, f, rubric)[1],
            }
            for f in check.flags
        ],
        "notes": list(check.notes),
        "connections": list(check.about),
        "items": [item_record(i) for i in check.items],
    }
    return json.dumps(record, indent=2, ensure_ascii=False) + "\n"


# -------------------------------------------------------------------------------------- HTML


@dataclass(frozen=True, slots=True)
class ItemView:
    id: str
    status: str
    status_label: str
    kind_label: str
    title: str
    points: str
    verdict: str
    expected: str
    given: str
    evidence: tuple[tuple[int, str], ...]  # (frame, anchor of the packet line)
    connection: str
    feedback: str
    explanation: str


@dataclass(frozen=True, slots=True)
class FeedbackContext:
    report: report_context.ReportContext
    ui: dict[str, str]
    student: str
    score: str
    lines: tuple[str, ...]  # not-graded, model-solution, pass/fail sentences
    items: tuple[ItemView, ...]
    flags: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]
    about: str


def build_feedback(
    result: CaptureAnalysis,
    check: CheckResult,
    rubric: Rubric,
    *,
    student: str,
    generated_at: str,
    version: str,
) -> FeedbackContext:
    """The feedback page: the rubric results, then the report of the rubric's connections."""
    lang = check.lang
    shown = [c for c in result.connections if c.id in check.about]
    only = dataclasses.replace(result, connections=shown)
    report = report_context.build_context(
        only, lang=lang, selected=[c.id for c in shown], generated_at=generated_at, version=version
    )
    label, total = text(lang, "report.fact.connections"), len(result.connections)
    counted = text(lang, "rubric.ui.shown_of", shown=len(shown), total=total)
    report = dataclasses.replace(
        report, facts=tuple((k, counted if k == label else v) for k, v in report.facts)
    )
    anchors = _anchors(report.sections)
    ui = ui_texts(lang, "rubric.ui.")
    lines = [text(lang, "rubric.ui.not_graded", points=points(check.not_graded))] * bool(
        check.not_graded
    )
    if not check.answered and any(i.status is Status.ANSWER for i in check.items):
        lines.append(ui["model"])
    lines.append(ui["passed"] if check.passed else ui["failed"])
    about = (
        text(
            lang,
            "rubric.ui.about",
            shown=", ".join(f"{c.id} ({c.client} → {c.server})" for c in shown),
            total=total,
        )
        if shown
        else text(lang, "rubric.ui.about_none", total=total)
    )
    return FeedbackContext(
        report=report,
        ui=ui,
        student=student,
        score=score_line(lang, check),
        lines=tuple(lines),
        items=tuple(_item_view(lang, i, anchors) for i in check.items),
        flags=tuple(flag_text(lang, f, rubric) for f in check.flags),
        notes=check.notes,
        about=about,
    )


def _anchors(sections: Sequence[report_context.Section]) -> dict[tuple[int, int], str]:
    """(connection, frame) → id of the packet line that shows it (a summary line stands for
    every frame it summarises)."""
    found: dict[tuple[int, int], str] = {}
    for section in sections:
        for line in section.lines:
            if line.first_frame is None:
                continue
            last = line.last_frame if line.last_frame is not None else line.first_frame
            for frame in range(line.first_frame, last + 1):
                found.setdefault((section.id, frame), line.anchor)
    return found


def _item_view(lang: Lang, item: ItemResult, anchors: dict[tuple[int, int], str]) -> ItemView:
    conn = item.connection
    evidence = tuple(
        (f, anchors.get((conn, f), "") if conn is not None else "") for f in item.evidence_frames
    )
    return ItemView(
        id=item.id,
        status=item.status.value,
        status_label=text(lang, f"rubric.status.{item.status.value}"),
        kind_label=text(lang, f"rubric.kind.{item.kind.value}"),
        title=item.title,
        points=f"{points(item.earned)} / {points(item.points)}",
        verdict=item.verdict,
        expected=item.expected_text if item.status is not Status.UNANSWERABLE else "–",
        given=item.given_text,
        evidence=evidence,
        connection="" if conn is None else text(lang, "rubric.ui.connection", id=conn),
        feedback=item.feedback,
        explanation=item.explanation,
    )
