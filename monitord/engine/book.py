"""The alert book: the only writer of alert events.

Rule families decide *when* an alert raises, is pending or clears; the book does the
writing: it gives each episode its id, keeps the active set of a chair, schedules and
emits escalations, applies acknowledgements and tells which alerts are inhibited.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitord.engine.rules import ESCALATE_S, RuleDef, RuleSet
from monitord.engine.state import (
    TIME_RES,
    Alert,
    ChairState,
    TimerKey,
    TimerKind,
    alert_key,
    on_grid,
)
from monitord.engine.text import num as _n
from monitord.models import AlertEvent, Refusal, iso

# The last alerts to clear that a chair keeps (alert id -> clear time), to answer an ACK
# that came after the clear: a page's view is at most seconds behind, so a few cover every
# alarm still on some screen. They go into the engine snapshot, which an alarm's commit
# writes (~60 bytes each): 32 would add ~2 KB to every alarm's fsync (issue 20).
CLEARED_KEPT = 8
# The longest acknowledger's name `alerts/active` carries (`by`): a station refuses a
# longer name, and with it the whole set (monitord/station/messages.py `Name`). cmd/ack
# takes 64 (sinks/commands.py), a scenario's `ack` 64 too (docs/scenarios.md).
MAX_BY = 128


class AlertBook:
    def __init__(self, rules: RuleSet, signal_of: Mapping[str, str]) -> None:
        self.rules = rules
        self.order = rules.order()
        #: rule -> its place in evaluation order (ties of simultaneous timers).
        self.rank = {r: i for i, r in enumerate(self.order)}
        self.inhibitors = rules.inhibitors()
        # rule -> the signal ("bp", "hr", "spo2") whose current reading an escalation shows.
        self._signal_of = signal_of

    # ------------------------------------------------------------------ queries

    def inhibited(self, ch: ChairState, rid: str) -> bool:
        alerts = ch.alerts
        return any(i in alerts for i in self.inhibitors[rid])

    def active(self, ch: ChairState) -> list[dict[str, Any]]:
        """The active alert set (MQTT `alerts/active`), in raise order."""
        out = []
        for a in ch.alerts.values():
            if self.inhibited(ch, a.rule):
                state = "inhibited"
            elif a.held:
                state = "clear_pending"  # latched: clear condition holds, waiting for ack
            else:
                state = "active"
            out.append(
                {
                    "alert_id": a.id,
                    "rule": a.rule,
                    "priority": a.priority,
                    "kind": a.kind,
                    "state": state,
                    "ack": a.acked,  # design.md section 6: alerts/active carries "ack"
                    "raised_t": a.raised_t,
                    "level": a.level,
                    "message": a.message,
                    "value": dict(a.value),
                    # Who acknowledged it, for a station that starts after the ACK (its
                    # `acknowledged` event is gone by then); bounded as a station reads a
                    # name (messages.py Name): a longer one refused the whole set there.
                    **({"by": a.acked_by[:MAX_BY]} if a.acked and a.acked_by else {}),
                }
            )
        return out

    # ------------------------------------------------------------------ events

    @staticmethod
    def _emit(
        ch: ChairState,
        out: list[AlertEvent],
        t: float,
        a: Alert,
        event: str,
        value: Mapping[str, Any],
        message: str,
        level: int | None = None,
        by: str | None = None,
    ) -> None:
        out.append(
            AlertEvent(
                t,
                ch.name,
                a.rule,
                event,
                a.priority,
                a.kind,
                a.id,
                ch.phase,
                value,
                message,
                level,
                by,
            )
        )

    def interval_of(self, ch: ChairState, a: Alert) -> float | None:
        """The escalation interval of an active alert (None: it never escalates).

        An alert escalates only while both the priority it was raised with and the one the
        running config gives its rule escalate: a restored alert of a rule that a changed
        config made low (or gave `escalate_s = 0`) must not escalate, and a low alert never
        does, whatever its rule's `escalate_s` (clinical-rules.md "Escalation"). Without a
        config change the priority the config gives is the alert's own."""
        rule = self.rules[a.rule]
        # tech.device_lost gets `priority_dosing` while dosing, the rule's priority else.
        given = (rule.priority, rule.params.get("priority_dosing"))
        if a.priority in given:
            now = a.priority
        elif _raised_dosing(ch, a) and "priority_dosing" in rule.params:
            # A config change: the priority it gives the phase the alert was raised in
            # (taken as the rule's priority, a high alert raised while dosing stopped
            # escalating under `priority = "low"`, `priority_dosing = "medium"`).
            now = str(rule.params["priority_dosing"])
        else:
            now = rule.priority
        if ESCALATE_S[now] is None:
            return None
        return self._interval(rule, a.priority)

    def _interval(self, rule: RuleDef, priority: str) -> float | None:
        # The interval follows the priority the alert got, unless the rule overrides it;
        # low and info never escalate, overridden or not.
        if ESCALATE_S[priority] is None:
            return None
        interval = ESCALATE_S[priority] if rule.escalate_by_priority else rule.escalate_s
        # Not under the engine's time resolution (an `escalate_s` of 1e-7 passes the config
        # check): its deadlines, rounded to 1 us, would fall back onto the same t for ever.
        return None if interval is None else max(interval, TIME_RES)

    def raise_(
        self,
        ch: ChairState,
        rid: str,
        t: float,
        value: dict[str, Any],
        message: str,
        out: list[AlertEvent],
        key: str = "",
        priority: str | None = None,
    ) -> None:
        rule = self.rules[rid]
        pr = priority or rule.priority
        # Deterministic, unique across restarts: chair, rule, device/signal, raise time in
        # ms, and a count when the same alert raised again within that ms (time never goes
        # back, so only the last episode of a key can share its ms).
        ak = alert_key(rid, key)
        ms = round(t * 1000)
        aid = f"{ch.name}:{rid}{':' + key if key else ''}:{ms}"
        last = ch.episodes.get(ak)
        if last is not None and last[0] == ms:
            last[1] += 1
            aid += f"-{last[1]}"
        else:
            ch.episodes[ak] = [ms, 1]
        a = Alert(aid, rid, key, pr, rule.kind, t, value, message)
        ch.alerts[ak] = a
        self._emit(ch, out, t, a, "raised", value, message)
        interval = self._interval(rule, pr)
        if interval:
            ch.set_timer(TimerKey(TimerKind.ESCALATE, ak), t + interval, self.rank[rid])

    def clear(
        self,
        ch: ChairState,
        ak: str,
        t: float,
        value: Mapping[str, Any],
        message: str,
        out: list[AlertEvent],
    ) -> None:
        a = ch.alerts.pop(ak)
        ch.cancel(TimerKey(TimerKind.ESCALATE, ak))
        # Kept a while: an ACK tapped on a page before it heard of the clear is answered
        # "cleared" (and when), not "unknown" (book.ack).
        ch.cleared[a.id] = t
        while len(ch.cleared) > CLEARED_KEPT:
            del ch.cleared[next(iter(ch.cleared))]
        self._emit(ch, out, t, a, "cleared", value, message)

    def pending(
        self,
        ch: ChairState,
        rid: str,
        t: float,
        value: dict[str, Any],
        message: str,
        out: list[AlertEvent],
    ) -> None:
        rule = self.rules[rid]
        out.append(
            AlertEvent(
                t, ch.name, rid, "pending", rule.priority, rule.kind, None, ch.phase, value, message
            )
        )

    # ------------------------------------------------------------------ escalation

    def escalate(self, ch: ChairState, key: TimerKey, due: float, out: list[AlertEvent]) -> None:
        """An escalation deadline of the alert `key.subject` is due."""
        a = ch.alerts.get(key.subject)
        if a is None or a.acked:
            return
        interval = self.interval_of(ch, a)
        if interval is None:
            return  # (no such timer is ever set: resume sets none for it either)
        # ASSUMPTION: a deadline falling while inhibited is skipped (the rules say
        # so) and `level` counts the escalations actually emitted (1, 2, ...).
        if not self.inhibited(ch, a.rule):
            a.level += 1
            value, now = self._current(ch, a)
            self._emit(
                ch,
                out,
                due,
                a,
                "escalated",
                value,
                f"{a.message} (unacknowledged, level {a.level}){now}",
                level=a.level,
            )
        # Always a later t: with an interval near the resolution, the grid point computed
        # from a rounded deadline may round back onto it.
        nxt = max(self._next_deadline(a, due, interval), due + TIME_RES)
        ch.set_timer(key, nxt, self.rank[a.rule])

    @staticmethod
    def _next_deadline(a: Alert, due: float, interval: float) -> float:
        """The deadline after `due`: anchor + (n + 1) x interval, anchor the raise time
        (or the restart time), n counting every deadline since, skipped ones included.
        Computed from the anchor, not as `due + interval`: repeated float additions drift
        from anchor + n x interval (raised at 0.04, `240.04 + 0.00000000000002`), so an
        input or `end` at exactly the n-th deadline would not see it fire."""
        anchor = a.raised_t if a.esc_from is None else a.esc_from
        n = round((due - anchor) / interval)
        if abs(anchor + n * interval - due) > 1e-3:
            # Off the grid: a snapshot of an older version that moved the deadline on a
            # restart without saying from where. The grid goes on from this deadline.
            a.esc_from = anchor = due
            n = 0
        return anchor + (n + 1) * interval

    def resume(self, ch: ChairState, t: float) -> None:
        """After a restart at `t` (clinical-rules.md "Delivery of alarms"): the next
        escalation of every restored, unacknowledged alert that escalates under the
        running config is due one interval after `t`, its level counting on; the grid of
        its later deadlines starts at `t`. Escalations missed while down are not replayed,
        and an alert that no longer escalates gets no timer (an old one fired once at the
        start, as `escalated`)."""
        for key in [k for k in ch.timers if k.kind is TimerKind.ESCALATE]:
            del ch.timers[key]
        for ak, a in ch.alerts.items():
            interval = None if a.acked else self.interval_of(ch, a)
            if interval is not None:
                a.esc_from = t
                due = on_grid(t + interval)
                ch.timers[TimerKey(TimerKind.ESCALATE, ak)] = [due, self.rank[a.rule]]
        ch.recompute()

    def _current(self, ch: ChairState, a: Alert) -> tuple[Mapping[str, Any], str]:
        """An escalation's value and message tail: the reading that raised the alert plus
        the patient's current (last valid) reading of that signal."""
        signal = self._signal_of.get(a.rule)
        cur = ch.current.get(signal) if signal is not None else None
        if cur is None:
            return a.value, ""
        if signal == "bp":
            t, s, d, m = cur
            now: dict[str, Any] = {"t": t, "sys_mmHg": s, "dia_mmHg": d}
            if m is not None:
                now["map_mmHg"] = m
            text = f"BP {_n(s)}/{_n(d)}" + (f" MAP {_n(m)}" if m is not None else "")
        elif signal == "hr":
            now = {"t": cur[0], "hr_bpm": cur[1]}
            text = f"HR {_n(cur[1])} bpm"
        else:
            now = {"t": cur[0], "spo2_pct": cur[1]}
            text = f"SpO2 {_n(cur[1])}%"
        return {**a.value, "current": now}, f"; now {text}"

    # ------------------------------------------------------------------ acknowledgement

    def ack(
        self,
        ch: ChairState,
        t: float,
        rule: str | None,
        alert_id: str | None,
        by: str | None,
        out: list[AlertEvent],
    ) -> str | None:
        """Acknowledge by alert id or by rule; the reason when nothing was acknowledged."""
        if alert_id is not None:
            targets = [a for a in ch.alerts.values() if a.id == alert_id]
            what = f"alert {alert_id}"
        elif rule is not None:
            targets = [a for a in ch.alerts.values() if a.rule == rule]
            what = f"rule {rule}"
        else:
            return "ack needs a rule or an alert_id"
        if alert_id is not None and targets and all(a.acked for a in targets):
            return _acked_before(ch, targets[0])
        targets = [a for a in targets if not a.acked]
        if not targets:
            if alert_id is not None:
                return _not_active(ch, alert_id)
            return f"no active, unacknowledged {what} on {ch.name}"
        for a in targets:
            a.acked, a.acked_by, a.acked_t = True, by, t
            ak = alert_key(a.rule, a.key)
            ch.cancel(TimerKey(TimerKind.ESCALATE, ak))
            who = f" by {by}" if by else ""
            self._emit(
                ch, out, t, a, "acknowledged", a.value, f"Acknowledged{who}: {a.message}", by=by
            )
            if a.held:
                # Latched alert whose clear condition already holds: ack clears it.
                self.clear(ch, ak, t, a.value, f"{a.message}: acknowledged, cleared", out)
        return None


