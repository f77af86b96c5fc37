"""Progress of a run over many inputs, as the terminal shows it (rich).

On a terminal: a progress bar with inputs done out of the total, the rate (packets per second for
a batch), the time left, and the names of the inputs being worked on; failures are printed above
the bar as they happen. When the output is piped: one plain line per finished input, nothing else.
Any command that uses runner.run can show its progress with it.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

_NAMES_SHOWN = 2
_NAME_WIDTH = 40


class RunProgress:
    """Use as a context manager around the run; call started() and finished() from the listener.

    total: how many inputs; total_weight: the sum of their weights (bytes for a batch), which
    the bar and the time left follow, since inputs differ in size. unit names what `amount`
    counts in finished() ("packets"), for the rate. live: draw the bar (default: when stream is
    a terminal).
    """

    def __init__(
        self,
        *,
        total: int,
        total_weight: int,
        unit: str,
        stream: TextIO | None = None,
        live: bool | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self.total, self.unit = total, unit
        self.done = self.amount = 0
        self.running: dict[str, None] = {}  # insertion-ordered set of names
        self.start = time.monotonic()
        self._bar: Progress | None = None
        self._task = None
        if self.live:
            self._bar = Progress(
                TextColumn("{task.fields[files]}"),
                BarColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[names]}"),
                console=Console(file=self.stream),
                transient=False,
            )
            self._task = self._bar.add_task(
                "", total=max(total_weight, 1), files=self._files(), rate="", names=""
            )

    def __enter__(self) -> RunProgress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def started(self, label: str) -> None:
        self.running[label] = None
        self._update(advance=0)

    def finished(self, label: str, *, weight: int, amount: int, line: str, failed: bool) -> None:
        """One input is done: amount of units processed; line describes it (printed when piped,
        or above the bar when failed)."""
        self.running.pop(label, None)
        self.done += 1
        self.amount += amount
        if self._bar is None:
            self.stream.write(line + "\n")
            self.stream.flush()
            return
        if failed:
            self._bar.console.print(escape(line), highlight=False, soft_wrap=True)
        self._update(advance=weight)

    def _files(self) -> str:
        return f"{self.done:,}/{self.total:,}"

    def _update(self, *, advance: int) -> None:
        if self._bar is None or self._task is None:
            return
        elapsed = max(time.monotonic() - self.start, 1e-6)
        names = ", ".join(_short(n) for n in list(self.running)[:_NAMES_SHOWN])
        if len(self.running) > _NAMES_SHOWN:
            names += f" +{len(self.running) - _NAMES_SHOWN}"
        self._bar.update(
            self._task,
            advance=advance,
            files=self._files(),
            rate=f"{self.amount / elapsed:,.0f} {self.unit}/s",
            names=escape(names),
        )


def _short(name: str) -> str:
    return name if len(name) <= _NAME_WIDTH else "…" + name[-(_NAME_WIDTH - 1) :]
