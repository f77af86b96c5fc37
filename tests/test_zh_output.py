"""A student running under --lang zh sees no English: every line the shipped commands write on a
bad input (a file, a rubric, a command line) is Chinese apart from names, paths, option names and
numbers, with the English run's exit code and no traceback. The catalogue texts behind those lines
exist in both languages with the same params, and their English is what it was."""

from __future__ import annotations

import errno
import os
import shutil
import string
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from pcapexplain import tomlfile, usage_errors
from pcapexplain.errors import ExitStatus, RubricError, os_reason
from pcapexplain.explanations import catalog, in_lang, said
from pcapexplain.model import Lang
from tests.english import english_words

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_captures" / "normal_close_client_first.pcap"
RUBRIC = ROOT / "examples" / "rubrics" / "tcp-handshake-lab.toml"


def test_the_check_finds_english() -> None:
    assert english_words("pcapexplain: 错误: lab.pcap: cannot be read", ("lab.pcap",)) == [
        "cannot",
        "be",
        "read",
    ]
    assert english_words("提示: 运行 'pcapexplain explain --help' 查看用法") == []
    assert english_words("出错   a.pcap：不是 pcap 文件", ("a.pcap",)) == []
    assert english_words("skipped  a.pcap：不是 pcap 文件", ("a.pcap",)) == ["skipped"]
    assert english_words("用法: pcapexplain explain [OPTIONS] {capture}") == []
    assert english_words("错误   /tmp/lab 1/a b.pcap：no", ("/tmp/lab 1",)) == ["no"]


def _pcap(major: int = 2, records: bytes = b"") -> bytes:
    return struct.pack("<IHHiIII", 0xA1B2C3D4, major, 4, 0, 0, 65535, 1) + records


def _pcapng_bad_byte_order() -> bytes:
    return struct.pack("<III", 0x0A0D0D0A, 28, 0x01020304) + bytes(16)


