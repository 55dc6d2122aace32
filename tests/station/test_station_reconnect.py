"""The page after a fault of its own link to the station (docs/station.md "Stale"), in a
real browser: it must never look live while it receives nothing, and must come back
without a reload.

- The station restarts: its logins lived in its memory, so the page's stream is answered
  401 and the browser's EventSource gives up for good. Before, the page stayed STALE for
  ever with no way back but a reload (which brings a silent login form). Now the login form
  shows above the stale board, which goes on sounding its last known alarm; after the
  login the board is live and says for how long it was not.
- The login expires (session_ttl_s): the station ends the stream with `logout`. Before,
  the page showed a bare login form, silent, whatever alarm was active.
- The stream stalls with its TCP connection open (a half-open connection after a network
  fault, a proxy holding it; here a proxy that stops forwarding it): before, the page went
  stale and stayed so, on a connection that would never speak again. Now it opens a new
  stream after STALE_AFTER_MS (6 s) of silence.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from tests.servers import Mosquitto, free_port
from tests.station.cdp import browser
from tests.station.proxy_kit import StationProxy, proxied_station
from tests.station.station_kit import (
    NURSES,
    ChairPublisher,
    alert,
    login_page,
    mqtt_login,
    station_and_browser,
    station_config,
    station_process,
    tile,
)

HIGH = "window.__monitordAudio.current?.priority === 'high'"
STALE = "document.body.classList.contains('stale')"
LOGIN_SHOWN = "!document.getElementById('login-view').hidden"


async def test_station_restart_asks_a_login_over_the_stale_sounding_board(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix, port=free_port())
    async with mqtt_login(mosquitto) as c, browser() as b:
        await ChairPublisher(c, mqtt_prefix).chair(
            "chair-1", [alert("chair-1", "bp.crisis", "high", "BP 212/124")]
        )
        page = await b.new_page()
        async with station_process(cfg, tmp_path / "s1.log") as (_, url):
            await login_page(page, url)
            await page.until(HIGH, 20, "high alarm sounding")
        await page.until(STALE, 15, "stale while the station is down")
        async with station_process(cfg, tmp_path / "s2.log") as (_, url):
            await page.until(LOGIN_SHOWN, 20, "the login form, the station back")
            await page.screenshot(tmp_path / "relogin.png")
            # The last known alarm stays on screen and sounding, marked not live.
            assert await page.js(STALE)
            assert await page.js(HIGH)
            assert await page.js(f"{tile('chair-1')}.classList.contains('p-high')")
            assert not await page.js("document.getElementById('board').hidden")
            msg = await page.js("document.getElementById('login-error').textContent")
            assert "log in again" in msg and "NOT LIVE" in msg, msg
            await page.type_into("#login-name", "bob")
            await page.type_into("#login-pin", NURSES["bob"])
            await page.tap("#login-go")
            await page.until(f"!{STALE}", 20, "live again after the login")
            assert await page.js(HIGH)
            assert await page.js(f"!{LOGIN_SHOWN}")
            gap = await page.js("document.getElementById('gap-banner').innerText")
            assert "NOT LIVE from" in gap, gap
            await page.screenshot(tmp_path / "after_relogin.png")
        await page.close()


async def test_an_expired_login_keeps_the_board_sounding_under_the_login_form(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """The login ends (session_ttl_s) while a high alarm sounds: the station ends the
    stream with `logout`. Before, the page went to a bare login form, silent."""
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)
    cfg.write_text(cfg.read_text().replace("session_ttl_s = 3600", "session_ttl_s = 4"))
    setup = station_and_browser(tmp_path, mosquitto, mqtt_prefix, cfg=cfg)
    async with setup as (_, pub, _, url, b):
        await pub.chair("chair-1", [alert("chair-1", "bp.crisis", "high", "BP 212/124")])
        page = await b.new_page()
        await login_page(page, url)
        await page.until(HIGH, 20, "high alarm sounding")
        await page.until(LOGIN_SHOWN, 20, "the login form, the login expired")
        await page.screenshot(tmp_path / "expired.png")
        assert await page.js(STALE)
        assert await page.js(HIGH)
        assert not await page.js("document.getElementById('board').hidden")
        msg = await page.js("document.getElementById('login-error').textContent")
        assert "expired" in msg and "NOT LIVE" in msg, msg
        await page.close()


class FreezingProxy(StationProxy):
    """A TCP proxy to the station; `freeze()` stops forwarding, both ways, on the event
    streams open at that time, their connections left open. Other connections, and
    those opened later, pass."""

    def __init__(self, target_port: int) -> None:
        super().__init__(target_port)
        self.streams: list[asyncio.Event] = []  # per event stream: set while it flows
        self.opened = 0  # event streams opened through the proxy

    async def _pump(self, r: asyncio.StreamReader, w: asyncio.StreamWriter,
                    flowing: asyncio.Event, upstream: bool) -> None:  # fmt: skip
        with contextlib.suppress(OSError):
            while data := await r.read(65536):
                await flowing.wait()  # frozen: read nothing more, send nothing
                # A kept-alive connection may carry the stream after other requests.
                if upstream and b"GET /api/events" in data and flowing not in self.streams:
                    self.streams.append(flowing)
                    self.opened += 1
                w.write(data)
                await w.drain()
        w.close()

    async def _conn(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        sr, sw = await asyncio.open_connection("127.0.0.1", self.target_port)
        flowing = asyncio.Event()
        flowing.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(
                self._pump(cr, sw, flowing, True), self._pump(sr, cw, flowing, False)
            )

    def freeze(self) -> None:
        for f in self.streams:
            f.clear()
        self.streams = []


@pytest.mark.parametrize("step_s", [0, -3600], ids=["clock-steady", "clock-stepped-back-1h"])
async def test_a_stalled_stream_is_replaced_by_a_new_one(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, step_s: int
) -> None:
    """With the browser's clock stepped back an hour (an NTP correction) just before: its
    silence was measured on that clock, so a stall went unnoticed for the hour."""
    async with (
        mqtt_login(mosquitto) as c,
        proxied_station(tmp_path, mosquitto, mqtt_prefix, FreezingProxy) as (proxy, url, b),
    ):
        pub = ChairPublisher(c, mqtt_prefix)
        await pub.chair("chair-1", [])
        page = await b.new_page()
        await login_page(page, url)
        await page.until(f"!!{tile('chair-1')}", 20, "chair-1 shown")
        assert proxy.opened == 1
        await page.js(
            "(() => { const real = Date.now.bind(Date);"
            f" Date.now = () => real() + {step_s * 1000}; return true; }})()"
        )
        proxy.freeze()
        # A new alarm while the old stream is stalled reaches the page on a new one. (The
        # stale time itself is short: the page reconnects as it goes stale; it says so.)
        await pub.active("chair-1", [alert("chair-1", "spo2.low", "medium", "SpO2 88 < 90")])
        await page.until(
            "window.__monitordAudio.current?.priority === 'medium'", 20, "the new alarm"
        )
        assert proxy.opened >= 2
        assert await page.js(f"!{STALE}")
        gap = await page.until("document.getElementById('gap-banner').innerText", 5, "gap")
        assert "NOT LIVE from" in gap, gap
        await page.screenshot(tmp_path / "stall_recovered.png")
        await page.close()
