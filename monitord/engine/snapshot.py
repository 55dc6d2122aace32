"""Chair state <-> the JSON a restarted daemon reads back (engine snapshot version 1).

The format is the one written before the state was typed: timers by name (`"overdue"`,
`"esc|bp.crisis"`, `"lost|<device>"`, `"sensor|<signal>"`), runs and readings as lists, the
session as a mapping. Writing it unchanged keeps snapshots readable both ways across an
upgrade; the reader turns the names into typed keys. Keys added later are optional when
reading and written only when they say something the rest does not (an alert's `esc_from`,
`acked_by` and `acked_t`, a chair's `session_seq` and `cleared`), so an older reader, which
ignores them, reads what it always did.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from monitord.engine.state import (
    Alert,
    BpRuns,
    ChairState,
    Session,
    TimerKey,
    VitalRuns,
    generated_session_id,
)

SNAPSHOT_VERSION = 1

_ALERT_FIELDS = (
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


def _alert_to_dict(a: Alert) -> dict[str, Any]:
    d = {f: getattr(a, f) for f in _ALERT_FIELDS}
    if a.esc_from is not None:
        # Added to version 1 later, written only once a restart moved the escalation
        # anchor off the raise time: older readers ignore it (they then escalate one
        # interval after the pending deadline, as they did).
        d["esc_from"] = a.esc_from
    if a.acked_by is not None or a.acked_t is not None:
        # Added to version 1 later, written only for an acknowledged alert: who and when,
        # for the answer to a second ACK after a restart. Older readers ignore them.
        d["acked_by"], d["acked_t"] = a.acked_by, a.acked_t
    return d


def _alert_from_dict(a: Mapping[str, Any]) -> Alert:
    return Alert(
        **{f: a[f] for f in _ALERT_FIELDS},
        esc_from=a.get("esc_from"),
        acked_by=a.get("acked_by"),
        acked_t=a.get("acked_t"),
    )


def chair_to_dict(ch: ChairState) -> dict[str, Any]:
    """The chair's state as of now, sharing no container the engine changes in place
    (runs, baseline and session readings, timers, episode counts): the chair task hands
    it to the store's writer thread, which may encode it after the next batch went
    through the engine, and that batch's runs beside this batch's alerts lose a reading
    of a confirmation run if the daemon dies before the next commit. The readings inside
    (`[t, sys, dia, map]`) are never changed once made, so they are shared."""
    d: dict[str, Any] = {
        "alerts": {k: _alert_to_dict(a) for k, a in ch.alerts.items()},
        "base_bp": ch.base_bp[:],
        "baseline": ch.baseline,
        "bp_runs": {rid: [r.meets[:], r.clears[:]] for rid, r in ch.bp_runs.items()},
        "current": ch.current.copy(),
        "episodes": {k: v[:] for k, v in ch.episodes.items()},
        "invalid_samples": ch.invalid_samples,
        "last_valid": ch.last_valid.copy(),
        "low_spo2_t": ch.low_spo2_t,
        "phase": ch.phase,
        "session": None if ch.session is None else asdict(ch.session),
        "session_bp": ch.session_bp[:],
        "timers": {k.name(): v[:] for k, v in ch.timers.items()},
        "ts_runs": {rid: [r.since, r.clear_since] for rid, r in ch.ts_runs.items()},
        "window_bp": ch.window_bp,
    }
    if ch.session_seq and ch.session_seq != _open_session_seq(ch.name, ch.session):
        # Added to version 1 later (optional when reading, ignored by older readers), and
        # written only when the open session's id does not already tell it.
        d["session_seq"] = ch.session_seq[:]
    if ch.cleared:
        # Added to version 1 later (optional when reading, ignored by older readers): the
        # last alerts to clear, so an ACK after a restart is still told they cleared.
        d["cleared"] = ch.cleared.copy()
    before = {rid: r.clears_before for rid, r in ch.bp_runs.items() if r.clears_before}
    if before:
        # Added to version 1 later (optional when reading, ignored by older readers, which
        # count the kept readings only): the readings a held latched clear run no longer
        # keeps, by rule (state.py BpRuns).
        d["bp_clears_before"] = before
    return d


def _open_session_seq(name: str, sess: Session | None) -> list[int]:
    """`session_seq` as an open session with a generated id tells it: [second, count]
    ([] for none, or an id given with the command)."""
    if sess is None:
        return []
    sec, sid = int(sess.started_t), sess.session_id
    base = f"{name}-{sec}"
    if sid == base:
        return [sec, 1]
    tail = sid.removeprefix(f"{base}-")
    if tail != sid and tail.isascii() and tail.isdigit():
        seq = [sec, int(tail)]
        if generated_session_id(name, seq) == sid:  # not "-01", not "-1"
            return seq
    return []


def chair_from_dict(name: str, d: Mapping[str, Any]) -> ChairState:
    sess = None if d["session"] is None else Session(**d["session"])
    ch = ChairState(
        name=name,
        phase=d["phase"],
        session=sess,
        base_bp=[list(r) for r in d["base_bp"]],
        baseline=None if d["baseline"] is None else list(d["baseline"]),
        session_bp=[list(r) for r in d["session_bp"]],
        window_bp=d["window_bp"],
        bp_runs={
            rid: BpRuns([list(x) for x in m], [list(x) for x in c])
            for rid, (m, c) in d["bp_runs"].items()
        },
        ts_runs={rid: VitalRuns(s, c) for rid, (s, c) in d["ts_runs"].items()},
        last_valid=dict(d["last_valid"]),
        low_spo2_t=d["low_spo2_t"],
        alerts={k: _alert_from_dict(a) for k, a in d["alerts"].items()},
        timers={TimerKey.parse(n): list(v) for n, v in d["timers"].items()},
        invalid_samples=d["invalid_samples"],
        # Added to version 1 later (issue 14): optional when reading.
        episodes={k: list(v) for k, v in d.get("episodes", {}).items()},
        current={k: list(v) for k, v in d.get("current", {}).items()},
        session_seq=(
            list(d["session_seq"]) if "session_seq" in d else _open_session_seq(name, sess)
        ),
        cleared=dict(d.get("cleared", {})),
    )
    for rid, n in d.get("bp_clears_before", {}).items():
        if rid in ch.bp_runs:
            ch.bp_runs[rid].clears_before = int(n)
    ch.recompute()
    return ch


def write(
    overrides: Mapping[str, Mapping[str, Any]],
    default_protocol: Mapping[str, str],
    chairs: Mapping[str, ChairState],
) -> dict[str, Any]:
    return {
        "version": SNAPSHOT_VERSION,
        "overrides": {k: dict(v) for k, v in overrides.items()},
        "default_protocol": dict(default_protocol),
        "chairs": {name: chair_to_dict(ch) for name, ch in chairs.items()},
    }


def check_version(snapshot: Mapping[str, Any]) -> None:
    if snapshot.get("version") != SNAPSHOT_VERSION:
        raise ValueError(f"unsupported engine snapshot version {snapshot.get('version')!r}")
