"""Issue 20: readings are group-committed every `storage.commit_interval_s` (5 s by
default, to keep SD-card writes low); alert events are committed at once. What a kill -9
(a crash) may cost, as stated in docs/reliability.md (a power loss may cost more: readings
commits are fsynced at least every 30 s, not each one; not tested here):

- no alert event that reached a subscriber is missing from the store (durable before
  published), and no reading that was published as a vital is missing either;
- the readings lost are at most the tail received in the last `commit_interval_s`: the
  stored readings are exactly the first ones sent (nothing lost in the middle), and every
  line sent longer ago than the window (plus a generous margin for the pty and the
  commit itself) is among them.

A real `monitord run` child, a Masimo oximeter on a pty fed line by line, the real
mosquitto; SIGKILL while lines are still arriving.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

from tests.e2e.e2e_kit import (
    CHAIR,
    FAST_SPO2_ALERT,
    NO_INFLUX,
    SITE,
    DaemonProcess,
    Oximeter,
    Store,
    in_thread,
    mqtt_section,
    whole_second,
    write_config,
)
from tests.kit import Observer, eventually
from tests.servers import Mosquitto

WINDOW_S = 2.0  # commit_interval_s of this test's daemon
MARGIN_S = 3.0  # pty, decoder, chair task and the commit itself, on a busy machine
PERIOD_S = 0.1  # one line every 100 ms
FIRST_PULSE = 100  # each counted line carries pulse FIRST_PULSE + its number: its identity


def stored_pulses(db: Path) -> list[int]:
    """The pulse of every committed SpO2 reading, in commit order (reading bodies are
    JSON arrays, values at index 3: monitord/store/codec.py)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = con.execute("SELECT body FROM records WHERE type = 'reading' ORDER BY id")
        return [int(json.loads(b)[3]["pulse_bpm"]) for (b,) in rows]
    finally:
        con.close()


async def test_kill9_loses_at_most_the_readings_window_and_no_published_alert(
    mosquitto: Mosquitto, mqtt_prefix: str, tmp_path: Path
) -> None:
    base = f"{mqtt_prefix}/{SITE}/{CHAIR}"
    cfg = write_config(
        tmp_path,
        mqtt=mqtt_section(mosquitto, mqtt_prefix),
        influx=NO_INFLUX,
        extra=f"commit_interval_s = {WINDOW_S}\n{FAST_SPO2_ALERT}",
    )
    db = tmp_path / "outbox.sqlite"
    store = Store(db)
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log")
    sent: list[float] = []  # monotonic time each counted line was written
    async with (
        Observer(mosquitto, [f"{base}/alerts/events", f"{base}/vitals/spo2"]) as nurse,
        Oximeter(tmp_path) as ox,
    ):

        async def line(spo2: float) -> None:
            await ox.send(spo2, whole_second(), pulse=FIRST_PULSE + len(sent))
            sent.append(time.monotonic())
            await asyncio.sleep(PERIOD_S)

        daemon.start()
        try:
            # The link is up once a line gets through (lines before the port opens are
            # lost, as on a real port): only then does this test count what it sends.
            for _ in range(300):
                await ox.send(97.0, whole_second(), pulse=70)
                if store.readings():
                    break
                await asyncio.sleep(0.1)
            assert store.readings() >= 1, daemon.output()
            # A window and a half of normal lines (a group commit of counted lines before
            # the alarm's; more of them proved nothing more, at 0.1 s each).
            for _ in range(int(1.5 * WINDOW_S / PERIOD_S)):
                await line(97.0)
            for _ in range(20):  # SpO2 80 for 2 s: spo2.very_low raises (for_s = 1)
                await line(80.0)
            await eventually(
                lambda: any(e["event"] == "raised" for e in nurse.of("alerts/events")),
                30,
                "spo2.very_low raised at a subscriber",
            )
            raised_at = len(sent)
            # More readings, the alarm still on, for 4 windows: only group commits store
            # these (an alert commit takes what is queued with it). Then the crash.
            for _ in range(int(4 * WINDOW_S / PERIOD_S)):
                await line(80.0)
            kill_at = time.monotonic()
            await in_thread(daemon.kill)
        finally:
            if daemon.alive:
                daemon.kill()
        await asyncio.sleep(0.5)  # the last QoS 0 vitals in flight reach the observer
        published_events = nurse.of("alerts/events")
        published_vitals = nurse.of("vitals/spo2")

    stored_events = {(e["alert_id"], e["event"]) for e in store.alert_events()}
    assert published_events
    for e in published_events:  # durable before published: nothing published is gone
        assert (e["alert_id"], e["event"]) in stored_events, e

    pulses = [p for p in stored_pulses(db) if p >= FIRST_PULSE]
    # Stored in order: what survived is the first len(pulses) lines sent, no gap.
    assert pulses == list(range(FIRST_PULSE, FIRST_PULSE + len(pulses))), pulses
    # Lost: only lines sent within the window (+ margin) before the kill.
    old_enough = sum(at <= kill_at - WINDOW_S - MARGIN_S for at in sent)
    assert old_enough >= raised_at + 20  # lines after the alert, older than the window
    assert len(pulses) >= old_enough, (len(pulses), old_enough, len(sent))
    # A vital published live was committed first.
    for v in published_vitals:
        assert int(v["pulse_bpm"]) in pulses or int(v["pulse_bpm"]) == 70, v
