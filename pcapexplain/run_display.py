"""Run display: a batch or a whole class run with a live progress display on stderr.

The listeners the runner calls as each input starts and finishes, for cli.py's batch and grade;
and the lines a batch's plan gives before it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from pcapexplain.batch_model import CaptureRow, CaptureStatus
from pcapexplain.model import Lang

if TYPE_CHECKING:
    from pcapexplain import batch, classroom, runner


def grade_class(
    tasks: list[classroom.StudentTask], options: runner.RunOptions, lang: Lang
) -> classroom.ClassResult:
    """Grade the class (classroom.grade_class) with a live display of each student's line."""
    from pcapexplain import classroom, terminal
    from pcapexplain.progress import RunProgress

    display = RunProgress(
        total=len(tasks), total_weight=sum(classroom.weight(t) for t in tasks), lang=lang
    )

    class Listener:
        def started(self, student: str) -> None:
            display.started(student)

        def finished(self, outcome: classroom.StudentOutcome, weight: int, seconds: float) -> None:
            display.finished(
                outcome.student,
                weight=weight,
                amount=outcome.packets,
                line=terminal.student_line(outcome, seconds, lang),
                failed=outcome.check is None,
            )

    with display:
        return classroom.grade_class(tasks, options, Listener())


def run_batch(plan: batch.BatchPlan) -> batch.BatchResult:
    """Run the batch (batch.run) with a live display of each capture's line."""
    from pcapexplain import batch as batch_stage
    from pcapexplain import terminal
    from pcapexplain.progress import RunProgress

    todo = plan.to_run
    display = RunProgress(
        total=len(todo), total_weight=sum(t.found.weight for t in todo), lang=plan.options.lang
    )

    class Listener:
        def started(self, capture: str, weight: int) -> None:
            display.started(capture)

        def finished(self, row: CaptureRow, weight: int) -> None:
            s = row.summary
            display.finished(
                row.capture,
                weight=weight,
                amount=s.packets if s else 0,
                line=terminal.batch_line(row, plan.options.lang),
                failed=row.status is not CaptureStatus.OK,
            )

    with display:
        return batch_stage.run(plan, Listener())


def print_plan(plan: batch.BatchPlan, out: TextIO, err: TextIO) -> None:
    """Before a batch runs: the files skipped (not captures), the subfolders not searched, and
    how many captures are kept from the last run."""
    from pcapexplain import diagnostics, terminal
    from pcapexplain.explanations import in_lang, say

    lang = plan.options.lang
    for skipped in plan.found.skipped:
        reason = terminal.printable(in_lang(skipped.reason, lang))
        line = say(lang, "cli.line.failed", name=terminal.printable(skipped.capture), error=reason)
        out.write(terminal.label(lang, "skipped") + line + "\n")
    if plan.found.unsearched_folders and not plan.options.recursive:
        count = plan.found.unsearched_folders
        err.write(diagnostics.note_line("unsearched", lang, count=count) + "\n")
    kept = len(plan.planned) - len(plan.to_run)
    if kept:
        out.write(say(lang, "cli.kept", kept=kept) + "\n")
    out.flush()
