"""Sessions and the session rules: session commands (start, dose_start, dose_end, end),
session.check_missed, session.no_baseline and session.discharge_ready (clinical-rules.md
"Sessions and phases", "Rules", "Precise semantics")."""

from __future__ import annotations

from typing import Any

from monitord.engine.book import AlertBook
from monitord.engine.bp import BpHandler, BpRules
from monitord.engine.discharge import (
    SESSION_END_CLEAR,
    discharge_criteria,
    observation_met_t,
    session_scoped,
)
from monitord.engine.inputs import SessionAction
from monitord.engine.rules import BASELINE_MIN_READINGS, DOSE_PHASES, PROTOCOLS
from monitord.engine.state import (
    TIME_EPS,
    ChairState,
    Session,
    TimerKey,
    TimerKind,
    generated_session_id,
)
from monitord.engine.technical import TechnicalRules
from monitord.engine.text import num as _n
from monitord.models import AlertEvent

CHECK_MISSED = "session.check_missed"
NO_BASELINE = "session.no_baseline"
DISCHARGE = "session.discharge_ready"

_MISSED = TimerKey(TimerKind.CHECK_MISSED)
_DIS_OBS = TimerKey(TimerKind.DISCHARGE_OBSERVED)
_DIS_SPO2 = TimerKey(TimerKind.DISCHARGE_SPO2)
# The timers a session owns: `session_end` cancels them.
_SESSION_TIMERS = (TimerKey(TimerKind.BP_OVERDUE), _MISSED, _DIS_OBS, _DIS_SPO2)


