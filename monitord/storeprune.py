"""The store's pruning for the guard (monitord/storeguard.py): `Outbox.prune_step` run to
the end, in the writer thread one bounded step per job (an alarm's commit waits for the
step under way, not the whole prune: issue 20) or on the caller without one; a prune the
disk refuses is logged and retried next interval; undelivered readings it dropped raise
`store.budget`."""

from __future__ import annotations

import logging
import sqlite3
import time

from monitord.log import FailureLog
from monitord.outbox import Outbox, store_unavailable
from monitord.store.retention import PruneRun
from monitord.store.writer import StoreWriter
from monitord.techalarm import TechAlarms


class _Unavailable(sqlite3.OperationalError):
    """A prune the disk refused (already rolled back): logged, retried next interval."""


def _step(outbox: Outbox, run: PruneRun) -> bool:
    try:
        return outbox.prune_step(run)
    except (sqlite3.Error, OSError) as e:
        outbox.rollback()
        if not store_unavailable(e):
            raise
        raise _Unavailable(str(e)) from e


async def prune_in_writer(
    outbox: Outbox, writer: StoreWriter, flog: FailureLog, alarms: TechAlarms
) -> dict[str, int]:
    """Prune in the writer thread, one bounded step per job (a store that just reached
    its budget deletes a tenth of itself: seconds on a Pi)."""
    run = PruneRun(time.time_ns())
    try:
        while await writer.call(lambda: _step(outbox, run)):
            pass
    except _Unavailable as e:
        flog.failure("prune", f"prune failed: {e}", logging.WARNING)
        return {}
    return _pruned(outbox, alarms, run.done)


def prune_here(outbox: Outbox, flog: FailureLog, alarms: TechAlarms) -> dict[str, int]:
    """Prune on the caller (no writer thread: tests, a store in memory)."""
    run = PruneRun(time.time_ns())
    try:
        while _step(outbox, run):
            pass
    except _Unavailable as e:
        flog.failure("prune", f"prune failed: {e}", logging.WARNING)
        return {}
    return _pruned(outbox, alarms, run.done)


def _pruned(outbox: Outbox, alarms: TechAlarms, done: dict[str, int]) -> dict[str, int]:
    if done.get("dropped_readings"):
        total = outbox.counters().get("dropped_readings", 0)
        alarms.raise_(
            "store.budget",
            f"the store reached storage.max_mb = {outbox.cfg.max_mb:g} with "
            f"undelivered data: {total} undelivered readings dropped so far (alert "
            "and session events are kept); check InfluxDB or raise storage.max_mb",
        )
    return done
