"""Replay benchmark: 16 chairs x 12 h of 1 Hz HR and SpO2 plus NIBP every 10 min.

Each chair runs back-to-back esketamine sessions (baseline, dose, observation, end) with
clinically shaped excursions (tachycardia, desaturation, hypertension, probe-off, a link
outage, acks), so the rules, timers and escalations do real work, not just the fast
"nothing happens" path. Inputs are built before the clock starts; the figure is engine
input events per second on one core through the same `play()` loop `monitord replay` uses.

    python -m bench.replay            # full run
    python -m bench.replay --quick    # 16 chairs x 1 h
    python -m bench.replay --profile  # cProfile of the hot path
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from collections import Counter
from typing import Any, TypeGuard

from monitord.engine import Ack, AlertEngine, EngineInput, Link, Sample, SessionCmd
from monitord.engine.inputs import SessionAction
from monitord.engine.replay import play
from monitord.models import Kind

CHAIRS = 16
HOURS = 12.0
NIBP_CYCLE_S = 600
SESSION_S = 3 * 3600  # a session every 3 h per chair


def _is_session_action(act: str | None) -> TypeGuard[SessionAction]:
    return act in ("start", "dose_start", "dose_end", "end")


def build_inputs(chairs: int = CHAIRS, hours: float = HOURS, seed: int = 1) -> list[EngineInput]:
    rng = random.Random(seed)
    duration = int(hours * 3600)
    # Value dicts are shared (they are read-only): keeps 1.4 M inputs in ~150 MB.
    hr_vals: dict[int, dict[str, float | None]] = {}
    spo2_vals: dict[int, dict[str, float | None]] = {}
    per_second: list[list[EngineInput]] = [[] for _ in range(duration + 1)]
    for c in range(chairs):
        chair = f"chair-{c + 1:02d}"
        offset = c * 37  # chairs are not in lock-step
        plans: dict[int, str] = {}
        for k, s in enumerate(range(offset, duration, SESSION_S)):
            plans[s] = "start"
            plans[s + 600] = "dose_start"
            plans[s + 900] = "dose_end"
            plans[s + 600 + 7200 + 300] = "end"
            # one excursion per session, rotating through the kinds
            exc = ("tachy", "desat", "hyper", "probe", "link", "none")[(c + k) % 6]
            plans[s + 2400] = exc
        mode, mode_until = "none", -1
        for t in range(offset, duration):
            bucket = per_second[t]
            act = plans.get(t)
            if _is_session_action(act):
                bucket.append(SessionCmd(float(t), chair, act))
            elif act is not None:
                mode, mode_until = act, t + 420
                if act == "link":
                    bucket.append(Link(float(t), chair, "spo2", up=False))
            if t == mode_until:
                if mode == "link":
                    bucket.append(Link(float(t), chair, "spo2", up=True))
                if mode in ("tachy", "hyper"):
                    rule = "hr.high" if mode == "tachy" else "bp.severe"
                    bucket.append(Ack(float(t), chair, rule=rule, by="bench"))
                mode = "none"
            hr = 72 + int(6 * math.sin(t / 300.0)) + rng.randint(-2, 2)
            spo2 = 97 + rng.randint(-1, 1)
            contact: bool | None = None
            if mode == "tachy":
                hr = 128 + rng.randint(-3, 3)
            elif mode == "desat" and t < mode_until - 300:
                spo2 = 87 + rng.randint(-1, 1)
            elif mode == "probe" and t < mode_until - 360:
                contact = False
            vals = hr_vals.setdefault(hr, {"hr_bpm": float(hr)})
            bucket.append(Sample(float(t), chair, "hr-1", Kind.HR, vals, True, None))
            if mode != "link":
                vals = spo2_vals.setdefault(spo2, {"spo2_pct": float(spo2), "pulse_bpm": None})
                bucket.append(Sample(float(t), chair, "spo2-1", Kind.SPO2, vals, True, contact))
            in_session = (t - offset) % SESSION_S
            if (
                (t - offset) % NIBP_CYCLE_S == 60
                or in_session in (120, 300)  # baseline readings before the dose
                or (mode == "hyper" and (mode_until - t) % 120 == 0)  # nurse re-measures
            ):
                s, d = (186, 104) if mode == "hyper" else (124 + rng.randint(-4, 4), 80)
                bp = {"sys_mmHg": float(s), "dia_mmHg": float(d), "map_mmHg": None}
                bucket.append(Sample(float(t), chair, "nibp-1", Kind.BP, bp, True))
    return [ev for bucket in per_second for ev in bucket]


def run(quick: bool = False) -> dict[str, Any]:
    """Build the inputs, replay them, return {"replay_eps": ..., ...}."""
    hours = 1.0 if quick else HOURS
    inputs = build_inputs(CHAIRS, hours)
    engine = AlertEngine()
    t0 = time.perf_counter()
    events = list(play(engine, inputs))
    elapsed = time.perf_counter() - t0
    counts = Counter(f"{e.rule}:{e.event}" for e in events)
    return {
        "replay_eps": len(inputs) / elapsed,
        "inputs": len(inputs),
        "seconds": round(elapsed, 3),
        "alert_events": len(events),
        "chairs": CHAIRS,
        "hours": hours,
        "events_by_rule": dict(sorted(counts.items())),
    }


def _profile(quick: bool) -> None:
    import cProfile
    import pstats

    inputs = build_inputs(CHAIRS, 1.0 if quick else HOURS)
    engine = AlertEngine()
    prof = cProfile.Profile()
    prof.enable()
    for _ in play(engine, inputs):
        pass
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(15)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="16 chairs x 1 h")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the replay")
    args = ap.parse_args()
    if args.profile:
        _profile(args.quick)
        return
    res = run(args.quick)
    print(json.dumps(res, indent=2))
    verdict = "meets" if res["replay_eps"] >= 100_000 else "BELOW"
    print(f"replay: {res['replay_eps']:,.0f} input events/s ({verdict} the 100,000/s target)")


if __name__ == "__main__":
    main()
