"""Writes `outbox-v5.sqlite.gz`, the schema v5 store the v5 -> v6 migration test opens, and
the scenario the schema v6 tests replay on a new store (tests/delivery/test_outbox_v6.py).

The fixture must be written by the store code of schema v5 (main at d06f042), not this one:

    git archive d06f042 | tar -x -C /tmp/v5 && cd /tmp/v5 && \
        PYTHONPATH=/tmp/v5 python /path/to/make_v5_store.py OUT.sqlite && gzip -9n OUT.sqlite

Fixed times (no wall clock). Three chairs interleaved in every batch, HR and SpO2 each
second, BP every minute, sessions and alert events; measured time out of append order
(chair-2's device clock 5 min behind, chair-3 jittering +-3 s, a cuff pushing 5 records
from its memory measured days earlier); ~2,200 readings, i.e. two full blocks of 1024 ids
and a part of a third; the first 900 ids delivered to InfluxDB, the rest pending.
"""

from __future__ import annotations

import gzip
import shutil
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitord.config import StorageConfig
from monitord.models import AlertEvent, Kind, Reading, SessionEvent
from monitord.outbox import Outbox

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CHAIRS = ("chair-1", "chair-2", "chair-3")
STEPS = 360  # one batch per second of the scenario


@dataclass
class Batch:
    """What one group commit appends."""

    step: int
    readings: list[Reading] = field(default_factory=list)
    sessions: list[SessionEvent] = field(default_factory=list)
    alerts: list[AlertEvent] = field(default_factory=list)


def _measured(chair: str, k: int) -> datetime:
    if chair == "chair-2":
        return T0 + timedelta(seconds=k - 300)  # its clock is 5 min behind
    if chair == "chair-3":
        return T0 + timedelta(seconds=k + (k * 5 % 7) - 3)  # jitter: out of order
    return T0 + timedelta(seconds=k)


def batches(steps: int = STEPS) -> Iterator[Batch]:
    for k in range(steps):
        b = Batch(k)
        got = T0 + timedelta(seconds=k)
        for c in CHAIRS:
            at = _measured(c, k)
            b.readings.append(Reading(c, "mon", Kind.HR, {"hr_bpm": 60.0 + k % 9}, at, got))
            b.readings.append(
                Reading(c, "ox", Kind.SPO2, {"spo2_pct": 90.0 + k % 10}, at, got, contact=True)
            )
            if k % 60 == 30:
                vals: dict[str, float | None] = {"sys_mmHg": 120.0 + k % 13, "dia_mmHg": 80.0}
                b.readings.append(Reading(c, "cuff", Kind.BP, vals, at, got, device_time=at))
            if k == 10:
                b.sessions.append(SessionEvent(got.timestamp(), c, "start", "esketamine", f"s-{c}"))
            if k % 45 == 44:
                b.alerts.append(
                    AlertEvent(
                        t=got.timestamp(),
                        chair=c,
                        rule="spo2.low",
                        event=("raised", "cleared")[k // 45 % 2],
                        priority="medium",
                        kind="physiological",
                        alert_id=f"a-{c}-{k}",
                        phase="dosing",
                        value={"spo2_pct": 88.0},
                        message=f"SpO2 88 < 90 ({k})",
                    )
                )
        if k == 200:
            # chair-1's cuff connects and sends its memory: measured days ago, history.
            for i in range(5):
                old = T0 - timedelta(days=3) + timedelta(minutes=10 * i)
                vals = {"sys_mmHg": 130.0 + i, "dia_mmHg": 85.0}
                b.readings.append(
                    Reading(
                        "chair-1", "cuff", Kind.BP, vals, old, got, device_time=old, stored=True
                    )
                )
        if k == steps - 40:
            b.sessions.append(
                SessionEvent(got.timestamp(), "chair-1", "end", "esketamine", "s-chair-1")
            )
        yield b


def append(ob: Outbox, b: Batch) -> None:
    """Append one batch and commit it (a group commit)."""
    sess = {c: f"s-{c}" for c in CHAIRS} if b.step >= 10 else {}
    ob.add_session_events(b.sessions)
    ob.add_readings(b.readings, sess)
    ob.add_alert_events(b.alerts)
    ob.commit()


def play(ob: Outbox, todo: Iterable[Batch]) -> None:
    for b in todo:
        append(ob, b)


FIXTURE = Path(__file__).resolve().parent / "outbox-v5.sqlite.gz"


def unpack(tmp_path: Path, name: str = "v5.sqlite") -> Path:
    """A fresh copy of the fixture this script wrote, to open (and migrate) in a test."""
    path = tmp_path / name
    with gzip.open(FIXTURE) as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return path


def main(out: Path) -> None:
    ob = Outbox(out, StorageConfig(path=out))
    play(ob, batches())
    ob.mark_delivered("influx", [r.id for r in ob.fetch("influx", 900)])
    assert ob.schema_version() == 5
    ob.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
