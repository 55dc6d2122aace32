"""`monitord status` reads the technical alarms from two copies: the side file beside the
store (on the card) and its copy in RAM (the runtime directory), and shows the newer. It
took the newer by their wall-clock `updated` strings: a Pi booted ahead of time (no RTC)
wrote the card's copy, NTP then stepped the clock back, and when the card failed after
that, the card's stale copy ("updated" hours ahead) beat the RAM copy that said so:
`monitord status` showed no technical alarm while the store could not be written.

Real parts: `monitord run` on a pty oximeter, its wall clock stepped (libfaketime,
tests/faults/clock_kit.py `FakeWall`), its card failing under it (the sdfail shim,
tests/faults/sdkit.py), `monitord status` run as the technician runs it.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from monitord.techalarm import alarm_file, runtime_alarm_file
from tests.e2e.e2e_kit import Oximeter, in_thread
from tests.faults.clock_kit import FakeWall
from tests.faults.sdkit import FailingCardDaemon, build
from tests.faults.storekit import monitord
from tests.faults.test_card_failing import config_on_card, feed_until_unwritable
from tests.kit import eventually

AHEAD_S = 3 * 3600  # the Pi booted this far ahead of the real time


class AheadOnFailingCard(FailingCardDaemon):
    """A failing-card daemon whose wall clock is `wall`'s (both shims preloaded)."""

    def __init__(self, wall: FakeWall, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.wall = wall

    def env(self) -> dict[str, str]:
        card, clock = super().env(), self.wall.env()
        return {**card, **clock, "LD_PRELOAD": f"{card['LD_PRELOAD']}:{clock['LD_PRELOAD']}"}


async def test_status_shows_the_ram_copy_after_the_clock_stepped_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "run").mkdir()
    monkeypatch.setenv("RUNTIME_DIRECTORY", str(tmp_path / "run"))
    cfg, card = config_on_card(tmp_path)
    store = card / "outbox.sqlite"
    wall = FakeWall(tmp_path)
    wall.set(AHEAD_S)
    wall.check()
    gate = tmp_path / "failing"
    daemon = AheadOnFailingCard(
        wall, cfg, tmp_path / "daemon.log", build(tmp_path), card, gate, errno.EIO
    )
    async with Oximeter(tmp_path) as ox:
        daemon.start()
        try:
            await eventually(
                lambda: " ready: " in daemon.output() and runtime_alarm_file(store).exists(),
                30,
                "the daemon ready, both copies written",
            )
            wall.set(0)  # NTP steps the clock back to the real time
            gate.touch()  # then the card fails
            await feed_until_unwritable(ox, daemon)
            st = await in_thread(lambda: monitord("status", "--config", str(cfg)))
        finally:
            rc = daemon.stop()
    assert rc == 0, daemon.output()[-3000:]
    # The card's copy is the stale one (written before it failed, hours "ahead")...
    assert "store.unwritable" not in alarm_file(store).read_text()
    # ... and the technician sees the failure, from the copy in RAM.
    shown = [ln for ln in st.stdout.splitlines() if "TECHNICAL ALARM store.unwritable" in ln]
    assert shown, st
