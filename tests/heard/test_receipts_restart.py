"""Receipt waits across a restart (found by this round's audit of delivery; both tests
failed before receipts were kept in the store, monitord/receipts.py):

- a high alarm the broker accepted just before a restart, that no station showed, is
  still waited for: `delivery.unheard` after the timeout (before: never, the waits were
  in memory only);
- after a crash (kill -9) just after a station receipted a high alarm, the restarted
  daemon does not wait for a second receipt the station will never send (a station
  receipts each event once, docs/station.md): no false "alarm not received"."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from monitord.receipts import KEEP_WAITING, Receipts
from tests.acl_kit import AclMosquitto
from tests.e2e.e2e_kit import LiveFeed, Oximeter
from tests.heard.heard_kit import BASE, JournalDaemon, Station, alarms, station, write_config
from tests.kit import eventually


def _raised(st: Station) -> list[dict[str, Any]]:
    return [e for e in st.events() if e["rule"] == "spo2.very_low" and e["event"] == "raised"]


def _onlines(st: Station) -> list[bytes]:
    """chair-2's `online` status messages the station has seen."""
    return [p for t, p, _r in st.got
            if t == f"{BASE}/status" and p and json.loads(p)["state"] == "online"]  # fmt: skip


def _chair_2(tmp_path: Path, broker: AclMosquitto) -> tuple[Path, JournalDaemon]:
    """chair-2 with its own login and a 3-s receipt timeout: its store and its daemon."""
    cfg = write_config(tmp_path, broker, username="chair-2", per_chair=True,
                       mqtt_extra="receipt_timeout_s = 3")  # fmt: skip
    return tmp_path / "outbox.sqlite", JournalDaemon(cfg, tmp_path / "daemon.log")


