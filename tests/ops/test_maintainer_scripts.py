"""The .deb's maintainer scripts (packaging/debian/) as dpkg runs them on a live Pi, in
dpkg's order for an upgrade (old prerm `upgrade`, new preinst `upgrade`, the unpack, new
postinst `configure OLD`), without root or a running systemd: each script is run from a
copy whose system paths point into the test's directory (systemd's probe
/run/systemd/system, /run, /etc/monitord, /opt/monitord), with a `systemctl` on PATH that
keeps which units are active and records each call, and `getent`/`adduser`/`usermod`
that create no user. The config check is the real `monitord check-config`.

Before: prerm left the daemon running on upgrade and dpkg replaced /opt/monitord under it;
a lazy import then ran new code in the old process until postinst's try-restart.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEBIAN = REPO / "packaging" / "debian"
DAEMON, STATION = "monitord.service", "monitord-station.service"

# Keeps the active units as files in $STATE/active; `try-restart` touches a stopped unit
# not, as systemd's.
FAKE_SYSTEMCTL = """#!/bin/sh
echo "$*" >>"$STATE/calls"
[ "$1" = --quiet ] && shift
case "$1" in
is-active) [ "$2" = --quiet ] && shift; [ -e "$STATE/active/$2" ] ;;
stop) rm -f "$STATE/active/$2" ;;
start) touch "$STATE/active/$2" ;;
disable) [ "$2" = --now ] && rm -f "$STATE/active/$3"; exit 0 ;;
*) exit 0 ;;
esac
"""
ACCEPTED = """[site]
id = "clinic-north"
[mqtt]
enabled = false
[influx]
enabled = false
[storage]
path = "/var/lib/monitord/outbox.sqlite"
[[chairs]]
id = "chair-3"
  [[chairs.devices]]
  id = "ox"
  driver = "masimo-ascii"
  port = "socket://127.0.0.1:1"
