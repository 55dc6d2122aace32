"""Bounding a held latched BP alert's clear run (monitord/engine/bp.py, `del
runs.clears[:-clear_n]`) changes no alert event: a differential test against the handler as
it was before (`OldBpRules` below, main's `_handler` copied as it stood, without the trim).

Seeded random sequences of what a chair lives through: BP readings in runs around every BP
rule's raise and clear limits (bp.crisis, bp.severe, bp.rise over a baseline,
bp.not_declining two hours after the dose, bp.low by systolic or MAP, bp.very_low), with
invalid ones among them; session start, dose start and end, session end (also out of order,
refused); acks by rule or by alert id at random times, of held alerts too; timers fired
between inputs; overrides of the BP rules' confirm and clear counts and latching; and
daemon restarts: each engine's snapshot through the store's encoder, read back, restored
with the running config (the same one, or one with other overrides, as after an edit of
`[alerts]`) and resumed. The two engines must emit the same events (every field, `value`
with its `readings` list and `message` included), refuse the same commands, show the same
active set and held clears, and write the same snapshots but for the trimmed clear runs
(the new one the old one's last readings).

Clinical basis: clinical-rules.md "Confirmation, clearing, latching" (a latched alert whose
clear condition holds stays active, escalating, until acknowledged; the ack clears it).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import partial
from typing import Any

from monitord.engine import Ack, AlertEngine, EngineInput, Link, Sample, SessionCmd
from monitord.engine.bp import _CONDITIONS, RULES, BpHandler, BpRules, _value
from monitord.engine.inputs import SessionAction
from monitord.engine.rules import RuleSet
from monitord.engine.state import BpRunReading, BpRuns, ChairState
from monitord.engine.text import num as _n
from monitord.engine.text import readings as _readings
from monitord.models import AlertEvent, Kind
from monitord.store.codec import dumps

SEQUENCES = 300
CONFIG_EDITS = True  # restarts with other overrides too
STEPS = 260  # inputs per sequence
CHAIRS = ("c1", "c2")
ACTIONS: tuple[SessionAction, ...] = ("start", "dose_start", "dose_end", "end")

# (sys, dia, map) at and around each BP rule's raise and clear limits (defaults, and near
# enough that the overrides' counts, not their limits, decide), with a baseline of about
# 120/78 for bp.rise (+40/+25 raises, < +30/+18 clears) and bp.not_declining (160/100).
LEVELS: tuple[tuple[float, float, float | None], ...] = (
    (210, 125, None),  # bp.crisis
    (200, 100, 133),
    (150, 120, None),
    (185, 112, None),  # crisis not cleared, bp.severe
    (179, 109, None),  # crisis clears, severe not
    (169, 99, 122),  # severe clears
    (165, 104, None),  # rise (+45/+26), not_declining
    (158, 97, None),  # rise clears? +38: no; not_declining clears
    (149, 95, 113),  # rise clears (+29/+17)
    (120, 78, 92),  # normal
    (118, 80, None),
    (92, 60, 64),  # bp.low by MAP
    (88, 60, None),  # bp.low by systolic
    (96, 62, 71),  # low clears
    (95, 60, 69),  # sys clears, MAP does not
    (78, 50, None),  # bp.very_low
    (85, 55, 62),  # very_low clears? 85 < 90: no
    (91, 58, 69),  # very_low clears, low not (MAP)
)
INVALID: tuple[tuple[float | None, float | None, float | None], ...] = (
    (300, 100, None),
    (120, 125, None),
    (None, None, None),
)


class OldBpRules(BpRules):
    """The BP rules' handler as on main before the bound: every clearing reading of a held
    latched alert stayed in its clear run."""

    def _handler(self, rid: str) -> BpHandler:
        book = self.book
        rule = self.rules[rid]
        p = rule.params
        confirm, clear_n = int(p["confirm"]), int(p["clear"])
        phases = rule.phases
        inhibitors = book.inhibitors[rid]
        cond, needs_baseline = _CONDITIONS[rid]

        def handler(
            ch: ChairState, t: float, s: float, d: float, m: float | None, out: list[AlertEvent]
        ) -> None:
            if ch.phase not in phases or (needs_baseline and ch.baseline is None):
                return
            runs = ch.bp_runs.get(rid)
            if runs is None:
                runs = ch.bp_runs[rid] = BpRuns()
            a = ch.alerts.get(rid)
            if inhibitors and any(i in ch.alerts for i in inhibitors):
                runs.restart()
                if a is not None:
                    a.held = False
                return
            meets, clears, rtext, ctext = cond(p, ch, t, s, d, m)
            reading: BpRunReading = [t, s, d, m]
            bp = f"BP {_n(s)}/{_n(d)}" + (f" MAP {_n(m)}" if m is not None else "")
            if a is None:
                if not meets:
                    runs.meets.clear()
                    return
                runs.meets.append(reading)
                n = len(runs.meets)
                value = _value(s, d, m, runs.meets, ch)
                if n >= confirm:
                    runs.restart()
                    book.raise_(ch, rid, t, value, f"{bp} {rtext} ({_readings(n)})", out)
                elif n == 1:
                    book.pending(
                        ch,
                        rid,
                        t,
                        value,
                        f"{bp} {rtext}: re-measure to confirm (1 of {confirm})",
                        out,
                    )
                return
            if not clears:
                runs.clears.clear()
                a.held = False
                return
            runs.clears.append(reading)
            n = len(runs.clears)
            if n < clear_n:
                return
            if rule.latching and not a.acked:
                a.held = True
                return
            value = _value(s, d, m, runs.clears, ch)
            runs.restart()
            book.clear(ch, rid, t, value, f"{bp} {ctext} ({_readings(n)}): cleared", out)

        return handler


class OldEngine(AlertEngine):
    """The engine with `OldBpRules`' handlers in the BP rules' places."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        handlers: dict[str, BpHandler] = {
            **OldBpRules(self.book).handlers(),
            **self.technical.handlers(),
            **self.session_rules.handlers(),
        }
        self._bp_order = [handlers[r] for r in self.book.order if r in handlers]


