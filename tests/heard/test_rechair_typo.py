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
from typing import Any

import pytest

from monitord.mqttv5 import PublishRefused
from monitord.sinks.mqtt import MqttSink
from monitord.sinks.mqtt_link import ChairLink
from monitord.storeguard import StoreGuard
from tests.acl_kit import AclMosquitto
from tests.e2e.e2e_kit import DaemonProcess, daemon_in_process
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


async def test_the_typod_ids_refusal_is_in_the_store_at_once(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    # The CONNACK is recorded at once as having reached the broker (its will: sinks/mqtt.py
    # `reached`); the ACL then refuses chiar-1's `status`, and with it its will. Before, the
    # row kept chiar-1 in `reached_broker` and no `publish_refused` until the next status
    # write (15 s and more on an idle daemon): a Pi losing power meanwhile said at the next
    # id change that the broker keeps chiar-1's retained status, to be cleared with a
    # login that does not exist. Now the refusal's handling writes the row at once.
    cfg = chair_config(tmp_path, broker, "chair-1")
    cfg.write_text(cfg.read_text().replace('id = "chair-1"', 'id = "chiar-1"'))
    rows: list[dict[str, Any]] = []  # the `daemon` rows put at once within a refusal
    refusing: list[bool] = []
    refused, put_live = MqttSink._refused, StoreGuard.put_live

    def on_refused(self: MqttSink, c: ChairLink, e: PublishRefused) -> None:
        refusing.append(True)
        try:
            refused(self, c, e)
        finally:
            refusing.pop()

    def put(
        self: StoreGuard, key: str, value: Any, signature: Any = None, *, now: bool = False
    ) -> None:
        if refusing and key == "daemon" and now:
            rows.append(value)
        put_live(self, key, value, signature, now=now)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(MqttSink, "_refused", on_refused)
        mp.setattr(StoreGuard, "put_live", put)
        async with daemon_in_process(cfg) as daemon:
            sink = daemon.mqtt
            assert sink is not None
            await eventually(lambda: "chiar-1" in sink.refusals(), 30, "chiar-1 refused")
            assert "chiar-1" not in sink.reached(), sink.reached()
            assert rows, "no row written at the refusal"
            assert "chiar-1" not in rows[-1]["reached_broker"], rows[-1]
            assert "chiar-1" in rows[-1]["publish_refused"], rows[-1]
