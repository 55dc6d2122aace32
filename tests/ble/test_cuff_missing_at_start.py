"""clinical-rules.md "Delivery of alarms" and issue 12, defect 1: "A device configured but
not connected counts as lost from the daemon's start: a monitor missing at boot ...
raises `tech.device_lost` 30 s after start." For a BLE cuff too: the daemon marks it
down ("not connected yet") at start, so the lost timer runs from the start, not from the
link's first failed scan (20 s later by default: the alarm would come that much late).

Found by mutation: marking only non-BLE devices down at start passed every test (the
missing-monitor test runs serial ports; the BLE fault tests watch the link's own
reports). The daemon in-process with the virtual BLE air (bumble, bleak) and no cuff on
it; `after_s` shortened to 1 s.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.simulators.ble import VirtualBleLink, backends
from tests.kit import eventually


def config(tmp: Path) -> str:
    return (
        '[site]\nid = "kit"\n[mqtt]\nenabled = false\n[influx]\nenabled = false\n'
        f'[storage]\npath = "{tmp / "outbox.sqlite"}"\n'
        '[alerts]\n"tech.device_lost" = { after_s = 1 }\n'
        '[[chairs]]\nid = "chair-1"\n'
        '  [[chairs.devices]]\n  id = "bp"\n  driver = "ble-bpm"\n  name = "A&D_UA-651"\n'
    )


async def test_a_ble_cuff_missing_at_start_is_lost_from_the_start(
    vlink: VirtualBleLink, tmp_path: Path
) -> None:
    daemon = Daemon(loads_config(config(tmp_path)), ble_backends=backends(vlink))
    task = asyncio.create_task(daemon.run())
    seen: list[str] = []  # the cuff's link reason when tech.device_lost was first active

    def lost() -> bool:
        chair = daemon.chairs["chair-1"]
        if any(a.get("rule") == "tech.device_lost" for a in chair.active) and not seen:
            seen.append(chair.devices["bp"].link_reason)
        return bool(seen)

    try:
        await eventually(lost, 60, "tech.device_lost for the missing cuff")
    finally:
        daemon.stop_event.set()
        await asyncio.wait_for(task, 30)
    # Raised on the daemon's own "down since the start", before the link's first scan
    # (20 s) could say anything of the cuff.
    assert seen == ["not connected yet"], seen