def random_overrides(rng: random.Random) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for rid in RULES:
        ov: dict[str, Any] = {}
        if rng.random() < 0.5:
            ov["confirm"] = rng.randint(1, 3)
        if rng.random() < 0.6:
            ov["clear"] = rng.randint(1, 4)
        if rng.random() < 0.4:
            ov["latching"] = rng.random() < 0.7
        if ov:
            out[rid] = ov
    return out


def plain(events: list[AlertEvent]) -> list[list[Any]]:
    """Every field of every event, `value` (with its `readings`) and `message` included."""
    return [[getattr(e, f.name) for f in fields(e)] for e in events]


@dataclass
class Pair:
    new: AlertEngine
    old: AlertEngine
    events: int = 0
    # How often the old engine held more clearing readings than the new one kept (the
    # trim at work), and restarts with such a run in the snapshot.
    trimmed: int = 0
    restarts_trimmed: int = 0
    restarts: int = 0
    shorter: int = 0  # clear events whose `readings` list is the old one's last ones
    log: list[str] = field(default_factory=list)

    def both(self, what: str, f: Callable[[AlertEngine], list[AlertEvent]]) -> None:
        self.log.append(what)
        got, want = plain(f(self.new)), plain(f(self.old))
        assert len(got) == len(want), "\n".join(self.log[-30:])
        for g, w in zip(got, want, strict=True):
            if g != w and g[3] == "cleared" and "readings" in g[8]:
                g[8] = dict(g[8])
                # A clear after a restart under a config that no longer latches the rule
                # (or asks more readings): the new run kept the last readings of the old
                # one's (its message still counts them all).
                kept, every = g[8]["readings"], w[8]["readings"]
                assert kept and kept == every[len(every) - len(kept) :], (g, w)
                self.shorter += 1
                g[8]["readings"] = every
            assert g == w, "\n".join(self.log[-30:])
        assert self.new.last_error == self.old.last_error, what
        for c in CHAIRS:
            assert self.new.active(c) == self.old.active(c), what
            assert self.new.held(c) == self.old.held(c), what
        self.events += len(got)
        self.trimmed += self.runs_trimmed()

    def runs_trimmed(self) -> int:
        n = 0
        for c, ch in self.new.chairs.items():
            for rid, runs in ch.bp_runs.items():
                before = self.old.chairs[c].bp_runs[rid].clears
                if len(before) > len(runs.clears):
                    n += 1
        return n

    def restart(self, t: float, rules: RuleSet) -> None:
        """As a daemon restart: the snapshot as the store encodes it, read back, restored
        with the running config and resumed at `t`."""
        self.log.append(f"restart at {t} with {dict(rules.overrides)}")
        sn, so = (json.loads(dumps(e.snapshot())) for e in (self.new, self.old))
        self.restarts += 1
        self.restarts_trimmed += self.runs_trimmed() > 0
        # The same snapshot but for the clear runs, of which the new one keeps the last
        # readings of the old one's, and counts those it dropped.
        for c, ch in so["chairs"].items():
            before = sn["chairs"][c].pop("bp_clears_before", {})
            for rid, (meets, clears) in ch["bp_runs"].items():
                new_meets, new_clears = sn["chairs"][c]["bp_runs"][rid]
                assert new_meets == meets and len(new_clears) <= len(clears)
                assert new_clears == clears[len(clears) - len(new_clears) :]
                assert before.get(rid, 0) == len(clears) - len(new_clears), (rid, before)
                ch["bp_runs"][rid] = [meets, new_clears]
        assert sn == so
        sn = json.loads(dumps(self.new.snapshot()))
        self.new = AlertEngine.restore(sn, rules)
        self.old = OldEngine.restore(json.loads(dumps(self.old.snapshot())), rules)
        for e in (self.new, self.old):
            e.resume(t)


