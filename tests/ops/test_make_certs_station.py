"""The station's HTTPS certificate, made as docs/install.md says (`scripts/make-certs.sh
--station NAME`). The shipped config/station.toml names /etc/monitord/tls/station.pem and
station.key; before, neither the install steps nor make-certs.sh made them (it wrote the
broker's pair only, and a second run for another name overwrote that pair): an admin
following the steps got `check-config` exit 78, "station.tls_cert_file: ... no such file".

Here: the CA and the broker's pair made first, then the station's in the same folder. The
broker's pair and the CA are kept; the station's pair passes `check-config` (loaded as
the station loads it) and a real `monitord station` serves HTTPS with it that a client
trusting only the clinic's CA verifies for the station's name and address.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
from pathlib import Path

from tests.ops.test_script_help import REPO
from tests.servers import Mosquitto
from tests.station.station_kit import station_config, station_process


def make_certs(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(REPO / "scripts/make-certs.sh"), *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


async def test_make_certs_makes_the_stations_pair_beside_the_brokers(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    tls = tmp_path / "tls"
    assert make_certs("--out", str(tls), "--broker", "broker.clinic.lan").returncode == 0
    kept = {n: (tls / n).read_bytes() for n in ("clinic-ca.pem", "broker.pem", "broker.key")}
    made = make_certs("--out", str(tls), "--station", "station.clinic.lan", "--ip", "127.0.0.1")
    assert made.returncode == 0, made.stderr
    assert "station certificate" in made.stdout and "IP:127.0.0.1" in made.stdout, made.stdout
    assert {n: (tls / n).read_bytes() for n in kept} == kept  # the CA and the broker's pair
    assert (tls / "station.key").stat().st_mode & 0o777 == 0o600
    # Both at once is refused (one certificate a run), with a line saying so.
    both = make_certs("--out", str(tls), "--station", "a", "--broker", "b")
    assert both.returncode == 2 and "not both" in both.stderr, both

    cert, key = tls / "station.pem", tls / "station.key"
    extra = f'tls_cert_file = "{cert}"\ntls_key_file = "{key}"'
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix, extra=extra)
    p = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "monitord", "check-config", "-c", str(cfg)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (p.returncode, p.stdout.strip()) == (0, "ok"), p.stderr
    async with station_process(cfg, tmp_path / "station.log") as (_, url):
        assert url.startswith("https://127.0.0.1:"), url
        port = int(url.rsplit(":", 1)[1])
        ctx = ssl.create_default_context(cafile=str(tls / "clinic-ca.pem"))
        for name in ("127.0.0.1", "station.clinic.lan"):  # its address and its name
            r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=name)
            w.write(f"GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
            status = await asyncio.wait_for(r.readline(), 10)
            assert status.startswith(b"HTTP/1.1 200"), status
            w.close()
        # A name the certificate was not made for is refused by the same client.
        try:
            _, w = await asyncio.open_connection(
                "127.0.0.1", port, ssl=ctx, server_hostname="other.clinic.lan"
            )
        except ssl.SSLCertVerificationError:
            pass
        else:
            w.close()
            raise AssertionError("a client accepted the station's certificate for another name")


def test_make_certs_never_replaces_a_ca_whose_key_is_kept_offline(tmp_path: Path) -> None:
    """docs/install.md: `clinic-ca.key stays offline`. Taken out of the folder, the next run
    (the station's pair, a renewal) made a new CA over clinic-ca.pem: the broker's pair no
    longer verified against it and every Pi trusted the other one. It stops instead, with
    one line naming the missing key, and leaves the folder as it was."""
    tls = tmp_path / "tls"
    assert make_certs("--out", str(tls), "--broker", "broker.clinic.lan").returncode == 0
    (tls / "clinic-ca.key").rename(tmp_path / "clinic-ca.key")  # kept offline
    before = {p.name: p.read_bytes() for p in tls.iterdir()}
    made = make_certs("--out", str(tls), "--station", "station.clinic.lan")
    assert made.returncode == 66, (made.returncode, made.stdout, made.stderr)
    line = made.stderr.strip()
    assert "\n" not in line and "clinic-ca.key" in line and str(tls) in line, line
    assert {p.name: p.read_bytes() for p in tls.iterdir()} == before
    # Put back, the CA is reused and the new pair verifies against the CA the Pis trust.
    (tmp_path / "clinic-ca.key").rename(tls / "clinic-ca.key")
    made = make_certs("--out", str(tls), "--station", "station.clinic.lan")
    assert made.returncode == 0 and "reusing the CA" in made.stdout, made
    assert (tls / "clinic-ca.pem").read_bytes() == before["clinic-ca.pem"]
    ok = subprocess.run(
        ["openssl", "verify", "-CAfile", str(tls / "clinic-ca.pem"),
         str(tls / "broker.pem"), str(tls / "station.pem")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_a_renewal_openssl_refuses_keeps_the_pair_and_says_why(tmp_path: Path) -> None:
    """A renewal with a mistyped address (--ip 192.0.2.300) or --days: openssl refused to
    sign after the new key had been written over station.key. The script stopped with exit
    1 and no word (its openssl output went to /dev/null), leaving the old certificate
    beside a key not its own: installed, the station stops at start ("KEY_VALUES_MISMATCH",
    mosquitto likewise for the broker's). Now one line says why, and the pair is as it was."""
    tls = tmp_path / "tls"
    assert make_certs("--out", str(tls), "--station", "station.clinic.lan").returncode == 0
    pair = {n: (tls / n).read_bytes() for n in ("station.pem", "station.key")}
    bad_ip = make_certs("--out", str(tls), "--station", "station.clinic.lan", "--ip", "192.0.2.300")
    assert bad_ip.returncode == 1, (bad_ip.stdout, bad_ip.stderr)
    line = bad_ip.stderr.strip()
    assert "\n" not in line and "192.0.2.300" in line and "station" in line, line
    bad_days = make_certs("--out", str(tls), "--station", "station.clinic.lan", "--days", "2y")
    assert bad_days.returncode == 2, (bad_days.stdout, bad_days.stderr)
    assert bad_days.stderr.strip() == "make-certs: --days needs a whole number of days, not '2y'"
    assert {n: (tls / n).read_bytes() for n in pair} == pair
    assert sorted(p.name for p in tls.iterdir()) == [
        "clinic-ca.key", "clinic-ca.pem", "clinic-ca.srl", "station.key", "station.pem"
    ]  # fmt: skip
