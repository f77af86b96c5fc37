"""Rubric loading: the example rubric, and a clear, line-numbered error for every broken one."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pcapexplain.cli import main
from pcapexplain.errors import ExitStatus, RubricError
from pcapexplain.questions import QuestionKind
from pcapexplain.rubric import Match, SequenceForm, Unit, load_rubric

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "rubrics" / "tcp-handshake-lab.toml"
SAMPLE = ROOT / "sample_captures" / "normal_close_client_first.pcap"
ISSUE_IDS = [
    "client_isn", "synack_seq", "synack_ack", "client_mss", "client_wscale", "handshake_rtt",
    "first_data_seq", "sample_rtts", "estimated_rtt", "min_window", "retransmitted_frames",
    "first_fin_sender", "fin_seq", "fin_ack", "teardown", "time_wait_side",
]  # fmt: skip

MINIMAL = """\
[select]
server_port = 80

[[requirement]]
id = "web"
points = 2
expect = { handshake = "complete" }

[[question]]
id = "client_isn"
points = 1
"""


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "rubric.toml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_the_example_rubric_asks_the_labs_questions_in_both_languages() -> None:
    rubric = load_rubric(EXAMPLE)
    assert [q.id for q in rubric.questions] == ISSUE_IDS
    assert all(q.kind.value == q.id for q in rubric.questions)
    assert rubric.select.server_ports == (80,) and rubric.select.syn_captured is True
    assert rubric.title.en != rubric.title.zh and "三次握手" in rubric.title.zh
    for req in rubric.requirements:
        assert req.feedback is not None and req.feedback.en != req.feedback.zh
    web = rubric.requirements[0]
    assert [e.describe() for e in web.expect] == [
        "handshake = complete",
        "teardown = four_way",
        "closed_first = client",
    ]
    assert rubric.opens is not None and rubric.closes is not None and rubric.opens < rubric.closes


def test_question_defaults_and_settings() -> None:
    rubric = load_rubric(EXAMPLE)
    by_id = {q.id: q for q in rubric.questions}
    assert by_id["client_isn"].sequence is SequenceForm.EITHER
    assert by_id["client_isn"].evidence and by_id["client_isn"].evidence_points == 0.5
    assert by_id["sample_rtts"].unit is Unit.MS and by_id["sample_rtts"].count == 6
    assert by_id["handshake_rtt"].tolerance.allows(1.09, 1.0)
    assert not by_id["handshake_rtt"].tolerance.allows(1.11, 1.0)
    assert by_id["min_window"].side.value == "server"
    assert by_id["client_mss"].tolerance.allows(1460, 1460)
    assert not by_id["client_mss"].tolerance.allows(1461, 1460)


def test_expectation_semantics(tmp_path: Path) -> None:
    rubric = load_rubric(EXAMPLE)
    not_captured = rubric.requirements[1].expect[0]
    assert not_captured.holds("complete") and not not_captured.holds("not_captured")
    body = MINIMAL.replace(
        'expect = { handshake = "complete" }',
        'match = "none"\nexpect = { anomalies = ["retransmission", "fast-retransmission"], '
        "retransmissions_to_server = { min = 1, max = 3 } }",
    )
    req = load_rubric(write(tmp_path, body)).requirements[0]
    assert req.match is Match.NONE
    slugs, count = req.expect
    assert slugs.holds(["half-close", "retransmission"]) and not slugs.holds(["half-close"])
    assert count.holds(2) and not count.holds(0) and not count.holds(4) and not count.holds(None)
    assert slugs.describe() == "anomalies ∋ retransmission | fast-retransmission"
    assert count.describe() == "retransmissions_to_server ≥ 1, retransmissions_to_server ≤ 3"


BROKEN = [
    # (what, replace this, with this, message fragment, line)
    ("syntax", "points = 2", "points = = 2", "not valid TOML", 6),
    ("unknown top key", "[select]", "[selct]", "did you mean 'select'?", 1),
    ("unknown key", "points = 2", "pionts = 2", "did you mean 'points'?", 6),
    ("unknown kind", 'id = "client_isn"', 'id = "client_isnn"', "did you mean 'client_isn'?", 10),
    (
        "unknown field",
        'expect = { handshake = "complete" }',
        'expect = { handshak = "complete" }',
        "did you mean 'handshake'?",
        7,
    ),
    (
        "unknown value",
        'expect = { handshake = "complete" }',
        'expect = { teardown = "four-way" }',
        "did you mean 'four_way'?",
        7,
    ),
    ("wrong type", 'expect = { handshake = "complete" }', "expect = { handshake = 3 }", "words", 7),
    ("duplicate id", 'id = "client_isn"', 'id = "web"\nkind = "client_isn"', "used twice", 10),
    ("not applicable", "points = 1\n", 'points = 1\nunit = "s"\n', "does not apply", 12),
    (
        "evidence points",
        "points = 1\n",
        "points = 1\nevidence = true\nevidence_points = 3\n",
        "exceeds",
        13,
    ),
    ("bad choice", "points = 1\n", 'points = 1\nsequence = "raws"\n', "did you mean 'raw'?", 12),
    ("tolerance", 'id = "web"', 'id = "web"\ntolerance = 1', "unknown key 'tolerance'", 6),
    ("bad port", "server_port = 80", "server_port = 80000", "not a port number", 2),
    ("bad address", "server_port = 80", 'server_ip = "10.0.0.300"', "not an IP address", 2),
    ("negative points", "points = 2", "points = -2", "number ≥ 0", 6),
    ("no id", 'id = "web"', 'name = "web"', "needs an id", 4),
]


@pytest.mark.parametrize(
    ("what", "old", "new", "fragment", "line"), BROKEN, ids=[b[0] for b in BROKEN]
)
def test_broken_rubrics_name_the_line_and_the_fix(
    tmp_path: Path, what: str, old: str, new: str, fragment: str, line: int
) -> None:
    assert old in MINIMAL, what
    path = write(tmp_path, MINIMAL.replace(old, new, 1))
    with pytest.raises(RubricError) as caught:
        load_rubric(path)
    assert fragment in caught.value.message, caught.value.message
    assert caught.value.line == line, caught.value.message
    assert f"rubric.toml, line {line}: " in caught.value.message


def test_the_assignment_window_must_be_dates_in_order(tmp_path: Path) -> None:
    path = write(tmp_path, "[assignment]\nopens = 2026-10-01\ncloses = 2026-09-01\n" + MINIMAL)
    with pytest.raises(RubricError, match="line 3: the assignment closes before it opens"):
        load_rubric(path)
    path = write(tmp_path, '[assignment]\nopens = "next monday"\n' + MINIMAL)
    with pytest.raises(RubricError, match="line 2: 'opens' must be a TOML date"):
        load_rubric(path)


def test_a_window_of_dates_covers_whole_days(tmp_path: Path) -> None:
    path = write(tmp_path, "[assignment]\nopens = 2026-09-01\ncloses = 2026-09-01\n" + MINIMAL)
    rubric = load_rubric(path)
    assert rubric.closes is not None and rubric.opens is not None
    assert rubric.closes - rubric.opens == 24 * 3600


def test_line_numbers_skip_multiline_strings(tmp_path: Path) -> None:
    body = MINIMAL.replace(
        "points = 2\n", 'feedback = """\nline one\npoints = 99\n"""\npoints = 2\npionts = 1\n'
    )
    with pytest.raises(RubricError) as caught:
        load_rubric(write(tmp_path, body))
    assert caught.value.line == 11


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"\xd4\xc3\xb2\xa1\x02\x00", "not UTF-8"), (b"", r"no \[\[requirement\]\] and no")],
)
def test_files_that_are_not_rubrics(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "r.toml"
    path.write_bytes(content)
    with pytest.raises(RubricError, match=fragment):
        load_rubric(path)
    with pytest.raises(RubricError, match="no such file"):
        load_rubric(tmp_path / "missing.toml")


def test_a_rubric_is_data_nothing_in_it_runs(tmp_path: Path) -> None:
    canary = tmp_path / "ran"
    body = MINIMAL.replace(
        'id = "web"',
        f"id = \"web\"\ntitle = \"{{__import__('os').system('touch {canary}')}}"
        f' $(touch {canary})"',
    )
    rubric = load_rubric(write(tmp_path, body))
    assert "__import__" in rubric.requirements[0].title.en
    assert not canary.exists()


def test_the_cli_reports_a_broken_rubric_in_one_line_with_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, MINIMAL.replace("points = 2", "pionts = 2"))
    status = main(["check", str(SAMPLE), "--rubric", str(path)])
    err = capsys.readouterr().err.splitlines()
    assert status == ExitStatus.ERROR
    assert err[0] == (
        f"pcapexplain: error: {path}, line 6: unknown key 'pionts' in requirement 'web' "
        "(did you mean 'points'?)"
    )
    assert err[1].startswith("hint: the keys of requirement 'web' are: id, title, points")
    assert len(err) == 2


def test_question_kinds_are_the_issue_vocabulary() -> None:
    assert {k.value for k in QuestionKind} == {*ISSUE_IDS, "server_isn"}
