"""Errors, hints and warnings are data: said in English and in Chinese, shown in the command's
--lang by the shipped command, with the same exit codes and English output unchanged."""

from __future__ import annotations

import ast
import csv
import io
import pickle
import shutil
import string
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from pcapexplain import errors, files, rubric
from pcapexplain.cli import main
from pcapexplain.errors import ExitStatus, PcapExplainError
from pcapexplain.explanations import Said, catalog, in_lang, said
from pcapexplain.model import Lang

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pcapexplain"
SAMPLE = ROOT / "sample_captures" / "normal_close_client_first.pcap"
LOSSY = ROOT / "sample_captures" / "lossy_transfer.pcap"
RUBRIC = ROOT / "examples" / "rubrics" / "tcp-handshake-lab.toml"
ERROR_CLASSES = [
    c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, PcapExplainError)
]
ZH_ERROR, ZH_HINT = "pcapexplain: 错误: ", "提示: "


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _calls(name: str) -> list[tuple[str, ast.Call]]:
    """Every call of a function (or method) called name in the package, with its place."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if called == name:
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node))
    return found


def test_every_error_class_has_its_hint_in_both_languages() -> None:
    keyed = [c for c in ERROR_CLASSES if c.hint_key]
    assert len(keyed) >= 15
    for cls in keyed:
        for lang in Lang:
            assert cls.hint_key in catalog(lang), (cls.__name__, lang)


def test_every_said_text_exists_in_both_languages_with_the_params_it_is_given() -> None:
    checked = 0
    for where, call in _calls("said"):
        key = call.args[0]
        if not isinstance(key, ast.Constant):
            continue  # a key built from a table's values: see the next test
        given = {kw.arg for kw in call.keywords}
        for lang in Lang:
            entry = catalog(lang).get(key.value)
            assert entry is not None, (where, key.value, lang)
            forms = [entry] if isinstance(entry, str) else list(entry.values())
            counted = set() if isinstance(entry, str) else {"count"}
            for form in forms:
                assert placeholders(form) | counted == given, (where, key.value, lang)
        checked += 1
    assert checked >= 100


def test_keys_built_from_a_table_exist_in_both_languages() -> None:
    words = [f"error.what.{name}" for _, name in files._NOT_REGULAR]
    words += [f"error.what.{name}" for name in rubric._KIND_WORDS.values()]
    words += ["error.what.irregular", "error.what.words"]
    for key in words:
        for lang in Lang:
            assert isinstance(catalog(lang)[key], str), (key, lang)


def test_the_package_raises_its_errors_with_said_texts() -> None:
    """No raise site writes an English f-string any more: it would reach a Chinese user as is."""
    names = [c.__name__ for c in ERROR_CLASSES] + ["fail", "error"]
    plain = []
    for name in names:
        for where, call in _calls(name):
            for arg in [*call.args, *(kw.value for kw in call.keywords)]:
                if isinstance(arg, ast.JoinedStr) or (
                    isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                ):
                    plain.append((where, name))
    assert plain == []


def test_a_said_text_is_its_english_and_crosses_a_process_boundary() -> None:
    text = said("error.not_regular", path="lab.pcap", kind=said("error.what.folder"))
    assert text == "lab.pcap is a folder, not a capture file"
    back = pickle.loads(pickle.dumps(text))  # a worker's error row reaches the parent like this
    assert isinstance(back, Said) and back == text
    assert in_lang(back, Lang.ZH) == "lab.pcap 是文件夹，不是抓包文件"
    assert in_lang("Permission denied", Lang.ZH) == "Permission denied"  # the OS's words


def test_a_file_name_keeps_its_spaces_in_chinese() -> None:
    """Its own spaces; the template's space before it goes, as before any Chinese word."""
    assert (
        in_lang(said("error.no_such_file", path="实验 一.pcap"), Lang.ZH)
        == "找不到文件实验 一.pcap"
    )
    assert (
        in_lang(said("error.no_such_file", path="lab 1.pcap"), Lang.ZH) == "找不到文件 lab 1.pcap"
    )


def test_a_counted_param_is_said_in_the_language_of_its_message() -> None:
    frames = said("ui.packets", count=1)
    assert (
        said("error.no_tcp", name="a.pcap", frames=frames)
        == "a.pcap holds 1 packet but no TCP segment"
    )
    zh = in_lang(said("error.no_tcp", name="a.pcap", frames=frames), Lang.ZH)
    assert zh == "a.pcap 中有 1 个分组，但没有 TCP 报文段"


