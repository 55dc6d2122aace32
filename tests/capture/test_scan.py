"""Acceptance 5 (issue 13): `monitord scan` lists the simulated BLE devices of the virtual
link with names, services, quirks and config lines that the config loader accepts.

The command function runs in-process with the virtual link's scanner backend passed in
(`monitord.commands.scan.run(args, scanner_backend=...)`), the same code path as on BlueZ
where the backend is None.
"""

from __future__ import annotations

import argparse
import io
import tomllib
from pathlib import Path

import pytest
from bleak.backends.scanner import BaseBleakScanner
from bumble.gatt import Service

from monitord.commands.scan import run
from monitord.config import load_config
from monitord.drivers.registry import DRIVERS
from monitord.simulators.ble import SimCuff, SimOximeter, SimStrap, VirtualBleLink, backends
from monitord.simulators.ble.devices import _Peripheral


class _Thermometer(_Peripheral):
    """A BLE device with another service (Health Thermometer 0x1809): not listed."""

    service16 = 0x1809

    def _services(self) -> list[Service]:
        return []


async def test_scan_lists_vital_signs_devices_with_config_lines(tmp_path: Path) -> None:
    air = VirtualBleLink()
    # a name in the cuff driver's model table gets that model's quirks
    profile = DRIVERS["ble-bpm"].ble_profile
    assert profile is not None
    model = next(iter(profile.model_quirks))
    cuff_name = f"{model} Cuff"
    want_quirks = sorted(profile.quirks_for(cuff_name, None))
    assert want_quirks, "the quirk table gives this name no quirks: the test would prove less"
    _, scanner = backends(air)
    out = io.StringIO()
    async with (
        SimCuff(cuff_name, air) as cuff,
        SimCuff("Cuff-2", air) as cuff2,
        SimStrap("Strap", air) as strap,
        SimOximeter("Oxi", air) as oxi,
        _Thermometer("Thermo", air),
    ):
        rc = await run(argparse.Namespace(seconds=1.0), scanner_backend=scanner, out=out)
    assert rc == 0
    text = out.getvalue()
    lines = text.splitlines()

    def seen(name: str) -> str:
        hit = [line for line in lines if line.startswith(f"# {name}  ")]
        assert len(hit) == 1, text
        return hit[0]

    assert f"services: 0x1810 blood pressure  quirks: {', '.join(want_quirks)}" in seen(cuff_name)
    assert "services: 0x1810 blood pressure  quirks: none" in seen("Cuff-2")
    assert "services: 0x180D heart rate" in seen("Strap")
    assert "services: 0x1822 pulse oximeter" in seen("Oxi")
    assert "RSSI " in seen("Oxi")
    assert "Thermo" not in text

    # stdout is TOML: pasted under a chair, it is a config the daemon accepts
    devices = tomllib.loads(text)["chairs"]["devices"]
    by_name = {d["name"]: d for d in devices}
    assert {n: (d["driver"], d["address"]) for n, d in by_name.items()} == {
        cuff_name: ("ble-bpm", cuff.address_str),
        "Cuff-2": ("ble-bpm", cuff2.address_str),
        "Strap": ("ble-hrm", strap.address_str),
        "Oxi": ("ble-plx", oxi.address_str),
    }
    assert sorted(d["id"] for d in devices) == ["bp", "bp-2", "hr", "spo2"]
    cfg = tmp_path / "pasted.toml"
    cfg.write_text(
        '[site]\nid = "scan-test"\n'
        '[mqtt]\nenabled = false\n[influx]\nenabled = false\n[[chairs]]\nid = "chair-1"\n'
        + text.replace("[[chairs.devices]]", "  [[chairs.devices]]")
    )
    assert len(load_config(cfg).chairs[0].devices) == 4


async def test_scan_with_nothing_around_says_so() -> None:
    _, scanner = backends(VirtualBleLink())
    out = io.StringIO()
    assert await run(argparse.Namespace(seconds=0.3), scanner_backend=scanner, out=out) == 0
    assert out.getvalue().startswith("# no device advertising BP, HR or PLX services seen")


class _NoAdapter(BaseBleakScanner):
    """A scanner backend whose adapter is missing, as BlueZ without D-Bus behaves."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(None, None)

    async def start(self) -> None:
        raise FileNotFoundError(2, "No such file or directory")

    async def stop(self) -> None:
        return None


async def test_scan_without_adapter_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    assert await run(argparse.Namespace(seconds=0.3), scanner_backend=_NoAdapter, out=out) == 69
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("monitord scan: cannot scan: "), err
    assert "systemctl status dbus bluetooth" in err[0]  # the operator's next step (NoBluez)
    assert out.getvalue() == ""


async def test_scan_says_a_device_connected_to_monitord_is_not_listed() -> None:
    # Two cuffs of one model: this chair's held by a running monitord (connected, so not
    # advertising), the next chair's advertising. Before: the output listed the next
    # chair's cuff alone, its address ready to paste, and nothing said this chair's was
    # missing: the admin configured the other patient's cuff by address (then read with
    # no warning ever).
    import asyncio
    import random

    from monitord.drivers.ble_link import LinkTiming, run_ble_device
    from tests.kit import RecordingContext, device_config

    air = VirtualBleLink()
    client, scanner = backends(air)
    ctx = RecordingContext(device="bp")
    out = io.StringIO()
    async with SimCuff("A&D_UA-651", air) as ours, SimCuff("A&D_UA-651", air) as theirs:
        dev = device_config(id="bp", driver="ble-bpm", address=ours.address_str)
        daemon = asyncio.create_task(
            run_ble_device(
                dev,
                DRIVERS[dev.driver],
                ctx,
                client_backend=client,
                scanner_backend=scanner,
                timing=LinkTiming(scan_timeout_s=1.0, backoff_scale=0.01),
                rng=random.Random(1),
            )
        )
        try:
            await ctx.until(lambda: ctx.link_up, "this chair's cuff connected")
            rc = await run(argparse.Namespace(seconds=0.5), scanner_backend=scanner, out=out)
        finally:
            daemon.cancel()
            await asyncio.gather(daemon, return_exceptions=True)
    assert rc == 0
    text = out.getvalue()
    assert ours.address_str not in text and theirs.address_str in text, text
    assert (
        "# a device connected now (to a running monitord, or to a phone) does not advertise "
        "and is not listed: stop monitord (`systemctl stop monitord`) and wake each device "
        "before choosing its address"
    ) in text.splitlines(), text
