"""A Pi whose MQTT is disabled (InfluxDB and reports only, no broker) whose chair id and
site were edited: a real `monitord run` twice on one store.

Before: the start after the edit said at WARNING that "the broker keeps" the old chair's
retained status and active set, "which every station shows until they are cleared with
that chair's own login", on a Pi that never had a broker: an admin was sent to clear what
is not there, with an account that does not exist. Now nothing is said of a broker when
the last run had MQTT disabled; `monitord status` still marks the old id departed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.e2e.e2e_kit import CHAIR, DaemonProcess, write_config
from tests.heard.heard_kit import status_text
from tests.kit import eventually


async def run_once(cfg: Path, log: Path) -> str:
    d = DaemonProcess(cfg, log)
    d.start()
    try:
        await eventually(lambda: " ready: " in d.output(), 30, f"{log.stem} ready")
    finally:
        assert d.stop() == 0, d.output()
    return d.output()


async def test_no_broker_no_word_of_its_retained_state(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, site="site-a")  # MQTT and InfluxDB disabled
    await run_once(cfg, tmp_path / "first.log")
    cfg.write_text(
        cfg.read_text()
        .replace(f'id = "{CHAIR}"', 'id = "chair-9"')
        .replace('id = "site-a"', 'id = "site-b"')
    )
    out = await run_once(cfg, tmp_path / "second.log")
    assert "the broker keeps" not in out and "ran on this Pi" not in out, out
    assert "the MQTT base changed" not in out, out
    status = await asyncio.to_thread(status_text, tmp_path / "outbox.sqlite")
    old = status[status.index(f"chair {CHAIR} ") :]
    assert old.splitlines()[1].startswith("  NOT IN THE DAEMON'S CONFIG"), status
