"""scripts/install.sh into a temporary root: it lays out exactly the files docs/install.md
lists, the installed monitord runs and accepts the installed example config, and
`uninstall` removes them again, keeping only what the operator changed unless --purge
(issue 7, acceptance 2). The nurses' station ships with the daemon (issue 19 follow-up): its
unit (installed, never enabled), its doc, its example config; the operator's station.toml,
nurses file and station secret are never written, kept by `uninstall`, removed by `--purge`;
every `Documentation=file://` of both units is a file the install lays out.

pip installs the real package and its dependencies into the root's venv with the
machine's pip configuration (the same source `scripts/setup.sh` used for .venv).
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from monitord import __version__
from monitord.commands.report import NO_PDF_NOTICE
from tests.ops.conftest import Installed
from tests.ops.units import (
    ALLOWED_SYSTEMCTL,
    UNITS,
    dead_links,
    documentation_files,
    systemctl_verbs,
)
from tests.report.storeplay import play_into_store

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "install.sh"
DOC = REPO / "docs" / "install.md"
# venv internals below /opt/monitord: present, but not listed one by one.
VENV_TOP = {"bin", "include", "lib", "lib64", "pyvenv.cfg"}

# The tests that need an installed tree share one install (tests/ops/conftest.py): they
# are in this one module, which the suite runs on one worker (`--dist loadfile`).


def documented() -> dict[str, int]:
    """path -> mode from the table between the layout markers in docs/install.md."""
    text = DOC.read_text()
    block = text.split("<!-- layout:begin -->", 1)[1].split("<!-- layout:end -->", 1)[0]
    out: dict[str, int] = {}
    for m in re.finditer(r"^\| `(/[^`]+)` \| (0[0-7]{3}) \|", block, re.M):
        path, mode = m.group(1).rstrip("/"), int(m.group(2), 8)
        if path.endswith("/*"):  # the docs folder: every page and picture of docs/
            pages = sorted(REPO.glob("docs/*.md")) + sorted(REPO.glob("docs/*.png"))
            out |= {f"{path[:-2]}/{f.name}": mode for f in pages}
        else:
            out[path] = mode
    assert len(out) >= 10, "layout table not found in docs/install.md"
    return out


def run(*args: str) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert p.returncode == 0, f"install.sh {args} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p


def laid_out(root: Path) -> set[str]:
    """Every path under root, venv internals collapsed, parents of our paths left out."""
    found: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = "/" + os.path.relpath(dirpath, root)
        if rel == "/opt/monitord":
            top = set(dirnames) | set(filenames)
            assert {"bin", "lib", "include", "pyvenv.cfg"} <= top, top
            dirnames[:] = [d for d in dirnames if d not in VENV_TOP]
            filenames = [f for f in filenames if f not in VENV_TOP]
            found.add(rel)
        elif rel != "/.":
            found.add(rel)
        for f in filenames:
            found.add(f"{rel}/{f}".replace("/./", "/"))
    return found


def parents(paths: set[str]) -> set[str]:
    out: set[str] = set()
    for p in paths:
        parts = p.split("/")
        out |= {"/".join(parts[:i]) for i in range(2, len(parts))}
    return out


def test_install_lays_out_documented_files_and_uninstall_removes_them(
    installed: Installed, tmp_path: Path
) -> None:
    root = installed.copy_to(tmp_path / "root")
    doc = documented()
    stdout = installed.stdout
    assert "Next steps:" in stdout and "systemctl enable --now monitord" in stdout
    # one line on the station, which this install never enables
    (station_line,) = [ln for ln in stdout.splitlines() if "station" in ln.lower()]
    assert "/opt/monitord/share/doc/monitord/station.md" in station_line, station_line
    assert "useradd --system" in stdout  # --root: the user is only recorded

    got = laid_out(root)
    # The venv's own bin/monitord is documented; it lives inside the collapsed bin/.
    assert (root / "opt/monitord/bin/monitord").is_file()
    inside_venv = {"/opt/monitord/bin/monitord", "/opt/monitord/bin"}
    expected = (set(doc) | parents(set(doc))) - inside_venv
    assert got == expected, f"extra: {sorted(got - expected)}; missing: {sorted(expected - got)}"
    for path, mode in doc.items():
        st = (root / path.lstrip("/")).stat()
        assert stat.S_IMODE(st.st_mode) == mode, (path, oct(st.st_mode))
    # The installed pages link each other and their pictures: every relative link resolves
    # on the Pi (install.md -> mqtt.md was a dead link when only four pages were installed).
    dead = dead_links(root / "opt/monitord/share/doc/monitord")
    assert not dead, dead

    manifest = (root / "opt/monitord/share/monitord/install-manifest.txt").read_text()
    files = {p for p, m in doc.items() if not (root / p.lstrip("/")).is_dir()}
    assert set(manifest.split("\n")) >= files - {"/opt/monitord/bin/monitord"}
    assert "# user monitord: not created (--root)" in manifest

    assert (root / "etc/monitord/monitord.toml").read_bytes() == (
        REPO / "config/example.toml"
    ).read_bytes()
    for unit in UNITS:  # both units, as shipped; every doc they link to is laid out
        assert (root / "etc/systemd/system" / unit.name).read_bytes() == unit.read_bytes()
        for doc_path in documentation_files(unit):
            assert (root / doc_path.lstrip("/")).is_file(), f"{unit.name}: {doc_path} missing"
    # The station runs on one machine, by the admin's choice: nothing enables it here.
    assert not (root / "etc/systemd/system/multi-user.target.wants").exists()
    assert (root / "etc/monitord/station.example.toml").read_bytes() == (
        REPO / "config/station.toml"
    ).read_bytes()
    assert not (root / "etc/monitord/station.toml").exists()  # the operator's, never ours
    # The installed command runs from its own venv and accepts the installed example.
    exe = str(root / "opt/monitord/bin/monitord")
    v = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert v.stdout.strip() == f"monitord {__version__}", v.stderr
    # It validates configs exactly as the source tree does (the example's drivers may come
    # from other branches: same verdict, whatever it is), and accepts a config it knows.
    installed_conf = str(root / "etc/monitord/monitord.toml")
    mine = subprocess.run(
        [exe, "check-config", installed_conf], capture_output=True, text=True, timeout=60
    )
    src = subprocess.run(
        [sys.executable, "-m", "monitord", "check-config", installed_conf],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (mine.returncode, mine.stdout, mine.stderr) == (src.returncode, src.stdout, src.stderr)
    demo = subprocess.run(
        [exe, "check-config", str(REPO / "config/demo.toml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (demo.returncode, demo.stdout.strip()) == (0, "ok"), demo.stderr

    # Relocatable (an image build copies the tree elsewhere): no script names the build root.
    for f in (root / "opt/monitord/bin").iterdir():
        if f.is_file() and not f.is_symlink():
            assert str(installed.root).encode() not in f.read_bytes()[:200], f

    run("uninstall", "--root", str(root))
    left = laid_out(root)
    assert left <= {"/etc", "/etc/systemd", "/etc/systemd/system", "/opt"}, sorted(left)


def test_uninstall_keeps_operator_changes_until_purge(installed: Installed, tmp_path: Path) -> None:
    root = installed.copy_to(tmp_path / "root")
    conf = root / "etc/monitord/monitord.toml"
    secret = root / "etc/monitord/secrets/mqtt-password"
    conf.write_text(conf.read_text().replace("clinic-north", "clinic-south"))
    secret.write_text("hunter2-not-real\n")
    outbox = root / "var/lib/monitord/outbox.sqlite"  # as systemd's StateDirectory= makes it
    outbox.parent.mkdir(parents=True)
    outbox.write_bytes(b"undelivered")
    # The station machine's own files, as docs/install.md has the admin make them.
    etc = root / "etc/monitord"
    station = etc / "station.toml"
    station.write_text((etc / "station.example.toml").read_text().replace("-1", "-2"))
    nurses = etc / "nurses"
    nurses.write_text("Alice M:pbkdf2_sha256$200000$c2FsdA$aGFzaA\n")
    station_secret = etc / "secrets/station-mqtt-password"
    assert station_secret.read_bytes() == b""  # the placeholder the unit's credential needs
    station_secret.write_text("not-a-real-station-password\n")
    # A fleet's chair file and the broker's CA (docs/install.md: conf.d, TLS), in the
    # folders the install made for them.
    chair_file = etc / "conf.d/50-chair.toml"
    chair_file.write_text('[[chairs]]\nid = "chair-7"\n')
    ca = etc / "tls/ca.crt"
    ca.write_text("not a real certificate\n")

    p = run("uninstall", "--root", str(root))
    assert "kept /etc/monitord/monitord.toml" in p.stdout
    assert "kept /etc/monitord/station.toml" in p.stdout
    assert "kept /etc/monitord/nurses" in p.stdout
    assert "kept /var/lib/monitord" in p.stdout
    assert conf.exists() and secret.exists() and outbox.exists()
    assert station.exists() and nurses.exists() and station_secret.exists()
    assert chair_file.exists() and ca.exists()
    assert not (etc / "monitord.example.toml").exists()
    assert not (etc / "station.example.toml").exists()
    assert not (etc / "secrets/influx-token").exists()  # empty: not yours
    assert not (root / "opt/monitord").exists()
    assert not (root / "etc/systemd/system/monitord.service").exists()
    assert not (root / "etc/systemd/system/monitord-station.service").exists()

    run("uninstall", "--purge", "--root", str(root))
    assert not (root / "etc/monitord").exists()
    assert not (root / "var/lib/monitord").exists()


def test_root_tree_runs_after_being_moved(installed: Installed, tmp_path: Path) -> None:
    """`install.sh --root DIR` for an image build: the tree is copied into the image, where
    DIR does not exist; monitord must run from there (issue 19)."""
    image = installed.copy_to(tmp_path / "image")
    # DIR must not exist while the copy runs (else a path left pointing there would work):
    # the module's build root is put aside and back (its tests run on one worker, in turn).
    aside = installed.root.with_name("aside")
    installed.root.rename(aside)
    try:
        exe = image / "opt/monitord/bin/monitord"
        v = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
        assert (v.returncode, v.stdout.strip()) == (0, f"monitord {__version__}"), v.stderr
        demo = subprocess.run(
            [str(exe), "check-config", "-c", str(REPO / "config/demo.toml")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (demo.returncode, demo.stdout.strip()) == (0, "ok"), demo.stderr
    finally:
        aside.rename(installed.root)


def test_no_install_or_maintainer_script_enables_or_starts_a_service(tmp_path: Path) -> None:
    """install.sh and the .deb's maintainer scripts reload, disable and try-restart (an
    upgrade restarts only what runs): enabling and starting are the admin's, the station's
    above all (it runs on one machine). The check sees a call, not printed advice."""
    scripts = [SCRIPT, *sorted((REPO / "packaging/debian").iterdir())]
    assert len(scripts) == 5
    for script in scripts:
        assert systemctl_verbs(script) <= ALLOWED_SYSTEMCTL, script.name
    bad = tmp_path / "postinst"
    bad.write_text(
        'echo "then systemctl enable --now monitord"\n'
        "cat <<EOF\n  sudo systemctl start monitord\nEOF\n"
        "systemctl daemon-reload\n"
        "    systemctl --quiet enable --now monitord-station.service || true\n"
    )
    assert systemctl_verbs(bad) == {"daemon-reload", "enable"}


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["install", "--help"]])
def test_help_is_printed_wherever_it_is_asked(args: list[str]) -> None:
    """`install.sh --help` (the first thing an admin types) prints the options, exit 0;
    it used to print only the one-line usage, with exit 2."""
    p = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "--from-wheel F" in p.stdout and "--purge" in p.stdout, p.stdout


def test_no_action_prints_the_usage_and_fails() -> None:
    p = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2
    assert p.stderr.startswith("usage: scripts/install.sh install|uninstall"), p.stderr


# Issue 18 acceptance 4 (formerly tests/ops/test_install_report.py, here to share the
# module's one install): an installed Pi can make reports. The install lays monitord out
# as on a Pi (its own venv, no `report` extra: docs/report.md "The PDF renderer"); its
# `monitord report` on a stored session writes the HTML and the CSVs with one line saying
# the PDF renderer is absent, and no traceback. With the renderer added as docs/report.md
# says (`/opt/monitord/bin/pip install matplotlib`), the same command writes the PDF too.
REPORT_CASES = REPO / "tests/report/cases"
PIP_ENV = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _run_pip_env(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=PIP_ENV)


def test_installed_monitord_reports_a_stored_session(installed: Installed, tmp_path: Path) -> None:
    root = installed.copy_to(tmp_path / "root")
    venv = root / "opt/monitord"
    exe = str(venv / "bin/monitord")
    assert (root / "opt/monitord/share/doc/monitord/report.md").is_file()
    # A store as the daemon leaves it in /var/lib/monitord.
    db = root / "var/lib/monitord/outbox.sqlite"
    db.parent.mkdir(parents=True)
    play_into_store(REPORT_CASES / "complete_session.jsonl", db)

    # The Pi's install has no PDF renderer: HTML and CSV, one line on stderr.
    has = _run_pip_env([str(venv / "bin/python"), "-c", "import matplotlib"])
    assert has.returncode != 0, "the install now ships matplotlib: update docs/report.md"
    out = tmp_path / "out"
    r = _run_pip_env([exe, "report", "--db", str(db), "--session", "s-complete", "--out", str(out)])
    assert r.returncode == 0, r.stderr
    assert r.stderr == NO_PDF_NOTICE + "\n"
    assert [Path(x).name for x in r.stdout.split()] == [
        "s-complete.html",
        "s-complete.csv",
        "s-complete-events.csv",
    ]
    page = (out / "s-complete.html").read_text()
    assert "168/100 mmHg (MAP 123)" in page and "Chart not drawn" in page
    lst = _run_pip_env([exe, "report", "--db", str(db), "--list"])
    assert lst.returncode == 0 and "s-complete" in lst.stdout, lst.stderr

    # The renderer added as documented: the PDF is written, nothing on stderr. Without
    # byte-compiling matplotlib, numpy and fonttools (about half of the install's time;
    # Python compiles the modules the report imports when it imports them).
    pip = _run_pip_env(
        [str(venv / "bin/python"), "-m", "pip", "install", "-q", "--no-compile", "matplotlib>=3.7"],
        600,
    )
    assert pip.returncode == 0, pip.stderr[-2000:]
    r = _run_pip_env([exe, "report", "--db", str(db), "--session", "s-complete", "--out", str(out)])
    assert r.returncode == 0 and r.stderr == "", r.stderr
    pdf = out / "s-complete.pdf"
    assert r.stdout.split()[0] == str(pdf) and pdf.read_bytes().startswith(b"%PDF")


def test_upgrade_onto_a_config_the_new_version_rejects_keeps_the_old_one(
    installed: Installed, tmp_path: Path
) -> None:
    """An upgrade used to swap in the new version and try-restart the service onto a config
    it rejects: exit 78, no monitoring, nothing said. Now the new version checks the kept
    config first; rejected, nothing is replaced and the lines are on the terminal. Takes
    ~25 s: the upgrade's own pip install (there is no shorter real upgrade)."""
    root = installed.copy_to(tmp_path / "root")
    conf = root / "etc/monitord/monitord.toml"
    conf.write_text(conf.read_text().replace("[site]\n", "[site]\nbogus_key = 1\n", 1))
    before = conf.read_bytes()
    exe = root / "opt/monitord/bin/monitord"
    old = exe.read_bytes()
    p = subprocess.run(
        ["bash", str(SCRIPT), "install", "--root", str(root), "--pip-args", "--no-compile"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )  # fmt: skip
    assert p.returncode == 1, p.stdout + p.stderr
    assert "monitord-install: !!! the new monitord rejects your /etc/monitord/monitord.toml:" in (
        p.stderr
    )
    assert f"monitord-install: !!!   {conf}: site.bogus_key: unknown key" in p.stderr
    assert "NOT UPGRADED: /opt/monitord is unchanged" in p.stderr
    assert conf.read_bytes() == before  # never rewritten
    assert exe.read_bytes() == old and (root / "opt/monitord.new/bin/monitord").exists()


def test_upgrade_keeps_the_operators_config_secrets_and_store(
    installed: Installed, tmp_path: Path
) -> None:
    """docs/install.md: "Running `install` again upgrades: ... your `monitord.toml` and
    secrets are kept". Only an upgrade onto a rejected config was run (which replaces
    nothing), so one that laid the example over an accepted, edited config (a Pi back to
    the example's chairs, its chair file's site overridden) or emptied a written secret
    (the daemon refused by the broker) passed. A real upgrade, ~25 s of pip install."""
    root = installed.copy_to(tmp_path / "root")
    etc = root / "etc/monitord"
    conf = etc / "monitord.toml"
    conf.write_text(conf.read_text() + "# chair 3 of the fleet: edited by the admin\n")
    (etc / "secrets/mqtt-password").write_text("s3cret\n")
    store = root / "var/lib/monitord"
    store.mkdir(parents=True, exist_ok=True)
    (store / "outbox.sqlite").write_bytes(b"undelivered alert events")
    kept = {p: p.read_bytes() for p in (conf, etc / "secrets/mqtt-password")}
    kept[store / "outbox.sqlite"] = b"undelivered alert events"
    # The example's secrets and TLS paths are the image's (/etc/monitord/...), not under
    # this root: the check of the kept config is skipped as docs/install.md says for an
    # image (the test above runs that check).
    p = subprocess.run(
        ["bash", str(SCRIPT), "install", "--root", str(root), "--pip-args", "--no-compile"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "MONITORD_INSTALL_NO_CHECK": "1"},
    )  # fmt: skip
    assert p.returncode == 0, p.stdout + p.stderr
    assert {f: f.read_bytes() for f in kept} == kept
    assert "kept your /etc/monitord/monitord.toml" in p.stdout, p.stdout


def test_no_check_skips_the_kept_configs_check(installed: Installed, tmp_path: Path) -> None:
    """MONITORD_INSTALL_NO_CHECK=1 (an image's config, whose paths exist only in the image)
    skips the upgrade's check of the kept configs, and says so. install.sh's own
    check_kept_configs, taken from the script, with the installed monitord as the new
    version (the whole upgrade is ~25 s of pip install: the test above runs it once) on a
    config it rejects: refused without the variable, passed with it."""
    root = installed.copy_to(tmp_path / "root")
    conf = root / "etc/monitord/monitord.toml"
    conf.write_text(conf.read_text().replace("[site]\n", "[site]\nbogus_key = 1\n", 1))
    before = conf.read_bytes()
    check = (
        'eval "$(sed -n -e "/^say() /p" -e "/^check_kept_configs() {/,/^}/p" "$1")"\n'
        'ETC=/etc/monitord PREFIX=/opt/monitord R="$2"\n'
        'check_kept_configs "$2/opt/monitord"\n'
    )

    def kept_check(**env: str) -> subprocess.CompletedProcess[str]:
        e = {k: v for k, v in os.environ.items() if k != "MONITORD_INSTALL_NO_CHECK"}
        return subprocess.run(
            ["bash", "-euc", check, "check", str(SCRIPT), str(root)],
            capture_output=True, text=True, timeout=60, env={**e, **env},
        )  # fmt: skip

    refused = kept_check()
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"monitord-install: !!!   {conf}: site.bogus_key: unknown key" in refused.stderr
    skipped = kept_check(MONITORD_INSTALL_NO_CHECK="1")
    assert (skipped.returncode, skipped.stderr) == (0, ""), skipped.stderr
    assert skipped.stdout == (
        "monitord-install: the kept configs were not checked (MONITORD_INSTALL_NO_CHECK is set)\n"
    )
    assert conf.read_bytes() == before


def check_kept_configs(root: Path) -> subprocess.CompletedProcess[str]:
    """install.sh's own check_kept_configs (its function, cut out of the script) on the
    installed tree copied to `root`, as an upgrade runs it."""
    check = (
        'eval "$(sed -n -e "/^say() /p" -e "/^check_kept_configs() {/,/^}/p" "$1")"\n'
        'ETC=/etc/monitord PREFIX=/opt/monitord R="$2"\n'
        'check_kept_configs "$2/opt/monitord"\n'
    )
    return subprocess.run(
        ["bash", "-euc", check, "check", str(SCRIPT), str(root)],
        capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if k != "MONITORD_INSTALL_NO_CHECK"},
    )  # fmt: skip


