"""A report from a store whose disk budget deleted the session's readings says so.

Four chairs on one Pi fill `storage.max_mb` (512) in about two weeks (docs/scaling.md);
from then on each prune deletes the oldest delivered readings first, then session
events, then alert events. A session of three weeks ago still had its session and alert
events, not its vitals, and `monitord report` read "MISSING (no valid BP between session
start and dose)" and "SpO2 MISSING", observation "met", as if no vital sign had been
taken, with no word that the store had deleted them. Now the store keeps, per chair, the
newest measured time of the rows it deleted early (retention.py `_note_pruned`), and the
record of a session reaching back to it opens with INCOMPLETE RECORD, naming the report
from InfluxDB; `--list` flags it INCOMPLETE (it read `met`).
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from monitord.config import StorageConfig
from monitord.outbox import Outbox
from monitord.store.codec import SINKS

from .storeplay import play_into_store

CASE = Path(__file__).parent / "cases" / "complete_session.jsonl"


def _report(db: Path, out: Path) -> dict[str, str]:
    """`monitord report` of the session: its form as the events CSV gives it (name ->
    value, in order), after checking the HTML shows the same first line."""
    r = subprocess.run(
        [sys.executable, "-m", "monitord", "report", "--db", str(db), "--session",
         "s-complete", "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    with (out / "s-complete-events.csv").open() as f:
        form = {row["name"]: row["detail"] for row in csv.DictReader(f) if row["source"] == "form"}
    html = (out / "s-complete.html").read_text()
    assert ('id="f-incomplete"' in html) == ("incomplete" in form), html[:3000]
    return form


def test_a_session_whose_readings_the_budget_deleted_is_reported_incomplete(
    tmp_path: Path,
) -> None:
    db = tmp_path / "o.sqlite"
    play_into_store(CASE, db)
    with Outbox(db, StorageConfig(path=db)) as ob:
        for sink in SINKS:  # all delivered: only the budget may delete them early
            while ids := [r.id for r in ob.fetch(sink, 10_000)]:
                ob.mark_delivered(sink, ids)
    form = _report(db, tmp_path / "before")
    assert "incomplete" not in form and "MISSING" not in form["spo2"], form

    # A budget that takes half the readings (the oldest), not the session events: what
    # a Pi of four chairs does to a session of three weeks ago.
    with Outbox(db, StorageConfig(path=db)) as ob:
        counted = ob._db_bytes()
        scale = min(3.0, max(1.0, ob._page_bytes() / counted))
        (readings,) = ob._db.execute(
            "SELECT sum(length(body) + 64) FROM records WHERE type = 'reading'"
        ).fetchone()
        target = counted - readings // 2
        ob.cfg = StorageConfig(path=db, max_mb=target / 0.9 * scale / 2**20)
        done = ob.prune()
        assert done["pruned_early"] > 0 and done["dropped_readings"] == 0, done
        kinds = dict(ob._db.execute("SELECT type, count(*) FROM records GROUP BY type"))
        assert kinds["session"] == 4 and kinds["reading"] > 0, kinds
    form = _report(db, tmp_path / "after")
    assert next(iter(form)) == "incomplete", form
    assert form["incomplete"] == (
        "this chair's store deleted records measured up to 10:20:05 before their retention, "
        "to keep within its disk budget (storage.max_mb): readings and events of this "
        "session may be missing here, and a MISSING line may be one of them; make this "
        "record from InfluxDB (monitord report --from influx)"
    ), form["incomplete"]
    # What it warns of: the pre-dose BP went with the readings.
    assert form["pre_dose"].startswith("MISSING"), form
    # And the list a clinical lead files from flags it (it read `met`).
    r = subprocess.run(
        [sys.executable, "-m", "monitord", "report", "--db", str(db), "--list"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\t")[-1].strip() == "INCOMPLETE", r.stdout
