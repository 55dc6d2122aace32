"""What a report on the local store says of the store file itself, when the record may be
in two files: a store started fresh because the one before was unusable (moved aside to
`<store>.bad-<UTC time>`, monitord/storeopen.py), or such a moved-aside file reported
on. A session open at that moment has its start, its dose and its first vitals in the old
file and the rest (readings only: the fresh store's engine had no session open, so its
end was refused) in the new one: from the new store alone it was in no list and no record,
and nothing said so (docs/report.md "A store started fresh")."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from monitord.store.replaced import replaced, unrecorded
from monitord.store.state import StateMixin

# `<store>.bad-20261205T041200Z` (and `-2`, `-3`... for a second one in that second).
_BAD = re.compile(r"^(?P<store>.+)\.bad-(?P<stamp>\d{8}T\d{6}Z)(?:-\d+)?$")


def _local(t: float, tz: str) -> str:
    return datetime.fromtimestamp(t, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S %Z")


def replaced_note(ob: StateMixin, db: Path, tz: str, day: date | None) -> str | None:
    """The line for a report on a store started fresh, when the run's selection may hold
    a session open at that moment (any day, or that local day or the one before: a
    session runs for hours, never for days); None otherwise."""
    r = replaced(ob)
    if r is None:
        return None
    when = datetime.fromtimestamp(r.t, ZoneInfo(tz)).date()
    if day is not None and not day <= when <= day + timedelta(days=1):
        return None
    old = db.with_name(r.moved_to)
    return (
        f"monitord report: this store was started fresh at {_local(r.t, tz)}: the one before "
        f"was unusable ({r.why}) and was moved to {old}: what was recorded before then is "
        "there, not here, and a session open then has its start, dose and first vitals "
        "there and is in no list or record of this store (its later vitals are here, "
        f"outside any session): report it with --db {old}, if that file can still be read"
    )


def moved_aside_note(db: Path, tz: str) -> str | None:
    """The line for a report on a moved-aside store: records after the move are in the
    store that replaced it; None for any other file."""
    m = _BAD.match(db.name)
    if m is None:
        return None
    t = datetime.strptime(m["stamp"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    return (
        f"monitord report: {db.name} is a store moved aside as unusable at {_local(t, tz)}: "
        f"what was recorded after then is in {db.with_name(m['store'])}, not here, and a "
        "session NOT ENDED here went on there (its later vitals, outside any session)"
    )


def unrecorded_note(ob: StateMixin, tz: str, day: date | None) -> list[str]:
    """One line per time this store recorded nothing (a run on a store in memory,
    monitord/storememory.py) that the run's selection may touch (any day, or a time on
    that local day or the day after: a session open across midnight)."""
    out = []
    for lo, hi in unrecorded(ob):
        first = datetime.fromtimestamp(lo, ZoneInfo(tz)).date()
        last = datetime.fromtimestamp(hi, ZoneInfo(tz)).date()
        if day is not None and not (first <= day + timedelta(days=1) and day <= last):
            continue
        out.append(
            f"monitord report: NOT RECORDED from {_local(lo, tz)} to {_local(hi, tz)} at "
            "the latest: monitord ran on a store in memory (store.memory) and kept nothing "
            "of that time: a session started then is in no list or record here, and one "
            "open then lacks that time's vitals and events (its gaps may read it as "
            "monitord stopped); make its record --from influx if InfluxDB got them"
        )
    return out
