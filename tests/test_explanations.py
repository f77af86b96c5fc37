"""The teaching texts: every vocabulary member and concept has a text in both languages."""

from __future__ import annotations

import re
import string
import tomllib
from enum import Enum
from importlib import resources

import pytest

from pcapexplain import anomalies, explanations
from pcapexplain.explanations import (
    CONCEPTS,
    NARRATIVE_PARAMS,
    PLURAL_RULES,
    catalog,
    peer,
    plural,
    plural_rule,
    text,
)
from pcapexplain.grading import VERDICT_PARAMS, ItemKind, Status
from pcapexplain.integrity import IntegrityFlag
from pcapexplain.marking import Problem
from pcapexplain.model import (
    AnomalySlug,
    Closer,
    Handshake,
    Lang,
    PacketRole,
    Severity,
    TcpState,
    Teardown,
)
from pcapexplain.questions import QuestionKind, Reason

LANGUAGES = tuple(Lang)
# The plain (uncounted) texts of each language; counted ones are checked on their own below.
CATALOG = {
    lang: {k: v for k, v in catalog(lang).items() if isinstance(v, str)} for lang in LANGUAGES
}
COUNTED = {
    lang: {k: v for k, v in catalog(lang).items() if not isinstance(v, str)} for lang in LANGUAGES
}
CJK = re.compile(r"[\u4e00-\u9fff]")
# Templates whose text is the same in every language (arrows, protocol names, placeholders only).
LANGUAGE_NEUTRAL = {
    "cli.line.failed",  # a name and its error, or a list: punctuation only
    "error.list",
    "error.foreign_part",
    "rubric.ui.labelled",
    "narr.side_change",
    "narr.side_passed",
    "ui.path_sep",
    "narr.sum.and",
    "report.fact.sha256",
    "report.fact.version",
    "report.fact.zeek",
    "report.col.time_wait",
    "table.col.time_wait",
    "doctor.pcapexplain",  # a version and Python's: punctuation only
    "report.option.mss",
    "report.colon",
    "report.list_sep",
    "ui.list_sep",
    "ui.bytes",
    "report.ladder_seq",
    "report.ladder_ack",
    "report.ladder_len",
    "error.in_file",
    "error.named",
}
REPORT_PARAMS = {
    "report.fact.copies_left_out": {"shown", "count"},
    "report.left_out": {"count"},
    "report.left_out_severe": {"count", "limit"},
    "report.band": {"frames", "count", "size"},
    "report.raw_rel": {"raw", "rel"},
    "report.states_line": {"client_before", "client_after", "server_before", "server_after"},
    "report.more_frames": {"count"},
    "report.seconds": {"seconds"},
    "report.ms": {"ms"},
    "report.traffic": {"up", "up_bytes", "down", "down_bytes"},
    "report.ladder_seq": {"value"},
    "report.ladder_ack": {"value"},
    "report.ladder_len": {"value"},
}
BATCH_PARAMS = {
    "batch.hint": {"hint"},
    "batch.warning": {"warning"},
    "batch.interrupted": {"done", "total"},
}
SUMMARY_PARAMS = {"count", "amount", "frames"}  # frames: the frame numbers a count names
GRADING_PARAMS = {
    "rubric.ui.score": {"earned", "possible"},
    "rubric.ui.not_graded": {"points"},
    "rubric.ui.connection": {"id"},
    "rubric.ui.frames_in": {"frames", "id"},
    "rubric.ui.about": {"shown", "total"},
    "rubric.ui.about_none": {"total"},
    "rubric.ui.shown_of": {"shown", "total"},
    "rubric.ui.labelled": {"label", "value"},
    "rubric.note.unknown_answer": {"id", "hint"},
    "rubric.req.none_selected": {"select"},
    "rubric.show.sequence": {"raw", "relative"},
    "rubric.show.cited": {"value", "frames"},
    "grade.window": {"opens", "closes"},
}
UI_PARAMS = {
    "ui.frame": {"frame"},
    "ui.frames": {"first", "last"},
    "ui.time": {"seconds"},
    "ui.connection": {"id", "client", "server", "handshake", "teardown", "packets", "duration"},
    "ui.closed_first": {"who"},
    "ui.time_wait": {"who"},
    "ui.bytes": {"count"},
    "ui.paths": {"client", "server"},
    "ui.paths_self": {"path"},
    "ui.read_by": {"reader"},
    "ui.icmp": {"frame", "seconds", "kind", "type", "code", "reporter", "source", "sender", "seq"},
}


