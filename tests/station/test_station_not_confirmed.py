"""A nurse's command the broker did not confirm in time is said as "not confirmed", in amber,
not as a failure (docs/station.md "Session controls", "ACK"), and the station's log says
it too: one WARNING line naming the chair, the command and its nurse (before, the log
said nothing of it, the IT admin asked why a nurse saw "not confirmed" had nothing to go
on).

Before, a command written to a broker that then did not answer (mosquitto paused with
SIGSTOP during the press) was answered "the broker did not take it: Operation timed out",
in red, like one never sent; but the broker, resumed, delivered it (QoS 1) and the daemon
carried it out. A nurse told "failed" pressed again: a second Start session or Dose start
(answered by the daemon as a duplicate), or believed an ACK had not silenced the alarm.

A publish never written (no connection: paho's MQTT_ERR_NO_CONN, aiomqtt's "Could not
publish message") stays a failure: `test_a_publish_never_written_is_no_unconfirmed`.

Real mosquitto (paused and resumed), real daemon and station processes, alice in headless
Chromium pressing with trusted mouse events; the station's MQTT timeout is 3 s here.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aiomqtt
import paho.mqtt.client as paho
import pytest

from monitord.mqttv5 import Unconfirmed, V5Client
from tests.acl_kit import AclMosquitto
from tests.servers import Mosquitto
from tests.station.session_kit import alice_at_start, line, phase_is
from tests.station.station_kit import alert, session, station_page, tile

SAID = (
    "({text: document.getElementById('confirm-error').textContent,"
    " amber: document.getElementById('confirm-error').classList.contains('unconfirmed'),"
    " colour: getComputedStyle(document.getElementById('confirm-error')).color,"
    " open: document.getElementById('confirm').open})"
)


def not_confirmed_lines(tmp: Path) -> list[str]:
    """The station's log lines of a command not confirmed (the page had its answer: the
    line was written before it)."""
    log = (tmp / "station.log").read_text()
    return [x for x in log.splitlines() if "not confirmed" in x]


async def test_start_not_confirmed_is_said_so_and_is_carried_out(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    async with alice_at_start(tmp_path, acl_broker) as page:
        acl_broker.pause()
        try:
            await page.tap("#confirm-ok")
            await page.until(
                "document.getElementById('confirm-error').textContent !== ''",
                30,
                "the station's answer at its MQTT timeout",
            )
            said = await page.js(SAID)
            assert said["text"] == (
                "Not confirmed: the broker did not answer within 3 s; it may still be "
                "carried out: look at chair-2's tile before pressing again"
            ), said
            assert said["amber"] and said["colour"] == "rgb(255, 210, 122)", said
            await page.screenshot(tmp_path / "start_not_confirmed.png")
            # Pressed again all the same, the broker still paused: not confirmed either.
            await page.js("document.getElementById('confirm-error').textContent = ''")
            await page.tap("#confirm-ok")
            await page.until(
                "document.getElementById('confirm-error').textContent.startsWith('Not conf')",
                30,
                "the second press's answer",
            )
        finally:
            acl_broker.resume()
        # The station's log says each, at WARNING, as the page did: before, nothing.
        assert (
            not_confirmed_lines(tmp_path)
            == [
                "WARNING monitord.station: station: chair-2: start by alice not confirmed by the "
                "broker within 3 s; it may still be carried out"
            ]
            * 2
        )
        # The broker resumed delivers both: the session starts, as the words said it might,
        # and the second Start is answered as the duplicate it is, not applied again.
        await page.until(phase_is("BASELINE"), 30, "the session started after all")
        cls, text = await line(page, "already started")
        assert cls == "answer session-done" and text.startswith("Start session by alice"), text
        await page.close()


async def test_ack_not_confirmed_is_amber_not_not_sent(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    async with station_page(tmp_path, mosquitto, mqtt_prefix) as (page, pub):
        a = alert("chair-1", "bp.crisis", "high", "BP 212/124 >= 180/110")
        await pub.chair("chair-1", [a], sess=session("dosing", "esketamine", 10))
        button = f"{tile('chair-1')}.querySelector('button.ack')"
        await page.until(f"{button}?.textContent === 'ACK'", 20, "ACK button")
        mosquitto.pause()
        try:
            await page.tap(".tile[data-chair='chair-1'] button.ack")
            await page.until(f"{button}.textContent !== 'sending…'", 30, "the station's answer")
            said = await page.js(
                f"({{text: {button}.textContent, title: {button}.title,"
                f" amber: {button}.classList.contains('unconfirmed'),"
                f" red: {button}.classList.contains('retry')}})"
            )
            assert said["text"] == "not confirmed" and said["amber"] and not said["red"], said
            assert said["title"] == (
                "ACK not confirmed: the broker did not answer within 3 s; it may still be "
                "carried out: look at chair-1's tile before pressing again"
            ), said
            await page.screenshot(tmp_path / "ack_not_confirmed.png")
        finally:
            mosquitto.resume()
        assert not_confirmed_lines(tmp_path) == [
            f"WARNING monitord.station: station: chair-1: ACK of {a['alert_id']} by alice not "
            "confirmed by the broker within 3 s; it may still be carried out"
        ]


async def test_a_publish_never_written_is_no_unconfirmed(mosquitto: Mosquitto) -> None:
    """The two failures of `publish_acked` told apart on a real mosquitto: written and not
    answered (paused) is Unconfirmed; with the connection gone before the publish, paho
    writes nothing and it is aiomqtt's plain MqttCodeError, never Unconfirmed."""
    async with V5Client(mosquitto.host, mosquitto.port, timeout=1.0) as c:
        mosquitto.pause()
        try:
            with pytest.raises(Unconfirmed):
                await c.publish_acked("test/not-confirmed", b"x", 1, False)
        finally:
            mosquitto.resume()
        mosquitto.stop()
        try:
            with contextlib.suppress(aiomqtt.MqttError):
                await asyncio.wait_for(asyncio.shield(c._disconnected), 10)
            with pytest.raises(aiomqtt.MqttError) as e:
                await c.publish_acked("test/not-confirmed", b"x", 1, False)
            assert not isinstance(e.value, Unconfirmed), e.value
            assert isinstance(e.value, aiomqtt.MqttCodeError), e.value
            assert e.value.rc == paho.MQTT_ERR_NO_CONN, e.value
        finally:
            mosquitto.start()
