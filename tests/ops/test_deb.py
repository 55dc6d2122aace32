"""The Debian package (issue 19, acceptance 1 and 3): built from this tree by
`bash packaging/build-deb.sh --out DIR`, installed with the real dpkg into a throwaway
root (`dpkg --root`, maintainer scripts run with DPKG_ROOT set), where the installed
`monitord` reports its version, accepts the shipped example, and `doctor` passes against
the test servers with a fleet config (site file + conf.d); an upgrade over the previous
build keeps /etc/monitord and the store; remove keeps them; purge removes them.
The nurses' station ships in the same package (issue 19 follow-up): its unit (never enabled
or started by the maintainer scripts; prerm disables it on remove), its doc and example
config; every `Documentation=file://` of both units is a file the package lays out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitord import __version__
from monitord.cli import EX_UNAVAILABLE
from tests.conftest import TLS_USERS
from tests.ops.units import UNITS, dead_links, documentation_files
from tests.servers import Influxd, Mosquitto, TlsMaterial, session_tmpdir

REPO = Path(__file__).resolve().parents[2]

# Both tests use the built package (a module fixture of ~1 min): the suite runs a module
# on one worker (`--dist loadfile`, scripts/setup.sh), so it is built once.


def sh(
    *args: str | Path, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=None if env is None else {**os.environ, **env},
    )
    return p


@pytest.fixture(scope="module")
def deb() -> Iterator[Path]:
    out = session_tmpdir("deb")
    try:
        p = sh("bash", REPO / "packaging" / "build-deb.sh", "--out", out, timeout=900)
        assert p.returncode == 0, p.stdout + p.stderr
        (built,) = out.glob("monitord_*.deb")
        yield built
    finally:
        shutil.rmtree(out, ignore_errors=True)


def assert_precompiled(site: Path) -> None:
    """Every module of monitord and its dependencies has bytecode next to it, current for
    its source, naming the source by its path on the target (/opt/monitord/...)."""
    # The package's Python's tag (lib/python3.11 -> cpython-311), not the one running the
    # test: under another Python (3.13 testing a .deb built on /usr/bin/python3 3.11) every
    # module looked uncompiled.
    tag = "cpython-" + site.parent.name.removeprefix("python").replace(".", "")

    def cache(p: Path) -> Path:
        return p.parent / "__pycache__" / f"{p.stem}.{tag}.pyc"

    sources = [p for top in ("monitord", "pydantic", "aiohttp") for p in (site / top).rglob("*.py")]
    assert len(sources) > 100, sources
    missing = [p for p in sources if not cache(p).is_file()]
    assert not missing, f"{len(missing)} modules without bytecode, e.g. {missing[:3]}"
    pyc = cache(site / "monitord/cli.py")
    # Read by the package's own Python: marshal's format is its version's.
    # After the 16-byte header (PEP 552).
    read = "import marshal, sys; print(marshal.loads(open(sys.argv[1], 'rb').read()[16:])"
    p = sh(site.parents[2] / "bin" / "python3", "-c", read + ".co_filename)", pyc)
    assert p.returncode == 0, p.stderr
    root = str(site).split("/opt/monitord/")[0]
    assert p.stdout.strip() == str(site / "monitord/cli.py").removeprefix(root), p.stdout


def upgrade_of(deb: Path, tmp: Path) -> Path:
    """The same package as a later version (what the next build would be)."""
    tree = tmp / "next"
    assert sh("dpkg-deb", "-R", deb, tree).returncode == 0
    control = tree / "DEBIAN" / "control"
    control.write_text(
        control.read_text().replace(f"Version: {__version__}", f"Version: {__version__}+next1")
    )
    out = tmp / f"monitord_{__version__}+next1.deb"
    # Uncompressed (-Znone): xz-compressing the venv again took ~16 s of each test that
    # upgrades. What an upgrade does (maintainer scripts, the operator's files kept) does
    # not depend on it; the shipped compression is the `deb` fixture's, installed first.
    p = sh("dpkg-deb", "--root-owner-group", "-Znone", "--build", tree, out)
    assert p.returncode == 0, p.stderr
    return out


class Root:
    """A throwaway root with its own dpkg database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        (path / "var/lib/dpkg/info").mkdir(parents=True)
        (path / "var/lib/dpkg/updates").mkdir()
        (path / "var/lib/dpkg/status").touch()

    def dpkg(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        # chrootless: the maintainer scripts run on this machine with DPKG_ROOT set (they
        # honour it); depends forced: python3 is this machine's, not in the empty root.
        p = sh(
            "dpkg",
            f"--root={self.path}",
            "--force-script-chrootless",
            "--force-depends",
            *args,
            timeout=300,
        )
        assert p.returncode == 0, p.stdout + p.stderr
        return p

    def version(self) -> str:
        p = sh("dpkg-query", f"--admindir={self.path}/var/lib/dpkg", "-W", "monitord")
        return p.stdout.split()[1] if p.returncode == 0 and p.stdout.strip() else ""

    def __truediv__(self, rel: str) -> Path:
        return self.path / rel

    def monitord(
        self, *args: str | Path, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return sh(self / "opt/monitord/bin/monitord", *args, env=env)


def fleet_config(
    root: Root, mqtt: Mosquitto, tls: TlsMaterial, influxd: Influxd, db: str, port: str
) -> None:
    """What an operator does on a Pi: the shipped fleet site file as monitord.toml, this
    Pi's chair in conf.d, site-specific overrides (here: the test servers) in conf.d."""
    etc = root / "etc/monitord"
    examples = root / "usr/share/doc/monitord/examples/fleet"
    shutil.copy(examples / "monitord.toml", etc / "monitord.toml")
    chair = (examples / "conf.d" / "20-chair.toml").read_text()
    # no Bluetooth adapter and no USB adapter here: the chair's oximeter on a pty
    chair = chair.split("  [[chairs.devices]]")[0] + (
        f'  [[chairs.devices]]\n  id = "ox"\n  driver = "masimo-ascii"\n  port = "{port}"\n'
    )
    (etc / "conf.d" / "20-chair.toml").write_text(chair.replace('"chair-3"', '"monitord"', 1))
    (etc / "conf.d" / "90-test-servers.toml").write_text(
        f"""
[mqtt]
host = "{mqtt.host}"
port = {mqtt.port}
  [mqtt.tls]
  ca_file = "{tls.ca_file}"
[influx]
url = "{influxd.url}"
database = "{db}"
[storage]
path = "{root / "var/lib/monitord/outbox.sqlite"}"
"""
    )
    (etc / "secrets" / "mqtt-password").write_text(TLS_USERS["monitord"] + "\n")
    (etc / "secrets" / "influx-password").write_text("unused-without-auth\n")


# The package's build (the `deb` fixture: a venv and pip installing wheels from PyPI) runs
# in the first test's setup, which pytest-timeout counts. It takes ~1-2 min on a quiet
# machine and once took over the suite's default 300 s on a loaded one; the build's own
# limit is 900 s (`sh(..., timeout=900)`), so the tests that may build it get as much.
@pytest.mark.timeout(900)
def test_deb_installs_runs_upgrades_and_purges(
    deb: Path,
    tmp_path: Path,
    mosquitto_tls: Mosquitto,
    tls_material: TlsMaterial,
    influxd: Influxd,
    influx_db: str,
) -> None:
    root = Root(tmp_path / "root")
    p = root.dpkg("-i", deb)
    assert "not started" in p.stdout  # postinst never starts an unconfigured daemon
    assert root.version() == __version__

    # --version, from the relocated venv, and through the /usr/bin link's target
    v = root.monitord("--version")
    assert (v.returncode, v.stdout) == (0, f"monitord {__version__}\n"), v.stderr
    assert (root / "usr/bin/monitord").readlink() == Path("/opt/monitord/bin/monitord")
    # ...and run through a link, as `monitord` on PATH is (/usr/bin/monitord, absolute:
    # outside this root, so a relative one of the same target here). The launcher finds
    # its python beside the link's target: one beside the link (/usr/bin/python3.11, the
    # system's, without the venv's packages) failed on every command an admin typed.
    link = root / "usr/bin/monitord-via-link"
    link.symlink_to("../../opt/monitord/bin/monitord")
    v = subprocess.run([str(link), "--version"], capture_output=True, text=True, timeout=60)
    assert (v.returncode, v.stdout) == (0, f"monitord {__version__}\n"), v.stderr
    link.unlink()
    assert (root / "opt/monitord/share/doc/monitord/mqtt.md").is_file()
    # the pages' links and pictures resolve (README.md, the repository's front page, links
    # into docs/)
    dead = dead_links(root / "opt/monitord/share/doc/monitord", skip=("README.md",))
    assert not dead, dead
    for unit in UNITS:  # both units, as shipped; every doc they link to is in the package
        assert (root / "lib/systemd/system" / unit.name).read_bytes() == unit.read_bytes()
        for doc_path in documentation_files(unit):
            assert (root / doc_path.lstrip("/")).is_file(), f"{unit.name}: {doc_path} missing"
    # The station: installed everywhere, enabled nowhere by the package, its example config
    # beside the daemon's, its credential's placeholder, station.toml left to the admin.
    assert "monitord-station.service) is not enabled" in p.stdout, p.stdout
    assert not (root / "etc/systemd").exists()
    assert (root / "etc/monitord/station.example.toml").read_bytes() == (
        REPO / "config/station.toml"
    ).read_bytes()
    assert not (root / "etc/monitord/station.toml").exists()
    station_secret = root / "etc/monitord/secrets/station-mqtt-password"
    assert station_secret.read_bytes() == b""
    assert oct(station_secret.stat().st_mode & 0o777) == "0o600"
    # one top-level package: drivers and simulators live inside monitord (no name clash in
    # site-packages); the simulators are there, their BLE half needs the sim extra (bumble)
    (site,) = (root / "opt/monitord/lib").glob("python3*/site-packages")
    assert (site / "monitord/drivers/registry.py").is_file()
    assert (site / "monitord/simulators/scenarios/demo-esketamine.jsonl").is_file()
    assert not (site / "drivers").exists() and not (site / "simulators").exists()
    assert not (site / "bumble").exists()
    # Bytecode made by postinst, for the installed paths: the service (which may not write
    # under /opt) compiled every module again at each start (~1 s of CPU before READY=1).
    assert_precompiled(site)

    # check-config on the shipped example, as the operator finds it (monitord.toml made
    # from it by postinst), once the clinic's CA is in place
    etc = root / "etc/monitord"
    assert (etc / "monitord.toml").read_bytes() == (REPO / "config/example.toml").read_bytes()
    assert oct((etc / "secrets").stat().st_mode & 0o777) == "0o700"
    certs = sh("bash", REPO / "scripts/make-certs.sh", "--out", etc / "tls", "--broker", "b.lan")
    assert certs.returncode == 0, certs.stderr
    # Its secrets as the unit passes them (LoadCredential=secrets:/etc/monitord/secrets):
    # this machine has no /etc/monitord/secrets, and check-config refuses a missing one.
    creds = tmp_path / "credentials"
    creds.mkdir()
    for f in (etc / "secrets").iterdir():
        # Laid out empty by the package (check-config warns of that): written as the
        # admin's step 2 does (docs/install.md).
        assert f.read_bytes() == b"", f
        (creds / f"secrets_{f.name}").write_bytes(b"not-a-real-secret\n")
        (creds / f"secrets_{f.name}").chmod(0o600)
    c = root.monitord(
        "check-config",
        "-c",
        etc / "monitord.example.toml",
        env={"CREDENTIALS_DIRECTORY": str(creds)},
    )
    assert (c.returncode, c.stdout, c.stderr) == (0, "ok\n", "")

    # doctor against the test broker (TLS + login) and influxd, with a fleet config
    master, slave = os.openpty()  # a real pseudo-terminal stands in for the USB adapter
    try:
        fleet_config(root, mosquitto_tls, tls_material, influxd, influx_db, os.ttyname(slave))
        d = root.monitord(
            "doctor",
            "-c",
            etc / "monitord.toml",
            "--credentials",
            etc / "secrets",
            "--timeout",
            "5",
        )
    finally:
        os.close(slave)
        os.close(master)
    lines = {ln.split(None, 1)[1].split(":", 1)[0]: ln for ln in d.stdout.splitlines()}
    assert lines["mqtt"].startswith("ok ") and "over TLS" in lines["mqtt"], d.stdout
    assert lines["influx v1"].startswith("ok "), d.stdout
    assert lines["config"].startswith("ok "), d.stdout
    assert d.returncode == 0, d.stdout + d.stderr

    # without the sim extra, the demo says so in one line (acceptance 3)
    demo = root.monitord("demo", "--offline")
    assert demo.returncode == EX_UNAVAILABLE, demo.stdout + demo.stderr
    assert demo.stdout == "" and len(demo.stderr.splitlines()) == 1, demo.stderr
    assert "monitord[sim]" in demo.stderr

    # the operator's files and the store, before the upgrade; the station machine's too
    store = root / "var/lib/monitord/outbox.sqlite"  # systemd's StateDirectory= makes the dir
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_bytes(b"SQLite format 3\x00 undelivered readings")
    station = etc / "station.toml"
    station.write_text((etc / "station.example.toml").read_text().replace("-1", "-2"))
    (etc / "nurses").write_text("Alice M:pbkdf2_sha256$200000$c2FsdA$aGFzaA\n")
    station_secret.write_text("not-a-real-station-password\n")
    theirs = {
        p: p.read_bytes()
        for p in [store, *etc.rglob("*")]
        if p.is_file() and not p.name.endswith(".example.toml")
    }
    root.dpkg("-i", upgrade_of(deb, tmp_path))
    assert root.version() == f"{__version__}+next1"
    assert {p: p.read_bytes() for p in theirs} == theirs  # config, conf.d, secrets, TLS, store
    assert root.monitord("--version").returncode == 0
    assert_precompiled(site)  # prerm removed the old bytecode, postinst made the new

    root.dpkg("--remove", "monitord")
    assert not (root / "opt/monitord").exists()
    assert not (root / "lib/systemd/system/monitord-station.service").exists()
    assert (etc / "monitord.toml").exists() and store.exists()  # remove keeps them
    assert station.exists() and station_secret.exists()

    root.dpkg("--purge", "monitord")
    assert not etc.exists() and not (root / "var/lib/monitord").exists()
    assert root.version() == ""


@pytest.mark.timeout(900)
def test_prerm_disables_both_services_on_remove_only(deb: Path, tmp_path: Path) -> None:
    """The package's own prerm, run as dpkg runs it on a live system: systemd running (its
    probe, /run/systemd/system, pointed at a directory of the test's: this machine's
    systemd is not running) and a systemctl on PATH that records its arguments, as does a
    deb-systemd-invoke in front of it (this machine's policy-rc.d, if any, not asked: the
    script's path to it points at none). `remove` stops (through deb-systemd-invoke) and
    disables the daemon and the station; an upgrade stops only what runs (none here: this
    systemctl says every unit is inactive), before dpkg replaces the files
    (tests/ops/test_maintainer_scripts.py runs the whole upgrade, and policy-rc.d)."""
    scripts = tmp_path / "control"
    assert sh("dpkg-deb", "-e", deb, scripts).returncode == 0
    probe = "/run/systemd/system"
    text = (scripts / "prerm").read_text()
    assert probe in text
    running = tmp_path / "run-systemd-system"
    running.mkdir()
    text = text.replace("/usr/sbin/policy-rc.d", str(tmp_path / "no-policy-rc.d"))
    (tmp_path / "prerm").write_text(text.replace(probe, str(running)))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    fake = bin_dir / "systemctl"
    fake.write_text(f'#!/bin/sh\necho "$*" >>"{calls}"\n[ "$1" != is-active ]\n')
    fake.chmod(0o755)
    invoke = bin_dir / "deb-systemd-invoke"
    invoke.write_text(f'#!/bin/sh\necho "deb-systemd-invoke $*" >>"{calls}"\nexec systemctl "$@"\n')
    invoke.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "DPKG_ROOT"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"

    def prerm(*args: str) -> list[str]:
        calls.write_text("")
        p = subprocess.run(
            ["sh", str(tmp_path / "prerm"), *args], env=env, capture_output=True, text=True
        )
        assert p.returncode == 0, p.stderr
        return calls.read_text().splitlines()

    assert prerm("upgrade", f"{__version__}+next1") == [
        "is-active --quiet monitord.service",
        "is-active --quiet monitord-station.service",
    ]
    assert prerm("remove") == [
        "deb-systemd-invoke stop monitord.service",
        "stop monitord.service",
        "disable monitord.service",
        "deb-systemd-invoke stop monitord-station.service",
        "stop monitord-station.service",
        "disable monitord-station.service",
    ]


@pytest.mark.timeout(900)
def test_upgrade_onto_a_config_the_new_version_rejects_says_so(deb: Path, tmp_path: Path) -> None:
    """postinst used to try-restart onto a config the new version rejects (exit 78: the
    daemon stopped) with nothing said. Now it checks first: the lines naming the field on
    the terminal, the service not restarted, the config never rewritten."""
    root = Root(tmp_path / "root")
    root.dpkg("-i", deb)
    conf = root / "etc/monitord/monitord.toml"
    conf.write_text(conf.read_text().replace("[site]\n", "[site]\nbogus_key = 1\n", 1))
    before = conf.read_bytes()
    p = root.dpkg("-i", upgrade_of(deb, tmp_path))
    assert "monitord: !!! the new monitord rejects /etc/monitord/monitord.toml:" in p.stderr
    assert f"monitord: !!!   {conf}: site.bogus_key: unknown key" in p.stderr
    assert "monitord: !!! monitord.service NOT restarted" in p.stderr
    assert conf.read_bytes() == before
