"""check-config run by a user who cannot open the secrets directory (ops audit).

The secrets directory is root-only by design (0700; the unit loads it as root), so
`monitord check-config` as another user cannot look at the secrets in it. It skipped
those checks and printed a bare `ok`, which read as "the secrets are there". Now it says,
in one warning line, which secrets it could not check and to run it as root; the check
itself still passes (exit 0, `ok`).

As root (the test machines) the command runs as another user (setpriv, as
tests/ops/test_tls_file_access.py); as any other user the directory is closed to itself.
SECRETS_DIR is /etc/monitord/secrets; the child points it at the test's directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.ops.test_tls_file_access import AS_ROOT, CLOSED, NOBODY, REPO, public_tmp

CHILD = (
    "import sys; from pathlib import Path; from monitord import credentials; "
    "credentials.SECRETS_DIR = Path(sys.argv[1]); from monitord.cli import main; "
    "sys.exit(main(sys.argv[2:]))"
)


def test_secrets_this_user_cannot_open_are_said_unchecked(tmp_path: Path) -> None:
    tmp = public_tmp(tmp_path)
    try:
        secrets = tmp / "secrets"
        secrets.mkdir()
        (secrets / "mqtt-password").write_text("pw\n")
        secrets.chmod(CLOSED)
        cfg = tmp / "monitord.toml"
        cfg.write_text(
            f"""
[site]
id = "t"
[mqtt]
host = "127.0.0.1"
username = "monitord"
password_file = "mqtt-password"
[influx]
enabled = false
[storage]
path = "{tmp}/state/o.sqlite"
[[chairs]]
id = "chair-1"
  [[chairs.devices]]
  id = "ox"
  driver = "masimo-ascii"
  port = "/dev/ttyUSB0"
"""
        )
        cfg.chmod(0o644)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path[1:]])}
        env.pop("CREDENTIALS_DIRECTORY", None)
        user = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        p = subprocess.run(
            [*(user if AS_ROOT else []), sys.executable, "-c", CHILD, str(secrets),
             "check-config", str(cfg)],
            capture_output=True, text=True, env=env, cwd="/", timeout=60,
        )  # fmt: skip
        assert (p.returncode, p.stdout) == (0, "ok\n"), p.stderr
        lines = [ln for ln in p.stderr.splitlines() if "password_file not" in ln]
        assert len(lines) == 1, p.stderr
        assert lines[0] == (
            f"{cfg}: warning: mqtt.password_file not checked: this user cannot open "
            f"{secrets}; run as root (sudo) to check them"
        ), lines
    finally:
        (tmp / "secrets").chmod(0o700)
        shutil.rmtree(tmp, ignore_errors=True)
