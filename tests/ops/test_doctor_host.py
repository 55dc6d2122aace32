"""`monitord doctor`'s checks of this machine (monitord/commands/doctor_host.py).

Serial ports: doctor on a Pi whose daemon is running must not touch the daemon's serial
port (docs/operations.md, `monitord doctor`).

Before: doctor opened each port with `baudrate or 9600`, 8N1 and without the exclusive
lock (pyserial's flock), ignoring the driver's defaults (contec-cms50 19200 8O1,
intellivue 115200). termios settings belong to the tty, not to a file descriptor, so the
daemon's open port was switched to 9600 8N1 under it, and doctor said ok.

Now doctor opens with the driver's line settings and `exclusive=True`; pyserial takes the
flock before its tcsetattr, so a port the daemon holds is reported `ok ... in use` and
never reconfigured.
"""

from __future__ import annotations

import os
import termios
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from monitord.commands.doctor_host import check_serial
from monitord.config import Config, load_config


@pytest.fixture
def pty() -> Iterator[str]:
    master, slave = os.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(slave)
        os.close(master)


def config(tmp_path: Path, port: str, driver: str = "contec-cms50") -> Config:
    cfg = tmp_path / "m.toml"
    cfg.write_text(
        f"""
[site]
id = "t"
[mqtt]
enabled = false
[influx]
enabled = false
[storage]
path = "{tmp_path}/o.sqlite"
[[chairs]]
id = "chair-1"
  [[chairs.devices]]
  id = "ox"
  driver = "{driver}"
  port = "{port}"
"""
    )
    return load_config(str(cfg))


def test_a_port_the_daemon_holds_is_in_use_and_left_alone(tmp_path: Path, pty: str) -> None:
    cfg = config(tmp_path, pty)
    # The daemon's open (drivers/serial_link.py): the driver's settings, exclusive.
    daemon = serial.Serial(pty, baudrate=19200, parity="O", exclusive=True, timeout=0)
    try:
        before = termios.tcgetattr(daemon.fd)
        lines = check_serial(cfg)
        after = termios.tcgetattr(daemon.fd)
    finally:
        daemon.close()
    print([ln.line() for ln in lines])
    assert lines[0].status == "ok" and "in use" in lines[0].detail
    assert after == before, f"speed now {after[4]} (B9600={termios.B9600})"


@pytest.mark.parametrize(
    ("driver", "speed", "line"),
    [("contec-cms50", termios.B19200, "19200 8O1"), ("intellivue", termios.B115200, "115200")],
)
def test_a_free_port_is_opened_with_the_drivers_settings(
    tmp_path: Path, pty: str, driver: str, speed: int, line: str
) -> None:
    lines = check_serial(config(tmp_path, pty, driver))
    print([ln.line() for ln in lines])
    assert lines[0].status == "ok" and line in lines[0].detail
    fd = os.open(pty, os.O_RDWR | os.O_NOCTTY)
    try:
        # A pty keeps the speed the last open set (not the parity bit).
        assert termios.tcgetattr(fd)[4] == speed
    finally:
        os.close(fd)


def test_a_store_outside_the_units_state_directory_is_warned(tmp_path: Path, pty: str) -> None:
    """Under the shipped unit (ProtectSystem=strict) only /var/lib/monitord is writable:
    a `[storage] path` elsewhere passed every check, and the daemon then ran on a store in
    memory (alarm store.memory)."""
    from monitord.commands.doctor_host import check_store_place

    c = check_store_place(config(tmp_path, pty))  # path = tmp_path/o.sqlite
    assert c is not None and c.status == "warn"
    assert f"storage.path {tmp_path}/o.sqlite is outside /var/lib/monitord" in c.line()
    assert "ReadWritePaths=" in c.line()
    cfg = config(tmp_path, pty)
    storage = cfg.storage.model_copy(update={"path": Path("/var/lib/monitord/outbox.sqlite")})
    assert check_store_place(cfg.model_copy(update={"storage": storage})) is None


def test_a_port_the_units_device_policy_blocks_is_warned(tmp_path: Path, pty: str) -> None:
    """The shipped unit lets the daemon open only ttyUSB and ttyACM devices
    (DevicePolicy=closed): a Pi's GPIO UART (/dev/ttyAMA0, /dev/serial0) or any other tty
    opened for root, and doctor said `ok`, while the service got EPERM at every open.
    A pty (driver `pts` in /proc/devices) stands in for such a port here."""
    lines = check_serial(config(tmp_path, pty))
    print([ln.line() for ln in lines])
    assert lines[0].status == "ok"
    unit = [c for c in lines if c.status == "warn"]
    assert len(unit) == 1, lines
    assert "a pts device" in unit[0].line() and "ttyUSB, ttyACM" in unit[0].line()
    assert "DeviceAllow=char-pts rw" in unit[0].line()


