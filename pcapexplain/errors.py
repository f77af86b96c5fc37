"""Errors the library raises and the exit statuses the CLI maps them to (reported in cli.py).

Messages and hints are Said (explanations.said): English text to a library user, said again in
the command's language by cli.py. The texts live under error.* and hint.* in texts/<lang>.toml.
"""

from __future__ import annotations

import errno
from enum import IntEnum

from pcapexplain.explanations import Said, said


class ExitStatus(IntEnum):
    """Process exit codes; documented in README.md."""

    OK = 0
    ERROR = 1  # bad input or an environment problem; one error line and a hint on stderr
    USAGE = 2  # bad command line (typer's own code)
    CHECK_FAILED = 3  # a rubric or check ran and did not pass
    COMPLETED_WITH_ERRORS = 4  # a batch finished, and some of its inputs gave errors
    INTERRUPTED = 130  # Ctrl-C


class PcapExplainError(Exception):
    """Base of every error meant for the user: a one-line message plus an optional hint.

    The package raises them with Said texts (``NotACapture(said("error.not_capture", ...))``);
    a plain str still works, and is then shown as it is in every language.
    """

    exit_status = ExitStatus.ERROR
    hint_key: str | None = None  # the hint when none is given, a key of the hint.* texts

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint()

    @classmethod
    def default_hint(cls) -> Said | None:
        return said(cls.hint_key) if cls.hint_key else None


class CaptureNotFound(PcapExplainError):
    hint_key = "hint.check_path"


class CaptureUnreadable(PcapExplainError):
    hint_key = "hint.permissions"


class NotACapture(PcapExplainError):
    hint_key = "hint.export_capture"


class EmptyCapture(PcapExplainError):
    hint_key = "hint.empty"


class NoTcp(PcapExplainError):
    hint_key = "hint.no_tcp"


class TsharkMissing(PcapExplainError):
    hint_key = "hint.install_tshark"


class TsharkTooOld(PcapExplainError):
    hint_key = "hint.tshark_too_old"


class TsharkFailed(PcapExplainError):
    hint_key = "hint.doctor"


class NativeUnsupported(PcapExplainError):
    hint_key = "hint.reader_tshark"


class ConnectionNotFound(PcapExplainError):
    hint_key = "hint.list_connections"


class OutputError(PcapExplainError):
    hint_key = "hint.output_writable"


class RubricError(PcapExplainError):
    """A rubric (or an answers file) that cannot be used; `line` is 1-based when known."""

    hint_key = "hint.rubric_format"

    def __init__(self, path: str, line: int | None, message: str, hint: str | None = None) -> None:
        if line is None:
            super().__init__(said("error.in_file", path=path, message=message), hint)
        else:
            super().__init__(said("error.at_line", path=path, line=line, message=message), hint)
        self.path = path
        self.line = line


class AnswersError(RubricError):
    hint_key = "hint.answers_format"


class SubmissionsError(PcapExplainError):
    hint_key = "hint.submissions_folder"


class BatchError(PcapExplainError):
    hint_key = "hint.batch_folder"


class WorkerStartError(PcapExplainError):
    pass


class SchedulerUnavailable(PcapExplainError):
    hint_key = "hint.dask_scheduler"


class DaskMissing(PcapExplainError):
    hint_key = "hint.dask_extra"


# The errno values a user meets most (a path, permissions, a full or read-only disk): said in the
# command's language; any other is shown in the operating system's words.
_OS_WORDS = {
    errno.ENOENT: "error.os.enoent",
    errno.EACCES: "error.os.eacces",
    errno.EISDIR: "error.os.eisdir",
    errno.ENOTDIR: "error.os.enotdir",
    errno.ENOSPC: "error.os.enospc",
    errno.EROFS: "error.os.erofs",
    errno.ENAMETOOLONG: "error.os.enametoolong",
}


def os_reason(exc: OSError) -> Said:
    """Why the operating system refused, for the {reason} of an error message."""
    key = _OS_WORDS.get(exc.errno) if exc.errno is not None else None
    if key is not None:
        return said(key)
    return said("error.os.other", reason=exc.strerror or str(exc))


def bug_hint() -> Said:
    """The hint for an exception that is not a PcapExplainError (the CLI, a batch's error rows)."""
    return said("hint.bug")
