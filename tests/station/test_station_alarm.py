"""Issue 17, acceptance 1 and 2, in a real browser (headless Chromium over DevTools):
a real mosquitto with the shipped ACL, a real `monitord run` per chair with a simulated
IntelliVue, the real `monitord station`.

1. log in as a nurse, a tile per chair; a simulated bp.crisis turns the tile red and
   starts the high-priority sound (10-pulse pattern, repeated: the page's Web Audio test
   hook); the station publishes a receipt; ACK carries the nurse's name, and the daemon's
   `acknowledged` event (not the tap) updates the tile and stops the sound.
2. SIGKILL of the daemon shows the chair OFFLINE (its Last Will); stopping the station
   server makes the page stale with a technical tone.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from pathlib import Path

from tests.acl_kit import AclMosquitto
from tests.station.cdp import browser
from tests.station.station_kit import (
    SITE,
    chair_config,
    daemon_process,
    login_page,
    mqtt_login,
    show_logs,
    station_config,
    station_process,
    topic,
)

CRISIS = [
    {"t": 1, "event": "hr", "hr": 72},
    {"t": 1, "event": "spo2", "spo2": 97, "pulse": 72},
    {"t": 2, "event": "bp", "sys": 124, "dia": 82},
    {"t": 12, "event": "bp", "sys": 212, "dia": 124},
    {"t": 3600, "event": "end"},
]


def tile(chair: str) -> str:
    return f"document.querySelector('.tile[data-chair=\"{chair}\"]')"


async def test_crisis_red_sound_receipt_ack_by_nurse_then_offline_and_stale(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    scfg = station_config(tmp_path, acl_broker)
    ccfg = chair_config(tmp_path, acl_broker, "chair-1", CRISIS)
    receipts: list[dict[str, object]] = []
    acks: list[dict[str, object]] = []

    async with mqtt_login(acl_broker, "station-2") as spy:
        await spy.subscribe(f"monitord/{SITE}/+/alerts/receipts", qos=1)
        await spy.subscribe(topic("chair-1", "cmd/ack"), qos=1)
        await spy.subscribe(topic("chair-1", "alerts/events"), qos=1)
        on_broker: dict[str, float] = {}  # alert_id -> when the raised event reached us

        async def listen() -> None:
            async for m in spy.messages:
                body = json.loads(bytes(m.payload))
                if str(m.topic).endswith("alerts/events"):
                    if body.get("event") == "raised":
                        on_broker.setdefault(body["alert_id"], time.time() * 1000)
                    continue
                (receipts if str(m.topic).endswith("receipts") else acks).append(body)

        listener = asyncio.create_task(listen())
        try:
            async with (
                station_process(scfg, tmp_path / "station.log") as (station, url),
                browser() as b,
            ):
                page = await b.new_page()
                await login_page(page, url, "alice")
                # Autoplay allowed in this browser: audio is armed, no banner.
                await page.until("window.__monitordAudio.armed", 20, "audio armed")
                assert await page.js("document.getElementById('audio-banner').hidden") is True
                async with (
                    daemon_process(ccfg, tmp_path / "chair-1.log") as daemon,
                    show_logs(station, daemon),
                ):
                    await page.until(
                        f"!!{tile('chair-1')}?.querySelector('.state.online')",
                        30,
                        "chair-1 tile online",
                    )
                    assert await page.js(f"{tile('chair-1')}.classList.contains('p-high')") is False
                    await page.until(
                        f"{tile('chair-1')}.classList.contains('p-high')", 40, "tile red"
                    )
                    # Red and flashing, with the alert's words, high sound repeating.
                    assert await page.js(f"{tile('chair-1')}.classList.contains('flash')")
                    text = await page.js(
                        f"{tile('chair-1')}.querySelector('.alert.high').textContent"
                    )
                    assert "BP 212/124" in text, text
                    # The figure for the report (not asserted: no timed assertions): from the
                    # daemon's event time to the page having it.
                    shown = await page.js(
                        "window.__monitordShown.find((e) => e.event === 'raised')"
                    )
                    t_ev = datetime.fromisoformat(shown["time"]).timestamp() * 1000
                    print(
                        f"FIGURE event time -> MQTT subscriber: "
                        f"{on_broker[shown['alert_id']] - t_ev:.0f} ms, -> page: "
                        f"{shown['shown'] - t_ev:.0f} ms"
                    )
                    snd = await page.until("window.__monitordAudio.current", 10, "sound")
                    assert snd == {"priority": "high", "pulses": 10, "repeat_s": 8}
                    first = await page.js(
                        "window.__monitordAudio.log.find((b) => b.priority === 'high')"
                    )
                    assert first["pulses"] == 10 and first["repeat_s"] == 8
                    # The receipt of the raised event, as shown, with its sound.
                    for _ in range(200):
                        if any(r.get("event") == "raised" for r in receipts):
                            break
                        await asyncio.sleep(0.05)
                    raised = [r for r in receipts if r.get("event") == "raised"]
                    assert raised, receipts
                    r = raised[0]
                    fields = {"alert_id", "event", "level", "station", "shown_at", "sounded"}
                    assert set(r) == fields
                    assert r["station"] == "station-1" and r["sounded"] is True
                    assert str(r["alert_id"]).startswith("chair-1:bp.crisis:")
                    assert str(r["shown_at"]).endswith("Z")
                    # One tap on ACK: the command carries alice; the tile waits for the daemon.
                    await page.tap('.tile[data-chair="chair-1"] .alert.high button.ack')
                    await page.until(
                        f"!!{tile('chair-1')}.querySelector('.alert.high.acked')", 20, "acked tile"
                    )
                    assert (
                        acks and acks[-1]["by"] == "alice" and acks[-1]["alert_id"] == r["alert_id"]
                    )
                    assert "alice" in await page.js(
                        f"{tile('chair-1')}.querySelector('.alert.high .ackby').textContent"
                    )
                    await page.until("window.__monitordAudio.current === null", 10, "sound stopped")
                    # 2. SIGKILL: the broker publishes the chair's Last Will (keepalive 5 s).
                    killed = time.monotonic()
                    daemon.kill()
                    await page.until(
                        f"!!{tile('chair-1')}.querySelector('.state.offline')", 30, "OFFLINE"
                    )
                    assert await page.js(f"{tile('chair-1')}.classList.contains('offline')")
                    print(f"FIGURE SIGKILL -> OFFLINE: {time.monotonic() - killed:.1f} s")
                # The station server stops: the page goes stale and sounds a technical tone.
                assert await page.js("document.body.classList.contains('stale')") is False
                station.stop()
                await page.until("document.body.classList.contains('stale')", 30, "stale")
                assert not await page.js("document.getElementById('stale-banner').hidden")
                await page.until(
                    "window.__monitordAudio.current?.priority === 'technical'", 10, "technical tone"
                )
                await page.close()
        finally:
            listener.cancel()