def _shipped(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    run = subprocess.run(
        [sys.executable, "-m", "pcapexplain", *args],
        capture_output=True,
        input=stdin,
        timeout=300,
    )
    return run.returncode, run.stdout.decode(), run.stderr.decode()


def _bad_inputs(tmp: Path) -> dict[str, tuple[str, ...]]:
    """name -> the arguments of a command that meets a bad input (before --lang)."""
    (tmp / "text.pcap").write_text("a shopping list, not a capture\n" * 20)
    (tmp / "short.pcap").write_bytes(b"abc")
    (tmp / "old.pcap").write_bytes(_pcap(major=1))
    (tmp / "header.pcap").write_bytes(_pcap()[:20])
    (tmp / "order.pcapng").write_bytes(_pcapng_bad_byte_order())
    (tmp / "empty.pcap").write_bytes(b"")
    (tmp / "a-file").write_text("x")
    (tmp / "syntax.toml").write_text('[[requirement]]\nid = "hs"\npoints = = 2\n')
    (tmp / "open.toml").write_text("a = [1, 2\n")
    (tmp / "twice.toml").write_text("[t]\na = 1\n[t]\n")
    (tmp / "keys.toml").write_text('[[requirement]]\nid = "hs"\npionts = 2\n')
    (tmp / "class").mkdir()
    shutil.copy(SAMPLE, tmp / "class" / "alice.pcap")
    (tmp / "class" / "bob.pcap").write_bytes(_pcap(records=b"\0" * 20))
    (tmp / "class" / "gina").mkdir()
    (tmp / "class" / "notes.txt").write_text("not a capture\n")
    sample, t = str(SAMPLE), str(tmp)
    return {
        "missing": ("explain", f"{t}/missing.pcap"),
        "folder": ("explain", t),
        "text": ("explain", f"{t}/text.pcap"),
        "too short (native)": ("explain", f"{t}/short.pcap", "--reader", "native"),
        "pcap version (native)": ("explain", f"{t}/old.pcap", "--reader", "native"),
        "cut in its header (native)": ("explain", f"{t}/header.pcap", "--reader", "native"),
        "pcapng byte order": ("explain", f"{t}/order.pcapng", "--reader", "native"),
        "empty": ("report", f"{t}/empty.pcap", "-o", f"{t}/r.html"),
        "not a folder to write in": ("report", sample, "-o", f"{t}/a-file/r.html"),
        "no folder to write in": ("report", sample, "-o", f"{t}/nowhere/r.html"),
        "unknown connection": ("explain", sample, "-c", "7"),
        "rubric syntax": ("check", sample, "--rubric", f"{t}/syntax.toml"),
        "rubric left open": ("check", sample, "--rubric", f"{t}/open.toml"),
        "rubric table twice": ("check", sample, "--rubric", f"{t}/twice.toml"),
        "rubric key": ("check", sample, "--rubric", f"{t}/keys.toml"),
        "rubric missing": ("check", sample, "--rubric", f"{t}/missing.toml"),
        "rubric folder": ("grade", f"{t}/class", "--rubric", t, "-o", f"{t}/out"),
        "batch of no folder": ("batch", f"{t}/missing", "-o", f"{t}/out"),
        "batch with bad files": ("batch", f"{t}/class", "-o", f"{t}/b", "--jobs", "1"),
        "class with bad files": ("grade", f"{t}/class", "-r", str(RUBRIC), "-o", f"{t}/g"),
        "unknown option": ("explain", sample, "--bogus"),
        "close option": ("explain", sample, "--connn", "1"),
        "missing argument": ("explain",),
        "missing option": ("check", sample),
        "bad choice": ("explain", sample, "--reader", "fast"),
        "not a number": ("explain", sample, "--limit", "many"),
        "below the minimum": ("batch", t, "-o", f"{t}/out", "--jobs", "-1"),
        "option without its value": ("explain", sample, "-c"),
        "extra argument": ("explain", sample, "extra"),
        "unknown command": ("explian", sample),
        "connections of no capture": ("connections", f"{t}/text.pcap", "-f", "csv"),
        "connections to no folder": (
            "connections",
            sample,
            "-f",
            "csv",
            "-o",
            f"{t}/nowhere/c.csv",
        ),
        "doctor with an argument": ("doctor", "extra"),
    }


@pytest.mark.tshark
def test_every_bad_input_is_told_in_chinese(tmp_path: Path) -> None:
    """The shipped commands, in English and in Chinese: the same exit code, no traceback, and
    every Chinese line free of English words (the English lines are not: the check can fail)."""
    names = (str(tmp_path), str(SAMPLE), str(ROOT), "alice", "bob", "gina", "notes", "hs")
    names += ("notes.txt",)
    names += ("pionts", "fast", "many", "extra", "explian", "bogus", "connn")  # the user's words
    names += ("id", "title", "points", "select", "match", "expect", "feedback")  # a rubric's keys
    seen_english, cases = 0, _bad_inputs(tmp_path)
    for case, args in cases.items():
        code, out, err = _shipped(*args)
        zh_code, zh_out, zh_err = _shipped(*args, "--lang", "zh")
        assert zh_code == code != ExitStatus.OK, (case, code, zh_code, err, zh_err)
        assert "Traceback" not in err + zh_err, case
        assert zh_err.strip() or zh_out.strip(), case
        for line in (zh_out + zh_err).splitlines():
            assert english_words(line, names) == [], (case, line)
        seen_english += any(english_words(line, names) for line in (out + err).splitlines())
        if code == ExitStatus.USAGE:
            assert "pcapexplain: 错误: " in zh_err and "Error: " in err, case
        elif code == ExitStatus.ERROR:
            assert zh_err.startswith("pcapexplain: 错误: "), (case, zh_err)
    assert seen_english == len(cases)


@pytest.mark.tshark
def test_usage_errors_keep_the_usage_line_and_exit_2(tmp_path: Path) -> None:
    code, _, err = _shipped("explain", str(SAMPLE), "--reader", "fast", "--lang", "zh")
    assert code == ExitStatus.USAGE
    choices = "'fast' 不是可选的值之一（'auto', 'native', 'tshark'）"
    assert err.splitlines() == [
        "用法: pcapexplain explain [OPTIONS] {capture}",
        f"pcapexplain: 错误: '--reader' 的值无效：{choices}",
        "提示: 运行 'pcapexplain explain --help' 查看用法",
    ]
    # --lang=zh and an option before it count too; English stays click's own.
    code, _, err = _shipped("grade", "--lang=zh", str(tmp_path))
    assert code == ExitStatus.USAGE and "缺少选项 '--rubric' / '-r'" in err
    code, _, err = _shipped("grade", str(tmp_path))
    assert code == ExitStatus.USAGE
    assert err.endswith("Error: Missing option '--rubric' / '-r'.\n")


def test_a_batch_line_and_a_student_line_in_chinese(tmp_path: Path) -> None:
    from pcapexplain import terminal
    from pcapexplain.batch_model import CaptureRow, CaptureStatus

    fields = {f: None for f in CaptureRow.__dataclass_fields__}
    row = CaptureRow(
        **{**fields, "capture": "实验 一.pcap", "status": CaptureStatus.SKIPPED,
           "error": "不是抓包文件", "summary": None, "seconds": 0.0, "reused": False}
    )  # fmt: skip
    assert terminal.batch_line(row, Lang.ZH) == "已跳过   实验 一.pcap：不是抓包文件"
    assert terminal.batch_line(row, Lang.EN) == "skipped  实验 一.pcap: 不是抓包文件"


# ------------------------------------------------------------------------------- the catalogue


def _params(entry: object) -> set[str]:
    forms = [entry] if isinstance(entry, str) else list(entry.values())  # type: ignore[attr-defined]
    return {n for form in forms for _, n, _, _ in string.Formatter().parse(form) if n}


@pytest.mark.parametrize("table", ["error.", "hint.", "warning.", "cli."])
def test_every_diagnostic_text_exists_in_both_languages_with_the_same_params(table: str) -> None:
    english = {k: v for k, v in catalog(Lang.EN).items() if k.startswith(table)}
    chinese = {k: v for k, v in catalog(Lang.ZH).items() if k.startswith(table)}
    assert english.keys() == chinese.keys()
    for key, entry in english.items():
        assert _params(entry) == _params(chinese[key]), key


def test_keys_built_from_values_exist() -> None:
    from pcapexplain import pcapng
    from pcapexplain.batch_model import CaptureStatus

    keys = [f"cli.label.{s.value}" for s in CaptureStatus] + ["cli.label.graded"]
    keys += [f"cli.count.{s.value}" for s in CaptureStatus]
    keys += [pcapng._SHB, pcapng._ANY, pcapng._IDB, pcapng._SPB, pcapng._EPB, pcapng._PB]
    keys += tomlfile.TOMLLIB_WORDS.keys()
    keys += usage_errors.VALUE_WORDS.keys()
    for key in keys:
        for lang in Lang:
            assert key in catalog(lang), (key, lang)


@pytest.mark.parametrize(
    "code", [errno.ENOENT, errno.EACCES, errno.EISDIR, errno.ENOTDIR, errno.ENOSPC, errno.EROFS,
             errno.ENAMETOOLONG]
)  # fmt: skip
def test_the_common_os_errors_are_said_in_chinese_and_unchanged_in_english(code: int) -> None:
    reason = os_reason(OSError(code, os.strerror(code)))
    assert reason == os.strerror(code)  # English: the operating system's own words, as before
    assert english_words(in_lang(reason, Lang.ZH)) == []


def test_another_os_error_keeps_the_systems_words() -> None:
    reason = os_reason(OSError(errno.EMFILE, os.strerror(errno.EMFILE)))
    assert reason == "Too many open files"
    assert in_lang(reason, Lang.ZH) == "操作系统报告：Too many open files"


# Each of tomllib's messages, made by a TOML text that has it.
TOML_MISTAKES = {
    "value": "a = = 2",
    "expected_newline": "a = 1 b = 2",
    "table_end": "[t\nb = 1",
    "array_end": "[[t]\nb = 1",
    "expected_equals": "a 1",
    "declared_twice": "[t]\n[t]",
    "overwrite": "a = 1\na = 2",
    "immutable": "a = {b = 1}\na.c = 2",  # at the end of the file
    "key_start": "a. = 1",
    "unclosed_array": "a = [1, 2 3]",
    "duplicate_key": "a = {b = 1, b = 2}",
    "unclosed_table": "a = {b = 1 c = 2}",
    "backslash": 'a = "\\q"',
    "hex": 'a = "\\uZZZZ"',
    "not_scalar": 'a = "\\uD800"',
    "illegal_char": 'a = "x\x01"',
    "date": "a = 1979-02-30",
}


@pytest.mark.parametrize("key", sorted(TOML_MISTAKES))
def test_tomllib_messages_are_said_in_both_languages(key: str, tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text(TOML_MISTAKES[key] + "\n")
    with pytest.raises(RubricError) as caught:
        tomlfile.read_toml(path, RubricError)
    message = caught.value.message
    detail = message.params["message"].params["detail"]  # type: ignore[attr-defined]
    if detail.key == "error.toml.at_end":
        detail = detail.params["detail"]
    assert detail.key == f"error.toml.parse.{key}", message
    try:
        tomllib_words = __import__("tomllib").loads(path.read_text())
    except Exception as exc:  # noqa: BLE001 - tomllib's own words, to compare with ours
        tomllib_words = str(exc)
    assert str(detail) in str(tomllib_words)  # English: tomllib's own words, as before
    assert english_words(in_lang(message, Lang.ZH), (str(path),)) == [], in_lang(message, Lang.ZH)


def test_a_message_tomllib_may_add_is_shown_in_its_words() -> None:
    said_ = tomlfile.TOMLLIB_WORDS.said("Something new")
    assert said_ == "Something new"
    assert in_lang(said_, Lang.ZH) == "语法错误（Something new）"


def test_the_foreign_frames_are_counted_in_chinese() -> None:
    from pcapexplain import native

    text = native._foreign_text({"link layer": 2, "tunnels": 3})
    assert text == "frames in encapsulations the native reader does not follow " \
        "(link layer: 2, tunnels: 3)"  # fmt: skip
    assert in_lang(said("warning.foreign", frames=text), Lang.ZH).startswith(
        "内置读取器不解析的封装中的帧（链路层：2，隧道：3）"
    )


def test_the_progress_line_of_one_capture_in_both_languages() -> None:
    from pcapexplain.files import ReadStatus
    from pcapexplain.progress import CaptureProgress

    status = ReadStatus(size=3_000_000, frames=20_000, reading=True)
    english = CaptureProgress(status, live=False).line(2.0)
    assert english == (0, 0, "3.0 MB · 20,000 packets · 10,000 packets/s")
    chinese = CaptureProgress(status, lang=Lang.ZH, live=False).line(2.0)
    assert chinese == (0, 0, "3.0 MB · 20,000 个分组 · 每秒 10,000 个分组")
    status.reading, status.size, status.received = False, 0, 2_000
    assert CaptureProgress(status, live=False).line(1.0)[2] == "reading standard input: 2.0 KB"
    assert (
        CaptureProgress(status, lang=Lang.ZH, live=False).line(1.0)[2] == "正在读取标准输入：2.0 KB"
    )


def test_the_native_reader_gives_its_reasons_as_said_texts() -> None:
    """No format reason is an English literal: it would reach a Chinese user as it is."""
    import ast

    raised = {"UnsupportedCapture", "UnknownFormat", "CaptureFormatError", "_Stop"}
    checked, plain = 0, []
    for name in ("capfile.py", "pcapng.py"):
        tree = ast.parse((ROOT / "pcapexplain" / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            func = node.func if isinstance(node, ast.Call) else None
            if isinstance(func, ast.Name) and func.id in raised:
                checked += 1
                for arg in node.args:  # type: ignore[union-attr]
                    if isinstance(arg, ast.JoinedStr | ast.Constant):
                        plain.append((name, node.lineno))
    assert checked >= 25 and plain == []


@pytest.mark.parametrize(
    ("key", "params", "chinese"),
    [
        ("error.no_such_file", {"path": "实验.pcap"}, "找不到文件实验.pcap"),
        ("error.no_such_file", {"path": "/tmp/实验 一.pcap"}, "找不到文件 /tmp/实验 一.pcap"),
        ("error.not_capture_tshark", {"name": "实验 一"}, "实验 一不是 tshark 能读取的抓包文件"),
        ("error.not_capture_tshark", {"name": "lab.pcap"}, "lab.pcap 不是 tshark 能读取的抓包文件"),
        ("error.cannot_read", {"path": "实验", "reason": "无权限"}, "无法读取实验（无权限）"),
        (
            "error.at_line",
            {"path": "评分.toml", "line": 3, "message": "键"},
            "评分.toml 第 3 行：键",
        ),
    ],
)
def test_a_chinese_name_among_the_params_takes_no_space_beside_chinese_words(
    key: str, params: dict[str, object], chinese: str
) -> None:
    """The catalogue's spaces around a placeholder are for Latin words and numbers; a Chinese
    name there joins the sentence without one, and keeps the spaces of its own."""
    assert in_lang(said(key, **params), Lang.ZH) == chinese
    english = catalog(Lang.EN)[key]
    assert isinstance(english, str) and said(key, **params) == english.format(**params)
