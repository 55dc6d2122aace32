"""What a chair's task takes in (extracted from monitord/chair.py): the items on its input
queue (readings, link changes, commands), and each device's handle for putting them there
(`DeviceCtx`, the drivers' `DeviceContext`) with the counters it keeps (`DeviceStatus`;
`steady`: a chair's status without them), and the answer to the commands of a batch that
raised (`answer_crashed`).

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
from monitord.models import Reading, utc

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


def answer_crashed(chair: str, items: list[Item], e: Exception) -> None:
    """The batch of `items` raised (a bug): its commands not answered yet are, now. The
    MQTT sink waits on each answer before it reads the chair's next message: unset, no
    later command or receipt of the chair was read until its connection dropped."""
    why = (
        f"internal error: {chair}'s task failed on this command's batch "
        f"({type(e).__name__}: {e}; a bug: see the journal); whether it was applied is "
        "unknown: look at the chair before sending it again"
    )
    for item in items:
        if isinstance(item, QueuedCommand) and item.reply and not item.reply.done():
            item.reply.set_result(why)


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
