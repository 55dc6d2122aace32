"""Issue 2, point 5: the Masimo simulator on a pseudo-terminal delivers readings through the
real serial transport to the hub (stored, then fed to the engine); a corrupt line is
counted per device and reason, and skipped."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.drivers.masimo_ascii import MAX_LINE
from monitord.models import Kind
from monitord.simulators._serial_base import SerialSim
from monitord.simulators.base import SimEvent
from monitord.simulators.serial_sims import make_sim_device


async def test_masimo_pty_to_hub_with_corrupt_line(tmp_path: Path) -> None:
    async with make_sim_device("masimo-ascii", repeat=False) as sim:
        assert isinstance(sim, SerialSim)
        port = sim.port
        cfg = loads_config(
            '[site]\nid = "hub-test"\n'
            f"[mqtt]\nenabled = false\n[influx]\nenabled = false\n"
            f'[storage]\npath = "{tmp_path / "store.sqlite"}"\n'
            f'[[chairs]]\nid = "chair-7"\n'
            f'[[chairs.devices]]\nid = "ox"\ndriver = "masimo-ascii"\nport = "{port}"\n'
        )
        daemon = Daemon(cfg)
        task = asyncio.create_task(daemon.run())
        chair = daemon.chairs["chair-7"]
        try:
            # The monitor talks once a second whether anyone listens or not; the first
            # lines may go out before the transport has opened the port. Warm up until one
            # arrives, then play the lines under test.
            ox = chair.devices["ox"]
            for _ in range(50):
                await sim.send(
                    SimEvent(Kind.SPO2, {"spo2_pct": 99, "pulse_bpm": 60}),
                    datetime.now(UTC).replace(microsecond=0),
                )
                if await chair.wait_for(lambda: ox.readings > 0, 0.2):
                    break
            warm = ox.readings
            assert warm > 0
            values = [97, 96, 95]
            for i, v in enumerate(values):
                # The monitor's clock is 1-s resolution and close to ours: it is used.
                at = datetime.now(UTC).replace(microsecond=0)
                await sim.send(SimEvent(Kind.SPO2, {"spo2_pct": v, "pulse_bpm": 70 + i}), at)
                if i == 1:  # line noise between two good lines
                    sim.write(b"SPO2=0x7!% BPM=\xff\xfe garbage\r\n")
                await asyncio.sleep(0.05)
            ok = await chair.wait_for(lambda: (ox.last or {}).get("spo2_pct") == 95, 10)
            assert ok, chair.devices["ox"]
            assert chair.devices["ox"].link == "up"
            assert sum(chair.devices["ox"].rejects.values()) == 1
            assert dict(chair.devices["ox"].rejects) == {"bad_format": 1}
        finally:
            daemon.stop_event.set()
            await asyncio.wait_for(task, 10)
    from monitord.outbox import Outbox

    ob = Outbox(cfg.storage.path, cfg.storage)
    try:
        got = [
            (r.device, r.values["spo2_pct"], r.values["pulse_bpm"], r.valid)
            for r, _ in ob.readings("chair-7")
            if r.values["spo2_pct"] != 99  # the warm-up lines
        ]
        snap = ob.get_state("engine/chair-7")
    finally:
        ob.close()
    assert got == [("ox", 97, 70, True), ("ox", 96, 71, True), ("ox", 95, 72, True)]
    assert snap is not None  # the engine saw them: its state was persisted with them


async def test_garbage_is_a_link_down_and_warned_once_per_reject_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A monitor at the wrong baud rate: its garbage alternates reject reasons (a line of
    non-ASCII bytes, then one over the length limit). Each used to be logged at WARNING at
    every change of reason, several a second for as long as it lasted; the house rule is
    WARNING once per reason, then DEBUG. And the device counts as down meanwhile."""
    caplog.set_level(logging.DEBUG, logger="monitord")
    async with make_sim_device("masimo-ascii", repeat=False) as sim:
        assert isinstance(sim, SerialSim)
        cfg = loads_config(
            '[site]\nid = "hub-test"\n'
            f"[mqtt]\nenabled = false\n[influx]\nenabled = false\n"
            f'[storage]\npath = "{tmp_path / "store.sqlite"}"\n'
            f'[[chairs]]\nid = "chair-7"\n'
            f'[[chairs.devices]]\nid = "ox"\ndriver = "masimo-ascii"\nport = "{sim.port}"\n'
            "silence_s = 0.5\n"
        )
        daemon = Daemon(cfg)
        task = asyncio.create_task(daemon.run())
        ox = daemon.chairs["chair-7"].devices["ox"]
        try:
            for _ in range(30):  # 1.5 s: alternating reasons, many of each
                sim.write(b"\xff\xfe\xfd garbage\r\n")
                sim.write(b"x" * (MAX_LINE + 1) + b"\r\n")
                await asyncio.sleep(0.05)
            await daemon.chairs["chair-7"].wait_for(lambda: ox.link == "down", 5)
            assert ox.link == "down" and ox.readings == 0
            assert ox.rejects["bad_format"] >= 5 and ox.rejects["oversize"] >= 5, ox.rejects
        finally:
            daemon.stop_event.set()
            await asyncio.wait_for(task, 10)
    warned = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "rejected data" in r.getMessage()
    ]
    assert len(warned) == 2, warned
