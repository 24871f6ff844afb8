"""The benchmarks still run: they use the simulator and the library from outside, so a
change to either can break them without any other test noticing. Their figures are not
judged here (speed is the benchmarks' own business), only that they are measured."""

from __future__ import annotations

import asyncio
import importlib
import math
import pkgutil

import benchmarks
from benchmarks import decode

SECTIONS = {"decode", "throughput", "scale", "alternatives", "policy", "fleet", "throttle"}


def test_every_benchmark_module_imports() -> None:
    names = {module.name for module in pkgutil.iter_modules(benchmarks.__path__)}
    assert names >= SECTIONS | {"profile", "plot"}
    for name in names:
        importlib.import_module(f"benchmarks.{name}")


def test_the_decode_section_measures_its_figures_against_the_simulators_bodies() -> None:
    figures = decode.measure(quick=True)
    # Decoded (against orjson alone and against the hand-written decoding before cattrs,
    # warm and with distinct times) and unchanged, for the single job and for the batch.
    assert len(figures) == 10
    for figure in figures:
        assert figure.section == "decode"
        # An unchanged body costs its hash less the copy of the body, timed apart: on a
        # busy machine that difference may come out as nothing, never below.
        assert 0 <= figure.value < math.inf and 0 < figure.ref_value < math.inf


def test_the_ready_section_measures_both_modes() -> None:
    from benchmarks import ready

    done, usable = (asyncio.run(ready.measure(12, mode)) for mode in (False, True))
    assert not done.ready and usable.ready
    assert (done.listings, usable.listings > 0) == (0, True)  # only ready mode reads disks
    assert usable.requests_per_job >= 1 and done.requests_per_job >= 1
    assert 0 <= usable.p50 <= usable.p95 < math.inf
    hinted = asyncio.run(ready.measure(12, False, hints=True, slow=True))
    assert hinted.hints and hinted.slow and hinted.listings > 0  # hints read disks
    assert 0 <= hinted.p50 <= hinted.p95 < math.inf
