"""Error classes (drivers/ble_errors.py) and backoff of drivers/ble_link.py (no I/O, but
for the errors bleak really raises on a Pi without BlueZ: a real dbus-daemon)."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bleak import BleakScanner
from bleak.exc import (
    BleakDBusError,
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
)

from monitord.drivers.ble_errors import (
    AdapterBusy,
    DeviceGone,
    NeedsPairing,
    NoBluez,
    Transient,
    classify,
)
from monitord.drivers.ble_link import LinkTiming, backoff_delay


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (BleakDeviceNotFoundError("AA:BB:CC:DD:EE:FF"), DeviceGone),
        (BleakError("org.bluez.Error.InProgress"), AdapterBusy),
        (BleakError("Operation already in progress"), AdapterBusy),
        (OSError("Resource busy"), AdapterBusy),
        (BleakError("Not connected"), Transient),
        (TimeoutError(), Transient),
        (EOFError(), Transient),
        # BlueZ's words for a device that takes a paired hub only (src/gatt-client.c
        # create_gatt_dbus_error: ATT 0x05, 0x0C, 0x0F; BlueZ 5.4x NotPaired), as bleak 3
        # raises them; before, Transient ("move the device closer")
        (BleakDBusError("org.bluez.Error.NotPermitted", ["Not paired"]), NeedsPairing),
        (BleakDBusError("org.bluez.Error.NotPaired", ["Not Paired"]), NeedsPairing),
        (BleakGATTProtocolError(0x05), NeedsPairing),
        (BleakGATTProtocolError(0x0C), NeedsPairing),
        # not a pairing matter: a read or write the device never allows, ATT 0x0E
        (BleakDBusError("org.bluez.Error.NotPermitted", ["Write not permitted"]), Transient),
        (BleakGATTProtocolError(0x0E), Transient),
        # other backends' text naming the code
        (
            BleakDBusError("org.bluez.Error.Failed", ["Operation failed with ATT error: 0x05"]),
            NeedsPairing,
        ),
        (
            BleakDBusError("org.bluez.Error.Failed", ["Operation failed with ATT error: 0x0f"]),
            NeedsPairing,
        ),
        # BlueZ's answers to a failed pairing (src/device.c new_authentication_return):
        # Failed (bad keys, pairing unsupported) and Rejected (the device refused) are a
        # pairing matter; Canceled (the link dropped, no resources) and Timeout (no
        # answer) pass by retrying: before, NeedsPairing (pairing advice, 5-60 s waits)
        (BleakDBusError("org.bluez.Error.AuthenticationFailed", []), NeedsPairing),
        (
            BleakDBusError("org.bluez.Error.AuthenticationRejected", ["Authentication Rejected"]),
            NeedsPairing,
        ),
        (
            BleakDBusError("org.bluez.Error.AuthenticationCanceled", ["Authentication Canceled"]),
            Transient,
        ),
        (
            BleakDBusError("org.bluez.Error.AuthenticationTimeout", ["Authentication Timeout"]),
            Transient,
        ),
        (
            BleakDBusError("org.bluez.Error.Failed", ["Operation failed with ATT error: 0x0e"]),
            Transient,
        ),
    ],
)
def test_classify(exc: BaseException, cls: type) -> None:
    err = classify(exc)
    assert type(err) is cls
    assert err.advice and err.advice in str(err)  # operator advice rides on the message


def test_backoff_is_capped_exponential_with_jitter() -> None:
    rng = random.Random(7)
    timing = LinkTiming()
    err = Transient("x")
    delays = [backoff_delay(err, n, timing, rng) for n in range(12)]
    for n, d in enumerate(delays):
        step = min(err.backoff_cap_s, err.backoff_base_s * 2**n)
        assert step * 0.5 <= d <= step
    assert max(delays) <= err.backoff_cap_s
    assert len({round(d, 6) for d in delays[6:]}) > 1  # jitter: capped steps differ
    assert backoff_delay(err, 3, LinkTiming(backoff_scale=0.01), rng) <= 0.04


_BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path={sock}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_type="method_call"/>
<allow receive_type="method_return"/><allow receive_type="error"/>
<allow receive_type="signal"/></policy></busconfig>
"""


def _bleak_error_on(bus_address: str) -> BaseException:
    """What bleak really raises on this machine when the link looks for a cuff."""

    async def find() -> None:
        await BleakScanner.find_device_by_address("A4:C1:38:12:34:56", timeout=1.0)

    old = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = bus_address
    try:
        asyncio.run(find())
    except Exception as e:
        return e
    finally:
        if old is None:
            del os.environ["DBUS_SYSTEM_BUS_ADDRESS"]
        else:
            os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = old
    raise AssertionError("bleak found a device with no BlueZ")


def test_no_bluez_on_the_pi_is_said_as_such_not_as_the_device_too_far(tmp_path: Path) -> None:
    # A Pi without D-Bus running (its socket missing) and one whose bus has no bluetoothd:
    # `monitord status` showed "retrying; if this repeats, move the device closer to the
    # hub" for both, sending the biomedical engineer to the chair; doctor said "no D-Bus".
    no_bus = classify(_bleak_error_on(f"unix:path={tmp_path}/no-such-bus"))
    sock = tmp_path / "bus.sock"
    conf = tmp_path / "bus.conf"
    conf.write_text(_BUS_CONF.format(sock=sock))
    bus = subprocess.Popen(["dbus-daemon", f"--config-file={conf}", "--nofork"])
    try:
        for _ in range(200):
            if sock.exists():
                break
            time.sleep(0.05)
        no_bluez = classify(_bleak_error_on(f"unix:path={sock}"))
    finally:
        bus.terminate()
        bus.wait(10)
    for err in (no_bus, no_bluez):
        assert type(err) is NoBluez, repr(err)
        assert "closer" not in str(err)
        assert "systemctl status dbus bluetooth" in str(err)


def _scan_on(bus_address: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": bus_address}
    run = [sys.executable, "-m", "monitord", "scan", "--seconds", "1"]
    return subprocess.run(run, capture_output=True, text=True, timeout=60, env=env)


def test_scan_without_bluez_gives_the_bluez_advice_not_the_adapters(tmp_path: Path) -> None:
    # Before: `monitord scan` turned every class but AdapterBusy into AdapterBusy, so on a
    # Pi without D-Bus or bluetoothd it said "the Bluetooth adapter is busy or off: check
    # `bluetoothctl show`" (which itself needs bluetoothd), not NoBluez's advice.
    sock = tmp_path / "bus.sock"
    conf = tmp_path / "bus.conf"
    conf.write_text(_BUS_CONF.format(sock=sock))
    bus = subprocess.Popen(["dbus-daemon", f"--config-file={conf}", "--nofork"])
    try:
        for _ in range(200):
            if sock.exists():
                break
            time.sleep(0.05)
        runs = [_scan_on(f"unix:path={tmp_path}/no-such-bus"), _scan_on(f"unix:path={sock}")]
    finally:
        bus.terminate()
        bus.wait(10)
    for p in runs:
        err = p.stderr.splitlines()
        assert p.returncode == 69, p
        assert len(err) == 1 and err[0].startswith("monitord scan: cannot scan: "), err
        assert "systemctl status dbus bluetooth" in err[0], err
        assert "busy or off" not in err[0], err
