"""Helpers for tests/ble: the shared recording DeviceContext and wait (tests/kit.py), and a
real chair with an `episodic` cuff for the burst tests."""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitord.chair import ChairRuntime
from monitord.config import DeviceConfig
from monitord.hub import CommittedBatch, Hub
from tests.kit import RecordingContext, make_chair
from tests.kit import eventually as wait_until

__all__ = ["RecordingContext", "episodic_cuff", "recorded_chair", "stop", "wait_until"]


def episodic_cuff(dev_id: str = "cuff", name: str = "HomeCuff") -> DeviceConfig:
    """A `ble-bpm` cuff that connects only after a measurement (the `episodic` quirk)."""
    return DeviceConfig.model_validate(
        {"id": dev_id, "driver": "ble-bpm", "name": name, "quirks": ["episodic"]}
    )


def recorded_chair(
    tmp_path: Path,
) -> tuple[ChairRuntime, list[CommittedBatch], asyncio.Task[None]]:
    """A real chair (tests/kit.py `make_chair`) running as a task, on the wall clock, and
    the batches it commits, as they come."""
    hub = Hub()
    batches: list[CommittedBatch] = []
    hub.subscribe(batches.append, "test")
    chair = make_chair(tmp_path, hub)
    return chair, batches, asyncio.create_task(chair.run())


async def stop(*tasks: asyncio.Task[None]) -> None:
    """Cancel `tasks` and wait for their ends (a link's, the chair's)."""
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
