"""`pcapexplain check` end to end on the example class: exit codes, JSON items, feedback page."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pcapexplain.cli import main
from pcapexplain.errors import ExitStatus

ROOT = Path(__file__).resolve().parent.parent
CLASS = ROOT / "examples" / "class" / "submissions"
RUBRIC = ROOT / "examples" / "rubrics" / "tcp-handshake-lab.toml"
ALICE = CLASS / "alice" / "alice-lab.pcap"
BOB = CLASS / "bob" / "capture.pcap"
CAROL = CLASS / "carol.pcap"
ITEM_KEYS = {"id", "kind", "points", "earned", "passed", "expected", "given", "evidence_frames",
             "explanation"}  # fmt: skip

pytestmark = pytest.mark.tshark


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    status = main(["check", *args, "--rubric", str(RUBRIC), "--format", "json"])
    return status, json.loads(capsys.readouterr().out)


def items(report: dict[str, object]) -> dict[str, dict[str, object]]:
    listed = report["items"]
    assert isinstance(listed, list)
    return {i["id"]: i for i in listed}


def test_a_passing_student_exits_0_with_every_item_passed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, report = run_json(
        capsys, str(ALICE), "--answers", str(CLASS / "alice" / "answers.toml")
    )
    assert status == ExitStatus.OK
    assert report["passed"] is True
    assert report["score"] == {"earned": 20.0, "possible": 20.0, "not_graded": 0}
    for item in items(report).values():
        assert set(item) >= ITEM_KEYS, item
        assert item["passed"] is True and item["earned"] == item["points"], item["id"]
    by_id = items(report)
    assert (
        by_id["client_isn"]["given_form"] == "raw"
        and by_id["synack_ack"]["given_form"] == "relative"
    )
    assert (
        by_id["web_connection"]["kind"] == "requirement" and by_id["fin_ack"]["kind"] == "question"
    )


def test_a_student_failing_on_teardown_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    status, report = run_json(capsys, str(BOB), "--answers", str(CLASS / "bob" / "answers.toml"))
    assert status == ExitStatus.CHECK_FAILED
    failed = {i for i, item in items(report).items() if item["passed"] is False}
    assert failed == {"web_connection", "first_fin_sender", "time_wait_side"}
    web = items(report)["web_connection"]
    assert web["given"] == {
        "handshake": "complete",
        "teardown": "four_way",
        "closed_first": "server",
    }
    assert items(report)["time_wait_side"]["expected"] == "server"
    assert "Close" in str(web["explanation"]) or "FIN" in str(web["explanation"])


def test_a_capture_started_mid_connection_marks_questions_unanswerable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, report = run_json(capsys, str(CAROL))
    assert status == ExitStatus.CHECK_FAILED  # the SYN requirement fails
    by_id = items(report)
    assert by_id["syn_captured"]["passed"] is False
    for ident in ("client_isn", "synack_ack", "client_mss", "handshake_rtt", "min_window"):
        assert by_id[ident]["status"] == "unanswerable" and by_id[ident]["passed"] is None
        assert "started after" in str(by_id[ident]["verdict"]) or "SYN" in str(
            by_id[ident]["verdict"]
        )
    assert by_id["fin_seq"]["status"] == "answer"  # still answerable: the close was captured


def test_without_answers_the_model_solution_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["check", str(ALICE), "--rubric", str(RUBRIC)])
    out = capsys.readouterr().out
    assert status == ExitStatus.OK  # the requirements pass; questions are not graded
    assert "model solution" in out
    assert len(re.findall(r"^ANSWER\s", out, flags=re.MULTILINE)) == 16
    assert "Answer from this capture:" in out and "relative 1)" in out


def test_chinese_output_uses_the_textbook_terms(capsys: pytest.CaptureFixture[str]) -> None:
    main(
        [
            "check",
            str(BOB),
            "--rubric",
            str(RUBRIC),
            "--lang",
            "zh",
            "--answers",
            str(CLASS / "bob" / "answers.toml"),
        ]
    )
    out = capsys.readouterr().out
    assert "未通过" in out and "主动关闭" in out and "2MSL" in out and "四次挥手" in out


def test_evidence_frames_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answers = (CLASS / "alice" / "answers.toml").read_text(encoding="utf-8")
    syn_frame = re.search(r"\[client_isn\]\nvalue = \d+\nframe = (\d+)", answers)
    assert syn_frame is not None
    wrong = answers.replace(
        syn_frame.group(0), syn_frame.group(0)[: -len(syn_frame.group(1))] + "2"
    )
    path = tmp_path / "answers.toml"
    path.write_text(wrong, encoding="utf-8")
    status, report = run_json(capsys, str(ALICE), "--answers", str(path))
    isn = items(report)["client_isn"]
    assert status == ExitStatus.CHECK_FAILED
    assert isn["status"] == "partial" and isn["earned"] == 0.5
    assert f"the packet this answer is about is frame {syn_frame.group(1)}" in str(isn["verdict"])


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        if tag == "a" and str(found.get("href", "")).startswith("#"):
            self.links.append(str(found["href"])[1:])

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_feedback_shows_only_the_rubrics_connections_and_links_the_evidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "alice.html"
    args = ["check", str(ALICE), "--rubric", str(RUBRIC), "-o", str(target)]
    assert main([*args, "--answers", str(CLASS / "alice" / "answers.toml")]) == ExitStatus.OK
    assert "Wrote feedback to" in capsys.readouterr().err
    html = target.read_text(encoding="utf-8")
    page = Page()
    page.feed(html)
    assert ":8443" not in html  # the student's other connection stays out
    assert "the others are left out" in html and "holds 2 TCP connections" in html
    evidence = re.findall(r'<dd class="evidence">(.*?)</dd>', html)
    assert len(evidence) == 17  # every item but the retransmission question (none to show)
    assert all(link in page.ids for link in page.links), set(page.links) - page.ids
    assert any(link.startswith("c1-f") for link in page.links)
    assert html.index('id="rubric"') < html.index('id="connections"')  # results on top


def test_rubric_text_is_escaped_in_the_feedback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rubric = RUBRIC.read_text(encoding="utf-8").replace(
        'title.en = "A complete connection',
        'title.en = "<script>alert(1)</script> A complete connection',
    )
    path = tmp_path / "r.toml"
    path.write_text(rubric, encoding="utf-8")
    target = tmp_path / "bob.html"
    main(["check", str(BOB), "--rubric", str(path), "-o", str(target)])
    capsys.readouterr()
    html = target.read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; A complete connection" in html


def test_an_answers_file_with_an_error_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "answers.toml"
    path.write_text("client_isn = [1, 2\n", encoding="utf-8")
    assert (
        main(["check", str(ALICE), "--rubric", str(RUBRIC), "--answers", str(path)])
        == ExitStatus.ERROR
    )
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"pcapexplain: error: {path}, line ") and "not valid TOML" in err[0]
    assert err[1].startswith("hint: ") and len(err) == 2
