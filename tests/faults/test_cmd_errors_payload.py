"""`cmd/errors` carries the refused command's first 500 characters (docs/mqtt.md
"Commands"), and the nurses' station reads the nurse's name back out of it (`sent_by`,
monitord/station/model.py). The daemon cut the payload at 500 *bytes*: a command written
in Greek, Cyrillic or CJK (a nurse's name and a lot number, each up to 64 characters, are
up to 192 bytes each in UTF-8) is over 500 bytes while well under 500 characters, so the
echo was cut mid-JSON, its last character garbled, and the station could not tell whose
command was refused. Real `monitord run` and real mosquitto.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitord.station.model import _sent
from tests.e2e.e2e_kit import DaemonProcess, Oximeter
from tests.faults.test_mqtt_commands import base, config, connects, publish
from tests.kit import Observer, eventually
from tests.servers import Mosquitto

NAME = "看护" * 32  # a 64-character name: 192 bytes in UTF-8
LOT = "批号" * 32


def stale() -> str:
    return (datetime.now(UTC) - timedelta(seconds=600)).isoformat()


async def test_refused_command_is_echoed_by_characters_not_bytes(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    b = base(mqtt_prefix)
    # A well-formed dose_start, refused as stale: ~230 characters, ~520 bytes.
    dose = {
        "action": "dose_start",
        "session_id": "chair-1-morning-list-0930",
        "by": NAME,
        "lot": LOT,
        "dose_mg": 28,
        "time": stale(),
    }
    text = json.dumps(dose, ensure_ascii=False)
    assert len(text) < 500 < len(text.encode())
    # One longer than 500 characters (and under the 4 KiB limit): its first 500 go back.
    long_text = json.dumps({"action": "end", "note": "注" * 700}, ensure_ascii=False)
    assert len(long_text.encode()) < 4096
    daemon = DaemonProcess(config(tmp_path, mosquitto, mqtt_prefix), tmp_path / "daemon.log")
    async with Oximeter(tmp_path), Observer(mosquitto, [f"{b}/cmd/errors"]) as nurse:
        daemon.start()
        try:
            await eventually(lambda: connects(daemon) == 1, 30, "daemon connected")
            await publish(mosquitto, f"{b}/cmd/session", text.encode())
            await publish(mosquitto, f"{b}/cmd/session", long_text.encode())
            await eventually(lambda: len(nurse.of("cmd/errors")) == 2, 20, "two answers")
            first, second = nurse.of("cmd/errors")
            assert "stale" in first["error"], first
            assert first["payload"] == text, first["payload"][-20:]
            assert _sent(first["payload"], "by") == NAME  # the station names the nurse
            assert "unknown field" in second["error"], second
            assert second["payload"] == long_text[:500], second["payload"][-20:]
        finally:
            daemon.stop()
