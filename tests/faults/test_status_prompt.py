"""`monitord status` shows a device link's change and a `tech.device_lost` raise when
they happen, not a group commit later (a real daemon, a real Masimo on a pty).

Before: the daemon's status rows went into the next group commit of readings (up to
`storage.commit_interval_s`, 5 s by default; the alarm's own commit carries no status),
and a change within 1 s of the last status write waited for the next batch or the 10-s
idle poll. A nurse or an IT admin running `monitord status` as the alarm sounded saw the
device still "up" and no alarm. Here the interval is its maximum, 60 s, so "promptly" is
told from "with the group commit" without a timing assertion: every wait below is a third
of it. Now a link change and a change of the active set write status in a small commit of
their own (none in steady state: the status rows' signatures are unchanged then).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitord.commands.status import read
from monitord.models import Kind
from monitord.outbox import OutboxError
from monitord.simulators.base import SimEvent
from monitord.simulators.serial_sims import make_sim_device
from tests.e2e.e2e_kit import DaemonProcess
from tests.faults.clock_kit import CHAIR, write_config
from tests.kit import eventually


def chair(store: Path) -> dict[str, Any]:
    """What `monitord status --json` shows of the chair (read as the command reads it)."""
    try:
        return dict(read(store)["chairs"].get(CHAIR, {}).get("state") or {})
    except OutboxError:  # the daemon has not made its tables yet
        return {}


def link(store: Path) -> str | None:
    got = chair(store).get("devices", {}).get("ox", {}).get("link")
    return None if got is None else str(got)


def alerts(store: Path) -> set[str]:
    return {str(a.get("rule")) for a in chair(store).get("active_alerts") or []}


async def test_status_follows_link_and_device_lost(tmp_path: Path) -> None:
    ox = make_sim_device("masimo-ascii", symlink=tmp_path / "ox.tty", repeat=False)
    await ox.__aenter__()
    cfg = write_config(
        tmp_path,
        {"ox": str(tmp_path / "ox.tty")},
        '[alerts]\n"tech.device_lost" = { after_s = 3.0 }\n',
    )
    text = cfg.read_text().replace("[storage]\n", "[storage]\ncommit_interval_s = 60\n")
    cfg.write_text(text)
    store = tmp_path / "outbox.sqlite"
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
    feeding = True

    async def feed() -> None:
        while feeding:
            await ox.send(SimEvent(Kind.SPO2, {"spo2_pct": 97, "pulse_bpm": 70}), datetime.now(UTC))
            await asyncio.sleep(1.0)

    feeder = asyncio.create_task(feed())
    try:
        daemon.start()
        await eventually(lambda: store.exists() and link(store) == "up", 20, "status: ox up")
        feeding = False
        await feeder
        await ox.drop_link()  # the monitor unplugged
        await eventually(lambda: link(store) == "down", 20, "status: ox down")
        await eventually(
            lambda: "tech.device_lost" in alerts(store), 20, "status: tech.device_lost"
        )
    finally:
        feeding = False
        if not feeder.done():
            feeder.cancel()
        daemon.stop()
        await ox.__aexit__(None, None, None)
    log = daemon.output()
    assert "Traceback" not in log, log
