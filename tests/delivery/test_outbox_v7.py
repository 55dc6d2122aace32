"""Schema v7 (issue 20, SD-card writes): new reading bodies are compact, the chair left to
the row and the three times stored as ns offsets from the row's `t_ns`
(monitord/store/codec.py `reading_body`, `expand_reading`).

- Every reading reads back equal to what was appended, through every reader: a sink's
  fetch (and the InfluxDB fields made from it), the report's and the engine's history,
  `last_readings` and `recent_readings`. The cases: no device time, a device clock ahead
  of the receive time, two readings of one device at one measured time (the store moves
  the second's `t_ns` by 1 ns, not its `measured_at`), invalid, flags, contact either way,
  a record from a device's memory.
- The stored body holds neither the chair nor an absolute time, and is at least 30 bytes
  shorter than the full form (~50 with a device time near the row's; fails on the v6
  code, whose body is the full form).
- A v5 store (`data/outbox-v5.sqlite.gz`: full bodies) migrates to v7 without a row
  rewritten; after appends, its full and compact bodies side by side read back as the
  scenario wrote them, and the SQL filters on a body's kind and `stored` see both forms.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from monitord.config import StorageConfig
from monitord.models import Kind, Reading
from monitord.outbox import SCHEMA_VERSION, Outbox, StoredReading, to_ns
from monitord.sinks.influx_rows import reading_fields
from monitord.store.codec import READING_FIELDS, dumps, expand_reading
from tests.delivery.data.make_v5_store import CHAIRS, STEPS, T0, batches, play, unpack

AT = T0 + timedelta(hours=2)
GOT = AT + timedelta(milliseconds=957)
CASES: dict[str, Reading] = {
    "spo2, no device time": Reading(
        "chair-01", "ox", Kind.SPO2, {"spo2_pct": 97.0, "pulse_bpm": 72.0}, AT, GOT, contact=True
    ),
    "bp with a device clock ahead": Reading(
        "chair-01",
        "cuff",
        Kind.BP,
        {"sys_mmHg": 182.0, "dia_mmHg": 95.0, "map_mmHg": 124.0},
        AT + timedelta(seconds=40),
        GOT,
        device_time=AT + timedelta(seconds=40),
    ),
    "hr at the same measured time (t_ns moved 1 ns)": Reading(
        "chair-01", "ox", Kind.HR, {"hr_bpm": 71.0}, AT, GOT, device_time=AT - timedelta(days=2)
    ),
    "invalid, flags, no contact": Reading(
        "chair-01",
        "ox",
        Kind.SPO2,
        {"spo2_pct": None, "pulse_bpm": None},
        AT + timedelta(seconds=1),
        GOT + timedelta(seconds=1),
        valid=False,
        flags=("probe_off",),
        contact=False,
    ),
    "a record from the cuff's memory": Reading(
        "chair-01",
        "cuff",
        Kind.BP,
        {"sys_mmHg": 131.0, "dia_mmHg": 85.0},
        AT - timedelta(days=3),
        GOT + timedelta(seconds=2),
        device_time=AT - timedelta(days=3),
        stored=True,
    ),
}


def _open(path: Path) -> Outbox:
    return Outbox(path, StorageConfig(path=path))


def test_every_reader_gives_back_what_was_appended(tmp_path: Path) -> None:
    ob = _open(tmp_path / "outbox.sqlite")
    want = list(CASES.values())  # the third shares the first's device and measured time
    ids = ob.add_readings(want, {"chair-01": "s-1"})
    ob.commit()
    t_ns = dict(ob._db.execute("SELECT id, t_ns FROM records").fetchall())
    assert t_ns[ids[2]] == to_ns(AT) + 1 and t_ns[ids[0]] == to_ns(AT)

    fetched = ob.fetch("influx", 100)
    assert [r.id for r in fetched] == ids
    for r, w in zip(fetched, want, strict=True):
        assert isinstance(r, StoredReading)
        assert r.reading() == w, r
        assert (r.chair, r.kind, r.valid, r.session, r.stored) == (
            w.chair, w.kind, w.valid, "s-1", w.stored)  # fmt: skip
        # The full array a sink reads fields from (READING_FIELDS order, absolute times).
        full = dict(zip(READING_FIELDS, r.body, strict=True))
        assert full["chair"] == "chair-01" and full["measured_at"] == to_ns(w.measured_at)
        assert full["received_at"] == to_ns(w.received_at)
        fields = reading_fields(r)
        if w.device_time is None:
            assert "device_time" not in fields
        else:
            assert fields["device_time"] == w.device_time.isoformat().replace("+00:00", "Z")
        # The receive time (where the report places a live reading) when not the point's.
        if w.device_time is not None and w.received_at != w.measured_at:
            assert fields["received_at"] == w.received_at.isoformat().replace("+00:00", "Z")
        else:
            assert "received_at" not in fields

    history = ob.readings("chair-01")
    assert sorted(r.seq for r, _ in history) == ids
    for h, session in history:
        assert h == want[ids.index(h.seq)] and session == "s-1"
    windowed = ob.readings("chair-01", AT - timedelta(seconds=1), AT + timedelta(seconds=2))
    assert {r.seq for r, _ in windowed} == {ids[0], ids[2], ids[3]}
    assert all(r == want[ids.index(r.seq)] for r, _ in windowed)

    last = ob.last_readings("chair-01")
    # The newest live reading per kind (the memory record is history, never "last").
    assert last["bp"] == want[1] and last["spo2"] == want[3]
    assert last["hr"] == want[2]
    recent = ob.recent_readings("chair-01", Kind.BP, 5)
    assert [r.seq for r in recent] == [ids[4], ids[1]]
    assert recent[0] == want[4] and recent[1] == want[1]
    ob.close()


@pytest.mark.parametrize("name", list(CASES))
def test_the_stored_body_is_compact(tmp_path: Path, name: str) -> None:
    r = CASES[name]
    ob = _open(tmp_path / "outbox.sqlite")
    (i,) = ob.add_readings([r], {"chair-01": "s-1"})
    ob.commit()
    t_ns, text = ob._db.execute("SELECT t_ns, body FROM records WHERE id = ?", (i,)).fetchone()
    ob.close()
    assert "chair-01" not in text
    body = json.loads(text)
    full = dumps(expand_reading(json.loads(text), "chair-01", t_ns))
    assert str(to_ns(r.received_at)) in full and str(to_ns(r.received_at)) not in text
    # No absolute time in the compact body: every offset is within a few days of t_ns.
    for f in ("measured_at", "received_at", "device_time"):
        v = body[READING_FIELDS.index(f)]
        assert v is None or abs(v) < 10**15, (f, v)
    # The chair and the times: ~50 bytes of ~130 with a device time near t_ns, ~35 without.
    assert len(text) <= len(full) - 30, (text, full)


def _key(r: Reading) -> tuple[object, ...]:
    return (r.chair, r.device, r.kind, r.measured_at, r.received_at, r.stored)


def test_a_v5_store_reads_its_full_and_compact_bodies_alike(tmp_path: Path) -> None:
    path = unpack(tmp_path)
    db = sqlite3.connect(path)
    before = db.execute("SELECT id, body FROM records ORDER BY id").fetchall()
    db.close()
    top_v5 = before[-1][0]
    ob = _open(path)
    assert ob.schema_version() == SCHEMA_VERSION == 7
    assert ob._db.execute("SELECT id, body FROM records ORDER BY id").fetchall() == before
    more = batches(STEPS + 120)
    todo = [b for b in more if b.step >= STEPS]
    play(ob, todo)
    forms = {
        "full": ob._db.execute(
            "SELECT count(*) FROM records WHERE type = 'reading' AND body LIKE '[\"chair-%'"
        ).fetchone()[0],
        "compact": ob._db.execute(
            "SELECT count(*) FROM records WHERE type = 'reading' AND body LIKE '[null,%'"
        ).fetchone()[0],
    }
    assert forms["full"] > 2000 and forms["compact"] == sum(len(b.readings) for b in todo)

    # What the scenario wrote, every step of it, against what the store gives back.
    want = sorted(
        (r for b in batches(STEPS + 120) for r in b.readings), key=lambda r: repr(_key(r))
    )
    got = [r for r, _ in ob.readings()]
    assert sorted(got, key=lambda r: repr(_key(r))) == want
    assert len({r.chair for r in got}) == len(CHAIRS)
    # A sink's fetch: the 900 delivered before are gone; full and compact pending ones read
    # back as written.
    pending = [r for r in ob.fetch("influx", 100_000) if isinstance(r, StoredReading)]
    by_id = {r.seq: r for r in got}
    assert {p.id for p in pending} == {i for i in by_id if i > 900}
    assert min(p.id for p in pending) <= top_v5 < max(p.id for p in pending)
    for p in pending:
        assert p.reading() == by_id[p.id]
    # The SQL filters on the body (kind at $[2], `stored` at $[11]) see both forms: the
    # last BP of chair-1 is a compact row now, its memory records full ones from the v5
    # code, never taken as "last".
    last = ob.last_readings("chair-1")
    assert last["bp"].seq == max(r.seq for r in got if r.chair == "chair-1" and r.kind == Kind.BP)
    assert not last["bp"].stored
    ob.close()
