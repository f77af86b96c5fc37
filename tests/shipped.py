"""Run the installed `pcapexplain` command as a user does: its own process, its real exit code."""

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
