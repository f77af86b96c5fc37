"""Explanations: every user-facing sentence of pcapexplain, read from one catalogue per language.

The texts live in ``texts/<lang>.toml`` (English ``en``, Simplified Chinese ``zh``), read once
through importlib.resources: a translator edits one data file and never reads Python, and a new
language is one new file plus its member in ``model.Lang``. TOML because Python reads it without a
dependency (tomllib) and it holds long, wrapped sentences legibly; gettext catalogues would add
Babel and a compile step for no gain at this size.

Key scheme (the same keys exist in every language; a test checks it):

- ``state.<TcpState name>``: the state's name and a one-line meaning.
- ``role.<PacketRole name>``: what a packet of that role does.
- ``handshake.<Handshake value>``, ``teardown.<Teardown value>``: a short label of the outcome;
  the same key plus ``.why``: what it means and why it matters.
- ``closer.<Closer value>``, ``severity.<Severity value>``: labels.
- ``anomaly.<slug>.title`` / ``.explain`` / ``.why``: an anomaly's name, what was seen (formatted
  with the params documented in ``anomalies.CATALOGUE``), and why it matters. Where a finding's
  wording depends on what the check computed, ``.explain.<value>`` (or ``.why.<value>``) holds the
  text for a param's value (a variant, a cause, a backoff); ``finding_texts`` picks it.
- ``concept.<id>.title`` / ``concept.<id>.body``: the teaching notes, ids listed in ``CONCEPTS``.
- ``narr.*``: the per-packet narrative (narrate.py), formatted with ``NARRATIVE_PARAMS``;
  ``narr.sum.*`` entries that are tables are counted (see ``plural``).
- ``who.*``, ``side.*``, ``dir.*``: the two endpoints and the two directions in running text.
- ``ui.*``: labels of the CLI and the report (the header line of ``explain`` is ``ui.connection``).
- ``short.handshake.*``, ``short.teardown.*``: the outcome in a table cell (English: the code).
- ``vantage.*``: where the capture was taken (``narrate.vantage_text``).
- ``[meta]``: the language's plural rule, whether it puts spaces between words and sentences
  (Chinese does not: a space a placeholder leaves between two Chinese words is dropped), and
  whether its report shows the English codes.
- ``batch.*``: labels of a batch's index page (it also uses the ``report.*`` labels it shares).
- ``error.*``, ``hint.*``, ``warning.*``: what goes wrong and what to do about it, said with
  ``said`` where it happens (errors.py, the readers) and shown by cli.py and a batch in the
  command's language; ``cli.*``: the words that mark those lines (``error``, ``hint``).
- ``[unit]`` (optional, not a key of the catalogue): counted nouns a template names after a
  number placeholder, ``{length:bytes}``, so that the number and its noun agree ("1 byte",
  "2 bytes"; see ``Sayer``). English needs them; Chinese, without grammatical number, writes the
  noun in the template and has none.
- ``[peers]`` (optional, not a key of the catalogue): translations of the words in what Wireshark
  and Zeek show for a finding (``peer``); the English originals live in the anomaly catalogue.

Chinese texts use the terms of Xie Xiren's textbook (三次握手, 四次挥手, 半关闭, 已失效的连接请求
报文段, 2MSL, 主动关闭/被动关闭, 序号, 确认号, 报文段, 全双工) and keep protocol names (SYN, ACK,
FIN, RST, TIME_WAIT, FIN_WAIT_1, ...) as they are.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Final

from pcapexplain.model import Lang

# Tables of a text file that are not catalogue keys.
_NOT_KEYED = frozenset({"meta", "peers", "unit"})
# Concept notes, in the order a reader should meet them.
CONCEPTS: Final[tuple[str, ...]] = (
    "three_way_handshake",
    "sequence_numbers",
    "stale_syn",
    "why_three_minimum",
    "simultaneous_open",
    "four_way_close",
    "close_states",
    "closing",
    "time_wait",
    "who_time_wait",
    "rst",
    "retransmission",
)

# Every narr.* template formats with (a subset of) these parameters; narrate.py passes them all,
# and every one is computed from the replay or the packets (none is a sentence of its own).
NARRATIVE_PARAMS: Final[tuple[str, ...]] = (
    "sender",  # who.client / who.server, already translated
    "receiver",
    "sender_before",  # the sender's state before the packet, by the replay (a TcpState name)
    "sender_after",
    "sender_passed",  # a state the sender passed through within the packet, or "-"
    "receiver_before",
    "receiver_after",
    "receiver_passed",
    "seq",  # sequence number relative to the sender's ISN (or first seen seq)
    "ack",  # acknowledgment number relative to the receiver's ISN, or "-" without ACK
    "seq_raw",
    "ack_raw",
    "length",  # payload bytes of this segment
    "syn_length",  # payload bytes the client's SYN carried (TCP Fast Open)
    "port",  # the server's port
    "flags",  # e.g. "SYN, FIN"
    "window",  # the raw window field
    "wait",  # seconds since the previous copy of a resent SYN or SYN-ACK
    "previous_wait",  # the wait before that one
    "answered_seq",  # the segment a RST answers: its seq and ack
    "answered_ack",
    "answered_length",  # its payload bytes (narr.seg_len_data only)
    "seg_len",  # its length in sequence numbers: payload + 1 per SYN or FIN (RFC 9293 §3.4)
    "seg_len_parts",  # what makes up seg_len, in words
    "previous_id",  # a reused port pair: the connection that used it before (narr.reuse_*)
    "old_side",  # who of it went through TIME_WAIT, and its state at the end
    "old_state",
    "gap",  # seconds from its last packet to this SYN
    "old_next",  # the last sequence number this side used in it
    "isn_gap",  # the distance from old_next to the new ISN
    "tsval",  # this SYN's timestamp value and the newest of the old connection's
    "old_tsval",
    "resent_ms",  # a resent segment: milliseconds since the copy before it
    "dup_acks",  # duplicate ACKs and ACKs with SACK blocks from the receiver in between
    "sack_acks",
    "cut",  # ... and its segments in between whose TCP options the snapshot length cut
    "rtts",  # the delay in handshake round trips, and that round trip in milliseconds
    "rtt_ms",
    "titles",  # anomaly titles, joined (narr.flagged only)
)


# How each language picks the form of a counted text ([meta] plural in its file).
PLURAL_RULES: Final[Mapping[str, Callable[[float], str]]] = {
    "one_other": lambda n: "one" if n == 1 else "other",  # English
    "other": lambda n: "other",  # Chinese: no grammatical number
}

Entry = str | Mapping[str, str]


# A table's header line. A text file is cut at these and each table parsed when a text of it is
# first needed: a command that says one line ("Wrote 31,768 connections to out.csv") parsed the
# whole 140 KB file for it, a few hundredths of a second. (Every header is a top-level table's;
# a test checks that the cut file reads as the whole.)
_HEADER = re.compile(r"^\[([A-Za-z_]+)\][ \t]*(?:#.*)?$", re.MULTILINE)


@cache
def _sections(lang: Lang) -> dict[str, str]:
    """lang's text file by table: each table's TOML, its header included."""
    path = resources.files("pcapexplain").joinpath("texts", f"{Lang(lang).value}.toml")
    source = path.read_text(encoding="utf-8")
    headers = list(_HEADER.finditer(source))
    ends = [h.start() for h in headers[1:]] + [len(source)]
    return {h.group(1): source[h.start() : end] for h, end in zip(headers, ends, strict=True)}


@cache
def _table(lang: Lang, head: str) -> dict[str, Entry]:
    """The table `head` of lang's text file ({} when it has none)."""
    import tomllib  # here: a run that says nothing needs neither it nor its patterns

    section = _sections(lang).get(head)
    if section is None:
        return {}
    table: dict[str, Entry] = tomllib.loads(section)[head]
    return table