async def test_unreceipted_alarm_is_still_waited_for_after_a_restart(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    db, daemon = _chair_2(tmp_path, broker)
    async with Oximeter(tmp_path) as ox, station(broker) as st:  # st never receipts
        daemon.start()
        try:
            async with LiveFeed(ox, spo2=80.0):
                await eventually(lambda: _raised(st), 30, "the high alert reached the broker")
                assert daemon.stop() == 0  # restarted within the receipt timeout
                daemon.start()
                await eventually(lambda: "delivery.unheard" in alarms(db)["active"], 20,
                                 "delivery.unheard after the restart")  # fmt: skip
                text = alarms(db)["active"]["delivery.unheard"]["text"]
                assert "spo2.very_low" in text, text
                # The restarted daemon republished the alarm itself.
                sets = [json.loads(p) for t, p, _r in st.got
                        if t.endswith("/alerts/active") and p]  # fmt: skip
                assert any(a["rule"] == "spo2.very_low" for a in sets[-1]["alerts"])
        finally:
            daemon.stop()


async def test_a_receipted_alarm_is_not_unheard_after_a_crash(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    db, daemon = _chair_2(tmp_path, broker)
    async with Oximeter(tmp_path) as ox, station(broker) as st:
        receipted: set[tuple[object, object]] = set()

        async def receipt_each_event_once() -> None:
            while True:
                for e in st.events():
                    key = (e["alert_id"], e["event"])
                    if e["alert_id"] and key not in receipted:
                        receipted.add(key)
                        await st.publish(f"{BASE}/alerts/receipts", {
                            "alert_id": e["alert_id"], "event": e["event"],
                            "station": "station-1", "shown_at": e["time"], "sounded": True,
                        })  # fmt: skip
                await asyncio.sleep(0.05)

        rx = asyncio.create_task(receipt_each_event_once())
        daemon.start()
        try:
            async with LiveFeed(ox, spo2=80.0):
                await eventually(lambda: _raised(st), 30, "the high alert reached the station")
                await asyncio.sleep(0.5)  # its receipt reached the daemon
                assert "delivery.unheard" not in alarms(db)["active"]
                daemon.kill()  # well within storage.commit_interval_s (5 s) of the PUBACK
                onlines = len(_onlines(st))
                daemon.start()
                # Its waits are restored before it connects; from its live `online`, more
                # than the receipt timeout (3 s) with room for a loaded machine: a wait
                # restored would be overdue by then. (A fixed 8 s from the start also sat
                # out the start-up.)
                await eventually(lambda: len(_onlines(st)) > onlines, 20, "restarted, online")
                await asyncio.sleep(3.0 + 1.5)
                active = alarms(db)["active"]
                assert "delivery.unheard" not in active, active["delivery.unheard"]["text"]
        finally:
            rx.cancel()
            daemon.stop()


def test_state_round_trip() -> None:
    r = Receipts(15.0)
    changes: list[bool] = []
    r.on_change = changes.append
    hi = {"alert_id": "c1:a", "event": "raised", "priority": "high", "rule": "spo2.very_low"}
    r.accepted("c1", hi, 100.0)
    r.accepted("c2", dict(hi, alert_id="c2:b"), 100.0)
    r.receipt("c3:early", "raised", 101.0)  # before its PUBACK
    assert changes == [False, False, True]
    again = Receipts(15.0)
    again.restore(json.loads(json.dumps(r.state())), 500.0, ["c1", "c3"])
    assert set(again.waiting) == {("c1:a", "raised", 0)}  # c2 is no longer configured
    assert again.waiting[("c1:a", "raised", 0)].since == 500.0  # a full timeout from start
    assert not again.overdue(514.0) and again.overdue(515.0)
    again.accepted("c3", dict(hi, alert_id="c3:early"), 501.0)  # its receipt came first
    assert ("c3:early", "raised", 0) not in again.waiting
    bad: object
    for bad in (None, [], {"waiting": [["x"]]}, {"early": 5}):
        Receipts(15.0).restore(bad, 0.0, ["c1"])  # ignored, never raises


def test_the_level_survives_a_restart_and_an_older_daemon_s_state_is_read() -> None:
    r = Receipts(15.0)
    esc = {"alert_id": "c1:a", "event": "escalated", "level": 2, "priority": "high", "rule": "r"}
    r.accepted("c1", esc, 100.0)
    r.receipt("c1:b", "escalated", 100.0, level=3)  # before its PUBACK
    again = Receipts(15.0)
    again.restore(json.loads(json.dumps(r.state())), 500.0, ["c1"])
    assert set(again.waiting) == {("c1:a", "escalated", 2)}
    assert set(again.early) == {("c1:b", "escalated", 3)}
    # Written before receipts carried the level: the waits are kept (an escalation's level
    # unknown), an early escalation receipt is not (it could answer the wrong level).
    old = {"waiting": [["c1:a", "raised", "c1", "r", "high"], ["c1:a", "escalated", "c1", "r",
                                                                  "high"]],
           "early": [["c1:c", "raised"], ["c1:c", "escalated"]]}  # fmt: skip
    again = Receipts(15.0)
    again.restore(old, 500.0, ["c1"])
    assert set(again.waiting) == {("c1:a", "raised", 0), ("c1:a", "escalated", None)}
    assert set(again.early) == {("c1:c", "raised", 0)}


def test_waits_are_bounded() -> None:
    """No station for hours: the waits (stored on every change) stay the newest
    KEEP_WAITING; `delivery.unheard` stands for the older ones until a receipt."""
    r = Receipts(15.0)
    for n in range(KEEP_WAITING * 3):
        ev = {"alert_id": f"c1:{n}", "event": "raised", "priority": "high", "rule": "r"}
        r.accepted("c1", ev, float(n))
    assert len(r.waiting) == KEEP_WAITING
    assert next(iter(r.waiting)) == (f"c1:{KEEP_WAITING * 2}", "raised", 0)
    assert len(r.state()["waiting"]) == KEEP_WAITING


def test_only_tracked_receipts_are_kept_and_stored() -> None:
    """A station receipts every event it shows; only `raised`/`escalated` can answer a
    wait, so the others neither fill `early` nor make the stored state be rewritten, and
    the stored copy of `early` keeps the newest KEEP_WAITING."""
    r = Receipts(15.0)
    changes: list[bool] = []
    r.on_change = changes.append
    for ev in ("acknowledged", "cleared", "pending"):
        r.receipt("c1:a", ev, 1.0)
    r.receipt(None, "pending", 1.0)
    assert not r.early and changes == []
    for n in range(KEEP_WAITING * 2):
        r.receipt(f"c1:{n}", "raised", 2.0)
    assert len(r.early) == KEEP_WAITING * 2 and changes == [True] * (KEEP_WAITING * 2)
    early = r.state()["early"]
    assert len(early) == KEEP_WAITING
    assert early[-1] == [f"c1:{KEEP_WAITING * 2 - 1}", "raised", 0]
