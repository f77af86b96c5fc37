"""`pcapexplain grade` end to end on the example class: gradebook, feedback, summary, flags."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pcapexplain.cli import main
from pcapexplain.errors import ExitStatus
from pcapexplain.submissions import find_submissions, safe_name, student_id

ROOT = Path(__file__).resolve().parent.parent
CLASS = ROOT / "examples" / "class" / "submissions"
RUBRIC = ROOT / "examples" / "rubrics" / "tcp-handshake-lab.toml"


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped command on the example class; frank's file is not a capture, so the run
    completes with one error row: exit 4, and one line per student on stdout (piped)."""
    out = tmp_path_factory.mktemp("grading-class")
    command = [sys.executable, "-m", "pcapexplain", "grade", str(CLASS), "--rubric", str(RUBRIC)]
    proc = subprocess.run(
        [*command, "-o", str(out), "--jobs", "2"], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == ExitStatus.COMPLETED_WITH_ERRORS, proc.stderr
    lines = proc.stdout.splitlines()
    assert "error    frank: frank.pcapng is not a capture file tshark can read" in lines
    assert any(line.startswith("graded   alice · 20/20 points · ") for line in lines)
    assert lines[-1].startswith("Graded 6 of 7 students (1 error, 3 flagged); wrote ")
    assert proc.stderr == ""
    return out


def rows(out: Path) -> dict[str, dict[str, str]]:
    text = (out / "gradebook.csv").read_text(encoding="utf-8")
    return {r["student"]: r for r in csv.DictReader(io.StringIO(text))}


@pytest.mark.tshark
def test_the_gradebook_has_one_row_per_student_and_one_column_per_item(graded: Path) -> None:
    book = rows(graded)
    header = next(csv.reader(io.StringIO((graded / "gradebook.csv").read_text())))
    assert header[:6] == ["student", "status", "earned", "possible", "not_graded", "percent"]
    assert header[6:8] == ["web_connection", "syn_captured"] and header[-2:] == ["flags", "error"]
    assert len(header) == 6 + 18 + 2
    assert set(book) == {"alice", "bob", "carol", "dave", "erin", "frank", "grace"}
    summary = {
        s: (r["status"], r["earned"], r["possible"], r["not_graded"], r["flags"])
        for s, r in book.items()
    }
    assert summary == {
        "alice": ("graded", "20", "20", "0", ""),
        "bob": ("graded", "16", "20", "0", ""),
        "carol": ("graded", "0", "13", "7", ""),
        "dave": ("graded", "20", "20", "0", "identical-capture"),
        "erin": ("graded", "20", "20", "0", "identical-capture"),
        "frank": ("error", "", "", "", ""),
        "grace": ("graded", "3", "20", "0", "outside-window"),
    }
    assert book["bob"]["web_connection"] == "0" and book["bob"]["time_wait_side"] == "0"
    assert book["bob"]["teardown"] == "1"
    assert book["carol"]["client_isn"] == "n/a" and book["carol"]["fin_seq"] == "0"
    assert "not a capture file" in book["frank"]["error"]


@pytest.mark.tshark
def test_a_student_over_the_time_limit_is_an_error_row(tmp_path: Path) -> None:
    """No capture is read in 10 ms (tshark alone takes longer to start): alice is stopped."""
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copy(CLASS / "alice" / "alice-lab.pcap", folder / "alice.pcap")
    out = tmp_path / "out"
    args = ["grade", str(folder), "--rubric", str(RUBRIC), "-o", str(out), "--time-limit", "0.01"]
    args += ["--reader", "tshark"]
    assert main(args) == ExitStatus.COMPLETED_WITH_ERRORS
    book = rows(out)
    assert book["alice"]["status"] == "error"
    assert book["alice"]["error"] == "stopped after 0.01 s, the time limit for one input"


@pytest.mark.tshark
def test_every_graded_student_gets_a_feedback_page(graded: Path) -> None:
    pages = sorted(p.name for p in (graded / "feedback").iterdir())
    assert pages == ["alice.html", "bob.html", "carol.html", "dave.html", "erin.html", "grace.html"]
    carol = (graded / "feedback" / "carol.html").read_text(encoding="utf-8")
    assert "NOT GRADED" in carol and "started after the connection was opened" in carol


@pytest.mark.tshark
def test_the_summary_shows_distribution_missed_items_flags_and_errors(graded: Path) -> None:
    html = (graded / "summary.html").read_text(encoding="utf-8")
    distribution = html.split('id="distribution"', 1)[1].split("</section>", 1)[0]
    assert "90–100 %" in distribution and "0–9 %" in distribution
    missed = html.split('id="missed"', 1)[1].split("</section>", 1)[0]
    order = re.findall(r'data-item="(\w+)"><td class="num">(\d+) / (\d+)<', missed)
    assert order[:2] == [("first_fin_sender", "3", "6"), ("time_wait_side", "3", "6")]
    assert ("web_connection", "2", "6") in order and len(order) == 10
    flagged = html.split('id="flagged"', 1)[1].split("</section>", 1)[0]
    for student in ("dave", "erin", "grace"):
        assert f'data-student="{student}"' in flagged
    assert 'data-student="alice"' not in flagged
    assert "exactly the same bytes as another student&#39;s: erin" in flagged
    errors = html.split('id="errors"', 1)[1].split("</section>", 1)[0]
    assert 'data-student="frank"' in errors
    assert 'href="feedback/alice.html"' in html


@pytest.mark.tshark
def test_shared_connections_are_found_across_file_formats(tmp_path: Path) -> None:
    """erin saved dave's capture again as pcapng: other bytes, the same TCP connection."""
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copy(CLASS / "dave" / "tcp-lab.pcap", folder / "dave.pcap")
    subprocess.run(
        [
            "editcap",
            "-F",
            "pcapng",
            str(CLASS / "dave" / "tcp-lab.pcap"),
            str(folder / "erin.pcapng"),
        ],
        check=True,
    )
    shutil.copy(CLASS / "alice" / "alice-lab.pcap", folder / "=HYPERLINK(1).pcap")
    out = tmp_path / "out"
    assert main(["grade", str(folder), "--rubric", str(RUBRIC), "-o", str(out)]) == ExitStatus.OK
    book = rows(out)
    assert book["dave"]["flags"] == "shared-connection" == book["erin"]["flags"]
    assert "'=HYPERLINK(1)" in book  # a spreadsheet will not run it as a formula
    assert (out / "feedback" / "_HYPERLINK_1_.html").is_file()


def test_submission_layout(tmp_path: Path) -> None:
    (tmp_path / "ann.pcapng").write_bytes(b"x")
    (tmp_path / "ann.answers.toml").write_text("")
    (tmp_path / "ben").mkdir()
    (tmp_path / "ben" / "lab.pcap.gz").write_bytes(b"x")
    (tmp_path / "ben" / "my answers.toml").write_text("")
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "a.pcap").write_bytes(b"x")
    (tmp_path / "cat" / "b.pcap").write_bytes(b"x")
    (tmp_path / "dan").mkdir()
    (tmp_path / ".hidden.pcap").write_bytes(b"x")
    found = {s.student: s for s in find_submissions(tmp_path)}
    assert set(found) == {"ann", "ben", "cat", "dan"}
    assert found["ann"].answers == tmp_path / "ann.answers.toml"
    assert found["ben"].capture == tmp_path / "ben" / "lab.pcap.gz" and found["ben"].answers
    assert found["cat"].problem and "more than one file" in found["cat"].problem
    assert found["dan"].problem == "the folder holds no capture file"
    assert student_id("x.pcap.gz") == "x" and student_id("frank.docx") == "frank"
    taken: set[str] = set()
    assert [safe_name(n, taken) for n in ("a/b", "a:b", "..", "张三")] == [
        "a_b",
        "a_b-2",
        "student",
        "__",
    ]


