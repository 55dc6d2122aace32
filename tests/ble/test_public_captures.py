"""More real BLE values from public sources (each row cites its repository, path and
commit or its issue), decoded as the daemon decodes them.

- Polar H7 straps (0x2A37): the console output of github.com/FleXoft/Polar-H7-HRM, a
  macOS reader run against the author's own strap ("Polar H7 470F1F17", software
  "H7 2.1.0", manufacturer "Polar Electro Oy", as the same log reads them from the
  Device Information Service). Each notification is printed as a byte list next to what
  that program decoded from it (heart rate, each RR in ms); those are the expected values
  here, RR rounded to 0.1 ms as our decoder reports it.
- A cuff that puts a non-standard value on 0x2A35 (github.com/pauldemarco/flutter_blue
  issue #687): the daemon must not turn it into a plausible-looking wrong number.

Only the bytes and the values their projects print are used (facts), no code.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest

from monitord.capturefile import Capture, parse_capture
from monitord.cli import main as cli_main
from monitord.drivers.base import Reject, RejectReason
from monitord.drivers.ble_bpm import decode_bp
from monitord.drivers.ble_hrm import HeartRate, decode_hrm
from monitord.drivers.ble_link import LinkTiming, run_ble_device
from monitord.drivers.registry import DRIVERS
from monitord.simulators.ble import VirtualBleLink, backends
from monitord.simulators.capture_play import BleCapturePlayer
from tests.kit import RecordingContext, device_config

# github.com/FleXoft/Polar-H7-HRM README.md "My console messages" at commit
# 010c057a9037aa9015e6889e0f9a08c7fa2e80b7 (the strap named "Polar H7 470F1F17").
H7_README = "github.com/FleXoft/Polar-H7-HRM README.md @010c057a (Polar H7 470F1F17)"
# github.com/FleXoft/Polar-H7-HRM/issues/1, the log the project's author posted (turn 1):
# the same program on a strap that sets flags 0x10 (RR present, contact not supported).
H7_ISSUE = "github.com/FleXoft/Polar-H7-HRM/issues/1 (author's console log)"

# (source, bytes as the log prints them (decimal), expected record)
STRAPS: list[tuple[str, list[int], dict[str, Any]]] = [
    # first notification after subscribing: no RR yet; flags 0x06 = contact supported
    # and detected
    (H7_README, [6, 82], {"hr_bpm": 82, "rr_ms": [], "contact": True}),
    # "RR: 649.4140625 ms", "Heart Rate: 84 bpm"
    (H7_README, [22, 84, 153, 2], {"hr_bpm": 84, "rr_ms": [649.4], "contact": True}),
    # "RR: 641.6015625 ms", "RR: 658.203125 ms", "Heart Rate: 86 bpm"
    (
        H7_README,
        [22, 86, 145, 2, 162, 2],
        {"hr_bpm": 86, "rr_ms": [641.6, 658.2], "contact": True},
    ),
    # "RR: 692.3828125 ms", "Heart Rate: 86 bpm"
    (H7_README, [22, 86, 197, 2], {"hr_bpm": 86, "rr_ms": [692.4], "contact": True}),
    # flags 0x10: this strap does not report contact at all: contact unknown (None), and
    # the reading is still valid (no contact bit is not "no contact")
    (
        H7_ISSUE,
        [16, 78, 210, 2, 200, 2],
        {"hr_bpm": 78, "rr_ms": [705.1, 695.3], "contact": None},
    ),
    (H7_ISSUE, [16, 79, 183, 2], {"hr_bpm": 79, "rr_ms": [678.7], "contact": None}),
    (H7_ISSUE, [16, 80, 192, 2], {"hr_bpm": 80, "rr_ms": [687.5], "contact": None}),
    (
        H7_ISSUE,
        [16, 81, 0, 3, 18, 3],
        {"hr_bpm": 81, "rr_ms": [750.0, 767.6], "contact": None},
    ),
    (H7_ISSUE, [16, 81, 50, 3], {"hr_bpm": 81, "rr_ms": [798.8], "contact": None}),
]


def hexs(data: list[int]) -> str:
    return " ".join(f"{b:02X}" for b in data)


@pytest.mark.parametrize(
    ("source", "data", "expected"), STRAPS, ids=[f"{i}-{hexs(s[1])}" for i, s in enumerate(STRAPS)]
)
def test_polar_h7_notifications(
    source: str, data: list[int], expected: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    rec = decode_hrm(bytes(data))
    assert isinstance(rec, HeartRate), source
    assert rec.to_record() == {
        **expected,
        "energy_kJ": None,
        "measured_at": None,
        "status": [],
        "valid": True,
    }, source
    # the support engineer's way gives the same
    assert cli_main(["decode", "--profile", "ble-hrm", hexs(data)]) == 0
    assert json.loads(capsys.readouterr().out) == rec.to_record()


# github.com/pauldemarco/flutter_blue/issues/687 (prkay, 2020-09-24): the value of
# 0x2A35 (service 0x1810) from a blood pressure monitor (model not named), as a Dart byte
# list. The reporter later worked out which bytes are which: systolic 117, diastolic 85,
# 95 (MAP), 2020-09-24 16:09:58, pulse 105, at offsets shifted by a non-standard prefix
# (the first byte, 0xFE, is not a Blood Pressure Measurement flags byte: it sets the
# reserved bits 5-7). Read as the standard layout, the systolic field is 0x2720 (182400
# mmHg) and the rest shifts: the daemon rejects the value, naming the field, instead of
# reporting, say, 117 as a diastolic pressure.
FLUTTER_BLUE_687 = [254, 32, 39, 0, 117, 0, 85, 0, 95, 0, 228, 7, 9, 24, 16, 9, 58, 105, 0, 1]


def test_non_standard_cuff_value_is_rejected_not_misread(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rec = decode_bp(bytes(FLUTTER_BLUE_687))
    assert isinstance(rec, Reject), rec
    assert rec.reason is RejectReason.IMPLAUSIBLE
    assert "sys 182400 mmHg" in rec.detail
    assert cli_main(["decode", "--profile", "ble-bpm", hexs(FLUTTER_BLUE_687)]) == 65
    out = capsys.readouterr()
    assert json.loads(out.out)["rejected"] == "implausible_value"
    assert "sys 182400 mmHg outside 0..300 mmHg" in out.err


HR_CHAR = "00002a37-0000-1000-8000-00805f9b34fb"
H7_NAME = "Polar H7 470F1F17"  # as the README's log found the strap


def strap_capture(rows: list[tuple[str, list[int], dict[str, Any]]]) -> Capture:
    """The README's four notifications as a `monitord capture` file (one a second, the
    strap's rate), so the capture player can send them over the virtual BLE link."""
    lines = [
        {
            "format": "monitord-capture",
            "version": 1,
            "transport": "ble",
            "driver": "ble-hrm",
            "chair": "c",
            "device": "hr",
            "config": {"name": H7_NAME},
            "advertised_name": H7_NAME,
            "address": None,
            "started_at": "2021-01-01T00:00:00Z",
        },
        {"t": 0.0, "event": "connected", "name": H7_NAME, "address": ""},
        *(
            {"t": 0.1 + i, "dir": "rx", "char": HR_CHAR, "hex": bytes(data).hex()}
            for i, (_, data, _) in enumerate(rows)
        ),
        {"t": 0.2 + len(rows), "event": "end"},
    ]
    return parse_capture(iter(json.dumps(x) + "\n" for x in lines))


