"""`monitord simulate` plays a scenario's `device_lost` and `device_back` (design.md
sections 4 and 5) as an unplug and a replug, which the daemon's real serial transport
sees as a link down and a link up again.

`simulate` ignoring `device_lost` left every test passing: a scenario written to show
`tech.device_lost` to a nurse in training (or to test a station's alarm) streamed on
through the unplug, and nothing said the alarm could not come.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from serial_testkit import RecordingContext, simulate_read

# At --speed 2: the unplug 2 s of wall time in (the transport is up long before), the replug
# at 4 s, the end at 6 s.
SCENARIO = """\
{"t": 0, "event": "spo2", "spo2": 97, "pulse": 70}
{"t": 4, "event": "device_lost", "device": "spo2"}
{"t": 8, "event": "device_back", "device": "spo2"}
{"t": 9, "event": "spo2", "spo2": 96, "pulse": 71}
{"t": 12, "event": "end"}
"""


async def test_simulate_unplugs_and_replugs_on_device_lost_and_back(
    tmp_path: Path, ctx: RecordingContext
) -> None:
    async with simulate_read(tmp_path, ctx, SCENARIO, "masimo-ascii", 2) as (proc, _):
        assert proc.stderr is not None
        err = (await asyncio.wait_for(proc.stderr.read(), 60)).decode()
        assert await asyncio.wait_for(proc.wait(), 30) == 0, err
    # up, down at the unplug (the pty closed under the read), up again after the replug;
    # the simulator's own close at the end of the scenario may add a last down
    ups_and_downs = [up for up, _ in ctx.links]
    assert ups_and_downs[:3] == [True, False, True], ctx.links
    assert "link dropped" in err and "link restored" in err, err
