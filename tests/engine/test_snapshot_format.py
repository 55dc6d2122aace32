"""Engine snapshots written before the state was typed (snapshot version 1, timers named
by strings such as `"lost|bp"`) are read, and the format written is unchanged.

tests/engine/snapshots/v1_before_typing/ was produced by the engine at 0d3fbbf (before
the extraction into rule families): `snapshot.json` after the lines of `scenario.jsonl`
before t 300 (every timer kind of version 1 pending: escalation, device lost, sensor off,
BP overdue, check missed, both discharge re-checks), and `after.jsonl` the events that
engine emitted for the rest of the scenario without a restart (but for the wording of
`session.check_missed`, "No valid BP between ...", changed since: what a later engine
says of the same alarm)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitord.engine import AlertEngine, RuleSet, Sample
from monitord.engine.replay import replay
from monitord.engine.state import TimerKey, TimerKind
from monitord.models import Kind
from monitord.scenario import ScenarioEvent, load_scenario

V1 = Path(__file__).parent / "snapshots" / "v1_before_typing"
CUT_T = 300.0


def _split() -> tuple[list[ScenarioEvent], list[ScenarioEvent]]:
    events = load_scenario(V1 / "scenario.jsonl")
    cut = next(i for i, e in enumerate(events) if e.t >= CUT_T)
    return events[:cut], events[cut:]


def test_snapshot_of_the_previous_version_continues_as_it_would_have() -> None:
    _, rest = _split()
    old = json.loads((V1 / "snapshot.json").read_text())
    eng = AlertEngine.restore(old, RuleSet.default())
    got = [json.loads(json.dumps(e.to_replay())) for e in replay(eng, rest)]
    want = [json.loads(line) for line in (V1 / "after.jsonl").read_text().splitlines()]
    assert got == want


def test_snapshot_format_is_unchanged() -> None:
    first, _ = _split()
    eng = AlertEngine()
    list(replay(eng, first))
    new = json.loads(json.dumps(eng.snapshot()))
    # But for keys added to version 1 later, which older readers ignore (snapshot.py):
    # `cleared`, the last alerts to clear (the answer to an ACK that came after).
    assert new["chairs"]["chair-1"].pop("cleared") == {"chair-1:bp.baseline_high:20000": 100.0}
    assert new == json.loads((V1 / "snapshot.json").read_text())


def test_timer_names_of_version_1_are_typed_keys() -> None:
    old = json.loads((V1 / "snapshot.json").read_text())
    names = {n for c in old["chairs"].values() for n in c["timers"]}
    keys = {TimerKey.parse(n) for n in names}
    assert {k.kind for k in keys} == set(TimerKind)
    assert TimerKey.parse("lost|bp") == TimerKey(TimerKind.DEVICE_LOST, "bp")
    assert TimerKey.parse("esc|tech.sensor_off|spo2") == TimerKey(
        TimerKind.ESCALATE, "tech.sensor_off|spo2"
    )
    assert {k.name() for k in keys} == names


@pytest.mark.parametrize("name", ["later", "lost", "overdue|x", "esc"])
def test_unknown_or_malformed_timer_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError):
        TimerKey.parse(name)


def test_restored_escalations_rebase_on_restart_and_missed_ones_are_not_replayed() -> None:
    """clinical-rules.md "Delivery of alarms": after a restart the next escalation of a
    restored alert is due one interval after the start, the level counting on."""
    old = json.loads((V1 / "snapshot.json").read_text())
    eng = AlertEngine.restore(old, RuleSet.default())
    (hr,) = [a for a in eng.active("chair-1") if a["rule"] == "hr.very_high"]
    assert hr["level"] == 0  # raised at 160, first escalation was due at 280
    start = 5000.0  # the daemon comes back long after
    eng.resume(start)
    out = eng.advance(start + 2 * 120)
    esc = [(e.t, e.level) for e in out if e.rule == "hr.very_high"]
    assert esc == [(start + 120, 1), (start + 240, 2)]


def test_escalation_moved_by_an_older_restart_goes_on_from_its_deadline() -> None:
    """A snapshot of an older version taken after a restart holds an escalation deadline
    off the raise-time grid, with no `esc_from` to say where it moved: restored (also
    without a restart), the escalations go on every interval from that deadline, not at
    raise + n x interval (which would put the next one 170 s after, not 120)."""
    eng = AlertEngine()
    eng.feed(Sample(10.0, "chair-1", "cuff", Kind.BP, {"sys_mmHg": 210.0, "dia_mmHg": 100.0}))
    old = json.loads(json.dumps(eng.snapshot()))
    ch = old["chairs"]["chair-1"]
    assert ch["timers"]["esc|bp.crisis"][0] == 130.0 and "esc_from" not in ch["alerts"]["bp.crisis"]
    ch["timers"]["esc|bp.crisis"][0] = 320.0  # an older version restarted at 200
    eng = AlertEngine.restore(old, RuleSet.default())
    out = eng.advance(560.0)
    assert [(e.event, e.t, e.level) for e in out] == [
        ("escalated", 320.0, 1),
        ("escalated", 440.0, 2),
        ("escalated", 560.0, 3),
    ]
