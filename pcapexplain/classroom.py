"""Grading a class: every student's submission checked in parallel, then the class-wide checks.

`grade_student` is the per-student work, a plain picklable function of plain data, which
runner.run maps over the submissions as `batch` maps its captures: it analyses the capture, grades
it, writes the student's feedback page and returns what the gradebook and the summary need. A
broken submission comes back as an error outcome: one row, never a stopped run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from pcapexplain import api, feedback, grading, integrity, reporter, runner
from pcapexplain.answers import AnswerSheet, load_answers
from pcapexplain.capture_reading import collector_paused
from pcapexplain.errors import OutputError, PcapExplainError, os_reason
from pcapexplain.explanations import in_lang, said
from pcapexplain.grading import CheckResult
from pcapexplain.integrity import Fingerprint, Flag
from pcapexplain.model import Lang, Reader
from pcapexplain.rubric import Rubric
from pcapexplain.submissions import Submission, find_submissions, safe_name

FEEDBACK_DIR = "feedback"


@dataclass(frozen=True, slots=True)
class StudentTask:
    submission: Submission
    rubric: Rubric
    feedback_path: Path  # where the worker writes the student's feedback page
    lang: Lang
    generated_at: str
    version: str
    reader: Reader = Reader.AUTO


@dataclass(frozen=True, slots=True)
class StudentOutcome:
    student: str
    check: CheckResult | None  # None when the submission could not be graded
    error: str  # the one-line reason when it could not
    feedback: str | None  # the feedback page, relative to the output folder
    flags: tuple[Flag, ...] = ()  # the capture's own flags, then the class-wide ones
    packets: int = 0  # packets read from the capture, for the progress rate


def grade_student(task: StudentTask) -> StudentOutcome:
    """Analyse, grade and write the feedback of one submission; errors become the outcome."""
    sub = task.submission
    if sub.problem is not None or sub.capture is None:
        problem = in_lang(sub.problem or said("error.sub.none"), task.lang)
        return StudentOutcome(sub.student, None, problem, None)
    try:
        rubric = task.rubric
        ids = tuple(q.id for q in rubric.questions)
        # A student who sent no answers answered nothing: marked, not shown the model solution.
        answers = load_answers(sub.answers, ids) if sub.answers else AnswerSheet("", {}, ())
        with collector_paused():  # read and analysis, as `check` runs them alone
            analysis = api.analyse(sub.capture, reader=task.reader)
        check = grading.check(analysis.result, rubric, answers, task.lang)
        page = feedback.build_feedback(
            analysis.result,
            check,
            rubric,
            student=sub.student,
            generated_at=task.generated_at,
            version=task.version,
        )
        reporter.write_report(reporter.render_feedback(page), task.feedback_path)
    except PcapExplainError as exc:
        return StudentOutcome(
            sub.student, None, _name_only(in_lang(exc.message, task.lang), sub), None
        )
    relative = f"{FEEDBACK_DIR}/{task.feedback_path.name}"
    packets = len(analysis.result.packets)
    return StudentOutcome(sub.student, check, "", relative, check.flags, packets)


def _name_only(message: str, sub: Submission) -> str:
    """Error messages name files by their place in the submissions folder, not by full path."""
    for path in (sub.capture, sub.answers):
        if path is not None:
            message = message.replace(str(path), path.name)
    return message


@dataclass(frozen=True, slots=True)
class ClassResult:
    outcomes: tuple[StudentOutcome, ...]  # sorted by student id, class-wide flags added
    interrupted: bool = False  # Ctrl-C: outcomes holds the students graded before it


class ClassListener(Protocol):
    def started(self, student: str) -> None: ...

    def finished(self, outcome: StudentOutcome, weight: int, seconds: float) -> None: ...


def student_tasks(
    folder: Path,
    rubric: Rubric,
    outdir: Path,
    *,
    lang: Lang,
    generated_at: str,
    version: str,
    reader: Reader = Reader.AUTO,
) -> list[StudentTask]:
    """One task per submission in folder, in student order; makes outdir's feedback folder.
    Paths are absolute, since a worker on a Dask cluster does not share this process's folder."""
    submissions = find_submissions(folder.absolute())
    pages = outdir.absolute() / FEEDBACK_DIR
    try:
        pages.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = os_reason(exc)
        raise OutputError(said("error.cannot_create", path=str(pages), reason=reason)) from exc
    taken: set[str] = set()
    return [
        StudentTask(
            sub,
            rubric,
            pages / f"{safe_name(sub.student, taken)}.html",
            lang,
            generated_at,
            version,
            reader,
        )
        for sub in submissions
    ]


def weight(task: StudentTask) -> int:
    """The capture's size in bytes: larger captures start first and weigh more in the progress."""
    try:
        return task.submission.capture.stat().st_size if task.submission.capture else 0
    except OSError:
        return 0


def grade_class(
    tasks: Sequence[StudentTask],
    options: runner.RunOptions,
    listener: ClassListener | None = None,
) -> ClassResult:
    """Grade every task with runner.run (worker processes, time limit, Ctrl-C), then add the
    class-wide integrity flags. A submission stopped at the time limit, or whose grading crashed,
    is an error outcome like any broken submission."""
    heard = _Heard(listener)
    outcome = runner.run(grade_student, tasks, options, weight=weight, label=_label, listener=heard)
    done = sorted(outcome.finished, key=lambda f: f.index)
    outcomes = [heard.outcome(f) for f in done]
    return ClassResult(tuple(with_class_flags(outcomes)), outcome.interrupted)


def _label(task: StudentTask) -> str:
    return task.submission.student


class _Heard:
    """The runner's listener: turns each finished call into the student's outcome."""

    def __init__(self, listener: ClassListener | None) -> None:
        self.listener = listener

    def outcome(self, done: runner.Finished[StudentTask, StudentOutcome]) -> StudentOutcome:
        if done.result is not None:
            return done.result
        sub = done.item.submission
        message = done.error.message if done.error else said("error.sub.not_graded")
        message = in_lang(message, done.item.lang)
        return StudentOutcome(sub.student, None, _name_only(message, sub), None)

    def started(self, index: int, label: str) -> None:
        if self.listener is not None:
            self.listener.started(label)

    def finished(self, done: runner.Finished[Any, Any], label: str) -> None:
        if self.listener is not None:
            self.listener.finished(self.outcome(done), weight(done.item), done.seconds)


def with_class_flags(outcomes: Sequence[StudentOutcome]) -> list[StudentOutcome]:
    """Add the identical-capture and shared-connection flags across the graded students."""
    prints = [
        Fingerprint(o.student, o.check.sha256, o.check.connection_keys)
        for o in outcomes
        if o.check is not None
    ]
    raised = integrity.class_flags(prints)
    return [replace(o, flags=o.flags + raised.get(o.student, ())) for o in outcomes]