class _Catalogue(Mapping[str, Entry]):
    """catalog(lang): a text looked up parses its table only."""

    def __init__(self, lang: Lang) -> None:
        self.lang = lang

    def __getitem__(self, key: str) -> Entry:
        head, _, rest = key.partition(".")
        if head in _NOT_KEYED or rest not in (table := _table(self.lang, head)):
            raise KeyError(key)
        return table[rest]

    def __iter__(self) -> Iterator[str]:
        for head in _sections(self.lang):
            if head not in _NOT_KEYED:
                yield from (f"{head}.{rest}" for rest in _table(self.lang, head))

    def __len__(self) -> int:
        return sum(1 for _ in self)


@cache
def catalog(lang: Lang) -> Mapping[str, Entry]:
    """Every text of lang by its flat key ("state.CLOSED"); counted texts map form -> text."""
    return _Catalogue(Lang(lang))


def plural_rule(lang: Lang) -> str:
    """The name of lang's plural rule, a key of PLURAL_RULES."""
    rule = str(_table(lang, "meta")["plural"])
    if rule not in PLURAL_RULES:
        raise KeyError(f"unknown plural rule {rule!r} in texts/{lang}.toml")
    return rule


class Sayer(string.Formatter):
    """str.format for lang's templates, plus one form: {name:unit} says the number under name
    with the counted noun [unit] unit of lang, in the form lang's plural rule picks for it
    ("{length:bytes}": "1 byte", "1460 bytes"). The number keeps the form the caller gave it
    (a str such as "1,460" too); a spec that names no unit is an ordinary format spec."""

    def __init__(self, lang: Lang) -> None:
        super().__init__()
        self.units = _table(lang, "unit")
        self.rule = PLURAL_RULES[plural_rule(lang)]

    def format_field(self, value: object, format_spec: str) -> str:
        forms = self.units.get(format_spec)
        if not isinstance(forms, Mapping):
            return str(super().format_field(value, format_spec))
        return str(forms[self.rule(_number(value))]).format(count=value)


