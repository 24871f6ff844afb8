"""Helpers of the state file tests: wait for a condition, read what a state file keeps."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

GUARD = 20.0  # the most any single wait may take before a test calls it a hang


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait, polling, until ``condition()`` holds; fail after GUARD seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + GUARD
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        await asyncio.sleep(0.01)


def saved_watches(state: Path) -> dict[str, dict[str, Any]]:
    if not state.exists():
        return {}
    return {watch["job_id"]: watch for watch in json.loads(state.read_bytes())["watches"]}
