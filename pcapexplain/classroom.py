"""Grading a class: every student's submission checked in parallel, then the class-wide checks.

`grade_student` is the per-student work, a plain picklable function of plain data, so that any
process pool can map it over the submissions: it analyses the capture, grades it, writes the
student's feedback page and returns what the gradebook and the summary need. A broken submission
comes back as an error outcome: one row, never a stopped run.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pcapexplain import api, feedback, grading, integrity, reporter
from pcapexplain.answers import AnswerSheet, load_answers
from pcapexplain.errors import PcapExplainError
from pcapexplain.grading import CheckResult
from pcapexplain.integrity import Fingerprint, Flag
from pcapexplain.model import Lang
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


@dataclass(frozen=True, slots=True)
class StudentOutcome:
    student: str
    check: CheckResult | None  # None when the submission could not be graded
    error: str  # the one-line reason when it could not
    feedback: str | None  # the feedback page, relative to the output folder
    flags: tuple[Flag, ...] = ()  # the capture's own flags, then the class-wide ones


def grade_student(task: StudentTask) -> StudentOutcome:
    """Analyse, grade and write the feedback of one submission; errors become the outcome."""
    sub = task.submission
    if sub.problem is not None or sub.capture is None:
        return StudentOutcome(sub.student, None, sub.problem or "no capture", None)
    try:
        rubric = task.rubric
        ids = tuple(q.id for q in rubric.questions)
        # A student who sent no answers answered nothing: marked, not shown the model solution.
        answers = load_answers(sub.answers, ids) if sub.answers else AnswerSheet("", {}, ())
        analysis = api.analyse(sub.capture)
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
        return StudentOutcome(sub.student, None, _name_only(exc.message, sub), None)
    relative = f"{FEEDBACK_DIR}/{task.feedback_path.name}"
    return StudentOutcome(sub.student, check, "", relative, check.flags)


def _name_only(message: str, sub: Submission) -> str:
    """Error messages name files by their place in the submissions folder, not by full path."""
    for path in (sub.capture, sub.answers):
        if path is not None:
            message = message.replace(str(path), path.name)
    return message


@dataclass(frozen=True, slots=True)
class ClassResult:
    outcomes: tuple[StudentOutcome, ...]  # sorted by student id, class-wide flags added


def grade_class(
    folder: Path,
    rubric: Rubric,
    outdir: Path,
    *,
    jobs: int,
    lang: Lang,
    generated_at: str,
    version: str,
    progress: Callable[[StudentOutcome], None] | None = None,
) -> ClassResult:
    """Grade every submission in folder, jobs at a time, writing feedback pages into outdir."""
    submissions = find_submissions(folder)
    pages = outdir / FEEDBACK_DIR
    pages.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    tasks = [
        StudentTask(
            sub,
            rubric,
            pages / f"{safe_name(sub.student, taken)}.html",
            lang,
            generated_at,
            version,
        )
        for sub in submissions
    ]
    outcomes = []
    for outcome in run_all(grade_student, tasks, jobs):
        if progress is not None:
            progress(outcome)
        outcomes.append(outcome)
    return ClassResult(tuple(with_class_flags(outcomes)))


def with_class_flags(outcomes: Sequence[StudentOutcome]) -> list[StudentOutcome]:
    """Add the identical-capture and shared-connection flags across the graded students."""
    prints = [
        Fingerprint(o.student, o.check.sha256, o.check.connection_keys)
        for o in outcomes
        if o.check is not None
    ]
    raised = integrity.class_flags(prints)
    return [replace(o, flags=o.flags + raised.get(o.student, ())) for o in outcomes]


def run_all(
    work: Callable[[StudentTask], StudentOutcome], tasks: Sequence[StudentTask], jobs: int
) -> Iterator[StudentOutcome]:
    """Map work over tasks in `jobs` worker processes, results in task order.

    Interim: to be replaced by the shared parallel runner of `pcapexplain batch`. On Ctrl-C (or
    any error) the workers are stopped at once instead of grading the rest of the class.
    """
    if jobs <= 1 or len(tasks) <= 1:
        yield from map(work, tasks)
        return
    pool = multiprocessing.Pool(min(jobs, len(tasks)), initializer=_worker_signals)
    try:
        yield from pool.imap(work, tasks)
    except BaseException:
        pool.terminate()
        raise
    else:
        pool.close()
    finally:
        pool.join()


def _worker_signals() -> None:
    """Workers leave Ctrl-C to the parent, which stops them with SIGTERM; leaving through
    SystemExit lets a worker reap its tshark and remove its temporary files."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _leave)


def _leave(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
