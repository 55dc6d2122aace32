"""A device removed or renamed in the config while the daemon was down.

`tech.device_lost` clears when the link is back (clinical-rules.md); a device no longer in
the config has no link to come back. Before, its alert was restored at the start and
escalated for ever (an ack only stops the escalation: nothing could clear it; the station
showed it as long as the chair ran), and a link wait restored for it raised one after the
start. Now the chair retires it first thing: the wait ends, the alert clears, said as such
("no longer in this chair's config"), and a WARNING names the device.

Engine part (each kind of restored state), then a real `monitord run` restarted with the
device renamed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monitord.engine import AlertEngine, Link
from tests.e2e.e2e_kit import DaemonProcess, Store
from tests.faults.clock_kit import events, started, write_config
from tests.kit import eventually

C = "chair-1"
GONE = "Device {}: no longer in this chair's config, cleared"


def monitors(store: Store) -> list[dict[str, Any]]:
    """`monitor`'s tech.device_lost events, in commit order."""
    return [e for e in events(store, "tech.device_lost") if e["value"]["device"] == "monitor"]


def test_a_retired_device_ends_its_wait_and_clears_its_alert() -> None:
    eng = AlertEngine()
    eng.feed(Link(0.0, C, "cuff", False))  # tech.device_lost raised at 30
    eng.advance(40.0)
    eng.feed(Link(50.0, C, "ox", False))  # its wait, due at 80
    eng = AlertEngine.restore(eng.snapshot())
    eng.resume(60.0)
    assert eng.link_devices(C) == {"cuff", "ox"}

    out = eng.feed(Link(60.0, C, "cuff", True, retired=True))
    out += eng.feed(Link(60.0, C, "ox", True, retired=True))
    assert [(e.event, e.value["device"], e.message) for e in out] == [
        ("cleared", "cuff", GONE.format("cuff"))
    ]
    assert eng.link_devices(C) == set() and eng.active(C) == []
    assert eng.advance(2000.0) == []  # no escalation, no raise for `ox`


async def test_a_renamed_device_lost_before_the_restart_is_cleared_not_escalated(
    tmp_path: Path,
) -> None:
    # Both ports never exist: `monitor` is lost in the first run, then renamed `spo2`
    # (the biomed relabelled it) while the daemon is down. Escalation every 2 s, so the
    # old code's "for ever" shows within the test.
    alerts = '[alerts]\n"tech.device_lost" = { after_s = 2, escalate_s = 2 }\n'
    store = Store(tmp_path / "outbox.sqlite")
    daemon = DaemonProcess(
        write_config(tmp_path, {"monitor": str(tmp_path / "a.tty")}, alerts),
        tmp_path / "daemon.log",
    )
    try:
        daemon.start()
        await eventually(
            lambda: events(store, "tech.device_lost", "raised"), 60, "monitor's device_lost"
        )
        daemon.stop()
        first = monitors(store)  # run 1's, all of them (stopped)
        write_config(tmp_path, {"spo2": str(tmp_path / "b.tty")}, alerts)
        daemon.start()
        await eventually(
            lambda: any(
                e["value"]["device"] == "spo2" for e in events(store, "tech.device_lost", "raised")
            ),
            60,
            "spo2's device_lost",
        )
        start2 = started(store)
        # Two escalation intervals past the restart's raise for `spo2`: the old code
        # escalated `monitor`'s alert meanwhile.
        await eventually(
            lambda: (
                len(
                    [
                        e
                        for e in events(store, "tech.device_lost", "escalated")
                        if e["value"]["device"] == "spo2"
                    ]
                )
                >= 2
            ),
            60,
            "spo2's alert escalating",
        )
    finally:
        daemon.stop()

    log = daemon.output()
    assert "Traceback" not in log, log
    mon = monitors(store)
    second = mon[len(first) :]
    assert [e["event"] for e in first][:1] == ["raised"], mon
    # Run 2: cleared at its start, said as such; nothing else of `monitor` after it.
    assert [(e["event"], e["message"]) for e in second] == [("cleared", GONE.format("monitor"))], (
        second
    )
    assert float(second[0]["t"]) >= start2 - 1, (second, start2)
    assert "chair-1/monitor: no longer in this chair's config (removed or renamed)" in log, log
