"""`delivery.refused` stands while any topic the broker refused is still refused.

The shipped ACL grants a chair its topics line by line (config/mosquitto/monitord.acl);
a site whose ACL lacks one line (here `alerts/active`) has the broker refuse that topic
and take the others. Found by this round's audit of delivery: any accepted publish
cleared the alarm, so each alert event the broker took cleared `delivery.refused`
("the broker accepts publishes again", annunciator off) although the retained active set
the station reads was still refused, and the next retry raised it again: an alarm that
cleared at every alert instead of standing until delivery resumed (clinical-rules.md
"Delivery of alarms": kept up until delivery resumes). And the live vitals (allowed) were
held back for as long as the active set was refused and retried.

Real mosquitto 2.0 with the shipped config and ACL (one line removed), the daemon
in-process, readings submitted to the chair.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.models import Kind
from tests.acl_kit import SITE, AclMosquitto
from tests.faults.writerkit import reading
from tests.heard.heard_kit import CHAIR, station, write_config
from tests.kit import eventually

ACTIVE_LINE = f"pattern write monitord/{SITE}/%u/alerts/active\n"


@contextlib.asynccontextmanager
async def running(daemon: Daemon) -> AsyncIterator[None]:
    task = asyncio.create_task(daemon.run())
    try:
        await eventually(lambda: daemon.supervisor is not None, 20, "the daemon running")
        yield
    finally:
        daemon.stop_event.set()
        await asyncio.wait_for(task, 30)


async def test_an_accepted_alert_event_does_not_clear_a_refused_active_set(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    acl = broker.acl_file.read_text()
    assert ACTIVE_LINE in acl
    broker.acl_file.write_text(acl.replace(ACTIVE_LINE, ""))
    broker.stop()
    broker.start()
    cfg = write_config(tmp_path, broker, username=CHAIR, devices=False)
    daemon = Daemon(loads_config(cfg.read_text()))
    changes: list[bool] = []  # delivery.refused after each raise or clear, in order
    daemon.alarms.on_change = lambda: changes.append("delivery.refused" in daemon.alarms.active)
    async with station(broker) as st, running(daemon):
        # The chair's initial active set is refused at connect.
        await eventually(lambda: changes == [True], 20, "delivery.refused raised")
        chair = daemon.chairs[CHAIR]
        chair.submit(reading(CHAIR, Kind.SPO2, {"spo2_pct": 80.0}))
        await asyncio.sleep(1.2)  # spo2.very_low: for_s = 1 in this config
        chair.submit(reading(CHAIR, Kind.SPO2, {"spo2_pct": 80.0}))
        # The event topic is allowed: the station gets the alarm's event ...
        await eventually(
            lambda: any(e["event"] == "raised" for e in st.events()), 20, "the event delivered"
        )
        assert daemon.mqtt is not None
        await eventually(lambda: daemon.outbox.backlog("mqtt") == 0, 20, "marked delivered")
        # Live vitals are allowed too: they do not wait behind the refused active set.
        await eventually(
            lambda: any(t.endswith(f"{CHAIR}/vitals/spo2") for t, _, _ in st.got),
            15,
            "vitals/spo2 at the station while alerts/active is refused",
        )
        # ... and the active set is retried (at most 10 s apart) and refused again.
        await asyncio.sleep(1.0)
        assert "delivery.refused" in daemon.alarms.active
        assert "alerts/active" in daemon.alarms.active["delivery.refused"]["text"]
        assert changes == [True], f"delivery.refused cleared meanwhile: {changes}"
        # The ACL fixed and the broker reloaded: the retried active set is taken, and only
        # now the alarm clears.
        broker.acl_file.write_text(acl)
        broker.reload()
        await eventually(lambda: changes == [True, False], 30, "delivery.refused cleared")
        active = [p for t, p, _ in st.got if t.endswith(f"{CHAIR}/alerts/active")]
        assert active and b"spo2.very_low" in active[-1], active
