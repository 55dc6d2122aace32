"""Test kit for tests/serial: a small real DeviceContext that records what a transport and
protocol report. (No __init__.py here: a package named `serial` would shadow pyserial.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from drivers.base import Reject
from monitord.models import Kind, Reading


@dataclass
class RecordingContext:
    chair: str = "chair-1"
    device: str = "dev-1"
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

    def of(self, kind: Kind) -> list[Reading]:
        return [r for r in self.readings if r.kind is kind]

    async def until(self, pred: Callable[[], bool], what: str, limit_s: float = 15.0) -> None:
        """Wait until `pred()` holds (a liveness bound, not a timing assertion)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + limit_s
        while not pred():
            if loop.time() > end:
                raise AssertionError(
                    f"never happened: {what}; links={self.links} rejects={self.rejects[-5:]} "
                    f"readings={[(r.kind, dict(r.values)) for r in self.readings[-5:]]}"
                )
            await asyncio.sleep(0.02)


@pytest.fixture
def ctx() -> RecordingContext:
    return RecordingContext()
