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
from helpers import influx_sink_on

from monitord.config import InfluxConfig
from tests.delivery.test_tls_verify_any_python import running
from tests.kit import eventually
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
        cfg = InfluxConfig.model_validate(
            {"url": url, "api": api, "flush_interval_s": 0.05, "timeout_s": 2.0, **where}
        )
        async with influx_sink_on(cfg, tmp_path, backoff_cap_s=0.1) as (sink, outbox):
            await eventually(
                lambda: sink.stats.retries >= 2 or outbox.backlog("influx") == 0, 20, "tried"
            )
            assert outbox.quarantined("influx") == []
            assert outbox.backlog("influx") == 3  # kept for when influx.url is fixed
            assert sink.link.state == "down"
    said = str(sink.link.last_error)
    assert "HTTP request to an HTTPS server" in said and "https://" in said, said
