"""The .deb's maintainer scripts (packaging/debian/) as dpkg runs them on a live Pi, in
dpkg's order for an upgrade (old prerm `upgrade`, new preinst `upgrade`, the unpack, new
postinst `configure OLD`), without root or a running systemd: each script is run from a
copy whose system paths point into the test's directory (systemd's probe
/run/systemd/system, /run, /etc/monitord, /opt/monitord), with a `systemctl` on PATH that
keeps which units are active and records each call, a `deb-systemd-invoke` that asks a
`policy-rc.d` of the test's as the real one (init-system-helpers) asks /usr/sbin/policy-rc.d,
and `getent`/`adduser`/`usermod` that create no user. The config check is the real
`monitord check-config`.

Before: prerm left the daemon running on upgrade and dpkg replaced /opt/monitord under it;
a lazy import then ran new code in the old process until postinst's try-restart. And the
scripts started and stopped units with plain systemctl, whatever policy-rc.d said (an image
built in a chroot or a container sets it to exit 101: start nothing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEBIAN = REPO / "packaging" / "debian"
DAEMON, STATION = "monitord.service", "monitord-station.service"

# Keeps the active units as files in $STATE/active (every unit enabled but those in
# $STATE/disabled); `try-restart` touches a stopped unit not, as systemd's. A unit in
# $STATE/failing does not come up (Type=notify: `start` fails, as systemctl's).
FAKE_SYSTEMCTL = """#!/bin/sh
echo "$*" >>"$STATE/calls"
[ "$1" = --quiet ] && shift
fails() { echo "Job for $1 failed because the control process exited with error code." >&2; }
case "$1" in
is-active) [ "$2" = --quiet ] && shift; [ -e "$STATE/active/$2" ] ;;
is-enabled) if [ -e "$STATE/disabled/$2" ]; then echo disabled; exit 1; fi; echo enabled ;;
stop) rm -f "$STATE/active/$2" ;;
start) if [ -e "$STATE/failing/$2" ]; then fails "$2"; exit 1; fi; touch "$STATE/active/$2" ;;
try-restart)
    [ -e "$STATE/active/$2" ] || exit 0
    if [ -e "$STATE/failing/$2" ]; then rm "$STATE/active/$2"; fails "$2"; exit 1; fi ;;
disable) [ "$2" = --now ] && rm -f "$STATE/active/$3"; exit 0 ;;
*) exit 0 ;;
esac
"""
# The real one's rules (/usr/bin/deb-systemd-invoke, Debian 12): policy-rc.d UNIT ACTION
# exiting 101 -> nothing done, exit 0; `start` of a unit not enabled -> not started.
FAKE_INVOKE = """#!/bin/sh
echo "deb-systemd-invoke $*" >>"$STATE/calls"
if [ -x "$POLICY_RC_D" ]; then
    rc=0; "$POLICY_RC_D" "$2" "$1" || rc=$?
    if [ "$rc" = 101 ]; then echo "$POLICY_RC_D returned 101, not running '$*'" >&2; exit 0; fi
fi
if [ "$1" = start ] && ! systemctl is-enabled "$2" | grep -q enabled; then
    echo "$2 is a disabled or a static unit, not starting it." >&2; exit 0
