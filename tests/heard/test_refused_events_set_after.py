"""Alert events held by a refusal go out after the active set that already reflected
them: the set must follow them again, or the station keeps what the old events say.

While `alerts/events` is refused the retained `alerts/active` goes out on its own
(test_refused_events_topic.py). Once the ACL is fixed the held events are delivered, in
order, after that newer set; the station applies each event to its tile (its `phase`
replaces the session's, a raise puts the alarm back), so unless the set is published
again after them the tile shows the session as it was at the last old event until the
chair's next change. Found by audit aud30a: the session moved on to OBSERVATION while
the events raised in DOSING were held; after the flush the station showed DOSING, and
nothing corrected it until the chair's set next changed.

And a new active set goes out as it comes, not at the held events' next retry (their
backoff grows to 5-10 s): it waited for it.

Real mosquitto 2.0 with the shipped config and ACL (the events line removed), the daemon
in-process, the station's own model fed with what a station login received.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from monitord.engine.inputs import Ack, SessionCmd
from monitord.models import Kind
from monitord.station.model import StationModel
from tests.acl_kit import SITE, AclMosquitto
from tests.faults.writerkit import reading
from tests.heard.heard_kit import CHAIR, Station, station
from tests.heard.test_refused_events_topic import refusing_events
from tests.heard.test_refused_one_topic import running
from tests.kit import eventually


def last_set(st: Station) -> dict[str, object]:
    got = [p for t, p, _ in st.got if t.endswith(f"{CHAIR}/alerts/active") and p]
    return dict(json.loads(got[-1])) if got else {}


def phase_of(doc: dict[str, object]) -> object:
    session = doc.get("session")
    return session.get("phase") if isinstance(session, dict) else None


async def test_held_events_are_followed_by_the_active_set(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    daemon, acl = refusing_events(tmp_path, broker)
    async with station(broker) as st, running(daemon):
        chair = daemon.chairs[CHAIR]
        for action in ("start", "dose_start"):  # DOSING (session.no_baseline raised)
            cmd = SessionCmd(chair.clock.now(), CHAIR, action, "esketamine")
            assert await chair.command(cmd) is None, action
        # spo2.very_low raised in DOSING (for_s = 1 in this config): its event refused.
        chair.submit(reading(CHAIR, Kind.SPO2, {"spo2_pct": 80.0}))
        await asyncio.sleep(1.2)
        chair.submit(reading(CHAIR, Kind.SPO2, {"spo2_pct": 80.0}))
        await eventually(
            lambda: "delivery.refused" in daemon.alarms.active, 20, "delivery.refused raised"
        )
        await eventually(
            lambda: b"spo2.very_low" in json.dumps(last_set(st)).encode(),
            20,
            "spo2.very_low in the active set while alerts/events is refused",
        )
        # The session moves on while the events are held: the set says OBSERVATION.
        end = SessionCmd(chair.clock.now(), CHAIR, "dose_end")
        assert await chair.command(end) is None
        await eventually(
            lambda: phase_of(last_set(st)) == "observation", 20, "the set saying OBSERVATION"
        )
        assert not st.events(), "an event went out while alerts/events was refused"
        # The ACL fixed and the broker reloaded: the held events go out.
        broker.acl_file.write_text(acl)
        broker.reload()
        await eventually(lambda: daemon.outbox.backlog("mqtt") == 0, 30, "events delivered")
        # A reading after the flush, seen at the station: everything the flush sent on
        # the chair's connection (a set after the events too) came before it.
        chair.submit(reading(CHAIR, Kind.SPO2, {"spo2_pct": 93.0}))
        await eventually(
            lambda: any(t.endswith(f"{CHAIR}/vitals/spo2") and b"93" in p for t, p, _ in st.got),
            20,
            "the reading after the flush at the station",
        )
    assert any(e["event"] == "raised" and e.get("phase") == "dosing" for e in st.events())
    # The station's model, fed what the station received, in order.
    model = StationModel("monitord", SITE)
    for i, (topic, payload, retained) in enumerate(st.got):
        model.apply(topic, payload, None if retained else float(i))
    view = model.chairs[CHAIR]
    shown = (view.session or {}).get("phase")
    assert shown == "observation", (
        f"the station shows the session in {shown!r} after the held events went out, "
        "not 'observation' as the chair's newest active set says (no set after the events)"
    )


async def test_a_new_active_set_does_not_wait_for_the_events_retry(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    # The events' retries back off to 5-10 s; the active set that went out between them
    # waited for the next retry too, so a change of it (an alarm raised, acknowledged)
    # reached the station up to 10 s late while alerts/events was refused.
    daemon, _ = refusing_events(tmp_path, broker)
    async with station(broker) as st, running(daemon):
        chair = daemon.chairs[CHAIR]
        sink = daemon.mqtt
        assert sink is not None
        chair.submit(reading(CHAIR, Kind.SPO2, {"spo2_pct": 80.0}))
        await asyncio.sleep(1.2)  # spo2.very_low: for_s = 1 in this config
        chair.submit(reading(CHAIR, Kind.SPO2, {"spo2_pct": 80.0}))
        await eventually(
            lambda: b"spo2.very_low" in json.dumps(last_set(st)).encode(),
            20,
            "spo2.very_low in the active set while alerts/events is refused",
        )
        # Five refusals: the next retry is 5-10 s away (Backoff(0.5, 10), jittered).
        await eventually(lambda: sink.stats.refused >= 4, 30, "four refusals")
        n = sink.stats.refused
        await eventually(lambda: sink.stats.refused > n, 30, "the fifth refusal")
        n = sink.stats.refused
        ack = Ack(chair.clock.now(), CHAIR, rule="spo2.very_low", by="nurse-1")
        assert await chair.command(ack) is None

        def acked() -> bool:
            alerts = last_set(st).get("alerts")
            return isinstance(alerts, list) and any(a.get("ack") is True for a in alerts)

        await eventually(acked, 20, "the acknowledged alarm in the active set")
        assert sink.stats.refused == n, (
            "the active set after the acknowledgement reached the station only after the "
            f"events' next retry (refusals {n} -> {sink.stats.refused}): it waited for it"
        )