def test_the_untouched_example_with_a_conf_d_is_checked(
    installed: Installed, tmp_path: Path
) -> None:
    """monitord.toml left as the installed example, the Pi's settings in conf.d/
    (docs/install.md, "Fleet configuration"): the daemon runs on the merge, yet the
    upgrade's check passed it over as "the example as installed, never edited: nothing runs
    on it", swapped the new version in and try-restarted the daemon onto a merge it
    rejects (exit 78: no monitoring). install.sh's own check_kept_configs, as in the test
    above; the installed monitord is the new version."""
    root = installed.copy_to(tmp_path / "root")
    etc = root / "etc/monitord"
    assert (etc / "monitord.toml").read_bytes() == (etc / "monitord.example.toml").read_bytes()
    chair = etc / "conf.d" / "20-chair.toml"
    chair.write_text("[site]\nbogus_key = 1\n")
    p = check_kept_configs(root)
    assert p.returncode == 1, p.stdout + p.stderr
    assert f"monitord-install: !!!   {chair}: site.bogus_key: unknown key" in p.stderr


def test_the_upgrades_check_says_the_new_versions_warnings(
    installed: Installed, tmp_path: Path
) -> None:
    """An upgrade builds a new virtualenv: the annunciator's gpiod binding, installed into
    the old one by hand (docs/delivery.md), is not in it, and the new version's
    check-config warns so; the upgrade's check printed only a rejection, so the chair's
    buzzer went dead at the restart with one WARNING in the journal. Now the check's
    warnings are on the terminal. install.sh's own check_kept_configs, as above; the
    installed monitord (built without the gpio extra) is the new version."""
    root = installed.copy_to(tmp_path / "root")
    conf = root / "etc/monitord/monitord.toml"
    conf.write_text(
        '[site]\nid = "t"\n[mqtt]\nenabled = false\n[influx]\nenabled = false\n'
        '[annunciator]\ngpio_chip = "/dev/null"\ngpio_line = 17\n'
        '[[chairs]]\nid = "chair-3"\n  [[chairs.devices]]\n  id = "ox"\n'
        '  driver = "masimo-ascii"\n  port = "socket://127.0.0.1:1"\n'
    )
    p = check_kept_configs(root)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stderr.splitlines()
    assert lines[0] == (
        "monitord-install: the new monitord warns of your /etc/monitord/monitord.toml:"
    ), p.stderr
    assert any("the gpiod module" in ln and "not" in ln for ln in lines[1:]), p.stderr


