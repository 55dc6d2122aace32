"""A phone POST in flight while its alert goes missing from the station's view and shows
again (two daemons on one chair id, a set of the same millisecond without it): the alert
was posted a second time. The forwarder's pause kept the countdown being posted; resumed,
a new countdown took its place, due at once and never marked sent (the POST marked the
old one), so the nurse's phone was called twice for one alarm. Against the real station
(in this process, so the webhook holds its answer until the alert came and went) and a
local aiohttp webhook on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiohttp import web

from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.station_kit import (
    ChairPublisher,
    alert,
    mqtt_login,
    station_config,
    station_in_process,
    webhook_server,
)


@pytest.mark.parametrize("back", ["while in flight", "after it"])
async def test_an_alert_missing_while_its_post_is_in_flight_is_posted_once(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, back: str
) -> None:
    got: list[str] = []
    release = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        got.append(json.loads(await request.read())["alert_id"])
        if len(got) == 1:
            await release.wait()  # the first POST in flight until the test lets it answer
        return web.Response(text="ok")

    async with webhook_server(hook) as base:
        extra = f'[station.forwarder]\nurl = "{base}/hook"\nafter_s = 30\ntimeout_s = 60\n'
        cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix, extra=extra)
        a = alert("chair-1", "bp.crisis", "high", "BP 212/124 >= 200/120", ago_s=120)
        marker = alert("chair-2", "spo2.very_low", "high", "SpO2 81 < 85 for 10 s", ago_s=120)
        async with station_in_process(cfg) as (st, _), mqtt_login(mosquitto) as c:
            await eventually(lambda: st.bridge.connected, 20, "the station on the broker")
            pub = ChairPublisher(c, mqtt_prefix)

            def shown() -> list[object]:
                view = st.model.chairs.get("chair-1")
                return [] if view is None else [x["alert_id"] for x in view.alerts]

            await pub.active("chair-1", [a])  # raised 2 min ago: posted at once
            await eventually(lambda: len(got) == 1, 10, "the POST in flight")
            await pub.active("chair-1", [])  # missing while its POST is in flight
            await eventually(lambda: shown() == [], 10, "the alert missing")
            if back == "while in flight":
                await pub.active("chair-1", [a])
                await eventually(lambda: shown() == [a["alert_id"]], 10, "the alert back")
            release.set()
            fwd = st.forwarder
            assert fwd is not None
            await eventually(lambda: fwd.sent == 1, 10, "the first POST taken")
            if back == "after it":
                await pub.active("chair-1", [a])
                await eventually(lambda: shown() == [a["alert_id"]], 10, "the alert back")
            # The marker is due later than a second POST of `a` would be: it comes after.
            await pub.active("chair-2", [marker])
            await eventually(lambda: marker["alert_id"] in got, 10, "the marker forwarded")
    assert got == [a["alert_id"], marker["alert_id"]], (
        f"the phone was called {got.count(a['alert_id'])} times for one alarm: {got}"
    )


async def test_an_alert_acknowledged_while_another_post_is_in_flight_is_not_posted(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """Two alarms due together (the station learnt both from a set, raised long ago; or a
    webhook down, both retried every 5 s): the forwarder posts them one after the other
    from the list it took before the first POST. The second, acknowledged while the first
    POST was in flight (a slow or hanging webhook: up to `timeout_s` each), was posted
    anyway: the nurse's phone was called for an alarm she had just acknowledged."""
    got: list[str] = []
    release = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        got.append(json.loads(await request.read())["alert_id"])
        if len(got) == 1:
            await release.wait()
        return web.Response(text="ok")

    async with webhook_server(hook) as base:
        extra = f'[station.forwarder]\nurl = "{base}/hook"\nafter_s = 30\ntimeout_s = 60\n'
        cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix, extra=extra)
        a = alert("chair-1", "bp.crisis", "high", "BP 212/124 >= 200/120", ago_s=120)
        b = alert("chair-1", "spo2.very_low", "high", "SpO2 81 < 85 for 10 s", ago_s=120)
        marker = alert("chair-2", "hr.very_high", "high", "HR 170 > 150", ago_s=120)
        async with station_in_process(cfg) as (st, _), mqtt_login(mosquitto) as c:
            await eventually(lambda: st.bridge.connected, 20, "the station on the broker")
            pub = ChairPublisher(c, mqtt_prefix)

            def acked() -> list[object]:
                view = st.model.chairs.get("chair-1")
                return [] if view is None else [x["alert_id"] for x in view.alerts if x["ack"]]

            await pub.active("chair-1", [a, b])  # both raised 2 min ago: due at once
            await eventually(lambda: got == [a["alert_id"]], 10, "the first POST in flight")
            await pub.event("chair-1", b, "acknowledged", by="alice")
            await eventually(lambda: acked() == [b["alert_id"]], 10, "the second acknowledged")
            release.set()
            await pub.active("chair-2", [marker])
            await eventually(lambda: marker["alert_id"] in got, 10, "the marker forwarded")
    assert got == [a["alert_id"], marker["alert_id"]], (
        f"an alert acknowledged while another POST was in flight was posted: {got}"
    )
