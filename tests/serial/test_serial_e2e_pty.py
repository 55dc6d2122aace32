"""End to end over real pseudo-terminals: simulator -> pty -> serial transport -> protocol
-> readings, including unplug (pty closed) and replug under a new pty behind a symlink."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from serial_testkit import RecordingContext

from monitord.config import DeviceConfig
from monitord.drivers import intellivue
from monitord.drivers.base import RejectReason
from monitord.drivers.registry import DRIVERS
from monitord.drivers.serial_link import LinkError, PortBackoff, run_serial_device
from monitord.models import Kind
from monitord.simulators._serial_base import SerialSim
from monitord.simulators.base import SimEvent
from monitord.simulators.intellivue import IntelliVueSim
from monitord.simulators.masimo import MasimoSim
from monitord.simulators.nonin import NoninSim
from monitord.simulators.pty import PtyPort
from monitord.simulators.serial_sims import make_sim_device
from tests.kit import device_config

FAST = PortBackoff(base_s=0.05, cap_s=0.3)


@contextlib.asynccontextmanager
async def running(dev: DeviceConfig, ctx: RecordingContext) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(run_serial_device(dev, DRIVERS[dev.driver], ctx, backoff=FAST))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _at(seconds_ago: float = 0.0) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=seconds_ago)


async def test_intellivue_scenario_unplug_and_replug(tmp_path: Path, ctx: RecordingContext) -> None:
    link = tmp_path / "ttyIntelliVue"
    sim = IntelliVueSim(symlink=link)
    dev = device_config(id="mon", driver="intellivue", port=str(link), poll_interval_s=0.5)
    async with sim, running(dev, ctx):
        assert isinstance(sim.port_obj, PtyPort)
        slave = sim.port_obj.slave_path
        assert link.is_symlink() and str(link.readlink()) == slave
        bp_at = _at(30)
        await sim.send(
            SimEvent(Kind.BP, {"sys_mmHg": 124, "dia_mmHg": 86, "map_mmHg": 97, "pulse_bpm": 51}),
            bp_at,
        )
        await sim.send(SimEvent(Kind.HR, {"hr_bpm": 72}), _at(2))
        await sim.send(SimEvent(Kind.SPO2, {"spo2_pct": 97, "pulse_bpm": 71}), _at(1))
        await ctx.until(
            lambda: ctx.of(Kind.BP) and ctx.of(Kind.HR) and ctx.of(Kind.SPO2), "all kinds"
        )
        assert ctx.links[0][0] is True and sim.associations == 1
        bp = ctx.of(Kind.BP)[0]
        assert dict(bp.values) == {"sys_mmHg": 124, "dia_mmHg": 86, "map_mmHg": 97, "pulse_bpm": 51}
        assert bp.valid and bp.measured_at == bp_at and bp.device_time == bp_at
        assert dict(ctx.of(Kind.HR)[0].values) == {"hr_bpm": 72}
        assert dict(ctx.of(Kind.SPO2)[0].values) == {"spo2_pct": 97, "pulse_bpm": 71}
        # Repeated polls of the same NIBP measurement are not new readings.
        polls = sim.polls
        await ctx.until(lambda: sim.polls >= polls + 5, "five more polls")
        assert len(ctx.of(Kind.BP)) == 1 and len(ctx.of(Kind.HR)) == 1

        # A corrupted frame is counted and skipped; the session carries on.
        sim.corrupt_next(1)
        await ctx.until(
            lambda: any(r.reason is RejectReason.BAD_CHECKSUM for r in ctx.rejects), "FCS reject"
        )
        await sim.send(SimEvent(Kind.HR, {"hr_bpm": 80}), _at())
        await ctx.until(lambda: len(ctx.of(Kind.HR)) == 2, "second HR")

        # Unplug: the pty goes away -> link down.
        await sim.drop_link()
        await ctx.until(lambda: ctx.links[-1][0] is False, "link down")
        assert not link.exists()
        # Replug on a new pty behind the same symlink -> link up, new association.
        await asyncio.sleep(0.3)  # let the transport retry against a missing port
        # The kernel reuses pty numbers; hold the freed one so the device comes back under
        # a new /dev/pts path, as a replugged USB adapter may come back as another ttyUSB.
        squat = os.openpty()
        try:
            await sim.restore_link()
        finally:
            for fd in squat:
                os.close(fd)
        # (Not asserted: another process on the machine may free and take pty numbers in
        # between, so the new path can still equal the old one; the symlink is what matters.)
        await ctx.until(lambda: ctx.links[-1][0] is True, "link up again")
        await ctx.until(lambda: sim.associations == 2 and sim.polls > 0, "re-associated")
        await sim.send(SimEvent(Kind.SPO2, {"spo2_pct": 91, "pulse_bpm": 88}), _at())
        await ctx.until(lambda: ctx.of(Kind.SPO2)[-1].values["spo2_pct"] == 91, "SpO2 after replug")
        # The NIBP measurement from before the unplug is still not repeated.
        assert len(ctx.of(Kind.BP)) == 1
    # Up, down, up; the down told again when its cause changed (the read failed, then the
    # port was missing: replug advice), never twice for one cause.
    assert [k for k, _ in itertools.groupby(up for up, _ in ctx.links)] == [True, False, True]
    downs = [why.partition(":")[0] for up, why in ctx.links if not up]
    assert len(downs) == len(set(downs)), ctx.links


async def test_intellivue_release_on_stop_and_invalid_states(
    tmp_path: Path, ctx: RecordingContext
) -> None:
    sim = IntelliVueSim()
    async with sim:
        dev = device_config(id="mon", driver="intellivue", port=sim.port, poll_interval_s=0.5)
        async with running(dev, ctx):
            await sim.send(SimEvent(Kind.BP, {"sys_mmHg": 80, "dia_mmHg": 40}, error=True), _at(5))
            await sim.send(SimEvent(Kind.SPO2, {"spo2_pct": 97}, contact=False), _at(4))
            await ctx.until(lambda: ctx.of(Kind.BP) and ctx.of(Kind.SPO2), "readings")
            bp, spo2 = ctx.of(Kind.BP)[0], ctx.of(Kind.SPO2)[0]
            assert not bp.valid and "invalid" in bp.flags
            assert not spo2.valid and spo2.values["spo2_pct"] is None
            assert bp.values["map_mmHg"] is None  # absent in the event: NaN on the wire
        await ctx.until(lambda: sim.releases == 1, "release request on stop")


async def test_intellivue_over_socket(ctx: RecordingContext) -> None:
    sim = make_sim_device("intellivue", socket_port=0)
    async with sim:
        assert isinstance(sim, IntelliVueSim) and sim.port.startswith("socket://127.0.0.1:")
        dev = device_config(id="mon", driver="intellivue", port=sim.port, poll_interval_s=0.5)
        async with running(dev, ctx):
            await sim.send(SimEvent(Kind.HR, {"hr_bpm": 64}), _at())
            await ctx.until(lambda: ctx.of(Kind.HR), "HR over socket://")
            await sim.drop_link()
            await ctx.until(lambda: ctx.links[-1][0] is False, "socket link down")
            await sim.restore_link()
            await sim.send(SimEvent(Kind.HR, {"hr_bpm": 66}), _at())
            await ctx.until(
                lambda: ctx.of(Kind.HR)[-1].values["hr_bpm"] == 66, "HR after reconnect"
            )
    assert ctx.of(Kind.HR)[0].values["hr_bpm"] == 64


async def test_masimo_through_transport_skips_corrupt_line(ctx: RecordingContext) -> None:
    sim = MasimoSim()
    async with sim:
        dev = device_config(id="ox", driver="masimo-ascii", port=sim.port)
        async with running(dev, ctx):
            await sim.send(SimEvent(Kind.SPO2, {"spo2_pct": 98, "pulse_bpm": 72}), _at(3))
            await ctx.until(lambda: ctx.of(Kind.SPO2), "first line")
            sim.write(b"02/14/24 10:23:45 SN=1 SPO2=9x8% BPM=097 EXC=000000\r\n")
            await sim.send(SimEvent(Kind.SPO2, {"spo2_pct": 93, "pulse_bpm": 75}), _at(1))
            await ctx.until(
                lambda: ctx.of(Kind.SPO2)[-1].values["spo2_pct"] == 93, "line after the bad one"
            )
    assert [r.reason for r in ctx.rejects] == [RejectReason.BAD_FORMAT]
    assert all(r.values["spo2_pct"] in (98, 93) for r in ctx.of(Kind.SPO2))


async def test_nonin_stream_and_probe_off(ctx: RecordingContext) -> None:
    sim = NoninSim()
    async with sim:
        dev = device_config(id="ox", driver="nonin-2", port=sim.port)
        async with running(dev, ctx):
            await sim.send(SimEvent(Kind.SPO2, {"spo2_pct": 96, "pulse_bpm": 300}), _at())
            await ctx.until(lambda: ctx.of(Kind.SPO2), "nonin reading")
            r = ctx.of(Kind.SPO2)[0]
            assert dict(r.values) == {"spo2_pct": 96, "pulse_bpm": 300} and r.valid
            await sim.send(SimEvent(Kind.SPO2, {"spo2_pct": 96}, contact=False), _at())
            await ctx.until(lambda: not ctx.of(Kind.SPO2)[-1].valid, "probe off")
            assert ctx.of(Kind.SPO2)[-1].contact is False
    assert ctx.rejects == []


# A line that stays silent (a real pty no byte is written to): the warning carries the
# driver's own advice when its descriptor declares `silence_advice`, else the transport's.
# masimo-ascii declares one: a Rad-8 in its factory ASCII 2 mode shows no output at all
# (github.com/yahnatan/pulseox README, "Tips/Troubleshooting"); nonin-2 does not.
SILENT = [
    (MasimoSim, "masimo-ascii", "set its serial output to ASCII 1"),
    (NoninSim, "nonin-2", LinkError.IO.advice),
]


@pytest.mark.parametrize(("sim_cls", "driver", "says"), SILENT, ids=[s[1] for s in SILENT])
async def test_silent_line_warns_once_with_the_drivers_advice(
    ctx: RecordingContext,
    caplog: pytest.LogCaptureFixture,
    sim_cls: type[SerialSim],
    driver: str,
    says: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with sim_cls(repeat=False) as sim:
        dev = device_config(id="ox", driver=driver, port=sim.port, silence_s=0.2)
        async with running(dev, ctx):
            await ctx.until(lambda: len(ctx.links) >= 1, "link down report")
            await asyncio.sleep(0.6)  # silent again after each reopen
    silent = [r for r in caplog.records if "silent for" in r.getMessage()]
    assert [r.levelname for r in silent][:1] == ["WARNING"], silent
    assert says in silent[0].getMessage()
    assert len(silent) > 1 and all(r.levelname == "DEBUG" for r in silent[1:])


@pytest.mark.parametrize("driver", ["masimo-ascii", "nonin-2", "intellivue"])
async def test_port_missing_reports_link_down_once(
    tmp_path: Path, ctx: RecordingContext, driver: str
) -> None:
    dev = device_config(id="x", driver=driver, port=str(tmp_path / "absent"))
    async with running(dev, ctx):
        await ctx.until(lambda: len(ctx.links) >= 1, "link down report")
        await asyncio.sleep(0.3)  # several retries
    assert ctx.links == [(False, ctx.links[0][1])] and "cannot open" in ctx.links[0][1]


async def test_line_settings_refused_is_one_clear_line_and_the_loop_retries(
    ctx: RecordingContext, caplog: pytest.LogCaptureFixture
) -> None:
    # A pty in raw mode refuses odd parity (termios EINVAL), as a USB adapter refuses a
    # setting it lacks. That error is no OSError: it used to end the device's task.
    async with MasimoSim(repeat=False) as sim:
        dev = device_config(id="ox", driver="masimo-ascii", port=sim.port, parity="O")
        async with running(dev, ctx) as task:
            await ctx.until(lambda: len(ctx.links) >= 1, "link down report")
            await asyncio.sleep(0.5)  # several retries
            assert not task.done()
    assert ctx.links == [(False, ctx.links[0][1])] and "cannot open" in ctx.links[0][1]
    refused = [r for r in caplog.records if "line settings refused" in r.getMessage()]
    assert [r.levelname for r in refused][:1] == ["WARNING"]
    assert all(r.levelname == "DEBUG" for r in refused[1:])


async def test_undecodable_bytes_are_a_lost_link_until_a_line_decodes(
    ctx: RecordingContext, caplog: pytest.LogCaptureFixture
) -> None:
    # A monitor at the wrong baud rate floods the port with bytes none of which decode.
    # The first byte used to report the link up, and the flood kept the silence timer
    # quiet: no tech.device_lost ever, while not one reading came.
    rng = random.Random(7)
    async with MasimoSim(repeat=False) as sim:
        dev = device_config(id="ox", driver="masimo-ascii", port=sim.port, silence_s=0.5)
        async with running(dev, ctx):
            for _ in range(40):  # 2 s of garbage, 2 kB/s
                sim.write(rng.randbytes(100))
                await asyncio.sleep(0.05)
            assert ctx.links and not any(up for up, _ in ctx.links), ctx.links
            assert "no data decoded" in ctx.links[0][1]
            assert ctx.rejects and not ctx.readings
            # the right baud rate (a line a second, faster here): the first line that
            # decodes brings the link up
            for _ in range(50):
                await sim.send(SimEvent(Kind.SPO2, {"spo2_pct": 97, "pulse_bpm": 70}), _at())
                if ctx.link_up:
                    break
                await asyncio.sleep(0.2)
            await ctx.until(lambda: ctx.link_up and ctx.of(Kind.SPO2), "link up, reading")
            assert [up for up, _ in ctx.links] == [False, True]
    garbled = [r for r in caplog.records if LinkError.GARBLED.value in r.getMessage()]
    assert [r.levelname for r in garbled][:1] == ["WARNING"], garbled
    assert LinkError.GARBLED.advice in garbled[0].getMessage()


async def test_intellivue_refusing_every_association_is_a_lost_link(
    ctx: RecordingContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A monitor whose Data Export refuses us (another client holds it, export off on this
    # port) answers every association request with a refusal: decoded, but no data. Each
    # refusal used to bring the link up again, so the link flapped and tech.device_lost
    # never came. The wait after a refusal is cut from 5 s so that cycles come quickly.
    monkeypatch.setattr(intellivue, "ANSWER_TIMEOUT_S", 0.3)
    async with IntelliVueSim() as sim:
        sim.refuse_next = True
        refused = 0
        dev = device_config(id="mon", driver="intellivue", port=sim.port, silence_s=0.5)
        async with running(dev, ctx):
            for _ in range(60):  # 3 s: several association attempts, each refused
                await asyncio.sleep(0.05)
                refused += not sim.refuse_next  # the simulator took it
                sim.refuse_next = True
            assert refused >= 2 and sim.associations == 0
            assert ctx.links and not any(up for up, _ in ctx.links), ctx.links
            sim.refuse_next = False
            await ctx.until(lambda: ctx.link_up and sim.polls > 0, "accepted: up, polled")
