"""A simulated chair started again on the same store (`monitord demo` run twice, a
`systemctl restart` of a daemon with simulated chairs) replays its scenario on a fresh
virtual clock (design.md section 2: the chair's start time + the scenario's `t`). At a
speed above 1 the previous run's clock got ahead of the wall clock: a start at the wall
clock put the second run's readings, alarms and session events among the first run's
times on the same chair, and the second session's report (a chair's readings and alerts
between its start and end) then held both patients' readings and both runs' alarms.

A real daemon, in process, with one simulated chair, run twice on one store.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitord.config import Config, loads_config
from monitord.daemon import Daemon
from monitord.models import Kind, Reading
from monitord.outbox import Outbox
from monitord.report import record_for, session_spans
from monitord.simstart import sim_key
from monitord.simulators.chair import start_simulated_chair
from monitord.store.base import Durability

SCENARIO: list[dict[str, object]] = [
    {"t": 0, "event": "session_start", "protocol": "esketamine"},
    {"t": 60, "event": "bp", "sys": 124, "dia": 79},
    {"t": 120, "event": "bp", "sys": 125, "dia": 78},
    {"t": 300, "event": "dose_start"},
    *({"t": t, "event": "spo2", "spo2": 97, "pulse": 70} for t in range(310, 2400, 30)),
    {"t": 900, "event": "bp", "sys": 205, "dia": 121},
    {"t": 2400, "event": "bp", "sys": 130, "dia": 80},
    {"t": 2500, "event": "session_end"},
    {"t": 2600, "event": "end"},
]
SCENARIO.sort(key=lambda e: float(str(e["t"])))  # in time order, as the file must be


BP_SYS = [e["sys"] for e in SCENARIO if e["event"] == "bp"]


def config(tmp_path: Path) -> Config:
    path = tmp_path / "scenario.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in SCENARIO) + "\n")
    return loads_config(
        '[site]\nid = "sim-restart"\n[mqtt]\nenabled = false\n[influx]\nenabled = false\n'
        f'[storage]\npath = "{tmp_path / "store.sqlite"}"\n'
        '[[chairs]]\nid = "chair-1"\n'
        '[[chairs.devices]]\nid = "monitor"\ndriver = "intellivue"\n'
        f'simulate = "{path}"\nsimulate_speed = 1000\npoll_interval_s = 0.002\n'
    )


async def run_once(cfg: Config) -> None:
    daemon = Daemon(cfg, stop_when_played=True, simulated=start_simulated_chair)
    await asyncio.wait_for(daemon.run(), 60)


def last_t(ob: Outbox) -> float:
    """The latest time of anything stored for chair-1."""
    ts = [r.received_at.timestamp() for r, _ in ob.readings("chair-1")]
    ts += [e.t for e in ob.alert_events("chair-1")] + [e.t for e in ob.session_events("chair-1")]
    return max(ts)


def check_two_runs(cfg: Config, first_end: float) -> None:
    with Outbox(cfg.storage.path, cfg.storage, readonly=True) as ob:
        first, second = session_spans(ob, "chair-1")
        # The second run's chair clock starts after everything the first one stored.
        assert second.start_t > first_end
        for span in (first, second):
            rec = record_for(ob, span)
            # Each session's record holds its own patient's readings and alarms alone:
            # 2 baseline BP, the crisis, the end BP; SpO2 of the dose's 35 minutes only;
            # one crisis raised in the session.
            assert [v.values["sys_mmHg"] for v in rec.vitals if v.kind == "bp"] == BP_SYS
            spo2 = [v.t - span.start_t for v in rec.vitals if v.kind == "spo2"]
            assert spo2 and 300 <= min(spo2) and max(spo2) < 2400
            # (An alarm a run left active is carried into the next session's record as
            # raised before it: a simulated chair starts afresh, nothing clears it.)
            ev = [a.event for a in rec.alerts if a.rule == "bp.crisis" and a.t >= span.start_t]
            assert ev.count("raised") == 1


async def test_a_second_run_of_a_simulated_chair_plays_after_the_first(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    await run_once(cfg)
    with Outbox(cfg.storage.path, cfg.storage, readonly=True) as ob:
        first_end = last_t(ob)
    await run_once(cfg)
    check_two_runs(cfg, first_end)


async def test_a_run_killed_after_its_last_clock_row_is_still_played_after(
    tmp_path: Path,
) -> None:
    """A SIGKILL loses what the chair wrote of its clock since its last row (written with
    its snapshot): the records stored after that row count too."""
    cfg = config(tmp_path)
    await run_once(cfg)
    with Outbox(cfg.storage.path, cfg.storage) as ob:
        first_end = last_t(ob)
        start = min(e.t for e in ob.session_events("chair-1"))
        # The row as an abrupt stop can leave it: the run's first seconds.
        ob.put_state(sim_key("chair-1"), {"t": start + 1.0}, durability=Durability.SYNC)
    await run_once(cfg)
    check_two_runs(cfg, first_end)


def put_row(cfg: Config, value: object) -> float:
    """Set chair-1's clock row to `value` (None: as a store without one) after a first
    run; returns the latest time that run stored."""
    with Outbox(cfg.storage.path, cfg.storage) as ob:
        ob.put_state(sim_key("chair-1"), value, durability=Durability.SYNC)
        return last_t(ob)


async def test_a_store_without_the_clock_row_is_still_played_after(tmp_path: Path) -> None:
    """A store kept by a version before the row (or by a run of the chair not simulated
    then) has the first run's records ahead of the wall clock and no row: before, the
    second run started at the wall clock, among them."""
    cfg = config(tmp_path)
    await run_once(cfg)
    first_end = put_row(cfg, None)
    await run_once(cfg)
    check_two_runs(cfg, first_end)


async def test_a_clock_row_with_no_time_in_it_is_said_and_played_after(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A row whose time no clock can reach (milliseconds for seconds: year 33658): before,
    the daemon did not start (ValueError: year 33658 is out of range, a traceback)."""
    cfg = config(tmp_path)
    await run_once(cfg)
    first_end = put_row(cfg, {"t": 1e12})
    caplog.set_level(logging.WARNING, logger="monitord")
    await run_once(cfg)
    check_two_runs(cfg, first_end)
    said = [r.getMessage() for r in caplog.records if "sim/chair-1" in r.getMessage()]
    assert said == [
        "chair-1: the store's sim/chair-1 row {'t': 1000000000000.0} holds no time its clock "
        "could reach; ignored (the chair's stored records after the wall clock are looked at)"
    ]


