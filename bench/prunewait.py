"""How long an alarm waits behind a prune (issue 20).

The store's prune (retention, the disk budget) runs in the writer thread every
`storage.prune_interval_s`, and an alarm's commit submitted meanwhile waits for it. This
bench builds a store of `--rows` delivered readings (a clinic's history), then, round by
round, commits a minute of a 4-chair clinic's group commits (readings and engine
snapshots, as the daemon's writer thread does), writes an alarm with nothing in front
(`plain`), commits another minute, starts a prune and writes an alarm right behind it
(`behind_prune`). Each figure is the time from `StoreGuard.write` to the batch's `done`
on the loop: what a published alarm waited for its commit.

With `--case budget` each prune is a disk-budget one instead: before it, `storage.max_mb`
is set just under what the store holds, as when a store first reaches its budget, so the
prune deletes the oldest delivered readings down to 90 % of the budget (a tenth of the
store) while the alarm waits. `deleted` gives the rows each of those prunes deleted, and
`prune_ms_median` how long a whole prune took. `--case outage` is the same with nothing
delivered (InfluxDB down): the search for delivered rows, which go first, reads past
every row, and the oldest undelivered readings are dropped instead.

With `--fsync-ms N` the measurement runs in a child with the bench/slowdisk.c shim
preloaded, so every fsync/fdatasync takes N ms longer (an SD card).

    python -m bench.prunewait [--rows 300000] [--rounds 12] [--fsync-ms 20]
        [--case retention|budget|outage]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import slowdisk
from monitord.config import StorageConfig
from monitord.models import AlertEvent, Kind, Reading
from monitord.outbox import Outbox
from monitord.store.checkpoint import Checkpointer
from monitord.store.writer import StoreWriter
from monitord.storebatch import StoreBatch
from monitord.storeguard import StoreGuard
from monitord.techalarm import TechAlarms

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


def readings(start: int, n: int) -> list[Reading]:
    out = []
    for i in range(start, start + n):
        at = T0 + timedelta(milliseconds=250 * i)
        out.append(Reading(f"chair-{i % 4 + 1}", "ox", Kind.SPO2, {"spo2_pct": 97.0}, at, at))
    return out


def alarm(i: int) -> AlertEvent:
    return AlertEvent(t=T0.timestamp() + i, chair="chair-1", rule="spo2.low", event="raised",
                      priority="high", kind="physiological", alert_id=f"a-{i:06d}",
                      phase="dosing", value={"spo2_pct": 85.0},
                      message="SpO2 low (bench)")  # fmt: skip


def prefill(path: Path, rows: int, delivered: bool = True) -> None:
    """`rows` readings, delivered (prunable once past retention) unless not `delivered`,
    in commits of 5,000."""
    ob = Outbox(path, StorageConfig(path=path))
    for k in range(0, rows, 5000):
        ids = ob.add_readings(readings(k, min(5000, rows - k)), {})
        ob.commit()
        if delivered:
            ob.mark_delivered("influx", ids)
    ob.prune()
    ob.close()


async def measure(path: Path, rounds: int, case: str = "retention") -> dict[str, Any]:
    ob = Outbox(path, StorageConfig(path=path))
    writer = StoreWriter()
    ck = Checkpointer(path)
    ob.use_writer(writer.submit, ck.kick)
    guard = StoreGuard(ob, TechAlarms(), writer, commit_interval_s=0)
    n = ob.count("reading")

    async def minute() -> None:  # 12 group commits of 5 s: 4 chairs, 3 readings/s each
        nonlocal n
        for k in range(12):
            snapshot = "x" * (3000 + 37 * (n % 50))  # an engine snapshot: overflow pages
            guard.write(StoreBatch("chair-1", runs=[(readings(n, 60), "s-1")],
                                   state={f"engine:chair-{k % 4 + 1}": snapshot}))  # fmt: skip
            n += 60
            await guard.drain()

    async def alarm_ms() -> float:
        done = asyncio.get_running_loop().create_future()
        t0 = time.perf_counter()
        guard.write(StoreBatch("chair-1", events=[alarm(n)], done=lambda: done.set_result(1)))
        await done
        return (time.perf_counter() - t0) * 1e3

    def budget_just_under() -> None:  # in the writer thread (it owns the connection)
        counted = ob._db_bytes()
        scale = min(3.0, max(1.0, ob._page_bytes() / counted))
        ob.cfg = ob.cfg.model_copy(update={"max_mb": counted * scale * 0.999 / 2**20})

    plain: list[float] = []
    behind: list[float] = []
    deleted: list[int] = []
    took: list[float] = []  # the whole prune, alarm included
    try:
        for _ in range(rounds):
            await minute()
            plain.append(await alarm_ms())
            await minute()
            if case in ("budget", "outage"):
                await writer.call(budget_just_under)
            t0 = time.perf_counter()
            prune = asyncio.ensure_future(guard.prune_async())
            await asyncio.sleep(0)  # the prune is in the writer thread's queue first
            behind.append(await alarm_ms())
            done = await prune
            took.append((time.perf_counter() - t0) * 1e3)
            deleted.append(sum(done.values()))
    finally:
        ck.stop()
        writer.stop()
        ob.close()
    return {
        "case": case,
        "rows": n,
        "plain_ms_median": round(statistics.median(plain), 2),
        "behind_prune_ms_median": round(statistics.median(behind), 2),
        "behind_prune_ms_max": round(max(behind), 2),
        "plain_ms": [round(x, 2) for x in plain],
        "behind_prune_ms": [round(x, 2) for x in behind],
        "deleted": deleted,
        "prune_ms_median": round(statistics.median(took), 1),
    }


def run(rows: int, rounds: int, fsync_ms: float, case: str = "retention") -> dict[str, Any]:
    """Build the store and measure, in a child process (with the shim when `fsync_ms`)."""
    with tempfile.TemporaryDirectory(prefix="monitord-prunewait-") as d:
        path = Path(d) / "outbox.sqlite"
        prefill(path, rows, case != "outage")  # here: the shim would only slow the set-up
        env = dict(os.environ)
        if fsync_ms > 0:
            env.update(slowdisk.env(slowdisk.build(Path(d)), fsync_ms))
        out = subprocess.run(
            [sys.executable, "-m", "bench.prunewait", "--child", str(path), str(rounds), case],
            env=env, cwd=Path(__file__).resolve().parent.parent, capture_output=True,
            text=True, check=True,
        ).stdout  # fmt: skip
    res: dict[str, Any] = json.loads(out)
    return {"fsync_ms": fsync_ms, **res}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m bench.prunewait", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--rows", type=int, default=300_000, help="readings in the store (300000)")
    ap.add_argument("--rounds", type=int, default=12, help="prunes measured (12)")
    ap.add_argument("--fsync-ms", type=float, default=0.0, help="extra ms per fsync (0)")
    ap.add_argument("--case", choices=("retention", "budget", "outage"), default="retention",
                    help="each prune: none due; a tenth goes; the same undelivered")  # fmt: skip
    ap.add_argument("--child", nargs=3, metavar=("STORE", "ROUNDS", "CASE"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(asyncio.run(measure(Path(a.child[0]), int(a.child[1]), a.child[2]))))
        return
    print(json.dumps(run(a.rows, a.rounds, a.fsync_ms, a.case), indent=1))


if __name__ == "__main__":
    main()
