"""Beurer BM85: the four recorded indications decode, with the model's quirks picked by
the advertised name, to the values the independent app shows; without the name the
timestamp (right after MAP) is still kept; and the same through the real BLE link.

Source of the four indications: github.com/derdilla/blood-pressure-monitor-fl,
app/test/features/bluetooth/logic/characteristics/ble_measurement_data_test.dart
("Recorded from a Beurer BM85", PR #735 and #737 by the BM85's owner, merged). The
expected values are the ones that project's tests assert for the same bytes (its app
decodes with `bigEndian` and `alwaysSendsUserId`); its docs/bluetooth.md lists the cuff
as advertising "Beurer BM85". Only the byte captures are used here (facts), no code.
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitord.cli import main as cli_main
from monitord.drivers.ble_bpm import BLE_PROFILE, BloodPressure, decode_bp
from monitord.drivers.ble_link import LinkTiming, run_ble_device
from monitord.drivers.registry import DRIVERS
from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.ble import VirtualBleLink, backends
from monitord.simulators.ble.beurer import ADVERTISED_NAME, BeurerCuff
from tests.kit import device_config

from .helpers import RecordingContext, wait_until

SOURCE = (
    "github.com/derdilla/blood-pressure-monitor-fl "
    "app/test/features/bluetooth/logic/characteristics/ble_measurement_data_test.dart"
)
# flags 0x56 set reserved bit 6 and MAP is 0 on every BM85 indication
COMMON = ["reserved_flags", "map_absent", "undeclared_user_id"]

BM85: list[tuple[str, str, dict[str, Any]]] = [
    (
        "decodes beurer sample data (PR #735)",
        "56 6A 00 47 00 00 00 EA 07 08 0B 12 1F 00 00 3F 00 00 00",
        {
            "sys_mmHg": 106.0,
            "dia_mmHg": 71.0,
            "map_mmHg": None,
            "pulse_bpm": 63.0,
            "measured_at": "2026-08-11T18:31:00+00:00",
            "user_id": 0,
            "status": COMMON,
            "valid": True,
        },
    ),
    (
        "decodes beurer sample data of the second user (PR #735)",
        "56 71 00 49 00 00 00 EA 07 08 0B 14 38 00 00 41 01 00 00",
        {
            "sys_mmHg": 113.0,
            "dia_mmHg": 73.0,
            "map_mmHg": None,
            "pulse_bpm": 65.0,
            "measured_at": "2026-08-11T20:56:00+00:00",
            "user_id": 1,
            "status": COMMON,
            "valid": True,
        },
    ),
    (
        # status 00 40 big-endian: bit 6, reserved in the spec, kept by number
        "second user with a high pulse (PR #735)",
        "56 77 00 46 00 00 00 EA 07 08 0B 14 39 00 00 57 01 00 40",
        {
            "sys_mmHg": 119.0,
            "dia_mmHg": 70.0,
            "map_mmHg": None,
            "pulse_bpm": 87.0,
            "measured_at": "2026-08-11T20:57:00+00:00",
            "user_id": 1,
            "status": [*COMMON, "status_bit6"],
            "valid": True,
        },
    ),
    (
        # status 00 04 big-endian: irregular pulse, as the app reports for these bytes
        "decodes the beurer status byte (PR #737)",
        "56 76 00 50 00 00 00 EA 07 08 0B 14 1B 00 00 3C 00 00 04",
        {
            "sys_mmHg": 118.0,
            "dia_mmHg": 80.0,
            "map_mmHg": None,
            "pulse_bpm": 60.0,
            "measured_at": "2026-08-11T20:27:00+00:00",
            "user_id": 0,
            "status": [*COMMON, "irregular_pulse"],
            "valid": True,
        },
    ),
]


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


@pytest.mark.parametrize(("test_name", "payload", "expected"), BM85)
def test_bm85_with_its_advertised_name(
    test_name: str, payload: str, expected: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    rec = decode_bp(h(payload), BLE_PROFILE.quirks_for("Beurer BM85", None))
    assert isinstance(rec, BloodPressure), f"{SOURCE}: {test_name}"
    assert rec.to_record() == expected
    # the support engineer's way: `monitord decode --profile ble-bpm --name "Beurer BM85"`
    rc = cli_main(["decode", "--profile", "ble-bpm", "--name", "Beurer BM85", payload])
    out = capsys.readouterr()
    assert rc == 0 and json.loads(out.out) == expected
    assert (
        "'Beurer BM85': quirks pulse-status-be, settle-before-subscribe, user-id-without-flag"
        in out.err
    )


@pytest.mark.parametrize(("test_name", "payload", "expected"), BM85)
def test_bm85_without_the_name_keeps_bp_and_timestamp(
    test_name: str, payload: str, expected: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """No quirks: 19 bytes where the flags say 18. BP and the timestamp right after MAP
    stay; pulse, user and status, which the undeclared byte may have shifted, are not
    guessed."""
    assert cli_main(["decode", "--profile", "ble-bpm", payload]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec == {
        **expected,
        "pulse_bpm": None,
        "user_id": None,
        "status": ["reserved_flags", "map_absent", "length_mismatch"],
    }


def test_decode_name_on_a_profile_without_quirks(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["decode", "--profile", "ble-hrm", "--name", "Beurer BM85", "16 34 E4 04"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["hr_bpm"] == 52 and "no model quirks" in out.err


def test_simulated_bm85_matches_the_recording() -> None:
    """The simulator's bytes are the recorded indication's bytes for the same values."""
    cuff_encode = BeurerCuff.encode
    ev = SimEvent(Kind.BP, {"sys_mmHg": 106, "dia_mmHg": 71, "pulse_bpm": 63})
    at = datetime(2026, 8, 11, 18, 31, tzinfo=UTC)
    fake = BeurerCuff.__new__(BeurerCuff)  # encode needs no link or radio
    assert cuff_encode(fake, ev, at) == h(BM85[0][1])


FAST = LinkTiming(scan_timeout_s=1.0, connect_timeout_s=5.0, backoff_scale=0.01)


@pytest.mark.parametrize(
    ("quirks", "pulse", "irregular"),
    [(None, 72.0, True), ([], None, False)],
    ids=["quirks-by-advertised-name", "quirks-off-by-config"],
)
async def test_bm85_over_the_ble_link(
    vlink: VirtualBleLink, quirks: list[str] | None, pulse: float | None, irregular: bool
) -> None:
    """The daemon's BLE link finds the simulated BM85 by address, reads its advertised
    name at connect time and applies the model's quirks; `quirks = []` turns them off
    (then only BP and the device time are taken)."""
    ctx = RecordingContext(device="bp")
    async with BeurerCuff(ADVERTISED_NAME, vlink) as cuff:
        cuff.irregular_pulse = True
        dev = device_config(id="bp", driver="ble-bpm", address=cuff.address_str, quirks=quirks)
        client, scanner = backends(vlink)
        task = asyncio.create_task(
            run_ble_device(
                dev,
                DRIVERS["ble-bpm"],
                ctx,
                client_backend=client,
                scanner_backend=scanner,
                timing=FAST,
                rng=random.Random(1),
            )
        )
        try:
            await wait_until(lambda: ctx.link_up, what="link up")
            t = datetime.now(UTC).replace(microsecond=0)
            await cuff.send(
                SimEvent(Kind.BP, {"sys_mmHg": 141, "dia_mmHg": 92, "pulse_bpm": 72}), t
            )
            await wait_until(lambda: len(ctx.readings) == 1, what="reading")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    r = ctx.readings[0]
    assert r.kind is Kind.BP and r.valid
    assert dict(r.values) == {
        "sys_mmHg": 141.0,
        "dia_mmHg": 92.0,
        "map_mmHg": None,
        "pulse_bpm": pulse,
    }
    # kept with and without the quirks, to the minute: the BM85's clock counts minutes
    assert r.device_time == t.replace(second=0)
    assert ("irregular_pulse" in r.flags) is irregular
    assert ("length_mismatch" in r.flags) is (not irregular)


def test_decode_file_with_name_applies_the_bm85_quirks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 13: `monitord decode --name "ADVERTISED NAME"` applies that model's quirks, so
    a support engineer decodes a customer's capture as the daemon would have; with
    `--file` the name stands for the capture's advertised name (monitord/commands/
    decode_file.py). A BM85 captured where no name was heard (a device configured by
    address) decodes with `--name "Beurer BM85"` to the values the BM85 app shows, pulse
    and user included; without it, the BP and timestamp only. Before this test, a replay
    that ignored `--name` went unnoticed."""
    _, payload, want = BM85[0]
    path = tmp_path / "bm85.capture.jsonl"
    lines: list[dict[str, Any]] = [
        {
            "format": "monitord-capture", "version": 1, "transport": "ble",
            "driver": "ble-bpm", "chair": "chair-1", "device": "bp",
            "config": {"address": "C4:A5:DF:11:22:33"}, "advertised_name": None,
            "address": "C4:A5:DF:11:22:33", "started_at": "2026-08-11T18:31:30Z",
        },
        {"t": 0.5, "event": "connected", "name": None, "address": "C4:A5:DF:11:22:33"},
        {"t": 1.0, "dir": "rx", "char": "00002a35-0000-1000-8000-00805f9b34fb",
         "hex": h(payload).hex()},
        {"t": 2.0, "event": "end"},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))

    def decoded(*name: str) -> dict[str, Any]:
        assert cli_main(["decode", "--file", str(path), *name]) == 0
        rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        assert len(rows) == 1, rows
        return dict(rows[0])

    got = decoded("--name", "Beurer BM85")
    assert (got["sys_mmHg"], got["dia_mmHg"], got["pulse_bpm"]) == (
        want["sys_mmHg"],
        want["dia_mmHg"],
        want["pulse_bpm"],
    )
    assert got["device_time"] == "2026-08-11T18:31:00Z" and got["valid"]
    assert "length_mismatch" not in got["status"]
    plain = decoded()
    assert plain["pulse_bpm"] is None and "length_mismatch" in plain["status"]
    assert plain["device_time"] == "2026-08-11T18:31:00Z"
