"""The alert engine: clinical-rules.md as a deterministic, event-time state machine.

Inputs are `Sample`, `SessionCmd`, `Ack` and `Link` (monitord/engine/inputs.py), each with
its own event time `t`; outputs are `AlertEvent`s. The engine never reads the wall clock:
time only moves when an input arrives (`feed`) or a clock tick says so (`advance`), so the
same object runs live (hub + a clock task) and in `monitord replay`, with the same output.

Per chair the engine keeps: the session and phase, the baseline, per-rule confirmation
runs, the active alert set and a small set of named timers (escalation deadlines,
`tech.bp_overdue`, `session.check_missed`, `tech.device_lost`, `tech.sensor_off`,
`session.discharge_ready` re-checks). Everything is plain data so `snapshot()` can write it
as JSON and `restore()` can bring a restarted daemon back mid-episode without forgetting an
active alarm or raising it again as new.

Where clinical-rules.md is silent or ambiguous, the choice made is commented at the spot
(search for "ASSUMPTION").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from monitord.engine.inputs import Ack, EngineInput, Link, Sample, SessionCmd
from monitord.engine.rules import (
    BASELINE_MAX_READINGS,
    BASELINE_MIN_READINGS,
    BP_DIA_RANGE,
    BP_MIN_PULSE_PRESSURE,
    BP_SYS_RANGE,
    DOSE_PHASES,
    ESCALATE_S,
    HR_RANGE,
    MAX_SAMPLE_GAP_S,
    PROTOCOLS,
    SPO2_RANGE,
    RuleSet,
)
from monitord.engine.text import duration, mmhg, signed_mmhg
from monitord.engine.text import num as _n
from monitord.engine.text import readings as _readings
from monitord.models import AlertEvent, Kind

SNAPSHOT_VERSION = 1

# `session_end` clears these (clinical-rules.md "Precise semantics"), inhibited or not.
SESSION_RULES = (
    "bp.rise",
    "bp.not_declining",
    "bp.baseline_high",
    "tech.bp_overdue",
    "session.check_missed",
    "session.no_baseline",
    "session.discharge_ready",
)
BP_RULES = ("bp.crisis", "bp.severe", "bp.rise", "bp.not_declining", "bp.low", "bp.very_low")
HR_RULES = ("hr.high", "hr.very_high", "hr.low", "hr.very_low")
SPO2_RULES = ("spo2.low", "spo2.very_low")
DISCHARGE = "session.discharge_ready"

# Timer names. Escalations are "esc|<alert key>"; device timers "lost|<device>",
# sensor timers "sensor|<signal>".
T_OVERDUE = "overdue"
T_MISSED = "missed"
T_DIS_OBS = "dis_obs"
T_DIS_SPO2 = "dis_spo2"

_SIGNAL_NAME = {"hr": "HR sensor contact lost", "spo2": "SpO2 probe off"}


# Which signal's current reading an escalation of a rule shows.
_RULE_SIGNAL = {
    **dict.fromkeys(BP_RULES, "bp"),
    **dict.fromkeys(HR_RULES, "hr"),
    **dict.fromkeys(SPO2_RULES, "spo2"),
}


class _Alert:
    """One active alert (raised, not yet cleared)."""

    __slots__ = (
        "acked",
        "held",
        "id",
        "key",
        "kind",
        "level",
        "message",
        "priority",
        "raised_t",
        "rule",
        "value",
    )

    def __init__(
        self,
        id: str,
        rule: str,
        key: str,
        priority: str,
        kind: str,
        raised_t: float,
        value: dict[str, Any],
        message: str,
        acked: bool = False,
        held: bool = False,
        level: int = 0,
    ) -> None:
        self.id = id
        self.rule = rule
        self.key = key
        self.priority = priority
        self.kind = kind
        self.raised_t = raised_t
        self.value = value
        self.message = message
        self.acked = acked  # acknowledged: no more escalation
        self.held = held  # latching: the clear condition holds, waiting for an ack
        self.level = level  # escalations emitted so far

    def to_dict(self) -> dict[str, Any]:
        return {s: getattr(self, s) for s in self.__slots__}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> _Alert:
        return cls(**{s: d[s] for s in cls.__slots__})


class _Chair:
    """Everything the engine knows about one chair. Plain data (see snapshot)."""

    __slots__ = (
        "alerts",
        "base_bp",
        "baseline",
        "bp_runs",
        "current",
        "episodes",
        "invalid_samples",
        "last_valid",
        "low_spo2_t",
        "name",
        "next_due",
        "phase",
        "session",
        "session_bp",
        "timers",
        "ts_runs",
        "window_bp",
    )

    _PERSISTED = (
        "alerts",
        "base_bp",
        "baseline",
        "bp_runs",
        "current",
        "episodes",
        "invalid_samples",
        "last_valid",
        "low_spo2_t",
        "phase",
        "session",
        "session_bp",
        "timers",
        "ts_runs",
        "window_bp",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.phase = "idle"
        self.session: dict[str, Any] | None = None
        self.base_bp: list[list[float]] = []  # last valid baseline BP [sys, dia]
        self.baseline: list[float] | None = None  # [sys, dia], fixed at dose_start
        self.session_bp: list[list[float]] = []  # last 2 valid BP of the session
        self.window_bp = False  # a valid BP inside the check_missed window
        # BP rule -> [raise run readings, clear run readings]; a reading = [t, sys, dia, map]
        self.bp_runs: dict[str, list[list[list[float | None]]]] = {}
        # HR/SpO2 rule -> [raise run start, clear run start]
        self.ts_runs: dict[str, list[float | None]] = {}
        self.last_valid: dict[str, float] = {}  # signal -> t of the last valid sample
        self.low_spo2_t: float | None = None  # last valid SpO2 below the discharge limit
        self.alerts: dict[str, _Alert] = {}  # alert key -> active alert, in raise order
        self.timers: dict[str, list[float]] = {}  # name -> [due, rank]
        self.next_due: float | None = None
        self.invalid_samples = 0
        # alert key -> [raise time in ms, episodes raised in that ms]: keeps alert_id unique
        # when a rule raises, clears and raises again within one millisecond.
        self.episodes: dict[str, list[int]] = {}
        # signal -> the last valid reading [t, values...] (bp: sys, dia, map; hr; spo2), so
        # an escalation shows what the patient has now, not only what raised the alert.
        self.current: dict[str, list[float | None]] = {}

    def recompute(self) -> None:
        self.next_due = min((v[0] for v in self.timers.values()), default=None)

    def set_timer(self, name: str, due: float, rank: int) -> None:
        old = self.timers.get(name)
        self.timers[name] = [due, rank]
        if old is not None and old[0] == self.next_due:
            self.recompute()  # the timer moved: it may no longer be the earliest
        elif self.next_due is None or due < self.next_due:
            self.next_due = due

    def cancel(self, name: str) -> None:
        if self.timers.pop(name, None) is not None:
            self.recompute()

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self._PERSISTED}
        d["alerts"] = {k: a.to_dict() for k, a in self.alerts.items()}
        return d

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any]) -> _Chair:
        ch = cls(name)
        for k in cls._PERSISTED:
            if k in _ADDED_IN_V1:
                # Snapshots written before these fields existed still load.
                setattr(ch, k, d.get(k, {}))
            elif k != "alerts":
                setattr(ch, k, d[k])
        ch.alerts = {k: _Alert.from_dict(a) for k, a in d["alerts"].items()}
        ch.recompute()
        return ch


# Chair fields added to snapshot version 1 later: optional when reading a snapshot.
_ADDED_IN_V1 = ("current", "episodes")


def _akey(rule: str, key: str) -> str:
    return f"{rule}|{key}" if key else rule


class AlertEngine:
    """Deterministic event-time alert engine for any number of chairs."""

    def __init__(
        self, rules: RuleSet | None = None, default_protocol: Mapping[str, str] | None = None
    ) -> None:
        self.rules = rules if rules is not None else RuleSet.default()
        self.default_protocol: dict[str, str] = dict(default_protocol or {})
        self.chairs: dict[str, _Chair] = {}
        #: Why the last Ack or SessionCmd did nothing (None when it was applied).
        self.last_error: str | None = None
        self._order = self.rules.order()
        self._rank = {r: i for i, r in enumerate(self._order)}
        self._inhibitors = self.rules.inhibitors()
        r = self.rules
        # Ordered handlers for a valid BP reading (clinical-rules.md "Order").
        bp_handlers: dict[
            str, Callable[[_Chair, float, float, float, float | None, list[AlertEvent]], None]
        ] = {rid: self._bp_rule_handler(rid) for rid in BP_RULES}
        bp_handlers["bp.baseline_high"] = self._baseline_high
        for rid in ("session.check_missed", "tech.bp_invalid", "tech.bp_overdue"):
            bp_handlers[rid] = self._clear_on_valid_bp(rid)
        self._bp_order = [bp_handlers[rid] for rid in self._order if rid in bp_handlers]
        # Compiled HR/SpO2 rules, in evaluation order:
        # (rule id, above?, threshold, clear threshold, for_s, clear_for_s, inhibitors,
        #  latching, value name, label, unit)
        self._ts: dict[str, list[tuple[Any, ...]]] = {"hr": [], "spo2": []}
        for rid in self._order:
            if rid in HR_RULES or rid in SPO2_RULES:
                p = r[rid].params
                signal = "hr" if rid in HR_RULES else "spo2"
                above = "hr_gt" in p
                if signal == "hr":
                    thr = p["hr_gt"] if above else p["hr_lt"]
                    cthr = p["clear_hr_lt"] if above else p["clear_hr_gt"]
                else:
                    thr, cthr = p["spo2_lt"], p["clear_spo2_ge"]
                self._ts[signal].append(
                    (
                        rid,
                        above,
                        float(thr),
                        float(cthr),
                        float(p["for_s"]),
                        float(p["clear_for_s"]),
                        self._inhibitors[rid],
                        r[rid].latching,
                    )
                )
        dp = r[DISCHARGE].params
        self._spo2_ok = float(dp["spo2_ge"])
        self._spo2_window = float(dp["spo2_window_s"])

    # ------------------------------------------------------------------ public API

    def chair(self, name: str) -> _Chair:
        ch = self.chairs.get(name)
        if ch is None:
            ch = self.chairs[name] = _Chair(name)
        return ch

    def feed(self, ev: EngineInput) -> list[AlertEvent]:
        """Apply one input: the chair's timers due strictly before `ev.t` fire first, then
        the input. Timers due at exactly `ev.t` do not fire here: every input at one `t`
        goes first, then the timers due at `t` (clinical-rules.md "Precise semantics"), so
        the caller fires them with `advance` once it has fed all inputs at `t` (replay: at
        the next `t` or `end`; live: the clock tick after the batch)."""
        ch = self.chairs.get(ev.chair)
        if ch is None:
            ch = self.chair(ev.chair)
        out: list[AlertEvent] = []
        t = ev.t
        if ch.next_due is not None and ch.next_due < t:
            self._fire(ch, t, False, out)
        self.last_error = None
        tp = type(ev)
        if tp is Sample:
            assert isinstance(ev, Sample)
            if ev.stored:
                # A device's memory record is history: stored and reported, fed to no rule
                # (clinical-rules.md "Precise semantics"). Not even the discharge re-check.
                return out
            kind = ev.kind
            if kind == Kind.HR:
                self._on_ts(ch, ev, "hr", "hr_bpm", HR_RANGE, out)
            elif kind == Kind.SPO2:
                self._on_ts(ch, ev, "spo2", "spo2_pct", SPO2_RANGE, out)
            else:
                self._on_bp(ch, ev, out)
        elif tp is SessionCmd:
            assert isinstance(ev, SessionCmd)
            self._on_session(ch, ev, out)
        elif tp is Ack:
            assert isinstance(ev, Ack)
            self._on_ack(ch, ev, out)
        elif tp is Link:
            assert isinstance(ev, Link)
            self._on_link(ch, ev, out)
        else:
            raise TypeError(f"not an engine input: {ev!r}")
        # session.discharge_ready is re-checked on every input, after every clearing.
        if ch.phase == "observation" or DISCHARGE in ch.alerts:
            self._discharge(ch, t, out)
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
            first: _Chair | None = None
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

    def next_deadline(self, chair: str | None = None) -> float | None:
        if chair is not None:
            ch = self.chairs.get(chair)
            return None if ch is None else ch.next_due
        dues = [c.next_due for c in self.chairs.values() if c.next_due is not None]
        return min(dues, default=None)

    def phase(self, chair: str) -> str:
        ch = self.chairs.get(chair)
        return "idle" if ch is None else ch.phase

    def session(self, chair: str) -> dict[str, Any] | None:
        ch = self.chairs.get(chair)
        if ch is None or ch.session is None:
            return None
        return {**ch.session, "phase": ch.phase, "baseline": self._baseline_dict(ch)}

    def active(self, chair: str) -> list[dict[str, Any]]:
        """The active alert set (MQTT `alerts/active`), in raise order."""
        ch = self.chairs.get(chair)
        if ch is None:
            return []
        out = []
        for a in ch.alerts.values():
            if self._inhibited(ch, a.rule):
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
                }
            )
        return out

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to continue after a restart, as JSON-able data."""
        return {
            "version": SNAPSHOT_VERSION,
            "overrides": {k: dict(v) for k, v in self.rules.overrides.items()},
            "default_protocol": dict(self.default_protocol),
            "chairs": {name: ch.to_dict() for name, ch in self.chairs.items()},
        }

    @classmethod
    def restore(cls, snapshot: Mapping[str, Any], rules: RuleSet | None = None) -> AlertEngine:
        if snapshot.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unsupported engine snapshot version {snapshot.get('version')!r}")
        if rules is None:
            rules = RuleSet.from_overrides(snapshot.get("overrides", {}))
        eng = cls(rules, snapshot.get("default_protocol", {}))
        for name, d in snapshot["chairs"].items():
            eng.chairs[name] = _Chair.from_dict(name, d)
        return eng

    def resume(self, t: float) -> None:
        """After a restore at `t` (a daemon restart), re-plan the timers that fell due
        while the daemon was down (clinical-rules.md "Delivery of alarms"). Missed
        escalations are not replayed: the next one is due one interval after `t`, its
        level counting on. A link or sensor wait starts again at `t` (nothing is known of
        the device until it reports). Any other deadline (overdue BP, missed check,
        discharge check) fires at `t`, so nothing it raises escalates in a burst."""
        for ch in self.chairs.values():
            for name, timer in ch.timers.items():
                if timer[0] >= t:
                    continue  # not missed: keeps its deadline
                if name.startswith("esc|"):
                    a = ch.alerts.get(name[4:])
                    step: float | None = 0.0
                    if a is not None:
                        r = self.rules[a.rule]
                        step = ESCALATE_S[a.priority] if r.escalate_by_priority else r.escalate_s
                    timer[0] = t + (step or 0.0)
                elif name.startswith(("lost|", "sensor|")):
                    rid = "tech.device_lost" if name.startswith("lost|") else "tech.sensor_off"
                    timer[0] = t + float(self.rules[rid].params["after_s"])
                else:
                    timer[0] = t
            ch.recompute()

    # ------------------------------------------------------------------ events

    def _emit(
        self,
        ch: _Chair,
        out: list[AlertEvent],
        t: float,
        a: _Alert,
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

    def _raise(
        self,
        ch: _Chair,
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
        ak = _akey(rid, key)
        ms = round(t * 1000)
        aid = f"{ch.name}:{rid}{':' + key if key else ''}:{ms}"
        last = ch.episodes.get(ak)
        if last is not None and last[0] == ms:
            last[1] += 1
            aid += f"-{last[1]}"
        else:
            ch.episodes[ak] = [ms, 1]
        a = _Alert(aid, rid, key, pr, rule.kind, t, value, message)
        ch.alerts[ak] = a
        self._emit(ch, out, t, a, "raised", value, message)
        interval = ESCALATE_S[pr] if rule.escalate_by_priority else rule.escalate_s
        if interval:
            ch.set_timer("esc|" + ak, t + interval, self._rank[rid])

    def _clear(
        self,
        ch: _Chair,
        ak: str,
        t: float,
        value: Mapping[str, Any],
        message: str,
        out: list[AlertEvent],
    ) -> None:
        a = ch.alerts.pop(ak)
        ch.cancel("esc|" + ak)
        self._emit(ch, out, t, a, "cleared", value, message)

    def _pending(
        self,
        ch: _Chair,
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

    def _inhibited(self, ch: _Chair, rid: str) -> bool:
        alerts = ch.alerts
        return any(i in alerts for i in self._inhibitors[rid])

    # ------------------------------------------------------------------ timers

    def _fire(self, ch: _Chair, limit: float, inclusive: bool, out: list[AlertEvent]) -> None:
        timers = ch.timers
        while ch.next_due is not None and (
            ch.next_due < limit or (inclusive and ch.next_due == limit)
        ):
            # Simultaneous timers fire in rule evaluation order, then by name.
            name = min(timers, key=lambda n: (timers[n][0], timers[n][1], n))
            due = timers.pop(name)[0]
            ch.recompute()
            self._on_timer(ch, name, due, out)

    def _on_timer(self, ch: _Chair, name: str, due: float, out: list[AlertEvent]) -> None:
        if name.startswith("esc|"):
            ak = name[4:]
            a = ch.alerts.get(ak)
            if a is None or a.acked:
                return
            rule = self.rules[a.rule]
            interval = ESCALATE_S[a.priority] if rule.escalate_by_priority else rule.escalate_s
            # ASSUMPTION: a deadline falling while inhibited is skipped (the rules say
            # so) and `level` counts the escalations actually emitted (1, 2, ...).
            if not self._inhibited(ch, a.rule):
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
            if interval:
                ch.set_timer(name, due + interval, self._rank[a.rule])
        elif name == T_OVERDUE:
            if "tech.bp_overdue" not in ch.alerts and ch.phase in DOSE_PHASES:
                p = self.rules["tech.bp_overdue"].params
                self._raise(
                    ch,
                    "tech.bp_overdue",
                    due,
                    {"overdue_s": p["cycle_s"] + p["grace_s"], "deadline_t": due},
                    f"No valid BP for {duration(p['cycle_s'] + p['grace_s'])} "
                    f"(NIBP cycle {duration(p['cycle_s'])} + {duration(p['grace_s'])}): "
                    "measure BP",
                    out,
                )
        elif name == T_MISSED:
            if not ch.window_bp and ch.phase in DOSE_PHASES and ch.session is not None:
                p = self.rules["session.check_missed"].params
                a, b = p["window_start_s"] / 60, p["window_end_s"] / 60
                self._raise(
                    ch,
                    "session.check_missed",
                    due,
                    {
                        "window_start_t": ch.session["dose_start_t"] + p["window_start_s"],
                        "window_end_t": due,
                    },
                    f"No BP between {_n(a)} and {_n(b)} min after the dose: take the "
                    "post-dose BP check now",
                    out,
                )
        elif name.startswith("lost|"):
            dev = name[5:]
            if _akey("tech.device_lost", dev) not in ch.alerts:
                rule = self.rules["tech.device_lost"]
                # Priority fixed at raise: high while dosing (clinical-rules.md).
                pr = rule.params["priority_dosing"] if ch.phase == "dosing" else rule.priority
                self._raise(
                    ch,
                    "tech.device_lost",
                    due,
                    {"device": dev, "after_s": rule.params["after_s"]},
                    f"Device {dev}: link down for {duration(rule.params['after_s'])}; "
                    "check power and range",
                    out,
                    key=dev,
                    priority=pr,
                )
        elif name.startswith("sensor|"):
            sig = name[7:]
            if _akey("tech.sensor_off", sig) not in ch.alerts:
                after = self.rules["tech.sensor_off"].params["after_s"]
                self._raise(
                    ch,
                    "tech.sensor_off",
                    due,
                    {"signal": sig, "after_s": after},
                    f"{_SIGNAL_NAME.get(sig, sig + ' sensor off')} for {duration(after)}: "
                    "check the sensor",
                    out,
                    key=sig,
                )
        elif name in (T_DIS_OBS, T_DIS_SPO2):
            self._discharge(ch, due, out)

    def _current(self, ch: _Chair, a: _Alert) -> tuple[Mapping[str, Any], str]:
        """An escalation's value and message tail: the reading that raised the alert plus
        the patient's current (last valid) reading of that signal."""
        signal = _RULE_SIGNAL.get(a.rule)
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

    # ------------------------------------------------------------------ BP

    def _on_bp(self, ch: _Chair, s: Sample, out: list[AlertEvent]) -> None:
        v = s.values
        sys_, dia, mp = v.get("sys_mmHg"), v.get("dia_mmHg"), v.get("map_mmHg")
        reason = self._bp_invalid_reason(s.valid, sys_, dia, mp)
        t = s.t
        if reason is not None:
            ch.invalid_samples += 1
            # Raised unless already active; further invalid readings add nothing.
            if "tech.bp_invalid" not in ch.alerts:
                self._raise(
                    ch,
                    "tech.bp_invalid",
                    t,
                    {"sys_mmHg": sys_, "dia_mmHg": dia, "map_mmHg": mp, "reason": reason},
                    f"BP reading rejected ({reason}): re-measure",
                    out,
                )
            return
        assert sys_ is not None and dia is not None
        ch.current["bp"] = [t, sys_, dia, mp]
        phase = ch.phase
        if phase == "baseline":
            ch.base_bp.append([sys_, dia])
            del ch.base_bp[:-BASELINE_MAX_READINGS]
        if ch.session is not None:
            ch.session_bp.append([sys_, dia])
            del ch.session_bp[:-2]
        if phase in DOSE_PHASES and ch.session is not None:
            ds = ch.session["dose_start_t"]
            p = self.rules["session.check_missed"].params
            if ds + p["window_start_s"] <= t <= ds + p["window_end_s"]:
                ch.window_bp = True
            p = self.rules["tech.bp_overdue"].params
            ch.set_timer(T_OVERDUE, t + p["cycle_s"] + p["grace_s"], self._rank["tech.bp_overdue"])
        for handler in self._bp_order:
            handler(ch, t, sys_, dia, mp, out)

    @staticmethod
    def _bp_invalid_reason(
        valid: bool, sys_: float | None, dia: float | None, mp: float | None
    ) -> str | None:
        """clinical-rules.md "Valid readings"; None when the reading is valid."""
        if not valid:
            return "cuff error"
        if sys_ is None or dia is None:
            return "no systolic/diastolic value"
        if not BP_SYS_RANGE[0] <= sys_ <= BP_SYS_RANGE[1]:
            return f"systolic {_n(sys_)} outside {_n(BP_SYS_RANGE[0])}-{_n(BP_SYS_RANGE[1])}"
        if not BP_DIA_RANGE[0] <= dia <= BP_DIA_RANGE[1]:
            return f"diastolic {_n(dia)} outside {_n(BP_DIA_RANGE[0])}-{_n(BP_DIA_RANGE[1])}"
        if sys_ <= dia:
            return "systolic not above diastolic"
        if sys_ - dia < BP_MIN_PULSE_PRESSURE:
            return f"pulse pressure {_n(sys_ - dia)} < {_n(BP_MIN_PULSE_PRESSURE)}"
        if mp is not None and not dia <= mp <= sys_:
            return f"MAP {_n(mp)} not between diastolic and systolic"
        return None

    def _bp_rule_handler(
        self, rid: str
    ) -> Callable[[_Chair, float, float, float, float | None, list[AlertEvent]], None]:
        rule = self.rules[rid]
        p = rule.params
        confirm, clear_n = int(p["confirm"]), int(p["clear"])
        phases = rule.phases
        inhibitors = self._inhibitors[rid]

        # (meets, clears, raise text, clear text) for one valid reading.
        def cond(
            ch: _Chair, t: float, s: float, d: float, m: float | None
        ) -> tuple[bool, bool, str, str]:
            if rid in ("bp.crisis", "bp.severe"):
                meets = s >= p["sys_ge"] or d >= p["dia_ge"]
                clears = s < p["clear_sys_lt"] and d < p["clear_dia_lt"]
                return (
                    meets,
                    clears,
                    f">= {_n(p['sys_ge'])}/{_n(p['dia_ge'])}",
                    f"< {_n(p['clear_sys_lt'])}/{_n(p['clear_dia_lt'])}",
                )
            if rid == "bp.rise":
                assert ch.baseline is not None
                bs, bd = ch.baseline
                meets = s - bs >= p["sys_rise_ge"] or d - bd >= p["dia_rise_ge"]
                clears = s - bs < p["clear_sys_rise_lt"] and d - bd < p["clear_dia_rise_lt"]
                # Whole mmHg: `baseline 124/79: +44/+21`, not a 78.6667 mean.
                rise = f"{signed_mmhg(s - bs)}/{signed_mmhg(d - bd)}"
                base = f"over baseline {mmhg(bs)}/{mmhg(bd)}: {rise}"
                return (
                    meets,
                    clears,
                    f"{base} >= +{_n(p['sys_rise_ge'])}/+{_n(p['dia_rise_ge'])}",
                    f"{base} < +{_n(p['clear_sys_rise_lt'])}/+{_n(p['clear_dia_rise_lt'])}",
                )
            if rid == "bp.not_declining":
                assert ch.session is not None
                late = t >= ch.session["dose_start_t"] + p["after_dose_s"]
                terms = s >= p["sys_ge"] or d >= p["dia_ge"]
                # Without a baseline only the absolute terms count (clinical-rules.md).
                if ch.baseline is not None:
                    terms = terms or s >= ch.baseline[0] + p["sys_rise_ge"]
                meets = late and terms
                text = (
                    f"not declining {duration(p['after_dose_s'])} after the dose "
                    f"(sys >= {_n(p['sys_ge'])}"
                    + (
                        f" or >= baseline {mmhg(ch.baseline[0])} + {_n(p['sys_rise_ge'])}"
                        if ch.baseline
                        else ""
                    )
                    + f", or dia >= {_n(p['dia_ge'])})"
                )
                return meets, not meets, text, "declining"
            if rid == "bp.low":
                meets = s < p["sys_lt"] or (m is not None and m < p["map_lt"])
                clears = s >= p["clear_sys_ge"] and (m is None or m >= p["clear_map_ge"])
                return (
                    meets,
                    clears,
                    f"sys < {_n(p['sys_lt'])} or MAP < {_n(p['map_lt'])}",
                    f"sys >= {_n(p['clear_sys_ge'])}, MAP >= {_n(p['clear_map_ge'])}",
                )
            # bp.very_low
            return (
                s < p["sys_lt"],
                s >= p["clear_sys_ge"],
                f"sys < {_n(p['sys_lt'])}",
                f"sys >= {_n(p['clear_sys_ge'])}",
            )

        def handler(
            ch: _Chair, t: float, s: float, d: float, m: float | None, out: list[AlertEvent]
        ) -> None:
            if ch.phase not in phases or (rid == "bp.rise" and ch.baseline is None):
                return
            runs = ch.bp_runs.get(rid)
            if runs is None:
                runs = ch.bp_runs[rid] = [[], []]
            a = ch.alerts.get(rid)
            if inhibitors and any(i in ch.alerts for i in inhibitors):
                # Not evaluated while inhibited; runs restart when the inhibition ends.
                runs[0].clear()
                runs[1].clear()
                if a is not None:
                    a.held = False
                return
            meets, clears, rtext, ctext = cond(ch, t, s, d, m)
            reading: list[float | None] = [t, s, d, m]
            bp = f"BP {_n(s)}/{_n(d)}" + (f" MAP {_n(m)}" if m is not None else "")
            if a is None:
                if not meets:
                    runs[0].clear()
                    return
                runs[0].append(reading)
                n = len(runs[0])
                value = self._bp_value(s, d, m, runs[0], ch)
                if n >= confirm:
                    runs[0].clear()
                    runs[1].clear()
                    self._raise(ch, rid, t, value, f"{bp} {rtext} ({_readings(n)})", out)
                elif n == 1:
                    # ASSUMPTION: `pending` once per run (at its first reading), also
                    # when an override asks for confirm >= 3.
                    self._pending(
                        ch,
                        rid,
                        t,
                        value,
                        f"{bp} {rtext}: re-measure to confirm (1 of {confirm})",
                        out,
                    )
                return
            if not clears:
                runs[1].clear()
                a.held = False  # a reading that breaks the clear run cancels a held clear
                return
            runs[1].append(reading)
            n = len(runs[1])
            if n < clear_n:
                return
            if rule.latching and not a.acked:
                a.held = True  # latched: stays active (and escalating) until acknowledged
                return
            value = self._bp_value(s, d, m, runs[1], ch)
            runs[0].clear()
            runs[1].clear()
            self._clear(ch, rid, t, value, f"{bp} {ctext} ({_readings(n)}): cleared", out)

        return handler

    @staticmethod
    def _bp_value(
        s: float, d: float, m: float | None, run: list[list[float | None]], ch: _Chair
    ) -> dict[str, Any]:
        value: dict[str, Any] = {"sys_mmHg": s, "dia_mmHg": d}
        if m is not None:
            value["map_mmHg"] = m
        value["readings"] = [
            {"t": r[0], "sys_mmHg": r[1], "dia_mmHg": r[2]}
            | ({"map_mmHg": r[3]} if r[3] is not None else {})
            for r in run
        ]
        if ch.baseline is not None:
            value["baseline"] = {"sys_mmHg": ch.baseline[0], "dia_mmHg": ch.baseline[1]}
        return value

    def _baseline_high(
        self, ch: _Chair, t: float, s: float, d: float, m: float | None, out: list[AlertEvent]
    ) -> None:
        """Evaluated at each baseline reading once 2 exist; raises at once."""
        if ch.phase != "baseline" or len(ch.base_bp) < BASELINE_MIN_READINGS:
            return
        p = self.rules["bp.baseline_high"].params
        ms = sum(r[0] for r in ch.base_bp) / len(ch.base_bp)
        md = sum(r[1] for r in ch.base_bp) / len(ch.base_bp)
        high = ms > p["sys_gt"] or md > p["dia_gt"]
        value = {
            "mean_sys_mmHg": round(ms, 1),
            "mean_dia_mmHg": round(md, 1),
            "readings": len(ch.base_bp),
        }
        mean = f"{mmhg(ms)}/{mmhg(md)}"
        if high and "bp.baseline_high" not in ch.alerts:
            self._raise(
                ch,
                "bp.baseline_high",
                t,
                value,
                f"Baseline BP mean {mean} > {_n(p['sys_gt'])}/{_n(p['dia_gt'])} "
                f"({_readings(len(ch.base_bp))}): weigh the risk before dosing",
                out,
            )
        elif not high and "bp.baseline_high" in ch.alerts:
            self._clear(
                ch,
                "bp.baseline_high",
                t,
                value,
                f"Baseline BP mean {mean} <= {_n(p['sys_gt'])}/{_n(p['dia_gt'])}: cleared",
                out,
            )

    def _clear_on_valid_bp(
        self, rid: str
    ) -> Callable[[_Chair, float, float, float, float | None, list[AlertEvent]], None]:
        def handler(
            ch: _Chair, t: float, s: float, d: float, m: float | None, out: list[AlertEvent]
        ) -> None:
            if rid in ch.alerts:
                self._clear(
                    ch,
                    rid,
                    t,
                    {"sys_mmHg": s, "dia_mmHg": d},
                    f"Valid BP {_n(s)}/{_n(d)} received: cleared",
                    out,
                )

        return handler

    # ------------------------------------------------------------------ HR / SpO2

    def _on_ts(
        self,
        ch: _Chair,
        s: Sample,
        signal: str,
        name: str,
        valid_range: tuple[float, float],
        out: list[AlertEvent],
    ) -> None:
        t = s.t
        sensor_key = "sensor|" + signal
        if s.contact is False:
            # Contact lost / probe off: not valid for physiological rules; the
            # sensor_off timer starts at the first such sample.
            ch.invalid_samples += 1
            if sensor_key not in ch.timers and _akey("tech.sensor_off", signal) not in ch.alerts:
                after = self.rules["tech.sensor_off"].params["after_s"]
                ch.set_timer(sensor_key, t + after, self._rank["tech.sensor_off"])
            return
        contact_back = sensor_key in ch.timers or (
            ch.alerts and _akey("tech.sensor_off", signal) in ch.alerts
        )
        v = s.values.get(name)
        if s.valid and v is not None and valid_range[0] <= v <= valid_range[1]:
            ch.current[signal] = [t, v]
            self._ts_eval(ch, t, v, signal, out)
        else:
            ch.invalid_samples += 1  # counted and skipped (clinical-rules.md)
        if contact_back:
            # tech.sensor_off is low priority: evaluated after the physiological rules.
            ch.cancel(sensor_key)
            ak = _akey("tech.sensor_off", signal)
            if ak in ch.alerts:
                self._clear(
                    ch,
                    ak,
                    t,
                    {"signal": signal},
                    f"{_SIGNAL_NAME.get(signal, signal)}: contact back, cleared",
                    out,
                )

    def _ts_eval(self, ch: _Chair, t: float, v: float, signal: str, out: list[AlertEvent]) -> None:
        last = ch.last_valid.get(signal)
        ch.last_valid[signal] = t
        gap = last is not None and t - last > MAX_SAMPLE_GAP_S
        alerts = ch.alerts
        ts_runs = ch.ts_runs
        if signal == "spo2":
            if v < self._spo2_ok:
                ch.low_spo2_t = t
                if ch.phase == "observation":
                    ch.set_timer(T_DIS_SPO2, t + self._spo2_window, self._rank[DISCHARGE])
        for rid, above, thr, cthr, for_s, clear_for, inhibitors, latching in self._ts[signal]:
            runs = ts_runs.get(rid)
            if runs is None:
                runs = ts_runs[rid] = [None, None]
            elif gap:
                runs[0] = runs[1] = None  # > 10 s between valid samples restarts both runs
            a = alerts.get(rid) if alerts else None
            if inhibitors and alerts and any(i in alerts for i in inhibitors):
                runs[0] = runs[1] = None
                if a is not None:
                    a.held = False
                continue
            if a is None:
                if (v > thr) if above else (v < thr):
                    start = runs[0]
                    if start is None:
                        start = runs[0] = t
                    if t - start >= for_s:
                        runs[0] = runs[1] = None
                        self._raise_ts(ch, rid, signal, t, v, start, above, thr, out)
                elif runs[0] is not None:
                    runs[0] = None
                continue
            if (v < cthr) if above else (v >= cthr if signal == "spo2" else v > cthr):
                cstart = runs[1]
                if cstart is None:
                    cstart = runs[1] = t
                if t - cstart >= clear_for:
                    if latching and not a.acked:
                        a.held = True
                        continue
                    runs[0] = runs[1] = None
                    label, unit = ("HR", " bpm") if signal == "hr" else ("SpO2", "%")
                    op = "<" if above else (">=" if signal == "spo2" else ">")
                    self._clear(
                        ch,
                        rid,
                        t,
                        {signal + ("_bpm" if signal == "hr" else "_pct"): v, "since_t": cstart},
                        f"{label} {_n(v)}{unit} {op} {_n(cthr)}{unit} for "
                        f"{duration(t - cstart)}: cleared",
                        out,
                    )
            else:
                runs[1] = None
                a.held = False

    def _raise_ts(
        self,
        ch: _Chair,
        rid: str,
        signal: str,
        t: float,
        v: float,
        start: float,
        above: bool,
        thr: float,
        out: list[AlertEvent],
    ) -> None:
        label, unit, field = (
            ("HR", " bpm", "hr_bpm") if signal == "hr" else ("SpO2", "%", "spo2_pct")
        )
        op = ">" if above else "<"
        self._raise(
            ch,
            rid,
            t,
            {field: v, "since_t": start},
            f"{label} {_n(v)}{unit} {op} {_n(thr)}{unit} for {duration(t - start)}",
            out,
        )

    # ------------------------------------------------------------------ links, acks

    def _on_link(self, ch: _Chair, ev: Link, out: list[AlertEvent]) -> None:
        name = "lost|" + ev.device
        ak = _akey("tech.device_lost", ev.device)
        if not ev.up:
            if name not in ch.timers and ak not in ch.alerts:
                after = self.rules["tech.device_lost"].params["after_s"]
                ch.set_timer(name, ev.t + after, self._rank["tech.device_lost"])
            return
        ch.cancel(name)
        if ak in ch.alerts:
            self._clear(
                ch, ak, ev.t, {"device": ev.device}, f"Device {ev.device}: link back, cleared", out
            )

    def _on_ack(self, ch: _Chair, ev: Ack, out: list[AlertEvent]) -> None:
        if ev.alert_id is not None:
            targets = [a for a in ch.alerts.values() if a.id == ev.alert_id]
            what = f"alert {ev.alert_id}"
        elif ev.rule is not None:
            targets = [a for a in ch.alerts.values() if a.rule == ev.rule]
            what = f"rule {ev.rule}"
        else:
            self.last_error = "ack needs a rule or an alert_id"
            return
        targets = [a for a in targets if not a.acked]
        if not targets:
            self.last_error = f"no active, unacknowledged {what} on {ch.name}"
            return
        for a in targets:
            a.acked = True
            ak = _akey(a.rule, a.key)
            ch.cancel("esc|" + ak)
            who = f" by {ev.by}" if ev.by else ""
            self._emit(
                ch,
                out,
                ev.t,
                a,
                "acknowledged",
                a.value,
                f"Acknowledged{who}: {a.message}",
                by=ev.by,
            )
            if a.held:
                # Latched alert whose clear condition already holds: ack clears it.
                self._clear(ch, ak, ev.t, a.value, f"{a.message}: acknowledged, cleared", out)

    # ------------------------------------------------------------------ sessions

    def _on_session(self, ch: _Chair, ev: SessionCmd, out: list[AlertEvent]) -> None:
        t = ev.t
        act = ev.action
        if act == "start":
            if ch.phase != "idle":
                self.last_error = f"{ch.name}: a session is already open ({ch.phase})"
                return
            protocol = ev.protocol or self.default_protocol.get(ch.name, "esketamine")
            if protocol not in PROTOCOLS:
                self.last_error = f"unknown protocol {protocol!r} (known: {', '.join(PROTOCOLS)})"
                return
            ch.session = {
                # Opaque and deterministic; never patient data.
                "session_id": ev.session_id or f"{ch.name}-{int(t)}",
                "protocol": protocol,
                "started_t": t,
                "dose_start_t": None,
                "dose_end_t": None,
            }
            ch.phase = "baseline"
            ch.base_bp = []
            ch.baseline = None
            ch.session_bp = []
            ch.window_bp = False
            self._restart_bp_runs(ch)
            return
        if act == "dose_start":
            if ch.phase != "baseline" or ch.session is None:
                self.last_error = f"{ch.name}: dose_start needs a session in baseline ({ch.phase})"
                return
            ch.phase = "dosing"
            ch.session["dose_start_t"] = t
            if len(ch.base_bp) >= BASELINE_MIN_READINGS:
                n = len(ch.base_bp)
                ch.baseline = [
                    sum(r[0] for r in ch.base_bp) / n,
                    sum(r[1] for r in ch.base_bp) / n,
                ]
            # In evaluation order: bp.baseline_high (cleared by dose_start) before
            # session.no_baseline (both low, table order).
            if "bp.baseline_high" in ch.alerts:
                self._clear(
                    ch, "bp.baseline_high", t, {}, "Dose started: baseline advisory closed", out
                )
            if ch.baseline is None:
                self._raise(
                    ch,
                    "session.no_baseline",
                    t,
                    {"baseline_readings": len(ch.base_bp)},
                    f"Dose started without a baseline BP ({len(ch.base_bp)} of "
                    f"{BASELINE_MIN_READINGS} valid readings): rise rules are off",
                    out,
                )
            p = self.rules["tech.bp_overdue"].params
            ch.set_timer(T_OVERDUE, t + p["cycle_s"] + p["grace_s"], self._rank["tech.bp_overdue"])
            if ch.session["protocol"] == "esketamine":
                p = self.rules["session.check_missed"].params
                ch.set_timer(T_MISSED, t + p["window_end_s"], self._rank["session.check_missed"])
                obs = self.rules[DISCHARGE].params["esketamine_observe_s"]
                ch.set_timer(T_DIS_OBS, t + obs, self._rank[DISCHARGE])
            return
        if act == "dose_end":
            if ch.phase != "dosing" or ch.session is None:
                self.last_error = f"{ch.name}: dose_end needs a session in dosing ({ch.phase})"
                return
            ch.phase = "observation"
            ch.session["dose_end_t"] = t
            if ch.session["protocol"] == "iv-ketamine":
                obs = self.rules[DISCHARGE].params["iv_ketamine_observe_s"]
                ch.set_timer(T_DIS_OBS, t + obs, self._rank[DISCHARGE])
            if ch.low_spo2_t is not None and ch.low_spo2_t + self._spo2_window > t:
                ch.set_timer(T_DIS_SPO2, ch.low_spo2_t + self._spo2_window, self._rank[DISCHARGE])
            return
        # end
        if ch.phase == "idle" or ch.session is None:
            self.last_error = f"{ch.name}: no open session to end"
            return
        ch.phase = "idle"
        for rid in self._order:
            if rid in SESSION_RULES and rid in ch.alerts:
                self._clear(ch, rid, t, {}, f"Session ended: {ch.alerts[rid].message}", out)
        for name in (T_OVERDUE, T_MISSED, T_DIS_OBS, T_DIS_SPO2):
            ch.timers.pop(name, None)
        ch.recompute()
        self._restart_bp_runs(ch)
        ch.session = None
        ch.base_bp = []
        ch.baseline = None
        ch.session_bp = []
        ch.window_bp = False

    @staticmethod
    def _restart_bp_runs(ch: _Chair) -> None:
        """Every BP confirmation and clear run restarts at session_start and session_end:
        a reading of one patient never confirms (or clears) an alarm for the next. A
        latched alert's held clear was such a clear run, so it is dropped too."""
        ch.bp_runs.clear()
        for a in ch.alerts.values():
            if a.rule in BP_RULES:
                a.held = False

    @staticmethod
    def _baseline_dict(ch: _Chair) -> dict[str, float] | None:
        if ch.baseline is None:
            return None
        return {"sys_mmHg": ch.baseline[0], "dia_mmHg": ch.baseline[1]}

    # ------------------------------------------------------------------ discharge

    def _discharge(self, ch: _Chair, t: float, out: list[AlertEvent]) -> None:
        active = DISCHARGE in ch.alerts
        ok, detail = self._discharge_ok(ch, t)
        if ok and not active:
            self._raise(
                ch,
                DISCHARGE,
                t,
                detail,
                f"Discharge criteria met ({detail['text']}): the clinician decides",
                out,
            )
        elif not ok and active:
            self._clear(
                ch, DISCHARGE, t, detail, f"Discharge criteria no longer met: {detail['text']}", out
            )

    def _discharge_ok(self, ch: _Chair, t: float) -> tuple[bool, dict[str, Any]]:
        sess = ch.session
        if ch.phase != "observation" or sess is None:
            return False, {"text": "not in observation"}
        p = self.rules[DISCHARGE].params
        if sess["protocol"] == "iv-ketamine":
            met_t = sess["dose_end_t"] + p["iv_ketamine_observe_s"]
        else:
            met_t = sess["dose_start_t"] + p["esketamine_observe_s"]
        if t < met_t:
            return False, {"text": "observation time not met", "observation_met_t": met_t}
        # Inhibited and latched alerts count as active.
        phys = [a.rule for a in ch.alerts.values() if a.kind == "physiological"]
        if phys:
            return False, {"text": "active alert " + ", ".join(phys), "alerts": phys}
        if ch.baseline is not None:
            smax = max(p["sys_le"], p["baseline_factor"] * ch.baseline[0])
            dmax = max(p["dia_le"], p["baseline_factor"] * ch.baseline[1])
        else:
            smax, dmax = p["sys_le"], p["dia_le"]
        bps = ch.session_bp
        limit = f"{mmhg(smax)}/{mmhg(dmax)}"
        if len(bps) < 2:
            return False, {"text": f"needs 2 valid BP <= {limit}"}
        last = ", ".join(f"{_n(b[0])}/{_n(b[1])}" for b in bps)
        if not all(b[0] <= smax and b[1] <= dmax for b in bps):
            return False, {"text": f"last BP {last} above {limit}"}
        # Neither may meet the bp.not_declining terms, whatever the time: a pressure that
        # would be "not declining" at 120 min is not one to go home with before it.
        nd = self.rules["bp.not_declining"].params
        if any(
            b[0] >= nd["sys_ge"]
            or b[1] >= nd["dia_ge"]
            or (ch.baseline is not None and b[0] >= ch.baseline[0] + nd["sys_rise_ge"])
            for b in bps
        ):
            terms = f"sys >= {_n(nd['sys_ge'])}"
            if ch.baseline is not None:
                terms += f" or >= baseline {mmhg(ch.baseline[0])} + {_n(nd['sys_rise_ge'])}"
            return False, {"text": f"last BP {last}: {terms}, or dia >= {_n(nd['dia_ge'])}"}
        if ch.low_spo2_t is not None and t - ch.low_spo2_t < p["spo2_window_s"]:
            return False, {
                "text": f"SpO2 < {_n(p['spo2_ge'])}% in the last {duration(p['spo2_window_s'])}"
            }
        return True, {
            "text": f"observation time met, BP {last} <= {limit}",
            "observation_met_t": met_t,
            "bp": [{"sys_mmHg": b[0], "dia_mmHg": b[1]} for b in bps],
        }