async def test_polar_h7_notifications_through_the_ble_link() -> None:
    """The README's notifications, sent by a peripheral advertising the strap's name over
    the virtual BLE link, reach the daemon's real link (discovery, subscription,
    decoding) as the program that recorded them printed them."""
    rows = [r for r in STRAPS if r[0] == H7_README]
    air = VirtualBleLink()
    ctx = RecordingContext(device="hr")
    client, scanner = backends(air)
    dev = device_config(id="hr", driver="ble-hrm", name=H7_NAME)
    async with BleCapturePlayer(strap_capture(rows), air, speed=4.0) as player:
        link = asyncio.create_task(
            run_ble_device(
                dev, DRIVERS["ble-hrm"], ctx, client_backend=client, scanner_backend=scanner,
                timing=LinkTiming(scan_timeout_s=2.0, connect_timeout_s=5.0, backoff_scale=0.01),
                rng=random.Random(1),
            )
        )  # fmt: skip
        try:
            await asyncio.wait_for(player.finished.wait(), 30)
            await ctx.until(lambda: len(ctx.readings) >= len(rows), "strap readings")
        finally:
            link.cancel()
            await asyncio.gather(link, return_exceptions=True)
    got = [(r.values["hr_bpm"], r.valid) for r in ctx.readings]
    assert got == [(float(x[2]["hr_bpm"]), True) for x in rows]
