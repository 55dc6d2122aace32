"""Issue 16, acceptance 1 (and 4): a chair whose MQTT user name does not match its chair
id publishes into the shipped ACL, which refuses it. Real mosquitto 2.0 with
config/mosquitto/monitord.conf + monitord.acl, a real `monitord run` subprocess, a real
oximeter on a pty raising a high-priority alert (spo2.very_low).

Before issue 16 (MQTT 3.1.1) the broker's PUBACK said nothing of the refusal: the daemon
logged nothing, marked every event delivered and raised no alarm.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.acl_kit import SITE, AclMosquitto
from tests.e2e.e2e_kit import LiveFeed, Oximeter, Store
from tests.heard.heard_kit import (
    BASE,
    CHAIR,
    JournalDaemon,
    alarms,
    station,
    status_text,
    write_config,
)
from tests.kit import eventually


def undelivered_alerts(store: Store) -> int:
    # Schema v4: a record waits for a sink while a (sink, record_id) row is pending.
    rows = store._q("SELECT count(*) FROM pending WHERE sink = 'mqtt'")
    return int(rows[0][0]) if rows else 0


async def test_refused_publish_raises_the_delivery_alarm_keeps_the_event_and_delivers_after_the_acl_fix(  # noqa: E501
    tmp_path: Path, broker: AclMosquitto
) -> None:
    cfg = write_config(tmp_path, broker, username="chair-1")  # chair-2 logs in as chair-1
    db = tmp_path / "outbox.sqlite"
    store = Store(db)
    daemon = JournalDaemon(cfg, tmp_path / "daemon.log")
    print(daemon.log)
    broker_log = broker.workdir / "mosquitto-broker.log"
    async with Oximeter(tmp_path) as ox, station(broker) as st:
        daemon.start()
        try:
            # 1. The first refused publish (the chair's `online` status at connect), seen in
            # the broker's log; the alarm follows at once.
            await eventually(lambda: "Denied PUBLISH" in broker_log.read_text(), 30, "a denial")
            denied_at = time.monotonic()
            await eventually(
                lambda: "delivery.refused" in alarms(db)["active"], 10, "delivery alarm"
            )
            print(f"delivery.refused raised {time.monotonic() - denied_at:.2f} s after the denial")

            # 2. A high-priority alert: committed, refused, kept queued, never seen.
            async with LiveFeed(ox, spo2=80.0):
                await eventually(
                    lambda: any(
                        e["rule"] == "spo2.very_low" and e["event"] == "raised"
                        for e in store.alert_events()
                    ),
                    30,
                    "spo2.very_low raised",
                )
                await eventually(
                    lambda: f"'{BASE}/alerts/events'" in broker_log.read_text(), 15, "refused"
                )
                await asyncio.sleep(1.0)  # retries come and go; none may be counted
                assert undelivered_alerts(store) >= 1, "a refused event was marked delivered"
                assert st.events() == [], "the station got an event the ACL refuses"
                alarm = alarms(db)["active"]["delivery.refused"]["text"]
                assert (
                    f"broker refused publish on {BASE}/" in alarm
                    and "for user chair-1: not authorized (0x87); check the ACL" in alarm
                ), alarm
                shown = status_text(db)
                assert "delivery.refused" in shown and "not authorized (0x87)" in shown, shown

                # 3. The ACL fixed (chair-1 may write chair-2's topics) and the broker
                # reloaded: the queued event goes out, in order, and the alarm clears.
                acl = broker.acl_file.read_text()
                broker.acl_file.write_text(
                    acl + f"\nuser chair-1\ntopic write monitord/{SITE}/{CHAIR}/#\n"
                )
                broker.reload()
                await eventually(lambda: undelivered_alerts(store) == 0, 30, "delivered")
                await eventually(
                    lambda: "delivery.refused" in alarms(db)["cleared"], 10, "alarm cleared"
                )
            await eventually(lambda: len(st.events()) >= len(store.alert_events()), 10)
        finally:
            rc = daemon.stop()
    out = daemon.output()
    key = [(e["alert_id"], e["event"]) for e in store.alert_events()]
    assert [(e["alert_id"], e["event"]) for e in st.events()] == key, (st.events(), key)
    assert "delivery.refused" not in alarms(db)["active"]
    assert rc == 0, out
    # Acceptance 4: under a journald stream, every CRITICAL line carries priority <2>.
    critical = [ln for ln in out.splitlines() if "CRITICAL" in ln]
    assert critical and all(ln.startswith("<2>CRITICAL ") for ln in critical), critical
    assert any(
        "broker refused publish on" in ln and "not authorized (0x87)" in ln for ln in critical
    ), critical
    assert any(
        ln.startswith("<4>WARNING ") and "accepts publishes again" in ln for ln in out.splitlines()
    )
