"""A TLS file that is there and readable but is not what its key says: the CA's private
key copied as `ca_file` (scripts/make-certs.sh writes clinic-ca.pem and clinic-ca.key side
by side), an empty file, a folder, a CA exported in DER (binary) from another tool; the
station's key named as its certificate, a key not of its certificate.

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
from tests.servers import free_port


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
        # It said "name the clinic's CA certificate (PEM ...), not its key" of a certificate.
        ("clinic-ca.der", "a DER-encoded (binary) certificate; monitord reads PEM"),
    ],
)
def test_a_ca_file_that_is_no_certificate_is_exit_78_one_line(
    tmp_path: Path, wrong: str, reason: str
) -> None:
    tls = tmp_path / "tls"
    make_certs(tls)
    (tls / "empty.pem").touch()
    (tls / "folder").mkdir()
    der = ["openssl", "x509", "-in", str(tls / "clinic-ca.pem"), "-outform", "der"]
    subprocess.run([*der, "-out", str(tls / "clinic-ca.der")], check=True)
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
    if wrong == "clinic-ca.der":
        convert = f"openssl x509 -inform der -in {tls / wrong} -out {tls / 'clinic-ca.pem'}"
        assert convert in lines[0] and "not its key" not in lines[0], lines


def station_config(tmp: Path, cert: Path, key: Path) -> Path:
    from tests.station.station_kit import write_nurses

    cfg = tmp / "station.toml"
    cfg.write_text(
        '[site]\nid = "clinic-test"\n[station]\nid = "station-1"\n'
        f'listen = "127.0.0.1:{free_port()}"\n'
        f'nurses_file = "{write_nurses(tmp / "nurses")}"\n'
        f'tls_cert_file = "{cert}"\ntls_key_file = "{key}"\n'
    )
    return cfg


@pytest.mark.parametrize(
    ("cert", "key", "wrong", "reason"),
    [
        ("broker.key", "broker.key", "tls_cert_file", "a private key, not a certificate"),
        ("broker.pem", "clinic-ca.key", "tls_key_file", "not the key of the certificate in"),
        ("broker.pem", "broker.pem", "tls_key_file", "a certificate, not a private key"),
        # Never a passphrase prompt (the unit has no terminal): said, with the fix.
        ("broker.pem", "enc.key", "tls_key_file", "encrypted with a passphrase"),
    ],
)
def test_a_station_certificate_or_key_that_does_not_load_is_exit_78_one_line(
    tmp_path: Path, cert: str, key: str, wrong: str, reason: str
) -> None:
    """Before: check-config said `ok`, and `monitord station` stopped with "cannot listen
    on 127.0.0.1:PORT: [SSL] PEM lib (_ssl.c:3905)", naming neither setting nor file."""
    tls = tmp_path / "tls"
    make_certs(tls)
    enc = ["openssl", "pkey", "-in", str(tls / "broker.key"), "-aes256", "-passout", "pass:x"]
    subprocess.run([*enc, "-out", str(tls / "enc.key")], check=True)
    cfg = station_config(tmp_path, tls / cert, tls / key)
    named = tls / (cert if wrong == "tls_cert_file" else key)
    for command in ("check-config", "station"):
        p = subprocess.run(
            [sys.executable, "-m", "monitord", command, "-c", str(cfg)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        print(command, p.returncode, p.stdout, p.stderr)
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 78 and len(lines) == 1, (command, lines)
        assert lines[0].startswith(f"{cfg}: station.{wrong}: {named}: {reason}"), lines
    # The pair make-certs.sh writes loads.
    p = check_config(station_config(tmp_path, tls / "broker.pem", tls / "broker.key"))
    assert (p.returncode, p.stdout.strip()) == (0, "ok"), p.stderr
