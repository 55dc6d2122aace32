"""A nurse's command the daemon APPLIED while its store could not take it, as the page
words the daemon's answer.

When the store hangs (a dying SD card: monitord/storeguard.py `store.stalled`), a command
in the batch whose COMMIT hangs is applied and answered at once on `cmd/errors`:
"applied, but not yet stored: ...; held in memory until it can be" (docs/operations.md).
That answer is no refusal, but the station took every `cmd/errors` message for one:
- an ACK that silenced the alarm read, in red, "Refused at 14:02: applied, but ..."
  beside the alert reading `ACK alice`: the nurse read her ACK as failed;
- the Dose start that started the dose read "Dose start by alice at 14:02: the dose had
  already started at 14:02; this one (its dose and lot) was not recorded": her own dose
  taken for a colleague's, her dose and lot for lost.
Now the daemon says `code: "not_stored"` with it (docs/mqtt.md), and the page words it as
what it is: applied, not yet stored.

A real mosquitto with the shipped ACL, the real `monitord station` and a nurse on a real
headless Chromium; the chair's daemon in-process (its store's COMMIT held at a gate the
way an SD card's fsync holds it: tests/faults/writerkit.py `SlowCommits`), readings
submitted to its chair.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from monitord.config import load_config
from monitord.daemon import Daemon
from monitord.models import Kind
from tests.acl_kit import AclMosquitto
from tests.faults.writerkit import SlowCommits, reading
from tests.kit import eventually
from tests.station.cdp import browser
from tests.station.station_kit import (
    SITE,
    TZ,
    login_page,
    mqtt_login,
    mqtt_section,
    show_logs,
    station_config,
    station_process,
    tile,
    topic,
)
from tests.station.test_station_second_ack import last_answer, next_answer

CHAIR = "chair-1"
T1 = tile(CHAIR)
CSS = f'.tile[data-chair="{CHAIR}"]'  # the tile, for a tap


def daemon_config(tmp: Path, broker: AclMosquitto) -> Path:
    """chair-1's daemon: no devices (the test submits its readings), its store's stall
    said after 0.3 s (the default 10 s would only make the test slower)."""
    d = tmp / CHAIR
    d.mkdir()
    cfg = d / "monitord.toml"
    cfg.write_text(
        f'[site]\nid = "{SITE}"\ntimezone = "{TZ}"\n{mqtt_section(broker, CHAIR, d)}'
        f'[influx]\nenabled = false\n[storage]\npath = "{d / "outbox.sqlite"}"\n'
        "commit_interval_s = 0.05\nstall_alarm_after_s = 0.3\n"
        f'[[chairs]]\nid = "{CHAIR}"\n'
    )
    return cfg


@contextlib.asynccontextmanager
async def running(daemon: Daemon) -> AsyncIterator[None]:
    """The daemon running (its chair's task started) for the block, stopped after it."""
    task = asyncio.create_task(daemon.run())
    try:
        await eventually(
            lambda: daemon.supervisor is not None and f"chair:{CHAIR}" in daemon.supervisor.tasks,
            30,
            "the chair's task",
        )
        yield
    finally:
        daemon.stop_event.set()
        await asyncio.wait_for(task, 30)


async def test_a_command_applied_but_not_yet_stored_reads_applied_not_refused(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    scfg = station_config(tmp_path, acl_broker)
    daemon = Daemon(load_config(daemon_config(tmp_path, acl_broker)))
    slow = SlowCommits(daemon.outbox._db, rows_only=True)
    daemon.outbox._db = slow  # type: ignore[assignment]  # the COMMIT held at a gate
    answers: list[dict[str, Any]] = []
    shots = tmp_path / "shots"
    shots.mkdir()
    async with mqtt_login(acl_broker, "station-2") as spy:
        await spy.subscribe(topic(CHAIR, "cmd/errors"), qos=1)

        async def listen() -> None:
            async for m in spy.messages:
                answers.append(json.loads(bytes(m.payload)))

        listener = asyncio.create_task(listen())
        try:
            async with (
                station_process(scfg, tmp_path / "station.log") as (station, url),
                show_logs(station),
                running(daemon),
                browser() as b,
            ):
                page = await b.new_page()
                await login_page(page, url, "alice")
                # The session started and stored, as ever; then a crisis (started first:
                # the alarm bar it brings moves the board under a tap on its way).
                await page.until(f"!!{T1}?.querySelector('button.cmd.start')", 60, "chair-1")
                await page.tap(f"{CSS} button.cmd.start")
                await page.until("document.getElementById('confirm').open", 10, "confirm")
                await page.tap("#confirm-ok")
                await page.until(f"!!{T1}.querySelector('button.cmd.dose_start')", 30, "baseline")
                chair = daemon.chairs[CHAIR]
                chair.submit(reading(CHAIR, Kind.BP, {"sys_mmHg": 212, "dia_mmHg": 124}))
                await page.until(f"!!{T1}.querySelector('.alert.high button.ack')", 30, "ACK")
                try:
                    # 1. The disk hangs; alice ACKs the crisis: applied, not yet stored.
                    slow.hold.set()
                    before = await last_answer(page)
                    await page.tap(f"{CSS} .alert.high button.ack")
                    shown = await next_answer(page, before, "the ACK")
                    await page.screenshot(shots / "1-ack.png")
                    assert answers[-1].get("code") == "not_stored", answers[-1]
                    await page.until(f"!!{T1}.querySelector('.alert.high.acked')", 10, "acked")
                    assert "Refused" not in shown and "refusal" not in shown, shown
                    assert shown.startswith("answer not-stored | ACK by alice at "), shown
                    assert "applied, but not yet stored" in shown, shown
                    # The disk answers again: the ACK stored, the store writes as ever.
                    slow.gate.set()
                    await eventually(lambda: not daemon.store.holding, 20, "the store back")
                    # 2. It hangs again under her Dose start (56 mg, lot L-7).
                    slow.gate.clear()
                    before = await last_answer(page)
                    await page.tap(f"{CSS} button.cmd.dose_start")
                    await page.until("document.getElementById('confirm').open", 10, "confirm")
                    await page.type_into("#confirm-dose", "56")
                    await page.type_into("#confirm-lot", "L-7")
                    await page.tap("#confirm-ok")
                    shown = await next_answer(page, before, "the Dose start")
                    await page.screenshot(shots / "2-dose-start.png")
                    assert answers[-1].get("code") == "not_stored", answers[-1]
                    assert "already" not in shown and "not recorded" not in shown, shown
                    assert "refused" not in shown.lower(), shown
                    assert shown.startswith("answer not-stored | Dose start by alice at "), shown
                    assert "applied, but not yet stored" in shown, shown
                finally:
                    slow.gate.set()  # never leave the writer held: the stop waits for it
                await page.close()
        finally:
            listener.cancel()
