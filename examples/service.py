"""A service that acts when disk jobs end, with callbacks, and survives restarts.

Job ids arrive on stdin, one a line (in a real service: a queue, a database, an API).
Each is watched; the callbacks act on the outcome (here they print; a real service
would attach the disk, update its records, alert someone). The state file keeps the
live watches across a restart: SIGTERM (a redeploy) saves them, and the next start
resumes them, reporting jobs that ended meanwhile on its first poll.

    export OS_AUTH_TOKEN=... OS_PROJECT_ID=... EVS_ENDPOINT=https://evs.eu-de.otc.t-systems.com
    my-queue-reader | python examples/service.py --state /var/lib/disks/watches.json

It ends by itself once stdin is closed and every job it watched has ended.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading

from evs_job_watch import AkSkAuth, EvsJobClient, JobEvent, JobWatcher, TokenAuth


def credentials() -> TokenAuth | AkSkAuth:
    """A token if one is set, else an access key pair, from the environment."""
    if os.environ.get("OS_AUTH_TOKEN"):
        return TokenAuth(os.environ["OS_AUTH_TOKEN"])
    return AkSkAuth(os.environ["OS_ACCESS_KEY"], os.environ["OS_SECRET_KEY"])


class DiskService:
    """Acts on the end of each disk job; knows when it has nothing left to do."""

    def __init__(self) -> None:
        self.watcher: JobWatcher | None = None
        self.input_closed = False
        self.idle = asyncio.Event()

    # The callbacks: keep them idempotent, since after a crash an event may come twice.
    async def on_complete(self, event: JobEvent) -> None:
        if not event.is_sub_job:
            print(f"completed {event.job_id}: volume {event.job.entities.volume_id}", flush=True)
            self.check_idle()

    def on_fail(self, event: JobEvent) -> None:
        where = f" (sub-job of {event.parent.job_id})" if event.parent is not None else ""
        job = event.job
        print(f"failed {event.job_id}{where}: [{job.error_code}] {job.fail_reason}", flush=True)
        self.check_idle()

    def on_error(self, job_id: str, error: BaseException) -> None:
        print(f"gave up on {job_id}: {type(error).__name__}: {error}", flush=True)
        self.check_idle()

    def check_idle(self) -> None:
        if self.input_closed and self.watcher is not None and not self.watcher.watching():
            self.idle.set()

    async def serve(self, watcher: JobWatcher, timeout: float) -> None:
        """Watch each id that arrives; return once stdin is closed and nothing is left."""
        self.watcher = watcher
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        threading.Thread(target=read_lines, args=(loop, queue), daemon=True).start()
        print(f"resumed {len(watcher.watching())} watches", flush=True)
        while (job_id := await queue.get()) is not None:
            if job_id and not job_id.startswith("#"):
                watcher.watch(job_id, timeout=timeout)  # the callbacks do the rest
        self.input_closed = True
        self.check_idle()
        await self.idle.wait()  # a sketch: a real service keeps running


def read_lines(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None]) -> None:
    """Stdin, line by line, in a thread (a daemon: it never holds the process up)."""
    for line in sys.stdin:
        loop.call_soon_threadsafe(queue.put_nowait, line.strip())
    loop.call_soon_threadsafe(queue.put_nowait, None)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", required=True, help="the state file (created if absent)")
    parser.add_argument("--endpoint", default=os.environ.get("EVS_ENDPOINT"))
    parser.add_argument("--project-id", default=os.environ.get("OS_PROJECT_ID"))
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per job")
    args = parser.parse_args()
    if not (args.endpoint and args.project_id):
        parser.error("give --endpoint and --project-id (or EVS_ENDPOINT and OS_PROJECT_ID)")

    service = DiskService()
    async with (
        EvsJobClient(args.endpoint, args.project_id, auth=credentials()) as client,
        JobWatcher(
            client,
            state_path=args.state,  # resumed on entry, rewritten after every event
            on_complete=service.on_complete,
            on_fail=service.on_fail,
            on_error=service.on_error,
        ) as watcher,
    ):
        work = asyncio.ensure_future(service.serve(watcher, args.timeout))
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, work.cancel)
        try:
            await work
        except asyncio.CancelledError:
            print(f"stopping; {len(watcher.watching())} watches saved", flush=True)
    return 0  # leaving `async with` saved the live watches to the state file


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