def sequence(seed: int) -> Pair:
    rng = random.Random(seed)
    rules = RuleSet.from_overrides(random_overrides(rng))
    protocol = {c: "esketamine" for c in CHAIRS}
    pair = Pair(AlertEngine(rules, protocol), OldEngine(rules, protocol))
    t = 0.0
    stage = dict.fromkeys(CHAIRS, 0)  # next action of each chair's session, in order
    level = rng.choice(LEVELS)
    left = 0
    for _ in range(STEPS):
        t += rng.choice((1.0, 30.0, 60.0, 120.0, 300.0, 300.0, 600.0))
        c = rng.choice(CHAIRS)
        r = rng.random()
        ev: EngineInput
        if r < 0.06:
            # Mostly in order (start, dose_start, dose_end, end), sometimes not (refused).
            if rng.random() < 0.85:
                action = ACTIONS[stage[c]]
                stage[c] = (stage[c] + 1) % len(ACTIONS)
            else:
                action = rng.choice(ACTIONS)
            ev = SessionCmd(t, c, action, protocol=rng.choice((None, "esketamine")))
        elif r < 0.11:
            active = pair.new.active(c)
            if active and rng.random() < 0.7:
                # Held ones first, if any: the ack that clears a latched clear.
                held = [a for a in active if a["state"] == "clear_pending"]
                a = rng.choice(held or active)
                if rng.random() < 0.5:
                    ev = Ack(t, c, rule=a["rule"], by="nurse")
                else:
                    ev = Ack(t, c, alert_id=a["alert_id"], by="nurse")
            else:
                ev = Ack(t, c, rule=rng.choice(RULES), by="nurse")
        elif r < 0.13:
            ev = Link(t, c, "cuff", rng.random() < 0.5)
        elif r < 0.15:
            pair.both(f"advance({t})", partial(AlertEngine.advance, t=t))
            continue
        elif r < 0.17:
            edit = CONFIG_EDITS and rng.random() < 0.5
            again = RuleSet.from_overrides(random_overrides(rng)) if edit else rules
            pair.restart(t, again)
            rules = again
            continue
        else:
            if left == 0:
                # A new run of one level: long ones hold a latched clear for a while.
                level = rng.choice(LEVELS)
                left = rng.choice((1, 2, 3, 5, 8, 20, 40))
            left -= 1
            s, d, m = rng.choice(INVALID) if rng.random() < 0.03 else level
            values = {"sys_mmHg": s, "dia_mmHg": d, "map_mmHg": m}
            ev = Sample(t, c, "cuff", Kind.BP, values)
        pair.both(repr(ev), partial(AlertEngine.feed, ev=ev))
    pair.both(f"advance({t + 3600})", lambda e: e.advance(t + 3600.0))
    return pair


def test_a_bounded_held_clear_run_changes_no_alert_event() -> None:
    totals = dict.fromkeys(("events", "trimmed", "restarts", "restarts_trimmed", "shorter"), 0)
    for seed in range(SEQUENCES):
        pair = sequence(seed)
        for k in totals:
            totals[k] += getattr(pair, k)
    # The sequences did reach what changed: held clear runs longer than the clear count,
    # restarts with them in the snapshot, and clears of such a run after a restart under
    # an edited config.
    assert totals["events"] > 100 * SEQUENCES, totals
    assert totals["trimmed"] > SEQUENCES and totals["restarts_trimmed"] > SEQUENCES // 10, totals
    assert totals["shorter"] > 10, totals
    print(f"{SEQUENCES} sequences: {totals}")
