"""`cmd/session`'s `session_id` on Dose start, Dose end and End session (docs/mqtt.md),
over plain MQTT to a real daemon (`monitord run`, real mosquitto with the shipped ACL).

Before, the daemon ignored `session_id` on anything but `start`: a command for a session
that had ended (a page behind, the next patient started since) was applied to the open
one. clinical-rules.md "Session": commands out of order are refused, never implied. Now
it is refused (`code: "session"` on `cmd/errors`, the open session untouched); one for the
open session is applied, and one without `session_id` (Home Assistant, Node-RED, the CLI,
an older station) is applied as before.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt

from tests.acl_kit import AclMosquitto
from tests.station.session_kit import IDLE
from tests.station.station_kit import STATION, chair_config, daemon_process, mqtt_login, topic

Messages = list[dict[str, Any]]


async def _collect(client: aiomqtt.Client, into: dict[str, Messages]) -> None:
    async for m in client.messages:
        into.setdefault(str(m.topic).rsplit("/", 1)[-1], []).append(json.loads(bytes(m.payload)))


async def _until(pred: Callable[[], object], what: str, within_s: float = 30.0) -> None:
    for _ in range(int(within_s * 20)):
        if pred():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_the_daemon_refuses_a_command_for_a_session_not_open_and_applies_the_rest(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    ccfg = chair_config(tmp_path, acl_broker, "chair-2", IDLE)
    got: dict[str, Messages] = {}

    def session() -> dict[str, Any]:
        sets = got.get("active", [])
        return dict(sets[-1].get("session") or {}) if sets else {}

    def phase(p: str, sid: str | None = None) -> Callable[[], bool]:
        return lambda: (
            session().get("phase") == p and (sid is None or session()["session_id"] == sid)
        )

    async with (
        mqtt_login(acl_broker, STATION) as spy,
        daemon_process(ccfg, tmp_path / "chair-2.log") as daemon,
    ):
        await spy.subscribe(topic("chair-2", "cmd/errors"), qos=1)
        await spy.subscribe(topic("chair-2", "alerts/active"), qos=1)
        listener = asyncio.create_task(_collect(spy, got))

        async def send(body: dict[str, Any]) -> None:
            await spy.publish(topic("chair-2", "cmd/session"), json.dumps(body), qos=1)

        try:
            await _until(lambda: got.get("active"), "the chair's first active set", 60)
            await send({"action": "start", "session_id": "pat-a", "by": "alice"})
            await _until(phase("baseline", "pat-a"), "pat-a in baseline")
            await send({"action": "end", "session_id": "pat-a", "by": "alice"})
            await _until(phase("idle"), "pat-a ended")
            await send({"action": "start", "session_id": "pat-b", "by": "alice"})
            await _until(phase("baseline", "pat-b"), "pat-b in baseline")
            # bob's Dose start for pat-a, late: refused, pat-b untouched.
            await send({"action": "dose_start", "session_id": "pat-a", "by": "bob"})
            await _until(lambda: got.get("errors"), "the refusal")
            err = got["errors"][-1]
            assert err["code"] == "session", err
            assert (err["sent_session_id"], err["open_session_id"]) == ("pat-a", "pat-b"), err
            assert err["sent_session_ended"].endswith("Z"), err
            assert err["open_session_started"] == session()["started"], err
            assert err["error"].startswith(
                "chair-2: this Dose start was for session pat-a, ended at "
            ), err
            assert "; the chair now has session pat-b (started " in err["error"], err
            assert err["error"].endswith("press again on the board as it is now"), err
            # An End session for pat-a: refused too, pat-b stays open.
            await send({"action": "end", "session_id": "pat-a", "by": "bob"})
            await _until(lambda: len(got["errors"]) == 2, "the second refusal")
            assert got["errors"][-1]["code"] == "session", got["errors"][-1]
            # For the open session: applied.
            await send({"action": "dose_start", "session_id": "pat-b", "by": "bob"})
            await _until(phase("dosing", "pat-b"), "pat-b dosing")
            # Without session_id (HA, Node-RED, the CLI, an older station): as before.
            await send({"action": "dose_end", "by": "carol"})
            await _until(phase("observation", "pat-b"), "pat-b in observation")
            await send({"action": "end"})
            await _until(phase("idle"), "pat-b ended")
            assert len(got["errors"]) == 2, got["errors"]
            assert session() == {"phase": "idle"}
            log = daemon.output()
            assert "command refused: chair-2: this Dose start was for session pat-a" in log
        finally:
            listener.cancel()
