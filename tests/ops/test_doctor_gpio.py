"""`monitord doctor` and the annunciator's GPIO chip (`[annunciator] gpio_chip`), the
chair's own buzzer or LED for the local technical alarm (clinical-rules.md, "Delivery of
alarms"; docs/delivery.md, "The local annunciator").

Before: doctor said nothing of the chip. It runs as root, which opens any device, while
the shipped unit (DevicePolicy=closed, `DeviceAllow=` for ttyUSB and ttyACM only) keeps
every other device from the daemon: the daemon's start then logged `cannot drive
/dev/gpiochip0 line 17: [Errno 1] Operation not permitted`, and the buzzer stayed dead at
the first delivery failure, after an install that followed docs/install.md to the letter
(doctor all `ok`, exit 0). As for a serial port the unit blocks (test_doctor_host.py),
doctor now names the drop-in; a FAIL, as for an annunciator command the service could not
run. A pty (driver `pts` in /proc/devices) stands in for the chip: a character device of a
driver the unit does not allow, as `gpiochip` is.
"""

from __future__ import annotations

import grp
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


def _open_pty() -> Iterator[str]:
    master, slave = os.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(slave)
        os.close(master)


pty = pytest.fixture(name="pty")(_open_pty)  # the stand-in chip
port = pytest.fixture(name="port")(_open_pty)  # the oximeter's serial port: a pty too


def as_chip(pty: str) -> str:
    """The pty made 0660 root:tty, as a Pi's /dev/gpiochip0 is 0660 root:gpio; its group's
    name. A group of its own: a container's ptys are root's, and root's group is never
    the fix (test_a_gpio_chip_no_group_may_open_is_told_a_udev_rule)."""
    os.chown(pty, 0, grp.getgrnam("tty").gr_gid)
    os.chmod(pty, 0o660)
    return "tty"


def config(tmp_path: Path, port: str, chip: str | None) -> Path:
    annunciator = f'[annunciator]\ngpio_chip = "{chip}"\ngpio_line = 17\n' if chip else ""
    cfg = tmp_path / "monitord.toml"
    cfg.write_text(
        f"""
[site]
id = "t"
[mqtt]
enabled = false
[influx]
enabled = false
[storage]
path = "/var/lib/monitord/outbox.sqlite"
{annunciator}
[[chairs]]
id = "chair-1"
  [[chairs.devices]]
  id = "ox"
  driver = "masimo-ascii"
  port = "{port}"
"""
    )
    return cfg


