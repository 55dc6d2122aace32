"""Schema migrations: v1 -> v2 (reading bodies: JSON object -> JSON array) and v2 -> v3
(reading bodies gain `stored`), each continued to v4 by the chain (per-sink queues; v3 ->
v4 alone: test_outbox_v4.py): an outbox written by an older monitord opens with every
reading, row and counter as before, its readings live (`stored` false)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from monitord.config import StorageConfig
from monitord.outbox import _MIGRATIONS, SCHEMA_VERSION, Outbox, StoredReading, _split_sql, to_ns
from monitord.sinks.influx_rows import row_line
from monitord.store.codec import READING_FIELDS
from tests.delivery.helpers import alert, reading


def _v1_body(i: int, session: str | None) -> dict[str, object]:
    r = reading(i)
    return {
        "chair": r.chair,
        "device": r.device,
        "kind": str(r.kind),
        "values": dict(r.values),
        "measured_at": to_ns(r.measured_at),
        "received_at": to_ns(r.received_at),
        "valid": r.valid if i % 4 else False,
        "flags": list(r.flags) + (["probe_off"] if i % 5 == 0 else []),
        "contact": r.contact,
        "device_time": to_ns(r.measured_at) if i % 2 else None,
        "session": session,
    }


def test_v1_outbox_migrates_to_v2(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    for stmt in _split_sql(_MIGRATIONS[0]):
        db.execute(stmt)
    db.execute("PRAGMA user_version = 1")
    bodies = [_v1_body(i, "s-1" if i % 3 else None) for i in range(12)]
    for i, b in enumerate(bodies):
        db.execute(
            "INSERT INTO records (type, chair, t_ns, body, influx, mqtt, added_ns) "
            "VALUES ('reading', 'chair-1', ?, ?, ?, NULL, 0)",
            (b["measured_at"], json.dumps(b), i % 2),
        )
    ev = alert(1)
    db.execute(
        "INSERT INTO records (type, chair, t_ns, body, influx, mqtt, added_ns) "
        "VALUES ('alert', 'chair-1', 5, ?, 0, 0, 0)",
        (json.dumps({"t": ev.t, "chair": ev.chair, "rule": ev.rule, "event": ev.event,
                     "priority": ev.priority, "kind": ev.kind, "alert_id": ev.alert_id,
                     "phase": ev.phase, "value": dict(ev.value), "message": ev.message,
                     "level": ev.level, "by": ev.by}),),
    )  # fmt: skip
    db.close()

    ob = Outbox(path, StorageConfig(path=path))
    assert ob.schema_version() == SCHEMA_VERSION == 7
    got = ob.readings()
    assert [(r.chair, r.device, str(r.kind), dict(r.values), to_ns(r.measured_at),
             to_ns(r.received_at), r.valid, list(r.flags), r.contact,
             to_ns(r.device_time) if r.device_time else None, s) for r, s in got] == [
        tuple(b.values()) for b in bodies
    ]  # fmt: skip
    assert not any(r.stored for r, _ in got)
    assert [type(r.contact) for r, _ in got] == [type(b["contact"]) for b in bodies]
    assert ob.alert_events() == [ev]
    # sinks see typed records of the rewritten bodies; the byte counter matches them
    rows = ob.fetch("influx", 100)
    got_rows = [r for r in rows if isinstance(r, StoredReading)]
    assert [dict(zip(READING_FIELDS, r.body, strict=True)) for r in got_rows] == [
        {**b, "stored": False} for b in bodies[::2]
    ]
    assert [(r.device, r.values, r.valid, r.session) for r in got_rows] == [
        (b["device"], b["values"], b["valid"], b["session"]) for b in bodies[::2]
    ]
    assert all(row_line(r, "site") for r in rows)
    (size,) = ob._db.execute("SELECT sum(length(body) + 64) FROM records").fetchone()
    assert ob._db_bytes() == size
    assert set(ob.last_readings("chair-1")) == {"bp", "hr", "spo2"}
    # appends after the migration keep the counter exact (no INSERT trigger in v2)
    ob.add_readings([reading(i) for i in range(20, 30)], {"chair-1": "s-2"})
    ob.add_alert_events([alert(2)])
    ob.commit()
    (size,) = ob._db.execute("SELECT sum(length(body) + 64) FROM records").fetchone()
    assert ob._db_bytes() == size
    ob.close()


def _v2_store(path: Path, n: int) -> list[list[object]]:
    """A store as a v2 monitord left it: `n` readings with 11-element array bodies."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    for script in _MIGRATIONS[:2]:
        for stmt in _split_sql(script):
            db.execute(stmt)
    db.execute("PRAGMA user_version = 2")
    bodies: list[list[object]] = []
    for i in range(n):
        r = reading(i)
        body: list[object] = [r.chair, r.device, str(r.kind), dict(r.values),
                              to_ns(r.measured_at), to_ns(r.received_at), r.valid,
                              list(r.flags), r.contact, None, "s-1"]  # fmt: skip
        bodies.append(body)
        db.execute(
            "INSERT INTO records (type, chair, t_ns, body, influx, mqtt, added_ns) "
            "VALUES ('reading', 'chair-1', ?, ?, 0, NULL, 0)",
            (to_ns(r.measured_at), json.dumps(body)),
        )
    db.execute(
        "UPDATE counters SET value = (SELECT sum(length(body) + 64) FROM records) "
        "WHERE name = 'bytes'"
    )
    db.close()
    return bodies


def test_v2_outbox_migrates_to_v3_with_stored_false(tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite"
    bodies = _v2_store(path, 6)
    # a read-only tool (status, report) opening the store before the daemon migrated it
    ro = Outbox(path, StorageConfig(path=path), readonly=True)
    assert [r.stored for r, _ in ro.readings()] == [False] * 6
    ro.close()

    ob = Outbox(path, StorageConfig(path=path))
    assert ob.schema_version() == SCHEMA_VERSION
    got = ob.readings()
    assert [dict(r.values) for r, _ in got] == [b[3] for b in bodies]
    assert [(r.stored, s) for r, s in got] == [(False, "s-1")] * 6
    rows = ob.fetch("influx", 100)
    assert len(rows) == 6  # every pending v2 row is queued in v4
    assert all(isinstance(r, StoredReading) and r.stored is False for r in rows)
    assert all(",stored=" not in row_line(r, "site") for r in rows)
    (size,) = ob._db.execute("SELECT sum(length(body) + 64) FROM records").fetchone()
    assert ob._db_bytes() == size
    ob.close()
