"""Grading core on hand-built packets: extractors, marking, evidence, unanswerable, requirements."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcapexplain.answers import Answer, AnswerSheet, load_answers
from pcapexplain.api import analyse_columns
from pcapexplain.errors import AnswersError
from pcapexplain.grading import CheckResult, ItemResult, Status, check
from pcapexplain.integrity import Fingerprint, IntegrityFlag, class_flags
from pcapexplain.model import CaptureAnalysis, CaptureInfo, Lang, PacketColumns
from pcapexplain.questions import Params, QuestionKind, Reason, Unanswerable, View, extract
from pcapexplain.rubric import load_rubric
from tests.builders import ACK, PSH, RETRANSMISSION, Conversation

RUBRIC = """\
[select]
server_port = 80
syn_captured = true

[[requirement]]
id = "web"
points = 2
select = { server_port = 80 }
expect = { handshake = "complete", teardown = "four_way", closed_first = "client" }
feedback = { en = "Close from the client.", zh = "由客户端关闭。" }

[[requirement]]
id = "refused"
points = 1
expect = { handshake = "refused" }

[[requirement]]
id = "no_reset"
points = 1
match = "none"
expect = { teardown = ["reset_by_client", "reset_by_server"] }

{questions}
"""
ALL = (
    "\n".join(f'[[question]]\nid = "{k.value}"\npoints = 1\n' for k in QuestionKind)
    + '\n[[question]]\nid = "isn_raw"\nkind = "client_isn"\nsequence = "raw"\nevidence = true\n'
)


def lab(*, midstream: bool = False, retransmit: bool = False) -> PacketColumns:
    """SYN (ISN 1000), SYN-ACK (ISN 5000), three 100-byte segments each ACKed 20 ms later, the
    client's FIN, the server's ACK, the server's FIN, the client's ACK: frames 1 to 13."""
    conv = Conversation(step=0.01)
    conv.handshake()  # frames 1-3
    for _ in range(3):  # frames 4-9
        conv.step = 0.02
        conv.data(conv.client)
        conv.step = 0.01
        conv.ack(conv.server)
    if retransmit:
        conv.send(conv.client, ACK | PSH, 100, seq=1201, analysis=RETRANSMISSION)
    conv.fin(conv.client)
    conv.ack(conv.server)
    conv.fin(conv.server)
    conv.ack(conv.client)
    if midstream:
        conv.packets = conv.packets[3:]
    return conv.columns()


def analysed(packets: PacketColumns) -> CaptureAnalysis:
    info = CaptureInfo("lab.pcap", 1, "ab" * 32, "4.0", len(packets))
    return analyse_columns(info, packets)


def rubric(tmp_path: Path, questions: str = ALL) -> object:
    path = tmp_path / "r.toml"
    path.write_text(RUBRIC.replace("{questions}", questions), encoding="utf-8")
    return load_rubric(path)


def sheet(**answers: object) -> AnswerSheet:
    made = {}
    for ident, given in answers.items():
        value, frames = (
            given
            if isinstance(given, tuple) and len(given) == 2 and isinstance(given[1], list)
            else (given, [])
        )
        value = tuple(value) if isinstance(value, list) else value
        made[ident] = Answer(ident, value, tuple(frames), None)  # type: ignore[arg-type]
    return AnswerSheet("answers.toml", made, ())


def items(result: CheckResult) -> dict[str, ItemResult]:
    return {i.id: i for i in result.items}


def test_every_answer_is_computed_from_the_packets(tmp_path: Path) -> None:
    result = check(analysed(lab()), rubric(tmp_path), None, Lang.EN)  # type: ignore[arg-type]
    got = {i.id: i.expected for i in result.items if i.kind.value == "question"}
    assert got["client_isn"] == {"raw": 1000, "relative": 0}
    assert got["server_isn"] == got["synack_seq"] == {"raw": 5000, "relative": 0}
    assert got["synack_ack"] == {"raw": 1001, "relative": 1}  # the SYN takes one number
    assert got["client_mss"] == 1460 and got["client_wscale"] == 7
    assert got["handshake_rtt"] == pytest.approx(10.0)  # ms
    assert got["first_data_seq"] == {"raw": 1001, "relative": 1}
    assert got["sample_rtts"] == pytest.approx([20.0, 20.0, 20.0])  # three segments only
    assert got["estimated_rtt"] == pytest.approx(20.0)
    # The SYN-ACK's window is never scaled; later ones are scaled by the server's shift 8.
    assert got["min_window"] == 65535
    assert got["retransmitted_frames"] == []
    assert got["first_fin_sender"] == "client"
    assert got["fin_seq"] == {"raw": 1301, "relative": 301}
    assert got["fin_ack"] == {"raw": 1302, "relative": 302}
    assert got["teardown"] == "four_way" and got["time_wait_side"] == "client"
    assert items(result)["fin_ack"].evidence_frames == (11,)
    assert items(result)["time_wait_side"].evidence_frames == (12, 13)
    assert all(i.status is Status.ANSWER for i in result.items if i.kind.value == "question")


def test_requirements_select_connections_and_show_the_closest(tmp_path: Path) -> None:
    result = check(analysed(lab()), rubric(tmp_path), None, Lang.EN)  # type: ignore[arg-type]
    by_id = items(result)
    assert by_id["web"].status is Status.PASSED and by_id["web"].earned == 2
    assert by_id["web"].evidence_frames == (1, 2, 3, 10, 11, 12, 13)
    assert by_id["refused"].status is Status.FAILED
    assert by_id["refused"].given == {"handshake": "complete"}  # the closest connection's value
    assert by_id["no_reset"].status is Status.PASSED
    assert not result.passed and result.earned == 3 and result.possible == 4


def test_estimated_rtt_follows_the_textbook_formula(tmp_path: Path) -> None:
    conv = Conversation(step=0.01)
    conv.handshake()
    for rtt in (0.1, 0.2, 0.4):
        conv.step = rtt
        conv.data(conv.client)
        conv.step = 0.01
        conv.ack(conv.server)
    result = check(analysed(conv.columns()), rubric(tmp_path), None, Lang.EN)  # type: ignore[arg-type]
    expected = 100.0
    for sample in (200.0, 400.0):
        expected = 0.875 * expected + 0.125 * sample
    assert items(result)["sample_rtts"].expected == pytest.approx([100.0, 200.0, 400.0])
    assert items(result)["estimated_rtt"].expected == pytest.approx(expected)


def test_karns_rule_skips_a_retransmitted_segment(tmp_path: Path) -> None:
    result = check(analysed(lab(retransmit=True)), rubric(tmp_path), None, Lang.EN)  # type: ignore[arg-type]
    by_id = items(result)
    assert by_id["retransmitted_frames"].expected == [10]
    assert len(by_id["sample_rtts"].expected) == 2  # the third segment was sent twice


def test_a_capture_started_late_cannot_answer_the_handshake_questions(tmp_path: Path) -> None:
    result = check(analysed(lab(midstream=True)), rubric(tmp_path), sheet(), Lang.EN)  # type: ignore[arg-type]
    by_id = items(result)
    for ident in ("client_isn", "synack_ack", "client_mss", "handshake_rtt", "min_window"):
        assert by_id[ident].status is Status.UNANSWERABLE, ident
        assert by_id[ident].passed is None and by_id[ident].earned == 0
    assert "started after the connection was opened" in by_id["client_isn"].verdict
    assert by_id["fin_seq"].status is Status.FAILED  # answerable, and not answered
    # Without the SYN, Wireshark counts the first segment seen as relative 1 (1001 here).
    assert by_id["fin_seq"].expected == {"raw": 1301, "relative": 301}
    unanswerable = sum(1 for i in result.items if i.status is Status.UNANSWERABLE)
    assert result.not_graded == unanswerable
    assert result.possible == 4 + len(result.items) - 3 - unanswerable


def test_no_connection_at_all_makes_every_question_unanswerable(tmp_path: Path) -> None:
    path = tmp_path / "r2.toml"
    path.write_text(
        RUBRIC.replace("server_port = 80\nsyn_captured", "server_port = 443\nsyn_captured").replace(
            "{questions}", ALL
        )
    )
    result = check(analysed(lab()), load_rubric(path), sheet(), Lang.EN)
    questions = [i for i in result.items if i.kind.value == "question"]
    assert all(i.status is Status.UNANSWERABLE for i in questions)
    assert [f.flag for f in result.flags] == [IntegrityFlag.NO_MATCHING_CONNECTION]


@pytest.mark.parametrize(
    ("ident", "given", "status", "form"),
    [
        ("client_isn", 1000, Status.PASSED, "raw"),
        ("client_isn", 0, Status.PASSED, "relative"),
        ("client_isn", 1001, Status.FAILED, None),
        ("isn_raw", (0, [1]), Status.FAILED, "relative"),  # raw asked, relative given
        ("isn_raw", (1000, [1]), Status.PASSED, "raw"),
        ("isn_raw", (1000, [2]), Status.PARTIAL, "raw"),  # the SYN-ACK is not the SYN
        ("isn_raw", 1000, Status.PARTIAL, "raw"),  # no frame cited
        ("synack_ack", "1", Status.PASSED, "relative"),
        ("client_wscale", 128, Status.PASSED, "multiplier"),
        ("client_wscale", 7, Status.PASSED, "shift"),
        ("handshake_rtt", 10.4, Status.PASSED, None),  # within 5 %
        ("handshake_rtt", 11, Status.FAILED, None),
        ("handshake_rtt", 0.01, Status.FAILED, None),  # seconds where ms are asked
        ("sample_rtts", [20, 20.5, 19.6], Status.PASSED, None),
        ("sample_rtts", [20, 30, 20], Status.FAILED, None),
        ("sample_rtts", [20, 20], Status.FAILED, None),
        ("retransmitted_frames", "none", Status.PASSED, None),
        ("retransmitted_frames", [5], Status.FAILED, None),
        ("first_fin_sender", "客户端", Status.PASSED, None),
        ("first_fin_sender", "server", Status.FAILED, None),
        ("teardown", "4-way", Status.PASSED, None),
        ("teardown", "三次挥手", Status.FAILED, None),
        ("time_wait_side", "Client", Status.PASSED, None),
        ("time_wait_side", "maybe", Status.FAILED, None),
        ("min_window", "lots", Status.FAILED, None),
    ],
)
def test_marking(
    tmp_path: Path, ident: str, given: object, status: Status, form: str | None
) -> None:
    result = check(analysed(lab()), rubric(tmp_path), sheet(**{ident: given}), Lang.EN)  # type: ignore[arg-type]
    item = items(result)[ident]
    assert item.status is status, item.verdict
    assert item.given_form == form
    if status is Status.PARTIAL:
        assert item.earned == 0.5 and item.passed is False
    assert items(result)["fin_seq"].status is Status.FAILED  # not answered: wrong, not skipped


def test_verdicts_say_which_form_was_given_in_both_languages(tmp_path: Path) -> None:
    answers = sheet(client_isn=0, isn_raw=(0, [1]), client_wscale=128)
    loaded = rubric(tmp_path)
    en = items(check(analysed(lab()), loaded, answers, Lang.EN))  # type: ignore[arg-type]
    zh = items(check(analysed(lab()), loaded, answers, Lang.ZH))  # type: ignore[arg-type]
    assert en["client_isn"].verdict == "Right: you gave the relative number 0 (raw 1000)."
    assert zh["client_isn"].verdict == "正确：你给出的是相对序号 0（原始序号 1000）。"
    assert "asks for the raw number, 1000" in en["isn_raw"].verdict
    assert "multiplier 128" in en["client_wscale"].verdict
    assert "ISN + 1" in en["synack_ack"].explanation and "ISN + 1" in zh["synack_ack"].explanation
    assert "2MSL" in en["time_wait_side"].explanation and "2MSL" in zh["time_wait_side"].explanation


def test_a_cited_frame_is_checked_even_when_not_required(tmp_path: Path) -> None:
    answers = sheet(fin_seq=(1301, [12]))
    item = items(check(analysed(lab()), rubric(tmp_path), answers, Lang.EN))["fin_seq"]  # type: ignore[arg-type]
    assert item.status is Status.PASSED  # no points lost: the rubric did not ask for a frame
    assert "You cited frame 12, but the packet this answer is about is frame 10." in item.verdict


def test_answers_file(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text("client_isn = 1000\nclinet_mss = 3\n\n[fin_ack]\nvalue = 1302\nframe = 11\n")
    loaded = load_answers(path, ("client_isn", "client_mss", "fin_ack"))
    assert loaded.answers["fin_ack"].frames == (11,) and loaded.answers["client_isn"].value == 1000
    assert loaded.unknown == (("clinet_mss", " (did you mean 'client_mss'?)"),)
    path.write_text("[fin_ack]\nvalue = 1302\nclient_isn = 4\n")
    with pytest.raises(AnswersError, match="line 3: 'client_isn' is written inside the table"):
        load_answers(path, ("client_isn", "fin_ack"))
    path.write_text("[fin_ack]\nvalu = 1302\n")
    with pytest.raises(AnswersError, match="line 2: unknown key 'valu'.*did you mean 'value'"):
        load_answers(path, ("fin_ack",))


def test_class_flags() -> None:
    a = Fingerprint("alice", "h1", frozenset({(1, 80, 10, 20)}))
    b = Fingerprint("bob", "h1", frozenset({(1, 80, 10, 20)}))
    c = Fingerprint("carol", "h2", frozenset({(1, 80, 10, 20), (2, 80, 5, 6)}))
    d = Fingerprint("dave", "h3", frozenset({(3, 80, 7, 8)}))
    flags = class_flags([a, b, c, d])
    assert [(f.flag, f.others) for f in flags["alice"]] == [
        (IntegrityFlag.IDENTICAL_CAPTURE, ("bob",)),
        (IntegrityFlag.SHARED_CONNECTION, ("carol",)),
    ]
    assert [(f.flag, f.others) for f in flags["carol"]] == [
        (IntegrityFlag.SHARED_CONNECTION, ("alice", "bob"))
    ]
    assert "dave" not in flags


def test_extract_without_a_connection() -> None:
    found = extract(QuestionKind.FIN_SEQ, None, Params())
    assert found == Unanswerable(Reason.NO_CONNECTION)
    packets = lab()
    result = analysed(packets)
    view = View(result.packets, result.states, result.connections[0])
    assert extract(QuestionKind.CLIENT_ISN, view, Params()).value == 1000  # type: ignore[union-attr]
