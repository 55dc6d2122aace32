"""Issue 16, "`monitord doctor` proves the round trip": its test messages carry "a doctor
marker that stations ignore", so they must not stay on the broker. `status` and
`alerts/active` are retained topics (design.md section 6): a doctor message published
retained there would replace the chair's retained status and active set, and a station
connecting afterwards (a restart, a second tablet) ignores the doctor message and so
shows that chair with no state at all, an active crisis included.

Found by mutation: doctor publishing its test messages retained passed every test. Real
mosquitto 2.0 with the shipped ACL; a station subscribing after the doctor run.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from tests.acl_kit import SITE, AclMosquitto
from tests.heard.heard_kit import CHAIR, station, write_config
from tests.heard.test_doctor_round_trip import doctor
from tests.kit import eventually


async def test_doctor_leaves_no_retained_message_on_the_chairs_topics(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    cfg = write_config(tmp_path, broker, username=CHAIR, per_chair=True, devices=False)
    _rc, lines, text = await asyncio.to_thread(doctor, cfg)
    assert lines[f"mqtt round trip {CHAIR}"].startswith("ok "), text
    async with station(broker) as st:
        # Retained messages come right after the SUBACK, before anything published after
        # it: a message of our own on the site marks the end of them.
        mark = f"end-{uuid.uuid4().hex}"
        await st.publish(f"monitord/{SITE}/{CHAIR}/alerts/receipts", {"mark": mark})
        await eventually(lambda: any(mark.encode() in p for _t, p, _r in st.got), 10, "mark")
    kept = [(t, p) for t, p, r in st.got if r and b'"doctor"' in p]
    assert kept == [], kept
