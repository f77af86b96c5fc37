"""Discovery, the first stage of a batch: which files in a folder are captures, and the safe,
unique name each capture's outputs get.

A file is a capture when its first bytes say so (pcap in either byte order, with microsecond or
nanosecond timestamps; pcapng; gzip of any of these), whatever its name. A file whose name says
capture (`.pcap`, `.pcapng`, `.cap`, optionally `.gz`) but whose content does not is still handed
to the analysis, so that it gets the same error as on its own. Every other file is skipped, with
the reason. Hidden folders (`.git`, the batch's own state) are not searched.

Only the first bytes of each file are read; `output_stems` is pure.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import struct
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath

from pcapexplain.errors import os_reason
from pcapexplain.explanations import said


class CaptureFormat(StrEnum):
    """What a capture file's first bytes say it is."""

    PCAP = "pcap"  # libpcap, microsecond timestamps, either byte order
    PCAP_NS = "pcap-ns"  # libpcap, nanosecond timestamps, either byte order
    PCAPNG = "pcapng"  # Section Header Block first
    UNKNOWN = "unknown"  # only the file name says capture


# libpcap magic numbers as they appear on disk in each byte order (pcap-savefile(5)).
_PCAP_MAGIC = {
    b"\xa1\xb2\xc3\xd4": CaptureFormat.PCAP,
    b"\xd4\xc3\xb2\xa1": CaptureFormat.PCAP,
    b"\xa1\xb2\x3c\x4d": CaptureFormat.PCAP_NS,
    b"\x4d\x3c\xb2\xa1": CaptureFormat.PCAP_NS,
}
_PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"  # block type of the Section Header Block (a palindrome)
_PCAPNG_BYTE_ORDER = (b"\x1a\x2b\x3c\x4d", b"\x4d\x3c\x2b\x1a")  # at offset 8 of the SHB
_GZIP_MAGIC = b"\x1f\x8b"
_CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")
_HEAD = 16


