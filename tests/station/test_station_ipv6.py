"""A clinic network addressed in IPv6 (docs/station.md "Listen address"): the broker at
`::1`, the station listening on `[::1]:port`, the nurse's browser at `http://[::1]:port/`.
The login (a POST whose Origin must equal the station's own, a bracketed host) and an ACK
(a POST with the CSRF token) are taken, and the ACK reaches the broker. Real mosquitto on
::1, the real station, real headless Chromium. The phone forwarder posts to a webhook at
an IPv6 URL.

And `listen = "[::]:8443"`, every address as admins read it (docs/station.md), serves the
IPv4 browsers of a dual-stack LAN too. Before, asyncio made its socket IPv6-only: a
wallboard or tablet at an IPv4 address was refused ("connection refused"), the station
running and `doctor` (which asks at ::1) saying it served."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.kit import eventually
from tests.servers import LOOPBACK6, Mosquitto
from tests.station.station_kit import (
    ChairPublisher,
    alert,
    mqtt_login,
    session,
    station_config,
    station_in_process,
    station_page,
    station_process,
    tile,
    webhook_server,
)


@pytest.fixture
def broker6(tmp_path: Path) -> Iterator[Mosquitto]:
    (tmp_path / "broker").mkdir()
    m = Mosquitto(tmp_path / "broker", host=LOOPBACK6)
    m.start()
    try:
        yield m
    finally:
        m.stop()


async def test_a_nurse_logs_in_and_acks_at_an_ipv6_station(
    tmp_path: Path, broker6: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, broker6, mqtt_prefix, host=LOOPBACK6) as (page, pub):
        assert (await page.js("location.host")).startswith("[::1]:")
        a = alert("chair-1", "bp.crisis", "high", "BP 212/124 >= 180/110")
        await pub.chair("chair-1", [a], sess=session("dosing", "esketamine", 10))
        button = f"{tile('chair-1')}.querySelector('button.ack')"
        await page.until(f"{button}?.textContent === 'ACK'", 20, "ACK button")
        await page.tap(".tile[data-chair='chair-1'] button.ack")
        await page.until(f"{button}.textContent === 'sent'", 10, "ACK taken by the broker")
        await page.screenshot(tmp_path / "ipv6-station.png")


async def test_listen_on_every_address_serves_ipv4_and_ipv6_browsers(
    tmp_path: Path, broker6: Mosquitto
) -> None:
    cfg = station_config(tmp_path, broker6, acl=False, host="::")
    async with station_in_process(cfg) as (st, url), aiohttp.ClientSession() as http:
        assert url.startswith("http://[::]:")
        for host in ("127.0.0.1", "[::1]"):
            async with http.get(f"http://{host}:{st.st.port}/") as r:
                assert r.status == 200, host
                assert "<title>monitord station</title>" in await r.text(), host


async def test_the_forwarder_posts_to_an_ipv6_webhook(
    tmp_path: Path, broker6: Mosquitto, mqtt_prefix: str
) -> None:
    got: list[bytes] = []

    async def hook(request: web.Request) -> web.Response:
        got.append(await request.read())
        return web.Response(text="ok")

    async with webhook_server(hook, host=LOOPBACK6) as base:
        extra = f'[station.forwarder]\nurl = "{base}/hook"\nafter_s = 1\n'
        cfg = station_config(tmp_path, broker6, acl=False, prefix=mqtt_prefix, extra=extra)
        async with (
            station_process(cfg, tmp_path / "station.log") as (station, _),
            mqtt_login(broker6) as chair,
        ):
            await eventually(lambda: "station MQTT: connected" in station.output(), 20, "up")
            assert f"connected to [::1]:{broker6.port}" in station.output(), station.output()
            a = alert("chair-1", "bp.crisis", "high", "BP 212/124 >= 180/110")
            await ChairPublisher(chair, mqtt_prefix).chair("chair-1", [a], sess=None)
            await eventually(lambda: bool(got), 20, "forwarded to the IPv6 webhook")
    assert b"chair-1" in got[0]
