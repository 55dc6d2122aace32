"""The checks of a simulated chair's scenarios, before the daemon starts (`check-config`,
and `run` before it starts): what the player would stop at, or not play at all.

design.md section 5: a simulated chair raises exactly the alerts `monitord replay` gives
for the same scenario. The player hands each measurement to the chair's simulated device
that plays its kind; a kind no device of the chair plays was dropped in silence (a
`bp.crisis` of the scenario never raised on a chair with only an oximeter, `check-config`
said `ok`), and a `device_lost` of it only logged a warning as it played.
"""

from __future__ import annotations

from pathlib import Path

from monitord.config import ChairConfig, Config, where
from monitord.scenario import DeviceBack, DeviceLost, ScenarioError, ScenarioFile

#: Scenario events that go to a device of their kind (the rest go to the chair itself).
_MEASUREMENTS = frozenset({"bp", "hr", "spo2"})


def scenario_errors(cfg: Config, source: str) -> list[str]:
    """One line per problem of the chairs' scenarios (`FILE: chairs[i].devices[j].simulate:
    ...`)."""
    errors: list[str] = []
    for i, chair in enumerate(cfg.chairs):
        seen: set[Path] = set()
        for j, dev in enumerate(chair.devices):
            if dev.simulate is None or dev.simulate in seen:
                continue
            seen.add(dev.simulate)
            if problem := _scenario_problem(dev.simulate, chair):
                key = f"chairs[{i}].devices[{j}].simulate"
                errors.append(f"{where(cfg, source, key)}: {problem}")
    return errors


def _played_kinds(chair: ChairConfig) -> set[str]:
    """The kinds the chair's simulated devices play (the player routes by these)."""
    from monitord.drivers.registry import DRIVERS

    return {
        str(k)
        for d in chair.devices
        if d.simulate is not None and d.driver in DRIVERS
        for k in DRIVERS[d.driver].kinds
    }


def _scenario_problem(path: Path, chair: ChairConfig) -> str | None:
    """What keeps a simulated chair's scenario from playing on `chair`, as one line, or
    None. The player would stop the chair at its first bad line; a multi-chair scenario
    that does not name the chair would play nothing on it, and a line of a kind none of
    its devices plays would be dropped, silently."""
    f = ScenarioFile(path)
    try:
        f.check()
    except ScenarioError as e:
        return str(e)
    if len(f.chairs) > 1 and chair.id not in f.chairs:
        return (
            f"{path}: names chairs {', '.join(f.chairs)} but not {chair.id}: nothing would "
            f"play on this chair (name it on its lines, or attach a scenario of its own)"
        )
    played = _played_kinds(chair)
    for ev in f:
        if len(f.chairs) > 1 and ev.chair != chair.id:
            continue
        kind: str
        if isinstance(ev, DeviceLost | DeviceBack):
            kind = ev.device
        elif ev.event in _MEASUREMENTS and not getattr(ev, "stored", False):
            kind = ev.event  # a stored record is not played anyway (docs/scenarios.md)
        else:
            continue
        if kind not in played:
            plays = ", ".join(sorted(played)) or "nothing"
            return (
                f"{path}:{ev.line}: {ev.event}: no simulated device of chair {chair.id} "
                f"plays {kind} (its devices play {plays}): the line would play nothing, "
                f"where replay acts on it (attach a device that plays {kind}, or leave its "
                "lines out)"
            )
    return None