@dataclass(frozen=True, slots=True)
class Found:
    """One file to analyse."""

    path: Path  # where to read it
    capture: str  # its path relative to the folder, "/"-separated: the name shown everywhere
    size: int  # bytes on disk
    weight: int  # bytes to dissect (the uncompressed size of a gzip file): the scheduling key
    format: CaptureFormat
    gzipped: bool


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file that is not a capture, and why."""

    capture: str
    reason: str


@dataclass(frozen=True, slots=True)
class Discovery:
    captures: tuple[Found, ...]  # in name order
    skipped: tuple[Skipped, ...]
    unsearched_folders: int  # subfolders left alone because the search was not recursive


def sniff(head: bytes) -> CaptureFormat | None:
    """The capture format the first bytes of a file announce, or None."""
    if head[:4] in _PCAP_MAGIC:
        return _PCAP_MAGIC[head[:4]]
    if head[:4] == _PCAPNG_SHB and head[8:12] in _PCAPNG_BYTE_ORDER:
        return CaptureFormat.PCAPNG
    return None


def named_like_capture(name: str) -> bool:
    """Whether a file name says capture: .pcap, .pcapng or .cap, optionally gzip-compressed."""
    return name.lower().removesuffix(".gz").endswith(_CAPTURE_SUFFIXES)


def discover(
    folder: str | os.PathLike[str], *, recursive: bool, exclude: Iterable[Path] = ()
) -> Discovery:
    """Every regular file in folder (and its subfolders when recursive), sorted by name.

    exclude lists paths (files or folders) never to look at, such as the batch's output folder.
    Raises OSError when folder itself cannot be listed.
    """
    root = Path(folder)
    excluded = {_identity(p) for p in exclude}
    captures: list[Found] = []
    skipped: list[Skipped] = []
    unsearched = 0
    for path, is_dir in _walk(root, recursive=recursive, excluded=excluded):
        if is_dir:
            unsearched += 1
            continue
        name = display_name(path.relative_to(root))
        verdict = _examine(path, name)
        if isinstance(verdict, Found):
            captures.append(verdict)
        else:
            skipped.append(verdict)
    return Discovery(tuple(captures), tuple(skipped), unsearched)


def display_name(relative: Path) -> str:
    """A relative path as text that every writer can store: "/"-separated, and bytes that are not
    UTF-8 (possible in Linux file names) shown as U+FFFD instead of failing later in CSV or JSON."""
    raw = os.fsencode(str(PurePosixPath(*relative.parts)))
    return raw.decode("utf-8", "replace")


def _identity(path: Path) -> tuple[int, int] | Path:
    try:
        stat = path.stat()
    except OSError:
        return path
    return (stat.st_dev, stat.st_ino)


def _walk(
    root: Path, *, recursive: bool, excluded: set[tuple[int, int] | Path]
) -> Iterator[tuple[Path, bool]]:
    """(path, is_unsearched_folder) in name order; symlinked folders are not followed (loops)."""
    with os.scandir(root) as listing:
        entries = sorted(listing, key=lambda e: e.name)
    for entry in entries:
        path = Path(entry.path)
        if _identity(path) in excluded:
            continue
        if entry.is_dir(follow_symlinks=False):
            if entry.name.startswith("."):
                continue
            if recursive:
                yield from _walk(path, recursive=True, excluded=excluded)
            else:
                yield path, True
        elif not entry.is_dir():  # a symlink to a folder is neither searched nor listed
            yield path, False


def _examine(path: Path, name: str) -> Found | Skipped:
    claimed = named_like_capture(path.name)
    try:
        if not path.is_file():
            return Skipped(name, said("error.skip.irregular"))
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(_HEAD)
    except OSError as exc:
        if claimed:  # the analysis reports it the same way as for a single file
            return Found(path, name, 0, 0, CaptureFormat.UNKNOWN, gzipped=False)
        return Skipped(name, said("error.skip.unreadable", reason=os_reason(exc)))
    gzipped = head[:2] == _GZIP_MAGIC
    inner = _gunzip_head(path) if gzipped else head
    kind = sniff(inner) if inner is not None else None
    if kind is not None or claimed:
        weight = _uncompressed_size(path, size) if gzipped else size
        return Found(path, name, size, weight, kind or CaptureFormat.UNKNOWN, gzipped)
    return Skipped(name, _why_not(head, gzipped, inner))


def _why_not(head: bytes, gzipped: bool, inner: bytes | None) -> str:
    if not head:
        return said("error.skip.empty")
    if gzipped:
        return said("error.skip.bad_gzip" if inner is None else "error.skip.gzip_not_capture")
    return said("error.skip.no_header")


def _gunzip_head(path: Path) -> bytes | None:
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read(_HEAD)
    except (OSError, EOFError, zlib.error):
        return None


def _uncompressed_size(path: Path, size: int) -> int:
    """gzip's ISIZE trailer: the uncompressed size modulo 2**32 (RFC 1952 §2.3.1)."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(size - 4, 0))
            (isize,) = struct.unpack("<I", handle.read(4).rjust(4, b"\0"))
    except (OSError, struct.error):
        return size
    return max(int(isize), size)


# --------------------------------------------------------------------------- output names

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_MAX_STEM = 120
FOLDER_SEPARATOR = (
    "--"  # joins folder names into a flat output name: week1/lab.pcap -> week1--lab.pcap
)


def output_stems(captures: Sequence[str]) -> dict[str, str]:
    """A safe, unique, flat output name (without extension) for each capture path.

    Safe: ASCII letters, digits, ".", "_" and "-" only, no leading dot, at most about 120
    characters, so it works in any file system, URL and shell. A name that had to change gets
    8 hex digits of a hash of the original, so "a b.pcap" and "a_b.pcap" stay apart. Unique
    also where the file system ignores case: later names (in sorted order) get "-2", "-3", ...
    The same list gives the same names.
    """
    stems: dict[str, str] = {}
    taken: set[str] = set()
    for capture in sorted(captures):
        base = _safe(FOLDER_SEPARATOR.join(PurePosixPath(capture).parts))
        stem, n = base, 1
        while stem.casefold() in taken:
            n += 1
            stem = f"{base}-{n}"
        taken.add(stem.casefold())
        stems[capture] = stem
    return stems


def _safe(name: str) -> str:
    clean = _UNSAFE.sub("_", name)
    if clean.startswith("."):
        clean = "_" + clean[1:]
    if clean == name and len(clean) <= _MAX_STEM:
        return clean
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{clean[:_MAX_STEM]}-{digest}"
