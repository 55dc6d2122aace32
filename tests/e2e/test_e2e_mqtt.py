"""Issue 6, daemon level: MQTT delivery through the whole daemon (design.md section 6).

A real (non-simulated) chair reads a Masimo oximeter on a pty that the test feeds at 1 Hz
with the wall clock as device clock, so an alert is raised and cleared when the test says
(spo2.very_low shortened to 1 s by an `[alerts]` override). Nurses are real MQTT clients:
aiomqtt with a persistent session, and the `mosquitto_pub` command line client.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from e2e_kit import (
    CHAIR,
    COUNTING_COMMIT_S,
    FAST_SPO2_ALERT,
    NO_INFLUX,
    SITE,
    DaemonProcess,
    LiveFeed,
    Oximeter,
    Store,
    daemon_in_process,
    eventually,
    in_thread,
    mosquitto_pub,
    mqtt_section,
    write_config,
)

from monitord import __version__
from monitord.commands.status import technical
from monitord.models import iso
from monitord.outbox import alert_from_body
from tests.kit import Observer
from tests.servers import Mosquitto


def base(prefix: str) -> str:
    return f"{prefix}/{SITE}/{CHAIR}"


def committed_events(store: Store) -> list[dict[str, Any]]:
    """What the daemon committed, as `alerts/events` payloads, in commit order."""
    return [alert_from_body(b).to_mqtt() for b in store.alert_events()]


def once_each(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """De-duplicate by (alert_id, event), as a QoS 1 subscriber must; keeps first order."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for e in events:
        key = (e["alert_id"], e["event"], e["rule"], e["time"])
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def of_rule(events: list[dict[str, Any]], rule: str) -> list[tuple[str, Any]]:
    return [(e["event"], e["alert_id"]) for e in events if e["rule"] == rule]


