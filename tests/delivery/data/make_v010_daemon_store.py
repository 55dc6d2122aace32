"""Writes `outbox-v010-daemon.sqlite`: the store a 0.1.0 daemon leaves on a Pi that is then
upgraded (tests/delivery/test_upgrade_from_010.py). Written by the 0.1.0 daemon itself
(d9b47eb, `monitord/__init__.py` 0.1.0, store schema v3), not by this code:

    git archive d9b47eb | tar -x -C /tmp/v010 && cd /tmp/v010 && \
        PYTHONPATH=/tmp/v010 python /path/to/make_v010_daemon_store.py OUT.sqlite

A real chair on a pty (Masimo ASCII, SpO2 80 % for 4 s, `spo2.very_low` at for_s = 1:
raised, high, active when the daemon stops), the broker and the database unreachable (port
9), so every reading and the alert event are still pending for both sinks, and the
engine's snapshot holds the active alarm. Times are the daemon's receive times.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.models import Kind
from simulators.base import SimEvent
from simulators.serial_sims import make_sim_device

CONFIG = """
[site]
id = "upgrade-test"
[mqtt]
host = "127.0.0.1"
port = 9
[influx]
url = "http://127.0.0.1:9"
api = "v1"
database = "vitals"
[storage]
path = "{out}"
[alerts."spo2.very_low"]
for_s = 1
[[chairs]]
id = "chair-9"
[[chairs.devices]]
id = "ox"
driver = "masimo-ascii"
port = "{port}"
"""


async def main(out: Path) -> None:
    device_t0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    # Any: 0.1.0's simulators are a top-level package, typed apart from this tree's.
    sim: Any
    async with make_sim_device("masimo-ascii", repeat=False) as sim:
        d = Daemon(loads_config(CONFIG.format(out=out, port=sim.port)))
        task = asyncio.create_task(d.run())
        chair = d.chairs["chair-9"]
        ox = chair.devices["ox"]
        for off in range(4):
            for _ in range(50):  # the first lines may precede the transport's open()
                n = ox.readings
                at = device_t0 + timedelta(seconds=off)
                await sim.send(SimEvent(Kind.SPO2, {"spo2_pct": 80, "pulse_bpm": 70}), at)

                def arrived(n: int = n) -> bool:
                    return ox.readings > n

                if await chair.wait_for(arrived, 0.3):
                    break
            await asyncio.sleep(1.0)
        active = chair.engine.active("chair-9")
        assert [a["rule"] for a in active] == ["spo2.very_low"], active
        d.stop_event.set()
        await asyncio.wait_for(task, 20)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
