"""A batch the store refuses for a reason that is not the disk (a bug: a value SQLite or
JSON will not take) is dropped, since retrying would block every later batch behind it.
Before, that was one ERROR line: the alarm in it was never shown (no `done`, no `held`),
neither at the chair nor in the active set. Now its alarms show live, as for a full disk
(a non-durable batch with the active set), and the technical alarm `store.dropped` says
alert events were not stored, until alert events are stored again (found by this round's
audit of delivery)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from monitord.chair import APPLIED_DROPPED
from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.engine.inputs import SessionCmd
from monitord.hub import CommittedBatch
from monitord.models import AlertEvent, Kind, SessionEvent
from monitord.store.codec import StoredAlert
from tests.faults.writerkit import reading, running, two_chairs
from tests.kit import eventually

ALERTS = '"spo2.very_low" = { for_s = 0 }\n"hr.very_high" = { for_s = 0 }\n'


async def test_a_batch_dropped_by_a_bug_still_shows_its_alarm(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    daemon = Daemon(loads_config(two_chairs(tmp_path, "store-bug", alerts=ALERTS)))
    ob = daemon.outbox
    real = ob.add_alerts
    broken = [True]

    def add_alerts(events: Sequence[AlertEvent]) -> list[StoredAlert]:
        if broken[0] and any(e.rule == "spo2.very_low" for e in events):
            raise TypeError("a value the store cannot take")
        return real(events)

    ob.add_alerts = add_alerts  # type: ignore[method-assign]  # the bug, injected
    shown: list[tuple[list[str], list[str], bool]] = []

    def listener(b: CommittedBatch) -> None:
        if b.chair == "chair-a" and b.events:
            active = sorted(str(a["rule"]) for a in b.active or ())
            shown.append((active, sorted(e.rule for e in b.events), b.durable))

    daemon.hub.subscribe(listener, "test")
    async with running(daemon):
        a = daemon.chairs["chair-a"]
        a.submit(reading("chair-a", Kind.SPO2, {"spo2_pct": 80.0}))
        await eventually(lambda: "store.dropped" in daemon.alarms.active, 10, "store.dropped")
        # Shown live: the SpO2 alarm in the active set, as a batch that is not durable.
        await eventually(lambda: shown, 10, "the dropped batch shown")
        assert shown[0] == (["spo2.very_low"], ["spo2.very_low"], False)
        assert "1 alert event(s)" in daemon.alarms.active["store.dropped"]["text"]
        # The journal line docs/operations.md tells the admin to report it with.
        said = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        line = r"store: .* cannot be stored \(TypeError: a value the store cannot take\): dropped"
        assert any(re.fullmatch(line, m) for m in said), said
        broken[0] = False
        a.submit(reading("chair-a", Kind.HR, {"hr_bpm": 170.0}))
        await eventually(lambda: "store.dropped" not in daemon.alarms.active, 10, "cleared")
        assert shown[-1][1:] == (["hr.very_high"], True)
        # The other chair was never held up.
        daemon.chairs["chair-b"].submit(reading("chair-b", Kind.SPO2, {"spo2_pct": 80.0}))
        await eventually(lambda: daemon.chairs["chair-b"].active, 10, "chair-b's alarm stored")


async def test_a_command_in_a_dropped_batch_is_answered(tmp_path: Path) -> None:
    """A nurse's command whose batch is dropped gets an answer saying so (before: its
    future was never set, and whoever awaited it waited forever)."""
    daemon = Daemon(loads_config(two_chairs(tmp_path, "store-bug", alerts=ALERTS)))
    ob = daemon.outbox

    def add_session_events(events: Sequence[SessionEvent]) -> list[int]:
        raise TypeError("a value the store cannot take")

    ob.add_session_events = add_session_events  # type: ignore[method-assign]  # the bug
    async with running(daemon):
        a = daemon.chairs["chair-a"]
        start = SessionCmd(a.clock.now(), "chair-a", "start", "esketamine")
        answer = await asyncio.wait_for(a.command(start), 10)
        assert answer == APPLIED_DROPPED
