"""The alert engine: clinical-rules.md as a deterministic, event-time state machine.

Inputs are `Sample`, `SessionCmd`, `Ack` and `Link` (monitord/engine/inputs.py), each with
its own event time `t`; outputs are `AlertEvent`s. The engine never reads the wall clock:
time only moves when an input arrives (`feed`) or a clock tick says so (`advance`), so the
same object runs live (hub + a clock task) and in `monitord replay`, with the same output.

This module only dispatches: each input and each due timer goes to the rule family that
owns it (bp.py, vitals.py, technical.py, session.py); the alert book (book.py) alone
writes alert events; the state of a chair is typed data (state.py) that snapshot.py writes
as JSON so a restarted daemon continues mid-episode without forgetting an active alarm or
raising it again as new.

Where clinical-rules.md is silent or ambiguous, the choice made is commented at the spot
(search for "ASSUMPTION").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from monitord.engine import snapshot as snap
from monitord.engine.book import AlertBook
from monitord.engine.bp import RULES as BP_RULES
from monitord.engine.bp import BpHandler, BpRules
from monitord.engine.inputs import Ack, EngineInput, Link, Sample, SessionCmd
from monitord.engine.rules import HR_RANGE, MAX_SAMPLE_GAP_S, SPO2_RANGE, RuleSet
from monitord.engine.session import DISCHARGE, SessionRules
from monitord.engine.sessioninfo import session_info
from monitord.engine.state import ChairState, TimerKey, TimerKind, on_grid
from monitord.engine.technical import SENSOR_ALERT, SENSOR_TIMER, TechnicalRules
from monitord.engine.validity import bp_invalid_reason
from monitord.engine.vitals import HR_RULES, SPO2_RULES, VitalRules
from monitord.models import AlertEvent, Kind

SNAPSHOT_VERSION = snap.SNAPSHOT_VERSION

_TimerHandler = Callable[[ChairState, TimerKey, float, list[AlertEvent]], None]


class AlertEngine:
    """Deterministic event-time alert engine for any number of chairs."""

    def __init__(
        self, rules: RuleSet | None = None, default_protocol: Mapping[str, str] | None = None
    ) -> None:
        self.rules = rules if rules is not None else RuleSet.default()
        self.default_protocol: dict[str, str] = dict(default_protocol or {})
        self.chairs: dict[str, ChairState] = {}
        #: Why the last Ack or SessionCmd did nothing (None when it was applied).
        self.last_error: str | None = None
        # Which signal's current reading an escalation of a rule shows.
        signal_of = {
            **dict.fromkeys(BP_RULES, "bp"),
            **dict.fromkeys(HR_RULES, "hr"),
            **dict.fromkeys(SPO2_RULES, "spo2"),
        }
        self.book = AlertBook(self.rules, signal_of)
        self.bp = BpRules(self.book)
        self.vitals = VitalRules(self.book)
        self.technical = TechnicalRules(self.book)
        self.session_rules = SessionRules(self.book, self.bp, self.technical, self.default_protocol)
        # A valid BP reading goes through every rule that reads it, in evaluation order
        # (clinical-rules.md "Order"), whichever family owns the rule.
        bp_handlers: dict[str, BpHandler] = {
            **self.bp.handlers(),
            **self.technical.handlers(),
            **self.session_rules.handlers(),
        }
        self._spo2_ok = self.session_rules.spo2_ok
        self._bp_order = [bp_handlers[r] for r in self.book.order if r in bp_handlers]
        self._on_timer: dict[TimerKind, _TimerHandler] = {
            TimerKind.ESCALATE: self.book.escalate,
            TimerKind.BP_OVERDUE: self.technical.overdue_due,
            TimerKind.DEVICE_LOST: self.technical.device_lost_due,
            TimerKind.SENSOR_OFF: self.technical.sensor_off_due,
            TimerKind.CHECK_MISSED: self.session_rules.check_missed_due,
            TimerKind.DISCHARGE_OBSERVED: self.session_rules.discharge_due,
            TimerKind.DISCHARGE_SPO2: self.session_rules.discharge_due,
        }

    # ------------------------------------------------------------------ public API

    def chair(self, name: str) -> ChairState:
        ch = self.chairs.get(name)
        if ch is None:
            ch = self.chairs[name] = ChairState(name)
        return ch

    def feed(self, ev: EngineInput) -> list[AlertEvent]:
        """Apply one input: the chair's timers due strictly before `ev.t` fire first, then
        the input. Timers due at exactly `ev.t` do not fire here: every input at one `t`
        goes first, then the timers due at `t` (clinical-rules.md "Precise semantics"), so
        the caller fires them with `advance` once it has fed all inputs at `t` (replay: at
        the next `t` or `end`; live: the clock tick after the batch)."""
        ch = self.chairs.get(ev.chair)
        if ch is None:
            if isinstance(ev, Sample) and ev.stored:
                # History of a chair not yet seen makes no chair either: made here, it put
                # that chair first in the order of events due at one instant (found by
                # tests/engine/test_properties.py: two chairs' escalations swapped).
                self.last_error = None
                return []
            ch = self.chair(ev.chair)
        out: list[AlertEvent] = []
        t = ev.t
        if ch.next_due is not None and ch.next_due < t:
            self._fire(ch, t, False, out)
        self.last_error = None
        if isinstance(ev, Sample):
            if ev.stored:
                # A device's memory record is history: stored and reported, fed to no rule
                # (clinical-rules.md "Precise semantics"). Not even the discharge re-check.
                return out
            kind = ev.kind
            if kind == Kind.HR:
                self._on_vital(ch, ev, "hr", "hr_bpm", HR_RANGE, out)
            elif kind == Kind.SPO2:
                self._on_vital(ch, ev, "spo2", "spo2_pct", SPO2_RANGE, out)
            else:
                self._on_bp(ch, ev, out)
        elif isinstance(ev, SessionCmd):
            self.last_error = self.session_rules.command(
                ch, t, ev.action, ev.protocol, ev.session_id, out
            )
        elif isinstance(ev, Ack):
            self.last_error = self.book.ack(ch, t, ev.rule, ev.alert_id, ev.by, out)
        elif isinstance(ev, Link):
            self.technical.link(ch, t, ev.device, ev.up, out, ev.retired)
        else:
            raise TypeError(f"not an engine input: {ev!r}")
        # session.discharge_ready is re-checked on every input, after every clearing, in
        # observation or while it is up.
        if ch.phase == "observation" or DISCHARGE in ch.alerts:
            self.session_rules.discharge(ch, t, out)
        return out

    def feed_ack(self, ev: Ack) -> tuple[list[AlertEvent], str | None]:
        """`feed` for an Ack, with the reason when it acknowledged nothing (for
        `cmd/errors`)."""
        out = self.feed(ev)
        return out, self.last_error

    @property
    def last_ack_error(self) -> str | None:
        """Alias of `last_error` (why the last Ack acknowledged nothing)."""
        return self.last_error

    def feed_checked(self, ev: EngineInput) -> tuple[list[AlertEvent], str | None]:
        """`feed`, plus why a command was refused (unknown alert, wrong phase ...)."""
        out = self.feed(ev)
        return out, self.last_error

    def ack(
        self,
        t: float,
        chair: str,
        rule: str | None = None,
        alert_id: str | None = None,
        by: str | None = None,
    ) -> list[AlertEvent]:
        return self.feed(Ack(t, chair, rule=rule, alert_id=alert_id, by=by))

    def advance(self, t: float, chair: str | None = None, strict: bool = False) -> list[AlertEvent]:
        """Fire every timer due at or before `t` (strictly before with `strict`), of one
        chair or of all chairs. Across chairs, timers fire in deadline order (ties: chair
        creation order), so the output stays in time order."""
        out: list[AlertEvent] = []
        if chair is not None:
            ch = self.chair(chair)
            if ch.next_due is not None and (ch.next_due < t or (not strict and ch.next_due == t)):
                self._fire(ch, t, not strict, out)
            return out
        while True:
            first: ChairState | None = None
            first_due = t
            for ch in self.chairs.values():
                due = ch.next_due
                if due is not None and (
                    due < first_due or (due == first_due and first is None and not strict)
                ):
                    first, first_due = ch, due
            if first is None:
                return out
            # Everything of that chair due at that deadline (new timers are due later).
            self._fire(first, first_due, True, out)

    def resume(self, t: float) -> None:
        """After a restore at `t` (a daemon restart), re-plan the timers (clinical-rules.md
        "Delivery of alarms"). Escalations missed while the daemon was down are not
        replayed: the next escalation of every restored alert is due one interval after
        `t`, its level counting on, also when its old deadline was still ahead (the rule
        says "after a restart", for every restored alert; a quick restart moves it later
        by at most the downtime, and the restart republishes the active set at once); an
        alert that the running config no longer escalates gets no escalation at all.
        A link or sensor wait that fell due starts again at `t` (nothing is known of the
        device until it reports). Any other deadline that fell due (overdue BP, missed
        check, discharge check) fires at `t`, so nothing it raises escalates in a burst;
        one not yet due keeps its time."""
        waits = {
            TimerKind.DEVICE_LOST: "tech.device_lost",
            TimerKind.SENSOR_OFF: "tech.sensor_off",
        }
        for ch in self.chairs.values():
            for key, timer in ch.timers.items():
                if key.kind is TimerKind.ESCALATE or timer[0] >= t:
                    continue
                elif key.kind in waits:
                    after = float(self.rules[waits[key.kind]].params["after_s"])
                    timer[0] = on_grid(t + after)
                else:
                    timer[0] = t
            # Escalations under the running config (a rule it no longer escalates, or
            # made low, gets none), from `t` on.
            self.book.resume(ch, t)

    def next_deadline(self, chair: str | None = None) -> float | None:
        if chair is not None:
            ch = self.chairs.get(chair)
            return None if ch is None else ch.next_due
        dues = [c.next_due for c in self.chairs.values() if c.next_due is not None]
        return min(dues, default=None)

    def steady(self, chair: str, t: float) -> bool:
        """May the chair's clock jump forward at `t` without changing what the engine does
        (a wall-clock step it follows, monitord/clock.py)? Not with a timer pending, nor
        with an HR/SpO2 run going on a signal sampled in the last 10 s: a jump of more
        than 10 s would restart that run (its alarm `for` seconds late), a shorter one
        would shorten it. A run whose signal went quiet restarts at its next sample
        anyway."""
        ch = self.chairs.get(chair)
        if ch is None:
            return True
        if ch.next_due is not None:
            return False
        return not _runs_going(ch) or all(
            t - last > MAX_SAMPLE_GAP_S for last in ch.last_valid.values()
        )

    def idle(self, chair: str) -> bool:
        """May a restart put the chair's clock on the wall clock (monitord/clock.py
        `WallClock`'s `idle`)? Not with a session open or a timer pending, nor with an
        HR/SpO2 run going: the clock would leap by a step it had not followed for that run
        (or one made while stopped), and the run, its samples the leap apart, restarted
        (its alarm up to `for` seconds late). The restored clock then keeps its offset and
        `steady` lets it follow once the run is over or its signal quiet."""
        ch = self.chairs.get(chair)
        if ch is None:
            return True
        return ch.session is None and ch.next_due is None and not _runs_going(ch)

    def latest(self, chair: str) -> float | None:
        """The latest chair time the chair's state holds (samples, session, alerts, runs;
        not timers, which are due later), None with none: a restart with no clock row
        starts its clock no earlier (monitord/clock.py `start_floor`)."""
        ch = self.chairs.get(chair)
        if ch is None:
            return None
        ts: list[float | None] = [ch.low_spo2_t, *ch.last_valid.values(), *ch.cleared.values()]
        if (s := ch.session) is not None:
            ts += [s.started_t, s.dose_start_t, s.dose_end_t]
        for a in ch.alerts.values():
            ts += [a.raised_t, a.acked_t, a.esc_from]
        ts += [c[0] for c in ch.current.values() if c]
        for r in ch.ts_runs.values():
            ts += [r.since, r.clear_since]
        ts += [m[0] for b in ch.bp_runs.values() for m in (*b.meets, *b.clears) if m]
        return max((t for t in ts if t is not None), default=None)

    def set_transport(self, chair: str, device: str, transport: str) -> None:
        """`device` of `chair` is reached over `transport` ("serial", "ble"): what its
        `tech.device_lost` tells the nurse to check. Configuration, not state: not in the
        snapshot (the daemon sets it as it starts each device)."""
        self.technical.transports[chair, device] = transport

    def link_devices(self, chair: str) -> set[str]:
        """The devices of `chair` whose link the engine waits on or has lost (a snapshot
        restored carries them): one no longer configured is retired (`Link.retired`)."""
        ch = self.chairs.get(chair)
        return set() if ch is None else self.technical.link_devices(ch)

    def phase(self, chair: str) -> str:
        ch = self.chairs.get(chair)
        return "idle" if ch is None else ch.phase

    def session(self, chair: str) -> dict[str, Any] | None:
        ch = self.chairs.get(chair)
        if ch is None or ch.session is None:
            return None
        b = ch.baseline
        baseline = None if b is None else {"sys_mmHg": b[0], "dia_mmHg": b[1]}
        return {**asdict(ch.session), "phase": ch.phase, "baseline": baseline}

    def active(self, chair: str) -> list[dict[str, Any]]:
        """The active alert set (MQTT `alerts/active`), in raise order."""
        ch = self.chairs.get(chair)
        return [] if ch is None else self.book.active(ch)

    def held(self, chair: str) -> tuple[bool, ...]:
        """Which of the chair's active alerts hold a latched clear (`clear_pending` in the
        active set), in raise order: the one part of the active set that changes without
        an alert event (a reading starts or breaks the clear run), so the chair compares
        it around each batch to know when to republish the set."""
        ch = self.chairs.get(chair)
        return () if ch is None or not ch.alerts else tuple(a.held for a in ch.alerts.values())

    def session_info(self, chair: str) -> dict[str, Any]:
        """The chair's session for the nurses' station (`session` of `alerts/active`)."""
        return session_info(self.chairs.get(chair), self.rules)

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to continue after a restart, as JSON-able data."""
        return snap.write(self.rules.overrides, self.default_protocol, self.chairs)

    @classmethod
    def restore(cls, snapshot: Mapping[str, Any], rules: RuleSet | None = None) -> AlertEngine:
        snap.check_version(snapshot)
        if rules is None:
            rules = RuleSet.from_overrides(snapshot.get("overrides", {}))
        eng = cls(rules, snapshot.get("default_protocol", {}))
        for name, d in snapshot["chairs"].items():
            eng.chairs[name] = snap.chair_from_dict(name, d)
        return eng

    # ------------------------------------------------------------------ dispatch

    def _fire(self, ch: ChairState, limit: float, inclusive: bool, out: list[AlertEvent]) -> None:
        while ch.next_due is not None and (
            ch.next_due < limit or (inclusive and ch.next_due == limit)
        ):
            key, due = ch.pop_next_timer()
            self._on_timer[key.kind](ch, key, due, out)

    def _on_bp(self, ch: ChairState, s: Sample, out: list[AlertEvent]) -> None:
        v = s.values
        sys_, dia, mp = v.get("sys_mmHg"), v.get("dia_mmHg"), v.get("map_mmHg")
        reason = bp_invalid_reason(s.valid, sys_, dia, mp)
        t = s.t
        if reason is not None:
            ch.invalid_samples += 1
            values = {"sys_mmHg": sys_, "dia_mmHg": dia, "map_mmHg": mp}
            self.technical.bp_rejected(ch, t, values, reason, out)
            return
        assert sys_ is not None and dia is not None
        self.bp.record(ch, t, sys_, dia, mp)
        self.session_rules.bp_seen(ch, t)
        self.technical.bp_seen(ch, t)
        for handler in self._bp_order:
            handler(ch, t, sys_, dia, mp, out)

    def _on_vital(
        self,
        ch: ChairState,
        s: Sample,
        signal: str,
        name: str,
        valid_range: tuple[float, float],
        out: list[AlertEvent],
    ) -> None:
        t = s.t
        if s.contact is False:
            # Contact lost / probe off: not valid for physiological rules (counted).
            ch.invalid_samples += 1
            self.technical.contact_lost(ch, signal, t)
            return
        # Inlined, as this runs for every HR and SpO2 sample: is a contact loss timed or
        # alarmed (tech.sensor_off), and the value check of validity.vital_invalid_reason
        # (contact is tested above).
        alerts = ch.alerts
        contact_back = SENSOR_TIMER[signal] in ch.timers or (
            alerts and SENSOR_ALERT[signal] in alerts  # (an empty dict is falsy: no lookup)
        )
        v = s.values.get(name)
        if s.valid and v is not None and valid_range[0] <= v <= valid_range[1]:
            ch.current[signal] = [t, v]
            if signal == "spo2" and v < self._spo2_ok:
                self.session_rules.spo2_low(ch, t)
            self.vitals.evaluate(ch, t, v, signal, out)
        else:
            ch.invalid_samples += 1  # counted and skipped (clinical-rules.md)
        if contact_back:
            # tech.sensor_off is low priority: after the physiological rules.
            self.technical.contact_back(ch, signal, t, out)


def _runs_going(ch: ChairState) -> bool:
    """An HR/SpO2 confirmation or clear run is going on the chair (`steady`, `idle`)."""
    return any(r.since is not None or r.clear_since is not None for r in ch.ts_runs.values())
