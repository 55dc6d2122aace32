"""The delivery alarm (clinical-rules.md "Delivery of alarms"): alerts that cannot reach
the nurses' station are a technical alarm of the daemon itself.

While any alert is active and the alert link (the MQTT sink) has been down for
`after_s` (mqtt.delivery_alarm_after_s, 30 s), technical alarm `delivery` is raised in
monitord/techalarm.py (CRITICAL in the journal, `!!!` on the console, and the side file that
`monitord status` shows); once the link is back it is cleared. The watch owns the
decision; the sink only says since when it is down, and the hub which alerts are active,
so neither knows about the other.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from monitord.techalarm import TechAlarms

log = logging.getLogger("monitord.delivery")

KEY = "delivery"
RAISED = (
    "DELIVERY ALARM: alerts cannot reach the nurses' station (MQTT broker unreachable); "
    "watch the chair directly"
)
CLEARED = "delivery alarm cleared: the broker is reachable again"


class AlertLink(Protocol):
    def down_since(self) -> float | None:
        """Monotonic time since when some chair's link has been down; None when all are up."""


class DeliveryWatch:
    def __init__(
        self,
        after_s: float,
        link: AlertLink,
        any_active: Callable[[], bool],
        alarms: TechAlarms,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.after_s = after_s
        self.link = link
        self.any_active = any_active
        self.alarms = alarms
        self.on_change = on_change
        self.on = False

    def check(self, now: float) -> None:
        """One look at the link (`now` is monotonic time)."""
        since = self.link.down_since()
        if since is None:
            if self.on:
                self.on = False
                self.alarms.clear(KEY, CLEARED, line=CLEARED)
                self._changed(False)
            return
        if not self.on and self.any_active() and now - since >= self.after_s:
            self.on = True
            self.alarms.raise_(
                KEY,
                f"alerts cannot reach the nurses' station: MQTT broker unreachable for "
                f"{now - since:.0f} s while alerts are active; watch the chair directly",
                line="!!! " + RAISED,
            )
            self._changed(True)

    async def run(self) -> None:
        step = min(1.0, self.after_s / 10)
        while True:
            await asyncio.sleep(step)
            self.check(time.monotonic())

    def _changed(self, on: bool) -> None:
        if self.on_change is None:
            return
        try:
            self.on_change(on)
        except Exception:
            log.exception("delivery alarm hook failed")
