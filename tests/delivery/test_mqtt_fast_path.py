"""Issue 20: an alarm is published from its commit (sinks/mqtt_events.py), against a real
mosquitto. The sink gets what the daemon's commit callback hands the hub: the committed
batch with its alert events as stored records (`CommittedBatch.stored`).

- The event goes out without the tx task querying the outbox for it (before: the commit
  woke the tx task, which fetched it; here that fetch finds nothing, so before the
  change the event never arrived).
- Order per chair and "once per connection" hold when alarms are committed while a
  backlog from an outage is being sent, and when the tx task fetched an event whose
  commit callback had not yet run (the commit returned just before the fetch).
- A crash between the commit and the publish, or between the publish and its PUBACK
  mark: the outbox still holds the event, and the next start sends it, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from helpers import alert, running

from monitord.config import MqttConfig, StorageConfig
from monitord.hub import CommittedBatch
from monitord.models import AlertEvent
from monitord.outbox import Outbox, Sink, StoredAlert, StoredRecord
from monitord.sinks.mqtt import Command, MqttSink
from tests.kit import Observer, eventually
from tests.servers import Mosquitto

SITE = "site-a"


async def _no_cmd(chair: str, cmd: Command) -> str | None:
    return None


def make_sink(broker: Mosquitto, prefix: str, outbox: Outbox) -> MqttSink:
    cfg = MqttConfig(host=broker.host, port=broker.port, prefix=prefix, timeout_s=2)
    return MqttSink(cfg, SITE, ["chair-1"], outbox, _no_cmd, backoff_base_s=0.1,
                    backoff_cap_s=0.5)  # fmt: skip


def commit(outbox: Outbox, events: list[AlertEvent]) -> list[StoredAlert]:
    stored = outbox.add_alerts(events)
    outbox.commit()
    return stored


def told(sink: MqttSink, stored: list[StoredAlert]) -> None:
    """The commit's callback: the hub hands the committed batch to the sink."""
    sink.on_batch(CommittedBatch("chair-1", stored[-1].event.t, events=[s.event for s in stored],
                                 stored=stored))  # fmt: skip


class Fetches:
    """Counts the MQTT sink's outbox queries; from `blind_after` on they find nothing."""

    def __init__(self, outbox: Outbox, blind_after: int | None = None) -> None:
        self.n = 0
        self._fetch = outbox.fetch
        self.blind_after = blind_after
        outbox.fetch = self  # type: ignore[method-assign]  # a spy standing in for the method

    def __call__(
        self,
        sink: Sink,
        limit: int,
        chair: str | None = None,
        after: int = 0,
        budget_s: float | None = None,
    ) -> list[StoredRecord]:
        if sink != "mqtt":
            return self._fetch(sink, limit, chair, after, budget_s)
        self.n += 1
        if self.blind_after is not None and self.n > self.blind_after:
            return []
        return self._fetch(sink, limit, chair, after, budget_s)