fi
exec systemctl "$@"
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
    """A live Pi as the maintainer scripts see it, under `base`; without deb-systemd-invoke
    (dpkg on another system) when not `invoke`: then PATH is only the test's bin."""

    def __init__(self, base: Path, invoke: bool = True) -> None:
        self.base = base
        self.state = base / "state"
        (self.state / "active").mkdir(parents=True)
        (self.state / "disabled").mkdir()
        (self.state / "failing").mkdir()
        self.policy = base / "policy-rc.d"
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
        if invoke:
            fakes["deb-systemd-invoke"] = FAKE_INVOKE
        for name, text in fakes.items():
            (self.bin / name).write_text(text)
            (self.bin / name).chmod(0o755)
        # This machine's own deb-systemd-invoke (and policy-rc.d) are never used.
        self.path = f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}"
        if not invoke:
            for tool in ("sh", "install", "cmp", "grep", "sed", "rm", "touch"):
                (self.bin / tool).symlink_to(str(shutil.which(tool)))
            self.path = str(self.bin)
        self.scripts = base / "scripts"
        self.scripts.mkdir()
        for script in DEBIAN.iterdir():
            text = script.read_text()
            for real, here in (
                ("/run/systemd/system", base / "run-systemd-system"),
                ("/run/monitord.dpkg-restart", self.restart),
                ("/etc/monitord", self.etc),
                ("/opt/monitord", base / "opt" / "monitord"),
                ("/usr/sbin/policy-rc.d", self.policy),
            ):
                text = text.replace(real, str(here))
            (self.scripts / script.name).write_text(text)

    def running(self, *units: str) -> None:
        for u in units:
            (self.state / "active" / u).touch()

    def forbid(self) -> None:
        """An image build's policy-rc.d: no service action (exit 101)."""
        self.policy.write_text("#!/bin/sh\nexit 101\n")
        self.policy.chmod(0o755)

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
        e.update(STATE=str(self.state), PATH=self.path, POLICY_RC_D=str(self.policy), **env)
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
    # through deb-systemd-invoke (policy-rc.d): none here, so as before
    assert f"deb-systemd-invoke stop {DAEMON}" in calls
    assert f"deb-systemd-invoke start {DAEMON}" in calls
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


def test_files_that_do_not_compile_are_counted_and_named(pi: Pi) -> None:
    """One vendored file that does not compile used to print only "/opt/monitord not
    precompiled (slower starts)", as if none were: the admin could not tell whether it
    mattered."""
    opt = pi.base / "opt" / "monitord"
    (opt / "bin" / "python").symlink_to(sys.executable)
    lib = opt / "lib" / "site-packages"
    (lib / "vendored" / "tests").mkdir(parents=True)
    for i in range(6):
        (lib / f"good{i}.py").write_text("x = 1\n")
    for i in range(4):  # Python 2 tests, say, that nothing imports
        (lib / "vendored" / "tests" / f"py2_{i}.py").write_text("print 'x'\n")
    err = pi.run("postinst", "configure", "").stderr
    said = [ln for ln in err.splitlines() if "precompiled" in ln]
    assert len(said) == 1, err
    assert f"4 of 10 Python files under {opt} not precompiled" in said[0], said[0]
    assert f"{lib / 'vendored' / 'tests'}/py2_" in said[0] and "(+1 more)" in said[0], said[0]
    assert (lib / "__pycache__").is_dir()  # the others were compiled


def test_files_not_compiled_in_another_root_are_named_as_on_the_target(pi: Pi) -> None:
    """Installing into an image (DPKG_ROOT): the line says "under /opt/monitord" and named
    the files with the image's directory in front, a path that exists on no Pi."""
    root = pi.base / "image"
    opt = pi.base / "opt" / "monitord"  # the scripts' /opt/monitord (Pi above)
    lib = Path(f"{root}{opt}") / "lib"
    (lib.parent / "bin").mkdir(parents=True)
    (lib.parent / "bin" / "python").symlink_to(sys.executable)
    (lib / "vendored").mkdir(parents=True)
    (lib / "good.py").write_text("x = 1\n")
    (lib / "vendored" / "py2.py").write_text("print 'x'\n")
    etc = Path(f"{root}{pi.etc}")
    etc.mkdir(parents=True)
    (etc / "monitord.example.toml").write_text(ACCEPTED)
    err = pi.run("postinst", "configure", "", DPKG_ROOT=str(root)).stderr
    (said,) = [ln for ln in err.splitlines() if "precompiled" in ln]
    assert f"1 of 2 Python files under {opt} not precompiled" in said, said
    assert said.endswith(f": {opt}/lib/vendored/py2.py"), f"{said!r}: the path on the target"


