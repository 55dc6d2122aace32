"""`monitord status` after a real `monitord run` whose MQTT is disabled (a Pi storing for
InfluxDB and reports only, or a bench set-up): the rechair round added the running chairs
and the MQTT prefix to the daemon's state row (monitord/daemon.py, for the next start and
for status's "departed"), and status printed every daemon key it did not know on its
`delivery:` line.

Before: status read `delivery: chairs=chair-1, prefix=monitord`, a delivery line on a Pi
that delivers nothing over MQTT (and, with MQTT, `chairs=` and `prefix=` before the
stations and receipts, as if they were delivery facts). Now they are the daemon's own keys:
with MQTT disabled there is no `delivery:` line, as before that round; `--json` keeps them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.e2e.e2e_kit import CHAIR, DaemonProcess, write_config
from tests.kit import eventually


def status(db: Path, *args: str) -> str:
    p = subprocess.run(
        [sys.executable, "-m", "monitord", "status", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return p.stdout + p.stderr


async def run_until_ready(d: DaemonProcess) -> None:
    d.start()
    try:
        await eventually(lambda: " ready: " in d.output(), 30, "the daemon ready")
    finally:
        assert d.stop() == 0, d.output()


async def test_status_has_no_delivery_line_of_daemon_keys(tmp_path: Path) -> None:
    # MQTT and InfluxDB disabled.
    await run_until_ready(DaemonProcess(write_config(tmp_path), tmp_path / "run.log"))
    db = tmp_path / "outbox.sqlite"
    text = status(db)
    assert f"chair {CHAIR}" in text, text
    assert not [ln for ln in text.splitlines() if ln.startswith("delivery:")], text
    row = json.loads(status(db, "--json"))["daemon"]
    assert row["chairs"] == [CHAIR] and row["prefix"] == "monitord", row


async def test_status_json_marks_a_departed_chair(tmp_path: Path) -> None:
    """`--json`'s `chairs.<id>.departed` (docs/operations.md, "A Pi moved to another
    chair"): true on the chair id the daemon's last run no longer had, absent on its own."""
    cfg = write_config(tmp_path)
    for chair in (CHAIR, "chair-9"):
        cfg.write_text(cfg.read_text().replace(f'id = "{CHAIR}"', f'id = "{chair}"'))
        await run_until_ready(DaemonProcess(cfg, tmp_path / f"{chair}.log"))
    chairs = json.loads(status(tmp_path / "outbox.sqlite", "--json"))["chairs"]
    assert chairs[CHAIR]["departed"] is True, chairs
    assert "departed" not in chairs["chair-9"], chairs
