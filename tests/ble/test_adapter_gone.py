"""The hub's Bluetooth adapter gone (USB dongle pulled out, `rfkill block`, hci0 reset):
what bleak's BlueZ backend raises then, and what the daemon says and does.

The errors are bleak's own, raised by its BlueZ backend against a BlueZ-shaped service
(org.bluez's ObjectManager listing no adapter, or one powered off) on a real dbus-daemon.
The link's behaviour is the real `run_ble_device` over bumble peripherals, through the
bumble-backed backend's `HostAdapter` (simulators/bleak_bumble.py), which ends every
connection and raises bleak's "No Bluetooth adapters found." while unplugged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bleak import BleakScanner
from bleak.exc import BleakDBusError
from dbus_fast import BusType, PropertyAccess
from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface, dbus_property

from monitord.drivers.ble_errors import AdapterBusy, NoAdapter, classify
from monitord.drivers.ble_link import LinkTiming, backoff_delay
from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.ble import SimOximeter, SimStrap, VirtualBleLink
from monitord.simulators.bleak_bumble import HostAdapter
from tests.kit import device_config

from .helpers import RecordingContext, wait_until
from .test_e2e_link import start_link

# A system bus that lets a test process own org.bluez and answer method calls.
_BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path={sock}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/>
<allow send_type="method_call"/><allow send_type="method_return"/><allow send_type="error"/>
<allow send_type="signal"/><allow receive_type="method_call"/>
<allow receive_type="method_return"/><allow receive_type="error"/>
<allow receive_type="signal"/></policy></busconfig>
"""


class _AgentManager(ServiceInterface):
    """/org/bluez's own object: BlueZ lists it with or without an adapter."""

    def __init__(self) -> None:
        super().__init__("org.bluez.AgentManager1")


class _Adapter(ServiceInterface):
    """org.bluez.Adapter1 with the properties bleak reads to pick an adapter."""

    def __init__(self, powered: bool) -> None:
        super().__init__("org.bluez.Adapter1")
        self._powered = powered

    @dbus_property(access=PropertyAccess.READ)
    def Powered(self) -> b:  # type: ignore[name-defined]  # noqa: F821
        return self._powered

    @dbus_property(access=PropertyAccess.READ)
    def Roles(self) -> "as":  # type: ignore[valid-type]  # noqa: F722
        return ["central", "peripheral"]

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> s:  # type: ignore[name-defined]  # noqa: F821
        return "00:1A:7D:DA:71:13"


