"""Who closed first when only one direction is captured: the shipped commands on real one-sided
samples, in both languages. The rules themselves are unit-tested in test_reconstructor.py.

one_direction_passive.pcap: the client's packets of a close the server began (its FIN unseen).
one_direction_three_way.pcap: the server's packets of a close the client began.
Both fit either order, so nothing may name a first closer, an active close or a TIME_WAIT side.
"""

from __future__ import annotations

import csv
import json
import re
from html import unescape
from pathlib import Path

import pytest

from pcapexplain.cli import main
from pcapexplain.errors import ExitStatus
from pcapexplain.explanations import text
from pcapexplain.model import Lang

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"
UNKNOWN_ORDER = ("one_direction_passive.pcap", "one_direction_three_way.pcap")
KNOWN_ORDER = {"one_direction.pcap": "client", "one_direction_server.pcap": "server"}

pytestmark = pytest.mark.tshark


def _first_sentence(lang: Lang, key: str) -> str:
    return re.split(r"[:：]", text(lang, key, sender="", receiver=""), maxsplit=1)[0]


@pytest.mark.parametrize("name", UNKNOWN_ORDER)
def test_connections_json_says_unknown(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["connections", str(SAMPLES / name), "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["closed_first"], row["time_wait"]) == ("unknown", "unknown")
    assert (row["client_final_state"], row["server_final_state"]) == ("UNKNOWN", "UNKNOWN")


@pytest.mark.parametrize(("name", "closer"), KNOWN_ORDER.items())
def test_a_later_ack_of_one_more_still_names_the_first_closer(
    name: str, closer: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["connections", str(SAMPLES / name), "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["closed_first"] == closer


@pytest.mark.parametrize("lang", tuple(Lang))
@pytest.mark.parametrize("name", UNKNOWN_ORDER)
def test_explain_hedges_the_fin(name: str, lang: Lang, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", str(SAMPLES / name), "--lang", lang.value]) == 0
    out = capsys.readouterr().out
    assert text(lang, "ui.closed_first_unknown") in out
    assert text(lang, "ui.time_wait_unknown") in out
    for who in ("client", "server"):
        assert text(lang, "ui.closed_first", who=text(lang, f"closer.{who}")) not in out
    hedge = "active or the passive close cannot be told" if lang is Lang.EN else "无法判断"
    flags = "FIN, ACK ·" if lang is Lang.EN else "FIN、ACK ·"
    fin_lines = [line for line in out.splitlines() if flags in line]
    assert fin_lines and all(hedge in line for line in fin_lines)
    active = "(active close)" if lang is Lang.EN else "（主动关闭）"
    assert active not in out and "TIME_WAIT at the end: the" not in out


@pytest.mark.parametrize("lang", tuple(Lang))
@pytest.mark.parametrize("name", tuple(KNOWN_ORDER))
def test_explain_tells_the_first_fin_without_the_unseen_peer_s_state(
    name: str, lang: Lang, capsys: pytest.CaptureFixture[str]
) -> None:
    """The closer is proven, but not whether its FIN found the peer open or already closing
    (the FINs crossing): the line says so, and names no state the peer entered."""
    assert main(["explain", str(SAMPLES / name), "--lang", lang.value]) == 0
    out = capsys.readouterr().out
    flags = "FIN, ACK ·" if lang is Lang.EN else "FIN、ACK ·"
    (fin,) = [line for line in out.splitlines() if flags in line]
    first = "closed first (active close)" if lang is Lang.EN else "先关闭（主动关闭）"
    crossing = "the two FINs crossing" if lang is Lang.EN else "两个 FIN 交叉而过"
    assert first in fin and crossing in fin
    assert "CLOSE_WAIT" not in fin and "CLOSING" not in fin
    unknown = "UNKNOWN" if lang is Lang.EN else "未知"
    peer = text(lang, "side.server" if KNOWN_ORDER[name] == "client" else "side.client")
    assert f"{peer} ESTABLISHED → {unknown}" in fin


@pytest.mark.parametrize("lang", tuple(Lang))
def test_report_names_no_first_closer(
    lang: Lang, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "r.html"
    capture = SAMPLES / "one_direction_passive.pcap"
    assert main(["report", str(capture), "-o", str(target), "--lang", lang.value]) == 0
    page = unescape(re.sub(r"<[^>]+>", " ", target.read_text(encoding="utf-8")))
    assert text(lang, "ui.closed_first_unknown") in page
    assert text(lang, "report.who.unknown") in page
    assert text(lang, "ui.closed_first", who=text(lang, "closer.client")) not in page


RUBRIC = """\
format = 1
title.en = "close"
title.zh = "关闭"

[select]
server_port = {port}

[[question]]
id = "first_fin_sender"
points = 1

[[question]]
id = "fin_seq"
points = 1

[[question]]
id = "teardown"
points = 1
"""


@pytest.mark.parametrize("lang", tuple(Lang))
@pytest.mark.parametrize("answer", ("client", "server"))
def test_check_neither_marks_who_closed_first_right_nor_wrong(
    answer: str, lang: Lang, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A teacher cannot hold a student to what the capture cannot show: not graded, said why."""
    rubric, answers = tmp_path / "r.toml", tmp_path / "a.toml"
    rubric.write_text(RUBRIC.format(port=45002), encoding="utf-8")
    answers.write_text(f'first_fin_sender = "{answer}"\nfin_seq = 24\n', encoding="utf-8")
    capture = str(SAMPLES / "one_direction_passive.pcap")
    args = ["check", capture, "--rubric", str(rubric), "--answers", str(answers)]
    assert main([*args, "--format", "json", "--lang", lang.value]) == ExitStatus.OK
    report = json.loads(capsys.readouterr().out)
    items = {i["id"]: i for i in report["items"]}
    for ident in ("first_fin_sender", "fin_seq"):
        item = items[ident]
        assert (item["status"], item["passed"], item["earned"]) == ("unanswerable", None, 0.0)
        assert item["verdict"] == text(lang, "rubric.reason.closer_unknown")
    assert report["score"]["not_graded"] >= 2


def test_grade_leaves_who_closed_first_ungraded(tmp_path: Path) -> None:
    folder, out = tmp_path / "class", tmp_path / "out"
    (folder / "ann").mkdir(parents=True)
    (folder / "ann" / "lab.pcap").write_bytes((SAMPLES / "one_direction_passive.pcap").read_bytes())
    (folder / "ann" / "answers.toml").write_text('first_fin_sender = "server"\n', encoding="utf-8")
    rubric = tmp_path / "r.toml"
    rubric.write_text(RUBRIC.format(port=45002), encoding="utf-8")
    assert main(["grade", str(folder), "--rubric", str(rubric), "-o", str(out)]) == ExitStatus.OK
    with (out / "gradebook.csv").open(encoding="utf-8", newline="") as book:
        (cells,) = csv.DictReader(book)
    # teardown too: the capture ends half-closed, as far as it shows
    assert (cells["possible"], cells["not_graded"], cells["first_fin_sender"]) == ("0", "3", "n/a")
    feedback = (out / "feedback" / "ann.html").read_text(encoding="utf-8")
    assert unescape(text(Lang.EN, "rubric.reason.closer_unknown")) in unescape(feedback)
