"""conf.d/ and an editor's files, by every command that reads the config (docs/install.md,
"Fleet configuration": an editor's backup is ignored).

Before: the config loader took every `conf.d/*.toml`, hidden ones too. emacs, while
`20-chair.toml` is being edited, keeps the lock `.#20-chair.toml`, a symbolic link to
`user@host.pid:time` that leads nowhere: the daemon (and check-config, doctor, status)
stopped on it, exit 78, `cannot read: No such file or directory`, while install.sh's
upgrade check (bash's glob leaves hidden names out) passed the same tree. Now a hidden name
is no layer (monitord.config_layers.taken), for every command, and the upgrade checks ask
`check-config --files` (tests/ops/test_install.py, test_maintainer_scripts.py). A file that
is taken and bad still stops the daemon with one line naming it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SITE = '[site]\nid = "t"\n[mqtt]\nenabled = false\n[influx]\nenabled = false\n'
CHAIR = """[storage]
path = "store/outbox.sqlite"
[[chairs]]
id = "chair-1"
  [[chairs.devices]]
  id = "ox"
  driver = "masimo-ascii"
  port = "socket://127.0.0.1:1"
"""


def monitord(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitord", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def fleet_being_edited(tmp_path: Path) -> Path:
    """monitord.toml and conf.d/20-chair.toml, open in emacs (its lock) after an earlier
    edit (its backups), a vim swap file and a hidden file beside them."""
    (tmp_path / "monitord.toml").write_text(SITE)
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (conf_d / "20-chair.toml").write_text(CHAIR)
    (conf_d / ".#20-chair.toml").symlink_to("admin@chair-1.4242:1733400000")
    for name in ("20-chair.toml~", "#20-chair.toml#", ".20-chair.toml.swp", ".old.toml"):
        (conf_d / name).write_text("garbage = [\n")
    # docs/commands.md: "the *.toml files in conf.d/": an admin's copy under another
    # suffix is no layer either (a rule taking `*.conf` too read it and its chair twice).
    for name in ("20-chair.toml.bak", "20-chair.toml.dpkg-old", "20-chair.conf"):
        (conf_d / name).write_text("garbage = [\n")
    return tmp_path / "monitord.toml"


def test_an_editors_files_in_conf_d_are_left_out_by_every_command(tmp_path: Path) -> None:
    conf = fleet_being_edited(tmp_path)
    r = monitord("check-config", str(conf))
    assert (r.returncode, r.stdout, r.stderr) == (0, "ok\n", ""), r.stderr
    r = monitord("check-config", "--files", "-c", str(conf))
    assert (r.returncode, r.stdout) == (0, f"{conf}\n{tmp_path / 'conf.d' / '20-chair.toml'}\n")
    # status reads the config first: no store yet is its own answer (exit 1), not 78.
    r = monitord("status", "-c", str(conf))
    assert r.returncode != 78 and ".#" not in r.stderr, r.stderr
    assert "no outbox here" in r.stderr, r.stderr
    r = monitord("doctor", "-c", str(conf), "--timeout", "3")
    assert f"ok    config: {conf}: site t, 1 chair(s), 1 device(s)" in r.stdout.splitlines()
    assert ".#" not in r.stdout + r.stderr, r.stdout + r.stderr


def test_a_file_taken_and_bad_still_stops_the_daemon_naming_it(tmp_path: Path) -> None:
    """Beside the editor's files: a dangling link by a visible name is taken (what it was
    to say must not go unsaid) and named as a link; a bad file is named with its key."""
    conf = fleet_being_edited(tmp_path)
    link = tmp_path / "conf.d" / "30-extra.toml"
    link.symlink_to("/srv/chairs/chair-9.toml")
    r = monitord("run", "-c", str(conf))
    assert (r.returncode, r.stderr) == (
        78,
        f"{link}: cannot read: a symbolic link to /srv/chairs/chair-9.toml, which does not exist\n",
    )
    link.unlink()
    link.write_text('[[chairs]]\nid = "chair-2"\n  [[chairs.devices]]\n  id = "ox"\n'
                    '  driver = "masimo-ascii"\n')  # fmt: skip
    r = monitord("run", "-c", str(conf))
    assert (r.returncode, r.stderr) == (
        78,
        f"{link}: chairs[0].devices[0]: driver 'masimo-ascii' is serial: set port (or simulate)\n",
    )
