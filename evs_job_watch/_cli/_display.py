"""What the command line shows while it watches: a live view, plain lines, or JSON lines."""

from __future__ import annotations

import time
from collections import Counter, deque
from types import TracebackType

import orjson
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from .._core._events import JobEvent
from ._report import NOT_READY, Tally, describe_error
from ._run import Output

__all__ = ["Display", "JsonDisplay", "LiveDisplay", "PlainDisplay", "choose_display"]

_STYLES = {
    "SUCCESS": "green",
    "FAIL": "red",
    "RUNNING": "cyan",
    "INIT": "yellow",
    NOT_READY: "dark_green",
}


class Display:
    """Shows a run's events as they come and its report at the end; the base shows nothing.

    Every event and error is recorded in the ``Tally`` first, whatever is shown.
    """

    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    def __enter__(self) -> Display:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def event(self, event: JobEvent) -> None:
        """A status change of a job or sub-job."""
        self.tally.event(event)
        self.show_event(event)

    def error(self, job_id: str, error: BaseException) -> None:
        """A watch that ended with an error."""
        self.tally.error(job_id, error)
        self.show_error(job_id, error)

    def show_event(self, event: JobEvent) -> None:
        """Show one event (subclasses)."""

    def show_error(self, job_id: str, error: BaseException) -> None:
        """Show one watch error (subclasses)."""

    def report(self, stopped: str | None) -> None:
        """Show the end of the run: the failed jobs and the watch errors (subclasses)."""


def describe(event: JobEvent) -> str:
    """One line of text for an event."""
    before = event.previous.value if event.previous is not None else "-"
    where = f" (sub-job of {event.parent.job_id})" if event.parent is not None else ""
    kind = f" {event.job.job_type.value}" if event.job.job_type is not None else ""
    text = f"{event.job_id}{where}{kind}: {before} -> {event.status.value}"
    if event.ready:  # ready mode: what the job made is usable now
        text = f"{event.job_id}{where}{kind}: ready ({event.status.value}, disks usable)"
    if event.job.error_code or event.job.fail_reason:
        text += f" [{event.job.error_code or ''}] {event.job.fail_reason or ''}".rstrip()
    return text


class PlainDisplay(Display):
    """One line per event, for logs and pipes; with ``quiet``, only the failures at the end."""

    def __init__(self, tally: Tally, output: Output, *, quiet: bool = False) -> None:
        super().__init__(tally)
        self._output = output
        self._quiet = quiet

    def show_event(self, event: JobEvent) -> None:
        if not self._quiet:
            self._write(describe(event))

    def show_error(self, job_id: str, error: BaseException) -> None:
        if not self._quiet:
            self._write(f"{job_id}: watch ended: {describe_error(error)}")

    def report(self, stopped: str | None) -> None:
        lines = [line for _, line in self.tally.problems()]
        if not self._quiet:
            lines.insert(0, self.tally.counts())
        if lines:
            self._output.write("".join(f"{line}\n" for line in lines))

    def _write(self, line: str) -> None:
        self._output.write(f"{time.strftime('%H:%M:%S')} {line}\n")


class JsonDisplay(Display):
    """One JSON object per line for every event and watch error, and a summary at the end.

    With ``quiet``, only the summary.
    """

    def __init__(self, tally: Tally, output: Output, *, quiet: bool = False) -> None:
        super().__init__(tally)
        self._output = output
        self._quiet = quiet

    def show_event(self, event: JobEvent) -> None:
        if self._quiet:
            return
        job = event.job
        self._write(
            {
                "event": "ready" if event.ready else "status",
                "job_id": job.job_id,
                "parent_id": event.parent.job_id if event.parent is not None else None,
                "job_type": job.job_type.value if job.job_type is not None else None,
                "status": event.status.value,
                "previous": event.previous.value if event.previous is not None else None,
                "error_code": job.error_code,
                "fail_reason": job.fail_reason,
                "volume_id": job.entities.volume_id,
            }
        )

    def show_error(self, job_id: str, error: BaseException) -> None:
        if not self._quiet:
            self._write(
                {
                    "event": "error",
                    "job_id": job_id,
                    "error": type(error).__name__,
                    "message": str(error),
                }
            )

    def report(self, stopped: str | None) -> None:
        self._write(self.tally.summary_record(stopped))

    def _write(self, record: dict[str, object]) -> None:
        record["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self._output.write(orjson.dumps(record).decode() + "\n")


class LiveDisplay(Display):
    """A live terminal view: a progress bar, counts per status, the latest events.

    The failed jobs and watch errors are listed below it once the run ends.
    """

    def __init__(self, tally: Tally, output: Output, *, recent: int = 8) -> None:
        super().__init__(tally)
        self._output = output
        self._console = Console(file=output.stream)
        self._recent: deque[Text] = deque(maxlen=recent)
        self._live = Live(console=self._console, get_renderable=self._render, refresh_per_second=8)

    def __enter__(self) -> Display:
        self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._output.guard():
            self._live.stop()

    def show_event(self, event: JobEvent) -> None:
        style = _STYLES.get(event.status.value, "")
        self._recent.append(Text(describe(event), style=style))

    def show_error(self, job_id: str, error: BaseException) -> None:
        self._recent.append(Text(f"{job_id}: {describe_error(error)}", style="bold red"))

    def report(self, stopped: str | None) -> None:
        with self._output.guard():
            self._console.print(Text(self.tally.counts(), style="bold"))
            for kind, line in self.tally.problems():
                self._console.print(
                    Text(line, style=_STYLES["FAIL"] if kind == "FAIL" else "bold red")
                )

    def _render(self) -> RenderableType:
        tally = self.tally
        total = tally.total
        counts = Counter(tally.status.values())
        header = Table.grid(padding=(0, 2))
        header.add_row(
            ProgressBar(total=max(total, 1), completed=tally.ended, width=40),
            Text(f"{tally.ended}/{total} jobs ended"),
        )
        text = Text("  ").join(
            Text(f"{status} {count}", style=_STYLES.get(status, "bold"))
            for status, count in sorted(counts.items())
        )
        return Group(header, text, Text(""), *self._recent)


def choose_display(
    tally: Tally, output: Output, *, json_lines: bool = False, quiet: bool = False
) -> Display:
    """JSON lines if asked, a live view on a terminal, plain lines otherwise."""
    if json_lines:
        return JsonDisplay(tally, output, quiet=quiet)
    if output.isatty() and not quiet:
        return LiveDisplay(tally, output)
    return PlainDisplay(tally, output, quiet=quiet)
