"""Live, the alert engine's clock "only moves forward" (clinical-rules.md "Delivery of
alarms"). A BP reading a cuff sends right after connecting (a BLE cuff connects for every
measurement) is held by monitord/history.py until its burst ends; meanwhile the chair's
ticks and other devices' samples move the engine on. Fed at its receive time, the held
reading's events went back in time (found by an audit: `session.check_missed` raised at
dose + 50 min and then `cleared` with an earlier `t`). Now it is taken at the time the
engine has reached: its events come in time order, and it still clears the alarm at once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

import monitord.chair as chair_mod
from monitord.chair import LinkChange, QueuedCommand
from monitord.engine.inputs import SessionCmd
from monitord.history import BURST_GAP_S
from monitord.hub import CommittedBatch, Hub
from monitord.models import Kind, Reading
from tests.kit import SetClock, make_chair

T0 = 1_800_000_000.0  # the chair clock at the start (epoch s)
DOSE = 10.0


def bp(t: float, sys_: float) -> Reading:
    at = datetime.fromtimestamp(T0 + t, UTC)
    return Reading("chair-1", "cuff", Kind.BP, {"sys_mmHg": sys_, "dia_mmHg": 80.0}, at, at)


def test_a_held_cuff_reading_never_takes_the_engine_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = Hub()
    batches: list[CommittedBatch] = []
    hub.subscribe(batches.append, "test")
    clock = SetClock(T0)
    chair = make_chair(tmp_path, hub, clock=clock)
    # The burst bookkeeping's monotonic time follows the chair clock 1:1.
    monkeypatch.setattr("monitord.chair.time.monotonic", lambda: clock.t - T0 + 1000.0)

    def at(t: float, *items: chair_mod.Item) -> None:
        clock.t = T0 + t
        chair.process(list(items))

    at(0.0, QueuedCommand(SessionCmd(T0, "chair-1", "start", "esketamine")))
    at(DOSE, QueuedCommand(SessionCmd(T0 + DOSE, "chair-1", "dose_start")))
    at(DOSE + 1, LinkChange("cuff", True, T0 + DOSE + 1))
    for k in (700.0, 1400.0, 2090.0):  # valid BPs, the last before the check window opens
        at(DOSE + k, bp(DOSE + k, 120.0))
    # The cuff hangs up and connects again for its next measurement, received 1 s before
    # the window [dose + 35 min, dose + 50 min] closes; held until its burst ends.
    at(DOSE + 2990, LinkChange("cuff", False, T0 + DOSE + 2990))
    at(DOSE + 2998.5, LinkChange("cuff", True, T0 + DOSE + 2998.5))
    at(DOSE + 2999.0, bp(DOSE + 2999.0, 122.0))
    assert chair.history.holding == 1
    for dt in (3000.5, 3001.5, 3002.5):  # the chair task's ticks
        at(DOSE + dt)
    assert chair.history.holding == 0

    events = [e for b in batches for e in b.events]
    times = [e.t for e in events]
    assert times == sorted(times), [(e.t - T0, e.rule, e.event) for e in events]
    # The edge left (docs/alerts.md): the window's deadline fired while the reading was
    # held, so the alarm was raised; the reading clears it as soon as it is released.
    missed = [(e.event, e.t - T0) for e in events if e.rule == "session.check_missed"]
    assert [ev for ev, _ in missed] == ["raised", "cleared"]
    assert missed[1][1] - missed[0][1] <= BURST_GAP_S + 1.0
    # The reading itself is stored with its receive time.
    (last,) = [r for b in batches for r in b.readings if r.values["sys_mmHg"] == 122.0]
    assert last.received_at.timestamp() == T0 + DOSE + 2999.0
