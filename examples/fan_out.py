"""Watch many EVS jobs at once and report each as it ends, then a summary.

    export OS_AUTH_TOKEN=... OS_PROJECT_ID=... EVS_ENDPOINT=https://evs.eu-de.otc.t-systems.com
    python examples/fan_out.py JOB_ID JOB_ID ...
    my-create-script | python examples/fan_out.py -      # ids from stdin, one a line

Exit code: 0 every job succeeded, 1 some failed, 3 a watch ended with an error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from evs_job_watch import (
    AkSkAuth,
    EvsJobClient,
    EvsJobWatchError,
    JobStatus,
    JobWatcher,
    TokenAuth,
)


def credentials() -> TokenAuth | AkSkAuth:
    """A token if one is set, else an access key pair, from the environment."""
    if os.environ.get("OS_AUTH_TOKEN"):
        return TokenAuth(os.environ["OS_AUTH_TOKEN"])
    return AkSkAuth(os.environ["OS_ACCESS_KEY"], os.environ["OS_SECRET_KEY"])


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("job_ids", nargs="+", metavar="JOB_ID", help="- reads stdin")
    parser.add_argument("--endpoint", default=os.environ.get("EVS_ENDPOINT"))
    parser.add_argument("--project-id", default=os.environ.get("OS_PROJECT_ID"))
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds, for all jobs")
    args = parser.parse_args()
    if not (args.endpoint and args.project_id):
        parser.error("give --endpoint and --project-id (or EVS_ENDPOINT and OS_PROJECT_ID)")
    job_ids = [line.strip() for line in sys.stdin] if args.job_ids == ["-"] else args.job_ids
    job_ids = [job_id for job_id in job_ids if job_id]

    failed: list[str] = []
    async with (
        EvsJobClient(args.endpoint, args.project_id, auth=credentials()) as client,
        # One scheduler for all: at most 32 requests in flight, at most 20 a second.
        JobWatcher(client, max_concurrency=32, rate_limit=20.0) as watcher,
    ):
        ended = 0
        try:
            async with watcher.as_completed(job_ids, timeout=args.timeout) as jobs:
                async for job in jobs:
                    ended += 1
                    if job.status is JobStatus.FAIL:
                        failed.append(job.job_id)
                        print(f"FAIL    {job.job_id} [{job.error_code}] {job.fail_reason}")
                    else:
                        print(f"SUCCESS {job.job_id} {job.entities.volume_id or ''}".rstrip())
        except EvsJobWatchError as exc:  # the first watch error ends the iteration
            print(f"stopped after {ended} of {len(job_ids)}: {exc}", file=sys.stderr)
            return 3
    print(f"{len(job_ids)} jobs: {len(job_ids) - len(failed)} succeeded, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