# Errors, hints and warnings (explanations.said), the words that mark them on stderr, and the
# lines of the commands that say their output (explanations.say): the connections table, doctor.
SAID_PREFIXES = ("error.", "hint.", "warning.", "cli.", "table.", "doctor.")
COUNTED_SAID = {"warning.times": {"count"}}


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def enum_keys(prefix: str, members: type[Enum], attr: str) -> list[str]:
    return [f"{prefix}.{getattr(member, attr)}" for member in members]


def anomaly_params() -> dict[str, set[str]]:
    """The params each slug's explanation may use, as anomalies.CATALOGUE documents them."""
    return {str(slug): set(entry.params) for slug, entry in anomalies.CATALOGUE.items()}


def allowed_params(key: str) -> set[str]:
    if key.startswith(SAID_PREFIXES):  # said where they happen: test_errors checks each call
        return placeholders(CATALOG["en"].get(key, "")) or COUNTED_SAID.get(key, set())
    if key.startswith("anomaly.") and key.count(".") == 3:  # anomaly.<slug>.<part>.<value>
        return anomaly_params().get(key.split(".")[1], set())
    if key.startswith("narr.sum."):
        return SUMMARY_PARAMS
    if key == "narr.states":
        return {"client", "server"}
    if key == "narr.states_self":
        return {"moves"}
    if key in ("narr.side_change", "narr.side_same", "narr.side_passed"):
        return {"side", "before", "after", "state", "passed"}
    if key.startswith("narr."):
        return set(NARRATIVE_PARAMS)
    if key.startswith("ui."):
        return UI_PARAMS.get(key, set())
    if key.startswith("report."):
        return REPORT_PARAMS.get(key, set())
    if key.startswith("vantage."):
        return {"syn_synack", "synack_ack", "total", "client", "server", "lean"}
    if key.startswith("batch."):
        return BATCH_PARAMS.get(key, set())
    if key.startswith("rubric.verdict."):
        return set(VERDICT_PARAMS)
    if key.startswith("rubric.req."):
        return GRADING_PARAMS.get(key, {"connection", "client", "server"})
    if key.startswith("grade.flag.") and key.endswith(".explain"):
        return {"others", "window", "select"}
    if key.startswith(("rubric.", "grade.")):
        return GRADING_PARAMS.get(key, set())
    if key.startswith("anomaly.") and key.endswith(".explain"):
        return anomaly_params().get(key.split(".")[1], set())
    return set()


REQUIRED = [
    *enum_keys("state", TcpState, "name"),
    *enum_keys("role", PacketRole, "name"),
    *enum_keys("handshake", Handshake, "value"),
    *(f"{k}.why" for k in enum_keys("handshake", Handshake, "value")),
    *enum_keys("teardown", Teardown, "value"),
    *(f"{k}.why" for k in enum_keys("teardown", Teardown, "value")),
    *enum_keys("closer", Closer, "value"),
    *enum_keys("severity", Severity, "value"),
    *(
        f"anomaly.{slug.value}.{part}"
        for slug in AnomalySlug
        for part in ("title", "explain", "why")
    ),
    *(f"concept.{cid}.{part}" for cid in CONCEPTS for part in ("title", "body")),
    *(f"rubric.q.{kind.value}.{part}" for kind in QuestionKind for part in ("title", "explain")),
    *(f"rubric.reason.{reason.value}" for reason in Reason),
    *(f"rubric.verdict.{problem.value}" for problem in Problem),
    *(f"rubric.status.{status.value}" for status in Status),
    *(f"rubric.kind.{kind.value}" for kind in ItemKind),
    *(f"grade.flag.{flag.value}{part}" for flag in IntegrityFlag for part in ("", ".explain")),
]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_vocabulary_member_and_concept_has_a_text(lang: Lang) -> None:
    missing = [key for key in REQUIRED if not CATALOG[lang].get(key, "").strip()]
    assert missing == []


