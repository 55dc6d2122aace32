"""Acceptance 4 (issue 13), serial: `monitord capture` then `monitord decode --file` gives
the readings the daemon produced live.

Two identical simulated monitors on real ptys get the same measurements at the same
moments (same device clock): `monitord run` reads one, `monitord capture` the other
(a serial port is opened exclusively, so the daemon and a capture cannot share one).
The daemon's committed readings must equal what `decode --file` makes of the capture,
and what the capture decoded live. IntelliVue exercises the dialog (association, MDS
create answer, polls written by us and recorded as `tx`); Masimo the line splitting.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitord.models import Kind
from monitord.simulators._serial_base import SerialSim
from monitord.simulators.base import SimDevice, SimEvent
from monitord.simulators.capture_play import pty_openers
from monitord.simulators.intellivue import IntelliVueSim
from monitord.simulators.pty import PtyPort
from monitord.simulators.serial_sims import make_sim_device
from tests.kit import eventually

from .capture_kit import (
    CHAIR,
    as_record,
    comparable,
    config,
    decode_file,
    monitord,
    stop,
    stored_readings,
)


def events(i: int) -> list[SimEvent]:
    return [
        SimEvent(Kind.SPO2, {"spo2_pct": 95.0 + i, "pulse_bpm": 70.0 + i}),
        SimEvent(
            Kind.BP,
            {"sys_mmHg": 120.0 + 10 * i, "dia_mmHg": 80.0, "map_mmHg": 93.0, "pulse_bpm": 66.0},
            error=i == 1,  # one invalid NIBP (measurement state invalid) among them
        ),
        SimEvent(Kind.HR, {"hr_bpm": 60.0 + i}),
    ]


def _pty_path(sim: SimDevice) -> str:
    """The pty a serial simulator's port is (what the daemon and the capture open)."""
    assert isinstance(sim, SerialSim) and isinstance(sim.port_obj, PtyPort), sim
    return sim.port_obj.slave_path


def _intellivue(sim: SimDevice) -> IntelliVueSim:
    assert isinstance(sim, IntelliVueSim), sim
    return sim


@pytest.mark.parametrize("driver", ["masimo-ascii", "intellivue"])
async def test_capture_then_decode_gives_what_the_daemon_stored(
    tmp_path: Path, driver: str
) -> None:
    extra = "  poll_interval_s = 0.5\n" if driver == "intellivue" else ""
    live_cfg = config(tmp_path, "live", f'  id = "mon"\n  driver = "{driver}"\n'
                      f'  port = "{tmp_path / "live.tty"}"\n{extra}')  # fmt: skip
    cap_cfg = config(tmp_path, "cap", f'  id = "mon"\n  driver = "{driver}"\n'
                     f'  port = "{tmp_path / "cap.tty"}"\n{extra}')  # fmt: skip
    out = tmp_path / "field.capture.jsonl"
    sim_live = make_sim_device(driver, symlink=tmp_path / "live.tty", repeat=False)
    sim_cap = make_sim_device(driver, symlink=tmp_path / "cap.tty", repeat=False)
    async with sim_live, sim_cap:
        sims = (sim_live, sim_cap)
        daemon = await monitord("run", "--config", str(live_cfg))
        capture = await monitord(
            "capture", "--config", str(cap_cfg), "--device", f"{CHAIR}/mon", "--out", str(out)
        )
        try:
            # both have the port open (and an IntelliVue is associated) before data flows
            for sim in sims:
                slave = _pty_path(sim)

                def opened(s: str = slave) -> bool:
                    return pty_openers(s) > 1

                await eventually(opened, 30, "port opened")
                if driver == "intellivue":
                    iv = _intellivue(sim)

                    def associated(s: IntelliVueSim = iv) -> bool:
                        return s.mds_confirmed

                    await eventually(associated, 30, "associated")
            t0 = datetime.now(UTC).replace(microsecond=0)
            for i in range(3):
                before = [getattr(s, "polls", 0) for s in sims]
                for ev in events(i):
                    if ev.kind in sim_live.kinds:
                        for sim in sims:
                            await sim.send(ev, t0 + timedelta(seconds=i))
                if driver == "intellivue":  # both sides polled the new values twice
                    for sim, n in zip(sims, before, strict=True):
                        iv = _intellivue(sim)

                        def polled(s: IntelliVueSim = iv, n: int = n) -> bool:
                            return s.polls >= n + 2

                        await eventually(polled, 30, "polled")
            want = 3 if driver == "masimo-ascii" else 9
            db = tmp_path / "live.sqlite"
            await eventually(lambda: len(stored_readings(db)) >= want, 30, "daemon stored")
        finally:
            rc_cap, cap_out, cap_err = await stop(capture)
            rc_live, _, live_err = await stop(daemon)
    assert rc_cap == 0, cap_err
    assert rc_live == 0, live_err

    live = [as_record(r) for r in stored_readings(tmp_path / "live.sqlite")]
    rc, decoded, err = decode_file(out)
    assert rc == 0, err

    # The hub may hold a BP right after a connection for a moment (monitord/history.py), so
    # the store's order across kinds can differ from the wire's: compare in time order.
    def key(d: dict[str, Any]) -> tuple[str, str]:
        return (str(d["measured_at"]), str(d["kind"]))

    assert sorted((comparable(d) for d in decoded), key=key) == sorted(live, key=key)
    assert len(live) == want
    # what the capture printed live is what decode --file makes of the file, `t` included
    assert [json.loads(line) for line in cap_out.splitlines()] == decoded
    if driver == "intellivue":
        bp = [d for d in decoded if d["kind"] == "bp"]
        assert [d["valid"] for d in bp] == [True, False, True]
        records = [json.loads(line) for line in out.read_text().splitlines()[1:]]
        assert any(r.get("dir") == "tx" for r in records)  # our association and polls