@pytest.mark.parametrize("root", ["/", "//"])
def test_dpkg_root_slash_is_this_machine(pi: Pi, root: str) -> None:
    """DPKG_ROOT=/ names this machine's root, as an empty one does. It was taken for an
    image: the daemon kept running while dpkg replaced /opt/monitord under it, no user was
    made ("installing into /: user 'monitord' not created"), and the lines named
    "//opt/monitord/bin/python"."""
    pi.running(DAEMON)
    out = pi.upgrade(DPKG_ROOT=root)
    assert pi.active_during_unpack == set(), "stopped for the unpack"
    assert pi.active() == {DAEMON}
    said = out.stdout + out.stderr
    assert "installing into" not in said and "//" not in said, said


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
    assert f"deb-systemd-invoke stop {DAEMON}" in pi.calls()
    assert f"disable {DAEMON}" in pi.calls() and f"disable {STATION}" in pi.calls()


@pytest.mark.parametrize("invoke", [True, False], ids=["deb-systemd-invoke", "without-it"])
def test_policy_rc_d_forbidding_keeps_the_upgrade_from_stopping_or_starting(
    tmp_path: Path, invoke: bool
) -> None:
    """An image build (chroot, container) or an admin sets policy-rc.d to exit 101: the
    upgrade stops and starts nothing, every script exits 0, and each says why. Without
    deb-systemd-invoke the scripts ask policy-rc.d themselves."""
    pi = Pi(tmp_path, invoke=invoke)
    pi.running(DAEMON)
    pi.forbid()
    pi.run("prerm", "upgrade", "0.3.0")
    p = pi.run("preinst", "upgrade", "0.2.0")
    assert pi.active() == {DAEMON}  # the policy's call, said:
    assert f"monitord: {DAEMON} NOT stopped for the upgrade: {pi.policy} forbids it" in p.stderr
    p = pi.run("postinst", "configure", "0.2.0")
    assert f"monitord: {DAEMON} NOT restarted: {pi.policy} forbids it" in p.stderr
    assert pi.active() == {DAEMON}
    assert not [c for c in pi.calls() if c.startswith(("start", "stop", "try-restart"))]
    assert not pi.restart.exists()


def test_policy_rc_d_forbidding_starts_nothing_and_says_no_monitoring(pi: Pi) -> None:
    """The old version's prerm (0.3.0) stopped the daemon with plain systemctl, whatever
    policy-rc.d said: the new postinst does not start it and says so (`!!!`). A fresh
    install starts nothing either way."""
    pi.running(DAEMON)
    pi.run("preinst", "upgrade", "0.2.0")  # no policy-rc.d yet: stopped
    pi.forbid()
    p = pi.run("postinst", "configure", "0.2.0")
    assert pi.active() == set()
    assert (
        f"monitord: !!! {DAEMON} was stopped for the upgrade and is NOT started: "
        f"{pi.policy} forbids it:\nmonitord: !!! NO MONITORING by it until: "
        f"systemctl start {DAEMON}"
    ) in p.stderr
    assert not [c for c in pi.calls() if c.startswith(("start", "deb-systemd-invoke start"))]
    assert not pi.restart.exists()
    p = pi.run("postinst", "configure", "")
    assert pi.active() == set() and "installed, not started" in p.stdout


def test_a_disabled_unit_started_by_hand_runs_again_after_the_upgrade(pi: Pi) -> None:
    """deb-systemd-invoke starts enabled units only; a unit the admin started without
    enabling it was running, so the upgrade that stopped it starts it again."""
    pi.running(DAEMON)
    (pi.state / "disabled" / DAEMON).touch()
    pi.upgrade()
    assert pi.active() == {DAEMON}
    assert f"deb-systemd-invoke start {DAEMON}" not in pi.calls()  # it would not have