def test_every_language_has_one_catalogue_file_and_the_same_keys() -> None:
    files = resources.files("pcapexplain").joinpath("texts")
    shipped = {p.name.removesuffix(".toml") for p in files.iterdir() if p.name.endswith(".toml")}
    assert shipped == {lang.value for lang in Lang}
    for lang in LANGUAGES:
        assert set(catalog(lang)) == set(catalog(Lang.EN)), lang
        assert set(COUNTED[lang]) == set(COUNTED[Lang.EN]), lang


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_text_file_cut_into_its_tables_reads_as_the_whole(lang: Lang) -> None:
    """Each table is parsed when first needed (explanations._table): the tables together must be
    the whole file, nothing before the first header nor inside a text taken for a header."""
    whole = tomllib.loads(
        resources.files("pcapexplain").joinpath("texts", f"{lang.value}.toml").read_text("utf-8")
    )
    heads = list(explanations._sections(lang))
    assert heads == list(whole)
    assert {head: explanations._table(lang, head) for head in heads} == whole
    flat = {
        f"{h}.{k}": v
        for h, t in whole.items()
        if h not in {"meta", "peers", "unit"}
        for k, v in t.items()
    }
    assert dict(catalog(lang)) == flat
    assert "meta.plural" not in catalog(lang) and "no_such_table.key" not in catalog(lang)
    with pytest.raises(KeyError, match="cli.no_such_key"):
        catalog(lang)["cli.no_such_key"]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_counted_texts_have_the_forms_of_their_language(lang: Lang) -> None:
    rule = PLURAL_RULES[plural_rule(lang)]
    forms = {rule(n) for n in range(0, 1001)}
    for key, entry in COUNTED[lang].items():
        assert set(entry) == forms, key
        for form, template in entry.items():
            assert placeholders(template) <= SUMMARY_PARAMS, (key, form)
    assert plural(Lang.EN, "narr.sum.data", 1) == "1 data segment"
    assert plural(Lang.EN, "narr.sum.data", 1234) == "1,234 data segments"
    assert plural(Lang.ZH, "narr.sum.data", 2) == "2 个数据报文段"


def test_counted_and_plain_texts_are_not_confused() -> None:
    with pytest.raises(KeyError):
        text(Lang.EN, "narr.sum.data", count=2)
    with pytest.raises(KeyError):
        plural(Lang.EN, "state.CLOSED", 2)


def test_no_stray_concept_or_anomaly_keys() -> None:
    """A concept or anomaly text nobody can reach is a typo in its key."""
    slugs = {slug.value for slug in AnomalySlug}
    for key in CATALOG["en"]:
        kind, _, rest = key.partition(".")
        if kind == "concept":
            assert rest.rsplit(".", 1)[0] in CONCEPTS, key
        if kind == "anomaly":
            slug, part, *variant = rest.split(".")
            assert slug in slugs and part in ("title", "explain", "why"), key
            if variant:  # a text for one value of a documented param
                values = {
                    v for vs in anomalies.CATALOGUE[AnomalySlug(slug)].values.values() for v in vs
                }
                assert variant == [variant[0]] and variant[0] in values, key


def test_both_languages_use_the_same_placeholders() -> None:
    for key, english in CATALOG["en"].items():
        assert placeholders(CATALOG["zh"][key]) == placeholders(english), key


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_template_formats_with_its_documented_params(lang: Lang) -> None:
    for key, template in CATALOG[lang].items():
        allowed = allowed_params(key)
        assert placeholders(template) <= allowed, key
        rendered = text(lang, key, **{name: "X" for name in allowed})
        assert "{" not in rendered and "}" not in rendered, key


def test_anomaly_explanations_use_the_catalogue_params() -> None:
    documented = anomaly_params()
    assert set(documented) == {slug.value for slug in AnomalySlug}
    for slug, params in documented.items():
        for lang in LANGUAGES:
            values = dict.fromkeys(params, 7)
            rendered = text(lang, f"anomaly.{slug}.explain", **values)
            assert rendered.strip(), (lang, slug)


