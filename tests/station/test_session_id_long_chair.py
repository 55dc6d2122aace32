"""A session the daemon named itself for a chair of a long id (docs/mqtt.md `cmd/session`):
`<chair>-<epoch second>`, longer than 64 characters for a chair id of 60. The station's
Dose start, Dose end and End session carry the id of the session their tile shows
(monitord/chair_session.py): before, both the station (its `/api/session`) and the daemon
(`cmd/session`) took at most 64 characters, so a nurse could not record Dose start for
that chair's session from the station at all (400 "session_id must be the id of the
session shown"), and the same command over MQTT was refused as malformed. Real daemon,
real station, real mosquitto.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp

from tests.servers import Mosquitto
from tests.station.session_kit import IDLE
from tests.station.station_kit import (
    NURSES,
    STATION,
    chair_config,
    daemon_process,
    mqtt_login,
    station_config,
    station_process,
    topic,
)

# 60 characters: a chair id within the configured 64, its generated session id over 64.
LONG = "infusion-bay-east-wing-second-floor-recliner-number-twelve-a"


async def _until_session(got: list[dict[str, Any]], pred: Any, what: str) -> dict[str, Any]:
    for _ in range(600):
        sess = dict(got[-1].get("session") or {}) if got else {}
        if got and pred(sess):
            return sess
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}: {got[-1:]}")


async def test_the_station_records_dose_start_for_a_generated_id_of_a_long_chair_id(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    assert len(LONG) == 60
    ccfg = chair_config(tmp_path, mosquitto, LONG, IDLE)
    scfg = station_config(tmp_path, mosquitto, acl=False)
    got: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []

    async def collect(c: Any) -> None:
        async for m in c.messages:
            (errors if str(m.topic).endswith("/cmd/errors") else got).append(
                json.loads(bytes(m.payload))
            )

    async with (
        mqtt_login(mosquitto, STATION) as spy,
        daemon_process(ccfg, tmp_path / "chair.log"),
        station_process(scfg, tmp_path / "station.log") as (_, url),
    ):
        await spy.subscribe(topic(LONG, "alerts/active"), qos=1)
        await spy.subscribe(topic(LONG, "cmd/errors"), qos=1)
        listener = asyncio.create_task(collect(spy))
        try:
            await _until_session(got, lambda s: s.get("phase") == "idle", "the chair idle")
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                r = await http.post(
                    url + "/api/login",
                    json={"name": "alice", "pin": NURSES["alice"]},
                    headers={"Origin": url},
                )
                assert r.status == 200
                good = {"Origin": url, "X-CSRF-Token": (await r.json())["csrf"]}

                async def press(body: dict[str, Any]) -> tuple[int, str]:
                    for _ in range(200):  # until the station has seen the chair
                        r = await http.post(url + "/api/session", json=body, headers=good)
                        text = await r.text()
                        if "unknown chair" not in text.lower():
                            return r.status, text
                        await asyncio.sleep(0.1)
                    return r.status, text

                status, text = await press({"chair": LONG, "action": "start"})
                assert status == 200, text
                sess = await _until_session(
                    got, lambda s: s.get("phase") == "baseline", "the session started"
                )
                sid = str(sess["session_id"])
                assert sid.startswith(LONG + "-") and len(sid) > 64, sid
                # The page sends the id its tile shows (static/session.js sessionShown).
                status, text = await press(
                    {"chair": LONG, "action": "dose_start", "session_id": sid}
                )
                assert status == 200, text
                await _until_session(got, lambda s: s.get("phase") == "dosing", "the dose started")
            # The same over MQTT (Home Assistant naming the session it saw): applied.
            body = {"action": "dose_end", "session_id": sid, "by": "bob"}
            await spy.publish(topic(LONG, "cmd/session"), json.dumps(body), qos=1)
            await _until_session(got, lambda s: s.get("phase") == "observation", "the dose ended")
            assert errors == [], errors
        finally:
            listener.cancel()
