"""A device link that stays down while its cause changes: `monitord status` shows the new
cause (with its advice) at once, as it shows a link lost; before, the first cause stayed
until a group commit (60 s here, and a chair whose only device is down commits nothing
else), so the operator followed the first cause's advice.

A real daemon in process with its real store, read as `monitord status` reads it (a
read-only connection of its own); the group-commit interval is 60 s, so the new cause is
seen only if its commit is a prompt one.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from monitord.chair_inputs import LinkChange
from monitord.commands import status as status_cmd
from monitord.config import loads_config
from monitord.daemon import Daemon
from tests.kit import eventually


def _reason(store: Path) -> Any:
    # The chair's row may not be written yet (a loaded machine: the first status write
    # comes before it): no cause shown yet, looked at again.
    chair = status_cmd.read(store).get("chairs", {}).get("chair-1", {})
    return chair.get("state", {}).get("devices", {}).get("ox", {}).get("reason")


async def test_a_down_links_new_cause_reaches_status_at_once(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    cfg = loads_config(
        '[site]\nid = "cause"\n[mqtt]\nenabled = false\n[influx]\nenabled = false\n'
        f'[storage]\npath = "{store}"\ncommit_interval_s = 60\n'
        '[[chairs]]\nid = "chair-1"\n[[chairs.devices]]\nid = "ox"\n'
        f'driver = "masimo-ascii"\nport = "{tmp_path / "absent.tty"}"\n'
    )
    daemon = Daemon(cfg)
    task = asyncio.create_task(daemon.run())
    try:
        await eventually(lambda: daemon.supervisor is not None, what="daemon up")
        chair = daemon.chairs["chair-1"]
        await eventually(lambda: chair.devices["ox"].link == "down", what="ox down (no port)")
        await eventually(lambda: "cannot open" in str(_reason(store)), what="first cause shown")
        new = "cannot open: [Errno 13] Permission denied: '/dev/ttyUSB0'"
        chair.submit(LinkChange("ox", False, chair.clock.now(), new))
        await eventually(lambda: _reason(store) == new, 10, "the new cause in status")
    finally:
        daemon.stop_event.set()
        await asyncio.wait_for(task, 30)
