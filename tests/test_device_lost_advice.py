"""`tech.device_lost` tells the nurse what to check for the device's transport: a serial
monitor's cable, USB adapter and power; a BLE device's power and Bluetooth range.

Before, every lost link said "check power and range", a wired monitor too: a nurse
looked for a range problem on a monitor whose cable had come out. A real chair (its
engine and device context) starts its devices through `device_runner`, which tells the
engine each device's transport; an engine not told (`monitord replay`) keeps the old
text.
"""

from __future__ import annotations

from pathlib import Path

from monitord.chair import DeviceCtx, DeviceStatus
from monitord.devices import device_runner
from monitord.engine import AlertEngine, Link
from monitord.engine.technical import LOST_ADVICE
from monitord.hub import Hub
from tests.kit import device_config, make_chair

T0 = 1_767_225_600.0


def test_device_lost_advice_follows_the_transport(tmp_path: Path) -> None:
    chair = make_chair(tmp_path, Hub())
    devices = [
        device_config(id="ox", driver="masimo-ascii", port="/dev/ttyUSB0"),
        device_config(id="cuff", driver="ble-bpm", address="AA:BB:CC:DD:EE:FF"),
    ]
    for dev in devices:
        chair.devices[dev.id] = DeviceStatus(dev.id, dev.driver)
        device_runner(dev, DeviceCtx(chair, dev.id))  # not run: the task is never started
    engine = chair.engine
    for device in ("ox", "cuff", "other"):
        engine.feed(Link(T0, "chair-1", device, up=False))
    raised = {ev.value["device"]: ev.message for ev in engine.advance(T0 + 31)}
    assert raised["ox"].endswith(LOST_ADVICE["serial"]), raised
    assert "cable" in raised["ox"] and "range" not in raised["ox"]
    assert raised["cuff"].endswith(LOST_ADVICE["ble"]), raised
    assert "range" in raised["cuff"] and "cable" not in raised["cuff"]
    assert raised["other"].endswith("check power and range")  # a device of no transport


def test_an_engine_not_told_keeps_the_recorded_text() -> None:
    engine = AlertEngine()
    engine.feed(Link(T0, "A1", "bp", up=False))
    (ev,) = engine.advance(T0 + 31)
    assert ev.message == "Device bp: link down for 30 s; check power and range"
