"""config/nodered/alerts-flow.json in a real Node-RED (tests/forward/nodered_kit.py)
against a real `monitord run` and the shipped broker config (docs/operations.md
"Forwarding alerts"): every raised and escalated alert, of every priority, reaches the
notifier, in order, and nothing else (no acknowledgement, clear or `monitord doctor`
test message); the ACK inject node, given a notification's chair and alert id,
acknowledges that alert on the daemon; and the flow's login leaves the nurses'
wallboard connected.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import aiomqtt

from tests.acl_kit import SITE, AclMosquitto
from tests.forward.forward_kit import (
    BASE,
    CHAIR,
    EVENTS,
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
from tests.forward.nodered_kit import NodeRed, account, flow_nodes, node
from tests.kit import eventually
from tests.servers import TlsMaterial, session_tmpdir

STATUS = f"monitord/{SITE}/stations/{WALLBOARD}"
# A nurse named by the notifier (a pager's or chat's reply sets msg.by).
PAGER_NURSE = "Dan K (pager)"
# After `monitord doctor`, the chair publishes one more raised event: once the notifier
# has it, Node-RED has handled every message before it (one `mqtt in`, in order).
LAST = {"time": "2026-12-04T12:00:00.000Z", "chair": CHAIR, "rule": "spo2.low",
        "event": "raised", "priority": "medium", "kind": "physiological",
        "alert_id": f"{CHAIR}:spo2.low:1", "phase": "idle", "value": {},
        "message": "the last one"}  # fmt: skip


async def test_node_red_forwards_and_acks_on_the_real_daemon(
    tmp_path: Path, tls_material: TlsMaterial
) -> None:
    user = account()
    broker = start_broker(session_tmpdir("mosquitto-fwd-nr"), tls_material, passwords(user))
    (tmp_path / "node-red").mkdir()
    red = NodeRed(tmp_path / "node-red", broker)
    try:
        await run(tmp_path, broker, red, user)
    except AssertionError as e:
        raise AssertionError(f"{e}\nNode-RED's log:\n{red.output()[-3000:]}") from None
    finally:
        red.stop()
        broker.stop()


async def run(tmp_path: Path, broker: AclMosquitto, red: NodeRed, user: str) -> None:
    async with login(broker, WALLBOARD, [f"{BASE}/#", STATUS]) as wall:
        await red.start()  # its login, while the wallboard is up
        with contextlib.suppress(aiomqtt.MqttError):
            await wall.client.publish(STATUS, b'{"state": "online"}', qos=1)
        await eventually(lambda: wall.lost or wall.got, 10, "the wallboard's probe")
        assert not wall.lost, (
            f"Node-RED logging in as {user} took the wallboard's connection "
            f"({WALLBOARD}): the broker's client id is the user name"
        )

        pressed: list[str] = []

        async def press_ack(raised: dict[str, Any]) -> None:
            await eventually(
                lambda: any(n["alert_id"] == raised["alert_id"] for n in red.notified()),
                20,
                f"Node-RED's notification of {raised['rule']}",
            )
            n = next(n for n in red.notified() if n["alert_id"] == raised["alert_id"])
            # The first ACK says who (a notifier that knows the nurse sets msg.by), the
            # others leave `by` as shipped, empty.
            by = PAGER_NURSE if not pressed else ""
            pressed.append(raised["alert_id"])
            await red.inject("ack-in", [
                {"p": "chair", "v": n["chair"], "vt": "str"},
                {"p": "alert_id", "v": n["alert_id"], "vt": "str"},
                {"p": "by", "v": by, "vt": "str"},
            ])  # fmt: skip

        async def nurse_ack(raised: dict[str, Any]) -> None:
            body = {"alert_id": raised["alert_id"], "by": NURSE}
            await wall.client.publish(f"{BASE}/cmd/ack", json.dumps(body).encode(), qos=1)

        async with chair_running(tmp_path, broker) as (cfg, patient):
            await drive(patient, wall.got, press_ack, nurse_ack)
        out = doctor(cfg)
        await eventually(
            lambda: any(e.get("doctor") for e in events(wall.got)),
            20,
            f"monitord doctor's test message on alerts/events; doctor said:\n{out}",
        )
        async with login(broker, CHAIR, []) as chair:
            await chair.client.publish(EVENTS, json.dumps(LAST).encode(), qos=1)
        await eventually(
            lambda: any(n["payload"].endswith("(2026-12-04T12:00:00.000Z)")
                        for n in red.notified()),
            20,
            "the last event notified",
        )  # fmt: skip
        assert not wall.lost
    real = [e for e in events(wall.got) if not e.get("doctor")]
    check(real, red.notified(), wall.got)


def check(
    real: list[dict[str, Any]], notified: list[dict[str, Any]], got: list[tuple[str, bytes, bool]]
) -> None:
    assert real[-1] == LAST
    expected = [e for e in real if e["event"] in ("raised", "escalated")]
    assert {e["priority"] for e in expected} == {"high", "medium", "low"}
    assert any(e["event"] == "escalated" for e in expected)
    assert [n["alert_id"] for n in notified] == [e["alert_id"] for e in expected]
    for n, e in zip(notified, expected, strict=True):
        assert n["chair"] == CHAIR
        assert n["topic"] == f"{e['priority'].upper()} {CHAIR}: {e['rule']}"
        assert n["payload"] == f"{CHAIR} {e['event']}: {e['message']} ({e['time']})"
    # The two ACKs from the inject node: taken (acknowledged, by the flow's name), none
    # refused on cmd/errors.
    acked = [e for e in real if e["event"] == "acknowledged"]
    assert sorted(e["rule"] for e in acked) == [
        "spo2.low", "spo2.very_low", "tech.device_lost", "tech.sensor_off"
    ]  # fmt: skip
    # The ACK given a nurse's name (msg.by) names her; before, every ACK from the flow
    # said `station-nodered`, whoever acknowledged.
    assert sorted(str(e.get("by")) for e in acked) == sorted(
        [NURSE, PAGER_NURSE] + ["station-nodered"] * 2
    )
    errors = [p for t, p, _ in got if t == f"{BASE}/cmd/errors"]
    assert errors == [], f"refused: {errors}"


async def test_node_red_says_when_an_ack_is_not_sent_or_refused(
    tmp_path: Path, tls_material: TlsMaterial
) -> None:
    """The ACK inject node pressed as shipped (no chair, no alert id), and an ACK the
    broker refuses (a site whose ACL block for the flow's account lacks the `cmd/#`
    line): both said in Node-RED's log, where its catch and status nodes see errors.
    Before: the first was sent as `{"alert_id": ""}` to chair-3 (refused on cmd/errors,
    which the flow does not read, or heard by no chair), the second vanished: under MQTT
    3.1.1 the broker acknowledges a publish its ACL refused (docs/mqtt.md)."""
    user = account()
    cut = (user, f"topic write monitord/{SITE}/+/cmd/#")
    broker = start_broker(session_tmpdir("mosquitto-fwd-nr2"), tls_material, passwords(user), cut)
    (tmp_path / "node-red").mkdir()
    red = NodeRed(tmp_path / "node-red", broker)
    try:
        await red.start()
        await red.inject("ack-in", node(flow_nodes(), "ack-in")["props"])
        await eventually(
            lambda: "ACK not sent: it needs msg.chair and msg.alert_id" in red.output(),
            20,
            "an error for the ACK pressed without a chair and an alert id",
        )
        await red.inject("ack-in", [
            {"p": "chair", "v": CHAIR, "vt": "str"},
            {"p": "alert_id", "v": f"{CHAIR}:spo2.low:1", "vt": "str"},
        ])  # fmt: skip
        await eventually(
            lambda: "Not authorized" in red.output(),
            20,
            "an error for the ACK the broker refused",
        )
    finally:
        red.stop()
        broker.stop()


async def test_node_red_gets_the_alerts_raised_while_it_was_down(
    tmp_path: Path, tls_material: TlsMaterial
) -> None:
    """The broker keeps the flow's session (MQTT 5: clean start off, a day's session
    expiry): an alert raised while Node-RED restarts is notified when it is back."""
    user = account()
    broker = start_broker(session_tmpdir("mosquitto-fwd-nr3"), tls_material, passwords(user))
    (tmp_path / "node-red").mkdir()
    red = NodeRed(tmp_path / "node-red", broker)
    try:
        await red.start()
        red.stop()
        async with login(broker, CHAIR, []) as chair:
            await chair.client.publish(EVENTS, json.dumps(LAST).encode(), qos=1)
        await red.start()
        await eventually(
            lambda: [n["alert_id"] for n in red.notified()] == [LAST["alert_id"]],
            20,
            "the alert raised while Node-RED was down, notified once it is back",
        )
    finally:
        red.stop()
        broker.stop()


async def test_node_red_never_forwards_a_doctor_marked_alert_event(
    tmp_path: Path, tls_material: TlsMaterial
) -> None:
    """docs/mqtt.md "The doctor marker": every consumer ignores a message whose JSON has
    `"doctor": true`, the flow included. Before, the flow dropped `monitord doctor`'s
    test message only because it carries no `event`: a marked alert event (a test tool
    exercising the path with a real-looking `raised`) was notified as an alarm."""
    user = account()
    broker = start_broker(session_tmpdir("mosquitto-fwd-nr4"), tls_material, passwords(user))
    (tmp_path / "node-red").mkdir()
    red = NodeRed(tmp_path / "node-red", broker)
    test = {**LAST, "alert_id": f"{CHAIR}:spo2.low:0", "message": "a test", "doctor": True}
    try:
        await red.start()
        # "Connected to broker" comes before the flow's subscription holds, and these
        # events are not retained: rounds (the marked one, then a real one of its own id)
        # until a real one is notified, then one more round, whose marked event surely
        # reached the flow (in order, on a subscription that already held).
        ids: list[str] = []
        async with login(broker, CHAIR, []) as chair:
            for n in range(12):
                real_id = f"{CHAIR}:spo2.low:{n + 1}"
                for body in (test, {**LAST, "alert_id": real_id}):
                    await chair.client.publish(EVENTS, json.dumps(body).encode(), qos=1)
                ids.append(real_id)
                with contextlib.suppress(AssertionError):
                    await eventually(lambda: bool(red.notified()), 3, "a real event notified")
                if red.notified():
                    break
            last = {**LAST, "alert_id": f"{CHAIR}:spo2.low:99"}
            for body in (test, last):
                await chair.client.publish(EVENTS, json.dumps(body).encode(), qos=1)
        await eventually(
            lambda: last["alert_id"] in [n["alert_id"] for n in red.notified()],
            20,
            "the last event notified",
        )
        notified = [n["alert_id"] for n in red.notified()]
        assert test["alert_id"] not in notified, notified
        assert set(notified) <= {*ids, last["alert_id"]}, notified
    finally:
        red.stop()
        broker.stop()
