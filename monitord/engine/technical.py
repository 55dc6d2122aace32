"""Technical rules: tech.bp_invalid, tech.bp_overdue, tech.device_lost, tech.sensor_off
(clinical-rules.md "Rules"): each rule's condition, timer and clearing together."""

from __future__ import annotations

from typing import Any

from monitord.engine.book import AlertBook
from monitord.engine.bp import BpHandler
from monitord.engine.rules import DOSE_PHASES
from monitord.engine.state import ChairState, TimerKey, TimerKind, alert_key
from monitord.engine.text import duration
from monitord.engine.text import num as _n
from monitord.models import AlertEvent

BP_INVALID = "tech.bp_invalid"
BP_OVERDUE = "tech.bp_overdue"
DEVICE_LOST = "tech.device_lost"
SENSOR_OFF = "tech.sensor_off"

_SIGNAL_NAME = {"hr": "HR sensor contact lost", "spo2": "SpO2 probe off"}
# What a lost link's alert tells the nurse to check, by the device's transport. A serial
# monitor has no range and seldom a battery: it is off, or its cable or USB adapter came
# out (a nurse told "power and range" looked at the wrong things).
LOST_ADVICE = {
    "serial": "check the monitor is on and its serial cable and USB adapter are plugged in",
    "ble": "check the device is on, charged and within Bluetooth range",
}
# An engine not told the transport (`monitord replay`, whose scenarios name no driver):
# the text it always gave, so recorded replays stay as they were.
LOST_ADVICE_UNKNOWN = "check power and range"
_OVERDUE = TimerKey(TimerKind.BP_OVERDUE)
# Built once: looked up on every HR/SpO2 sample (the dispatcher asks whether a contact
# loss is timed or alarmed, so that a contact sample ends it).
SENSOR_TIMER = {s: TimerKey(TimerKind.SENSOR_OFF, s) for s in ("hr", "spo2")}
SENSOR_ALERT = {s: alert_key(SENSOR_OFF, s) for s in ("hr", "spo2")}