def test_grade_of_a_missing_folder_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        ["grade", str(tmp_path / "nope"), "--rubric", str(RUBRIC), "-o", str(tmp_path / "o")]
    )
    assert status == ExitStatus.ERROR
    assert "is not a folder" in capsys.readouterr().err


def _tshark_reading(marker: str) -> list[str]:
    out = subprocess.run(["pgrep", "-a", "-x", "tshark"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if marker in line]


@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("pgrep") is None, reason="pgrep (procps) is not installed")
def test_ctrl_c_stops_the_class_at_once_and_leaves_no_tshark(tmp_path: Path) -> None:
    folder = tmp_path / "gradingctrlc"
    folder.mkdir()
    for n in range(40):  # far more than two workers finish in the few seconds before the Ctrl-C
        shutil.copy(CLASS / "alice" / "alice-lab.pcap", folder / f"s{n:02d}.pcap")
    command = [sys.executable, "-m", "pcapexplain", "grade", str(folder), "--rubric", str(RUBRIC)]
    proc = subprocess.Popen(
        [*command, "-o", str(tmp_path / "out"), "--jobs", "2", "--reader", "tshark"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a shell gives a foreground job
    )
    deadline = time.monotonic() + 60
    while not _tshark_reading(folder.name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _tshark_reading(folder.name), "tshark never started"
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
    _, err = proc.communicate(timeout=180)  # seconds when idle; generous for a loaded machine
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    time.sleep(0.3)
    assert _tshark_reading(folder.name) == []
    written = list((tmp_path / "out" / "feedback").glob("*.html"))
    assert len(written) < 20, "the run went on grading after Ctrl-C"


@pytest.mark.slow
@pytest.mark.tshark
def test_grade_on_a_dask_cluster_writes_the_same_gradebook(
    graded: Path, tmp_path: Path, leftover_processes: Callable[[float], list[int]]
) -> None:
    """Run from another folder with relative paths: the cluster's worker, started elsewhere,
    still finds the submissions and writes the feedback pages where the command said."""
    from test_batch_dask import dask_cluster

    work = tmp_path / "teacher"
    shutil.copytree(CLASS, work / "submissions")
    shutil.copy(RUBRIC, work / "lab.toml")
    with dask_cluster(tmp_path) as address:
        proc = subprocess.run(
            [sys.executable, "-m", "pcapexplain", "grade", "submissions", "--rubric", "lab.toml"]
            + ["-o", "out", "--scheduler", address],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=work,
        )
    assert proc.returncode == ExitStatus.COMPLETED_WITH_ERRORS, proc.stderr
    assert leftover_processes(10.0) == []
    local, remote = graded / "gradebook.csv", work / "out" / "gradebook.csv"
    assert remote.read_bytes() == local.read_bytes()
    pages = sorted(p.name for p in (work / "out" / "feedback").iterdir())
    assert pages == sorted(p.name for p in (graded / "feedback").iterdir())


def test_a_grade_worker_reads_and_analyses_with_the_collector_paused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As `check` alone does (capture_reading.collector_paused); the worker has it back after."""
    import gc

    from pcapexplain import api, classroom
    from pcapexplain.model import Lang
    from pcapexplain.rubric import load_rubric

    seen: list[bool] = []
    real = api.analyse_columns

    def watched(*args: object, **kwargs: object) -> object:
        seen.append(gc.isenabled())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(api, "analyse_columns", watched)
    alice = next(s for s in find_submissions(CLASS) if s.student == "alice")
    task = classroom.StudentTask(
        alice, load_rubric(RUBRIC), tmp_path / "alice.html", Lang.EN, "now", "0"
    )
    assert gc.isenabled()
    outcome = classroom.grade_student(task)
    assert seen == [False] and outcome.check is not None and outcome.error == ""
    assert gc.isenabled()
