"""Wait for one EVS job and say how it ended.

    export OS_AUTH_TOKEN=... OS_PROJECT_ID=... EVS_ENDPOINT=https://evs.eu-de.otc.t-systems.com
    python examples/one_job.py 4010b39b5281d3590152874bfa3b1604

Exit code: 0 the job succeeded, 1 it failed, 3 the watch ended with an error.
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
    JobFailedError,
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
    parser.add_argument("job_id")
    parser.add_argument("--endpoint", default=os.environ.get("EVS_ENDPOINT"), required=False)
    parser.add_argument("--project-id", default=os.environ.get("OS_PROJECT_ID"))
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds")
    args = parser.parse_args()
    if not (args.endpoint and args.project_id):
        parser.error("give --endpoint and --project-id (or EVS_ENDPOINT and OS_PROJECT_ID)")

    async with (
        EvsJobClient(args.endpoint, args.project_id, auth=credentials()) as client,
        JobWatcher(client) as watcher,
    ):
        try:
            job = await watcher.wait(args.job_id, timeout=args.timeout)
        except JobFailedError as exc:
            print(f"{exc.job.job_id} failed: [{exc.job.error_code}] {exc.job.fail_reason}")
            return 1
        except EvsJobWatchError as exc:  # timeout, not found, refused credentials, ...
            print(f"{args.job_id}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 3
    print(f"{job.job_id} {job.status}: volume {job.entities.volume_id}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
