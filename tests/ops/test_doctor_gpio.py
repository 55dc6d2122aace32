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
    from monitord.commands import doctor_host

    nobody = 65534
    os.chmod(pty, 0o660)  # as a Pi's /dev/gpiochip0 is (0660 root:gpio)
    monkeypatch.setattr(serviceuser, "service_ids", lambda: (nobody, {nobody}))
    monkeypatch.setattr(doctor_host, "UNIT_DEVICES", (*doctor_host.UNIT_DEVICES, "pts"))
    from monitord.config import load_config

    cfg = load_config(str(config(tmp_path, port, pty)))
    c = doctor_host.check_annunciator_gpio(cfg)
    group = grp.getgrgid(os.stat(pty).st_gid).gr_name  # tty, or root in a container
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
    from monitord.commands import doctor_host
    from monitord.config import load_config

    # (Under a running systemd without monitord.service installed, `systemctl show` says
    # nothing of it, and the same files are read.)
    nobody = 65534
    os.chmod(pty, 0o660)
    monkeypatch.setattr(serviceuser, "service_ids", lambda: (nobody, {nobody}))
    cfg = load_config(str(config(tmp_path, port, pty)))
    dropins = tmp_path / "monitord.service.d"
    dropins.mkdir()
    # raising=False: the constant is new, and on the old code the check must still run.
    monkeypatch.setattr(doctor_host, "UNIT_DROPINS", (dropins,), raising=False)
    group = grp.getgrgid(os.stat(pty).st_gid).gr_name
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
