"""A store started fresh because the one before it was unusable (monitord/storeopen.py):
the fresh store keeps, in its `state` table, when that was and where the old file went
(`<store>.bad-<UTC time>`), so `monitord report` on it can say that what was recorded
before then (the first part of a session open at that moment: its start, its dose, its
first vitals) is not in this store but in that file (docs/report.md, "A store started
fresh"). One row: a store replaced again is a newer fresh store, naming its own
predecessor."""

from __future__ import annotations

from dataclasses import dataclass

from monitord.store.state import StateMixin

REPLACED_KEY = "store/replaced"


@dataclass(frozen=True, slots=True)
class Replaced:
    """This store was started fresh at `t` (epoch s, the daemon's wall clock); the
    unusable one was moved to `moved_to` (a name in the store's folder) because `why`."""

    t: float
    moved_to: str
    why: str


def replaced(ob: StateMixin) -> Replaced | None:
    row = ob.get_state(REPLACED_KEY)
    if not isinstance(row, dict) or not isinstance(row.get("t"), int | float):
        return None
    return Replaced(float(row["t"]), str(row.get("moved_to", "")), str(row.get("why", "")))


# Times this store recorded nothing because the daemon ran on a store in memory
# (`store.memory`, monitord/storememory.py): [{"from": t, "to": t}, ...], oldest first.
UNRECORDED_KEY = "store/unrecorded"
MAX_UNRECORDED = 100


def unrecorded(ob: StateMixin) -> list[tuple[float, float]]:
    """(from, to) epoch s of each such time, oldest first."""
    out = []
    for row in ob.get_state(UNRECORDED_KEY) or []:
        if isinstance(row, dict) and isinstance(row.get("from"), int | float):
            lo, to = float(row["from"]), row.get("to")
            out.append((lo, float(to) if isinstance(to, int | float) else lo))
    return out
