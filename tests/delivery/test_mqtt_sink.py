"""MQTT sink against a real mosquitto (plain, and TLS + password)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from helpers import alert, reading

from monitord import __version__
from monitord.config import MqttConfig, StorageConfig, TlsConfig
from monitord.delivery import DeliveryWatch
from monitord.models import iso
from monitord.outbox import Outbox
from monitord.sinks.mqtt import AckCommand, Command, MqttSink, SessionCommand
from monitord.techalarm import TechAlarms
from tests.conftest import TLS_USERS
from tests.kit import Observer, eventually
from tests.servers import Mosquitto, TlsMaterial

HERE = Path(__file__).resolve().parent
SITE = "site-a"


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    p = tmp_path / "outbox.sqlite"
    return Outbox(p, StorageConfig(path=p))


@contextlib.asynccontextmanager
async def running(sink: MqttSink) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(sink.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def cfg(broker: Mosquitto, prefix: str, **kw: Any) -> MqttConfig:
    return MqttConfig(host=broker.host, port=broker.port, prefix=prefix, timeout_s=2, **kw)


async def test_broker_outage_events_once_in_order_and_delivery_alarm(
    mosquitto: Mosquitto, mqtt_prefix: str, outbox: Outbox
) -> None:
    alarms: list[bool] = []
    cmds: list[tuple[str, Command]] = []

    async def on_cmd(chair: str, cmd: Command) -> str | None:
        cmds.append((chair, cmd))
        return None

    sink = MqttSink(
        cfg(mosquitto, mqtt_prefix, delivery_alarm_after_s=0.5),
        SITE,
        ["chair-1"],
        outbox,
        on_cmd,
        backoff_base_s=0.1,
        backoff_cap_s=0.5,
    )
    # The delivery alarm is the daemon's technical alarm (monitord/delivery.py), fed by the
    # sink's link state; here it watches the active set this test publishes.
    active_now: list[dict[str, Any]] = []
    tech = TechAlarms()
    watch = DeliveryWatch(0.5, sink, lambda: bool(active_now), tech, alarms.append)
    sink.on_link = watch.poke  # as the daemon wires it (monitord/daemon.py)
    base = f"{mqtt_prefix}/{SITE}/chair-1"
    events = [alert(i) for i in range(30)]
    async with Observer(mosquitto, [f"{base}/alerts/#", f"{base}/status"]) as obs, running(sink):
        watcher = asyncio.create_task(watch.run())
        await eventually(lambda: sink.connected)
        outbox.add_alert_events(events[:10])
        outbox.commit()
        sink.wake()
        await eventually(lambda: len(obs.of("alerts/events")) == 10)
        active = [{"alert_id": "a-00002", "priority": "high", "state": "active", "ack": False}]
        sink.set_active("chair-1", active)
        active_now[:] = active
        await eventually(lambda: obs.of("alerts/active"))

        await asyncio.to_thread(mosquitto.stop)
        # until the sink has seen the connection go, a vitals sample may still be queued for
        # a publish that will not happen: count drops from when it knows
        await eventually(lambda: not sink.connected, what="sink saw the broker go")
        for e in events[10:]:  # appended while the broker is down
            outbox.add_alert_events([e])
            outbox.commit()
            sink.wake()
            sink.publish_vitals(reading(1))  # superseded ones dropped, counted, no exception
        await eventually(lambda: alarms == [True], what="delivery alarm raised")
        assert watch.on and outbox.backlog("mqtt") == 20
        assert "delivery" in tech.active  # shown by `monitord status` (the side file)
        # One kind, 20 times: 19 superseded; the newest waits for the broker (docs/mqtt.md,
        # tests/delivery/test_vitals_after_outage.py).
        assert sink.stats.vitals_dropped == 19

        await asyncio.to_thread(mosquitto.start)
        await eventually(lambda: outbox.backlog("mqtt") == 0)
        await eventually(lambda: alarms == [True, False], what="delivery alarm cleared")
        await eventually(lambda: len(obs.of("alerts/events")) >= 30)
        await eventually(lambda: len(obs.of("alerts/active")) >= 2)  # republished
        watcher.cancel()
        assert "delivery" not in tech.active and "delivery" in tech.cleared
    got = obs.of("alerts/events")
    assert got == [e.to_mqtt() for e in events]  # once each, in order, original time/id
    assert got[15]["time"] == iso(events[15].t) and got[15]["alert_id"] == "a-00015"
    assert obs.of("alerts/active")[-1]["alerts"] == active
    assert cmds == []


async def test_late_subscriber_sees_retained_and_last_will_on_kill(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "mqtt_child.py"),
        mosquitto.host,
        str(mosquitto.port),
        mqtt_prefix,
        str(tmp_path / "child.sqlite"),
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(20):
            assert (await proc.stdout.readline()).strip() == b"connected"
        base = f"{mqtt_prefix}/{SITE}/chair-1"
        topics = [f"{base}/status", f"{base}/alerts/active"]
        # "connected" comes before the status and the active set are published: a first
        # subscriber may get them live (so under load in CI). Once one has seen both, the
        # broker holds them, and the late subscriber below must get them retained.
        async with Observer(mosquitto, topics) as first:
            await eventually(lambda: first.of("status") and first.of("alerts/active"))
        async with Observer(mosquitto, topics) as obs:
            await eventually(lambda: obs.of("status") and obs.of("alerts/active"))
            (status,) = obs.of("status")
            assert status["state"] == "online" and status["version"] == __version__
            assert all(r for t, _, r in obs.msgs)  # both came retained to a late subscriber
            assert obs.of("alerts/active")[0]["alerts"][0]["alert_id"] == "a-1"
            proc.kill()  # SIGKILL: no clean disconnect, so the broker sends the Last Will
            await proc.wait()
            await eventually(lambda: len(obs.of("status")) == 2)
            assert obs.of("status")[1]["state"] == "offline"
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_commands_from_mosquitto_pub(
    mosquitto: Mosquitto, mqtt_prefix: str, outbox: Outbox
) -> None:
    cmds: list[tuple[str, Command]] = []

    async def on_cmd(chair: str, cmd: Command) -> str | None:
        cmds.append((chair, cmd))
        if isinstance(cmd, AckCommand) and cmd.alert_id == "no-such":
            return "no active alert no-such"
        return None

    sink = MqttSink(cfg(mosquitto, mqtt_prefix), SITE, ["chair-1", "chair-2"], outbox, on_cmd)
    base = f"{mqtt_prefix}/{SITE}/chair-2"

    async def pub(topic: str, payload: str) -> None:
        p = await asyncio.create_subprocess_exec(
            "mosquitto_pub",
            *mosquitto.pub_args(),
            "-q",
            "1",
            "-t",
            f"{base}/{topic}",
            "-m",
            payload,
        )
        async with asyncio.timeout(10):
            assert await p.wait() == 0

    async with Observer(mosquitto, [f"{base}/cmd/errors"]) as obs, running(sink) as task:
        await eventually(lambda: sink.subscribed)
        await pub("cmd/ack", '{"alert_id": "a-7", "by": "nurse-3"}')
        await pub("cmd/session", '{"action": "start", "protocol": "esketamine"}')
        await eventually(lambda: len(cmds) == 2)
        assert cmds == [
            ("chair-2", AckCommand(alert_id="a-7", by="nurse-3")),
            ("chair-2", SessionCommand(action="start", protocol="esketamine")),
        ]
        await pub("cmd/ack", "{not json")
        await pub("cmd/ack", '{"alert_id": 5, "by": "x"}')
        await pub("cmd/session", '{"action": "explode"}')
        await pub("cmd/ack", '{"alert_id": "a-7", "by": "n", "extra": 1}')
        await pub("cmd/ack", '{"alert_id": "no-such", "by": "n"}')  # handler says no
        await eventually(lambda: len(obs.of("cmd/errors")) == 5)
        assert len(cmds) == 3  # only the well-formed no-such ack reached the handler
        errs = [e["error"] for e in obs.of("cmd/errors")]
        assert "not JSON" in errs[0]
        assert errs[1].startswith("alert_id:")
        assert errs[2].startswith("action:")
        assert "extra: unknown field" in errs[3]
        assert errs[4] == "no active alert no-such"
        assert all("\n" not in e for e in errs)
        # still serving after the garbage
        await pub("cmd/ack", '{"alert_id": "a-8", "by": "nurse-3"}')
        await eventually(lambda: len(cmds) == 4)
        assert not task.done()


async def test_tls_with_password(
    mosquitto_tls: Mosquitto,
    tls_material: TlsMaterial,
    mqtt_prefix: str,
    outbox: Outbox,
    tmp_path: Path,
) -> None:
    pw = tmp_path / "mqtt.pass"
    pw.write_text(TLS_USERS["monitord"] + "\n")
    c = cfg(
        mosquitto_tls,
        mqtt_prefix,
        tls=TlsConfig(ca_file=tls_material.ca_file),
        username="monitord",
        password_file=pw,
    )

    async def on_cmd(chair: str, cmd: Command) -> str | None:
        return None

    sink = MqttSink(c, SITE, ["chair-1"], outbox, on_cmd)
    outbox.add_alert_events([alert(1)])
    outbox.commit()
    base = f"{mqtt_prefix}/{SITE}/chair-1"
    obs_kw: dict[str, Any] = {
        "username": "nurse",
        "password": TLS_USERS["nurse"],
        "tls_params": aiomqtt.TLSParameters(ca_certs=str(tls_material.ca_file)),
    }
    async with Observer(mosquitto_tls, [f"{base}/#"], **obs_kw) as obs, running(sink):
        await eventually(lambda: obs.of("alerts/events") and obs.of("status"))
    assert obs.of("alerts/events") == [alert(1).to_mqtt()]
    assert outbox.backlog("mqtt") == 0


# Where the refused login came from, as its advice names it: [mqtt]'s file; the
# environment variable that replaces it (the daemon reads that, not the file); a chair's
# own login. Before, the advice named [mqtt]'s keys in all three.
LOGINS = {
    "mqtt-file": "check mqtt.username and mqtt.password_file",
    "environment": "check mqtt.username and the password in MONITORD_MQTT_PASSWORD (it replaces",
    "chair-own": "check chair chair-1's mqtt_username and mqtt_password_file",
}


@pytest.mark.parametrize("login", list(LOGINS))
async def test_wrong_password_is_one_clear_line_and_backoff(
    mosquitto_tls: Mosquitto,
    tls_material: TlsMaterial,
    mqtt_prefix: str,
    outbox: Outbox,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    login: str,
) -> None:
    pw = tmp_path / "mqtt.pass"
    pw.write_text("wrong\n")
    monkeypatch.delenv("MONITORD_MQTT_PASSWORD", raising=False)
    if login == "environment":
        pw.write_text(TLS_USERS["monitord"])  # right, but the variable takes its place
        monkeypatch.setenv("MONITORD_MQTT_PASSWORD", "wrong")
    c = cfg(
        mosquitto_tls,
        mqtt_prefix,
        tls=TlsConfig(ca_file=tls_material.ca_file),
        username="monitord",
        password_file=pw if login != "chair-own" else None,
    )
    own: dict[str, tuple[str | None, Path | None, str | None]] | None = (
        {"chair-1": ("monitord", pw, None)} if login == "chair-own" else None
    )

    async def on_cmd(chair: str, cmd: Command) -> str | None:
        return None

    sink = MqttSink(
        c, SITE, ["chair-1"], outbox, on_cmd, backoff_base_s=0.05, backoff_cap_s=0.2, logins=own
    )
    caplog.set_level(logging.DEBUG, logger="monitord")
    async with running(sink) as task:
        await eventually(
            lambda: sum("repeat" in r.getMessage() for r in caplog.records) >= 2,
            what="several retries",
        )
        assert not task.done()  # no crash, it keeps trying
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1  # once, not once per retry
    msg = errors[0].getMessage()
    assert "refused the login" in msg and LOGINS[login] in msg and "\n" not in msg
    assert not sink.connected
