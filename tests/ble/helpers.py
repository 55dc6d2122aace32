"""A small DeviceContext that records what the BLE link reports (the daemon's real
context replaces it in the daemon-level tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from drivers.base import Reject
from monitord.models import Reading


@dataclass
class RecordingContext:
    chair: str = "chair-1"
    device: str = "dev"
    readings: list[Reading] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    links: list[tuple[bool, str]] = field(default_factory=list)

    def emit(self, reading: Reading) -> None:
        self.readings.append(reading)

    def reject(self, reject: Reject) -> None:
        self.rejects.append(reject)

    def now(self) -> datetime:
        return datetime.now(UTC)

    def link(self, up: bool, reason: str = "") -> None:
        self.links.append((up, reason))

    @property
    def link_up(self) -> bool:
        return bool(self.links) and self.links[-1][0]


async def wait_until(cond: Callable[[], bool], limit_s: float = 10.0, what: str = "") -> None:
    """Poll `cond` (the link runs in the same loop); fail with `what` on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await asyncio.sleep(0.01)