"""


class Pi:
    """A live Pi as the maintainer scripts see it, under `base`."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.state = base / "state"
        (self.state / "active").mkdir(parents=True)
        (base / "run-systemd-system").mkdir()
        self.restart = base / "run" / "monitord.dpkg-restart"
        self.restart.parent.mkdir()
        self.etc = base / "etc" / "monitord"
        (self.etc / "conf.d").mkdir(parents=True)
        (self.etc / "secrets").mkdir(mode=0o700)
        (self.etc / "monitord.example.toml").write_bytes(
            (REPO / "config/example.toml").read_bytes()
        )
        self.conf = self.etc / "monitord.toml"
        self.conf.write_text(ACCEPTED)
        # The new version's command: this checkout's monitord.
        exe = base / "opt" / "monitord" / "bin" / "monitord"
        exe.parent.mkdir(parents=True)
        exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m monitord "$@"\n')
        exe.chmod(0o755)
        self.bin = base / "bin"
        self.bin.mkdir()
        fakes = {
            "systemctl": FAKE_SYSTEMCTL,
            "getent": '#!/bin/sh\n[ "$1" = passwd ]\n',  # the user exists, no bluetooth group
            "adduser": "#!/bin/sh\nexit 0\n",
            "usermod": "#!/bin/sh\nexit 0\n",
        }
        for name, text in fakes.items():
            (self.bin / name).write_text(text)
            (self.bin / name).chmod(0o755)
        self.scripts = base / "scripts"
        self.scripts.mkdir()
        for script in DEBIAN.iterdir():
            text = script.read_text()
            for real, here in (
                ("/run/systemd/system", base / "run-systemd-system"),
                ("/run/monitord.dpkg-restart", self.restart),
                ("/etc/monitord", self.etc),
                ("/opt/monitord", base / "opt" / "monitord"),
            ):
                text = text.replace(real, str(here))
            (self.scripts / script.name).write_text(text)

    def running(self, *units: str) -> None:
        for u in units:
            (self.state / "active" / u).touch()

    def active(self) -> set[str]:
        return {p.name for p in (self.state / "active").iterdir()}

    def calls(self) -> list[str]:
        p = self.state / "calls"
        return p.read_text().splitlines() if p.exists() else []

    def run(self, script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        e = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DPKG_ROOT", "MONITORD_INSTALL_NO_CHECK")
        }
        e.update(STATE=str(self.state), PATH=f"{self.bin}{os.pathsep}{e.get('PATH', '')}", **env)
        e["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
        p = subprocess.run(
            ["sh", str(self.scripts / script), *args],
            env=e,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert p.returncode == 0, p.stdout + p.stderr
        return p

    def upgrade(self, **env: str) -> subprocess.CompletedProcess[str]:
        """dpkg's order; the unpack (between preinst and postinst) is when the daemon must
        not run. Returns postinst's output."""
        self.run("prerm", "upgrade", "0.3.0", **env)
        self.run("preinst", "upgrade", "0.2.0", **env)
        self.active_during_unpack = self.active()
        return self.run("postinst", "configure", "0.2.0", **env)


@pytest.fixture
def pi(tmp_path: Path) -> Pi:
    return Pi(tmp_path)


def test_upgrade_stops_before_the_unpack_and_starts_after_the_check(pi: Pi) -> None:
    pi.running(DAEMON)  # the station runs on another machine
    pi.upgrade()
    assert pi.active_during_unpack == set()  # no old process under the new files
    assert pi.active() == {DAEMON}  # and it runs again, on the new version
    calls = pi.calls()
    assert calls.index(f"stop {DAEMON}") < calls.index(f"start {DAEMON}")
    assert f"start {STATION}" not in calls and f"stop {STATION}" not in calls
    assert not pi.restart.exists()


def test_upgrade_from_a_prerm_that_did_not_stop_stops_in_preinst(pi: Pi) -> None:
    """The prerm that runs on an upgrade is the installed version's: 0.2.0's did not stop
    the daemon. The new preinst does."""
    pi.running(DAEMON, STATION)
    pi.run("preinst", "upgrade", "0.2.0")
    assert pi.active() == set()
    pi.conf.with_name("station.toml").write_text("[site]\nbogus = 1\n")
    p = pi.run("postinst", "configure", "0.2.0")
    assert pi.active() == {DAEMON}
    assert f"{STATION} was stopped for the upgrade and is NOT started" in p.stderr


def test_upgrade_onto_a_rejected_config_leaves_it_stopped_and_says_so(pi: Pi) -> None:
    pi.running(DAEMON)
    pi.conf.write_text(ACCEPTED.replace("[site]\n", "[site]\nbogus_key = 1\n"))
    before = pi.conf.read_bytes()
    p = pi.upgrade()
    assert pi.active() == set()
    assert f"monitord: !!!   {pi.conf}: site.bogus_key: unknown key" in p.stderr
    assert f"monitord: !!! {DAEMON} was stopped for the upgrade and is NOT started:" in p.stderr
    assert "NO MONITORING" in p.stderr
    assert pi.conf.read_bytes() == before  # never rewritten
    assert not pi.restart.exists()


def test_upgrade_with_no_check_starts_without_checking(pi: Pi) -> None:
    """MONITORD_INSTALL_NO_CHECK=1 (an image's config, whose paths are the image's) skips
    the check: the service is started on it and the message says it was not checked."""
    pi.running(DAEMON)
    pi.conf.write_text(ACCEPTED.replace("[site]\n", "[site]\nbogus_key = 1\n"))
    p = pi.upgrade(MONITORD_INSTALL_NO_CHECK="1")
    assert "the kept configs were not checked (MONITORD_INSTALL_NO_CHECK is set)" in p.stdout
    assert "!!!" not in p.stderr
    assert pi.active() == {DAEMON}


def test_a_stopped_service_stays_stopped_and_a_fresh_install_starts_nothing(pi: Pi) -> None:
    pi.upgrade()  # the admin had stopped it: not started by the upgrade
    assert pi.active() == set()
    assert not [c for c in pi.calls() if c.startswith(("start", "stop"))]
    (pi.state / "calls").unlink()
    pi.run("postinst", "configure", "")  # a first install
    assert pi.active() == set()
    assert pi.calls() == ["daemon-reload"]


def test_an_unpack_that_fails_starts_the_old_version_again(pi: Pi) -> None:
    """dpkg's unwinding when the new files cannot be unpacked: new postrm abort-upgrade,
    then old postinst abort-upgrade; the old files are back, so what was stopped runs."""
    pi.running(DAEMON)
    pi.run("preinst", "upgrade", "0.2.0")
    assert pi.active() == set()
    pi.run("postrm", "abort-upgrade", "0.2.0")
    assert pi.active() == {DAEMON}
    assert not pi.restart.exists()


def test_remove_stops_and_disables_both(pi: Pi) -> None:
    pi.running(DAEMON, STATION)
    pi.run("prerm", "remove")
    assert pi.active() == set()
    assert f"disable --now {DAEMON}" in pi.calls() and f"disable --now {STATION}" in pi.calls()
