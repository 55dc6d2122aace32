"""A Pi moved to another chair leaves the old chair id's retained messages on the broker:
its `status` (`offline` after the clean stop) and its `alerts/active` with the alarm it
stopped with. Every station (re)subscribing reads the old chair as OFFLINE with that
alarm sounding, and no daemon answers its id any more. docs/operations.md, "A Pi moved to
another chair", says how to clear them: logged in as the old chair's account (the shipped
ACL lets only a chair write its own topics), an empty retained message on each of its
topics. This runs that block as written (`old=chair-3`, the clinic's broker and CA
replaced by the test's) against a real mosquitto with config/mosquitto/monitord.acl,
after a real `monitord run` as chair-1 and then, the Pi moved, as chair-2.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.acl_kit import SITE, AclMosquitto
from tests.e2e.e2e_kit import DaemonProcess, Oximeter, whole_second
from tests.heard.heard_kit import USERS, chair_config, retained_set, run_clearing, station


def retained(broker: AclMosquitto, chair: str) -> dict[str, bytes]:
    """What a station subscribing now is given for `chair` (the broker's retained set)."""
    return retained_set(broker, chair, "station-1", USERS["station-1"])


async def test_documented_clearing_removes_the_old_chairs_retained_alarm(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    assert broker.tls is not None
    first = DaemonProcess(chair_config(tmp_path, broker, "chair-1"), tmp_path / "first.log")
    async with Oximeter(tmp_path) as ox, station(broker) as st:
        first.start()
        try:
            for _ in range(150):
                await ox.send(80.0, whole_second())
                await asyncio.sleep(0.2)
                if any(e["event"] == "raised" for e in st.events("chair-1")):
                    break
            assert any(e["event"] == "raised" for e in st.events("chair-1")), first.output()
        finally:
            assert first.stop() == 0, first.output()
    second = DaemonProcess(chair_config(tmp_path, broker, "chair-2"), tmp_path / "second.log")
    second.start()
    try:
        # The defect as the admin meets it: chair-1 offline, its alarm kept for ever.
        topic2 = f"monitord/{SITE}/chair-2/status"
        for _ in range(30):
            if b"online" in (await asyncio.to_thread(retained, broker, "chair-2")).get(topic2, b""):
                break
            await asyncio.sleep(0.5)
        kept = await asyncio.to_thread(retained, broker, "chair-1")
        assert json.loads(kept[f"monitord/{SITE}/chair-1/status"])["state"] == "offline"
        active = json.loads(kept[f"monitord/{SITE}/chair-1/alerts/active"])["alerts"]
        assert [a["rule"] for a in active] == ["spo2.very_low"], active

        # The procedure: chair-1's login in an options file of its own, then the block.
        await run_clearing(tmp_path, broker, USERS["chair-1"])
        assert await asyncio.to_thread(retained, broker, "chair-1") == {}
        # chair-2's own state is untouched.
        assert (
            json.loads(retained(broker, "chair-2")[f"monitord/{SITE}/chair-2/status"])["state"]
            == "online"
        )
    finally:
        assert second.stop() == 0, second.output()