def test_the_upgrades_check_takes_the_conf_d_files_the_daemon_takes(
    installed: Installed, tmp_path: Path
) -> None:
    """Which conf.d files are merged is the new monitord's to say (`check-config --files`,
    its one rule: tests/ops/test_confd_editor_files.py), not a glob of install.sh's own.
    An emacs lock (`.#20-chair.toml`, a link leading nowhere) beside the untouched example
    is left out by both: the example is passed over, as before, and the daemon, which
    stopped on the lock (exit 78), now reads the example alone. A chair file linking to a
    file gone is taken by both: checked, and the link named."""
    root = installed.copy_to(tmp_path / "root")
    etc = root / "etc/monitord"
    (etc / "conf.d" / ".#20-chair.toml").symlink_to("admin@chair-3.4242:1733400000")
    p = check_kept_configs(root)
    assert (p.returncode, p.stderr) == (0, ""), p.stderr
    exe = root / "opt/monitord/bin/monitord"
    files = subprocess.run(
        [str(exe), "check-config", "--files", "-c", str(etc / "monitord.toml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (files.returncode, files.stdout) == (0, f"{etc / 'monitord.toml'}\n"), files.stderr
    chair = etc / "conf.d" / "20-chair.toml"
    chair.symlink_to("/srv/chairs/chair-3.toml")
    p = check_kept_configs(root)
    assert p.returncode == 1, p.stdout + p.stderr
    assert (
        f"monitord-install: !!!   {chair}: cannot read: a symbolic link to "
        "/srv/chairs/chair-3.toml, which does not exist" in p.stderr
    ), p.stderr
