"""`connections` and `doctor` under --lang: the table and the report said in Chinese, the
machine formats (csv, json, zeek) byte for byte the same in both languages, and their messages in
the language asked for."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from pcapexplain import linklayer
from pcapexplain.explanations import text
from pcapexplain.model import Lang
from pcapexplain.terminal import columns
from tests.english import english_words
from tests.shipped import run

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"
# Each shows other words in the table: outcomes, closers, inferred roles, anomalies, IPv6.
TABLE_SAMPLES = (
    "normal_close_client_first.pcap",
    "refused.pcap",
    "midstream.pcap",
    "crafted_protocol_violations.pcap",
    "reset_by_server_unread_data.pcap",
    "ipv6_normal.pcap",
)


def _records(capture: Path) -> list[dict[str, object]]:
    done = run("connections", str(capture), "--format", "json")
    assert done.returncode == 0, done.stderr
    records: list[dict[str, object]] = json.loads(done.stdout)
    return records


@pytest.mark.parametrize("name", TABLE_SAMPLES)
def test_the_connections_table_in_chinese(name: str) -> None:
    capture = SAMPLES / name
    records = _records(capture)
    english, chinese = (
        run("connections", str(capture)),
        run("connections", str(capture), "--lang", "zh"),
    )
    assert english.returncode == chinese.returncode == 0, chinese.stderr
    addresses = {str(r[side]) for r in records for side in ("client_ip", "server_ip")}
    found = {
        w: line for line in chinese.stdout.splitlines() for w in english_words(line, addresses)
    }
    assert found == {}
    assert any(english_words(line, addresses) for line in english.stdout.splitlines())
    assert text(Lang.ZH, "table.col.handshake") in chinese.stdout
    assert (
        text(Lang.ZH, "table.caption", reader=text(Lang.ZH, "ui.native_reader")) in chinese.stdout
    )
    for r in records:  # each connection's words, as the textbook says them
        row = next(line for line in chinese.stdout.splitlines() if f"│ {r['id']} " in line)
        assert text(Lang.ZH, f"short.handshake.{r['handshake']}") in row, row
        assert text(Lang.ZH, f"short.teardown.{r['teardown']}") in row, row
        for slug in r["anomalies"]:  # type: ignore[attr-defined]
            assert slug in english.stdout and slug not in chinese.stdout, slug


def test_the_table_says_the_textbooks_words() -> None:
    out = run("connections", str(SAMPLES / "normal_close_client_first.pcap"), "--lang", "zh").stdout
    assert "四次挥手" in out and "客户端" in out and "TIME_WAIT" in out
    out = run("connections", str(SAMPLES / "midstream.pcap"), "--lang", "zh").stdout
    assert "（推断）" in out and "(inferred)" not in out


@pytest.mark.parametrize("fmt", ["csv", "json", "zeek"])
@pytest.mark.parametrize("name", ["crafted_protocol_violations.pcap", "midstream.pcap"])
def test_machine_formats_are_the_same_in_both_languages(
    fmt: str, name: str, tmp_path: Path
) -> None:
    capture = str(SAMPLES / name)
    english = subprocess.run([*_cmd(), "connections", capture, "-f", fmt], capture_output=True)
    chinese = subprocess.run(
        [*_cmd(), "connections", capture, "-f", fmt, "--lang", "zh"], capture_output=True
    )
    assert english.returncode == chinese.returncode == 0
    assert english.stdout and chinese.stdout == english.stdout
    to_en, to_zh = tmp_path / f"en.{fmt}", tmp_path / f"zh.{fmt}"
    said_en = run("connections", capture, "-f", fmt, "-o", str(to_en))
    said_zh = run("connections", capture, "-f", fmt, "-o", str(to_zh), "--lang", "zh")
    assert to_zh.read_bytes() == to_en.read_bytes() == english.stdout
    assert said_en.stderr.startswith("Wrote ") and said_zh.stderr.startswith("已把 ")
    assert english_words(said_zh.stderr, (str(to_zh),)) == []


def _cmd() -> list[str]:
    from tests.shipped import command

    return command()


@pytest.mark.tshark
def test_doctor_in_both_languages() -> None:
    english, chinese = run("doctor"), run("doctor", "--lang", "zh")
    assert english.returncode == chinese.returncode == 0
    lines = english.stdout.splitlines()
    assert lines[0].startswith("native:      built in: pcap, pcapng, gzip; ")
    assert lines[3].startswith("needed:      3.6 or newer: ")
    zh = chinese.stdout.splitlines()
    assert len(zh) == len(lines) == 5
    tshark = lines[1].split()[-1]
    for line in zh:
        assert english_words(line, (tshark,)) == [], line  # the link types' names too
    for kind in set(linklayer.LINKTYPE_NAMES.values()):
        assert text(Lang.ZH, f"doctor.link.{kind}") in zh[0]
        assert text(Lang.EN, f"doctor.link.{kind}") in lines[0]
    assert zh[0].startswith("内置读取器：") and zh[1].endswith(tshark)
    assert "已满足" in zh[3]
    # the values start in one column (a Chinese character takes two)
    starts = {columns(re.match(r"[^：]*： *", line).group(0)) for line in zh}  # type: ignore[union-attr]
    assert len(starts) == 1


def test_errors_of_connections_follow_lang(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.pcap")
    english, chinese = run("connections", missing), run("connections", missing, "--lang", "zh")
    assert english.returncode == chinese.returncode == 1
    assert chinese.stderr.startswith("pcapexplain: 错误: ")
    assert english_words(chinese.stderr, (missing,)) == []
    assert english.stderr.startswith("pcapexplain: error: ")
