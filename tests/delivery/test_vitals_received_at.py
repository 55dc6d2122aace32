"""`vitals/{kind}` carries the daemon's receive time, `received_at` (docs/mqtt.md), beside
`measured_at`, which is the device's clock when it is within 5 min of the daemon's
(models.py `authoritative_time`). The nurses' station ages a reading and counts the next
BP due from it, as the engine's tech.bp_overdue does (clinical-rules.md "Delivery of
alarms": the engine runs on the receive time). Before, the payload had `measured_at`
alone: a cuff or oximeter 4 min fast read as fresh 4 min too long on the station.

A real daemon (in process) with a real mosquitto, a Masimo oximeter on a real pty whose
clock runs 4 min ahead; the retained `vitals/spo2` is checked against the reading the
daemon stored (its outbox, plain SQL)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from monitord.store.codec import from_ns
from tests.delivery.helpers import running
from tests.e2e.e2e_kit import (
    CHAIR,
    SITE,
    Oximeter,
    Store,
    daemon_in_process,
    mqtt_section,
    whole_second,
    write_config,
)
from tests.faults.test_mqtt_commands import retained_on
from tests.servers import Mosquitto


def ms_z(t_ns: int) -> str:
    """A stored time (ns) as the contract writes it (ms, UTC, Z)."""
    return from_ns(t_ns).isoformat(timespec="milliseconds").replace("+00:00", "Z")


FAST_S = 240  # the oximeter's clock against the wall, inside the 5 min the daemon trusts


@contextlib.asynccontextmanager
async def fast_feed(ox: Oximeter) -> AsyncIterator[None]:
    """One SpO2 line per wall-clock second, stamped FAST_S ahead of it."""

    async def run() -> None:
        last = -1
        while True:
            if (s := int(time.time())) != last:
                await ox.send(97.0, whole_second(s) + timedelta(seconds=FAST_S))
                last = s
            await asyncio.sleep(0.05)

    async with running(run):
        yield


async def published_and_stored(
    mosquitto: Mosquitto, topic: str, store: Store
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The retained reading on `topic` and the stored row of the same measured_at."""
    for _ in range(300):
        msgs = await retained_on(mosquitto, topic)
        if msgs:
            got = json.loads(msgs[-1])
            rows = [r for r in store.reading_rows() if ms_z(r["measured_at"]) == got["measured_at"]]
            if rows:
                return got, rows[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no reading on {topic} that the store holds")


async def test_vitals_carry_the_daemons_receive_time(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    cfg = write_config(
        tmp_path, mqtt=mqtt_section(mosquitto, mqtt_prefix), extra="commit_interval_s = 0.5\n"
    )
    store = Store(tmp_path / "outbox.sqlite")
    topic = f"{mqtt_prefix}/{SITE}/{CHAIR}/vitals/spo2"
    async with Oximeter(tmp_path) as ox, daemon_in_process(cfg), fast_feed(ox):
        got, row = await published_and_stored(mosquitto, topic, store)
    assert "received_at" in got, got
    # The receive time the engine ran on, in the contract's format (ms, UTC, Z).
    assert got["received_at"] == ms_z(row["received_at"]), (got, row)
    # The device's clock stays the measurement's time (reports): 4 min after it.
    skew = (row["measured_at"] - row["received_at"]) / 1e9
    assert abs(skew - FAST_S) < 3, (got, row)
