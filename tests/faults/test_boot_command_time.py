"""A nurse's command reaching a Pi that booted with its clock behind (docs/operations.md,
"Nurses' station").

A Pi has no real-time clock: it boots on fake-hwclock's last saved time and NTP steps it
later (or never, on a clinic LAN without a time server). The station stamps each command
with its own, right, clock (`time`). A real `monitord run` under libfaketime, 3 days
behind (the monotonic clock untouched), the real mosquitto, a nurse's command stamped
now. Before, its refusal on `cmd/errors` read "command time ... is 259200 s in the future
(more than 60 s): check the station's clock": the station's clock was the right one.
Now it names this Pi's clock and time beside the command's, and the Pi's clock first.
Whether such a command should be carried out while the Pi's clock is not synchronized is
a question for the planners (the report); it is still refused, as before.
"""

from __future__ import annotations

from pathlib import Path

from tests.e2e.e2e_kit import Oximeter
from tests.faults.clock_kit import FakeWall, FakeWallDaemon
from tests.faults.test_mqtt_commands import base, cmd, config, connects, fresh, publish
from tests.kit import Observer, eventually
from tests.servers import Mosquitto

BEHIND_S = 3 * 86_400


async def test_a_command_refused_on_a_pi_booted_behind_names_the_pi_clock(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    wall = FakeWall(tmp_path)
    wall.set(-BEHIND_S)
    wall.check()
    b = base(mqtt_prefix)
    cfg = config(tmp_path, mosquitto, mqtt_prefix)
    daemon = FakeWallDaemon(cfg, tmp_path / "daemon.log", wall)
    async with Oximeter(tmp_path), Observer(mosquitto, [f"{b}/cmd/errors"]) as nurse:
        daemon.start()
        try:
            await eventually(lambda: connects(daemon) == 1, 30, "daemon connected")
            sent = cmd("start", time=fresh())  # the station's clock: right
            await publish(mosquitto, f"{b}/cmd/session", sent)
            await eventually(lambda: nurse.of("cmd/errors"), 20, "cmd/errors answer")
            (err,) = nurse.of("cmd/errors")
        finally:
            daemon.stop()
    text = err["error"]
    assert err["payload"] == sent.decode()
    assert "ahead of this Pi's clock (20" in text, text
    assert "this Pi's clock not yet synchronized after a boot" in text, text
    assert "check the station's clock" not in text, text