def _number(value: object) -> float:
    """The number a value says, for choosing its noun's form; "-" (none) reads as 0 (plural)."""
    try:
        return float(str(value).replace(",", ""))
    except ValueError:
        return 0.0


@cache
def sayer(lang: Lang) -> Sayer:
    """The formatter of lang's templates (Sayer), made once."""
    return Sayer(lang)


def _format(lang: Lang, template: str, params: Mapping[str, object]) -> str:
    """template filled with params by Sayer when it has a format spec (a unit), else by
    str.format, which is several times faster for the many templates without one."""
    if _has_spec(template):
        return sayer(lang).vformat(template, (), params)
    return template.format(**params)


@cache
def _has_spec(template: str) -> bool:
    return any(spec for _, _, spec, _ in string.Formatter().parse(template))


# A space between two Chinese characters or full-width signs: left where a placeholder took a
# Chinese word ("保持 {state}" with 未知), and wrong in a language that writes no spaces.
_HAN = "[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef“”]"


@cache
def _han_gap() -> re.Pattern[str]:
    """The pattern of such a space, compiled when Chinese is first said: its ranges take a few
    milliseconds to compile, which every run paid at start-up."""
    return re.compile(f"(?<={_HAN}) (?={_HAN})")


def spaced(lang: Lang) -> bool:
    """Whether lang separates words and sentences with spaces ([meta] spaced)."""
    return bool(_table(lang, "meta")["spaced"])


def sentences(lang: Lang, parts: Iterable[str]) -> str:
    """Sentences run together as lang writes them: a space between them in English, none in
    Chinese."""
    return (" " if spaced(lang) else "").join(parts)


def _typeset(lang: Lang, filled: str) -> str:
    return filled if spaced(lang) else _han_gap().sub("", filled)


