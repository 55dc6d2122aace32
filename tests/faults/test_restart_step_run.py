"""A restart with a wall-clock step not followed because an SpO2 confirmation run was going
(clinical-rules.md "Confirmation" and "Delivery of alarms"; docs/reliability.md "Timestamps
on a Pi without RTC").

A chair with no session open and no timer pending may take the wall clock at a start
(`WallClock`'s `idle`), but an HR/SpO2 run is no timer: live, the chair clock does not
follow a step while one is going (tests/test_chair_clock_step_run.py), and the restart
took the step at once. Samples a second apart across a quick restart were then the step
apart to the engine, the run restarted, and the alarm came up to `for` seconds late
(300 s for hr.high), on a chair whose patient had been desaturating all along.

A real `monitord run` under a steppable wall clock (libfaketime, tests/faults/clock_kit.py)
booted 3 h behind, a Masimo oximeter on a pty at SpO2 88 % once a second (spo2.low, its
`for` raised to 45 s so the run spans the restart), NTP's step while the run goes, then
`systemctl restart` (SIGTERM, start again at once).
"""

from __future__ import annotations

from pathlib import Path

from tests.e2e.e2e_kit import LiveFeed, Oximeter, Store, in_thread, port_path
from tests.faults.clock_kit import daemon_behind, events, write_config
from tests.kit import eventually

BEHIND_S = 3 * 3600
FOR_S = 45
GAP_S = 10.0  # samples further apart restart a run (clinical-rules.md)


async def test_a_restart_keeps_a_step_not_followed_while_an_spo2_run_goes(
    tmp_path: Path,
) -> None:
    cfg = write_config(
        tmp_path,
        {"ox": str(port_path(tmp_path))},
        f'commit_interval_s = 0.5\n[alerts."spo2.low"]\nfor_s = {FOR_S}\n',
    )
    store = Store(tmp_path / "outbox.sqlite")
    wall, daemon = daemon_behind(tmp_path, cfg, BEHIND_S)

    def lows() -> list[float]:
        return [
            r["received_at"] / 1e9
            for r in store.reading_rows()
            if r["values"].get("spo2_pct") == 88 and r["valid"]
        ]

    async with Oximeter(tmp_path) as ox, LiveFeed(ox, spo2=88.0):
        daemon.start()
        try:
            await eventually(lambda: len(lows()) >= 3, 30, "low SpO2 stored")
            wall.set(0)  # NTP steps the wall clock right while the run goes
            await eventually(lambda: "off the chair clock" in daemon.output(), 20, "step seen")
            await in_thread(daemon.stop)
            before = lows()
            daemon.start()
            await eventually(lambda: len(lows()) >= len(before) + 3, 30, "lows after restart")
            await eventually(
                lambda: events(store, "spo2.low", "raised"), FOR_S + 30, "spo2.low raised"
            )
        finally:
            await in_thread(daemon.stop)
    log = daemon.output()
    assert "Traceback" not in log, log
    after = lows()[len(before) :]
    # The step was not followed before the stop: the run was going (the precondition).
    assert "followed" not in log.split("off the chair clock")[0], log
    # The chair clock goes on across the restart in its own frame, by the time down, not
    # the 3-h step (before: the first sample after the restart was 3 h after the last).
    gap = after[0] - before[-1]
    assert 0 < gap < 60, gap
    (raised,) = events(store, "spo2.low", "raised")
    assert raised["t"] > before[-1]  # raised after the restart: the run spanned it
    if gap <= GAP_S:  # a restart slower than that restarts the run, by the rule
        # The run went on from the first low sample: raised FOR_S after it, not after the
        # restart (before, its since_t was the first sample after the restart).
        # (The store keeps receive times in ns: equal to the microsecond.)
        assert abs(raised["value"]["since_t"] - lows()[0]) < 1e-6, (raised, lows()[:2])