@contextmanager
def system_bus(tmp_path: Path) -> Iterator[str]:
    sock = tmp_path / "bus.sock"
    conf = tmp_path / "bus.conf"
    conf.write_text(_BUS_CONF.format(sock=sock))
    # `--print-address` prints once the bus listens (it ends the line then). Waiting for the
    # socket's file was waiting for its bind, before its listen: a connection in between was
    # refused (a loaded CI run).
    bus = subprocess.Popen(
        ["dbus-daemon", f"--config-file={conf}", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
    )
    try:
        assert bus.stdout is not None
        said = bus.stdout.readline()  # b"" if it exits first
        assert said.strip(), f"dbus-daemon did not start (exit {bus.poll()})"
        yield f"unix:path={sock}"
    finally:
        bus.terminate()
        bus.wait(10)


def _bleak_error_with(bus_address: str, adapter: _Adapter | None) -> BaseException:
    """What bleak raises when the link scans for a device, BlueZ running with `adapter`
    (None: none, as after the USB dongle was pulled out)."""

    async def scan() -> BaseException:
        bluez = await MessageBus(bus_address=bus_address, bus_type=BusType.SYSTEM).connect()
        try:
            bluez.export("/org/bluez", _AgentManager())
            if adapter is not None:
                bluez.export("/org/bluez/hci0", adapter)
            await bluez.request_name("org.bluez")
            try:
                await BleakScanner.find_device_by_address("A4:C1:38:12:34:56", timeout=1.0)
            except Exception as e:
                return e
            raise AssertionError("bleak scanned with no powered adapter")
        finally:
            bluez.disconnect()
            await bluez.wait_for_disconnect()  # type: ignore[no-untyped-call]

    old = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = bus_address
    try:
        return asyncio.run(scan())
    finally:
        if old is None:
            del os.environ["DBUS_SYSTEM_BUS_ADDRESS"]
        else:
            os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = old


def test_no_adapter_or_one_off_is_said_as_the_adapter_with_its_fix(tmp_path: Path) -> None:
    # Before: "the Bluetooth adapter is busy or off: check `bluetoothctl show` and that no
    # other program is scanning or connecting" for a dongle that is not there; and the
    # class's 60-s cap: a dongle plugged back in after a few minutes was used up to 60 s
    # later, every BLE chair without readings (and its alarms) meanwhile.
    with system_bus(tmp_path) as bus:
        gone = _bleak_error_with(bus, None)
        off = _bleak_error_with(bus, _Adapter(powered=False))
    assert "No Bluetooth adapters found" in str(gone), repr(gone)
    assert "No powered Bluetooth adapters found" in str(off), repr(off)
    # BlueZ's answer to StartDiscovery or Connect on an adapter powered off (src/adapter.c
    # start_discovery, src/device.c connect_profiles: btd_error_not_ready)
    not_ready = BleakDBusError("org.bluez.Error.NotReady", ["Resource Not Ready"])
    rng = random.Random(5)
    for e in (gone, off, not_ready):
        err = classify(e)
        assert isinstance(err, NoAdapter), repr(err)
        assert "busy" not in err.advice
        assert "Reason" not in str(err), err  # bleak's message, not its args' repr
        for words in ("plugged in", "rfkill unblock bluetooth", "bluetoothctl power on"):
            assert words in str(err), err
        # looked for again at a short pace however long it was gone
        assert max(backoff_delay(err, n, LinkTiming(), rng) for n in range(30)) <= 5.0
    # still the adapter's (`monitord scan` keeps AdapterBusy's and its subclasses' words)
    assert isinstance(classify(gone), AdapterBusy)


async def test_an_adapter_pulled_out_is_one_line_every_device_down_and_back(
    vlink: VirtualBleLink, caplog: pytest.LogCaptureFixture
) -> None:
    # Two chairs' BLE devices on one hub: an oximeter and a chest strap, both streaming.
    # The dongle is pulled out, then plugged back in.
    caplog.set_level(logging.DEBUG, logger="monitord.drivers.ble_link")
    adapter = HostAdapter()
    ox_ctx = RecordingContext(chair="chair-1", device="ox")
    hr_ctx = RecordingContext(chair="chair-2", device="hr")
    devs = [
        (ox_ctx, device_config(id="ox", driver="ble-plx", name="Ox-A", silence_s=30.0)),
        (hr_ctx, device_config(id="hr", driver="ble-hrm", name="Strap-B", silence_s=30.0)),
    ]
    spo2 = SimEvent(Kind.SPO2, {"spo2_pct": 97, "pulse_bpm": 71}, contact=True)
    beat = SimEvent(Kind.HR, {"hr_bpm": 64}, contact=True)
    async with SimOximeter("Ox-A", vlink) as ox, SimStrap("Strap-B", vlink) as strap:
        tasks = [start_link(vlink, ctx, dev, adapter=adapter) for ctx, dev in devs]

        async def values_flow(what: str) -> None:
            got = (len(ox_ctx.readings), len(hr_ctx.readings))
            for _ in range(500):
                if len(ox_ctx.readings) > got[0] and len(hr_ctx.readings) > got[1]:
                    return
                await ox.send(spo2, datetime.now(UTC))
                await strap.send(beat, datetime.now(UTC))
                await asyncio.sleep(0.02)
            raise AssertionError(f"no values {what}: ox {ox_ctx.links} hr {hr_ctx.links}")

        try:
            await values_flow("before the unplug")
            caplog.clear()
            await adapter.unplug()
            for ctx in (ox_ctx, hr_ctx):
                await ctx.until(
                    lambda c=ctx: any("No Bluetooth adapters" in r for _, r in c.links),  # type: ignore[misc]
                    f"{ctx.device} down for the adapter",
                )
            assert not ox_ctx.link_up and not hr_ctx.link_up
            # a few more rounds of both links looking for it
            await wait_until(
                lambda: sum("No Bluetooth adapters" in r.getMessage() for r in caplog.records) >= 6,
                what="retries",
            )
            told = caplog.records[:]
            adapter.plug()
            await values_flow("after the dongle is back")
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    warned = [r.getMessage() for r in told if r.levelno >= logging.WARNING]
    about = [m for m in warned if "No Bluetooth adapters" in m]
    # one line for the hub's adapter, not one per device (nor one per retry)
    assert len(about) == 1, warned
    assert "rfkill unblock bluetooth" in about[0] and "every BLE device" in about[0], about
    # each device's status still says why it is down (the reason its link gave)
    for ctx in (ox_ctx, hr_ctx):
        downs = [r for up, r in ctx.links if not up and "No Bluetooth adapters" in r]
        assert downs and "plugged in" in downs[0], ctx.links
        assert ctx.link_up


def _adapter_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and "No Bluetooth adapters" in r.getMessage()
    ]


