"""Live state (`put_state`/`get_state`): status for `monitord status` and what a restart
resumes from. The caller says how durable each write is (`Durability`): what a restart
resumes from (engine snapshots) is SYNC, status that is rewritten within a second NORMAL."""

from __future__ import annotations

import json
import time
from typing import Any

from monitord.store.base import Durability, StoreBase
from monitord.store.codec import dumps


class StateMixin(StoreBase):
    def put_state(
        self, key: str, value: Any, *, durability: Durability, commit: bool = True
    ) -> None:
        """Store a JSON value under `key`. Committed at once unless `commit=False` (then
        with the next `commit()`)."""
        self._begin(durability)
        self._db.execute(
            "INSERT INTO state (key, value, updated_ns) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "updated_ns = excluded.updated_ns",
            (key, dumps(value), time.time_ns()),
        )
        if commit:
            self.commit()

    def get_state(self, key: str, default: Any = None) -> Any:
        row = self._rdb.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def state_items(self, prefix: str = "") -> dict[str, tuple[Any, int]]:
        """key -> (value, updated_ns) for keys starting with `prefix`."""
        return {
            k: (json.loads(v), ns)
            for k, v, ns in self._rdb.execute(
                "SELECT key, value, updated_ns FROM state WHERE substr(key, 1, ?) = ? ORDER BY key",
                (len(prefix), prefix),
            )
        }

    def state_stamps(self, prefix: str) -> dict[str, int]:
        """key -> updated_ns for keys starting with `prefix`, values not read: a cheap
        look for what was rewritten (monitord/sinks/influx_clock.py)."""
        return {
            k: int(ns)
            for k, ns in self._rdb.execute(
                "SELECT key, updated_ns FROM state WHERE substr(key, 1, ?) = ?",
                (len(prefix), prefix),
            )
        }

    def last_write_ns(self) -> int | None:
        """The newest write of the store (wall clock, ns): the newest of the `state` rows a
        running daemon rewrites at least every minute (the heartbeat `daemon/alive`, the
        chairs' `engine/` and `clock/` snapshots) or the newest record's commit; None for
        an empty store (monitord/store/outages.py). Rows rewritten only on a change keep
        the stamp they were written with: one written before the wall clock was stepped
        back would date the stop in the future, and every later start by it."""
        (st,) = self._rdb.execute(
            "SELECT max(updated_ns) FROM state WHERE key = 'daemon/alive' "
            "OR substr(key, 1, 7) = 'engine/' OR substr(key, 1, 6) = 'clock/'"
        ).fetchone()
        rec = self._rdb.execute("SELECT added_ns FROM records ORDER BY id DESC LIMIT 1").fetchone()
        found = [int(x) for x in (st, rec[0] if rec else None) if x is not None]
        return max(found) if found else None
