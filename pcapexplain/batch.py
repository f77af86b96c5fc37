"""Batch: every capture in a folder gets its report, and one index and set of tables covers all.

The stages, each in its own module:

    discovery.discover(folder)        which files are captures; the rest is skipped, with a reason
    discovery.output_stems(names)     a safe, unique output name per capture
    plan(...)                         what an earlier run already did (content hash + options)
    runner.run(capture_task.run_capture, tasks, ...)   the rest, in worker processes or on Dask
    batch_writers.write_all(...)      index.html, captures.csv, connections.csv/.parquet, conn.log

Output folder layout: the five batch files at the top, `reports/NAME.html` per capture, and the
batch's state in `.pcapexplain-batch/` (per capture: a JSON record of its result, and the CSV,
Parquet and conn.log parts the batch files are joined from). A capture's record is written by
this process only after its report and parts are complete, so a run stopped at any point (Ctrl-C,
or killed outright) leaves nothing half-done that a later run would trust.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pcapexplain import __version__, batch_writers, budget, capture_task, discovery, loader, runner
from pcapexplain.batch_model import CaptureRow, CaptureStatus, CaptureSummary
from pcapexplain.budget import BATCH_TIME_LIMIT
from pcapexplain.capture_task import CaptureTask
from pcapexplain.errors import BatchError, OutputError, os_reason
from pcapexplain.explanations import in_lang, said
from pcapexplain.model import Lang, Reader
from pcapexplain.output import TEMP_SUFFIX, atomic_write_text

REPORTS = "reports"
STATE = ".pcapexplain-batch"
STATE_FORMAT = 1  # bump when the parts or records change shape: earlier runs are then redone
_RECORD = ".json"
_HASH_BLOCK = 1 << 20


@dataclass(frozen=True, slots=True)
class BatchOptions:
    lang: Lang = Lang.EN
    recursive: bool = False
    jobs: int = 0  # 0: every core here; with a scheduler, the cluster's threads
    force: bool = False  # redo captures an earlier run already did
    scheduler: str | None = None  # a Dask scheduler address
    time_limit: float | None = BATCH_TIME_LIMIT
    reader: Reader = Reader.AUTO


@dataclass(frozen=True, slots=True)
class Planned:
    found: discovery.Found
    task: CaptureTask
    stem: str
    kept: CaptureRow | None  # the earlier run's row, when content and options are unchanged


@dataclass(frozen=True, slots=True)
class BatchPlan:
    folder: Path
    outdir: Path
    options: BatchOptions
    found: discovery.Discovery
    planned: tuple[Planned, ...]  # in name order
    fingerprint: dict[str, object]  # the options a result depends on

    @property
    def to_run(self) -> list[Planned]:
        return [p for p in self.planned if p.kept is None]


@dataclass(frozen=True, slots=True)
class BatchResult:
    rows: tuple[CaptureRow, ...]  # every file, in name order
    interrupted: bool
    outputs: tuple[Path, ...]

    def count(self, status: CaptureStatus) -> int:
        return sum(1 for r in self.rows if r.status is status)


class BatchListener(Protocol):
    def started(self, capture: str, weight: int) -> None: ...

    def finished(self, row: CaptureRow, weight: int) -> None: ...


def plan(
    folder: str | os.PathLike[str], outdir: str | os.PathLike[str], options: BatchOptions
) -> BatchPlan:
    """Find the captures and decide which an earlier run into outdir already did.

    Raises BatchError when folder is not a folder or holds no capture, and TsharkMissing or
    TsharkTooOld for a local run without a usable tshark (checked once, not once per capture).
    """
    root, out = Path(folder), Path(outdir)
    if not root.is_dir():
        problem = "error.not_a_folder" if root.exists() else "error.no_such_folder"
        raise BatchError(said(problem, path=str(root)))
    try:
        found = discovery.discover(root, recursive=options.recursive, exclude=_own_files(root, out))
    except OSError as exc:
        raise BatchError(said("error.cannot_list", path=str(root), reason=os_reason(exc))) from exc
    if not found.captures:
        if found.unsearched_folders:
            count = found.unsearched_folders
            raise BatchError(said("error.no_capture_unsearched", path=str(root), count=count))
        raise BatchError(said("error.no_capture", path=str(root)))
    tshark = "cluster" if options.scheduler else loader.require_tshark().version
    fingerprint = {
        "format": STATE_FORMAT,
        "pcapexplain": __version__,
        "tshark": tshark,
        "lang": str(options.lang),
        "reader": str(options.reader),
    }
    stems = discovery.output_stems([f.capture for f in found.captures])
    planned = []
    for f in found.captures:
        stem = stems[f.capture]
        task = CaptureTask(
            path=str(f.path.resolve()),
            capture=f.capture,
            report=str((out / REPORTS / f"{stem}.html").resolve()),
            parts=str((out / STATE / stem).resolve()),
            lang=str(options.lang),
            reader=str(options.reader),
        )
        kept = None if options.force else _kept(f, stem, out, fingerprint)
        planned.append(Planned(f, task, stem, kept))
    return BatchPlan(root, out, options, found, tuple(planned), fingerprint)


def run(batch_plan: BatchPlan, listener: BatchListener | None = None) -> BatchResult:
    """Analyse what the plan says is left, then write the batch files for every capture.

    Ctrl-C stops the analysis: the batch files are still written, for what finished, and marked
    interrupted. Raises OutputError when the output folder cannot be written.
    """
    p = batch_plan
    for folder in (p.outdir, p.outdir / REPORTS, p.outdir / STATE):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(
                said("error.cannot_create", path=str(folder), reason=os_reason(exc))
            ) from exc
    _forget_others(p)
    _sweep_temporary_files(p.outdir)
    todo = p.to_run
    weights = {t.task.capture: t.found.weight for t in todo}
    committer = _Committer(p, listener)
    outcome = runner.run(
        capture_task.run_capture,
        [t.task for t in todo],
        runner.RunOptions(
            jobs=p.options.jobs or (0 if p.options.scheduler else budget.default_jobs()),
            time_limit=p.options.time_limit,
            scheduler=p.options.scheduler,
        ),
        weight=lambda task: weights[task.capture],
        label=lambda task: task.capture,
        listener=committer,
    )
    _sweep_temporary_files(p.outdir)
    for planned in todo:
        if planned.found.capture not in committer.rows:  # never finished: nothing of an
            _remove_outputs(planned.task)  # earlier run may pass for this run's result
            _remove_record(planned.task)
    rows = _all_rows(p, committer.rows)
    parts = [pl.task.parts for pl in p.planned if _row_ok(rows, pl.found.capture)]
    outputs = batch_writers.write_all(
        p.outdir,
        rows,
        parts,
        folder=discovery.display_name(Path(p.folder.resolve().name or "/")),
        lang=p.options.lang,
        interrupted=outcome.interrupted,
    )
    return BatchResult(tuple(rows), outcome.interrupted, outputs)


def _row_ok(rows: list[CaptureRow], capture: str) -> bool:
    return any(r.capture == capture and r.status is CaptureStatus.OK for r in rows)


def _own_files(root: Path, out: Path) -> list[Path]:
    """What discovery must not read as input: the output folder, or, when it is the input
    folder itself, the files a batch writes there."""
    if out.resolve() != root.resolve():
        return [out]
    return [out / REPORTS, *(out / name for name in batch_writers.OUTPUT_FILES)]


def _all_rows(p: BatchPlan, new: dict[str, CaptureRow]) -> list[CaptureRow]:
    rows = [r for r in (pl.kept for pl in p.planned) if r is not None]
    rows += new.values()
    done = {r.capture for r in rows}
    rows += [
        CaptureRow(pl.found.capture, CaptureStatus.INTERRUPTED)
        for pl in p.planned
        if pl.found.capture not in done
    ]
    rows += [
        CaptureRow(s.capture, CaptureStatus.SKIPPED, error=in_lang(s.reason, p.options.lang))
        for s in p.found.skipped
    ]
    return sorted(rows, key=lambda r: r.capture)


# --------------------------------------------------------------------------- records of results


class _Committer:
    """Turns the runner's results into rows and records them, as each capture finishes."""

    def __init__(self, p: BatchPlan, listener: BatchListener | None) -> None:
        self.plan, self.listener = p, listener
        self.by_capture = {pl.found.capture: pl for pl in p.planned}
        self.rows: dict[str, CaptureRow] = {}

    def started(self, index: int, label: str) -> None:
        if self.listener is not None:
            self.listener.started(label, self.by_capture[label].found.weight)

    def finished(self, done: runner.Finished[Any, Any], label: str) -> None:
        planned = self.by_capture[label]
        row = self._row(planned, done)
        self._record(
            planned,
            row,
            deterministic=done.error is None or done.error.kind is runner.ErrorKind.FAILED,
        )
        # Counted as done only once its record is on disk: Ctrl-C in between would list it as
        # done without the record a rerun looks for, and the rerun would do it again.
        self.rows[label] = row
        if self.listener is not None:
            self.listener.finished(row, planned.found.weight)

    def _row(self, planned: Planned, done: runner.Finished[Any, Any]) -> CaptureRow:
        report = f"{REPORTS}/{planned.stem}.html"
        lang = self.plan.options.lang  # rows are shown as they are: in the tables, index, terminal
        if done.error is None:
            summary = done.result
            assert isinstance(summary, CaptureSummary)
            warnings = tuple(in_lang(w, lang) for w in summary.warnings)
            summary = dataclasses.replace(summary, warnings=warnings)
            return CaptureRow(
                planned.found.capture,
                CaptureStatus.OK,
                sha256=summary.sha256,
                report=report,
                summary=summary,
                seconds=done.seconds,
            )
        _remove_outputs(planned.task)  # an earlier run's report must not pass for this one's
        return CaptureRow(
            planned.found.capture,
            CaptureStatus.ERROR,
            error=in_lang(done.error.message, lang),
            hint=in_lang(done.error.hint or "", lang),
            sha256=_sha256(planned.found.path),
            seconds=done.seconds,
        )

    def _record(self, planned: Planned, row: CaptureRow, *, deterministic: bool) -> None:
        if not deterministic:  # a time-out or a crash may not happen again: try next time
            _remove_record(planned.task)
            return
        path = Path(planned.task.parts + _RECORD)
        record = {
            "fingerprint": self.plan.fingerprint,
            "size": planned.found.size,
            "row": {**dataclasses.asdict(row), "status": row.status.value},
        }
        atomic_write_text(path, json.dumps(record, ensure_ascii=False, indent=1) + "\n")