async def test_the_adapter_gone_again_is_said_again_though_no_device_connected_between(
    vlink: VirtualBleLink, caplog: pytest.LogCaptureFixture
) -> None:
    # A hub whose one BLE device is not on the air (a cuff asleep between measurements,
    # an oximeter switched off between patients): the dongle is pulled out (said), put
    # back (the scans run again: the adapter answers), and pulled out again later in the
    # day. Before: the hub's "said" memory, and the device's own, were cleared only by a
    # connection, so the second loss was at DEBUG: nothing in the journal.
    caplog.set_level(logging.DEBUG, logger="monitord.drivers.ble_link")
    adapter = HostAdapter()
    ctx = RecordingContext(chair="chair-1", device="ox")
    dev = device_config(id="ox", driver="ble-plx", name="Ox-A", silence_s=30.0)
    task = start_link(vlink, ctx, dev, adapter=adapter, seed=2)

    def downs_for_adapter() -> int:
        return sum(not up and "No Bluetooth adapters" in r for up, r in ctx.links)

    def looks() -> int:
        return sum("No Bluetooth" in r.getMessage() for r in caplog.records)

    async def outage(n: int) -> None:
        await adapter.unplug()
        await ctx.until(lambda: downs_for_adapter() == n, f"down for the adapter ({n})")
        await wait_until(lambda: looks() >= 3 * n, what="a few looks for the adapter")
        adapter.plug()
        # the adapter answers: the device is down for its own cause again
        await ctx.until(
            lambda: not ctx.links[-1][0] and "No Bluetooth" not in ctx.links[-1][1],
            "the scan runs again",
        )

    try:
        await ctx.until(lambda: bool(ctx.links), "the device looked for")
        await outage(1)
        await outage(2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    said = _adapter_lines(caplog)
    assert len(said) == 2, said  # once per outage (before: 1, the second at DEBUG)
    assert all("rfkill unblock bluetooth" in m for m in said), said


async def test_two_hubs_on_one_air_each_say_their_own_adapter(
    vlink: VirtualBleLink, caplog: pytest.LogCaptureFixture
) -> None:
    # Two daemons' hubs in one process (as tests run them), each its own adapter on one
    # simulated air: each adapter pulled out is said. Before: the memory was keyed by the
    # air (the link's id()), so the second hub's adapter was said at DEBUG only.
    caplog.set_level(logging.DEBUG, logger="monitord.drivers.ble_link")
    hubs = [HostAdapter(), HostAdapter()]
    ctxs = [RecordingContext(chair=f"chair-{i}", device="ox") for i in (1, 2)]
    tasks = []
    for i, (hub, ctx) in enumerate(zip(hubs, ctxs, strict=True)):
        dev = device_config(id="ox", driver="ble-plx", name=f"Ox-{i}", silence_s=30.0)
        tasks.append(start_link(vlink, ctx, dev, adapter=hub, seed=i))
    try:
        for hub in hubs:
            await hub.unplug()
        for ctx in ctxs:
            await ctx.until(
                lambda c=ctx: any("No Bluetooth" in r for _, r in c.links),  # type: ignore[misc]
                "down for its adapter",
            )
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    said = _adapter_lines(caplog)
    assert sorted(m.split("/")[0] for m in said) == ["chair-1", "chair-2"], said
