"""The delivery alarm (clinical-rules.md "Delivery of alarms"): alerts that cannot reach
the nurses' station are a technical alarm of the daemon itself.

While any alert is active and the alert link (the MQTT sink) has been down for
`after_s` (mqtt.delivery_alarm_after_s, 30 s), technical alarm `delivery` is raised in
monitord/techalarm.py (CRITICAL in the journal, `!!!` on the console, and the side file that
`monitord status` shows); once the link is back it is cleared. The watch owns the
decision; the sink only says since when it is down, and the hub which alerts are active,
so neither knows about the other.

Two more conditions, both on the daemon's monotonic clock (delivery, not engine logic;
their rows are LOCAL_ALARMS in monitord/engine/rules.py, docs/alerts.md):
- `delivery.refused`: the broker refused a publish (MQTT v5 reason code), raised at once
  by `refusal()` from the sink with the reason and the fix; cleared when every topic it
  refused took a publish (sinks/mqtt.py: one accepted topic does not clear another).
- `delivery.unheard`: "alarm not received by any station": a high/medium alert event the
  broker accepted waited `mqtt.receipt_timeout_s` for a station's receipt
  (monitord/receipts.py); cleared by the next receipt.

The watch does not poll (issue 20: on a Pi each wake of the daemon is a cost per chair).
It sleeps until the next deadline it knows of (the link down for `after_s` while an alert
is active, the oldest receipt wait due) or until `poke()`: the sink's link went down or
delivers again, a chair's active set changed while the link is down, the earliest receipt
wait began, a receipt came while `delivery.unheard` stands. It looks unasked every
`LOOK_S` as well, so a poke that some future change forgets to send costs seconds, not
the alarm.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from monitord.aio import Doze
from monitord.receipts import Receipts
from monitord.techalarm import TechAlarms

log = logging.getLogger("monitord.delivery")

KEY = "delivery"
RAISED = (
    "DELIVERY ALARM: alerts cannot reach the nurses' station (MQTT broker unreachable, or "
    "it drops the connection at every publish); watch the chair directly"
)
CLEARED = "delivery alarm cleared: the broker takes alerts again"
REFUSED_KEY = "delivery.refused"
UNHEARD_KEY = "delivery.unheard"
# Keys under which delivery is failing (the annunciator sounds high alerts over them).
FAILING_KEYS = (KEY, REFUSED_KEY, UNHEARD_KEY)
# The unasked look (s): a backstop only; every deadline is slept to exactly.
LOOK_S = 5.0


class AlertLink(Protocol):
    def down_since(self) -> float | None:
        """Monotonic time since when some chair's link has been down; None when all are up."""


class LaterLink:
    """The link of a sink made after the watch (the sink reports refusals to the watch):
    `get()` gives it, or None (none made: never down)."""

    def __init__(self, get: Callable[[], AlertLink | None]) -> None:
        self.get = get

    def down_since(self) -> float | None:
        link = self.get()
        return link.down_since() if link is not None else None


class DeliveryWatch:
    def __init__(
        self,
        after_s: float,
        link: AlertLink,
        any_active: Callable[[], bool],
        alarms: TechAlarms,
        on_change: Callable[[bool], None] | None = None,
        receipts: Receipts | None = None,
    ) -> None:
        self.after_s = after_s
        self.link = link
        self.any_active = any_active
        self.alarms = alarms
        self.on_change = on_change
        self.receipts = receipts
        self.on = False
        self.refused: dict[str, str] = {}  # chair -> the refusal in words
        self.unheard_since: float | None = None
        self.looks = 0  # how often it looked (tests: it sleeps between deadlines)
        self._doze = Doze()
        if receipts is not None:
            receipts.on_wait = self.poke  # the first wait: the earliest deadline
            receipts.on_receipt = self.heard

    def poke(self) -> None:
        """What the watch decides on changed (the link went down or delivers again, the
        earliest receipt wait began): look now."""
        self._doze.rouse()

    # Told on every alarm (a chair's active set, a station's receipt): a look only when it
    # can change something, so an alarm costs no wake of this task (issue 20: the
    # alarm's path runs on 2 vCPUs shared with the broker here, a Pi's one core there).
    def active_changed(self) -> None:
        """A chair's active set changed: it matters while the link is down."""
        if not self.on and self.link.down_since() is not None:
            self._doze.rouse()

    def heard(self) -> None:
        """A station's receipt came: it clears `delivery.unheard`."""
        if self.unheard_since is not None:
            self._doze.rouse()

    def refusal(self, chair: str, text: str | None) -> None:
        """The sink's word: `text` when the broker refused a publish of `chair`, None when
        it accepted one again. Raised at once: the event is not going anywhere."""
        if text is not None:
            self.refused[chair] = text
        else:
            self.refused.pop(chair, None)
        if self.refused:
            self.alarms.raise_(
                REFUSED_KEY,
                "; ".join(self.refused.values())
                + "; alert events stay queued; watch the chair directly",
                line=f"!!! DELIVERY ALARM: {'; '.join(self.refused.values())}",
            )
        else:
            self.alarms.clear(
                REFUSED_KEY,
                "the broker accepts publishes again",
                line="delivery alarm cleared: the broker accepts publishes again",
            )

    def check_receipts(self, now: float) -> None:
        r = self.receipts
        if r is None:
            return
        if self.unheard_since is not None:
            if r.heard_at is not None and r.heard_at >= self.unheard_since:
                self.unheard_since = None
                self.alarms.clear(
                    UNHEARD_KEY,
                    "a station receipt arrived",
                    line="alarm-not-received cleared: a station receipt arrived",
                )
            return
        late = r.overdue(now)
        if late:
            self.unheard_since = now
            rules = ", ".join(sorted({f"{w.chair} {w.rule} ({w.priority})" for w in late}))
            online = r.online()
            who = (
                f"stations online: {', '.join(online)}"
                if online
                else "no station online (stations/ status)"
            )
            text = (
                f"alarm not received by any station: no receipt within {r.timeout_s:g} s "
                f"for {rules}; {who}; watch the chair directly and check the station"
            )
            self.alarms.raise_(UNHEARD_KEY, text, line="!!! ALARM NOT RECEIVED: " + text)

    def check(self, now: float) -> None:
        """One look at the link (`now` is monotonic time)."""
        self.check_receipts(now)
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
                f"alerts cannot reach the nurses' station: nothing delivered to the MQTT "
                f"broker for {now - since:.0f} s while alerts are active (unreachable, or "
                f"it drops the connection at a publish: see the log); watch the chair "
                f"directly",
                line="!!! " + RAISED,
            )
            self._changed(True)

    def due_in(self, now: float) -> float:
        """Seconds from `now` to the next look: the earliest deadline, at most LOOK_S."""
        due = now + LOOK_S
        since = self.link.down_since()
        if since is not None and not self.on and self.any_active():
            due = min(due, since + self.after_s)
        r = self.receipts
        if r is not None and self.unheard_since is None and r.waiting:
            due = min(due, min(w.since for w in r.waiting.values()) + r.timeout_s)
        return max(due - now, 0.0)

    async def run(self) -> None:
        # No await between the look and the sleep: a poke cannot fall in between.
        while True:
            now = time.monotonic()
            self.check(now)
            self.looks += 1
            await self._doze(self.due_in(now))

    def _changed(self, on: bool) -> None:
        if self.on_change is None:
            return
        try:
            self.on_change(on)
        except Exception:
            log.exception("delivery alarm hook failed")