def test_the_allowed_device_list_is_the_units() -> None:
    from monitord.commands.doctor_unit import UNIT_DEVICES

    unit = (Path(__file__).parents[2] / "systemd" / "monitord.service").read_text()
    allowed = [
        ln.split("=", 1)[1].split()[0].removeprefix("char-")
        for ln in unit.splitlines()
        if ln.startswith("DeviceAllow=")
    ]
    assert tuple(allowed) == UNIT_DEVICES


def test_a_port_named_by_its_node_is_told_its_adapters_stable_name(
    tmp_path: Path, pty: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A port named by its kernel number (/dev/ttyUSB0) passed doctor with a bare `ok`: the
    admin, warned by check-config to use the adapter's /dev/serial/by-id/ name, had to find
    which link leads to it. Now the ok line names the link udev gives that adapter, to be
    checked as this chair's before it is pasted. A folder of links stands in for udev's
    /dev/serial/by-id (none on a test machine), a pty for the adapter's tty."""
    import monitord.commands.doctor_host as doctor_host

    by_id = tmp_path / "by-id"
    by_id.mkdir()
    link = by_id / "usb-FTDI_FT232R_USB_UART_A10KXYZ1-if00-port0"
    link.symlink_to(pty)
    (by_id / "usb-FTDI_FT232R_USB_UART_A10KXYZ2-if00-port0").symlink_to("/dev/null")
    monkeypatch.setattr(doctor_host, "SERIAL_LINKS", (by_id, tmp_path / "no-by-path"))
    lines = check_serial(config(tmp_path, pty, "masimo-ascii"))
    assert lines[0].line() == (
        f"ok    serial chair-1/ox: {pty} present and opens (9600 8N1) ({pty} is {link} "
        "now: set that as its port once you have checked it is chair-1/ox's device "
        "(unplug it: the link goes))"
    )
    # Named by the link already: nothing to add.
    lines = check_serial(config(tmp_path, str(link), "masimo-ascii"))
    assert lines[0].line() == f"ok    serial chair-1/ox: {link} present and opens (9600 8N1)"


def test_line_settings_the_tty_refuses_are_a_fail_line(tmp_path: Path, pty: str) -> None:
    """A tty that refuses the driver's line settings (tcsetattr: EINVAL) ended doctor with
    a termios.error traceback, every later check unsaid: pyserial lets termios.error
    through, doctor caught OSError and serial's own errors only. A Linux pty opened once
    with odd parity refuses the same settings at its next open: it stands in for such a
    port. Now it is one FAIL line, with the daemon's advice for it."""
    first = serial.Serial(pty, baudrate=19200, parity="O", timeout=0)
    first.close()
    lines = check_serial(config(tmp_path, pty))
    assert [c.line() for c in lines][:1] == [
        f"FAIL  serial chair-1/ox: {pty}: the port refused the line settings 19200 8O1 "
        "(Invalid argument) -> fix: the port does not take this device's baud rate, parity "
        "or stop bits: check baudrate/parity/stopbits and that the adapter supports them"
    ]


def test_twin_adapters_without_a_serial_number_are_told_their_socket_link(
    tmp_path: Path, pty: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two identical adapters without a serial number (CH340s: udev names both
    usb-1a86_USB2.0-Serial-if00-port0, as public configs show) share one by-id name, which
    leads to one of them: doctor told that one's chair to set the shared name as its port,
    the very name check-config and docs/install.md say not to use for such twins (after a
    reboot it may lead to the other chair's adapter). Now, with an adapter on this machine
    that has a by-path link and no by-id one (the twin the shared name does not lead to),
    the note gives the adapter's by-path link. Two ptys stand in for the two adapters."""
    import monitord.commands.doctor_host as doctor_host

    master, twin_fd = os.openpty()
    try:
        twin = os.ttyname(twin_fd)
        by_id, by_path = tmp_path / "by-id", tmp_path / "by-path"
        by_id.mkdir()
        by_path.mkdir()
        (by_id / "usb-1a86_USB2.0-Serial-if00-port0").symlink_to(pty)
        socket = by_path / "platform-fd500000.pcie-pci-0000:01:00.0-usb-0:1.3:1.0-port0"
        socket.symlink_to(pty)
        (by_path / "platform-fd500000.pcie-pci-0000:01:00.0-usb-0:1.4:1.0-port0").symlink_to(twin)
        monkeypatch.setattr(doctor_host, "SERIAL_LINKS", (by_id, by_path))
        lines = check_serial(config(tmp_path, pty, "masimo-ascii"))
    finally:
        os.close(twin_fd)
        os.close(master)
    assert lines[0].line() == (
        f"ok    serial chair-1/ox: {pty} present and opens (9600 8N1) ({pty} is {socket} "
        "now: set that as its port once you have checked it is chair-1/ox's device "
        "(unplug it: the link goes))"
    )
