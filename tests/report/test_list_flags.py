"""`monitord report --list` flags the sessions that need a look (docs/report.md): one never
ended, or whose observation after the dose was SHORT or CANNOT BE JUDGED, as the report's
own observation line says in red. Before, the list showed chair, start, protocol and id
only: such a session looked like any other until it was opened. The flag is a fifth
tab-separated column, so the first four read as they always did."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from monitord.config import StorageConfig
from monitord.outbox import Outbox
from monitord.report import record_for, session_spans
from monitord.store.base import Durability
from monitord.store.outages import outages_key

from .storeplay import T0, play_into_store

# One chair, six sessions (session events only: the flag needs no readings).
SCEN = """\
{"t": 0, "event": "session_start", "protocol": "esketamine", "session_id": "s-met"}
{"t": 60, "event": "dose_start"}
{"t": 7320, "event": "session_end"}
{"t": 8000, "event": "session_start", "protocol": "esketamine", "session_id": "s-short"}
{"t": 8060, "event": "dose_start"}
{"t": 9860, "event": "session_end"}
{"t": 10000, "event": "session_start", "protocol": "esketamine", "session_id": "s-nodose"}
{"t": 10600, "event": "session_end"}
{"t": 11000, "event": "session_start", "protocol": "esketamine", "session_id": "s-down"}
{"t": 11060, "event": "dose_start"}
{"t": 18400, "event": "session_end"}
{"t": 18600, "event": "session_start", "protocol": "esketamine", "session_id": "s-unknown"}
{"t": 18660, "event": "dose_start"}
{"t": 19000, "event": "session_end"}
{"t": 20000, "event": "session_start", "protocol": "iv-ketamine", "session_id": "s-open"}
{"t": 20060, "event": "dose_start"}
{"t": 20400, "event": "dose_end"}
{"t": 20500, "event": "end"}
"""

FLAGS = {
    "s-met": "met",
    "s-short": "SHORT",
    "s-nodose": "CANNOT BE JUDGED",
    "s-down": "CANNOT BE JUDGED",  # monitord not running inside the minimum window
    "s-unknown": "CANNOT BE JUDGED",  # short on the record's clock, down an unknown time
    "s-open": "NOT ENDED",
}


def test_list_flags_the_sessions_that_need_a_look(tmp_path: Path) -> None:
    scen, db = tmp_path / "s.jsonl", tmp_path / "o.sqlite"
    scen.write_text(SCEN)
    play_into_store(scen, db)
    with Outbox(db, StorageConfig(path=db)) as ob:
        # A 5-minute outage 20 min after s-down's dose (local only: the store's state).
        out = {"start": T0 + 12260, "end": T0 + 12560, "clean": False, "session": "s-down"}
        # And one the wall clock could not measure (a Pi without RTC), in s-unknown.
        unknown = {**out, "start": T0 + 18800, "end": T0 + 18800, "session": "s-unknown"}
        unknown["known"] = False
        ob.put_state(outages_key("chair-1"), [out, unknown], durability=Durability.SYNC)

    r = subprocess.run(
        [sys.executable, "-m", "monitord", "report", "--db", str(db), "--list"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    assert [row[0] for row in rows] == ["chair-1"] * 6
    assert [row[1] for row in rows][:2] == ["2024-05-06 09:00 UTC", "2024-05-06 11:13 UTC"]
    assert [(row[3], row[4]) for row in rows] == list(FLAGS.items())
    assert [row[2] for row in rows] == ["esketamine"] * 5 + ["iv-ketamine"]

    # The list says what each report's own observation line says (red unless met).
    from monitord.report.observation import list_flag

    with Outbox(db, StorageConfig(path=db), readonly=True) as ob:
        for span in session_spans(ob):
            rec = record_for(ob, span)
            assert list_flag(rec.observation, rec.ended) == FLAGS[rec.session_id]
