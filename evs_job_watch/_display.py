"""What the command line shows while it watches: a live view, plain lines, or JSON lines."""

from __future__ import annotations

import sys
import time
from collections import Counter, deque
from collections.abc import Iterable
from types import TracebackType
from typing import TextIO

import orjson
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from ._events import JobEvent

__all__ = ["Display", "JsonDisplay", "LiveDisplay", "PlainDisplay", "choose_display"]

_STYLES = {"SUCCESS": "green", "FAIL": "red", "RUNNING": "cyan", "INIT": "yellow"}
_WAITING = "WAITING"  # not seen yet


class Display:
    """Tracks the watched jobs and shows their events; the base shows nothing."""

    def __init__(self, job_ids: Iterable[str]) -> None:
        self.status: dict[str, str] = dict.fromkeys(job_ids, _WAITING)

    def __enter__(self) -> Display:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    @property
    def finished(self) -> int:
        return sum(1 for status in self.status.values() if status in ("SUCCESS", "FAIL", "ERROR"))

    def event(self, event: JobEvent) -> None:
        """A status change of a job or sub-job."""
        if not event.is_sub_job:
            self.status[event.job_id] = event.status.value
        self.show_event(event)

    def error(self, job_id: str, error: BaseException) -> None:
        """A watch that ended with an error."""
        self.status[job_id] = "ERROR"
        self.show_error(job_id, error)

    def show_event(self, event: JobEvent) -> None:
        """Show one event (subclasses)."""

    def show_error(self, job_id: str, error: BaseException) -> None:
        """Show one watch error (subclasses)."""


def describe(event: JobEvent) -> str:
    """One line of text for an event."""
    before = event.previous.value if event.previous is not None else "-"
    where = f" (sub-job of {event.parent.job_id})" if event.parent is not None else ""
    kind = f" {event.job.job_type.value}" if event.job.job_type is not None else ""
    text = f"{event.job_id}{where}{kind}: {before} -> {event.status.value}"
    if event.job.error_code or event.job.fail_reason:
        text += f" [{event.job.error_code or ''}] {event.job.fail_reason or ''}".rstrip()
    return text


class PlainDisplay(Display):
    """One line per event, for logs and pipes."""

    def __init__(self, job_ids: Iterable[str], out: TextIO) -> None:
        super().__init__(job_ids)
        self._out = out

    def show_event(self, event: JobEvent) -> None:
        self._write(describe(event))

    def show_error(self, job_id: str, error: BaseException) -> None:
        self._write(f"{job_id}: watch ended: {type(error).__name__}: {error}")

    def _write(self, line: str) -> None:
        self._out.write(f"{time.strftime('%H:%M:%S')} {line}\n")
        self._out.flush()


class JsonDisplay(Display):
    """One JSON object per line for every event and every watch error."""

    def __init__(self, job_ids: Iterable[str], out: TextIO) -> None:
        super().__init__(job_ids)
        self._out = out

    def show_event(self, event: JobEvent) -> None:
        job = event.job
        self._write(
            {
                "event": "status",
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
        self._write(
            {
                "event": "error",
                "job_id": job_id,
                "error": type(error).__name__,
                "message": str(error),
            }
        )

    def _write(self, record: dict[str, object]) -> None:
        record["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self._out.write(orjson.dumps(record).decode() + "\n")
        self._out.flush()


class LiveDisplay(Display):
    """A live terminal view: a progress bar, counts per status, the latest events."""

    def __init__(self, job_ids: Iterable[str], console: Console, *, recent: int = 8) -> None:
        super().__init__(job_ids)
        self._recent: deque[Text] = deque(maxlen=recent)
        self._live = Live(console=console, get_renderable=self._render, refresh_per_second=8)

    def __enter__(self) -> Display:
        self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._live.stop()

    def show_event(self, event: JobEvent) -> None:
        style = _STYLES.get(event.status.value, "")
        self._recent.append(Text(describe(event), style=style))

    def show_error(self, job_id: str, error: BaseException) -> None:
        self._recent.append(Text(f"{job_id}: {type(error).__name__}: {error}", style="bold red"))

    def _render(self) -> RenderableType:
        total = len(self.status)
        counts = Counter(self.status.values())
        header = Table.grid(padding=(0, 2))
        header.add_row(
            ProgressBar(total=max(total, 1), completed=self.finished, width=40),
            Text(f"{self.finished}/{total} jobs ended"),
        )
        tally = Text("  ").join(
            Text(f"{status} {count}", style=_STYLES.get(status, "bold"))
            for status, count in sorted(counts.items())
        )
        return Group(header, tally, Text(""), *self._recent)


def choose_display(
    job_ids: Iterable[str], *, json_lines: bool, out: TextIO | None = None
) -> Display:
    """JSON lines if asked, a live view on a terminal, plain lines otherwise."""
    out = out or sys.stdout
    if json_lines:
        return JsonDisplay(job_ids, out)
    if out.isatty():
        return LiveDisplay(job_ids, Console(file=out))
    return PlainDisplay(job_ids, out)
