"""A broker that refuses the alert events and takes the rest: the station still gets the
retained active set (and the live vitals) while `delivery.refused` stands, and the
refused events go out in order once the ACL is fixed.

The reverse of test_refused_one_topic.py: a site's ACL lacks the `alerts/events` line (a
broker's quota, MQTT v5 0x97, refuses alike). Found by the delivery-under-faults audit
(del30): the refused event held everything behind it on the chair's connection, not
only the later events, so the retained `alerts/active` that the station shows (and
receipts, docs/delivery.md) never went out, nor the vitals: the station did not learn
of the alarm by any topic the broker would have taken.

Real mosquitto 2.0 with the shipped config and ACL (one line removed), the daemon
in-process, readings submitted to the chair.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.models import Kind
from tests.acl_kit import SITE, AclMosquitto
from tests.faults.writerkit import reading
from tests.heard.heard_kit import CHAIR, station, write_config
from tests.heard.test_refused_one_topic import running
from tests.kit import eventually

EVENTS_LINE = f"pattern write monitord/{SITE}/%u/alerts/events\n"


def refusing_events(tmp_path: Path, broker: AclMosquitto) -> tuple[Daemon, str]:
    """The broker restarted with the shipped ACL minus its `alerts/events` line, and a
    daemon of one chair for it; the ACL's text as shipped, to put back."""
    acl = broker.acl_file.read_text()
    assert EVENTS_LINE in acl
    broker.acl_file.write_text(acl.replace(EVENTS_LINE, ""))
    broker.stop()
    broker.start()
    cfg = write_config(tmp_path, broker, username=CHAIR, devices=False)
    return Daemon(loads_config(cfg.read_text())), acl


async def test_refused_events_do_not_hold_the_active_set_or_the_vitals(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    daemon, acl = refusing_events(tmp_path, broker)
    async with station(broker) as st, running(daemon):
        chair = daemon.chairs[CHAIR]
        chair.submit(reading(CHAIR, Kind.SPO2, {"spo2_pct": 80.0}))
        await asyncio.sleep(1.2)  # spo2.very_low: for_s = 1 in this config
        chair.submit(reading(CHAIR, Kind.SPO2, {"spo2_pct": 80.0}))
        await eventually(
            lambda: "delivery.refused" in daemon.alarms.active, 20, "delivery.refused raised"
        )
        assert "alerts/events" in daemon.alarms.active["delivery.refused"]["text"]

        def shown() -> bytes:
            got = [p for t, p, _ in st.got if t.endswith(f"{CHAIR}/alerts/active")]
            return got[-1] if got else b""

        # The active set's topic is allowed: the station is told of the alarm by it.
        await eventually(
            lambda: b"spo2.very_low" in shown(),
            20,
            "spo2.very_low in the retained alerts/active while alerts/events is refused",
        )
        chair.submit(reading(CHAIR, Kind.SPO2, {"spo2_pct": 81.0}))
        await eventually(
            lambda: any(t.endswith(f"{CHAIR}/vitals/spo2") for t, _, _ in st.got),
            15,
            "vitals/spo2 at the station while alerts/events is refused",
        )
        # The event itself is kept (not delivered, not dropped), still refused.
        assert daemon.outbox.backlog("mqtt") >= 1
        assert not any(e["event"] == "raised" for e in st.events())
        assert "delivery.refused" in daemon.alarms.active
        # The ACL fixed and the broker reloaded: the queued event goes out and the alarm
        # clears.
        broker.acl_file.write_text(acl)
        broker.reload()
        await eventually(
            lambda: any(e["event"] == "raised" for e in st.events()), 30, "the event delivered"
        )
        await eventually(lambda: daemon.outbox.backlog("mqtt") == 0, 20, "marked delivered")
        await eventually(
            lambda: "delivery.refused" not in daemon.alarms.active, 30, "delivery.refused cleared"
        )
