"""Since when an offline chair is not monitored, for a chair whose clock is not known
(docs/station.md "Offline chairs"): a daemon older than `chair_time`, or the station
restarted since the chair connected. Its times are on its own clock, and a chair an hour
behind the station's read "not monitored since 09:10 (60 min)" at 10:10 on the header,
lost a minute before. The station counts it on its own clock instead: the chair's last
message it heard live (a Last Will, or a clean stop's `offline`, is no sign of life).
"""

from __future__ import annotations

import contextlib
import json
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiomqtt

from monitord.models import iso
from monitord.station.model import StationModel
from tests.servers import Mosquitto
from tests.station.station_kit import SITE, STATION, TZ, alert, session, station_page, tile, vitals


def hm(t: float) -> tuple[str, str]:
    """HH:MM of station time `t`, or of a moment later (never a minute's edge)."""
    return tuple(datetime.fromtimestamp(x, ZoneInfo(TZ)).strftime("%H:%M") for x in (t, t + 5))  # type: ignore[return-value]


async def test_offline_since_of_a_chair_behind_whose_clock_is_not_known(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        now, behind = time.time(), 3600.0
        # A daemon without `chair_time`: its status `time`, set and readings all on its
        # clock, an hour behind.
        await pub.status("chair-1", "online", t=now - behind)
        sess = session("dosing", "esketamine", None)
        await pub.active("chair-1", [], sess, t=now - behind)
        await pub.vitals("chair-1", vitals("chair-1", 124, 78, 72, 98, ago_s=behind + 3))
        await page.until(f"{tile('chair-1')}.innerText.includes('124/78')", 20, "readings")
        await pub.status("chair-1", "offline", t=now - behind)  # its Last Will
        banner = f"{tile('chair-1')}.querySelector('.offline-banner')?.innerText"
        text = await page.until(banner, 10, "offline")
        await page.screenshot(tmp_path / "offline_unknown_clock.png")
        assert any(f"not monitored since {x} " in text for x in hm(now)), text
        assert "(0 min)" in text, text


def test_the_last_live_message_is_what_the_offline_banner_counts_from() -> None:
    m = StationModel("monitord", "site")

    def put(chair: str, rest: str, body: dict[str, object], at: float | None) -> None:
        assert not m.apply(f"monitord/site/{chair}/{rest}", json.dumps(body).encode(), at).rejected

    t = iso(time.time())
    for chair in ("chair-1", "chair-2"):
        put(chair, "status", {"state": "online", "time": t}, 100.0)
        put(chair, "vitals/hr", {"kind": "hr", "hr_bpm": 70, "measured_at": t}, 110.0)
    put("chair-1", "status", {"state": "offline", "time": t}, 150.0)  # its Last Will, live
    assert m.chairs["chair-1"].to_json(160.0)["heard_ago_s"] == 50.0  # not 10
    # The station back on the broker at 200: chair-1 was lost before, still 90 s ago;
    # chair-2's Last Will came meanwhile (replayed): when it was lost is not known.
    m.listening(200.0)
    put("chair-1", "status", {"state": "offline", "time": t}, None)
    put("chair-2", "status", {"state": "offline", "time": t}, None)
    assert m.chairs["chair-1"].to_json(200.0)["heard_ago_s"] == 90.0
    assert m.chairs["chair-2"].to_json(200.0)["heard_ago_s"] is None


def test_a_last_will_after_the_station_s_resubscribe_says_no_time_of_its_own() -> None:
    """The station back on the broker at 200 counts each online chair as heard then (its
    silence meanwhile is no chair's). A chair lost while the station was away has its Last
    Will sent by the broker up to 1.5 x keepalive later, here after the resubscribe: when
    it was lost is not known, the banner counts from its own last time (`offline_since`).
    Before, it read "since" the resubscribe, up to 45 s short of how long it was
    unmonitored. One heard live after the resubscribe counts from that message."""
    m = StationModel("monitord", "site")

    def put(chair: str, rest: str, body: dict[str, object], at: float | None) -> None:
        changes = m.apply(f"monitord/site/{chair}/{rest}", json.dumps(body).encode(), at)
        assert not changes.rejected

    t = iso(time.time())
    for chair in ("chair-1", "chair-2"):
        put(chair, "status", {"state": "online", "time": t}, 100.0)
        put(chair, "vitals/hr", {"kind": "hr", "hr_bpm": 70, "measured_at": t}, 110.0)
    m.listening(200.0)
    assert m.chairs["chair-1"].to_json(201.0)["heard_ago_s"] == 1.0  # not silent meanwhile
    put("chair-2", "vitals/hr", {"kind": "hr", "hr_bpm": 71, "measured_at": t}, 205.0)
    for chair in ("chair-1", "chair-2"):
        put(chair, "status", {"state": "offline", "time": t}, 230.0)  # Last Wills, live
    lost = m.chairs["chair-1"].to_json(240.0)
    assert lost["heard_ago_s"] is None and lost["offline_since"] == t, lost  # not 40
    assert m.chairs["chair-2"].to_json(240.0)["heard_ago_s"] == 35.0


async def test_a_chair_lost_while_the_station_was_away_reads_its_own_last_time(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """The page of the case above: the station's broker connection taken over (a client
    with its id: the broker drops the station, which reconnects and resubscribes), then
    the chair's Last Will. Before, the banner read "since" the resubscribe, "(0 min)"."""
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        now, ago = time.time(), 180.0
        await pub.status("chair-1", "online", t=now - ago)
        await pub.active("chair-1", [], session("dosing", "esketamine", None), t=now - ago)
        await pub.vitals("chair-1", vitals("chair-1", 124, 78, 72, 98, ago_s=ago))
        await page.until(f"{tile('chair-1')}.innerText.includes('124/78')", 20, "readings")
        await page.until("heardAt.has('chair-1')", 10, "heard live")
        lost = "(m) => { if (!JSON.parse(m.data).broker) window.__lost = true; }"
        await page.js(f"window.__lost = false; es.addEventListener('stations', {lost}); true")
        taker = aiomqtt.Client(
            mosquitto.host, mosquitto.port, identifier=f"monitord-station-{SITE}-{STATION}",
            protocol=aiomqtt.ProtocolVersion.V5,
        )  # fmt: skip
        with contextlib.suppress(aiomqtt.MqttError):  # the station may take it back first
            async with taker:
                await page.until("window.__lost", 10, "the station off the broker")
        gone = taker._disconnected  # its reason read here, not logged in a later test
        if gone.done() and not gone.cancelled():
            gone.exception()
        await page.until("brokerUp && !isStale()", 20, "the station back on the broker")
        await pub.status("chair-1", "offline", t=now - ago)  # its Last Will, after
        banner = f"{tile('chair-1')}.querySelector('.offline-banner')?.innerText"
        text = await page.until(banner, 10, "offline")
        await page.screenshot(tmp_path / "offline_after_resubscribe.png")
        assert any(f"since {x} " in text for x in hm(now - ago)), text
        assert "on the chair's clock (not known here)" in text, text


async def test_a_chair_kept_across_a_hello_keeps_its_counts(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """A station restarted without its broker knows no chair, and its `hello` says so
    (`broker: false`, no chairs: tests/station/test_station_restart_no_broker.py); the page
    keeps its chairs as last known. Such a hello 20 min after chair-1 was lost is sent to
    the page here (as that test's station sends it), the page's clocks moved on 20 min.
    Before, the page took the kept chair's last `heard_ago_s` and `chair_now` again as of
    the hello: lost 20 min before read "(0 min)", its alarm raised 30 min before "(10 min)"."""
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        now = time.time()
        body = {"state": "online", "time": iso(now), "chair_time": iso(now), "version": "0.1.0"}
        await pub.client.publish(pub.topic("chair-1", "status"), json.dumps(body), 1, True)
        crisis = alert("chair-1", "bp.crisis", "high", "BP 212/124", ago_s=630)
        await pub.active("chair-1", [crisis], session("dosing", "esketamine", 20))
        await pub.vitals("chair-1", vitals("chair-1", 124, 78, 72, 98))
        await pub.status("chair-1", "offline")
        banner = f"{tile('chair-1')}.querySelector('.offline-banner')?.innerText"
        since = f"{tile('chair-1')}.querySelector('.alert .since').innerText"
        await page.until(f"{banner}?.includes('(0 min)')", 20, "offline")
        await page.until("chairs.get('chair-1').chair_now !== null", 10, "its clock known")
        assert "(10 min)" in await page.js(since)
        later = iso(now + 1200)
        await page.js(
            "heardAt.set('chair-1', heardAt.get('chair-1') - 1200000);"
            " es.dispatchEvent(new MessageEvent('hello', {data: JSON.stringify("
            f"{{...hello, time: {later!r}, broker: false, chairs: []}})}})); true"
        )
        await page.until("!hello.broker", 10, "the hello")
        await page.screenshot(tmp_path / "kept_across_hello.png")
        assert "(20 min)" in await page.js(banner)
        assert "(30 min)" in await page.js(since)
