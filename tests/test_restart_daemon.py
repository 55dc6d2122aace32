"""Issue 3: engine state survives a daemon restart through the local store, so a restart
neither forgets an active alarm nor re-raises it as new (a real chair on a pty)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitord.config import Config, loads_config
from monitord.daemon import ChairRuntime, Daemon
from monitord.models import Kind
from monitord.outbox import Outbox
from monitord.simulators._serial_base import SerialSim
from monitord.simulators.base import SimDevice, SimEvent
from monitord.simulators.serial_sims import make_sim_device


def config(tmp: Path, port: str, alert: str = "") -> Config:
    return loads_config(
        '[site]\nid = "restart-test"\n'
        f"[mqtt]\nenabled = false\n[influx]\nenabled = false\n"
        f'[storage]\npath = "{tmp / "store.sqlite"}"\n'
        f'[alerts."spo2.very_low"]\nfor_s = 1\n{alert}'
        f'[[chairs]]\nid = "chair-9"\n'
        f'[[chairs.devices]]\nid = "ox"\ndriver = "masimo-ascii"\nport = "{port}"\n'
    )


async def play(daemon: Daemon, sim: SimDevice, start: datetime, offsets: list[int]) -> None:
    """Send SpO2 80 % lines stamped start+offset (the monitor's clock), until each arrived,
    as far apart in wall time as their offsets: the engine runs on the daemon's receive
    time, not on the monitor's clock (clinical-rules.md "Delivery of alarms")."""
    ox = daemon.chairs["chair-9"].devices["ox"]
    chair = daemon.chairs["chair-9"]
    prev: tuple[float, int] | None = None  # (monotonic arrival, offset) of the last line
    for off in offsets:
        if prev is not None:
            await asyncio.sleep(max(0.0, prev[0] + (off - prev[1]) + 0.05 - time.monotonic()))
        at = start + timedelta(seconds=off)
        for _ in range(50):  # the first lines may precede the transport's open()
            n = ox.readings
            await sim.send(SimEvent(Kind.SPO2, {"spo2_pct": 80, "pulse_bpm": 70}), at)

            def arrived(n: int = n) -> bool:
                return ox.readings > n

            if await chair.wait_for(arrived, 0.3):
                prev = (time.monotonic(), off)
                break
        else:
            raise AssertionError(f"line at +{off}s never arrived")


async def test_active_alarm_survives_restart(tmp_path: Path) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    async with make_sim_device("masimo-ascii", repeat=False) as sim:
        assert isinstance(sim, SerialSim)
        cfg = config(tmp_path, sim.port)
        first = Daemon(cfg)
        task = asyncio.create_task(first.run())
        await play(first, sim, start, [0, 1])  # 80 % for 1 s: spo2.very_low raised
        active1 = first.chairs["chair-9"].engine.active("chair-9")
        first.stop_event.set()
        await asyncio.wait_for(task, 10)

        second = Daemon(cfg)
        active2 = second.chairs["chair-9"].engine.active("chair-9")
        task = asyncio.create_task(second.run())
        try:
            await play(second, sim, start, [2, 3])  # still low: nothing new to say
        finally:
            second.stop_event.set()
            await asyncio.wait_for(task, 10)

    assert [a["rule"] for a in active1] == ["spo2.very_low"]
    assert [(a["rule"], a["alert_id"]) for a in active2] == [
        ("spo2.very_low", active1[0]["alert_id"])
    ]
    ob = Outbox(cfg.storage.path, cfg.storage)
    try:
        events = [(e.rule, e.event) for e in ob.alert_events("chair-9")]
        n_readings = len(ob.readings("chair-9"))
    finally:
        ob.close()
    assert events.count(("spo2.very_low", "raised")) == 1
    assert n_readings >= 4


async def test_restored_alarm_of_a_rule_that_no_longer_escalates_does_not_escalate(
    tmp_path: Path,
) -> None:
    """Restarted with a config in which the rule no longer escalates (`escalate_s = 0`),
    the restored alarm must not escalate (clinical-rules.md "Escalation": only a rule that
    escalates is re-notified). Its escalation timer came back from the store and fired
    once at the restart, as `escalated` level 1, until 2026-12-02."""
    start = datetime.now(UTC).replace(microsecond=0)
    async with make_sim_device("masimo-ascii", repeat=False) as sim:
        assert isinstance(sim, SerialSim)
        first = Daemon(config(tmp_path, sim.port))
        task = asyncio.create_task(first.run())
        await play(first, sim, start, [0, 1])  # spo2.very_low raised, escalates in 120 s
        first.stop_event.set()
        await asyncio.wait_for(task, 10)

        cfg = config(tmp_path, sim.port, "escalate_s = 0\n")
        second = Daemon(cfg)
        task = asyncio.create_task(second.run())
        try:
            await play(second, sim, start, [2, 3])  # inputs after the restart: time moves
            active = second.chairs["chair-9"].engine.active("chair-9")
            deadline = second.chairs["chair-9"].engine.next_deadline("chair-9")
        finally:
            second.stop_event.set()
            await asyncio.wait_for(task, 10)

    assert [a["rule"] for a in active] == ["spo2.very_low"]
    assert deadline is None  # no escalation timer, and nothing else pending
    ob = Outbox(cfg.storage.path, cfg.storage)
    try:
        events = [(e.rule, e.event) for e in ob.alert_events("chair-9")]
    finally:
        ob.close()
    assert events == [("spo2.very_low", "raised")]


async def polled(chair: ChairRuntime, sim: Any) -> None:
    """Wait until the link is up and the monitor answered several more polls."""
    mon = chair.devices["mon"]
    assert await chair.wait_for(lambda: mon.link == "up", 10)
    polls = sim.polls
    assert await chair.wait_for(lambda: sim.polls >= polls + 5, 10)


async def test_bp_measurement_is_not_taken_twice_across_restart(tmp_path: Path) -> None:
    """An IntelliVue answers every poll with its last NIBP measurement; after a daemon
    restart the new session sees it again. It is the same measurement (same monitor time
    stamp): stored once, fed to the engine once, so it cannot confirm a BP rule twice."""
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    async with make_sim_device("intellivue", repeat=False) as sim:
        assert isinstance(sim, SerialSim)
        cfg = loads_config(
            '[site]\nid = "restart-test"\n'
            f"[mqtt]\nenabled = false\n[influx]\nenabled = false\n"
            f'[storage]\npath = "{tmp_path / "store.sqlite"}"\n'
            f'[[chairs]]\nid = "chair-9"\n'
            f'[[chairs.devices]]\nid = "mon"\ndriver = "intellivue"\nport = "{sim.port}"\n'
            "poll_interval_s = 0.5\n"
        )
        # 184/112 twice would raise bp.severe (confirm = 2): once must leave it pending.
        await sim.send(
            SimEvent(Kind.BP, {"sys_mmHg": 184, "dia_mmHg": 112, "map_mmHg": 136, "pulse_bpm": 80}),
            at,
        )
        for run in range(2):
            daemon = Daemon(cfg)
            task = asyncio.create_task(daemon.run())
            chair = daemon.chairs["chair-9"]
            try:
                await polled(chair, sim)
                if run == 1:
                    assert chair.duplicates >= 1  # the re-polled measurement was seen
            finally:
                daemon.stop_event.set()
                await asyncio.wait_for(task, 10)

    ob = Outbox(cfg.storage.path, cfg.storage)
    try:
        bps = [r for r, _ in ob.readings("chair-9") if r.kind == "bp"]
        events = [(e.rule, e.event) for e in ob.alert_events("chair-9")]
    finally:
        ob.close()
    assert len(bps) == 1 and bps[0].values["sys_mmHg"] == 184
    assert ("bp.severe", "pending") in events
    assert ("bp.severe", "raised") not in events
