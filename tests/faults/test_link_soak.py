"""Months of a device coming and going must not leak: the daemon's open file descriptors,
asyncio tasks and threads come back to the same counts after hundreds of drops.

Real parts, each with a test backoff of milliseconds so hundreds of cycles take seconds:
the Masimo simulator on a real pty behind the serial transport (300 unplugs), a bumble
heart-rate strap behind bleak and the BLE transport (100 disconnects), a real mosquitto
behind the MQTT sink (50 restarts). Counted in this process (/proc/self/fd,
asyncio.all_tasks, threading), where the transports and the sink run as in the daemon.
No leak was found (these guard it); the counts are taken after a few warm-up cycles (the
default executor's threads start on first use).
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path

from monitord.config import MqttConfig, StorageConfig
from monitord.drivers.ble_link import LinkTiming, run_ble_device
from monitord.drivers.registry import DRIVERS
from monitord.drivers.serial_link import PortBackoff, run_serial_device
from monitord.models import Kind
from monitord.outbox import Outbox
from monitord.simulators.base import SimEvent
from monitord.simulators.ble import VirtualBleLink, backends
from monitord.simulators.ble import make_sim_device as make_ble_device
from monitord.simulators.serial_sims import make_sim_device
from monitord.sinks.mqtt import MqttSink
from tests.delivery.helpers import alert, no_command
from tests.kit import RecordingContext, device_config, eventually
from tests.servers import Mosquitto, session_tmpdir

FAST = PortBackoff(base_s=0.002, cap_s=0.01, min_s=0.001, missing_cap_s=0.005)
BLE_FAST = LinkTiming(scan_timeout_s=1.0, connect_timeout_s=5.0, backoff_scale=0.001)
LINE = SimEvent(Kind.SPO2, {"spo2_pct": 97, "pulse_bpm": 70})


def counts() -> tuple[int, int, int]:
    """(open fds, asyncio tasks, threads) of this process. The loop's default executor
    (asyncio.to_thread: the serial port's path look-ups) is a pool that may start another
    worker when the last one is not idle yet on a busy machine: bounded by its
    max_workers (checked), not a leak, so its workers are not counted. Garbage is
    collected first: an earlier test's port or socket in a reference cycle, closed by the
    collector in the middle of the soak, read as fewer fds after than before (a failure
    when the test ran after others); what a leak holds is reachable, never collected."""
    gc.collect()
    pool = [t for t in threading.enumerate() if t.name.startswith("asyncio_")]
    executor = getattr(asyncio.get_running_loop(), "_default_executor", None)
    if executor is not None:
        assert len(pool) <= executor._max_workers, pool
    threads = threading.active_count() - len(pool)
    return len(os.listdir("/proc/self/fd")), len(asyncio.all_tasks()), threads


async def back_to(before: tuple[int, int, int], what: str) -> None:
    """The counts come back to `before`. Polled, not read once: the last cycle's hang-up
    or a socket's close may still be on its way when it ends (a transient count, seen
    once under load); a leak never comes back."""
    last = [before]

    def same() -> bool:
        last[0] = counts()
        return last[0] == before

    try:
        await eventually(same, 10, what)
    except AssertionError:
        raise AssertionError(f"(fds, tasks, threads) before {before}, {what} {last[0]}") from None


async def test_a_serial_device_dropping_300_times_leaks_nothing(tmp_path: Path) -> None:
    port = tmp_path / "ox.tty"
    sim = make_sim_device("masimo-ascii", symlink=port, repeat=False)
    ctx = RecordingContext(device="ox")
    dev = device_config(id="ox", driver="masimo-ascii", port=str(port))
    task = asyncio.create_task(run_serial_device(dev, DRIVERS["masimo-ascii"], ctx, backoff=FAST))

    async def cycle(n: int) -> None:
        """The device plugged in until its link is up (the n-th time), then unplugged
        until the link is down."""
        await sim.restore_link()
        while sum(up for up, _ in ctx.links) < n:
            await sim.send(LINE, datetime.now(UTC))
            await asyncio.sleep(0.005)
        await sim.drop_link()
        await eventually(lambda: not ctx.link_up, 10, f"link {n} down")

    try:
        for n in range(1, 6):  # warm-up: the executor's threads, the loop's first users
            await cycle(n)
        before = counts()
        for n in range(6, 306):
            await cycle(n)
        await back_to(before, "after 300 drops")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sim.__aexit__(None, None, None)
    assert sum(up for up, _ in ctx.links) == 305


async def test_a_ble_device_reconnecting_100_times_leaks_nothing() -> None:
    vlink = VirtualBleLink()
    client, scanner = backends(vlink)
    ctx = RecordingContext(device="hr")
    dev = device_config(id="hr", driver="ble-hrm", name="Strap-soak", silence_s=30.0)
    beat = SimEvent(Kind.HR, {"hr_bpm": 64}, contact=True)
    async with make_ble_device("ble-hrm", "Strap-soak", vlink) as strap:
        run = run_ble_device(
            dev, DRIVERS["ble-hrm"], ctx, client_backend=client, scanner_backend=scanner,
            timing=BLE_FAST, rng=random.Random(1),
        )  # fmt: skip
        task = asyncio.create_task(run)

        async def cycle(n: int) -> None:
            """In range until the link is up the n-th time and a value came, then gone
            (disconnected, not advertising) until it is down."""
            await strap.restore_link()
            got = len(ctx.readings)
            while sum(up for up, _ in ctx.links) < n or len(ctx.readings) == got:
                await strap.send(beat, datetime.now(UTC))
                await asyncio.sleep(0.01)
            await strap.drop_link()
            await eventually(lambda: not ctx.link_up, 10, f"link {n} down")

        try:
            for n in range(1, 4):  # warm-up
                await cycle(n)
            before = counts()
            for n in range(4, 104):
                await cycle(n)
            await back_to(before, "after 100 drops")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert sum(up for up, _ in ctx.links) == 103


async def test_the_mqtt_sink_through_50_broker_restarts_leaks_nothing_and_sends_all(
    tmp_path: Path,
) -> None:
    """An alarm stored while the broker is down, each of 50 restarts: every one is sent
    (events_sent) and marked delivered (no backlog), and the counts come back."""
    workdir = session_tmpdir("mosq-soak")
    broker = Mosquitto(workdir)
    broker.start()
    p = tmp_path / "outbox.sqlite"
    outbox = Outbox(p, StorageConfig(path=p))
    cfg = MqttConfig(host=broker.host, port=broker.port, prefix="soak", timeout_s=2)
    sink = MqttSink(cfg, "site-a", ["chair-1"], outbox, no_command,
                    backoff_base_s=0.01, backoff_cap_s=0.05)  # fmt: skip
    task = asyncio.create_task(sink.run())

    async def cycle(i: int) -> None:
        await asyncio.to_thread(broker.stop)
        await eventually(lambda: not sink.connected, 10, f"down {i}")
        outbox.add_alert_events([alert(i)])
        outbox.commit()
        sink.wake()
        await asyncio.to_thread(broker.start)
        await eventually(lambda: sink.stats.events_sent == i + 1, 10, f"alarm {i} sent")
        await eventually(lambda: outbox.backlog("mqtt") == 0, 10, f"alarm {i} marked")

    try:
        await eventually(lambda: sink.connected, 10, "connected")
        for i in range(3):  # warm-up
            await cycle(i)
        before = counts()
        for i in range(3, 53):
            await cycle(i)
        await back_to(before, "after 50 restarts")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        outbox.close()
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    assert sink.stats.events_sent == 53