def doctor(tmp_path: Path, port: str, chip: str | None) -> tuple[int, list[str]]:
    cfg = config(tmp_path, port, chip)
    p = subprocess.run(
        [sys.executable, "-m", "monitord", "doctor", "-c", str(cfg), "--timeout", "3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    print(p.stdout, p.stderr)
    return p.returncode, p.stdout.splitlines()


def test_a_gpio_chip_the_units_device_policy_blocks_fails(
    tmp_path: Path, pty: str, port: str
) -> None:
    rc, lines = doctor(tmp_path, port, pty)
    gpio = [ln for ln in lines if "annunciator.gpio_chip" in ln]
    assert gpio == [
        f"FAIL  annunciator.gpio_chip: {pty} is a pts device; the shipped unit lets the "
        "daemon open only ttyUSB, ttyACM devices (DevicePolicy=closed): under it the "
        "annunciator's line 17 cannot be driven, and the chair's own alarm would not sound "
        "-> fix: add DeviceAllow=char-pts rw in a drop-in (systemctl edit monitord; "
        "docs/delivery.md)"
    ], lines
    assert rc == 1


def test_no_gpio_chip_no_line(tmp_path: Path, port: str) -> None:
    rc, lines = doctor(tmp_path, port, None)
    assert not [ln for ln in lines if "annunciator" in ln], lines
    assert rc == 0  # the serial port's own `warn` (a pts device) fails nothing


def test_a_gpio_chip_the_service_user_may_not_open_fails(
    tmp_path: Path, pty: str, port: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unit allowing the chip (an admin's `DeviceAllow=` drop-in, the pty's driver
    added to the shipped list here), the service user must still be in the chip's group
    (`gpio` on Raspberry Pi OS; the install adds `dialout` only). User `nobody` stands in
    for `monitord`, as in test_secret_file_access.py; the pty, made 0660, is
    root's."""
    from monitord import serviceuser
    from monitord.commands import doctor_host, doctor_unit

    nobody = 65534
    group = as_chip(pty)
    monkeypatch.setattr(serviceuser, "service_ids", lambda: (nobody, {nobody}))
    monkeypatch.setattr(doctor_unit, "UNIT_DEVICES", (*doctor_unit.UNIT_DEVICES, "pts"))
    from monitord.config import load_config

    cfg = load_config(str(config(tmp_path, port, pty)))
    c = doctor_host.check_annunciator_gpio(cfg)
    assert c is not None and c.line() == (
        f"FAIL  annunciator.gpio_chip: user monitord is not in group {group} that owns {pty}: "
        "the annunciator's line 17 cannot be driven, and the chair's own alarm would not "
        f"sound -> fix: usermod -a -G {group} monitord, or SupplementaryGroups=dialout "
        f"{group} in a drop-in (systemctl edit monitord; docs/delivery.md)"
    )
    # The service user in that group: nothing to say.
    monkeypatch.setattr(serviceuser, "service_ids", lambda: (nobody, {os.stat(pty).st_gid}))
    assert doctor_host.check_annunciator_gpio(cfg) is None


def test_a_gpio_chip_a_drop_in_allows_passes_where_systemd_does_not_run(
    tmp_path: Path, pty: str, port: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where no systemd runs (a chroot, an image being built: docs/install.md ran doctor in
    one), the unit was judged by its shipped list alone: the documented drop-in
    (`systemctl edit monitord`: DeviceAllow= and SupplementaryGroups=, docs/delivery.md)
    was not read, and doctor FAILed a chip set up as the docs say, exit 1. The drop-in's
    lines, in a folder standing in for /etc/systemd/system/monitord.service.d, now count.
    The pty stands in for the chip (driver `pts`), user `nobody` for `monitord`."""
    from monitord import serviceuser
    from monitord.commands import doctor_host, doctor_unit
    from monitord.config import load_config

    # (Under a running systemd without monitord.service installed, `systemctl show` says
    # nothing of it, and the same files are read.)
    nobody = 65534
    group = as_chip(pty)
    monkeypatch.setattr(serviceuser, "service_ids", lambda: (nobody, {nobody}))
    cfg = load_config(str(config(tmp_path, port, pty)))
    dropins = tmp_path / "monitord.service.d"
    dropins.mkdir()
    monkeypatch.setattr(doctor_unit, "UNIT_DROPINS", (dropins,))
    c = doctor_host.check_annunciator_gpio(cfg)
    assert c is not None and "DevicePolicy=closed" in c.line()  # no drop-in yet: FAIL
    (dropins / "override.conf").write_text("[Service]\nDeviceAllow=char-pts rw\n")
    c = doctor_host.check_annunciator_gpio(cfg)
    assert c is not None, "the drop-in allows the device; the group is still missing"
    assert f"not in group {group}" in c.line(), c.line()
    (dropins / "override.conf").write_text(
        f"[Service]\nDeviceAllow=char-pts rw\nSupplementaryGroups=dialout {group}\n"
    )
    assert doctor_host.check_annunciator_gpio(cfg) is None
    # The device by its path, as `DeviceAllow=/dev/gpiochip0 rw` names it, counts alike.
    (dropins / "override.conf").write_text(
        f"[Service]\nDeviceAllow={pty} rw\nSupplementaryGroups=dialout {group}\n"
    )
    assert doctor_host.check_annunciator_gpio(cfg) is None


@pytest.fixture(name="unit")
def _unit(tmp_path: Path, pty: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder standing in for /etc/systemd/system/monitord.service.d (no systemd runs
    here: doctor reads the drop-ins' files), user `nobody` for `monitord`, the pty for the
    chip. Returns the drop-in's file, not yet written."""
    from monitord import serviceuser
    from monitord.commands import doctor_unit

    dropins = tmp_path / "monitord.service.d"
    dropins.mkdir()
    monkeypatch.setattr(doctor_unit, "UNIT_DROPINS", (dropins,))
    monkeypatch.setattr(serviceuser, "service_ids", lambda: (65534, {65534}))
    as_chip(pty)
    return dropins / "override.conf"


def test_a_gpio_chip_the_unit_allows_read_only_fails(
    tmp_path: Path, pty: str, port: str, unit: Path
) -> None:
    """`DeviceAllow=char-gpiochip r` was counted as allowed. The kernel's GPIO uAPI itself
    sets a line's value by an ioctl on the line request's own descriptor, but libgpiod
    (which the annunciator's gpiod binding wraps) opens the chip O_RDWR, and the unit's
    device cgroup refuses that open with `r` alone: EPERM at the daemon's start."""
    from monitord.commands.doctor_host import check_annunciator_gpio
    from monitord.config import load_config

    group = "tty"  # as_chip's
    cfg = load_config(str(config(tmp_path, port, pty)))
    unit.write_text(f"[Service]\nDeviceAllow=char-pts r\nSupplementaryGroups=dialout {group}\n")
    c = check_annunciator_gpio(cfg)
    assert c is not None and c.line() == (
        f"FAIL  annunciator.gpio_chip: {pty} is a pts device; the unit lets the daemon open "
        "it read-only (DeviceAllow=char-pts r): under it the annunciator's line 17 cannot be "
        "driven, and the chair's own alarm would not sound -> fix: add DeviceAllow=char-pts "
        "rw in a drop-in (systemctl edit monitord; docs/delivery.md)"
    )
    # Two lines' letters together, as systemd merges them: read-write.
    unit.write_text(
        "[Service]\nDeviceAllow=char-pts r\nDeviceAllow=char-pts w\n"
        f"SupplementaryGroups=dialout {group}\n"
    )
    assert check_annunciator_gpio(cfg) is None


def test_a_drop_in_with_device_policy_auto_is_read(
    tmp_path: Path, pty: str, port: str, unit: Path
) -> None:
    """A drop-in's `DevicePolicy=auto` was not read: doctor judged by the shipped unit's
    list and FAILed the chip (and warned of the serial port) the unit lets the daemon
    open. systemd.resource-control(5): with `auto` and no `DeviceAllow=` (an empty one
    empties the list, the shipped lines included) nothing is restricted; with the
    shipped lines kept, only they are allowed (and the check still says so)."""
    from monitord.commands.doctor_host import check_annunciator_gpio, check_unit_device
    from monitord.config import load_config

    group = "tty"  # as_chip's
    cfg = load_config(str(config(tmp_path, port, pty)))
    unit.write_text(
        f"[Service]\nDevicePolicy=auto\nDeviceAllow=\nSupplementaryGroups=dialout {group}\n"
    )
    assert check_annunciator_gpio(cfg) is None
    assert check_unit_device("serial chair-1/ox", port) is None
    unit.write_text(f"[Service]\nDevicePolicy=auto\nSupplementaryGroups=dialout {group}\n")
    c = check_annunciator_gpio(cfg)
    assert c is not None and "DeviceAllow=char-pts rw" in c.line(), c
    assert (
        "the unit, drop-ins included, lets the daemon open only its DeviceAllow= devices "
        "(char-ttyUSB rw, char-ttyACM rw; DevicePolicy=auto)" in c.line()
    ), c
    s = check_unit_device("serial chair-1/ox", port)
    assert s is not None and "DeviceAllow=char-pts rw" in s.line(), s


def test_a_gpio_chip_no_group_may_open_is_told_a_udev_rule(
    tmp_path: Path, pty: str, port: str, unit: Path
) -> None:
    """A chip 0600 root:root (Debian's, with no rule of the board's vendor) was told
    "usermod -a -G root monitord": root's group gives nothing on a 0600 chip (and the
    service user root's group's files); with SupplementaryGroups=root doctor said nothing.
    Now a udev rule giving the chip a group."""
    from monitord.commands.doctor_host import check_annunciator_gpio
    from monitord.config import load_config

    os.chown(pty, 0, 0)
    os.chmod(pty, 0o600)
    cfg = load_config(str(config(tmp_path, port, pty)))
    unit.write_text("[Service]\nDeviceAllow=char-pts rw\n")
    c = check_annunciator_gpio(cfg)
    assert c is not None and c.line() == (
        f"FAIL  annunciator.gpio_chip: user monitord may not open {pty} (mode 0600, group "
        "root): the annunciator's line 17 cannot be driven, and the chair's own alarm would "
        'not sound -> fix: give the chip a group with a udev rule: SUBSYSTEM=="gpio", '
        'KERNEL=="gpiochip*", GROUP="gpio", MODE="0660" in /etc/udev/rules.d/60-gpiochip.rules '
        "(groupadd --system gpio first, if there is none; udevadm trigger "
        "--subsystem-match=gpio applies it), then SupplementaryGroups=dialout gpio in a "
        "drop-in (systemctl edit monitord; docs/delivery.md)"
    )
    # root's group given to the service all the same: a 0600 chip it still may not open.
    unit.write_text("[Service]\nDeviceAllow=char-pts rw\nSupplementaryGroups=dialout root\n")
    again = check_annunciator_gpio(cfg)
    assert again is not None and again.line() == c.line()
