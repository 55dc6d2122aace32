"""A chair's own TLS client certificate (`[mqtt.tls] cert_file`) on the day it expires, and
its renewal: a real `monitord run` against a real mosquitto that requires client
certificates (`require_certificate true`).

The broker ends the handshake with a TLS alert "certificate expired", which reaches paho
only after its handshake: before, the daemon's line was "no answer from broker ... within
2.0 s", sending the IT admin to the network or the broker. Now the line names the file, its
setting, the expiry and what to do (monitord/certfiles.py). The renewed file put in its
place is read at the next connection: the chair connects without a restart.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

from tests.e2e.e2e_kit import DaemonProcess, mqtt_section, write_config
from tests.kit import eventually
from tests.servers import Mosquitto, make_tls_material, session_tmpdir


async def test_an_expired_client_certificate_is_named_and_its_renewal_read_without_restart(
    tmp_path: Path, mqtt_prefix: str
) -> None:
    now = dt.datetime.now(dt.UTC)
    old = make_tls_material(tmp_path / "old", client_until=now - dt.timedelta(days=1))
    # The renewal: a valid client certificate (from a second CA the broker trusts too: the
    # test material's CA key is not kept to sign a second one with).
    new = make_tls_material(tmp_path / "new")
    both = tmp_path / "cas.pem"
    both.write_bytes(old.ca_file.read_bytes() + new.ca_file.read_bytes())
    broker_tls = dataclasses.replace(old, ca_file=both)
    workdir = session_tmpdir("mosquitto-clientcert")
    broker = Mosquitto(workdir, tls=broker_tls, require_client_cert=True)
    cert, key = tmp_path / "chair.pem", tmp_path / "chair.key"
    shutil.copy(old.client_cert, cert)
    shutil.copy(old.client_key, key)
    mqtt = mqtt_section(broker, mqtt_prefix) + (
        f'\n  [mqtt.tls]\n  ca_file = "{old.ca_file}"\n'
        f'  cert_file = "{cert}"\n  key_file = "{key}"\n'
    )
    daemon = DaemonProcess(write_config(tmp_path, mqtt=mqtt), tmp_path / "daemon.log")

    def lines() -> list[str]:
        text = daemon.log.read_text(errors="replace")
        return [ln for ln in text.splitlines() if "monitord.sinks.mqtt:" in ln]

    def failures() -> list[str]:
        return [ln for ln in lines() if "retrying" in ln]

    broker.start()
    daemon.start()
    try:
        await eventually(lambda: bool(failures()), 30, "a failed connection's line")
        first = failures()[0]
        assert "no answer from broker" not in first, first
        assert f"TLS certificate {cert} (mqtt.tls.cert_file) expired " in first, first
        assert "issue a new one from the clinic CA" in first, first
        assert first.startswith("ERROR"), first
        # Renewed in place, as docs/install.md says: no restart.
        shutil.copy(new.client_cert, cert)
        shutil.copy(new.client_key, key)
        await eventually(
            lambda: any("connected to" in ln for ln in lines()), 60, "connected after the renewal"
        )
    finally:
        daemon.stop()
        broker.stop()
        shutil.rmtree(broker.workdir, ignore_errors=True)


async def test_an_expired_ca_is_named_not_the_broker_certificate(
    tmp_path: Path, mqtt_prefix: str
) -> None:
    """The clinic's CA (`ca_file`, 10 years from make-certs.sh) expired: OpenSSL says
    "certificate has expired" for the chain, and the line said to renew the broker's
    certificate, which would not help. Now it names the CA file and what renewing it takes."""
    m = make_tls_material(
        tmp_path / "tls", ca_until=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    )
    workdir = session_tmpdir("mosquitto-oldca")
    broker = Mosquitto(workdir, tls=m)
    mqtt = mqtt_section(broker, mqtt_prefix) + f'\n  [mqtt.tls]\n  ca_file = "{m.ca_file}"\n'
    daemon = DaemonProcess(write_config(tmp_path, mqtt=mqtt), tmp_path / "daemon.log")

    def failures() -> list[str]:
        text = daemon.log.read_text(errors="replace")
        return [ln for ln in text.splitlines() if "sinks.mqtt:" in ln and "retrying" in ln]

    broker.start()
    daemon.start()
    try:
        await eventually(lambda: bool(failures()), 30, "a failed connection's line")
    finally:
        daemon.stop()
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    first = failures()[0]
    assert "certificate has expired" in first, first
    assert f"TLS certificate {m.ca_file} (mqtt.tls.ca_file) expired " in first, first
    assert "make a new CA" in first and "restart the broker" not in first, first
