"""A token provider that counts its calls, shared by the auth and client tests."""

from __future__ import annotations

import asyncio


class CountingProvider:
    """An async token provider returning ``tok-1``, ``tok-2``... and counting its calls."""

    def __init__(self, prefix: str = "tok") -> None:
        self.calls = 0
        self.prefix = prefix

    async def __call__(self) -> str:
        self.calls += 1
        await asyncio.sleep(0)  # a real provider awaits IAM: let concurrent callers pile up
        return f"{self.prefix}-{self.calls}"
