"""The other side of the boot's clock line (monitord/tlsclock.py): a broker certificate
that has EXPIRED on this machine's clock (the certificate old, or a clock ahead) is no
boot. It stays a TLS failure (ERROR), never "wait for time sync", and is retried after the
usual backoff, not every 2 s. Its line said "check mqtt.tls (ca_file, certs, port)", files
that were right; now it says to renew the certificate, or fix a clock that is ahead, as
`monitord doctor` does. A real `monitord run` under libfaketime
40 days ahead of the test broker's certificate (valid 30 days), a real mosquitto on TLS.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import re
import shutil
from pathlib import Path

from tests.e2e.e2e_kit import DaemonProcess, mqtt_section, write_config
from tests.kit import eventually
from tests.servers import Mosquitto, make_tls_material, session_tmpdir

FAKETIME = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
PROMPT_S = 2.0  # the boot's retry (tlsclock.CLOCK_RETRY_S): not for this


class AheadDaemon(DaemonProcess):
    def env(self) -> dict[str, str] | None:
        assert FAKETIME, "libfaketime missing: install the Debian package faketime"
        return {**os.environ, "FAKETIME": "+40d", "FAKETIME_DONT_FAKE_MONOTONIC": "1",
                "LD_PRELOAD": FAKETIME[0]}  # fmt: skip


async def test_an_expired_broker_certificate_is_a_tls_failure_at_the_usual_backoff(
    tmp_path: Path, mqtt_prefix: str
) -> None:
    # The CA valid for a year: 40 days ahead only the broker's certificate (30 days) has
    # expired (an expired CA is named as such: test_mqtt_client_cert_expiry.py).
    now = dt.datetime.now(dt.UTC)
    year, month = now + dt.timedelta(days=365), now + dt.timedelta(days=30)
    tls_material = make_tls_material(tmp_path / "tls", ca_until=year, server_until=month)
    workdir = session_tmpdir("mosquitto-expired")
    mosquitto_tls = Mosquitto(workdir, tls=tls_material)
    mosquitto_tls.start()
    mqtt = (
        mqtt_section(mosquitto_tls, mqtt_prefix)
        + f'\n  [mqtt.tls]\n  ca_file = "{tls_material.ca_file}"\n'
    )
    cfg = write_config(tmp_path, mqtt=mqtt)
    cfg.write_text(cfg.read_text().replace('log_level = "INFO"', 'log_level = "DEBUG"'))
    daemon = AheadDaemon(cfg, tmp_path / "daemon.log")

    def tries() -> list[str]:
        text = daemon.log.read_text(errors="replace")
        return [ln for ln in text.splitlines() if "monitord.sinks.mqtt" in ln and "retrying" in ln]

    def delays() -> list[float]:
        return [float(m.group(1)) for t in tries() if (m := re.search(r"in ([\d.]+) s", t))]

    daemon.start()
    try:
        await eventually(lambda: any(d > PROMPT_S for d in delays()), 60, "a delay over 2 s")
    finally:
        daemon.stop()
        mosquitto_tls.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    first = tries()[0]
    assert first.startswith("ERROR") and "certificate has expired" in first, first
    assert "time sync" not in first and "check mqtt.tls (ca_file" not in first, first
    assert "renew it with scripts/make-certs.sh" in first and "clock is ahead" in first, first
    assert all(ln.startswith("DEBUG") for ln in tries()[1:]), tries()
