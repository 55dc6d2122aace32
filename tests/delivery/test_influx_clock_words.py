"""The InfluxDB server's clock lines name the InfluxDB server and where its CA is read
from (monitord/tlsclock.py `clock_fix`, `clock_fact`), not the broker's: before, the fix
said "the certificate is wrong (... or not the broker's own ...)", and `monitord doctor`,
of a valid InfluxDB certificate under a CA not yet valid, said "a certificate of the
InfluxDB server's chain (the CA: ca_file) is not valid yet": ca_file is the [mqtt.tls]
setting; the InfluxDB server's CA is one of the system store's (SSL_CERT_FILE here).

Real TLS servers on 127.0.0.1 with certificates made here (real OpenSSL handshakes;
nothing past the handshake is needed), a real `monitord doctor`. The daemon's line
naming the InfluxDB server: tests/delivery/test_influx_boot_clock.py (`OWN`).
"""

from __future__ import annotations

from pathlib import Path

from tests.delivery.test_influx_boot_clock import API, OWN, doctor_influx, server_ahead


async def test_doctor_names_the_trusted_cas_for_an_influxdb_ca_not_valid_yet(
    tmp_path: Path,
) -> None:
    async with server_ahead(tmp_path, ca=True) as (port, tls, _):
        line = await doctor_influx(tmp_path, port, tls, API["v1"])
    fact, _, fix = line.partition(" -> fix: ")
    assert (
        "a certificate of the InfluxDB server's chain (the CA that signed it, or one above "
        f"it; the trusted CAs are read from SSL_CERT_FILE={tls.ca_file}"  # and SSL_CERT_DIR's
    ) in fact and fact.endswith(") is not valid yet"), line
    assert fix.startswith("this machine's clock is behind"), line
    assert "ca_file" not in line and line.endswith(OWN), line