class TechnicalRules:
    def __init__(self, book: AlertBook) -> None:
        self.book = book
        self.rules = book.rules
        # (chair, device) -> "serial" | "ble" (AlertEngine.set_transport)
        self.transports: dict[tuple[str, str], str] = {}

    def handlers(self) -> dict[str, BpHandler]:
        """This family's handlers of a valid BP reading, by rule: a valid BP clears both."""
        return {
            BP_INVALID: self._clear_on_valid_bp(BP_INVALID),
            BP_OVERDUE: self._clear_on_valid_bp(BP_OVERDUE),
        }

    def _clear_on_valid_bp(self, rid: str) -> BpHandler:
        book = self.book

        def handler(
            ch: ChairState, t: float, s: float, d: float, m: float | None, out: list[AlertEvent]
        ) -> None:
            if rid in ch.alerts:
                book.clear(
                    ch,
                    rid,
                    t,
                    {"sys_mmHg": s, "dia_mmHg": d},
                    f"Valid BP {_n(s)}/{_n(d)} received: cleared",
                    out,
                )

        return handler

    # ------------------------------------------------------------------ tech.bp_invalid

    def bp_rejected(
        self,
        ch: ChairState,
        t: float,
        values: dict[str, Any],
        reason: str,
        out: list[AlertEvent],
    ) -> None:
        """An invalid BP reading: raised unless already active; more add nothing."""
        if BP_INVALID not in ch.alerts:
            self.book.raise_(
                ch,
                BP_INVALID,
                t,
                {**values, "reason": reason},
                f"BP reading rejected ({reason}): re-measure",
                out,
            )

    # ------------------------------------------------------------------ tech.bp_overdue

    def arm_overdue(self, ch: ChairState, t: float) -> None:
        """Dosing started, or a valid BP arrived while dosed: the next is due in a cycle
        plus grace."""
        p = self.rules[BP_OVERDUE].params
        ch.set_timer(_OVERDUE, t + p["cycle_s"] + p["grace_s"], self.book.rank[BP_OVERDUE])

    def bp_seen(self, ch: ChairState, t: float) -> None:
        """A valid BP while dosed re-arms the overdue timer."""
        if ch.phase in DOSE_PHASES and ch.session is not None:
            self.arm_overdue(ch, t)

    def overdue_due(self, ch: ChairState, key: TimerKey, due: float, out: list[AlertEvent]) -> None:
        if BP_OVERDUE not in ch.alerts and ch.phase in DOSE_PHASES:
            p = self.rules[BP_OVERDUE].params
            self.book.raise_(
                ch,
                BP_OVERDUE,
                due,
                {"overdue_s": p["cycle_s"] + p["grace_s"], "deadline_t": due},
                f"No valid BP for {duration(p['cycle_s'] + p['grace_s'])} "
                f"(NIBP cycle {duration(p['cycle_s'])} + {duration(p['grace_s'])}): "
                "measure BP",
                out,
            )

    # ------------------------------------------------------------------ tech.device_lost

    def link(
        self,
        ch: ChairState,
        t: float,
        device: str,
        up: bool,
        out: list[AlertEvent],
        retired: bool = False,
    ) -> None:
        key = TimerKey(TimerKind.DEVICE_LOST, device)
        ak = alert_key(DEVICE_LOST, device)
        if not up:
            if key not in ch.timers and ak not in ch.alerts:
                after = self.rules[DEVICE_LOST].params["after_s"]
                ch.set_timer(key, t + after, self.book.rank[DEVICE_LOST])
            return
        ch.cancel(key)
        if ak in ch.alerts:
            why = "no longer in this chair's config" if retired else "link back"
            self.book.clear(ch, ak, t, {"device": device}, f"Device {device}: {why}, cleared", out)

    def link_devices(self, ch: ChairState) -> set[str]:
        """The devices whose link `ch` waits on or has a `tech.device_lost` of."""
        waits = {k.subject for k in ch.timers if k.kind is TimerKind.DEVICE_LOST}
        lost = {k.partition("|")[2] for k in ch.alerts if k.partition("|")[0] == DEVICE_LOST}
        return waits | lost

    def device_lost_due(
        self, ch: ChairState, key: TimerKey, due: float, out: list[AlertEvent]
    ) -> None:
        dev = key.subject
        if alert_key(DEVICE_LOST, dev) not in ch.alerts:
            rule = self.rules[DEVICE_LOST]
            # Priority fixed at raise: high while dosing (clinical-rules.md).
            pr = rule.params["priority_dosing"] if ch.phase == "dosing" else rule.priority
            transport = self.transports.get((ch.name, dev), "")
            advice = LOST_ADVICE.get(transport, LOST_ADVICE_UNKNOWN)
            self.book.raise_(
                ch,
                DEVICE_LOST,
                due,
                {"device": dev, "after_s": rule.params["after_s"]},
                f"Device {dev}: link down for {duration(rule.params['after_s'])}; {advice}",
                out,
                key=dev,
                priority=pr,
            )

    # ------------------------------------------------------------------ tech.sensor_off

    def contact_lost(self, ch: ChairState, signal: str, t: float) -> None:
        """HR contact lost / SpO2 probe off: the timer starts at the first such sample."""
        key = SENSOR_TIMER[signal]
        if key not in ch.timers and SENSOR_ALERT[signal] not in ch.alerts:
            after = self.rules[SENSOR_OFF].params["after_s"]
            ch.set_timer(key, t + after, self.book.rank[SENSOR_OFF])

    def contact_back(self, ch: ChairState, signal: str, t: float, out: list[AlertEvent]) -> None:
        # tech.sensor_off is low priority: the caller runs this after the physiological rules.
        ch.cancel(SENSOR_TIMER[signal])
        ak = SENSOR_ALERT[signal]
        if ak in ch.alerts:
            self.book.clear(
                ch,
                ak,
                t,
                {"signal": signal},
                f"{_SIGNAL_NAME.get(signal, signal)}: contact back, cleared",
                out,
            )

    def sensor_off_due(
        self, ch: ChairState, key: TimerKey, due: float, out: list[AlertEvent]
    ) -> None:
        sig = key.subject
        if alert_key(SENSOR_OFF, sig) not in ch.alerts:
            after = self.rules[SENSOR_OFF].params["after_s"]
            self.book.raise_(
                ch,
                SENSOR_OFF,
                due,
                {"signal": sig, "after_s": after},
                f"{_SIGNAL_NAME.get(sig, sig + ' sensor off')} for {duration(after)}: "
                "check the sensor",
                out,
                key=sig,
            )