async def test_broker_outage_alert_raised_and_cleared_meanwhile_arrives_once_in_order(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    b = base(mqtt_prefix)
    cfg = write_config(
        tmp_path,
        mqtt=mqtt_section(mosquitto, mqtt_prefix, alarm_after_s=2.0),
        influx=NO_INFLUX,
        # Readings committed every 0.5 s, not 5: the first ones are stored at once (alert
        # events are committed at once either way, and are what this test follows).
        extra=f"commit_interval_s = {COUNTING_COMMIT_S}\n" + FAST_SPO2_ALERT,
    )
    store = Store(tmp_path / "outbox.sqlite")
    console: list[str] = []
    # The nurse station was subscribed before anything happened (persistent session).
    async with (
        Observer(mosquitto, [f"{b}/alerts/events", f"{b}/alerts/active"]) as nurse,
        Oximeter(tmp_path) as ox,
        daemon_in_process(cfg, console) as daemon,
        LiveFeed(ox, spo2=97.0) as feed,
    ):
        assert daemon.mqtt is not None
        # Reconnect at most every 1 s (production: 30 s) so the test does not sit out a
        # long backoff after the broker is back; what is delivered is the same either way.
        for link in daemon.mqtt._chairs.values():
            link.backoff.cap_s = 1.0
        await eventually(lambda: daemon.mqtt.connected, 20, "daemon connected to the broker")
        await eventually(lambda: store.readings() >= 2, 20, "readings from the pty")
        await eventually(lambda: nurse.of("alerts/active"), 20, "initial active set")

        await in_thread(mosquitto.stop)
        feed.spo2 = 80.0  # desaturation while nobody can be told
        await eventually(
            lambda: (
                ("raised", "spo2.very_low")
                in [(e["event"], e["rule"]) for e in committed_events(store)]
            ),
            30,
            "spo2.very_low raised",
        )
        await eventually(
            lambda: any("DELIVERY ALARM" in line for line in console), 30, "delivery alarm"
        )
        assert any(line.startswith("!!! DELIVERY ALARM") for line in console)
        # a technical alarm of the daemon: `monitord status` shows it (the side file)
        assert "delivery" in (technical(tmp_path / "outbox.sqlite") or {}).get("active", {})
        feed.spo2 = 97.0
        await eventually(
            lambda: (
                ("cleared", "spo2.very_low")
                in [(e["event"], e["rule"]) for e in committed_events(store)]
            ),
            30,
            "spo2.very_low cleared",
        )
        await eventually(lambda: daemon.chairs[CHAIR].active == [], 10, "nothing active")
        assert store.backlog("mqtt") > 0  # the events are waiting in the outbox
        restart_wall = time.time()
        await in_thread(mosquitto.start)

        await eventually(lambda: store.backlog("mqtt") == 0, 30, "mqtt backlog drained")
        await eventually(
            lambda: any("delivery alarm cleared" in line for line in console),
            30,
            "delivery alarm cleared",
        )
        expected = committed_events(store)
        await eventually(lambda: len(once_each(nurse.of("alerts/events"))) >= len(expected), 30)
        await eventually(
            lambda: nurse.of("alerts/active") and nurse.of("alerts/active")[-1]["alerts"] == [],
            30,
            "alerts/active empty after the clear",
        )
    got = once_each(nurse.of("alerts/events"))
    assert got == expected  # every event once, in commit order, exactly as committed
    raised_cleared = [
        (e["event"], e["alert_id"]) for e in got if e["rule"] == "spo2.very_low" and e["alert_id"]
    ]
    (aid,) = {a for _, a in raised_cleared}
    assert raised_cleared == [("raised", aid), ("cleared", aid)]
    # original times: both happened while the broker was down, before it came back
    for e in got:
        if e["rule"] == "spo2.very_low" and e["alert_id"]:
            assert e["time"] < iso(restart_wall)
    # the local delivery alarm was raised, then cleared, once each
    alarm_lines = [ln for ln in console if "delivery alarm" in ln.lower()]
    assert len(alarm_lines) == 2, alarm_lines
    assert alarm_lines[0].startswith("!!! DELIVERY ALARM")
    assert alarm_lines[1].startswith("delivery alarm cleared")
    assert "delivery" in (technical(tmp_path / "outbox.sqlite") or {}).get("cleared", {})
    assert daemon.chairs[CHAIR].active == []


async def test_late_subscriber_sees_retained_status_and_active_then_last_will_on_sigkill(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    b = base(mqtt_prefix)
    cfg = write_config(
        tmp_path,
        mqtt=mqtt_section(mosquitto, mqtt_prefix),
        influx=NO_INFLUX,
        extra=FAST_SPO2_ALERT,
    )
    store = Store(tmp_path / "outbox.sqlite")
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
    async with Oximeter(tmp_path) as ox, LiveFeed(ox, spo2=80.0):
        daemon.start()
        try:
            await eventually(
                lambda: any(e["event"] == "raised" for e in store.alert_events()),
                30,
                "an alert raised in the daemon",
            )
            raised = next(e for e in store.alert_events() if e["event"] == "raised")
            await eventually(lambda: store.backlog("mqtt") == 0, 20, "events published")
            # A nurse app that starts now, long after the daemon came up.
            async with Observer(mosquitto, [f"{b}/status", f"{b}/alerts/active"]) as late:
                await eventually(
                    lambda: (
                        late.of("status")
                        and any(
                            a["alert_id"] == raised["alert_id"]
                            for m in late.of("alerts/active")
                            for a in m["alerts"]
                        )
                    ),
                    20,
                    "retained status and active set",
                )
                (status,) = late.of("status")
                assert status["state"] == "online" and status["version"] == __version__
                # The chair's clock rides along (docs/mqtt.md `chair_time`), no later than
                # the retained message's wall `time` allows (no step here: the two agree).
                chair_t, wall_t = (
                    datetime.fromisoformat(status[k]) for k in ("chair_time", "time")
                )
                assert abs((chair_t - wall_t).total_seconds()) < 2.0, status
                assert all(retained for _, _, retained in late.msgs)
                assert daemon.alive
                await in_thread(daemon.kill)
                await eventually(lambda: len(late.of("status")) == 2, 30, "Last Will")
                assert late.of("status")[1]["state"] == "offline"
                assert "chair_time" not in late.of("status")[1]  # the Will's is the connect's
                assert late.msgs[-1][2] is False  # delivered live, as the Will fired
        finally:
            if daemon.alive:
                daemon.kill()
    # and `offline` stays retained for the next subscriber
    async with Observer(mosquitto, [f"{b}/status"]) as later:
        await eventually(lambda: later.of("status"), 20, "retained offline")
        assert later.of("status")[0]["state"] == "offline"


async def test_ack_from_mosquitto_pub_and_malformed_commands(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    b = base(mqtt_prefix)
    cfg = write_config(
        tmp_path,
        mqtt=mqtt_section(mosquitto, mqtt_prefix),
        influx=NO_INFLUX,
        extra=FAST_SPO2_ALERT,
    )
    store = Store(tmp_path / "outbox.sqlite")
    async with (
        Observer(
            mosquitto, [f"{b}/alerts/events", f"{b}/alerts/active", f"{b}/cmd/errors"]
        ) as nurse,
        Oximeter(tmp_path) as ox,
        daemon_in_process(cfg) as daemon,
        LiveFeed(ox, spo2=80.0),
    ):
        chair = daemon.chairs[CHAIR]

        def very_low() -> list[dict[str, Any]]:
            return [a for a in chair.active if a["rule"] == "spo2.very_low"]

        await eventually(
            lambda: any(
                e["event"] == "raised" and e["rule"] == "spo2.very_low"
                for e in nurse.of("alerts/events")
            ),
            30,
            "raised event on alerts/events",
        )
        aid = next(
            e["alert_id"]
            for e in nurse.of("alerts/events")
            if e["event"] == "raised" and e["rule"] == "spo2.very_low"
        )
        events_before = len(store.alert_events())
        bad = [
            "{not json",
            json.dumps({"alert_id": "no-such-alert", "by": "nurse-1"}),
            json.dumps({"alert_id": 42, "by": "nurse-1"}),
            json.dumps({"alert_id": aid, "by": ["nurse-1"]}),
        ]
        for payload in bad:
            await mosquitto_pub(mosquitto, f"{b}/cmd/ack", payload)
        await eventually(lambda: len(nurse.of("cmd/errors")) == len(bad), 20, "cmd/errors")
        errors = nurse.of("cmd/errors")
        assert [e["payload"] for e in errors] == bad
        assert "not JSON" in errors[0]["error"]
        assert "no-such-alert" in errors[1]["error"]
        assert errors[2]["error"].startswith("alert_id:")
        assert errors[3]["error"].startswith("by:")
        # nothing changed: still active, not acknowledged, no new event, daemon serving
        (a,) = very_low()
        assert a["alert_id"] == aid and a["state"] == "active" and a["ack"] is False
        assert not [e for e in store.alert_events()[events_before:] if e["event"] == "acknowledged"]
        assert daemon.supervisor is not None
        assert daemon.supervisor.tasks["sink:mqtt"].restarts == 0

        await mosquitto_pub(
            mosquitto, f"{b}/cmd/ack", json.dumps({"alert_id": aid, "by": "nurse-1"})
        )
        await eventually(
            lambda: any(e["event"] == "acknowledged" for e in nurse.of("alerts/events")),
            20,
            "acknowledged event",
        )
        (ack,) = [e for e in nurse.of("alerts/events") if e["event"] == "acknowledged"]
        assert (ack["alert_id"], ack["rule"], ack["by"]) == (aid, "spo2.very_low", "nurse-1")
        await eventually(lambda: very_low() and very_low()[0]["ack"] is True, 10)
        await eventually(
            lambda: any(
                x["alert_id"] == aid and x["ack"] is True
                for m in nurse.of("alerts/active")[-1:]
                for x in m["alerts"]
            ),
            20,
            "alerts/active shows the ack",
        )
        assert len(nurse.of("cmd/errors")) == len(bad)  # the good ack was not an error
