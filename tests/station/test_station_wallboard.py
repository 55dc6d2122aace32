"""The wallboard in a browser that does not allow autoplay (as a real one at boot): the
"audio not armed" banner, arming by a tap, the highest priority sounding, the 2-min audio
pause distinct from an ack, site-local times with the zone, technical alerts marked; and
the 4-chair screenshot of docs/station.png (acceptance 4; written there when
MONITORD_WRITE_SCREENSHOT=1). The chairs here are MQTT messages as the daemons publish
them, retained on a plain broker: what the page shows is the point, not the daemon."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from monitord.models import iso
from tests.servers import Mosquitto
from tests.station.cdp import browser
from tests.station.station_kit import (
    SITE,
    alert,
    login_page,
    mqtt_login,
    session,
    station_config,
    station_process,
    vitals,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "station.png"


def board() -> dict[str, dict[str, Any]]:
    return {
        "chair-1": {
            "online": True,
            "session": session("dosing", "esketamine", 23),
            "vitals": vitals("chair-1", 212.4, 124.2, 96, 97, 40),
            "alerts": [
                alert("chair-1", "bp.crisis", "high", "BP 212/124 >= 200/120 (1 reading)", ago_s=40)
            ],
        },
        "chair-2": {
            "online": True,
            "session": session("observation", "iv-ketamine", 95),
            "vitals": vitals("chair-2", 131, 84, 71, 88, 200),
            "alerts": [
                alert("chair-2", "spo2.low", "medium", "SpO2 88 < 90 for 15 s", ago_s=20),
                alert(
                    "chair-2",
                    "tech.bp_overdue",
                    "low",
                    "No valid BP for 13 min",
                    kind="technical",
                    ago_s=60,
                ),
            ],
        },
        "chair-3": {
            "online": False,
            "session": session("baseline", "esketamine", None),
            "vitals": vitals("chair-3", 126, 80, 66, 98, 900),
            "alerts": [],
        },
        "chair-4": {
            "online": True,
            "session": {"phase": "idle"},
            "vitals": vitals("chair-4", 118, 76, 62, 99, 120),
            "alerts": [],
        },
    }


async def publish_board(broker: Mosquitto, prefix: str) -> None:
    async with mqtt_login(broker) as c:
        for chair, st in board().items():
            base = f"{prefix}/{SITE}/{chair}"
            status = {
                "state": "online" if st["online"] else "offline",
                "time": iso(time.time()),
                "version": "0.1.0",
            }
            await c.publish(f"{base}/status", json.dumps(status), 1, True)
            for kind, v in st["vitals"].items():
                await c.publish(f"{base}/vitals/{kind}", json.dumps(v), 0, True)
            active = {"time": iso(time.time()), "alerts": st["alerts"], "session": st["session"]}
            await c.publish(f"{base}/alerts/active", json.dumps(active), 1, True)
            # The doctor's test message is never shown.
            await c.publish(
                f"{base}/alerts/active",
                json.dumps({"doctor": True, "time": iso(time.time()), "alerts": []}),
                1,
                False,
            )


async def flashing_on(page: Any, chairs: list[str]) -> None:
    """Stop the flashing in its "on" half for the picture (each tile's own background, not
    the dark "off" one), so docs/station.png shows the alarm colours."""
    on = " && ".join(
        f"getComputedStyle(document.querySelector('.tile[data-chair=\"{c}\"]'))"
        ".backgroundColor !== 'rgb(29, 29, 29)'"
        for c in chairs
    )
    await page.send("Animation.enable")
    for _ in range(50):
        await page.send("Animation.setPlaybackRate", playbackRate=1)
        await page.until(on, 10, "flashing on")
        await page.send("Animation.setPlaybackRate", playbackRate=0)
        if await page.js(on):
            return
    raise AssertionError("the tiles never showed their colours together")


async def test_wallboard_audio_arming_priority_pause_and_screenshot(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    await publish_board(mosquitto, mqtt_prefix)
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)
    async with (
        station_process(cfg, tmp_path / "station.log") as (_, url),
        browser(autoplay=False, size=(1500, 560)) as b,
    ):
        page = await b.new_page()
        await login_page(page, url, "alice")
        await page.until("document.querySelectorAll('.tile').length === 4", 20, "4 tiles")
        # Reloaded without a tap (a wallboard after a reboot): audio cannot start, so the
        # page says so instead of looking fine, and no sound is claimed.
        await page.goto(url + "/")
        await page.until("document.querySelectorAll('.tile').length === 4", 20, "4 tiles")
        assert await page.js("window.__monitordAudio.armed") is False
        assert await page.js("document.getElementById('audio-banner').hidden") is False
        assert await page.js("window.__monitordAudio.current") is None
        await page.tap("#arm")
        await page.until("window.__monitordAudio.armed", 10, "armed by a tap")
        assert await page.js("document.getElementById('audio-banner').hidden") is True
        # High (chair-1) wins over medium (chair-2).
        snd = await page.until("window.__monitordAudio.current", 10, "sound")
        assert snd == {"priority": "high", "pulses": 10, "repeat_s": 8}
        # Audio pause: silence for 2 min, the alerts stay unacknowledged and red.
        await page.tap("#pause")
        await page.until("window.__monitordAudio.current === null", 5, "paused")
        assert await page.js("window.__monitordAudio.paused") is True
        assert not await page.js("document.getElementById('paused-banner').hidden")
        assert await page.js("!!document.querySelector('.tile[data-chair=\"chair-1\"] button.ack')")
        await page.tap("#resume")
        await page.until("window.__monitordAudio.current?.priority === 'high'", 5, "resumed")
        # Tiles: states and what a nurse reads.
        cls = await page.js(
            "Object.fromEntries([...document.querySelectorAll('.tile')].map("
            "(t) => [t.dataset.chair, t.className]))"
        )
        assert "p-high" in cls["chair-1"] and "flash" in cls["chair-1"]
        assert "p-medium" in cls["chair-2"] and "offline" in cls["chair-3"]
        assert cls["chair-4"].strip() == "tile"
        text = await page.js("document.getElementById('board').innerText")
        assert "212/124" in text and "OFFLINE" in text, text  # whole mmHg
        assert re.search(r"dose \+2[34] min", text), text
        assert re.search(r"observation met in 9[67] min \(\d\d:\d\d E[SD]T\)", text), text
        tech = await page.js(
            "document.querySelector('.tile[data-chair=\"chair-2\"] .alert.technical').innerText"
        )
        assert "TECH" in tech, tech
        assert "America/New_York" in await page.js("document.getElementById('site').textContent")
        # The alarm bar: high, medium, then the chair lost in mid-session.
        bar = await page.js("[...document.querySelectorAll('#alarm-bar a')].map(a => a.innerText)")
        assert [b.split()[0] for b in bar] == ["chair-1", "chair-2", "chair-3"], bar
        assert "OFFLINE — not monitored since" in text, text
        shot = tmp_path / "station.png"
        await flashing_on(page, ["chair-1", "chair-2"])
        await page.screenshot(shot)
        await page.send("Animation.setPlaybackRate", playbackRate=1)
        assert shot.stat().st_size > 10_000
        if os.environ.get("MONITORD_WRITE_SCREENSHOT") == "1":
            DOCS.write_bytes(shot.read_bytes())
        await page.close()