async def test_an_alarm_goes_out_from_its_commit_without_an_outbox_query(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", StorageConfig(path=tmp_path / "o.sqlite"))
    fetches = Fetches(outbox, blind_after=1)  # the first (at connect) sees the outbox
    sink = make_sink(mosquitto, mqtt_prefix, outbox)
    base = f"{mqtt_prefix}/{SITE}/chair-1"
    async with Observer(mosquitto, [f"{base}/alerts/events"]) as obs, running(sink.run):
        await eventually(lambda: sink.connected and fetches.n >= 1, what="connected, fetched")
        events = [alert(0), alert(1)]
        told(sink, commit(outbox, events))
        await eventually(lambda: len(obs.of("alerts/events")) == 2, within_s=10,
                         what="the alarm published from its commit")  # fmt: skip
        # Marked delivered after the broker's PUBACK, as a fetched event is.
        await eventually(lambda: outbox.backlog("mqtt") == 0, what="marked delivered")
        assert sink.stats.events_sent == 2
    assert obs.of("alerts/events") == [e.to_mqtt() for e in events]


async def test_order_and_once_with_a_backlog_and_a_fetch_ahead_of_the_callback(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", StorageConfig(path=tmp_path / "o.sqlite"))
    sink = make_sink(mosquitto, mqtt_prefix, outbox)
    base = f"{mqtt_prefix}/{SITE}/chair-1"
    events = [alert(i) for i in range(200)]
    async with Observer(mosquitto, [f"{base}/alerts/events"]) as obs:
        # An outage: 150 events committed while the broker is down (more than one fetch).
        await asyncio.to_thread(mosquitto.stop)
        async with running(sink.run):
            for e in events[:150]:
                told(sink, commit(outbox, [e]))
            await asyncio.to_thread(mosquitto.start)
            # Alarms keep coming while the backlog goes out: each is committed and handed
            # over at once; the sink sends them only behind every older one.
            for e in events[150:180]:
                told(sink, commit(outbox, [e]))
                await asyncio.sleep(0.01)
            await eventually(lambda: len(obs.of("alerts/events")) >= 180, within_s=20,
                             what="backlog and new alarms")  # fmt: skip
            # A commit that returned just before a fetch: the tx task sends the event
            # first; the commit's callback then hands it over too: not sent again.
            stored = commit(outbox, [events[180]])
            sink.wake("chair-1")
            await eventually(lambda: len(obs.of("alerts/events")) >= 181, what="fetched")
            told(sink, stored)
            for e in events[181:]:
                told(sink, commit(outbox, [e]))
            await eventually(lambda: len(obs.of("alerts/events")) >= 200, what="the rest")
            await eventually(lambda: outbox.backlog("mqtt") == 0, what="all marked")
            await asyncio.sleep(0.3)  # a duplicate would be here by now
    assert obs.of("alerts/events") == [e.to_mqtt() for e in events]  # once each, in order


async def test_a_crash_around_the_publish_sends_the_event_after_the_restart(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    path = tmp_path / "o.sqlite"
    base = f"{mqtt_prefix}/{SITE}/chair-1"
    events = [alert(i) for i in range(4)]
    async with Observer(mosquitto, [f"{base}/alerts/events"]) as obs:
        first = Outbox(path, StorageConfig(path=path))
        sink = make_sink(mosquitto, mqtt_prefix, first)
        task = asyncio.create_task(sink.run())
        try:
            await eventually(lambda: sink.connected)
            await asyncio.sleep(0.3)  # the first fetch: caught up
            told(sink, commit(first, events[:1]))
            await eventually(lambda: first.backlog("mqtt") == 0, what="event 0 delivered")
            # Published from its commit; the daemon dies before the PUBACK is marked (the
            # cancel comes in the same loop turn as the write) ...
            told(sink, commit(first, events[1:2]))
            # ... and after event 2's commit returned, before its callback ran.
            commit(first, events[2:3])
            assert first.backlog("mqtt") == 2
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        first.close()
        second = Outbox(path, StorageConfig(path=path))  # the restart
        sink = make_sink(mosquitto, mqtt_prefix, second)
        async with running(sink.run):
            await eventually(lambda: second.backlog("mqtt") == 0, what="sent after restart")
            told(sink, commit(second, events[3:]))
            await eventually(lambda: second.backlog("mqtt") == 0, what="the next alarm")
            await eventually(lambda: len(obs.of("alerts/events")) >= 5)
    got = obs.of("alerts/events")
    # Event 1 may have reached the broker before the crash: at least once, by alert_id
    # and event a duplicate (design.md section 6); nothing missing, order kept.
    once = [e for i, e in enumerate(got) if e not in got[:i]]
    assert once == [e.to_mqtt() for e in events]
    assert got[0] == events[0].to_mqtt() and got[-1] == events[3].to_mqtt()
