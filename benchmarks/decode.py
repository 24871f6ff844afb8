"""Decode: µs per response body through `evs_job_watch._wire._codec.decode_job` (bytes to a
`Job`: orjson, then the cattrs converter's generated hooks), against `orjson.loads` alone
on the same bodies, and against the hand-written decoding it replaced (`_before_cattrs`,
a frozen copy); and the cost of an unchanged body, which a watcher does not decode:
`answer_from` with the last answer of the same bytes (a hash of the body and a
comparison).

Bodies come from the simulator process as the API sends them: a single createVolume
job, and a batchCreateVolume of 20 sub-jobs. Each figure is the best of several
repeats of a timed loop (the least disturbed by the machine's other work). "Warm" is
the same body again and again, as a running job answers; "distinct times" cycles
through 10,000 copies with different `begin_time`s, as 10,000 watched jobs would.
Against the hand-written decoding, the two are timed in alternating loops, ten rounds
each, and each keeps its best: a burst of other work on the machine hits both alike.
"Unchanged" hands `answer_from` a fresh copy of the body each time (bytes cache their
hash, and a body read from the network is a new object each poll); the copy's own cost,
timed alone, is taken off.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

from evs_job_watch._wire._codec import answer_from, decode_job

from . import _before_cattrs
from ._common import Figure, Simulator, create_jobs, log, run, simulator

TARGETS = {"single job": 3.0, "20-sub-job batch": 25.0}
# The cattrs hooks against the hand-written decoding they replaced (issue 21).
BEFORE_TARGET = 1.5


async def fetch_bodies() -> dict[str, bytes]:
    """One body of each shape, read from a simulator process."""
    async with simulator(1e-6) as sim, aiohttp.ClientSession() as session:
        single = (await create_jobs(sim, 1))[0]
        batch = await _create_batch(session, sim, 20)
        bodies = {}
        for name, job_id in (("single job", single), ("20-sub-job batch", batch)):
            async with session.get(sim.job_url(job_id), headers=sim.headers) as response:
                bodies[name] = await response.read()
        return bodies


async def _create_batch(session: aiohttp.ClientSession, sim: Simulator, count: int) -> str:
    url = f"{sim.endpoint}/v2/{sim.project_id}/cloudvolumes"
    body = {"volume": {"size": 10, "volume_type": "SSD", "count": count}}
    async with session.post(url, json=body, headers=sim.headers) as response:
        job_id: str = (await response.json())["job_id"]
        return job_id


def distinct_times(body: bytes, count: int) -> list[bytes]:
    """`count` copies of `body` whose begin times (sub-jobs' too) all differ."""
    data = orjson.loads(body)
    copies = []
    for index in range(count):
        stamp = f"2024-01-{1 + index // 86400 % 28:02d}T{index // 3600 % 24:02d}:"
        stamp += f"{index // 60 % 60:02d}:{index % 60:02d}.{index % 1000:03d}Z"
        for job in (data, *data["entities"].get("sub_jobs", ())):
            job["begin_time"] = stamp
        copies.append(orjson.dumps(data))
    return copies


def per_call(function: Callable[[bytes], Any], bodies: list[bytes], seconds: float) -> float:
    """Best µs per call of `function` over `bodies` (cycled) in 5 timed loops."""
    return alternating([function], bodies, seconds, rounds=5)[0]


def alternating(
    functions: list[Callable[[bytes], Any]], bodies: list[bytes], seconds: float, rounds: int = 10
) -> list[float]:
    """Best µs per call of each of `functions` over `bodies` (cycled), their timed loops
    taken in turn, `rounds` each, in about `seconds` in all."""

    def timed(function: Callable[[bytes], Any], loops: int) -> float:
        start = time.perf_counter()
        for index in range(loops):
            function(bodies[index % len(bodies)])
        return time.perf_counter() - start

    sizes = []
    for function in functions:
        loops = 1
        while (took := timed(function, loops)) < 0.02:
            loops *= 2
        sizes.append(max(1, int(loops * seconds / len(functions) / rounds / took)))
    best = [float("inf")] * len(functions)
    for _ in range(rounds):
        for index, (function, loops) in enumerate(zip(functions, sizes, strict=True)):
            best[index] = min(best[index], timed(function, loops) / loops)
    return [value * 1e6 for value in best]


def measure(quick: bool, budget: float | None = None) -> list[Figure]:
    """The figures; each timed loop runs for ``budget`` seconds (0.5 quick, else 2)."""
    log("decode: bodies from the simulator, then timed loops")
    bodies = run(fetch_bodies())
    budget = budget if budget is not None else 0.5 if quick else 2.0
    figures = []
    for name, body in bodies.items():
        for variant, sample in (("warm", [body]), ("distinct times", distinct_times(body, 10_000))):
            mine = per_call(decode_job, sample, budget)
            reference = per_call(orjson.loads, sample, budget)
            figures.append(
                Figure(
                    "decode",
                    f"decode_job, {name}, {variant}",
                    mine,
                    "µs",
                    "orjson.loads",
                    reference,
                    ("value", "<=", TARGETS[name]),
                    extra={"body_bytes": len(body)},
                )
            )
            cattrs_hooks, hand_written = alternating(
                [decode_job, _before_cattrs.decode_job], sample, 2 * budget
            )
            figures.append(
                Figure(
                    "decode",
                    f"decode_job (cattrs hooks), {name}, {variant}",
                    cattrs_hooks,
                    "µs",
                    "hand-written decode (before)",
                    hand_written,
                    ("ratio", "<=", BEFORE_TARGET),
                    extra={"body_bytes": len(body)},
                )
            )
        job_id = orjson.loads(body)["job_id"]
        last = answer_from(body, job_id, None, decode_job)
        copied = per_call(bytes, [body], budget)
        unchanged = per_call(
            lambda b, job_id=job_id, last=last: answer_from(bytes(b), job_id, last, decode_job),
            [body],
            budget,
        )
        figures.append(
            Figure(
                "decode",
                f"unchanged {name}: not decoded (answer_from)",
                max(unchanged - copied, 0.0),
                "µs",
                "orjson.loads",
                per_call(orjson.loads, [body], budget),
                ("value", "<=", TARGETS[name]),
                extra={"body_bytes": len(body), "copy_us": copied},
            )
        )
    return figures
