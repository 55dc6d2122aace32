"""The retention walk that starts where the last one ended (monitord/store/retention.py,
`_expire_from`) leaves exactly what the walk from the store's first row left, whatever
happened between two prunes; and no prune ever deletes a row still waiting for a sink
(but the budget's oldest undelivered readings, counted).

Seeded random sequences of what a store lives through: appends of readings, alert and
session events of several chairs, measured behind or ahead of the wall clock; deliveries
per sink in and out of order and partial, as the daemon writes them (held in memory,
written with a group commit that may fail on a full disk and be retried); quarantines;
a sink disabled and enabled again (its queue released); wall-clock steps back and forward;
a small `storage.max_mb` (budget passes); restarts (a new store object on the same
file); and prunes, whole or step by step with the other operations in between.

The oracle: at each prune, a copy of the store (SQLite's backup, with the delivery marks
held in memory) opened as a new store object, whose walk starts at 0 as before the change,
pruned at the same instant. A prune with nothing in between its steps must leave the same
rows (and count the same); one with operations in between may leave more (a row delivered
after the walk passed it goes at the next prune), never fewer. At the end, everything
delivered and the clock past every row's retention, the store must be empty: no row is
kept for good.
"""

from __future__ import annotations

import os
import random
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitord.config import StorageConfig
from monitord.models import AlertEvent, Kind, Reading, SessionEvent
from monitord.outbox import Outbox
from monitord.store import retention
from monitord.store.base import Durability
from monitord.store.codec import ROUTES, SINKS, Sink
from monitord.store.retention import PruneRun

S = 10**9
RET_S = 100  # retention: 100 s, so a few clock steps cross it
T0 = 1_790_000_000 * S  # the wall clock at the start of each sequence
CHAIRS = ("chair-1", "chair-2", "chair-3")
SEQUENCES = 300


