"""A sink's connection as `monitord status` shows it: connected since when, or down since
when with the last error in one line (the sink's own classified message: a refused login,
a TLS failure, a refused connection), so an admin can tell "no station is open" from "this
Pi cannot reach the broker" (docs/operations.md, "monitord status"); and each part whose
connection another client takes over (one MQTT client id on two Pis), while it lasts.

The daemon puts `as_dict()` into its `daemon` live-status item; `on_change` tells it when
that changed. What changes it is a connection made or lost, or another error text, never a
reading or a retry with the same error: so it costs the SD card a write per change of
state, not per reading or per reconnect attempt. Times are wall-clock (an admin reads
them), and ISO strings so that the item is plain JSON.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, Literal

from monitord.models import iso

State = Literal["connecting", "untried", "connected", "down"]


class LinkState:
    """One sink's connection, over its `parts` (the MQTT sink has one connection per
    chair: connected when all are, down when any is)."""

    def __init__(
        self, where: str, parts: Iterable[str] = ("",), initial: State = "connecting"
    ) -> None:
        self.where = where  # "broker host:port", "InfluxDB url": no secret in either
        self._up: dict[str, bool | None] = dict.fromkeys(parts)
        self.initial: State = initial
        self.state: State = initial
        self.since = time.time()
        self.last_error: str | None = None
        self.error_since: float | None = None
        # part -> (since, the admin's advice): another client takes that part's connection
        # over (the MQTT chair's client id in use twice: sinks/mqtt_takeover.py).
        self.taken_over: dict[str, tuple[float, str]] = {}
        self.on_change: Callable[[], None] | None = None

    def up(self, part: str = "") -> None:
        """A connection made (MQTT CONNACK) or a write accepted (InfluxDB 2xx)."""
        if self._up.get(part) is not True:
            self._up[part] = True
            self._update(False)

    def down(self, error: str, part: str = "", *, taken_over: bool = False) -> None:
        """A connection failed or was lost, or a write failed: `error` in one line;
        `taken_over`: by another client with its id (shown until `kept(part)`)."""
        new_takeover = taken_over and part not in self.taken_over
        if new_takeover:
            self.taken_over[part] = (time.time(), " ".join(error.split()))
        if len(self._up) > 1 and part:
            error = f"{part}: {error}"
        error = " ".join(error.split())  # one line, whatever the library said
        new_error = error != self.last_error
        if new_error:
            self.last_error, self.error_since = error, time.time()
        self._up[part] = False
        self._update(new_error or new_takeover)

    def kept(self, part: str = "") -> None:
        """No other client takes `part`'s connection over any more."""
        if self.taken_over.pop(part, None) is not None:
            self._update(True)

    def _update(self, changed: bool) -> None:
        ups = self._up.values()
        state: State = "down" if False in ups else "connected" if all(ups) else self.initial
        if state != self.state:
            self.state, self.since, changed = state, time.time(), True
        if changed and self.on_change is not None:
            self.on_change()

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "since": iso(self.since),
            "where": self.where,
            "last_error": self.last_error,
            "last_error_since": None if self.error_since is None else iso(self.error_since),
            "taken_over": {
                part: {"since": iso(since), "advice": advice}
                for part, (since, advice) in self.taken_over.items()
            },
        }
