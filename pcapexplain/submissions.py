"""Submissions layout: a class folder → one Submission per student, the id taken from the name.

    SUBMISSIONS/
      alice.pcapng              one file per student: the id is the name without its suffix
      alice.answers.toml        (optional) that student's answers
      bob/                      or one folder per student: the id is the folder's name
        capture.pcapng          exactly one capture file (any name)
        answers.toml            (optional) the answers, the folder's one .toml file

Hidden files are skipped. A folder that holds no capture, or more than one, is a Submission
with a problem: one error row in the gradebook, not a stopped run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pcapexplain.errors import SubmissionsError
from pcapexplain.explanations import said

CAPTURE_SUFFIXES = (".pcapng.gz", ".pcap.gz", ".pcapng", ".pcap", ".cap", ".gz")
ANSWERS_SUFFIX = ".answers.toml"


@dataclass(frozen=True, slots=True)
class Submission:
    student: str
    capture: Path | None
    answers: Path | None
    problem: str | None = None  # why this submission cannot be graded, when it cannot


def student_id(name: str) -> str:
    """alice.pcapng → alice; alice.pcap.gz → alice; frank.docx → frank."""
    lower = name.lower()
    for suffix in CAPTURE_SUFFIXES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name.rsplit(".", 1)[0] if "." in name.strip(".") else name


def find_submissions(folder: Path) -> list[Submission]:
    """Every student's submission in folder, sorted by student id."""
    if not folder.is_dir():
        raise SubmissionsError(said("error.not_a_folder", path=str(folder)))
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    answer_files = {
        p.name[: -len(ANSWERS_SUFFIX)]: p
        for p in entries
        if p.is_file() and p.name.lower().endswith(ANSWERS_SUFFIX)
    }
    found: list[Submission] = []
    for entry in entries:
        if entry.is_dir():
            found.append(_from_folder(entry))
        elif entry.is_file() and not entry.name.lower().endswith(ANSWERS_SUFFIX):
            ident = student_id(entry.name)
            found.append(Submission(ident, entry, answer_files.get(ident)))
    return _unique(found)


def _from_folder(folder: Path) -> Submission:
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    tomls = [p for p in files if p.suffix.lower() == ".toml"]
    others = [p for p in files if p.suffix.lower() != ".toml"]
    answers = tomls[0] if len(tomls) == 1 else None
    if len(tomls) > 1:
        names = ", ".join(p.name for p in tomls)
        return Submission(folder.name, None, None, said("error.sub.many_answers", names=names))
    if not others:
        return Submission(folder.name, None, answers, said("error.sub.no_capture"))
    if len(others) > 1:
        names = ", ".join(str(p.relative_to(folder)) for p in others)
        return Submission(folder.name, None, answers, said("error.sub.many_captures", names=names))
    return Submission(folder.name, others[0], answers)


def _unique(found: list[Submission]) -> list[Submission]:
    seen: dict[str, int] = {}
    for sub in found:
        seen[sub.student] = seen.get(sub.student, 0) + 1
    return sorted(
        (
            sub
            if seen[sub.student] == 1
            else Submission(sub.student, None, None, said("error.sub.same_name"))
            for sub in found
        ),
        key=lambda s: s.student,
    )


def safe_name(student: str, taken: set[str]) -> str:
    """A file name for the student's feedback: letters, digits, '.', '_' and '-' only, and not
    one already taken (two ids that differ only in other characters)."""
    base = re.sub(r"[^\w.-]", "_", student, flags=re.ASCII).lstrip(".") or "student"
    name, n = base, 1
    while name.lower() in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name.lower())
    return name