@dataclass
class Sim:
    rng: random.Random
    path: Path
    max_mb: float
    writer: bool  # marks held in memory and written with a "group commit", as the daemon
    clock: list[int]
    ob: Outbox = field(init=False)
    enabled: tuple[Sink, ...] = SINKS
    # What the store must keep whatever the prune: (id -> type, sinks it still waits for).
    waiting: dict[int, tuple[str, set[Sink]]] = field(default_factory=dict)
    snaps: int = 0
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.open()

    def cfg(self, path: Path) -> StorageConfig:
        return StorageConfig(path=path, retention_days=RET_S / 86_400, max_mb=self.max_mb)

    def open(self) -> None:
        self.ob = Outbox(self.path, self.cfg(self.path))
        self.ob.route_to(self.enabled)  # as the daemon at its start (daemon.py)
        if self.writer:
            self.ob.use_writer(lambda job: job())
            self.ob.fold_marks(lambda n: None)

    # -- the operations -----------------------------------------------------------------
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock[0] / S, tz=UTC)

    def measured(self) -> float:
        """A measured time behind or ahead of the wall clock (a chair clock off)."""
        off = self.rng.choice((-3 * RET_S, -RET_S - 5, -10, 0, 0, 0, 30, RET_S // 2, 2 * RET_S))
        return self.clock[0] / S + off + self.rng.random()

    def queued(self, rtype: str, ids: list[int]) -> None:
        sinks = {s for s in ROUTES[rtype] if s in self.enabled}  # type: ignore[index]
        for i in ids:
            if sinks:
                self.waiting[i] = (rtype, set(sinks))

    def append(self) -> None:
        chair = self.rng.choice(CHAIRS)
        what = self.rng.choice(("reading", "reading", "reading", "alert", "session"))
        if what == "reading":
            rs = []
            for _ in range(self.rng.randint(1, 12)):
                at = datetime.fromtimestamp(self.measured(), tz=UTC)
                dev = self.rng.choice(("ox", "hr"))
                kind = Kind.SPO2 if dev == "ox" else Kind.HR
                vals = {"spo2_pct": 97.0} if dev == "ox" else {"hr_bpm": 70.0}
                rs.append(Reading(chair, dev, kind, vals, at, at))
            ids = self.ob.add_readings(rs, {})
        elif what == "alert":
            n = self.rng.randint(0, 10**6)
            ids = self.ob.add_alert_events([AlertEvent(
                t=self.measured(), chair=chair, rule="spo2.low", event="raised",
                priority="high", kind="physiological", alert_id=f"a-{n}", phase="dosing",
                value={"spo2_pct": 85.0}, message="SpO2 low")])  # fmt: skip
        else:
            ids = self.ob.add_session_events([SessionEvent(
                t=self.measured(), chair=chair, action="start", protocol="esketamine",
                session_id="s-1")])  # fmt: skip
        self.ob.commit()
        self.queued(what, ids)
        self.log.append(f"append {what} {ids}")

    def deliver(self) -> None:
        sink = self.rng.choice(SINKS)
        ids = [r.id for r in self.ob.fetch(sink, 10_000)]
        if not ids:
            return
        picked = self.rng.sample(ids, self.rng.randint(1, len(ids)))  # any order, part
        while picked:
            chunk, picked = picked[: self.rng.randint(1, 20)], picked[20:]
            self.ob.mark_delivered(sink, chunk)
            self.done(sink, chunk)
        self.log.append(f"deliver {sink}")

    def done(self, sink: Sink, ids: list[int]) -> None:
        for i in ids:
            if i in self.waiting:
                self.waiting[i][1].discard(sink)
                if not self.waiting[i][1]:
                    del self.waiting[i]

    def flush(self) -> None:
        """The daemon's group commit of the held marks (storeguard.py); on a full disk it
        rolls back and the marks stay held for the next one."""
        if not self.writer:
            return
        ob = self.ob
        ob.begin(Durability.NORMAL)
        written = ob.write_held_marks()
        if self.rng.random() < 0.3:
            ob.rollback()  # the disk was full: nothing written, the marks stay held
            self.log.append("flush failed")
            return
        ob.commit()
        ob.marks_committed(written)
        self.log.append("flush")

    def quarantine(self) -> None:
        sink = self.rng.choice(SINKS)
        ids = [r.id for r in self.ob.fetch(sink, 10_000)]
        if ids:
            bad = self.rng.sample(ids, min(len(ids), self.rng.randint(1, 3)))
            self.ob.quarantine(sink, [(i, "rejected", None) for i in bad])
            self.done(sink, bad)
            self.log.append(f"quarantine {sink} {bad}")

    def reroute(self) -> None:
        """A sink disabled (its queue released) or enabled again, in place."""
        self.enabled = self.rng.choice(((), ("influx",), ("mqtt",), SINKS, SINKS))
        self.ob.route_to(self.enabled)
        for sink in SINKS:
            if sink not in self.enabled:
                self.done(sink, list(self.waiting))
        self.log.append(f"route_to {self.enabled}")

    def tick(self) -> None:
        step = self.rng.choice((1, 5, 20, 20, 60, RET_S // 3, -RET_S // 2, -2 * RET_S, 2 * RET_S))
        self.clock[0] += step * S
        self.log.append(f"clock {step:+d} s")

    def restart(self) -> None:
        self.ob.close()  # marks still held in memory are lost: the rows are resent
        self.open()
        self.log.append("restart")

    def act(self) -> None:
        op = self.rng.choices(
            (self.append, self.deliver, self.flush, self.quarantine, self.reroute,
             self.tick, self.restart),
            (8, 4, 3, 1, 1, 4, 1),
        )[0]  # fmt: skip
        op()

    # -- the checks ---------------------------------------------------------------------
    def rows(self, ob: Outbox) -> set[int]:
        return {i for (i,) in ob._db.execute("SELECT id FROM records")}

    def oracle(self, ops: list[str] | None = None) -> tuple[set[int], dict[str, int]]:
        """The rows a prune from the first row leaves, now, on a copy of the store."""
        self.ob.commit()
        self.snaps += 1
        snap = self.path.with_name(f"snap{self.snaps}.sqlite")
        dst = sqlite3.connect(snap)
        self.ob._db.backup(dst)
        dst.close()
        twin = Outbox(snap, self.cfg(snap))
        assert twin._expire_from == 0
        for sink in SINKS:
            twin._held_marks[sink] = set(self.ob._held_marks[sink])
        done = twin.prune(self.clock[0])
        left = self.rows(twin)
        twin.close()
        for p in snap.parent.glob(f"{snap.name}*"):
            p.unlink()
        return left, done

    def check_kept(self, done: dict[str, int]) -> None:
        """No row still waiting for a sink was deleted, but readings the budget dropped."""
        present = self.rows(self.ob)
        gone = [i for i in self.waiting if i not in present]
        assert all(self.waiting[i][0] == "reading" for i in gone), (gone, self.log[-30:])
        assert len(gone) <= done["dropped_readings"], (gone, done, self.log[-30:])
        for i in gone:
            del self.waiting[i]

    def prune(self) -> None:
        expected, want = self.oracle()
        if self.rng.random() < 0.5:
            done = self.ob.prune(self.clock[0])
        else:
            run = PruneRun(self.clock[0])
            while self.ob.prune_step(run):
                pass
            done = run.done
        self.check_kept(done)
        assert self.rows(self.ob) == expected, self.diff(expected)
        assert done == want, (done, want, self.log[-30:])
        self.log.append(f"prune {done}")

    def prune_interleaved(self) -> None:
        """A prune as the daemon runs it: other writer jobs between its steps."""
        run = PruneRun(self.clock[0])
        before = self.rows(self.ob)
        while self.ob.prune_step(run):
            if run.stage == "expire" and self.rng.random() < 0.5:
                self.rng.choice((self.append, self.deliver, self.flush, self.quarantine))()
        self.check_kept(run.done)
        # A row delivered once the walk had passed it may stay until the next prune; a
        # row the copy's walk keeps must be kept here too (appended rows are newer).
        expected, _ = self.oracle()
        assert self.rows(self.ob) >= expected & before, self.diff(expected)
        self.log.append(f"prune interleaved {run.done}")

    def diff(self, expected: set[int]) -> str:
        got = self.rows(self.ob)
        rows = {
            i: (t, a - self.clock[0], ns - self.clock[0], self.ob._expire_from)
            for i, t, a, ns in self.ob._db.execute("SELECT id, type, added_ns, t_ns FROM records")
        }
        kept = {i: rows.get(i) for i in sorted(got - expected)}
        return (
            f"kept beyond the walk from 0: {kept}; deleted that it keeps: "
            f"{sorted(expected - got)}\n" + "\n".join(self.log[-40:])
        )

    def drain(self) -> None:
        """Everything delivered, the clock past every row's times: nothing may remain."""
        self.ob.route_to(SINKS)
        for sink in SINKS:
            while ids := [r.id for r in self.ob.fetch(sink, 10_000)]:
                self.ob.mark_delivered(sink, ids)
        if self.writer:
            written = self.ob.write_held_marks()
            self.ob.commit()
            self.ob.marks_committed(written)
        (top,) = self.ob._db.execute("SELECT max(max(added_ns), max(t_ns)) FROM records").fetchone()
        if top is not None:
            self.clock[0] = max(self.clock[0], top) + (RET_S + 1) * S
        self.waiting.clear()
        self.prune()
        assert self.rows(self.ob) == set(), self.diff(set())


@pytest.mark.parametrize("block", range(6))
def test_prune_from_where_the_last_ended_equals_the_walk_from_0(
    block: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small windows, so that a walk over a few hundred rows takes many steps and rows
    # are kept and passed in every position of a window.
    monkeypatch.setattr(retention, "SCAN_STEP_IDS", 7)
    monkeypatch.setattr(retention, "PRUNE_STEP_ROWS", 3)
    clock = [T0]
    # The wall clock the store stamps `added_ns` (and quarantines) with.
    monkeypatch.setattr(time, "time_ns", lambda: clock[0])
    # In RAM where there is one: a few thousand fsynced commits per sequence, and the
    # fsyncs are not what is tested (tmpfs ignores them).
    ram = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(dir=ram or tmp_path) as top:
        run_block(block, Path(top), clock)


def run_block(block: int, top: Path, clock: list[int]) -> None:
    per = SEQUENCES // 6
    for seed in range(block * per, (block + 1) * per):
        rng = random.Random(seed)
        clock[0] = T0
        d = top / f"s{seed}"
        d.mkdir()
        # max_mb: none, or budgets a few dozen rows exceed (deleted early, dropped).
        max_mb = rng.choice((512.0, 512.0, 0.004, 0.01, 0.02))
        sim = Sim(rng, d / "o.sqlite", max_mb, rng.random() < 0.6, clock)
        sim.log.append(f"seed {seed} max_mb {sim.max_mb} writer {sim.writer}")
        for _ in range(rng.randint(40, 120)):
            r = rng.random()
            if r < 0.1:
                sim.prune()
            elif r < 0.15:
                sim.prune_interleaved()
            else:
                sim.act()
        sim.drain()
        sim.ob.close()
