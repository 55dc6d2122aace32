"""Issue 12, defect 2: BP de-duplication by device time alone dropped new measurements.

A real `monitord run` subprocess reads an IntelliVue simulator on a pty (a real NIBP
cuff's numerics over the real serial transport and decoder) and publishes to a real
mosquitto. The monitor's clock is stuck: every measurement carries the same device time.
130/85 then 212/124 are measured. Before the fix the hub keyed measurements on device
time alone, so 212/124 was dropped as a repeat (one INFO line) and no `bp.crisis` was
raised. The rule (clinical-rules.md, "Delivery of alarms"): a reading may be dropped only
when it repeats a taken one in device time *and* values; a stuck clock never hides a new
measurement. Once two measurements share one device time the clock is known stuck, and
a third at that time, 130/85 again, is a re-measure with the same values, not a repeat:
it is taken too (before, it was dropped as a repeat of the first, and a BP rule waiting
for its confirming reading never got it).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from monitord.config import StorageConfig
from monitord.models import Kind
from monitord.outbox import Outbox
from monitord.simulators.base import SimEvent
from monitord.simulators.serial_sims import make_sim_device
from tests.e2e.e2e_kit import NO_INFLUX, DaemonProcess, Store, mqtt_section, whole_second
from tests.kit import Observer, eventually
from tests.servers import Mosquitto

SITE, CHAIR = "site-faults", "chair-1"


def nibp(sys_: float, dia: float) -> SimEvent:
    return SimEvent(
        Kind.BP,
        {
            "sys_mmHg": sys_,
            "dia_mmHg": dia,
            "map_mmHg": round((sys_ + 2 * dia) / 3),
            "pulse_bpm": 80,
        },
    )


def bp_rows(store: Store) -> list[str]:
    return [b for (b,) in store._q("SELECT body FROM records WHERE type='reading'") if '"bp"' in b]


async def test_stuck_clock_new_values_raise_crisis_and_a_same_valued_re_measure_is_taken(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    port = tmp_path / "mon.tty"
    cfg = tmp_path / "monitord.toml"
    cfg.write_text(
        f"""
log_level = "INFO"
[site]
id = "{SITE}"
{mqtt_section(mosquitto, mqtt_prefix)}
{NO_INFLUX}
[storage]
path = "{tmp_path / "outbox.sqlite"}"
# Readings committed every 0.5 s, not 5: the waits for stored BP rows below take a moment,
# not up to a whole interval each (what is taken or dropped does not depend on it).
commit_interval_s = 0.5
[[chairs]]
id = "{CHAIR}"
  [[chairs.devices]]
  id = "mon"
  driver = "intellivue"
  port = "{port}"
  poll_interval_s = 0.5
"""
    )
    stuck = whole_second() - timedelta(days=2)  # the clock stopped two days ago
    store = Store(tmp_path / "outbox.sqlite")
    topic = f"{mqtt_prefix}/{SITE}/{CHAIR}/alerts/events"
    async with (
        make_sim_device("intellivue", symlink=port, repeat=False) as sim,
        Observer(mosquitto, [topic]) as nurse,
    ):
        daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
        daemon.start()
        try:
            await sim.send(nibp(130, 85), stuck)
            await eventually(lambda: len(bp_rows(store)) == 1, 30, "130/85 stored")
            await sim.send(nibp(212, 124), stuck)  # same device time, new values
            await eventually(
                lambda: any(
                    e["rule"] == "bp.crisis" and e["event"] == "raised" for e in nurse.of("events")
                ),
                30,
                "bp.crisis raised for 212/124 " + daemon.output()[-2000:],
            )
            await sim.send(nibp(130, 85), stuck)  # the same values again, the clock stuck
            await eventually(lambda: len(bp_rows(store)) == 3, 30, "the re-measure taken")
        finally:
            assert daemon.stop() == 0, daemon.output()[-3000:]

    crisis = [e for e in nurse.of("events") if e["rule"] == "bp.crisis"]
    assert crisis[0]["value"]["sys_mmHg"] == 212
    ob = Outbox(tmp_path / "outbox.sqlite", StorageConfig(path=tmp_path / "x"), readonly=True)
    try:
        bps = [r for r, _ in ob.readings(CHAIR) if r.kind == Kind.BP]
        status = ob.get_state(f"chair/{CHAIR}")
    finally:
        ob.close()
    # every measurement taken, live; nothing dropped as a repeat
    assert [(r.values["sys_mmHg"], r.device_time, r.stored) for r in bps] == [
        (130, stuck, False),
        (212, stuck, False),
        (130, stuck, False),
    ]
    assert status["duplicate_bp_ignored"] == 0
    assert "repeat ignored" not in daemon.output()
