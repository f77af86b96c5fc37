"""Errors the library raises and the exit statuses the CLI maps them to (reported in cli.py)."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """Process exit codes; documented in README.md."""

    OK = 0
    ERROR = 1  # bad input or an environment problem; one error line and a hint on stderr
    USAGE = 2  # bad command line (typer's own code)
    CHECK_FAILED = 3  # a rubric or check ran and did not pass
    COMPLETED_WITH_ERRORS = 4  # a batch finished, and some of its inputs gave errors
    INTERRUPTED = 130  # Ctrl-C


class PcapExplainError(Exception):
    """Base of every error meant for the user: a one-line message plus an optional hint."""

    exit_status = ExitStatus.ERROR
    default_hint: str | None = None

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint


class CaptureNotFound(PcapExplainError):
    default_hint = "check the path; pass a .pcap, .pcapng or .gz capture file"


class CaptureUnreadable(PcapExplainError):
    default_hint = "check the file's permissions, or that it is a file and not a folder"


class NotACapture(PcapExplainError):
    default_hint = "export it from Wireshark or tcpdump as .pcap or .pcapng"


class EmptyCapture(PcapExplainError):
    default_hint = "the capture holds no packets; capture again and check the interface"


class NoTcp(PcapExplainError):
    default_hint = "the capture holds packets but no TCP segments; check the capture filter"


class TsharkMissing(PcapExplainError):
    default_hint = "install it with: sudo apt-get install -y tshark"


class TsharkTooOld(PcapExplainError):
    default_hint = "install Wireshark/tshark 3.6 or newer"


class TsharkFailed(PcapExplainError):
    default_hint = "run `pcapexplain doctor`; the capture may be damaged"


class ConnectionNotFound(PcapExplainError):
    default_hint = "run `pcapexplain connections CAPTURE` to list the connection ids"


class OutputError(PcapExplainError):
    default_hint = "check that the output folder exists and is writable"


class RubricError(PcapExplainError):
    """A rubric (or an answers file) that cannot be used; `line` is 1-based when known."""

    default_hint = "see README.md, section 'The rubric format', for every key and value"

    def __init__(self, path: str, line: int | None, message: str, hint: str | None = None) -> None:
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(f"{where}: {message}", hint)
        self.path = path
        self.line = line


class AnswersError(RubricError):
    default_hint = "see README.md, section 'The answers file', for its format"


class SubmissionsError(PcapExplainError):
    default_hint = "pass a folder with one capture file or one folder per student"


class BatchError(PcapExplainError):
    default_hint = (
        "pass a folder of .pcap, .pcapng or .gz captures; --recursive searches subfolders"
    )


class WorkerStartError(PcapExplainError):
    pass


class SchedulerUnavailable(PcapExplainError):
    default_hint = (
        "start one with `dask scheduler` and workers with `dask worker tcp://HOST:8786`, "
        "or leave out --scheduler to run on this machine"
    )


class DaskMissing(PcapExplainError):
    default_hint = "install the extra: pip install 'pcapexplain[dask]'"


# For an exception that is not a PcapExplainError: shown by the CLI and in a batch's error rows.
BUG_HINT = "this is a bug: run again with --debug and report the output"