def _pcap(records: list[bytes]) -> bytes:
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    body = b"".join(struct.pack("<IIII", 1_700_000_000, 0, len(r), len(r)) + r for r in records)
    return header + body


def _udp_frame() -> bytes:
    udp = struct.pack("!HHHH", 5353, 5353, 12, 0) + b"ping"
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, b"\n\0\0\1", b"\n\0\0\2"
    )
    return b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00" + ip + udp


def _shipped(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pcapexplain", *args], capture_output=True, text=True, timeout=300
    )


def _assert_zh_error(err: str, message: str, hint: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith(ZH_ERROR) and message in lines[0], err
    assert lines[1].startswith(ZH_HINT) and hint in lines[1], err
    assert "Traceback" not in err


def _bad_captures(tmp_path: Path) -> dict[str, tuple[Path, str, str]]:
    """name -> (file, what the Chinese error says, what its hint says)."""
    made = {
        "not-a-capture": (b"a shopping list, not a capture\n" * 20, "不是 tshark 能读取的抓包文件"),
        "cut-before-first": (_pcap([_udp_frame()])[:40], "在第一个分组之前就被截断了"),
        "no-tcp": (_pcap([_udp_frame()]), "中有 1 个分组，但没有 TCP 报文段"),
    }
    hints = {"not-a-capture": "Wireshark", "cut-before-first": "Wireshark", "no-tcp": "抓包过滤器"}
    found = {}
    for name, (content, says) in made.items():
        path = tmp_path / f"{name}.pcap"
        path.write_bytes(content)
        found[name] = (path, says, hints[name])
    found["missing"] = (tmp_path / "missing.pcap", "找不到文件", "请检查路径")
    return found


@pytest.mark.tshark
def test_explain_in_chinese_tells_every_bad_capture_in_chinese(tmp_path: Path) -> None:
    """The shipped command: the Chinese error and hint, no traceback, the English exit code."""
    for name, (path, says, hint) in _bad_captures(tmp_path).items():
        english = _shipped("explain", str(path))
        chinese = _shipped("explain", str(path), "--lang", "zh")
        assert english.stderr.startswith("pcapexplain: error: "), (name, english.stderr)
        assert chinese.returncode == english.returncode == ExitStatus.ERROR, name
        assert chinese.stdout == ""
        _assert_zh_error(chinese.stderr, says, hint)
        assert path.name in chinese.stderr


@pytest.mark.tshark
def test_a_capture_cut_short_warns_in_chinese_and_still_explains(tmp_path: Path) -> None:
    lossy = LOSSY.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(lossy[: len(lossy) // 2])
    run = _shipped("explain", str(cut), "--lang", "zh")
    assert run.returncode == ExitStatus.OK
    assert "pcapexplain: 警告: cut.pcap: 抓包文件在第 " in run.stderr
    assert "帧之后被截断；只分析到这里" in run.stderr
    assert "握手" in run.stdout
    # The report shows the same warning in its language.
    page = tmp_path / "cut.html"
    assert main(["report", str(cut), "--lang", "zh", "-o", str(page)]) == ExitStatus.OK
    assert "帧之后被截断；只分析到这里" in page.read_text(encoding="utf-8")


@pytest.mark.tshark
def test_an_unknown_connection_in_chinese(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["report", str(SAMPLE), "-c", "9", "--lang", "zh", "-o", "/nonexistent/x.html"]) == 1
    )
    _, err = capsys.readouterr()
    _assert_zh_error(
        err, "中没有编号为 9 的连接（共有 1 个连接，编号从 0 到 0）", "pcapexplain connections"
    )


def test_english_errors_are_unchanged(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.pcap"
    for command in (["connections", str(missing)], ["explain", str(missing), "--lang", "en"]):
        assert main(command) == ExitStatus.ERROR
        assert capsys.readouterr().err == (
            f"pcapexplain: error: {missing}: no such file\n"
            "hint: check the path; pass a .pcap, .pcapng or .gz capture file\n"
        )
    # A command without --lang stays English even after a command in Chinese ran in this process.
    assert main(["explain", str(missing), "--lang", "zh"]) == ExitStatus.ERROR
    assert capsys.readouterr().err.startswith(ZH_ERROR)
    assert main(["connections", str(missing)]) == ExitStatus.ERROR
    assert capsys.readouterr().err.startswith("pcapexplain: error: ")


def test_a_plain_text_error_is_shown_as_it_is_under_chinese_markers() -> None:
    from pcapexplain.diagnostics import error_lines

    assert error_lines("tshark said \x1b[2J", None, Lang.ZH) == [
        f"{ZH_ERROR}tshark said \\x1b[2J\n"
    ]


def _bad_rubric(tmp_path: Path) -> Path:
    bad = tmp_path / "lab.toml"
    bad.write_text('[[requirement]]\nid = "hs"\npionts = 2\nexpect = { handshake = "complete" }\n')
    return bad


def test_a_bad_rubric_in_chinese(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = _bad_rubric(tmp_path)
    out = tmp_path / "out"
    for command in (
        ["grade", str(tmp_path), "--rubric", str(bad), "-o", str(out), "--lang", "zh"],
        ["check", str(SAMPLE), "--rubric", str(bad), "--lang", "zh"],
    ):
        assert main(command) == ExitStatus.ERROR
        _, err = capsys.readouterr()
        _assert_zh_error(
            err,
            f"{bad} 第 3 行：要求 'hs' 中有未知的键 'pionts'（是不是想写 'points'？）",
            "的键有：",
        )
    assert main(["grade", str(tmp_path), "--rubric", str(bad), "-o", str(out)]) == ExitStatus.ERROR
    err = capsys.readouterr().err
    assert f"error: {bad}, line 3: unknown key 'pionts' in requirement 'hs' (did you mean" in err


@pytest.mark.tshark
def test_a_batch_in_chinese_writes_its_error_rows_in_chinese(tmp_path: Path) -> None:
    folder = tmp_path / "labs"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / "good.pcap")
    (folder / "bad.pcap").write_bytes(_pcap([_udp_frame()]))
    (folder / "notes.txt").write_text("not a capture\n")
    lossy = LOSSY.read_bytes()
    (folder / "cut.pcap").write_bytes(lossy[: len(lossy) // 2])
    out = tmp_path / "out"
    run = _shipped("batch", str(folder), "-o", str(out), "--lang", "zh", "--jobs", "1")
    assert run.returncode == ExitStatus.COMPLETED_WITH_ERRORS, run.stderr
    assert "Traceback" not in run.stderr
    says = "bad.pcap 中有 1 个分组，但没有 TCP 报文段"
    assert f"出错     bad.pcap：{says}" in run.stdout.splitlines()
    rows = {
        r["capture"]: r for r in csv.DictReader(io.StringIO((out / "captures.csv").read_text()))
    }
    assert rows["bad.pcap"]["error"] == says
    assert rows["bad.pcap"]["hint"] == "抓包文件中有分组，但没有 TCP 报文段；请检查抓包过滤器"
    assert rows["cut.pcap"]["status"] == "ok"
    assert rows["notes.txt"]["status"] == "skipped"
    assert rows["notes.txt"]["error"] == "不是抓包文件：没有 pcap 或 pcapng 文件头"
    assert "已跳过   notes.txt：不是抓包文件：没有 pcap 或 pcapng 文件头" in run.stdout
    assert rows["cut.pcap"]["warning"].startswith("抓包文件在第 ")
    index = (out / "index.html").read_text(encoding="utf-8")
    assert says in index and "请检查抓包过滤器" in index and "只分析到这里" in index


@pytest.mark.tshark
def test_a_class_graded_in_chinese_writes_its_error_rows_in_chinese(tmp_path: Path) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / "alice.pcap")
    (folder / "frank.pcap").write_bytes(_pcap([_udp_frame()]))
    (folder / "gina").mkdir()
    out = tmp_path / "out"
    args = ["grade", str(folder), "--rubric", str(RUBRIC), "-o", str(out), "--lang", "zh"]
    run = _shipped(*args, "--jobs", "1")
    assert run.returncode == ExitStatus.COMPLETED_WITH_ERRORS, run.stderr
    assert "Traceback" not in run.stderr
    book = {
        r["student"]: r for r in csv.DictReader(io.StringIO((out / "gradebook.csv").read_text()))
    }
    assert book["frank"]["error"] == "frank.pcap 中有 1 个分组，但没有 TCP 报文段"
    assert book["gina"]["error"] == "文件夹中没有抓包文件"
    summary = (out / "summary.html").read_text(encoding="utf-8")
    assert "frank.pcap 中有 1 个分组，但没有 TCP 报文段" in summary