def shows_codes(lang: Lang) -> bool:
    """Whether lang's report shows pcapexplain's codes (outcome values, anomaly slugs) beside
    their labels ([meta] codes): they are English words, so a Chinese page shows labels only."""
    return bool(_table(lang, "meta")["codes"])


def text(lang: Lang, key: str, **params: object) -> str:
    """The sentence under key in lang, formatted with params.

    Raises KeyError for an unknown key, a counted key (use plural), or a parameter the template
    needs and did not get: a missing text is a bug to fix, never papered over with another language.
    """
    entry = catalog(lang)[key]
    if not isinstance(entry, str):
        raise KeyError(f"{key} is a counted text: use plural()")
    return _typeset(lang, _format(lang, entry, params))


def plural(lang: Lang, key: str, count: int, **params: object) -> str:
    """The counted text under key in the form lang's plural rule picks for count.

    The count reaches the template as {count}, formatted with thousands separators.
    """
    entry = catalog(lang)[key]
    if isinstance(entry, str):
        raise KeyError(f"{key} is not a counted text: use text()")
    form = PLURAL_RULES[plural_rule(lang)](count)
    return _typeset(lang, _format(lang, entry[form], {**params, "count": f"{count:,}"}))


def peer(lang: Lang, slug: str, tool: str, original: str) -> str:
    """What another tool shows for a finding, in lang: the catalogue's English original unless
    lang's [peers] table translates its words (names and filters stay as they are)."""
    translated = _table(lang, "peers").get(f"{slug}.{tool}")
    return original if translated is None else str(translated)


def reader_name(lang: Lang, reader: str, read_by: str) -> str:
    """Which reader read a capture, in lang: tshark keeps its name and version."""
    return text(lang, "ui.native_reader") if reader == "native" else read_by


def has(lang: Lang, key: str) -> bool:
    """Whether lang has a text under key (for optional keys such as an anomaly's explanation)."""
    return key in catalog(lang)


def ui_texts(lang: Lang, prefix: str) -> dict[str, str]:
    """The plain texts under prefix ("report."), keyed by the rest of their key."""
    return {
        key[len(prefix) :]: value
        for key, value in catalog(lang).items()
        if key.startswith(prefix) and isinstance(value, str)
    }


def finding_texts(lang: Lang, slug: str, params: Mapping[str, object]) -> tuple[str, str]:
    """(what was seen, why it matters) for a finding, chosen by what its check computed.

    For each part, the first param whose value names a variant text (``anomaly.<slug>.explain.
    <value>``) selects it, else the plain text is used; floats are shown to the millisecond.
    Missing texts give "" (a slug may have no explanation yet).
    """
    shown = {k: f"{v:.3f}" if isinstance(v, float) else v for k, v in params.items()}
    parts = []
    for part in ("explain", "why"):
        base = f"anomaly.{slug}.{part}"
        keys = [f"{base}.{v}" for v in params.values() if isinstance(v, str)] + [base]
        key = next((k for k in keys if has(lang, k)), None)
        parts.append(text(lang, key, **shown) if key else "")
    return parts[0], parts[1]


class Said(str):
    """A catalogue text said in English, which keeps its key and params to be said again in the
    user's language (``in_lang``): errors, hints and warnings are made deep in the library, which
    knows no language, and shown by cli.py or a batch, which do. Being a str, it reads as the
    English text everywhere else (``.message``, logs, library users).

    A param may itself be Said (a word such as "a folder"): it is said in the same language.
    Texts are not typeset (``_typeset``): a file name among the params keeps its spaces.
    """

    key: str
    params: dict[str, object]

    def __new__(cls, key: str, params: Mapping[str, object]) -> Said:
        said_ = super().__new__(cls, _say(Lang.EN, key, params))
        said_.key, said_.params = key, dict(params)
        return said_

    def __reduce__(self) -> tuple[type[Said], tuple[str, dict[str, object]]]:
        return (Said, (self.key, self.params))  # a worker's error crosses to the parent intact