class SessionRules:
    def __init__(
        self,
        book: AlertBook,
        bp: BpRules,
        technical: TechnicalRules,
        default_protocol: dict[str, str],
    ) -> None:
        self.book = book
        self.rules = book.rules
        self.bp = bp
        self.technical = technical
        self.default_protocol = default_protocol
        # A rule that applies in no idle phase belongs to a session: `session_end` clears
        # it, inhibited or not (clinical-rules.md "Precise semantics"), in evaluation order.
        self.session_rules = session_scoped(self.rules)
        self._dp = dp = self.rules[DISCHARGE].params
        self._nd = self.rules["bp.not_declining"].params
        #: SpO2 below this keeps the patient from discharge for `spo2_window_s`.
        self.spo2_ok = float(dp["spo2_ge"])
        self._spo2_window = float(dp["spo2_window_s"])

    def handlers(self) -> dict[str, BpHandler]:
        """This family's handlers of a valid BP reading, by rule."""
        return {CHECK_MISSED: self._clear_check_missed}

    # ------------------------------------------------------------------ commands

    def command(
        self,
        ch: ChairState,
        t: float,
        action: SessionAction,
        protocol: str | None,
        session_id: str | None,
        out: list[AlertEvent],
    ) -> str | None:
        """Apply a session command; the reason when it is refused (out of order...)."""
        if action == "start":
            return self._start(ch, t, protocol, session_id)
        if action == "dose_start":
            return self._dose_start(ch, t, out)
        if action == "dose_end":
            return self._dose_end(ch, t)
        return self._end(ch, t, out)

    def _start(
        self, ch: ChairState, t: float, protocol: str | None, session_id: str | None
    ) -> str | None:
        if ch.phase != "idle":
            return f"{ch.name}: a session is already open ({ch.phase})"
        protocol = protocol or self.default_protocol.get(ch.name, "esketamine")
        if protocol not in PROTOCOLS:
            return f"unknown protocol {protocol!r} (known: {', '.join(PROTOCOLS)})"
        ch.session = Session(session_id or self._new_id(ch, t), protocol, t)
        ch.phase = "baseline"
        self._reset(ch)
        return None

    @staticmethod
    def _new_id(ch: ChairState, t: float) -> str:
        """The id of a session started without one: `<chair>-<second>`, then `-2`, `-3`
        ... for more starts within that second (start, end, start). Unique for the chair's
        lifetime, as its time never goes back and the count is in the snapshot; opaque and
        deterministic (replay gives the same ids); never patient data."""
        sec = int(t)
        seq = ch.session_seq
        if seq and seq[0] == sec:
            seq[1] += 1
        else:
            ch.session_seq = seq = [sec, 1]
        return generated_session_id(ch.name, seq)

    def _dose_start(self, ch: ChairState, t: float, out: list[AlertEvent]) -> str | None:
        sess = ch.session
        if ch.phase != "baseline" or sess is None:
            return f"{ch.name}: dose_start needs a session in baseline ({ch.phase})"
        ch.phase = "dosing"
        sess.dose_start_t = t
        self.bp.fix_baseline(ch)
        # In evaluation order: bp.baseline_high (cleared by dose_start) before
        # session.no_baseline (both low, table order).
        self.bp.close_baseline(ch, t, out)
        if ch.baseline is None:
            n = len(ch.base_bp)
            self.book.raise_(
                ch,
                NO_BASELINE,
                t,
                {"baseline_readings": n},
                f"Dose started without a baseline BP ({n} of "
                f"{BASELINE_MIN_READINGS} valid readings): rise rules are off",
                out,
            )
        self.technical.arm_overdue(ch, t)
        if sess.protocol == "esketamine":
            rank = self.book.rank
            p = self.rules[CHECK_MISSED].params
            ch.set_timer(_MISSED, t + p["window_end_s"], rank[CHECK_MISSED])
            obs = self.rules[DISCHARGE].params["esketamine_observe_s"]
            ch.set_timer(_DIS_OBS, t + obs, rank[DISCHARGE])
        return None

    def _dose_end(self, ch: ChairState, t: float) -> str | None:
        sess = ch.session
        if ch.phase != "dosing" or sess is None:
            return f"{ch.name}: dose_end needs a session in dosing ({ch.phase})"
        ch.phase = "observation"
        sess.dose_end_t = t
        rank = self.book.rank[DISCHARGE]
        if sess.protocol == "iv-ketamine":
            obs = self.rules[DISCHARGE].params["iv_ketamine_observe_s"]
            ch.set_timer(_DIS_OBS, t + obs, rank)
        if ch.low_spo2_t is not None and ch.low_spo2_t + self._spo2_window > t:
            ch.set_timer(_DIS_SPO2, ch.low_spo2_t + self._spo2_window, rank)
        return None

    def _end(self, ch: ChairState, t: float, out: list[AlertEvent]) -> str | None:
        if ch.phase == "idle" or ch.session is None:
            return f"{ch.name}: no open session to end"
        ch.phase = "idle"
        for rid in self.session_rules:
            if rid in ch.alerts:
                self.book.clear(ch, rid, t, {}, f"{SESSION_END_CLEAR}{ch.alerts[rid].message}", out)
        for key in _SESSION_TIMERS:
            ch.timers.pop(key, None)
        ch.recompute()
        ch.session = None
        self._reset(ch)
        return None

    def _reset(self, ch: ChairState) -> None:
        self.bp.restart_runs(ch)
        ch.base_bp = []
        ch.baseline = None
        ch.session_bp = []
        ch.window_bp = False

    # ------------------------------------------------------------------ session.check_missed

    def bp_seen(self, ch: ChairState, t: float) -> None:
        """A valid BP while dosed: inside the post-dose check window it is the check."""
        sess = ch.session
        if ch.phase in DOSE_PHASES and sess is not None and sess.dose_start_t is not None:
            ds = sess.dose_start_t
            p = self.rules[CHECK_MISSED].params
            # The closed window, its ends compared with the slack of state.TIME_EPS: a BP
            # at 64.106 + 3000 s is at its end, though 64.106 + 3000 = 3064.1059999999998.
            lo, hi = ds + p["window_start_s"], ds + p["window_end_s"]
            if lo - TIME_EPS <= t <= hi + TIME_EPS:
                ch.window_bp = True

    def check_missed_due(
        self, ch: ChairState, key: TimerKey, due: float, out: list[AlertEvent]
    ) -> None:
        sess = ch.session
        if ch.window_bp or ch.phase not in DOSE_PHASES or sess is None:
            return
        assert sess.dose_start_t is not None
        p = self.rules[CHECK_MISSED].params
        # In minutes to a tenth: a clinic's 2000 s read "33.3333 min".
        a, b = round(p["window_start_s"] / 60, 1), round(p["window_end_s"] / 60, 1)
        self.book.raise_(
            ch,
            CHECK_MISSED,
            due,
            {"window_start_t": sess.dose_start_t + p["window_start_s"], "window_end_t": due},
            # "valid": a nurse whose ~40 min BP the cuff rejected read "No BP" as untrue.
            f"No valid BP between {_n(a)} and {_n(b)} min after the dose: take the "
            "post-dose BP check now",
            out,
        )

    def _clear_check_missed(
        self, ch: ChairState, t: float, s: float, d: float, m: float | None, out: list[AlertEvent]
    ) -> None:
        if CHECK_MISSED in ch.alerts:
            self.book.clear(
                ch,
                CHECK_MISSED,
                t,
                {"sys_mmHg": s, "dia_mmHg": d},
                f"Valid BP {_n(s)}/{_n(d)} received: cleared",
                out,
            )

    # ------------------------------------------------------------------ discharge_ready

    def spo2_low(self, ch: ChairState, t: float) -> None:
        """A valid SpO2 below the discharge limit (`spo2_ok`) restarts the discharge SpO2
        window."""
        ch.low_spo2_t = t
        if ch.phase == "observation":
            ch.set_timer(_DIS_SPO2, t + self._spo2_window, self.book.rank[DISCHARGE])

    def discharge_due(
        self, ch: ChairState, key: TimerKey, due: float, out: list[AlertEvent]
    ) -> None:
        self.discharge(ch, due, out)

    def discharge(self, ch: ChairState, t: float, out: list[AlertEvent]) -> None:
        active = DISCHARGE in ch.alerts
        # Re-checked on nearly every input in observation: decide first, and put the
        # criteria into words only when the advisory raises or clears.
        if self._discharge_ok(ch, t, explain=False)[0] == active:
            return
        ok, detail = self._discharge_ok(ch, t, explain=True)
        if ok:
            self.book.raise_(
                ch,
                DISCHARGE,
                t,
                detail,
                f"Discharge criteria met ({detail['text']}): the clinician decides",
                out,
            )
        else:
            self.book.clear(
                ch, DISCHARGE, t, detail, f"Discharge criteria no longer met: {detail['text']}", out
            )

    def _discharge_ok(self, ch: ChairState, t: float, explain: bool) -> tuple[bool, dict[str, Any]]:
        """Are the discharge criteria met at `t`; with `explain`, the words and values."""
        no: dict[str, Any] = {}  # the detail when not explaining
        sess = ch.session
        if ch.phase != "observation" or sess is None:
            return False, {"text": "not in observation"} if explain else no
        met_t = observation_met_t(self._dp, sess.protocol, sess.dose_start_t, sess.dose_end_t)
        assert met_t is not None  # in observation: dose_start and dose_end are known
        if t < met_t - TIME_EPS:  # met at met_t, also a float hair before (state.py)
            if not explain:
                return False, no
            return False, {"text": "observation time not met", "observation_met_t": met_t}
        # Inhibited and latched alerts count as active.
        phys = [a.rule for a in ch.alerts.values() if a.kind == "physiological"]
        ok, detail = discharge_criteria(
            self._dp, self._nd, ch.baseline, ch.session_bp, ch.low_spo2_t, phys, t, explain
        )
        if not ok or not explain:
            return ok, detail
        return True, {
            "text": f"observation time met, {detail['text']}",
            "observation_met_t": met_t,
            "bp": detail["bp"],
        }
