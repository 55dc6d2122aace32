"""A chair id typed wrong for one start (`chiar-1` for `chair-1`, its login left as
`chair-1`), then fixed: a real `monitord run` three times on one store, a real mosquitto
with config/mosquitto/monitord.acl (it lets `chair-1` publish under `chair-1` only).

The typo'd start is told loudly (the config's login warning, `delivery.refused`), and its
WARNING about chair-1's retained status and alarms is true. Before, the start after the
fix also said at WARNING that "the broker keeps" chiar-1's retained status and active set
for every station "until they are cleared with that chair's own login": the broker had
refused every publish under chiar-1 and keeps nothing of it, and no such login exists.
Now that start says so at INFO (refused then, nothing kept), and warns of nothing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.acl_kit import AclMosquitto
from tests.e2e.e2e_kit import DaemonProcess
from tests.heard.heard_kit import USERS, chair_config, retained_set
from tests.kit import eventually


def retained(broker: AclMosquitto, chair: str) -> list[str]:
    """The topics the broker keeps for `chair`."""
    return list(retained_set(broker, chair, "station-1", USERS["station-1"]))


async def run_until(cfg: Path, log: Path, said: str) -> str:
    d = DaemonProcess(cfg, log)
    d.start()
    try:
        await eventually(lambda: said in d.output(), 30, f"{log.stem}: {said}")
    finally:
        assert d.stop() == 0, d.output()
    return d.output()


async def test_a_typo_for_one_start_is_not_said_to_leave_retained_state(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    cfg = chair_config(tmp_path, broker, "chair-1")
    await run_until(cfg, tmp_path / "first.log", "subscribed to")
    right = cfg.read_text()
    cfg.write_text(right.replace('id = "chair-1"', 'id = "chiar-1"'))
    typo = await run_until(cfg, tmp_path / "typo.log", "DELIVERY ALARM")
    assert "chair 'chair-1' ran on this Pi" in typo, typo  # chair-1's are on the broker
    assert await asyncio.to_thread(retained, broker, "chair-1")
    assert not await asyncio.to_thread(retained, broker, "chiar-1")

    cfg.write_text(right)
    fixed = await run_until(cfg, tmp_path / "fixed.log", "subscribed to")
    said = [ln for ln in fixed.splitlines() if "chair 'chiar-1'" in ln]
    assert len(said) == 1 and said[0].startswith("INFO "), fixed
    assert "refused its publishes" in said[0] and "keeps nothing" in said[0], said
    assert not [ln for ln in fixed.splitlines() if ln.startswith("WARNING monitord:")], fixed
    assert not await asyncio.to_thread(retained, broker, "chiar-1")
