"""Config mistakes an IT admin makes on a Pi that `check-config` used to pass (real CLI runs).

Before: an `[annunciator] command` that was not executable passed check-config, doctor
and `monitord run`'s start; it first ran at the first alarm while delivery failed, and
failed then (one ERROR line, the chair's own alarm silent). Two devices naming one port
through two names (its /dev/serial/by-id/ link and the tty itself) passed too: the port's
exclusive lock let one read, the other was busy for good, the two swapping it at each
reconnect. A command under /tmp passed doctor as root, while the shipped unit
(PrivateTmp=yes, ProtectHome=yes) hides it from the daemon.

Now check-config and `monitord run` refuse the shared port or address with one line naming
the file, the key and the fix (exit 78), warn of an annunciator command or GPIO chip that
cannot sound (a warning: monitoring must not stop for want of the buzzer), and doctor
fails a command the unit would not find. (The plain cases are
tests/config_cases/serial-port-on-two-devices, ble-address-on-two-devices.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
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


# The adapter's stable name (a kernel-numbered /dev/ttyUSB0 is a warning of its own,
# tests/ops/test_serial_port_names.py): these tests expect their warning alone.
BY_ID = "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10KXYZ1-if00-port0"


def oximeter(chair: str, port: str | Path) -> str:
    return (
        f'[[chairs]]\nid = "{chair}"\n'
        f'[[chairs.devices]]\nid = "ox"\ndriver = "masimo-ascii"\nport = "{port}"\n'
    )


def monitord(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitord", *args], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def pty() -> Iterator[str]:
    master, slave = os.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(slave)
        os.close(master)


def test_an_annunciator_that_cannot_sound_is_warned_of_by_check_config_and_run(
    tmp_path: Path, pty: str
) -> None:
    # A warning, not a refusal: the chair's own alarm is the fallback for a delivery
    # failure, and a refusal would stop all monitoring (an upgrade, a disk mounted late).
    tone = tmp_path / "monitord-tone"
    tone.write_text("#!/bin/sh\nexit 0\n")
    tone.chmod(0o644)  # copied over without its execute bit
    cfg = tmp_path / "m.toml"
    cfg.write_text(
        BASE.format(tmp=tmp_path)
        + f'[annunciator]\ncommand = ["{tone}"]\ngpio_chip = "/dev/gpiochip-none"\n'
        + "gpio_line = 17\n"
        + oximeter("chair-1", pty)
    )
    silent = " (the chair's own alarm will not sound when delivery fails)"
    lines = [
        f"{cfg}: annunciator.command: warning: {tone}: not executable (mode 0644); "
        f"chmod 0755 {tone}{silent}",
        f"{cfg}: annunciator.gpio_chip: warning: /dev/gpiochip-none: No such file or "
        f"directory; `gpiodetect` lists this machine's GPIO chips{silent}",
    ]
    r = monitord("check-config", str(cfg))
    assert (r.returncode, r.stdout) == (0, "ok\n")
    assert [x for x in r.stderr.splitlines() if "gpiod module" not in x] == lines
    # `run` says the same at its start and monitors: its store opens, it stops clean. The
    # SIGTERM comes as soon as the warnings are out, before the store opens: a stop while
    # starting is a clean stop too (it killed the daemon with exit -15 when it came before
    # the loop's handlers; CI stop 43 caught it by chance).
    log = tmp_path / "run.log"
    with log.open("w") as out:
        p = subprocess.Popen(
            [sys.executable, "-m", "monitord", "run", "-c", str(cfg)], stderr=out, text=True
        )
        try:
            deadline = time.monotonic() + 30
            while "gpiochip-none" not in log.read_text() and time.monotonic() < deadline:
                assert p.poll() is None, log.read_text()
                time.sleep(0.01)
        finally:
            p.terminate()
            rc = p.wait(30)
    text = log.read_text()
    assert rc == 0 and (tmp_path / "outbox.sqlite").exists(), text
    assert "stopping" in text, text
    for line in lines:
        assert line.split(": warning: ", 1)[1] in text, text
    tone.chmod(0o755)
    r = monitord("check-config", str(cfg))
    assert r.returncode == 0 and "annunciator.command" not in r.stderr, r.stderr


def test_one_port_under_two_names_is_refused(tmp_path: Path, pty: str) -> None:
    by_id = tmp_path / "usb-FTDI_FT232R_USB_UART_A10KXYZ1-if00-port0"
    by_id.symlink_to(pty)
    cfg = tmp_path / "m.toml"
    cfg.write_text(
        BASE.format(tmp=tmp_path) + oximeter("chair-1", by_id) + oximeter("chair-2", pty)
    )
    r = monitord("check-config", str(cfg))
    assert (r.returncode, r.stdout) == (78, "")
    assert r.stderr.splitlines() == [
        f"{cfg}: chairs[1].devices[0].port: {pty} is also chair-1/ox's port: a port has "
        "one reader (the other finds it busy for good); give each device its own"
    ]


def test_one_socket_url_under_two_spellings_is_refused(tmp_path: Path) -> None:
    # A serial-over-LAN server serves one client: host case and pyserial's options do not
    # make another endpoint; another TCP port of the same server is another device.
    cfg = tmp_path / "m.toml"
    url = "SOCKET://Ts-1.clinic.lan:4001?logging=debug"
    cfg.write_text(
        BASE.format(tmp=tmp_path)
        + oximeter("chair-1", "socket://ts-1.clinic.lan:4001")
        + oximeter("chair-2", url)
        + oximeter("chair-3", "socket://ts-1.clinic.lan:4002")
    )
    r = monitord("check-config", str(cfg))
    assert (r.returncode, r.stdout) == (78, "")
    assert r.stderr.splitlines() == [
        f"{cfg}: chairs[1].devices[0].port: {url} (= socket://ts-1.clinic.lan:4001) is also "
        "chair-1/ox's port: a serial-over-LAN port serves one client (the two take it from "
        "each other: neither is read steadily); give each device its own"
    ]


def test_doctor_fails_a_command_the_unit_hides(tmp_path: Path) -> None:
    # Under /tmp (whatever pytest's TMPDIR): the unit's PrivateTmp= gives the daemon its own.
    place = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        doctor_on(tmp_path, place / "monitord-tone")
    finally:
        shutil.rmtree(place)


def doctor_on(tmp_path: Path, tone: Path) -> None:
    tone.write_text("#!/bin/sh\nexit 0\n")
    tone.chmod(0o755)
    cfg = tmp_path / "m.toml"
    cfg.write_text(
        BASE.format(tmp=tmp_path)
        + f'[annunciator]\ncommand = ["{tone}"]\n[[chairs]]\nid = "chair-1"\n'
    )
    assert monitord("check-config", str(cfg)).returncode == 0  # root runs it: config ok
    r = monitord("doctor", "-c", str(cfg), "--timeout", "1")
    assert r.returncode == 1
    assert (
        f"FAIL  annunciator.command: {tone} is under /tmp, which the shipped unit hides "
        "from the daemon (ProtectHome=yes, PrivateTmp=yes): it would not be found at the "
        "first alarm -> fix: put it in /usr/local/bin (0755) and name it in "
        "annunciator.command"
    ) in r.stdout.splitlines()


def test_a_gpio_annunciator_without_its_binding_is_warned_of(tmp_path: Path) -> None:
    # The Debian package and install.sh leave the optional `gpiod` binding out (extra
    # `gpio`): before, check-config said ok and the daemon's start was one ERROR line,
    # the buzzer dead. A warning, not a refusal: an upgrade that drops the binding must
    # not stop monitoring for want of the buzzer. The binding is hidden from a real run of
    # the CLI (this venv has it); /dev/null stands for the chip (a character device).
    cfg = tmp_path / "m.toml"
    cfg.write_text(
        BASE.format(tmp=tmp_path)
        + '[annunciator]\ngpio_chip = "/dev/null"\ngpio_line = 17\n'
        + oximeter("chair-1", BY_ID)
    )
    hide = "import sys; sys.modules['gpiod'] = None; from monitord.cli import main; "
    r = subprocess.run(
        [sys.executable, "-c", hide + f"sys.exit(main(['check-config', '{cfg}']))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (r.returncode, r.stdout) == (0, "ok\n")
    assert r.stderr.splitlines() == [
        f"{cfg}: annunciator.gpio_chip: warning: the gpiod module (libgpiod's Python "
        "binding, v2) is not installed in this monitord: the line will not be driven; "
        f"{sys.executable} -m pip install 'gpiod>=2.1' (again after each upgrade, which "
        "replaces the virtualenv; docs/delivery.md)"
    ]


def test_an_empty_secret_is_warned_of(tmp_path: Path) -> None:
    # install.sh and the Debian package lay out each secret empty ("empty until you write
    # it"): check-config said a bare `ok` of a config whose every login would be refused.
    # A warning, not a refusal: the config itself is right.
    secret = tmp_path / "mqtt-password"
    secret.write_text("\n")
    secret.chmod(0o600)
    cfg = tmp_path / "m.toml"
    cfg.write_text(
        BASE.format(tmp=tmp_path).replace(
            "[mqtt]\nenabled = false\n",
            f'[mqtt]\nusername = "chair-1"\npassword_file = "{secret}"\n',
        )
        + oximeter("chair-1", BY_ID)
    )
    r = monitord("check-config", str(cfg))
    assert (r.returncode, r.stdout) == (0, "ok\n")
    assert r.stderr.splitlines() == [
        f"{cfg}: mqtt.password_file: warning: {secret} is empty: the login would be "
        "refused; write the secret into it (one line)"
    ]
    secret.write_text("not-a-real-password\n")
    r = monitord("check-config", str(cfg))
    assert (r.returncode, r.stdout, r.stderr) == (0, "ok\n", "")
