"""config/homeassistant/monitord-alerts.yaml against a real `monitord run` and the shipped
broker config (docs/operations.md "Forwarding alerts"): what reaches the nurses' phones,
what takes a notification off them, and whether the Acknowledge button's ACK is taken
by the daemon.

Home Assistant's part is run by tests/forward/ha_render.py (what is real and what is
re-stated from Home Assistant's source is said there): its MQTT integration is a client
logged in as the account the file names, subscribed to the trigger's topic, on the
shipped ACL; each message it receives goes through the automations' conditions and
templates; a notification's button is pressed by rendering the ACK automation with that
notification's action, and its `mqtt.publish` is published as that account.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import aiomqtt

from tests.acl_kit import REPO, SITE
from tests.forward.forward_kit import (
    BASE,
    CHAIR,
    EVENTS,
    HA_FILE,
    NURSE,
    WALLBOARD,
    chair_running,
    doctor,
    drive,
    events,
    login,
    passwords,
    start_broker,
)
from tests.forward.ha_render import (
    HA_FILTERS,
    Automations,
    as_string,
    ha_account,
    ha_filters_used,
    release,
)
from tests.kit import eventually
from tests.servers import TlsMaterial, session_tmpdir

# One automation notifies and clears (one queue: tests/forward/test_forward_ha_backlog.py)
FORWARD, ACK = "monitord_alert_forward", "monitord_alert_ack"
STATUS = f"monitord/{SITE}/stations/{WALLBOARD}"  # the wallboard's own status topic
APNS_COLLAPSE_ID_MAX = 64  # bytes (Apple: apns-collapse-id), what `tag` becomes on iOS
# The phone's Home Assistant user, linked to a person (ha_render.py `on_action`).
PHONE_USER, PHONE_NURSE = "5b1f0c7e9a", "Carol N"
PERSONS: dict[str, str | None] = {"Carol N": PHONE_USER, "Dan K": "77aa0f", "Eve": None}


async def test_home_assistant_forwards_clears_and_acks_on_the_real_daemon(
    tmp_path: Path, tls_material: TlsMaterial
) -> None:
    ha = Automations(HA_FILE)
    account = ha_account(ha.text)
    users = passwords(account)
    broker = start_broker(session_tmpdir("mosquitto-fwd-ha"), tls_material, users)
    try:
        await run(tmp_path, broker, ha, account)
    finally:
        broker.stop()


async def run(tmp_path: Path, broker: Any, ha: Automations, account: str) -> None:
    topic = ha.mqtt_topic(FORWARD)
    published: list[tuple[str, str, int, bool]] = []
    async with login(broker, WALLBOARD, [f"{BASE}/#", STATUS]) as wall:
        # Home Assistant's MQTT integration connects while the wallboard is up, as it
        # does in a clinic.
        async with login(broker, account, [topic]) as ha_conn:
            with contextlib.suppress(aiomqtt.MqttError):
                await wall.client.publish(STATUS, b'{"state": "online"}', qos=1)
            await eventually(lambda: wall.lost or wall.got, 10, "the wallboard's probe")
            assert not wall.lost, (
                f"Home Assistant logging in as {account} took the wallboard's connection "
                f"({WALLBOARD}): the broker's client id is the user name"
            )

            def notification(alert_id: str) -> dict[str, Any]:
                for t, p, _ in ha_conn.got:
                    data = ha.on_message(FORWARD, t, p)
                    if data and json.loads(p)["alert_id"] == alert_id:
                        return data
                raise AssertionError(f"no notification for {alert_id}")

            async def press_ack(raised: dict[str, Any]) -> None:
                actions = notification(raised["alert_id"])["data"]["actions"]
                (button,) = [a for a in actions if a["title"] == "Acknowledge"]
                data = ha.on_action(ACK, button["action"], PHONE_USER, PERSONS)
                assert data is not None, f"the ACK automation ignored {button['action']!r}"
                assert ha.service(ACK) == "mqtt.publish"
                pub = (str(data["topic"]), as_string(data["payload"]), int(data["qos"]),
                       bool(data["retain"]))  # fmt: skip
                published.append(pub)
                await ha_conn.client.publish(pub[0], pub[1].encode(), qos=pub[2], retain=pub[3])

            async def nurse_ack(raised: dict[str, Any]) -> None:
                body = {"alert_id": raised["alert_id"], "by": NURSE}
                await wall.client.publish(f"{BASE}/cmd/ack", json.dumps(body).encode(), qos=1)

            async with chair_running(tmp_path, broker) as (cfg, patient):
                await drive(patient, wall.got, press_ack, nurse_ack)
            out = doctor(cfg)
            await eventually(
                lambda: any(b'"doctor"' in p for t, p, _ in ha_conn.got if t == EVENTS),
                20,
                f"monitord doctor's test message on alerts/events; doctor said:\n{out}",
            )
            assert not wall.lost and not ha_conn.lost
    check(ha, ha_conn.got, wall.got, published)


def check(
    ha: Automations,
    ha_got: list[tuple[str, bytes, bool]],
    wall_got: list[tuple[str, bytes, bool]],
    published: list[tuple[str, str, int, bool]],
) -> None:
    real = [e for e in events(wall_got) if not e.get("doctor")]
    assert [e for e in events(ha_got) if not e.get("doctor")] == real  # HA heard them all
    doctor_msgs = [(t, p) for t, p, _ in ha_got if b'"doctor"' in p]
    assert doctor_msgs
    for t, p in doctor_msgs:
        assert ha.on_message(FORWARD, t, p) is None, f"doctor's test message forwarded: {p!r}"

    forwarded = {(e["alert_id"], e["event"], e.get("level")) for e in real
                 if e["event"] in ("raised", "escalated")}  # fmt: skip
    assert {e["priority"] for e in real if e["event"] == "raised"} == {"high", "medium", "low"}
    assert any(e["event"] == "escalated" for e in real)
    tags: dict[str, str] = {}
    for t, p, _ in ha_got:
        e = json.loads(p)
        if e.get("doctor"):
            continue
        call = ha.on_message(FORWARD, t, p)
        if e["event"] in ("raised", "escalated"):
            note = call
            assert note is not None and note["message"] != "clear_notification", (
                f"not forwarded: {e}"
            )
            forwarded.discard((e["alert_id"], e["event"], e.get("level")))
            d = note["data"]
            tag = d["tag"]
            assert isinstance(tag, str) and tag
            # Longer, APNs refuses the push: the iPhone never rings for this alert.
            assert len(tag.encode()) <= APNS_COLLAPSE_ID_MAX, (
                f"tag {tag!r} is {len(tag.encode())} bytes: iOS's apns-collapse-id takes "
                f"{APNS_COLLAPSE_ID_MAX}, so the {e['priority']} alert {e['rule']} is "
                "never delivered to an iPhone"
            )
            # one notification per alert: the escalation replaces the raise
            assert tags.setdefault(e["alert_id"], tag) == tag
            urgent = e["priority"] in ("high", "medium")
            assert d["channel"] == ("alarm_stream" if urgent else "monitord")
            assert d["push"]["interruption-level"] == ("critical" if urgent else "active")
            assert d["push"]["sound"]["critical"] == (1 if urgent else 0)
            assert note["title"] == f"{e['priority'].upper()} {CHAIR}: {e['rule']}"
            assert note["message"] == f"{e['message']} ({e['time']})"
        elif e["event"] in ("acknowledged", "cleared"):
            assert call is not None and call["message"] == "clear_notification", f"not cleared: {e}"
            assert call["data"]["tag"] == tags[e["alert_id"]], "clears another notification"
        else:
            assert call is None, e
    assert not forwarded, f"never forwarded: {forwarded}"
    assert len(set(tags.values())) == len(tags), "two alerts share one notification"

    # The ACKs the button sent: taken by the daemon (an `acknowledged` event naming the
    # alert), none refused on cmd/errors, never retained.
    assert len(published) == 3
    acked = {e["alert_id"]: e for e in real if e["event"] == "acknowledged"}
    for topic, payload, qos, retain in published:
        assert topic == f"{BASE}/cmd/ack" and qos == 1 and retain is False
        body = json.loads(payload)
        assert body["alert_id"] in acked, f"ACK not taken: {payload}"
        assert acked[body["alert_id"]].get("by") == body["by"]
    errors = [p for t, p, _ in wall_got if t == f"{BASE}/cmd/errors"]
    assert errors == [], f"refused: {errors}"
    assert any(e.get("by") == NURSE for e in acked.values())
    # The phone's ACKs name the nurse whose phone it was, as the daemon recorded them.
    assert published and all(
        json.loads(p)["by"] == f"{PHONE_NURSE} (phone)" for _, p, _, _ in published
    ), published


def test_home_assistant_ack_names_the_nurse_whose_phone_it_was() -> None:
    """The stations show, and the chair records, who acknowledged: the person linked to
    the Companion app's user. Before, every phone's ACK said `home-assistant`: nobody
    could tell which nurse silenced the alarm. A phone whose user no person is linked to
    (or an event with no user) still says `home-assistant`; a long name is cut to fit the
    command's 64 characters (docs/mqtt.md "Commands"), with its "(phone)"."""
    ha = Automations(HA_FILE)
    action = "MONITORD_ACK:chair-1:a-chair-1-17"

    def by(user: str | None, persons: dict[str, str | None]) -> str:
        data = ha.on_action(ACK, action, user, persons)
        assert data is not None
        body = json.loads(as_string(data["payload"]))
        assert body["alert_id"] == "a-chair-1-17", body
        return str(body["by"])

    assert by(PHONE_USER, PERSONS) == "Carol N (phone)"
    assert by("77aa0f", PERSONS) == "Dan K (phone)"
    assert by("no-person", PERSONS) == "home-assistant"
    assert by(None, PERSONS) == "home-assistant"
    long = by(PHONE_USER, {"N" * 80: PHONE_USER})
    assert long == "N" * 56 + " (phone)" and len(long) <= 64


def test_home_assistant_ack_ignores_other_buttons() -> None:
    # Another automation's notification button publishes nothing.
    assert Automations(HA_FILE).on_action(ACK, "OPEN_DOOR:front") is None


def test_home_assistant_release_needed_is_said() -> None:
    """The file and docs/operations.md say the Home Assistant release it needs: the
    newest one among those that added the filters it uses (`md5`: 2025.4). On an older
    one the tag of an alert id over 64 bytes fails to render, so that alert is never
    notified (nor cleared), and only Home Assistant's log says why."""
    used = ha_filters_used(HA_FILE.read_text())
    assert "md5" in used
    needed = max((HA_FILTERS[f][0] for f in used), key=release)
    said = f"Home Assistant {needed} or later"
    assert said in " ".join(HA_FILE.read_text().replace("#", " ").split()), said
    ops = (REPO / "docs" / "operations.md").read_text()
    assert said in " ".join(ops.split()), f"docs/operations.md: {said}"
