"""A prune does not read again, at every prune, the rows past retention it had to keep
(monitord/store/retention.py, `_expire_from`).

Rows past retention that are not delivered (an InfluxDB outage) are kept. The retention
walk started from the store's first row at every prune (each minute), so it read all of
them again each time: on a generated store of one chair (10 h a day, HR and SpO2 at 1 Hz)
45 days into an outage, each prune read ~940,000 rows in 188 steps. It now starts where
the last walk ended, lower only at a row whose queue row went since (delivered once the
outage is over) or that it kept for its times (measured or added past the cutoff: a clock
ahead or stepped back), so nothing is kept for good.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from monitord.config import StorageConfig
from monitord.models import Kind, Reading
from monitord.outbox import Outbox
from monitord.store.retention import SCAN_STEP_IDS, PruneRun
from tests.delivery.helpers import base_time

DAY_NS = 86_400 * 10**9
B = int(base_time().timestamp())
N = 4 * SCAN_STEP_IDS + 1_000  # rows past retention: five windows of the walk
SHIFT_NS = 20_000 * 10**9


def store(path: Path, n: int, delivered: bool) -> tuple[Outbox, list[int]]:
    """`n` readings of one chair, row i measured and added at B + i s (retention 1 day);
    delivered to InfluxDB, or not (an outage)."""
    ob = Outbox(path, StorageConfig(path=path, retention_days=1))
    out: list[int] = []
    for i in range(0, n, 1_000):
        rs = [
            Reading("chair-1", "ox", Kind.SPO2, {"spo2_pct": 97.0}, t, t)
            for t in (base_time() + timedelta(seconds=j) for j in range(i, i + 1_000))
        ]
        ids = ob.add_readings(rs, {})
        ob.commit()
        if delivered:
            ob.mark_delivered("influx", ids)
        out += ids
    first = out[0]
    ns = f"({B} + id - {first}) * 1000000000"
    ob._db.execute(f"UPDATE records SET added_ns = {ns}, t_ns = {ns}")
    ob.commit()
    return ob, out


def prune(ob: Outbox, now_s: int) -> tuple[int, int]:
    """Prune at B + `now_s` + 1 day; (the retention walk's steps, rows it deleted)."""
    run = PruneRun((B + now_s) * 10**9 + DAY_NS)
    steps = 0
    while ob.prune_step(run):
        steps += run.stage == "expire"
    return steps, run.done["expired"]


def left(ob: Outbox) -> list[int]:
    return [r[0] for r in ob._db.execute("SELECT id FROM records ORDER BY id")]


def test_rows_kept_in_an_outage_are_not_read_again_at_every_prune(tmp_path: Path) -> None:
    ob, ids = store(tmp_path / "o.sqlite", N, delivered=False)
    steps, gone = prune(ob, now_s=N + 10)  # every row past retention, none delivered
    assert gone == 0 and steps >= N // SCAN_STEP_IDS
    # A minute later: nothing new past retention. The walk read all N rows again (as
    # many steps as the first) before; now it starts past them.
    steps, gone = prune(ob, now_s=N + 70)
    assert gone == 0 and steps <= 1, steps
    assert len(left(ob)) == N
    # The outage is over for some of them, deep in the store: they go at the next prune,
    # and the walk after that starts past them again.
    ob.mark_delivered("influx", ids[100:200])
    steps, gone = prune(ob, now_s=N + 130)
    assert gone == 100 and set(left(ob)) == set(ids) - set(ids[100:200])
    assert prune(ob, now_s=N + 190) == (1, 0)
    ob.close()


def test_a_row_measured_past_the_cutoff_goes_once_it_is_past_it(tmp_path: Path) -> None:
    ob, ids = store(tmp_path / "o.sqlite", 2 * SCAN_STEP_IDS, delivered=True)
    # Delivered, added at the start, but one measured 20,000 s later than the rest (a
    # chair clock ahead of the wall clock) and one added "later" (before a clock step
    # back): both past the first prunes' cutoff, which passes the rows around them.
    ahead, stepped = ids[10], ids[20]
    ob._db.execute("UPDATE records SET t_ns = t_ns + ? WHERE id = ?", (SHIFT_NS, ahead))
    ob._db.execute("UPDATE records SET added_ns = added_ns + ? WHERE id = ?",
                   (SHIFT_NS, stepped))  # fmt: skip
    ob.commit()
    prune(ob, now_s=len(ids) + 10)
    assert left(ob) == [ahead, stepped]
    prune(ob, now_s=len(ids) + 70)  # still within their retention
    assert left(ob) == [ahead, stepped]
    prune(ob, now_s=20_000 + 100)  # past it: gone, not passed over for good
    assert left(ob) == []
    ob.close()


def test_queue_rows_released_at_start_make_kept_rows_go(tmp_path: Path) -> None:
    ob, ids = store(tmp_path / "o.sqlite", 2 * SCAN_STEP_IDS, delivered=False)
    prune(ob, now_s=len(ids) + 10)
    assert len(left(ob)) == len(ids)
    # InfluxDB disabled in the config (the same store, as a restart would do it in place):
    # the queue is released and the rows leave with retention.
    assert ob.route_to(["mqtt"]) == len(ids)
    _, gone = prune(ob, now_s=len(ids) + 70)
    assert gone == len(ids) and left(ob) == []
    ob.close()
