"""influx.url says http:// for an InfluxDB that serves HTTPS (TLS turned on after install,
the scheme left as it was): the server, Go's net/http, answers every request 400 "Client
sent an HTTP request to an HTTPS server.", in plain text, untyped. Found in the
adversarial round of 2026-12-05 (advinflux44): a 400 reads as InfluxDB refusing a point for
good, so every row was bisected to itself and quarantined, readings and alert events,
never sent once influx.url was fixed; the link never read DOWN. Now it is said with the
fix (https://) and the rows wait. Against the real influxd 1.6 serving HTTPS.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.delivery.test_influx_error_page import rows_kept
from tests.delivery.test_tls_verify_any_python import running
from tests.servers import Influxd, make_tls_material, session_tmpdir


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_http_to_an_https_influxdb_is_said_and_rows_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    monkeypatch.setenv("MONITORD_INFLUX_TOKEN", "t0ken")
    tls = make_tls_material(tmp_path / "tls")
    influxd = Influxd(session_tmpdir("influxd-https-plain"), tls=tls)
    with running(influxd):
        url = f"http://{influxd.netloc_host}:{influxd.port}"
        where = {"database": "monitord"} if api == "v1" else {"bucket": "monitord", "org": "o"}
        sink = await rows_kept(tmp_path, url, api, where)
    said = str(sink.link.last_error)
    assert "HTTP request to an HTTPS server" in said and "https://" in said, said
