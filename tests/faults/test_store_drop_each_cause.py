"""A commit the store refuses for a bug (a value SQLite or JSON will not take) is said at
ERROR, the line docs/operations.md tells the admin to report. Since the hourly quieting
of a corrupt store's refusals (monitord/storedrop.py), a second refusal for another
cause within the hour (another bug, another chair's alarm lost) was said at DEBUG only,
under the first's: the journal never said what dropped it. Each cause is now said at
ERROR the first time, and quieted for an hour on its own.

Real parts: the daemon and its store; the bugs injected in the store's add_alerts as in
test_store_bug_drops_loudly.py."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pytest

from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.models import AlertEvent, Kind
from monitord.store.codec import StoredAlert
from monitord.storedrop import DropLog
from tests.faults.writerkit import reading, running, two_chairs
from tests.kit import eventually

ALERTS = '"spo2.very_low" = { for_s = 0 }\n"hr.very_high" = { for_s = 0 }\n'
BUGS = {"spo2.very_low": "a value the store cannot take", "hr.very_high": "another one"}


async def test_a_second_cause_within_the_hour_is_said_at_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="monitord.store")
    daemon = Daemon(loads_config(two_chairs(tmp_path, "store-bugs", alerts=ALERTS)))
    ob = daemon.outbox
    real = ob.add_alerts

    def add_alerts(events: Sequence[AlertEvent]) -> list[StoredAlert]:
        for e in events:
            if e.rule in BUGS:
                raise TypeError(BUGS[e.rule])
        return real(events)

    ob.add_alerts = add_alerts  # type: ignore[method-assign]  # the bugs, injected

    def said(level: int) -> list[str]:
        return [r.getMessage() for r in caplog.records
                if r.levelno == level and "cannot be stored" in r.getMessage()]  # fmt: skip

    async with running(daemon):
        daemon.chairs["chair-a"].submit(reading("chair-a", Kind.SPO2, {"spo2_pct": 80.0}))
        await eventually(lambda: said(logging.ERROR), 10, "the first said")
        daemon.chairs["chair-b"].submit(reading("chair-b", Kind.HR, {"hr_bpm": 170.0}))
        await eventually(lambda: len(said(logging.ERROR) + said(logging.DEBUG)) > 1, 10, "2nd")
    errors = said(logging.ERROR)
    assert len(errors) == 2, (errors, said(logging.DEBUG))
    assert errors[0].endswith(f"cannot be stored (TypeError: {BUGS['spo2.very_low']}): dropped")
    assert errors[1].endswith(f"cannot be stored (TypeError: {BUGS['hr.very_high']}): dropped")


def test_each_cause_is_counted_on_its_own_over_hours(caplog: pytest.LogCaptureFixture) -> None:
    """The hourly line's counts after several hours, each cause's its own; a corrupt
    store's marks-only commits (no batch, no alert event) counted as commits."""
    caplog.set_level(logging.DEBUG, logger="monitord.store")
    clock = [0.0]
    drops = DropLog(lambda: clock[0])
    rot, bug = "DatabaseError: database disk image is malformed", "TypeError: a bug"
    drops.dropped(1, 0, rot)
    for _ in range(10):  # marks-only commits, several a second
        clock[0] += 0.5
        drops.dropped(0, 0, rot)
    drops.dropped(2, 3, bug)
    clock[0] += 5 * 3600.0  # hours on, each said again with what it dropped since
    drops.dropped(0, 0, rot)
    drops.dropped(1, 1, bug)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        f"store: 1 batch(es), 0 alert events, cannot be stored ({rot}): dropped",
        f"store: 2 batch(es), 3 alert events, cannot be stored ({bug}): dropped",
        f"store: 0 batch(es), 0 alert events, cannot be stored ({rot}): dropped (10 more "
        "commit(s) refused since it was last said, 0 batch(es), 0 alert events dropped)",
        f"store: 1 batch(es), 1 alert events, cannot be stored ({bug}): dropped",
    ]
