"""A bug in one device's driver must not silence that device without an alarm, nor touch
the other chairs (a Pi serving two chairs).

The seam: a test-only driver (tests/faults/buggy_driver.py), the Masimo protocol whose
every decoded line then raises, registered beside the real drivers; real ptys with the
Masimo simulator behind both chairs' oximeters, the real in-process daemon and store.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.common import child_env
from monitord.config import StorageConfig, loads_config
from monitord.daemon import Daemon
from monitord.hub import CommittedBatch
from monitord.models import Kind
from monitord.outbox import Outbox
from monitord.simulators.base import SimEvent
from monitord.simulators.serial_sims import make_sim_device
from tests.faults import buggy_driver
from tests.faults.writerkit import running
from tests.kit import eventually

REPO = Path(__file__).resolve().parents[2]
AFTER_S = 3.0  # the rule's 30 s, shortened through [alerts] as a clinic may


def _status(db: Path) -> str:
    return subprocess.run(
        [sys.executable, "-m", "monitord", "status", "--db", str(db)],
        env=child_env(), capture_output=True, text=True, cwd=REPO, timeout=30,
    ).stdout  # fmt: skip


def _config(tmp: Path, bad: Path, good: Path) -> str:
    return (
        '[site]\nid = "driver-bug"\n[mqtt]\nenabled = false\n[influx]\nenabled = false\n'
        f'[storage]\npath = "{tmp / "store.sqlite"}"\ncommit_interval_s = 0.05\n'
        f'[alerts]\n"tech.device_lost" = {{ after_s = {AFTER_S} }}\n'
        f'[[chairs]]\nid = "chair-a"\n[[chairs.devices]]\nid = "ox"\n'
        f'driver = "{buggy_driver.NAME}"\nport = "{bad}"\n'
        f'[[chairs]]\nid = "chair-b"\n[[chairs.devices]]\nid = "ox"\n'
        f'driver = "masimo-ascii"\nport = "{good}"\n'
    )


async def test_a_driver_crashing_on_its_data_raises_device_lost_and_spares_the_other_chair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    buggy_driver.register(monkeypatch)
    caplog.set_level(logging.DEBUG, "monitord")
    bad = make_sim_device("masimo-ascii", symlink=tmp_path / "bad.tty", repeat=False)
    good = make_sim_device("masimo-ascii", symlink=tmp_path / "good.tty", repeat=False)
    cfg = loads_config(_config(tmp_path, tmp_path / "bad.tty", tmp_path / "good.tty"))
    daemon = Daemon(cfg)
    told: list[CommittedBatch] = []
    daemon.hub.subscribe(told.append, "test")
    sent = 0  # lines sent to chair-b once its port was open and read (`base` told then)
    base = 0
    feeding = True

    async def send() -> None:
        t = datetime.now(UTC)
        ev = SimEvent(Kind.SPO2, {"spo2_pct": 97, "pulse_bpm": 70})
        await bad.send(ev, t)
        await good.send(ev, t)
        await asyncio.sleep(0.2)

    async def feed() -> None:
        # Lines sent before the daemon opened chair-b's port are not the daemon's to lose
        # (under load its start took longer and more of them went: CI). Counted from the
        # first reading told, once the lines in flight then are committed (a pause well
        # under the 5-s silence).
        nonlocal sent, base
        while feeding and told_b() == 0:
            await send()
        await asyncio.sleep(0.5)
        base = told_b()
        while feeding:
            await send()
            sent += 1

    def lost(chair: str) -> bool:
        return any(a["rule"] == "tech.device_lost" for a in daemon.chairs[chair].active or [])

    def told_b() -> int:
        return sum(1 for b in told if b.chair == "chair-b" for r in b.readings)

    async with bad, good:
        feeder = asyncio.create_task(feed())
        try:
            async with running(daemon):
                await eventually(lambda: lost("chair-a"), 8 * AFTER_S, "chair-a's device_lost")
                assert not lost("chair-b")
                status = await asyncio.to_thread(_status, tmp_path / "store.sqlite")
                # `monitord status` names the device down and why (its driver's bug).
                assert "device ox: link down (driver=masimo-buggy, reason=protocol " in status
                assert "RuntimeError('decoder bug" in status, status
                feeding = False
                await feeder
                await eventually(lambda: told_b() - base >= sent, 10, "chair-b's readings")
        finally:
            feeding = False
            await asyncio.gather(feeder, return_exceptions=True)
    # The other chair lost nothing: every line sent once its port was read was stored and
    # told to the listeners (the sinks) once.
    path = tmp_path / "store.sqlite"
    ob = Outbox(path, StorageConfig(path=path))
    try:
        stored_b = len(ob.recent_readings("chair-b", Kind.SPO2, 1_000_000))
        stored_a = len(ob.recent_readings("chair-a", Kind.SPO2, 1_000_000))
    finally:
        ob.close()
    assert stored_b == told_b() and told_b() - base == sent > 0, (sent, base, stored_b, told_b())
    assert stored_a == 0
    # Loud once, not per line: the bug with its traceback at ERROR, then quieter.
    bugs = [r for r in caplog.records if "decoder bug" in r.getMessage() or (
        r.exc_info and "decoder bug" in str(r.exc_info[1]))]  # fmt: skip
    loud = [r for r in bugs if r.levelno >= logging.WARNING]
    assert len(loud) == 1, [r.getMessage() for r in loud]
    assert loud[0].levelno == logging.ERROR and loud[0].exc_info, loud[0].getMessage()
