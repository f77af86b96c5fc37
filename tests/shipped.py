"""The installed `pcapexplain` command run as a user runs it, and a reader of the logs it writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_SCRIPT = Path(sys.executable).with_name("pcapexplain")


def command() -> list[str]:
    """The console script of this environment, or `python -m pcapexplain` where there is none."""
    return [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "pcapexplain"]


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `pcapexplain ARGS`; raises subprocess.TimeoutExpired when it does not finish in time."""
    return subprocess.run(
        [*command(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def read_conn_log(path: Path) -> list[dict[str, str]]:
    """The rows of a Zeek ASCII log, keyed by its #fields header."""
    lines = path.read_text(encoding="utf-8").splitlines()
    fields = next(ln for ln in lines if ln.startswith("#fields\t")).split("\t")[1:]
    return [dict(zip(fields, ln.split("\t"), strict=True)) for ln in lines if ln[:1] != "#"]
