"""Class-level writers' preparation (pure): the gradebook CSV and the class summary's context.

The gradebook has one row per student and one column per rubric item (the points earned,
`n/a` for a question the capture cannot answer), the total and the integrity flags. Text cells
that a spreadsheet would run as a formula are defused with a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from pcapexplain.classroom import StudentOutcome
from pcapexplain.explanations import text, ui_texts
from pcapexplain.feedback import flag_text, points
from pcapexplain.grading import Status
from pcapexplain.model import Lang
from pcapexplain.rubric import Rubric

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BINS = 10  # score distribution in steps of 10 %


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def percent(outcome: StudentOutcome) -> float | None:
    check = outcome.check
    if check is None:
        return None
    return 100.0 * check.earned / check.possible if check.possible else 100.0


def csv_text(outcomes: Sequence[StudentOutcome], rubric: Rubric) -> str:
    """gradebook.csv: student, status, earned, possible, not_graded, percent, one column per
    item, flags, error."""
    items = rubric.item_ids
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "student",
            "status",
            "earned",
            "possible",
            "not_graded",
            "percent",
            *items,
            "flags",
            "error",
        ]
    )
    for o in outcomes:
        flags = " ".join(sorted({f.flag.value for f in o.flags}))
        check = o.check
        if check is None:
            writer.writerow(
                [
                    _cell(o.student),
                    "error",
                    "",
                    "",
                    "",
                    "",
                    *([""] * len(items)),
                    flags,
                    _cell(o.error),
                ]
            )
            continue
        by_id = {i.id: i for i in check.items}
        cells = [
            "n/a" if by_id[ident].status is Status.UNANSWERABLE else points(by_id[ident].earned)
            for ident in items
        ]
        share = percent(o)
        writer.writerow(
            [
                _cell(o.student),
                "graded",
                points(check.earned),
                points(check.possible),
                points(check.not_graded),
                "" if share is None else f"{share:.1f}",
                *cells,
                flags,
                "",
            ]
        )
    return buffer.getvalue()


@dataclass(frozen=True, slots=True)
class Bin:
    label: str
    count: int
    width: int  # bar width, percent of the fullest bin


@dataclass(frozen=True, slots=True)
class Missed:
    id: str
    title: str
    missed: int
    graded: int


@dataclass(frozen=True, slots=True)
class StudentLine:
    student: str
    score: str
    feedback: str | None
    flags: tuple[tuple[str, str], ...]  # (title, explanation)


@dataclass(frozen=True, slots=True)
class SummaryContext:
    lang: str
    ui: dict[str, str]
    title: str
    rubric: str
    facts: tuple[tuple[str, str], ...]
    bins: tuple[Bin, ...]
    missed: tuple[Missed, ...]
    students: tuple[StudentLine, ...]
    flagged: tuple[StudentLine, ...]
    errors: tuple[tuple[str, str], ...]
    generated_at: str
    version: str


def build_summary(
    outcomes: Sequence[StudentOutcome],
    rubric: Rubric,
    *,
    lang: Lang,
    generated_at: str,
    version: str,
) -> SummaryContext:
    """summary.html's context: distribution, most-missed items, flagged students, errors."""
    ui = ui_texts(lang, "grade.")
    graded = [o for o in outcomes if o.check is not None]
    shares = [p for p in (percent(o) for o in graded) if p is not None]
    facts = [
        (ui["students"], str(len(outcomes))),
        (ui["graded"], str(len(graded))),
        (ui["errors"], str(len(outcomes) - len(graded))),
    ]
    if shares:
        facts += [
            (ui["average"], f"{statistics.fmean(shares):.1f} %"),
            (ui["median"], f"{statistics.median(shares):.1f} %"),
        ]
    lines = tuple(_line(lang, o, rubric) for o in outcomes)
    return SummaryContext(
        lang=Lang(lang).value,
        ui=ui,
        title=ui["title"],
        rubric=rubric.title.get(lang),
        facts=tuple(facts),
        bins=_bins(shares),
        missed=_missed(lang, graded, rubric),
        students=lines,
        flagged=tuple(line for line in lines if line.flags),
        errors=tuple((o.student, o.error) for o in outcomes if o.check is None),
        generated_at=generated_at,
        version=version,
    )


def _line(lang: Lang, outcome: StudentOutcome, rubric: Rubric) -> StudentLine:
    check = outcome.check
    share = percent(outcome)
    score = "–" if check is None else f"{points(check.earned)} / {points(check.possible)}"
    if share is not None:
        score += f" ({share:.0f} %)"
    flags = tuple(flag_text(lang, f, rubric) for f in outcome.flags)
    return StudentLine(outcome.student, score, outcome.feedback, flags)


def _bins(shares: Sequence[float]) -> tuple[Bin, ...]:
    counts = [0] * BINS
    for share in shares:
        counts[min(int(share // (100 / BINS)), BINS - 1)] += 1
    top = max(counts) or 1
    step = 100 // BINS
    return tuple(
        Bin(f"{i * step}–{100 if i == BINS - 1 else (i + 1) * step - 1} %", n, round(100 * n / top))
        for i, n in enumerate(counts)
    )


def _missed(lang: Lang, graded: Sequence[StudentOutcome], rubric: Rubric) -> tuple[Missed, ...]:
    titles = {r.id: r.title.get(lang) for r in rubric.requirements}
    titles.update(
        {
            q.id: q.title.get(lang) if q.title else text(lang, f"rubric.q.{q.kind.value}.title")
            for q in rubric.questions
        }
    )
    found = []
    for ident in rubric.item_ids:
        results = [i for o in graded if o.check for i in o.check.items if i.id == ident]
        marked = [i for i in results if i.status in (Status.PASSED, Status.FAILED, Status.PARTIAL)]
        missed = sum(1 for i in marked if i.status is not Status.PASSED)
        if missed:
            found.append(Missed(ident, titles[ident], missed, len(marked)))
    found.sort(key=lambda m: (-m.missed / m.graded, m.id))
    return tuple(found[:10])
