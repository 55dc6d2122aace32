"""A streaming monitor's USB-serial adapter pulled out until `tech.device_lost`, then
plugged back in at another tty number behind the same by-id link (a real daemon, a real
Masimo simulator on a pty): the alarm raised, cleared on return, the readings after it the
monitor's, one line in the journal for the unplug (clinical-rules.md: `tech.device_lost`,
"a device link down for 30 s", cleared "link back"; `after_s` shortened as a clinic may).
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path

from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.masimo import MasimoSim
from monitord.simulators.pty import PtyPort
from tests.e2e.e2e_kit import DaemonProcess, Store
from tests.faults.clock_kit import events, write_config
from tests.kit import eventually

AFTER_S = 4.0
ALERTS = f'[alerts]\n"tech.device_lost" = {{ after_s = {AFTER_S} }}\n'


async def test_an_adapter_replugged_clears_device_lost_and_reads_on(tmp_path: Path) -> None:
    by_id = tmp_path / "usb-FTDI_FT232R_USB_UART_A9XK1C2B-if00-port0"
    ox = MasimoSim(symlink=by_id, repeat=False)
    await ox.__aenter__()
    cfg = write_config(tmp_path, {"ox": str(by_id)}, ALERTS)
    store = Store(tmp_path / "outbox.sqlite")
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
    spo2 = 97

    async def feed() -> None:
        while True:
            ev = SimEvent(Kind.SPO2, {"spo2_pct": spo2, "pulse_bpm": 70}, contact=True)
            await ox.send(ev, datetime.now(UTC))
            await asyncio.sleep(0.5)

    feeder = asyncio.create_task(feed())
    try:
        daemon.start()
        await eventually(lambda: store.readings() >= 3, 60, "readings before the unplug")
        port = ox.port_obj
        assert isinstance(port, PtyPort)
        before = port.slave_path
        await ox.drop_link()
        await eventually(
            lambda: events(store, "tech.device_lost", "raised"), 60, "device_lost raised"
        )
        squat: list[int] = []  # its old number taken meanwhile: back as another
        try:
            for _ in range(64):
                squat += os.openpty()
                if os.ttyname(squat[-1]) == before:
                    break
            spo2 = 93
            await ox.restore_link()
        finally:
            for fd in squat:
                os.close(fd)
        assert port.slave_path != before
        await eventually(
            lambda: events(store, "tech.device_lost", "cleared"), 60, "device_lost cleared"
        )
        await eventually(
            lambda: any(r["values"].get("spo2_pct") == 93 for r in store.reading_rows()),
            60,
            "a reading after the replug",
        )
    finally:
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)
        daemon.stop()
        await ox.__aexit__(None, None, None)
    log = daemon.output()
    assert "Traceback" not in log, log
    raised = events(store, "tech.device_lost", "raised")
    cleared = events(store, "tech.device_lost", "cleared")
    assert len(raised) == 1 and len(cleared) == 1, (raised, cleared)
    assert float(cleared[0]["t"]) > float(raised[0]["t"])
    assert {r["values"].get("spo2_pct") for r in store.reading_rows()} == {97, 93}
    warned = [ln for ln in log.splitlines() if "WARNING" in ln and "chair-1/ox" in ln]
    assert len(warned) == 1 and "port missing" in warned[0], warned