def _kept(
    found: discovery.Found, stem: str, out: Path, fingerprint: dict[str, object]
) -> CaptureRow | None:
    """The earlier run's row for this capture, if its content and the options are unchanged and
    everything it wrote is still there."""
    try:
        record = json.loads((out / STATE / (stem + _RECORD)).read_text(encoding="utf-8"))
        row = _row_from_json(record["row"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if row.capture != found.capture or record.get("fingerprint") != fingerprint:
        return None
    if record.get("size") != found.size:
        return None
    needed = [out / STATE / (stem + s) for s in capture_task.PART_SUFFIXES] + [
        out / REPORTS / f"{stem}.html"
    ]
    if row.status is CaptureStatus.OK and not all(p.is_file() for p in needed):
        return None
    try:
        if _sha256(found.path) != row.sha256:
            return None
    except OSError:
        return None
    return dataclasses.replace(row, reused=True)


def _row_from_json(data: dict[str, Any]) -> CaptureRow:
    summary = data.get("summary")
    return CaptureRow(
        **{
            **data,
            "status": CaptureStatus(data["status"]),
            "summary": None
            if summary is None
            else CaptureSummary(**{**summary, "warnings": tuple(summary["warnings"])}),
            "reused": False,
        }
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while block := handle.read(_HASH_BLOCK):
                digest.update(block)
    except OSError:
        return ""
    return digest.hexdigest()


def _remove_outputs(task: CaptureTask) -> None:
    for path in (task.report, *(task.parts + s for s in capture_task.PART_SUFFIXES)):
        with contextlib.suppress(OSError):
            os.unlink(path)


def _remove_record(task: CaptureTask) -> None:
    with contextlib.suppress(OSError):
        os.unlink(task.parts + _RECORD)


def _forget_others(p: BatchPlan) -> None:
    """Remove what earlier runs wrote for captures that are no longer in the folder (or no
    longer get that name), so no stale report or part survives under a current name."""
    current = {pl.stem for pl in p.planned}
    for record in (p.outdir / STATE).glob("*" + _RECORD):
        stem = record.name.removesuffix(_RECORD)
        if stem in current:
            continue
        base = p.outdir / STATE / stem
        _remove_outputs(
            CaptureTask("", "", str(p.outdir / REPORTS / f"{stem}.html"), str(base), "")
        )
        with contextlib.suppress(OSError):
            record.unlink()


def _sweep_temporary_files(outdir: Path) -> None:
    """Temporary files of writers that were killed mid-write (a worker stopped by Ctrl-C or the
    time limit): never renamed into place, so never mistaken for output, but not left lying."""
    for folder in (outdir, outdir / REPORTS, outdir / STATE):
        for path in _temporary_files(folder):
            with contextlib.suppress(OSError):
                path.unlink()


def _temporary_files(folder: Path) -> Iterator[Path]:
    with contextlib.suppress(OSError):
        yield from (p for p in folder.glob(".*" + TEMP_SUFFIX) if p.is_file())
