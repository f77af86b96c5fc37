"""Progress as the terminal shows it (rich): of a run over many inputs, and of one capture.

On a terminal: a progress bar with inputs done out of the total, the rate (packets per second for
a batch), the time left, and the names of the inputs being worked on; failures are printed above
the bar as they happen. When the output is piped: one plain line per finished input, nothing else.
Any command that uses runner.run can show its progress with it.
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from pcapexplain.explanations import text
from pcapexplain.model import Lang

# rich is imported where a bar is drawn, on a terminal only: piped, as most runs of a command
# are, it would cost a twentieth of a second of start-up for nothing.
if TYPE_CHECKING:
    from rich.progress import Progress

    from pcapexplain.files import ReadStatus

_NAMES_SHOWN = 2
_NAME_WIDTH = 40


class RunProgress:
    """Use as a context manager around the run; call started() and finished() from the listener.

    total: how many inputs; total_weight: the sum of their weights (bytes for a batch), which
    the bar and the time left follow, since inputs differ in size. `amount` in finished() counts
    packets, for the rate, said in lang. live: draw the bar (default: when stream is a terminal).
    """

    def __init__(
        self,
        *,
        total: int,
        total_weight: int,
        lang: Lang,
        stream: TextIO | None = None,
        live: bool | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self.total, self.lang = total, lang
        self.done = self.amount = 0
        self.running: dict[str, None] = {}  # insertion-ordered set of names
        self.start = time.monotonic()
        self._bar: Progress | None = None
        self._task = None
        if self.live:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

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
            from rich.markup import escape

            self._bar.console.print(escape(line), highlight=False, soft_wrap=True)
        self._update(advance=weight)

    def _files(self) -> str:
        return f"{self.done:,}/{self.total:,}"

    def _update(self, *, advance: int) -> None:
        if self._bar is None or self._task is None:
            return
        from rich.markup import escape

        elapsed = max(time.monotonic() - self.start, 1e-6)
        names = ", ".join(_short(n) for n in list(self.running)[:_NAMES_SHOWN])
        if len(self.running) > _NAMES_SHOWN:
            names += f" +{len(self.running) - _NAMES_SHOWN}"
        self._bar.update(
            self._task,
            advance=advance,
            files=self._files(),
            rate=text(self.lang, "cli.rate", rate=f"{self.amount / elapsed:,.0f}"),
            names=escape(names),
        )


def _short(name: str) -> str:
    return name if len(name) <= _NAME_WIDTH else "…" + name[-(_NAME_WIDTH - 1) :]


class CaptureProgress:
    """Signs of life while one capture is read, on a terminal only (stderr by default).

    Polls a files.ReadStatus from a thread: bytes of the capture tshark has read out of its size
    (or bytes received on standard input while it is spooled), frames parsed and their rate. The
    native reader counts frames only: its line shows them and their rate, without the bytes.
    Nothing is drawn for work shorter than `delay` seconds, nor when the stream is not a terminal;
    the line is removed when the work is done, so only results and errors remain.
    """

    def __init__(
        self,
        status: ReadStatus,
        *,
        lang: Lang = Lang.EN,
        stream: TextIO | None = None,
        live: bool | None = None,
        delay: float = 1.0,
        interval: float = 0.2,
    ) -> None:
        self.status, self.lang = status, lang
        self.stream = stream if stream is not None else sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.delay, self.interval = delay, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> CaptureProgress:
        if self.live:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def line(self, elapsed: float) -> tuple[int, int, str]:
        """(completed, total, description) for the bar at this moment."""
        s = self.status
        lang, frames = self.lang, f"{s.frames:,}"
        rate = text(lang, "cli.rate", rate=f"{s.frames / max(elapsed, 1e-6):,.0f}")
        if not s.reading and s.size == 0:
            return s.received, 0, text(lang, "cli.progress.stdin", size=_size(s.received))
        if not s.reading:
            return s.size, s.size, text(lang, "cli.progress.analysing", frames=frames)
        if s.pid is None:  # the native reader, in this process: frames only
            line = text(lang, "cli.progress.frames", size=_size(s.size), frames=frames, rate=rate)
            return 0, 0, line
        done = s.bytes_read()
        of = text(lang, "cli.progress.of", done=_size(done), size=_size(s.size))
        return done, s.size, text(lang, "cli.progress.frames", size=of, frames=frames, rate=rate)

    def _run(self) -> None:
        if self._stop.wait(self.delay):
            return
        from rich.console import Console
        from rich.markup import escape
        from rich.progress import BarColumn, Progress, TextColumn

        start = time.monotonic()
        bar = Progress(
            TextColumn("pcapexplain:"),
            BarColumn(),
            TextColumn("{task.description}"),
            console=Console(file=self.stream),
            transient=True,
            auto_refresh=False,
        )
        task = bar.add_task("", total=None)
        with bar:
            while True:
                done, total, text = self.line(time.monotonic() - start)
                bar.update(task, completed=done, total=total or None, description=escape(text))
                bar.refresh()
                if self._stop.wait(self.interval):
                    return


def _size(count: int) -> str:
    if count < 1000:
        return f"{count:,} B"
    value, unit = count / 1000, "KB"
    for bigger in ("MB", "GB"):
        if value < 1000:
            break
        value, unit = value / 1000, bigger
    return f"{value:,.1f} {unit}"