def test_missing_key_or_param_raises_instead_of_falling_back() -> None:
    with pytest.raises(KeyError):
        text("zh", "state.NO_SUCH_STATE")
    with pytest.raises(KeyError):
        text("en", "narr.hs_ack")  # needs {ack}
    with pytest.raises(ValueError):
        text("fr", "state.CLOSED")  # type: ignore[arg-type]
    assert explanations.has("en", "state.CLOSED")
    assert not explanations.has("en", "state.NO_SUCH_STATE")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_state_texts_keep_the_rfc_name(lang: Lang) -> None:
    for state in TcpState:
        # UNKNOWN is pcapexplain's word, not an RFC name: each language says it in its own.
        name = text(lang, "narr.unknown_state") if state is TcpState.UNKNOWN else state.name
        assert text(lang, f"state.{state.name}").startswith(name), state


def test_chinese_is_translated_not_copied() -> None:
    """Every Chinese text with words in it contains Chinese characters."""
    for key, chinese in CATALOG["zh"].items():
        if key in LANGUAGE_NEUTRAL or not re.search(r"[A-Za-z]{3}", CATALOG["en"][key]):
            continue
        if placeholders(chinese) and not re.sub(r"\{\w+\}", "", chinese).strip(" →"):
            continue
        assert CJK.search(chinese), key


