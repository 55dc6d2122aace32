"""What a chair's task takes in (extracted from monitord/chair.py): the items on its input
queue (readings, link changes, commands), and each device's handle for putting them there
(`DeviceCtx`, the drivers' `DeviceContext`) with the counters it keeps (`DeviceStatus`;
`steady`: a chair's status without them), and the batch in hand (`InHand`): what a batch
that raised (a bug) had done, answered and carried into the restart's first turn.

A `DeviceCtx` knows its chair only as `ChairInputs` (what it uses of
`monitord.chair.ChairRuntime`), so this module does not import the chair's.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from monitord.clock import SimClock, WallClock
from monitord.config import ChairConfig
from monitord.drivers.base import Reject
from monitord.engine import AlertEngine
from monitord.engine.inputs import Ack, SessionCmd
from monitord.log import FailureLog
from monitord.models import AlertEvent, Reading, Refusal, SessionEvent, utc
from monitord.storebatch import NOT_STORED

log = logging.getLogger("monitord")


@dataclass
class LinkChange:
    device: str
    up: bool
    t: float
    reason: str = ""
    retired: bool = False  # no longer configured (engine.inputs.Link.retired)


@dataclass
class QueuedCommand:
    """A session action or an acknowledgement, from MQTT, the CLI or the scenario player."""

    engine_input: SessionCmd | Ack
    reply: asyncio.Future[str | None] | None = None


Item = Reading | LinkChange | QueuedCommand


Reply = tuple[asyncio.Future[str | None], str | None]  # a command fed: its answer


@dataclass
class InHand:
    """The batch a chair's task is processing, and what it has done so far: its alert and
    session events and its commands' answers, as the engine gave them. `resync`: an
    earlier batch raised, so this one stores the snapshot and shows the engine's set."""

    items: list[Item] = field(default_factory=list)
    events: list[AlertEvent] = field(default_factory=list)
    sessions: list[SessionEvent] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    resync: bool = False

    def crashed(self, chair: str, e: Exception) -> InHand:
        """The batch raised (a bug): its commands are answered now (the MQTT sink waits on
        each answer before it reads the chair's next message), and what the engine did
        before it raised is returned, for the restart's first turn to store and show. The
        engine keeps it: an ACK it took is answered applied (before: an internal error, a
        refusal to the station, the alarm silenced), and a `raised` lost stayed out of
        InfluxDB and `alerts/events` and was no receipt's wait (`delivery.unheard`)."""
        why = f"{chair}'s task failed on this command's batch ({type(e).__name__}: {e}; a bug: "
        applied = Refusal(f"applied, but not yet stored: {why}see the journal); stored at its "
                          "restart", NOT_STORED)  # fmt: skip
        for fut, err in self.replies:
            if not fut.done():
                fut.set_result(err or applied)
        unknown = f"internal error: {why}see the journal); whether it was applied is unknown: "
        for item in self.items:
            if isinstance(item, QueuedCommand) and item.reply and not item.reply.done():
                item.reply.set_result(unknown + "look at the chair before sending it again")
        return InHand(events=self.events, sessions=self.sessions, resync=True)


@dataclass
class DeviceStatus:
    id: str
    driver: str
    # up | down; "unknown" until the first report, so that the daemon's own "not connected
    # yet" at start is a change the engine sees (it starts the device_lost timer).
    link: str = "unknown"
    link_reason: str = ""
    readings: int = 0
    stored: int = 0  # of `readings`: records pushed from the device's memory (history)
    invalid: int = 0  # live ones every rule skipped: a sensor sending only these alarms nothing
    rejects: Counter[str] = field(default_factory=Counter)
    last: dict[str, Any] | None = None


class ChairInputs(Protocol):
    """What a `DeviceCtx` uses of its chair (`monitord.chair.ChairRuntime`)."""

    cfg: ChairConfig
    engine: AlertEngine
    clock: WallClock | SimClock
    devices: dict[str, DeviceStatus]

    def submit(self, item: Item) -> None: ...


class DeviceCtx:
    """`monitord.drivers.base.DeviceContext` for one device of one chair."""

    def __init__(self, chair: ChairInputs, device: str) -> None:
        self.chair_rt = chair
        self.chair = chair.cfg.id
        self.device = device
        self._flog = FailureLog(log, f"{self.chair}/{device}")

    def emit(self, reading: Reading) -> None:
        self.chair_rt.submit(reading)

    def reject(self, reject: Reject) -> None:
        st = self.chair_rt.devices[self.device]
        st.rejects[str(reject.reason)] += 1
        # Counted; WARNING once per reason until the link is up, then DEBUG; an expected
        # reject (drivers/reject.py) at DEBUG only, its reason still warned of once after.
        msg = f"rejected data: {reject.detail} (counted and skipped)"
        self._flog.failure(reject.log_class, msg, reject.log_level)

    def now(self) -> datetime:
        return utc(self.chair_rt.clock.now())

    def link(self, up: bool, reason: str = "") -> None:
        if up:
            self._flog.reset()
        self.chair_rt.submit(LinkChange(self.device, up, self.chair_rt.clock.now(), reason))


def steady(chair_status: dict[str, Any]) -> dict[str, Any]:
    """A chair's status without the counters that tick with every reading: a change of
    the rest (links, alerts, phase) is written at once, the counts with the heartbeat."""
    devices = {
        d: {k: v for k, v in dv.items() if k not in ("readings", "stored", "invalid", "rejects")}
        for d, dv in chair_status.get("devices", {}).items()
    }
    return {**chair_status, "devices": devices}
