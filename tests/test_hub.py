"""Issue 15, the hub: a chair publishes one typed `CommittedBatch` per durable batch, and
every consumer is a listener that the chair does not know (monitord/hub.py)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from monitord.clock import SimClock
from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.hub import CommittedBatch, Hub
from monitord.outbox import Outbox
from monitord.simulators.chair import start_simulated_chair


def test_listeners_called_in_order_and_a_failing_one_costs_the_others_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = Hub()
    got: list[tuple[str, str]] = []

    def broken(b: CommittedBatch) -> None:
        raise RuntimeError("console gone")

    hub.subscribe(lambda b: got.append(("first", b.chair)), "first")
    hub.subscribe(broken, "broken")
    stop = hub.subscribe(lambda b: got.append(("last", b.chair)), "last")
    caplog.set_level(logging.DEBUG, logger="monitord.hub")
    for chair in ("chair-1", "chair-2", "chair-3"):
        hub.publish(CommittedBatch(chair, 1.0))
    assert got == [(w, c) for c in ("chair-1", "chair-2", "chair-3") for w in ("first", "last")]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "listener broken" in errors[0].getMessage()  # once, then DEBUG
    stop()
    hub.publish(CommittedBatch("chair-4", 2.0))
    assert got[-1] == ("first", "chair-4")


SCENARIO = [
    {"t": 0, "event": "session_start", "protocol": "esketamine"},
    *({"t": t, "event": "spo2", "spo2": 97, "pulse": 70} for t in range(1, 20)),
    *({"t": t, "event": "spo2", "spo2": 80, "pulse": 70} for t in range(20, 60)),
    *({"t": t, "event": "spo2", "spo2": 97, "pulse": 70} for t in range(60, 120)),
    {"t": 120, "event": "session_end"},
    {"t": 121, "event": "end"},
]


async def test_a_new_listener_sees_everything_the_chair_committed(tmp_path: Path) -> None:
    # The coming station-receipt listener (issue 16) is one more subscriber: it must see
    # every stored reading, alert event and session event, in commit order, with the
    # active set after each change, without the daemon or the chair knowing it.
    (tmp_path / "s.jsonl").write_text("\n".join(json.dumps(e) for e in SCENARIO) + "\n")
    cfg = loads_config(
        f'[site]\nid = "hub-test"\n[mqtt]\nenabled = false\n[influx]\nenabled = false\n'
        f'[storage]\npath = "{tmp_path / "outbox.sqlite"}"\n[[chairs]]\nid = "chair-1"\n'
        f'[[chairs.devices]]\nid = "ox"\ndriver = "masimo-ascii"\n'
        f'simulate = "{tmp_path / "s.jsonl"}"\nsimulate_speed = 60\n'
    )
    daemon = Daemon(cfg, stop_when_played=True, simulated=start_simulated_chair)
    batches: list[CommittedBatch] = []
    daemon.hub.subscribe(batches.append, "station")
    await asyncio.wait_for(daemon.run(), 120)

    # The set it starts with, and its session for the nurses' station (issue 17), on the
    # chair's clock as its events (a simulated chair's: the scenario's start).
    clock = daemon.chairs["chair-1"].clock
    assert isinstance(clock, SimClock)
    start = CommittedBatch("chair-1", clock.start, active=[], session={"phase": "idle"})
    assert batches[0] == start, (batches[0], clock.start)
    assert all(b.durable and b.chair == "chair-1" for b in batches)
    store = Outbox(tmp_path / "outbox.sqlite", cfg.storage)
    try:
        events = [e for b in batches for e in b.events]
        assert [(e.alert_id, e.event) for e in events] == [
            (e.alert_id, e.event) for e in store.alert_events()
        ]
        assert ("spo2.very_low", "raised") in [(e.rule, e.event) for e in events]
        sessions = [s.action for b in batches for s in b.sessions]
        assert sessions == [s.action for s in store.session_events()] == ["start", "end"]
        assert sum(len(b.readings) for b in batches) == len(store.readings()) >= 100
    finally:
        store.close()
    changed = [b.active for b in batches if b.active is not None]
    assert any(changed), "the raised alert was in some active set"
    assert changed[-1] == daemon.chairs["chair-1"].active == []
    phases = [b.session["phase"] for b in batches if b.session is not None]
    assert phases[0] == "idle" and "baseline" in phases and phases[-1] == "idle", phases