async def test_a_row_left_far_behind_does_not_make_the_start_read_the_chairs_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chair simulated once, then real for days (its row left behind, its readings
    after it), then simulated again: before, the start read every reading of the chair
    since the row (400,000 readings: 5 s and 430 MB before any chair ran). What lies
    before the wall clock cannot hold the run back: none of it is read."""
    cfg = config(tmp_path)
    now = time.time()
    with Outbox(cfg.storage.path, cfg.storage) as ob:
        ob.put_state(sim_key("chair-1"), {"t": now - 90000.0}, durability=Durability.SYNC)
        for h in range(24):  # a day of a real chair's HR to an hour ago, one a minute
            rs = []
            for m in range(60):
                at = datetime.fromtimestamp(now - 90000.0 + h * 3600 + m * 60, UTC)
                rs.append(Reading("chair-1", "monitor", Kind.HR, {"hr_bpm": 70.0}, at, at))
            ob.add_readings(rs, {"chair-1": None})
            ob.commit()
    read: list[int] = []
    real = Outbox.readings

    def counted(self: Outbox, *a: Any, **kw: Any) -> list[tuple[Reading, str | None]]:
        got = real(self, *a, **kw)
        read.append(len(got))
        return got

    monkeypatch.setattr(Outbox, "readings", counted)
    daemon = Daemon(cfg, stop_when_played=True, simulated=start_simulated_chair)
    assert read == [0]  # the start's look at the chair's readings: nothing ahead
    assert daemon.sim_start >= int(now)
    await asyncio.wait_for(daemon.run(), 60)
