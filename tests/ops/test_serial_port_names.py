"""A serial device on a kernel-numbered port (real CLI runs of check-config and doctor).

Linux numbers USB serial adapters (/dev/ttyUSB0, /dev/ttyUSB1, /dev/ttyACM0) in the order
they enumerate, which a reboot or a replug may change. Before, check-config said a bare
`ok` of a Pi serving two chairs, each with its Masimo on ttyUSB0 and ttyUSB1: after a swap
each chair reads the other's patient (one driver decodes both, so nothing looks wrong),
stored and alerted on as its own. Now each such port is a warning (check-config, doctor,
and `monitord run`'s start, which log config_checks' warnings) saying what a swap does with
this config and advising /dev/serial/by-id/ (or by-path/ for identical adapters without a
serial number). A warning, not an error: an upgrade must not stop monitoring.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

BASE = """
[site]
id = "clinic-test"
[mqtt]
enabled = false
[influx]
enabled = false
[storage]
path = "{tmp}/outbox.sqlite"
"""

BY_ID = "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10KXYZ1-if00-port0"
NUMBERED = "is numbered by the kernel in the order USB adapters appear, which a reboot or a "
ADVICE = (
    "name it by its adapter: /dev/serial/by-id/... (`ls -l /dev/serial/by-id/` lists each "
    "adapter and the tty it is now; unplug one to tell whose it is), or "
    "/dev/serial/by-path/... (the USB socket) for identical adapters without a serial "
    "number, which share one by-id name"
)


def chair(chair_id: str, *devices: tuple[str, str]) -> str:
    """A [[chairs]] table with (driver, port) devices, ids d0, d1, ..."""
    text = f'[[chairs]]\nid = "{chair_id}"\n'
    for n, (driver, port) in enumerate(devices):
        text += f'[[chairs.devices]]\nid = "d{n}"\ndriver = "{driver}"\nport = "{port}"\n'
    return text


def check_config(cfg: Path) -> tuple[int, str, list[str]]:
    r = subprocess.run(
        [sys.executable, "-m", "monitord", "check-config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return r.returncode, r.stdout, r.stderr.splitlines()


def write(tmp_path: Path, *chairs: str) -> Path:
    cfg = tmp_path / "m.toml"
    cfg.write_text(BASE.format(tmp=tmp_path) + "".join(chairs))
    return cfg


@pytest.fixture
def pty() -> Iterator[str]:
    master, slave = os.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(slave)
        os.close(master)


def test_two_monitors_of_one_driver_on_numbered_ports_are_warned_of(tmp_path: Path) -> None:
    # The failing-before case: one Pi, two chairs, a Masimo each on ttyUSB0 and ttyUSB1.
    cfg = write(
        tmp_path,
        chair("chair-1", ("masimo-ascii", "/dev/ttyUSB0")),
        chair("chair-2", ("masimo-ascii", "/dev/ttyUSB1")),
    )
    swap = "(the same driver) on this machine the two may swap, each chair then reading the "
    assert check_config(cfg) == (
        0,
        "ok\n",
        [
            f"{cfg}: chairs[0].devices[0].port: warning: /dev/ttyUSB0 {NUMBERED}replug can "
            f"change: with chair-2/d0's adapter {swap}other's patient with no fault shown; "
            + ADVICE,
            f"{cfg}: chairs[1].devices[0].port: warning: /dev/ttyUSB1 {NUMBERED}replug can "
            f"change: with chair-1/d0's adapter {swap}other's patient with no fault shown; "
            + ADVICE,
        ],
    )
    # Named by their adapters: nothing to say.
    by_id_2 = BY_ID.replace("A10KXYZ1", "A10KXYZ2")
    cfg = write(
        tmp_path,
        chair("chair-1", ("masimo-ascii", BY_ID)),
        chair("chair-2", ("masimo-ascii", by_id_2)),
    )
    assert check_config(cfg) == (0, "ok\n", [])


def test_a_numbered_port_beside_a_by_id_one_can_take_its_adapter(tmp_path: Path) -> None:
    # chair-1 by its adapter, chair-2 by number: after a renumbering ttyACM0 may be the
    # tty chair-1's link points at, chair-2 then reading chair-1's patient.
    cfg = write(
        tmp_path,
        chair("chair-1", ("masimo-ascii", BY_ID)),
        chair("chair-2", ("masimo-ascii", "/dev/ttyACM0")),
    )
    code, out, lines = check_config(cfg)
    assert (code, out, len(lines)) == (0, "ok\n", 1), lines
    assert lines[0].startswith(
        f"{cfg}: chairs[1].devices[0].port: warning: /dev/ttyACM0 {NUMBERED}replug can "
        "change: with chair-1/d0's adapter (the same driver) on this machine the two may swap"
    ), lines


def test_two_drivers_on_numbered_ports_are_both_lost_by_a_swap(tmp_path: Path) -> None:
    cfg = write(
        tmp_path,
        chair("chair-1", ("masimo-ascii", "/dev/ttyUSB0"), ("intellivue", "/dev/ttyUSB1")),
    )
    risk = "the two may swap, and neither decodes the other's device: both lost; "
    assert check_config(cfg) == (
        0,
        "ok\n",
        [
            f"{cfg}: chairs[0].devices[0].port: warning: /dev/ttyUSB0 {NUMBERED}replug can "
            f"change: with chair-1/d1's adapter on this machine {risk}{ADVICE}",
            f"{cfg}: chairs[0].devices[1].port: warning: /dev/ttyUSB1 {NUMBERED}replug can "
            f"change: with chair-1/d0's adapter on this machine {risk}{ADVICE}",
        ],
    )


def test_a_single_numbered_port_is_warned_of_too(tmp_path: Path) -> None:
    # One chair, one adapter: a second USB serial device (an adapter, a USB modem) may
    # enumerate first at a reboot and take ttyUSB0. Loud (the device is lost), not silent.
    cfg = write(tmp_path, chair("chair-1", ("masimo-ascii", "/dev/ttyUSB0")))
    assert check_config(cfg) == (
        0,
        "ok\n",
        [
            f"{cfg}: chairs[0].devices[0].port: warning: /dev/ttyUSB0 {NUMBERED}replug can "
            "change: another USB serial device (a second adapter, a USB modem) may take its "
            f"number: this device then lost; {ADVICE}"
        ],
    )


def test_stable_names_are_not_warned_of(tmp_path: Path, pty: str) -> None:
    # A Pi's own UART (ttyAMA0) and a PC's (ttyS0) are numbered by the board; a URL has
    # no adapter; a test's pty is no USB device.
    cfg = write(
        tmp_path,
        chair("chair-1", ("masimo-ascii", "/dev/ttyAMA0"), ("intellivue", "/dev/ttyS0")),
        chair("chair-2", ("masimo-ascii", "socket://127.0.0.1:7000"), ("intellivue", pty)),
        chair("chair-3", ("masimo-ascii", "/dev/serial/by-path/platform-xhci-hcd.0-usb-0:1")),
    )
    assert check_config(cfg) == (0, "ok\n", [])


def test_doctor_says_the_warning(tmp_path: Path) -> None:
    cfg = write(
        tmp_path,
        chair("chair-1", ("masimo-ascii", "/dev/ttyUSB0")),
        chair("chair-2", ("masimo-ascii", "/dev/ttyUSB1")),
    )
    r = subprocess.run(
        [sys.executable, "-m", "monitord", "doctor", "-c", str(cfg), "--timeout", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    warns = [ln for ln in r.stdout.splitlines() if ln.startswith("warn  config checks:")]
    assert [w.split(": warning: ", 1)[1].split(":", 1)[0] for w in warns] == [
        "/dev/ttyUSB0 is numbered by the kernel in the order USB adapters appear, which a "
        "reboot or a replug can change",
        "/dev/ttyUSB1 is numbered by the kernel in the order USB adapters appear, which a "
        "reboot or a replug can change",
    ], r.stdout


def test_a_swap_with_another_chair_is_said_before_one_within_the_chair(tmp_path: Path) -> None:
    # chair-1 has two oximeters of one driver, chair-2 one: chair-1/d0's warning names
    # chair-2's (a swap there reads another patient), not chair-1/d1's, first in the file.
    cfg = write(
        tmp_path,
        chair("chair-1", ("masimo-ascii", "/dev/ttyUSB0"), ("masimo-ascii", "/dev/ttyUSB1")),
        chair("chair-2", ("masimo-ascii", "/dev/ttyUSB2")),
    )
    code, out, lines = check_config(cfg)
    assert (code, out, len(lines)) == (0, "ok\n", 3), lines
    assert "change: with chair-2/d0's adapter (the same driver)" in lines[0], lines
    assert "each chair then reading the other's patient" in lines[0], lines
    # Within one chair alone: one patient, the two devices' readings swapped.
    cfg = write(
        tmp_path,
        chair("chair-1", ("masimo-ascii", "/dev/ttyUSB0"), ("masimo-ascii", "/dev/ttyUSB1")),
    )
    code, out, lines = check_config(cfg)
    assert (code, out, len(lines)) == (0, "ok\n", 2), lines
    assert (
        "change: with chair-1/d1's adapter (the same driver) on this machine the two may "
        "swap, each device's readings then stored as the other's; "
    ) in lines[0], lines
