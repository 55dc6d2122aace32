"""A bug raised in one chair's batch processing: what it does to that chair and the others.

Left open by the last session: the MQTT sink reads a chair's connection one message at a
time and waits on each command's answer (`Daemon.on_command` -> `ChairRuntime.command`), a
future the chair task sets once the command's batch is committed. A batch whose `process`
raised (a bug) never set it: the supervisor logged the crash and restarted the chair task
a second later, its alarms evaluated again, but that chair's connection waited on the lost
answer for good. The nurse's command was never answered, and no later command or receipt
of that chair was read (until the connection dropped): an ACK pressed at the station did
nothing, and every receipt of the chair's alarms went unread, as if no station showed them
(what `delivery.unheard` is raised for). The other chairs, on connections of their own,
went on.

Now the chair task answers the commands of the batch that raised before the crash is
handed to the supervisor: an internal error on `cmd/errors` (no `code`: no refusal the
engine made) saying whether it was applied is unknown.

Its alarms: a batch that raised after the engine had raised an alert in it (a bug in its
timers, fed a crisis BP) lost that alert's events, while the engine held it active. The
restarted task showed nothing new until some later event of the chair showed its set: a
`bp.crisis` stayed off the station, `monitord status` and the annunciator (until its first
escalation, 120 s on), with one ERROR line in the journal (no technical alarm: that needs
3 crashes). Now the restart's first turn stores the engine's snapshot and shows its active
set, and stores and publishes the alert events the engine gave in the batch before it
raised (its `raised` was lost: no InfluxDB row, no `alerts/events`, no receipt waited for).
A command the engine had taken in it (an ACK: the alarm silenced) is answered as applied,
not as an internal error whose effect is unknown.

The seam: chair-a's engine `feed_checked` replaced, on the running in-process daemon, by
one that raises on the first command it is fed (as a bug in a command's handling would);
the real daemon, supervisor, store, mosquitto and MQTT clients around it. In the second
test, its `advance` raising once the engine has an alert active (the crisis BP fed in that
batch), on a daemon without MQTT.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from monitord.chair import LinkChange
from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.engine.inputs import Ack, EngineInput
from monitord.hub import CommittedBatch
from monitord.models import AlertEvent, Kind, Refusal
from monitord.storebatch import NOT_STORED
from tests.faults.writerkit import reading, two_chairs
from tests.faults.writerkit import running as running_alone
from tests.kit import Observer, eventually
from tests.servers import Mosquitto

SITE = "batch-crash"


@contextlib.asynccontextmanager
async def running(daemon: Daemon) -> AsyncIterator[None]:
    task = asyncio.create_task(daemon.run())
    try:
        await eventually(
            lambda: daemon.mqtt is not None and daemon.mqtt.subscribed,
            20,
            "the daemon running, its commands subscribed",
        )
        yield
    finally:
        daemon.stop_event.set()
        await asyncio.wait_for(task, 30)


async def test_a_batch_that_raises_answers_its_command_and_the_chair_reads_on(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mqtt = f'host = "{mosquitto.host}"\nport = {mosquitto.port}\nprefix = "{mqtt_prefix}"'
    alerts = '"tech.device_lost" = { after_s = 0.5 }\n'
    cfg = loads_config(two_chairs(tmp_path, SITE, mqtt=mqtt, alerts=alerts))
    daemon = Daemon(cfg, restart_backoff_s=(0.05, 0.2))
    a, b = daemon.chairs["chair-a"], daemon.chairs["chair-b"]
    base = f"{mqtt_prefix}/{SITE}"
    engine = a.engine
    real_feed = engine.feed_checked
    raised: list[EngineInput] = []

    def feed_checked(ev: EngineInput) -> tuple[list[AlertEvent], str | None]:
        if isinstance(ev, Ack) and not raised:
            raised.append(ev)
            raise RuntimeError("engine bug on this command")
        return real_feed(ev)

    caplog.set_level(logging.INFO, "monitord")
    errors = [f"{base}/chair-a/cmd/errors", f"{base}/chair-b/cmd/errors"]
    async with Observer(mosquitto, errors) as obs, running(daemon):
        assert daemon.supervisor is not None
        task = daemon.supervisor.tasks["chair:chair-a"]
        engine.feed_checked = feed_checked  # type: ignore[method-assign]

        def answers(chair: str) -> list[dict[str, Any]]:
            return [p for t, p, _ in obs.msgs if t == f"{base}/{chair}/cmd/errors"]

        async with aiomqtt.Client(mosquitto.host, mosquitto.port, timeout=10) as station:

            async def ack(chair: str, alert_id: str) -> None:
                body = json.dumps({"alert_id": alert_id, "by": "nurse-1"}).encode()
                await station.publish(f"{base}/{chair}/cmd/ack", body, qos=1)

            await ack("chair-a", "chair-a:spo2.low:1")
            await eventually(lambda: raised and task.restarts == 1, 20, "the crash")
            # The command of the batch that raised is answered (before: never).
            await eventually(lambda: answers("chair-a"), 20, "the crashed command answered")
            (first,) = answers("chair-a")
            assert first["error"].startswith("internal error: chair-a's task failed "), first
            assert "RuntimeError: engine bug on this command" in first["error"], first
            assert "whether it was applied is unknown" in first["error"], first
            assert "chair-a:spo2.low:1" in first["payload"] and "code" not in first, first

            # The chair's connection reads on: a later command is answered by the engine
            # (an ACK of no active alert), and a receipt is taken.
            await ack("chair-a", "chair-a:spo2.low:2")
            await eventually(lambda: len(answers("chair-a")) == 2, 20, "the next command")
            assert "chair-a:spo2.low:2" in answers("chair-a")[1]["payload"]
            assert "internal" not in answers("chair-a")[1]["error"]
            received = daemon.receipts.received
            receipt = {"alert_id": "chair-a:spo2.low:1", "event": "raised", "station": "s1"}
            await station.publish(
                f"{base}/chair-a/alerts/receipts", json.dumps(receipt).encode(), qos=1
            )
            await eventually(lambda: daemon.receipts.received > received, 20, "the receipt")

            # The other chair was never held up.
            await ack("chair-b", "chair-b:spo2.low:3")
            await eventually(lambda: answers("chair-b"), 20, "chair-b's command answered")

        # The restarted chair task evaluates alarms again.
        a.submit(LinkChange("monitor", False, a.clock.now(), "unplugged"))
        await eventually(lambda: bool(a.active), 20, "chair-a's tech.device_lost")
        assert not b.active
        # Said loud: the crash at ERROR with its traceback, the command's answer too.
        crash = [r for r in caplog.records if "task chair:chair-a: crashed" in r.getMessage()]
        assert crash and crash[0].levelno == logging.ERROR and crash[0].exc_info, caplog.text
        assert task.state == "running"


async def test_an_alarm_raised_in_a_batch_that_raised_shows_after_the_restart(
    tmp_path: Path,
) -> None:
    daemon = Daemon(loads_config(two_chairs(tmp_path, SITE)), restart_backoff_s=(0.05, 0.2))
    shown: list[tuple[list[str], bool]] = []  # chair-a's active sets as shown, durable
    events: list[tuple[str, str, bool]] = []  # chair-a's events as published, durable

    def listener(b: CommittedBatch) -> None:
        if b.chair == "chair-a" and b.active is not None:
            shown.append(([str(x["rule"]) for x in b.active], b.durable))
        events.extend((e.rule, e.event, b.durable) for e in b.events if e.chair == "chair-a")

    daemon.hub.subscribe(listener, "test")
    async with running_alone(daemon):
        assert daemon.supervisor is not None
        task = daemon.supervisor.tasks["chair:chair-a"]
        a = daemon.chairs["chair-a"]
        engine = a.engine
        real_advance = engine.advance
        raised: list[float] = []

        def advance(t: float, chair: str | None = None, strict: bool = False) -> list[AlertEvent]:
            # After the crisis BP was fed in this batch: its `raised` is in the batch.
            if engine.active("chair-a") and not raised:
                raised.append(t)
                raise RuntimeError("engine bug in its timers")
            return real_advance(t, chair, strict)

        engine.advance = advance  # type: ignore[method-assign]
        a.submit(reading("chair-a", Kind.BP, {"sys_mmHg": 210, "dia_mmHg": 100}))
        await eventually(lambda: raised and task.restarts == 1, 20, "the crash")
        await eventually(lambda: a.active, 20, "the crisis shown after the restart")
        assert [x["rule"] for x in a.active] == ["bp.crisis"], a.active
        await eventually(lambda: (["bp.crisis"], True) in shown, 20, "its set stored, shown")
        stored = daemon.outbox.get_state("engine/chair-a") or {}
        assert "bp.crisis" in str(stored), stored
        # Its `raised` is stored and published too (design.md: alert events are never
        # dropped): what InfluxDB, `alerts/events` and the receipt wait (`delivery.unheard`)
        # go by. Before: lost with the batch, the set alone shown.
        await eventually(lambda: ("bp.crisis", "raised", True) in events, 20, "its raised")


async def test_an_ack_applied_before_its_batch_raised_is_answered_applied(
    tmp_path: Path,
) -> None:
    """The engine took a nurse's ACK (the alarm silenced), then raised later in that batch:
    the ACK was answered "internal error ... whether it was applied is unknown", a refusal
    to the station, though the restart stored the engine's snapshot with the alarm
    acknowledged; its `acknowledged` event was lost. Now it is answered as applied, not
    yet stored (`not_stored`: done, to the station), and the event is stored at the restart.
    """
    daemon = Daemon(loads_config(two_chairs(tmp_path, SITE)), restart_backoff_s=(0.05, 0.2))
    shown: list[tuple[list[tuple[str, bool]], bool]] = []  # chair-a's sets: (rule, ack)
    events: list[tuple[str, str, bool]] = []

    def listener(b: CommittedBatch) -> None:
        if b.chair == "chair-a" and b.active is not None:
            shown.append(([(str(x["rule"]), bool(x.get("ack"))) for x in b.active], b.durable))
        events.extend((e.rule, e.event, b.durable) for e in b.events if e.chair == "chair-a")

    daemon.hub.subscribe(listener, "test")
    async with running_alone(daemon):
        assert daemon.supervisor is not None
        task = daemon.supervisor.tasks["chair:chair-a"]
        a = daemon.chairs["chair-a"]
        a.submit(reading("chair-a", Kind.BP, {"sys_mmHg": 210, "dia_mmHg": 100}))
        await eventually(lambda: ("bp.crisis", "raised", True) in events, 20, "the crisis")
        (crisis,) = a.active
        engine = a.engine
        real_advance = engine.advance
        raised: list[float] = []

        def advance(t: float, chair: str | None = None, strict: bool = False) -> list[AlertEvent]:
            # After the ACK was applied in this batch.
            if any(x.get("ack") for x in engine.active("chair-a")) and not raised:
                raised.append(t)
                raise RuntimeError("engine bug in its timers")
            return real_advance(t, chair, strict)

        engine.advance = advance  # type: ignore[method-assign]
        ack = Ack(a.clock.now(), "chair-a", alert_id=str(crisis["alert_id"]), by="nurse-1")
        answer = await asyncio.wait_for(a.command(ack), 20)
        assert raised and task.restarts == 1
        assert isinstance(answer, Refusal) and answer.code == NOT_STORED, answer
        assert answer.startswith("applied, but not yet stored: chair-a's task failed"), answer
        assert "RuntimeError: engine bug in its timers" in answer, answer
        await eventually(lambda: ("bp.crisis", "acknowledged", True) in events, 20, "its event")
        assert ([("bp.crisis", True)], True) in shown, shown
