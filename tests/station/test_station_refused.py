"""The station side of "a refused publish is not a delivered one" (issue 16 on the station's
connection, MQTT v5): a station whose broker account may not write receipts (an ACL that
lost the station's `alerts/receipts` line) learns it from the PUBACK's reason code. The
receipt is answered 503 with the reason and the fix in words, logged once at WARNING, and
not recorded as sent (a later try goes out once the ACL is fixed). Under MQTT v5 mosquitto
acknowledges a denied publish too; before, the station answered `{"sent": true}`.
Real mosquitto with the shipped ACL (one line removed), the real `monitord station`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.acl_kit import AclMosquitto
from tests.servers import TlsMaterial, session_tmpdir
from tests.station.station_kit import (
    NURSES,
    SITE,
    USERS,
    mqtt_login,
    station_config,
    station_process,
    topic,
)

RECEIPTS_LINE = f"topic write monitord/{SITE}/+/alerts/receipts\n"


class NoReceiptsAcl(AclMosquitto):
    def _write_config(self) -> None:
        super()._write_config()
        text = self.acl_file.read_text()
        assert RECEIPTS_LINE in text
        self.acl_file.write_text(text.replace(RECEIPTS_LINE, ""))


@pytest.fixture
def no_receipts_broker(tls_material: TlsMaterial) -> Iterator[AclMosquitto]:
    workdir = session_tmpdir("mosquitto-no-receipts")
    srv = NoReceiptsAcl(workdir, tls=tls_material, users=USERS)
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()
        shutil.rmtree(workdir, ignore_errors=True)


async def test_a_refused_receipt_is_not_sent_and_says_why(
    tmp_path: Path, no_receipts_broker: AclMosquitto
) -> None:
    broker = no_receipts_broker
    async with mqtt_login(broker, "chair-1") as chair:  # the chair exists on the broker
        await chair.publish(
            topic("chair-1", "status"),
            json.dumps({"state": "online", "time": "2026-01-01T00:00:00Z"}).encode(),
            qos=1,
            retain=True,
        )
    cfg = station_config(tmp_path, broker)
    receipt = {"chair": "chair-1", "alert_id": "chair-1:bp.crisis:1", "event": "raised"}
    async with (
        station_process(cfg, tmp_path / "station.log") as (station, url),
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
    ):
        r = await http.post(
            f"{url}/api/login",
            json={"name": "alice", "pin": NURSES["alice"]},
            headers={"Origin": url},
        )
        assert r.status == 200
        good = {"Origin": url, "X-CSRF-Token": (await r.json())["csrf"]}
        answers: list[tuple[int, dict[str, object]]] = []

        async def post() -> None:
            resp = await http.post(url + "/api/receipt", json=receipt, headers=good)
            answers.append((resp.status, await resp.json()))

        # 400 until the station has seen chair-1, 503 "not connected" until its broker is up.
        for _ in range(300):
            await post()
            if answers[-1][0] != 400 and "not connected" not in str(answers[-1][1]):
                break
            await asyncio.sleep(0.1)
        status, body = answers[-1]
        assert status == 503, answers[-1]
        why = str(body["error"])
        assert "refused" in why and "not authorized (0x87)" in why, why
        assert "for user station-1" in why and "ACL" in why, why
        # Not recorded as sent: a second try goes to the broker again (and is refused again).
        await post()
        assert answers[-1][0] == 503, answers[-1]
        lines = [ln for ln in station.output().splitlines() if "refused it on" in ln]
        assert len(lines) == 1 and "WARNING" in lines[0], lines
