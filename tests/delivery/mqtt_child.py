"""Child process for the Last Will test: runs an MqttSink until killed."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from monitord.config import MqttConfig, StorageConfig
from monitord.outbox import Outbox
from monitord.sinks.mqtt import Command, MqttSink


async def _no_cmd(chair: str, cmd: Command) -> str | None:
    return None


async def main() -> None:
    host, port, prefix, db = sys.argv[1], int(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
    ob = Outbox(db, StorageConfig(path=db))
    sink = MqttSink(
        MqttConfig(host=host, port=port, prefix=prefix, keepalive_s=5),
        "site-a",
        ["chair-1"],
        ob,
        _no_cmd,
    )
    sink.set_active(
        "chair-1",
        [
            {
                "alert_id": "a-1",
                "rule": "spo2.low",
                "priority": "high",
                "state": "active",
                "ack": False,
            }
        ],
    )
    task = asyncio.create_task(sink.run())
    for _ in range(1000):
        if sink.connected:
            break
        await asyncio.sleep(0.02)
    print("connected", flush=True)
    await task


if __name__ == "__main__":
    asyncio.run(main())