@pytest.mark.parametrize("enabled", [True, False], ids=["enabled", "started-by-hand"])
def test_a_service_that_does_not_start_again_after_the_upgrade_says_no_monitoring(
    pi: Pi, enabled: bool
) -> None:
    """The new version accepts the config but does not come up (a missing library, the
    store's lock held, ...): the start that follows the upgrade's stop fails. It was only
    systemctl's `Job ... failed` (through the real deb-systemd-invoke: `Could not execute
    systemctl`), and the upgrade went on as if done: no monitoring, no `!!!`."""
    pi.running(DAEMON)
    (pi.state / "failing" / DAEMON).touch()
    if not enabled:
        (pi.state / "disabled" / DAEMON).touch()
    p = pi.upgrade()
    assert pi.active() == set()
    assert (
        f"monitord: !!! {DAEMON} ran before the upgrade and did NOT start again on the new "
        f"version:\nmonitord: !!! NO MONITORING by it"
    ) in p.stderr, p.stderr
    assert not pi.restart.exists()


def test_a_try_restart_that_does_not_come_up_says_no_monitoring(pi: Pi) -> None:
    """A unit the upgrade did not stop (it was not active then: restarting after a crash)
    runs by postinst's time and is try-restarted onto the new version, which fails."""
    pi.run("prerm", "upgrade", "0.3.0")
    pi.run("preinst", "upgrade", "0.2.0")
    pi.running(DAEMON)  # systemd restarted it meanwhile
    (pi.state / "failing" / DAEMON).touch()
    p = pi.run("postinst", "configure", "0.2.0")
    assert f"try-restart {DAEMON}" in pi.calls()
    assert pi.active() == set()
    assert f"monitord: !!! {DAEMON} ran before the upgrade and did NOT start" in p.stderr


def test_the_untouched_example_with_a_conf_d_is_checked(pi: Pi) -> None:
    """monitord.toml left as the example, the Pi's settings in conf.d/ (docs/install.md,
    "Fleet configuration": a later file's value wins): the daemon runs on the merge. The
    check skipped it as "the example, never edited: nothing runs on it", and the service
    was started on a merge the new version rejects (exit 78 under systemd: no monitoring,
    the rejected lines unsaid). Now the merge is checked as any kept config."""
    pi.running(DAEMON)
    pi.conf.write_bytes((pi.etc / "monitord.example.toml").read_bytes())
    chair = pi.etc / "conf.d" / "20-chair.toml"
    chair.write_text("[site]\nbogus_key = 1\n")
    p = pi.upgrade()
    assert f"monitord: !!!   {chair}: site.bogus_key: unknown key" in p.stderr, p.stderr
    assert f"monitord: !!! {DAEMON} was stopped for the upgrade and is NOT started:" in p.stderr
    assert pi.active() == set()
    # The untouched example alone is still not checked: nothing runs on it.
    chair.unlink()
    pi.running(DAEMON)
    p = pi.upgrade()
    assert "!!!" not in p.stderr and pi.active() == {DAEMON}


def test_the_untouched_example_with_a_dangling_chair_link_is_checked(pi: Pi) -> None:
    """Which conf.d files the daemon merges is the new monitord's to say (`check-config
    --files`, tests/ops/test_confd_editor_files.py). postinst's own glob left out a
    conf.d/20-chair.toml linking to a file gone (`[ -e ]`), which the daemon reads and stops
    on (exit 78): beside the untouched example the service was started, nothing said. An
    emacs lock (hidden, left out by the daemon too) still leaves the example unchecked."""
    pi.running(DAEMON)
    pi.conf.write_bytes((pi.etc / "monitord.example.toml").read_bytes())
    (pi.etc / "conf.d" / ".#20-chair.toml").symlink_to("admin@chair-3.4242:1733400000")
    p = pi.upgrade()
    assert "!!!" not in p.stderr and pi.active() == {DAEMON}, p.stderr
    chair = pi.etc / "conf.d" / "20-chair.toml"
    chair.symlink_to("/srv/chairs/chair-3.toml")
    p = pi.upgrade()
    assert (
        f"monitord: !!!   {chair}: cannot read: a symbolic link to /srv/chairs/chair-3.toml, "
        "which does not exist" in p.stderr
    ), p.stderr
    assert f"monitord: !!! {DAEMON} was stopped for the upgrade and is NOT started:" in p.stderr
    assert pi.active() == set()