def _raised_dosing(ch: ChairState, a: Alert) -> bool:
    """Whether `a` was raised within the open session's dosing (dose_start to dose_end)."""
    sess = ch.session
    if sess is None or sess.dose_start_t is None or a.raised_t < sess.dose_start_t:
        return False
    return sess.dose_end_t is None or a.raised_t < sess.dose_end_t


def _acked_before(ch: ChairState, a: Alert) -> Refusal:
    """The answer to an ACK of an alert someone acknowledged already: two nurses tapped
    it, the second ACK reached the daemon after the first. Not a failure to her: the
    alarm is acknowledged, and by whom and when is said."""
    by = f" by {a.acked_by}" if a.acked_by else ""
    at = None if a.acked_t is None else iso(a.acked_t)
    return Refusal(
        f"alert {a.id} on {ch.name} is already acknowledged{by}",
        "acknowledged",
        alert_id=a.id,
        rule=a.rule,
        acked_by=a.acked_by,
        acked_at=at,
    )


def _not_active(ch: ChairState, alert_id: str) -> Refusal:
    """The answer to an ACK of an alert id not active on the chair: `cleared` (and when)
    for one of its last CLEARED_KEPT alerts to clear, `unknown` for anything else
    (another chair's id, one never raised, or one cleared long before)."""
    cleared_t = ch.cleared.get(alert_id)
    if cleared_t is not None:
        return Refusal(
            f"alert {alert_id} on {ch.name} is no longer active: it has cleared",
            "cleared",
            alert_id=alert_id,
            rule=alert_id.removeprefix(f"{ch.name}:").split(":", 1)[0],
            cleared_at=iso(cleared_t),
        )
    return Refusal(
        f"unknown alert {alert_id} on {ch.name}: not one of its alerts",
        "unknown",
        alert_id=alert_id,
    )