def said(key: str, /, **params: object) -> Said:
    """The text under key, in English, able to be said again in any language (see Said).

    A counted text takes its number as ``count``. Raises KeyError for an unknown key or a
    missing param, at once: a broken error message is found when it is made, not shown.
    """
    return Said(key, params)


def say(lang: Lang, key: str, **params: object) -> str:
    """The text under key said in lang, as a line of output says it: a file name among params
    keeps its spaces (the text is not typeset, unlike text())."""
    return in_lang(said(key, **params), lang)


def said_list(parts: Sequence[Said]) -> Said:
    """Said texts listed ("a, b, c"; Chinese "a，b，c"), said again as one (error.list)."""
    joined = parts[0]
    for part in parts[1:]:
        joined = said("error.list", head=joined, tail=part)
    return joined


class ForeignWords:
    """Another program's English messages (tomllib's, click's), each said again from the
    catalogue: the text under prefix.<name> of the first pattern that matches the whole message,
    with the pattern's named groups as params; a message no pattern knows is prefix.other, which
    shows it (its param detail) in the program's words."""

    def __init__(self, prefix: str, patterns: Iterable[tuple[str, str]]) -> None:
        self.prefix = prefix
        self.patterns = tuple((re.compile(pattern), name) for pattern, name in patterns)

    def keys(self) -> list[str]:
        return [f"{self.prefix}.{name}" for _, name in self.patterns] + [f"{self.prefix}.other"]

    def said(self, message: str) -> Said:
        for pattern, name in self.patterns:
            found = pattern.fullmatch(message)
            if found:
                return said(f"{self.prefix}.{name}", **found.groupdict())
        return said(f"{self.prefix}.other", detail=message)


def in_lang(value: str, lang: Lang) -> str:
    """value in lang when it is Said; any other text (the OS's or tshark's words) as it is."""
    return _say(lang, value.key, value.params) if isinstance(value, Said) else value


def _say(lang: Lang, key: str, params: Mapping[str, object]) -> str:
    shown = {k: in_lang(v, lang) if isinstance(v, str) else v for k, v in params.items()}
    entry = catalog(lang)[key]
    if isinstance(entry, str):
        return _fill(lang, entry, shown)
    count = params["count"]
    assert isinstance(count, int), key
    form = PLURAL_RULES[plural_rule(lang)](count)
    return _fill(lang, entry[form], {**shown, "count": f"{count:,}"})


def _fill(lang: Lang, template: str, params: Mapping[str, object]) -> str:
    """template.format(**params); in a language without spaces, a template's space beside a
    placeholder goes when the value there starts or ends with a Chinese word and the template's
    side is Chinese too ("找不到文件 {path}" with 实验.pcap). The values' own spaces stay."""
    if spaced(lang):
        return _format(lang, template, params)
    formatter = sayer(lang)
    pieces: list[str] = []
    literal_at: list[bool] = []
    for literal, field, spec, conversion in formatter.parse(template):
        pieces.append(literal)
        literal_at.append(True)
        if field is not None:
            value = formatter.convert_field(formatter.get_field(field, (), params)[0], conversion)
            pieces.append(formatter.format_field(value, spec or ""))
            literal_at.append(False)
    for i, piece in enumerate(pieces):
        if not literal_at[i]:
            continue
        before = pieces[i - 1][-1:] if i > 0 else ""
        after = pieces[i + 1][:1] if i + 1 < len(pieces) else ""
        if piece.startswith(" ") and _han(before) and _han(piece[1:2] or after):
            piece = piece[1:]
        if piece.endswith(" ") and _han(after) and _han(piece[-2:-1] or before):
            piece = piece[:-1]
        pieces[i] = piece
    return "".join(pieces)


def _han(char: str) -> bool:
    return bool(char) and _han_char().fullmatch(char) is not None


@cache
def _han_char() -> re.Pattern[str]:
    return re.compile(_HAN)  # compiled when first needed, as _han_gap