@pytest.mark.parametrize(
    ("concept", "terms"),
    [
        ("three_way_handshake", ["三次握手", "确认号", "序号"]),
        ("stale_syn", ["已失效的连接请求报文段", "RST", "三次握手"]),
        ("why_three_minimum", ["UDP", "已失效的连接请求报文段"]),
        ("four_way_close", ["四次挥手", "半关闭", "全双工"]),
        ("close_states", ["主动关闭", "被动关闭", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT"]),
        ("time_wait", ["2MSL", "TCP_TIMEWAIT_LEN", "tcp_fin_timeout", "FIN_WAIT_2", "60 秒"]),
        ("who_time_wait", ["主动关闭", "同时关闭", "TIME_WAIT"]),
        ("rst", ["SO_LINGER", "RST", "拒绝"]),
        ("sequence_numbers", ["序号", "确认号", "ISN"]),
    ],
)
def test_chinese_concepts_use_the_textbook_terms(concept: str, terms: list[str]) -> None:
    body = text("zh", f"concept.{concept}.body") + text("zh", f"concept.{concept}.title")
    for term in terms:
        assert term in body, term


def test_english_time_wait_corrects_the_fin_timeout_misconception() -> None:
    body = text("en", "concept.time_wait.body")
    assert "2 minutes" in body and "60 seconds" in body
    assert "TCP_TIMEWAIT_LEN" in body and "tcp_fin_timeout" in body and "FIN_WAIT_2" in body


def test_handshake_concept_uses_the_phone_call_analogy() -> None:
    assert "Can you hear me?" in text("en", "concept.three_way_handshake.body")
    assert "听得到" in text("zh", "concept.three_way_handshake.body")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_texts_have_clean_whitespace(lang: Lang) -> None:
    for key, value in CATALOG[lang].items():
        if key.endswith(("sum.and", "sum.sep", "path_sep", "colon", "list_sep", "did_you_mean")):
            continue  # separators: their spaces are the point
        assert value == value.strip(), key
        assert "  " not in value, key
        if lang == "zh":
            assert not re.search(r" [，。；：、）]|[，。；：、（] ", value), key


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translated_peers_keep_every_name_the_original_shows(lang: Lang) -> None:
    """A [peers] entry translates the words of a catalogue peer; the filter fields, Zeek names
    and codes a reader types into Wireshark or greps in a log stay exactly as they are."""
    table = tomllib.loads(
        resources.files("pcapexplain").joinpath(f"texts/{lang.value}.toml").read_text("utf-8")
    ).get("peers", {})
    names = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[._][A-Za-z0-9]+)+|\b[A-Z]+[0-9]\b|\bREJ\b")
    for key, translated in table.items():
        slug, tool = key.split(".")
        spec = anomalies.CATALOGUE[AnomalySlug(slug)]
        original = spec.wireshark_peer if tool == "wireshark" else spec.zeek_peer
        assert tool in ("wireshark", "zeek") and original != "-", key
        for name in names.findall(original):
            assert name in translated, (key, name)
        assert peer(lang, slug, tool, original) == translated
    assert peer(lang, "retransmission", "wireshark", "tcp.analysis.retransmission") == (
        "tcp.analysis.retransmission"
    )


# ------------------------------------------------------------------ number agreement (English)

# Nouns a number counts in the texts; a verb such as "answers" is not one.
COUNT_NOUNS = (
    "bytes|packets|segments|connections|captures|copies|times|ACKs|messages|points|students"
    "|errors|subfolders|values|frames|files|reports|findings|warnings|retransmissions|probes"
    "|tries|SYNs|rows|lines|questions|octets|keep-alives|seconds|minutes|hours|round trips"
)
# A placeholder with no unit, then at most one word ("more", "duplicate"), then such a noun.
BARE_NUMBER_NOUN = re.compile(r"\{(\w+)\}(?: [\w-]+)? (?:" + COUNT_NOUNS + r"|\w+\(s\))(?![\w(])")


def units(lang: Lang) -> dict[str, dict[str, str]]:
    """lang's [unit] table: the counted nouns a template names as {number:unit}."""
    path = resources.files("pcapexplain").joinpath(f"texts/{lang.value}.toml")
    table: dict[str, dict[str, str]] = tomllib.loads(path.read_text("utf-8")).get("unit", {})
    return table


def templates(lang: Lang) -> list[tuple[str, str]]:
    """(key, template) for every text of lang, each form of a counted text included."""
    return [
        (key, template)
        for key, entry in catalog(lang).items()
        for template in ([entry] if isinstance(entry, str) else entry.values())
    ]


def unit_fields(template: str) -> dict[str, str]:
    """{placeholder: unit} of the placeholders a template says with a counted noun."""
    return {name: spec for _, name, spec, _ in string.Formatter().parse(template) if name and spec}


def test_no_english_number_stands_before_a_plural_noun_it_does_not_count() -> None:
    """ "{length} bytes" says "1 bytes": a number said with a noun names its [unit] instead. In a
    counted text ({ one, other }) the {count} of the "other" form is plural by choice."""
    bare = [
        (key, found.group(0))
        for key, template in templates(Lang.EN)
        for found in BARE_NUMBER_NOUN.finditer(template)
        if isinstance(catalog(Lang.EN)[key], str) or found.group(1) != "count"
    ]
    assert bare == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_units_have_the_forms_of_their_language_and_every_named_unit_exists(lang: Lang) -> None:
    rule = PLURAL_RULES[plural_rule(lang)]
    forms = {rule(n) for n in range(0, 1001)}
    for unit, entry in units(lang).items():
        assert set(entry) == forms, unit
        assert all(placeholders(t) == {"count"} for t in entry.values()), unit
    named = {spec for _, t in templates(lang) for spec in unit_fields(t).values()}
    assert named <= set(units(lang)), named - set(units(lang))


def test_english_units_are_singular_for_one_and_plural_otherwise() -> None:
    plural_noun = re.compile(r"\b(?:" + COUNT_NOUNS + r")\b")
    for unit, entry in units(Lang.EN).items():
        assert not plural_noun.search(entry["one"]), unit
        assert plural_noun.search(entry["other"]), unit


def test_every_english_number_with_a_noun_agrees_with_1_and_with_2() -> None:
    """Each text that says a number with its noun, rendered with 1 and with 2 (its other params
    filled with a word), says "1 byte" and "2 bytes"."""
    one = re.compile(r"\b1 (?:[\w-]+ ){0,2}?(?:" + COUNT_NOUNS + r")\b")
    two = re.compile(r"\b2 (?:[\w-]+ ){0,2}?(?:" + COUNT_NOUNS + r")\b")
    checked = 0
    for key, template in templates(Lang.EN):
        counted = unit_fields(template)
        if not counted:
            continue
        for n, agrees in ((1, one.search), (2, two.search)):
            params: dict[str, object] = dict.fromkeys(placeholders(template), "x")
            params.update(dict.fromkeys(counted, n))
            said_n = explanations.sayer(Lang.EN).format(template, **params)
            assert bool(agrees(said_n)) == (n == 2), (key, said_n)
        checked += 1
    assert checked >= 40  # the sentences with bytes, packets, connections, tries, ...
    assert text(Lang.EN, "narr.carries_data", length=1) == "It also carries 1 byte of data."
    assert text(Lang.EN, "narr.carries_data", length=1460) == "It also carries 1460 bytes of data."
    assert text(Lang.ZH, "narr.carries_data", length=1) == "它还携带了 1 字节数据。"
