"""A Pi moved to another chair: its config's chair id edited (chair-1 -> chair-2, chair-2's
Pi broke) and the daemon restarted, under the shipped broker config and ACL (user name =
chair id). A real `monitord run`, a real mosquitto with config/mosquitto/monitord.acl, a
Masimo oximeter on a pty.

Before: the alert events chair-1 had not delivered when the edit came (the broker was
away) stayed queued for MQTT for ever: the MQTT sink drains per configured chair, so no
connection ever fetched them (and chair-2's login may not publish under chair-1 anyway);
`monitord status` showed the backlog and its age growing every day, and nothing said why.
Now the start releases them from the MQTT queue and says so in one WARNING line naming the
chair and the count; the records stay in the store (reports).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.acl_kit import SITE, AclMosquitto
from tests.e2e.e2e_kit import DaemonProcess, Store
from tests.heard.heard_kit import (
    Station,
    backlog_of,
    chair_config,
    raise_queued,
    station,
    status_text,
)
from tests.kit import eventually


@dataclass
class Moved:
    """What a Pi moved from chair-1 to chair-2 left: see `move_pi`."""

    store: Store
    queued: int  # chair-1's alert events queued for MQTT at its stop
    raised: list[dict[str, Any]]
    left_after_start: int  # chair-1's MQTT queue once chair-2 is online and serving
    log: str  # the second run's
    station: Station
    status: str  # `monitord status --db` after the second run


async def move_pi(tmp_path: Path, broker: AclMosquitto, reached: bool = False) -> Moved:
    """chair-1's run raises spo2.very_low with the broker away (still active at its stop),
    then the same Pi and store run as chair-2 with the broker back, watched by station-1.
    `reached`: chair-1 ran with the broker there first (a run of its own, up to its
    subscription), so the broker keeps its retained status."""
    store = Store(tmp_path / "outbox.sqlite")
    if reached:
        once = DaemonProcess(chair_config(tmp_path, broker, "chair-1"), tmp_path / "once.log")
        once.start()
        try:
            await eventually(lambda: "subscribed to" in once.output(), 30, "chair-1 on the broker")
        finally:
            assert once.stop() == 0, once.output()
    broker.stop()
    first = DaemonProcess(chair_config(tmp_path, broker, "chair-1"), tmp_path / "first.log")
    await raise_queued(tmp_path, store, first, "chair-1")
    queued = backlog_of(store, "chair-1")
    raised = [e for e in store.alert_events() if e["event"] == "raised"]
    assert raised and all(e["chair"] == "chair-1" for e in raised), store.alert_events()
    assert not any(e["event"] == "cleared" for e in store.alert_events())  # active at stop

    # The Pi now serves chair-2; the broker is back.
    broker.start()
    second = DaemonProcess(chair_config(tmp_path, broker, "chair-2"), tmp_path / "second.log")
    async with station(broker) as st:
        second.start()
        try:
            await eventually(
                lambda: any(
                    t == f"monitord/{SITE}/chair-2/status" and b'"online"' in p
                    for t, p, _r in st.got
                ),
                30,
                "chair-2 online",
            )
            await eventually(
                lambda: any(t == f"monitord/{SITE}/chair-2/alerts/active" for t, _p, _r in st.got),
                30,
                "chair-2's active set",
            )
            # chair-2 is connected and serving: nothing of chair-1 can go out any more.
            left = backlog_of(store, "chair-1")
        finally:
            assert second.stop() == 0, second.output()
    status = await asyncio.to_thread(status_text, tmp_path / "outbox.sqlite")
    return Moved(store, queued, raised, left, second.output(), st, status)


async def test_old_chairs_undelivered_alerts_are_released_and_said(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    m = await move_pi(tmp_path, broker)
    assert m.left_after_start == 0, m.log
    line = next((ln for ln in m.log.splitlines() if "of chair 'chair-1'" in ln), "")
    assert "WARNING" in line and f"{m.queued} alert event(s)" in line, m.log
    assert "no longer has" in line and "A Pi moved to another chair" in line, line
    # Kept in the store for reports, and nothing of chair-1 published under chair-2.
    assert [e for e in m.store.alert_events() if e["event"] == "raised"] == m.raised
    assert not m.station.events("chair-1") and all(
        e.get("chair") == "chair-2" for e in m.station.events("chair-2")
    )
    # chair-1's alarm (still active at its stop) is not resumed as chair-2's: the engine
    # snapshot is the chair id's, and the patient did not move with the Pi.
    topic = f"monitord/{SITE}/chair-2/alerts/active"
    sets = [json.loads(p) for t, p, _r in m.station.got if t == topic]
    assert sets and all(s["alerts"] == [] for s in sets), sets
    assert "outbox mqtt: 0 pending" in m.status


async def test_status_says_the_old_chairs_row_is_not_live(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    """Before: `monitord status` on the moved Pi listed chair-1 with `ALERT high
    spo2.very_low` as any chair of the Pi, for ever (its last state row), nothing saying
    that no daemon runs that id here any more. Now its block says so, first."""
    m = await move_pi(tmp_path, broker)
    blocks = {b.split()[0]: b for b in m.status.split("\nchair ")[1:]}
    old, new = blocks["chair-1"], blocks["chair-2"]
    assert "spo2.very_low" in old, m.status  # its last state, still shown
    note = "NOT IN THE DAEMON'S CONFIG (chair id changed or removed)"
    assert note in old and old.index(note) < old.index("ALERT"), m.status
    assert note not in new and "active alerts: none" in new, m.status


async def test_start_says_the_old_chairs_retained_alarm_stays_on_the_broker(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    """Before: the first start as chair-2 said nothing of chair-1 (when its queue was
    empty, nothing at all), while every station went on showing chair-1 OFFLINE with
    spo2.very_low. Now one WARNING names it and its alarms, the first start after the
    edit only (the run after it names chair-2 alone). chair-1 reached the broker in a run
    before its last (the broker away all that one): what the broker keeps is that run's,
    so it is still said (a chair that never reached it: test_rechair_never_connected.py)."""
    m = await move_pi(tmp_path, broker, reached=True)
    said = [ln for ln in m.log.splitlines() if "chair 'chair-1' ran on this Pi" in ln]
    assert len(said) == 1 and "WARNING" in said[0], m.log
    assert "1 active alert(s): spo2.very_low" in said[0], said
    assert "A Pi moved to another chair" in said[0], said
    again = DaemonProcess(chair_config(tmp_path, broker, "chair-2"), tmp_path / "third.log")
    again.start()
    try:
        await eventually(lambda: " ready: " in again.output(), 30, "the third run ready")
    finally:
        assert again.stop() == 0, again.output()
    assert "ran on this Pi" not in again.output(), again.output()
