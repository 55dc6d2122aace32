"""A TLS file that is there and readable but is not what its key says: the CA's private
key copied as `ca_file` (scripts/make-certs.sh writes clinic-ca.pem and clinic-ca.key side
by side), an empty file, a folder.

Before: `check-config` said `ok` (it looked only whether the file was there and readable;
a folder was "no such file"), and `monitord run` started and logged `MQTT chair-1: TLS with
...:8883 failed ([X509: NO_CERTIFICATE_OR_CRL_FOUND] ...)` at every retry, for ever: no
monitoring reached the station. The file is loaded the way the daemon loads it, so this
is exit 78 with one line naming the key and the file (docs/install.md, step 1).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.ops.test_tls_file_access import make_certs, write_config


def check_config(cfg: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitord", "check-config", "-c", str(cfg)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("wrong", "reason"),
    [
        ("clinic-ca.key", "no CA certificate in it"),
        ("empty.pem", "no CA certificate in it"),
        ("folder", "a directory, not a file"),
    ],
)
def test_a_ca_file_that_is_no_certificate_is_exit_78_one_line(
    tmp_path: Path, wrong: str, reason: str
) -> None:
    tls = tmp_path / "tls"
    make_certs(tls)
    (tls / "empty.pem").touch()
    (tls / "folder").mkdir()
    p = check_config(write_config(tmp_path, str(tls / wrong)))
    print(p.returncode, p.stdout, p.stderr)
    assert p.returncode == 78 and "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{tmp_path}/monitord.toml: mqtt.tls.ca_file: {tls / wrong}: ")
    assert reason in lines[0], lines
    # The CA certificate itself is accepted.
    p = check_config(write_config(tmp_path, str(tls / "clinic-ca.pem")))
    assert (p.returncode, p.stdout.strip()) == (0, "ok"), p.stderr
