"""The local annunciator (issue 16): which pattern for which state, the command path for
real (a script that appends its argument and $MONITORD_ANNUNCIATOR to a file), and the
GPIO path.

GPIO: this kernel offers no gpio-sim (no configfs at /sys/kernel/config), so the GPIO
path runs against a fake chip: an object implementing the part of the gpiod v2 API the
annunciator uses (`request_lines(...)` -> a line request with `set_value(line, Value)` and
`release()`), injected as `gpio_opener`. The real binding's `open_gpio` is checked against
a chip path that does not exist: one clear ERROR line, and the daemon goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from gpiod.line import Value

from monitord import annunciator
from monitord.annunciator import Annunciator, Pattern, decide
from monitord.config import AnnunciatorConfig, ConfigError, loads_config
from monitord.daemon import Daemon
from monitord.delivery import KEY as DELIVERY_KEY
from monitord.models import Kind
from monitord.receipts import SETTLE_S, Receipts
from monitord.techalarm import TechAlarms
from tests.faults.writerkit import reading, running, two_chairs
from tests.heard.heard_kit import annunciator_script, patterns
from tests.kit import eventually
from tests.servers import Mosquitto


def test_patterns_distinguish_high_from_technical() -> None:
    # delivery failing with a high alert active: high; failing alone: technical
    assert decide(failing=True, high_active=True, any_active=True, station_online=True) == "high"
    assert decide(True, False, True, True) == "technical"
    assert decide(True, False, False, True) == "technical"
    # no station online while an alert is active: technical, even if delivery works
    assert decide(False, True, True, False) == "technical"
    assert decide(False, False, False, False) == "off"
    assert decide(False, True, True, True) == "off"
    assert decide(False, True, True, None) == "off"  # no MQTT: nothing to say about stations


def test_gpio_flash_rates_are_iec_60601_1_8s() -> None:
    """Visual alarm signals (IEC 60601-1-8, as the station's tiles flash: docs/station.md):
    high priority 1.4-2.8 Hz, medium 0.4-0.8 Hz (`technical`), 20-60 % on. `high` blinked
    at 4 Hz."""
    for pattern, (lo, hi) in {"high": (1.4, 2.8), "technical": (0.4, 0.8)}.items():
        cycle = annunciator._CYCLES[pattern]
        hz = 1 / (len(cycle) * annunciator.TICK_S)
        assert lo <= hz <= hi, (pattern, hz)
        assert 0.2 <= sum(cycle) / len(cycle) <= 0.6, pattern


class FakeLineRequest:
    """A gpiod v2 LineRequest stand-in recording each level written."""

    def __init__(self) -> None:
        self.levels: list[bool] = []
        self.at: list[float] = []  # time.monotonic() of each write (the loop's clock)
        self.released = False

    def set_value(self, line: int, value: Any) -> None:
        assert line == 17
        self.levels.append(value == Value.ACTIVE)
        self.at.append(time.monotonic())

    def release(self) -> None:
        self.released = True


def runs(levels: list[bool]) -> list[int]:
    """Lengths of the runs of equal levels, the first and last (partial) ones dropped."""
    out: list[int] = []
    n = 1
    for a, b in itertools.pairwise(levels):
        if a == b:
            n += 1
        else:
            out.append(n)
            n = 1
    return out[1:]


def edges(req: FakeLineRequest, start: int, end: int) -> tuple[list[bool], list[float]]:
    """The levels written in [start, end) and the gaps between consecutive writes (s)."""
    at = req.at[start:end]
    return req.levels[start:end], [b - a for a, b in itertools.pairwise(at)]


async def test_gpio_blinks_fast_for_high_slow_for_technical_and_holds_off() -> None:
    """Each write is an edge: `high` holds each level 2 ticks (2 Hz), `technical` each
    1 s. The task wakes at the edges only: it woke every tick (8 a second) for `technical`
    too, writing the same level 8 times."""
    req = FakeLineRequest()
    opened: list[tuple[str, int]] = []

    def opener(chip: str, line: int) -> tuple[FakeLineRequest, Any, Any]:
        opened.append((chip, line))
        return req, Value.ACTIVE, Value.INACTIVE

    state: list[Pattern] = ["high"]
    ann = Annunciator(
        AnnunciatorConfig(gpio_chip="/dev/gpiochip0", gpio_line=17),
        lambda: state[0],
        gpio_opener=opener,
    )
    task = asyncio.create_task(ann.run())
    try:
        await eventually(lambda: len(req.levels) >= 10, 10, "high edges")
        n_high = len(req.levels)
        state[0] = "technical"
        ann.poke()
        await eventually(lambda: ann.pattern == "technical", 10, "technical")
        n_tech, turns = len(req.levels), ann.turns
        await eventually(lambda: len(req.levels) >= n_tech + 3, 20, "technical edges")
        n_end, technical_turns = len(req.levels), ann.turns - turns
        state[0] = "off"
        await eventually(lambda: ann.pattern == "off", 10, "off")
        n = len(req.levels)
        await asyncio.sleep(0.6)  # ~5 ticks of a blink
        off = req.levels[n - 1 :]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert opened == [("/dev/gpiochip0", 17)]
    high, high_gaps = edges(req, 0, n_high)
    assert set(runs(high)) == {1}, high  # an edge per write
    assert min(high_gaps) >= 0.2, high_gaps  # every 250 ms: 2 Hz (4 Hz before)
    technical, tech_gaps = edges(req, n_tech - 1, n_end)
    assert set(runs(technical)) == {1}, technical  # an edge per write, no repeated level
    assert min(tech_gaps) >= 0.95, tech_gaps  # 1 s on, 1 s off
    assert technical_turns <= (n_end - n_tech) + 1, technical_turns  # woken at edges only
    assert off == [False], off  # a steady level is written once, not every tick
    assert req.released and req.levels[-1] is False  # left inactive on stop


async def test_gpio_chip_that_does_not_exist_is_one_error_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ann = Annunciator(
        AnnunciatorConfig(gpio_chip="/dev/gpiochip-none", gpio_line=3), lambda: "high"
    )
    caplog.set_level(logging.DEBUG, "monitord.annunciator")
    task = asyncio.create_task(ann.run())
    await eventually(lambda: ann.changes == 1, 5)
    await asyncio.sleep(0.5)  # several ticks, each retrying the open
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "/dev/gpiochip-none line 3" in errors[0].getMessage()
    assert "annunciator.gpio_chip" in errors[0].getMessage()


async def test_command_runs_once_per_change_with_the_pattern(tmp_path: Path) -> None:
    out = tmp_path / "calls"
    script = tmp_path / "buzz.sh"
    script.write_text(f'#!/bin/sh\necho "$1 $MONITORD_ANNUNCIATOR" >> "{out}"\n')
    script.chmod(0o755)
    state: list[Pattern] = ["off"]
    ann = Annunciator(AnnunciatorConfig(command=[str(script)]), lambda: state[0])
    task = asyncio.create_task(ann.run())
    try:
        for p in ("technical", "high", "off"):
            state[0] = p
            ann.poke()  # as the daemon does on each change (else the 5-s backstop look)

            def sounded(p: str = p) -> bool:
                return out.exists() and out.read_text().endswith(f"{p} {p}\n")

            await eventually(sounded)
        await asyncio.sleep(0.5)  # unchanged state: no more calls
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert out.read_text().splitlines() == ["technical technical", "high high", "off off"]


def test_annunciator_config_is_checked() -> None:
    base = '[site]\nid = "s"\n[[chairs]]\nid = "chair-1"\n'
    cfg = loads_config(base + '[annunciator]\ncommand = ["/usr/bin/aplay", "tone.wav"]\n')
    assert cfg.annunciator.command == ["/usr/bin/aplay", "tone.wav"]
    with pytest.raises(ConfigError, match="gpio_chip and gpio_line go together"):
        loads_config(base + '[annunciator]\ngpio_chip = "/dev/gpiochip0"\n')
    with pytest.raises(ConfigError, match=r"annunciator\.command"):
        loads_config(base + "[annunciator]\ncommand = []\n")


async def test_an_idle_annunciator_sleeps_and_looks_at_once_when_poked() -> None:
    """It looked 8 times a second before (+0.27 % of a core for a 1-chair daemon in the
    CPU bench, over half a chair's budget: bench/results.md); now it waits for a poke, and
    looks unasked every LOOK_S (5 s) as a backstop."""
    state: list[Pattern] = ["off"]
    ann = Annunciator(AnnunciatorConfig(command=["/bin/true"]), lambda: state[0])
    task = asyncio.create_task(ann.run())
    try:
        await eventually(lambda: ann.turns >= 1)
        before = ann.turns
        await asyncio.sleep(1.6)
        idle = ann.turns - before
        state[0] = "high"
        ann.poke()
        for _ in range(3):
            await asyncio.sleep(0)
        poked = ann.pattern
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert idle <= 1, idle  # 12 or 13 before
    assert poked == "high"  # within a loop turn or two, not at the next look


async def test_the_daemon_pokes_its_annunciator_on_each_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A technical alarm raised and cleared, a chair's active set and a station's status
    each reach the annunciator's command without its once-a-second look (a minute here)."""
    monkeypatch.setattr(annunciator, "LOOK_S", 60.0)
    section, out = annunciator_script(tmp_path)
    alerts = '"spo2.very_low" = { for_s = 0 }\n'
    daemon = Daemon(loads_config(two_chairs(tmp_path, "poke", alerts=alerts) + section))
    async with running(daemon):
        await eventually(lambda: daemon.annunciator.turns >= 1, what="the first look")
        daemon.alarms.raise_(DELIVERY_KEY, "a test: the broker is unreachable")
        await eventually(lambda: patterns(out) == ["technical"], 5, "technical")
        # a high alert while delivery fails, through the chair's commit and the hub
        daemon.chairs["chair-a"].submit(reading("chair-a", Kind.SPO2, {"spo2_pct": 80.0}))
        await eventually(lambda: patterns(out) == ["technical", "high"], 5, "high")
        daemon.alarms.clear(DELIVERY_KEY, "a test: delivered again")
        await eventually(lambda: patterns(out)[-1:] == ["off"], 5, "off")
        # the alert still active and the only station going offline (MQTT is off here:
        # its statuses are handed over as the sink would)
        daemon.receipts.subscribed_at = time.monotonic() - 10
        daemon.receipts.station_status("station-1", b'{"state": "offline"}')
        await eventually(lambda: patterns(out)[-1:] == ["technical"], 5, "no station")
        daemon.receipts.station_status("station-1", b'{"state": "online"}')
        await eventually(lambda: patterns(out)[-1:] == ["off"], 5, "a station")
    assert patterns(out) == ["technical", "high", "off", "technical", "off"]


async def test_an_alarm_on_a_working_link_costs_the_annunciator_no_wake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pattern follows the chairs' active sets only while delivery fails or no station
    is online; otherwise it is `off` whatever is active, so an alert raised and cleared
    does not wake the annunciator (it was poked on every change of an active set). Once no
    station is online an alert raised afterwards still turns it `technical`."""
    monkeypatch.setattr(annunciator, "LOOK_S", 60.0)
    section, out = annunciator_script(tmp_path)
    alerts = '"spo2.very_low" = { for_s = 0, clear_for_s = 0, latching = false }\n'
    daemon = Daemon(loads_config(two_chairs(tmp_path, "quiet", alerts=alerts) + section))
    chair = daemon.chairs["chair-a"]

    def alert(on: bool) -> None:
        chair.submit(reading("chair-a", Kind.SPO2, {"spo2_pct": 80.0 if on else 97.0}))

    async with running(daemon):
        await eventually(lambda: daemon.annunciator.turns >= 1, what="the first look")
        daemon.receipts.subscribed_at = time.monotonic() - 10  # MQTT is off here
        turns = daemon.annunciator.turns
        daemon.receipts.station_status("station-1", b'{"state": "online"}')
        await eventually(lambda: daemon.annunciator.turns > turns, 5, "the station's poke")
        turns = daemon.annunciator.turns
        alert(True)
        await eventually(lambda: bool(chair.active), 5, "the alert raised")
        alert(False)
        await eventually(lambda: not chair.active, 5, "the alert cleared")
        await asyncio.sleep(0.2)
        quiet = daemon.annunciator.turns - turns
        daemon.receipts.station_status("station-1", b'{"state": "offline"}')
        alert(True)
        await eventually(lambda: patterns(out) == ["technical"], 5, "no station, an alert")
        alert(False)
        await eventually(lambda: patterns(out) == ["technical", "off"], 5, "cleared")
    assert quiet == 0, quiet


def test_technical_alarms_and_station_statuses_tell_their_listener() -> None:
    told: list[str] = []
    alarms = TechAlarms()
    alarms.on_change = lambda: told.append("alarm")
    alarms.raise_("delivery", "down")
    alarms.raise_("delivery", "down for longer")  # the text only: not a change
    alarms.clear("delivery", "up")
    alarms.clear("delivery", "up")  # not active: nothing
    receipts = Receipts(10.0)
    receipts.on_stations = lambda: told.append("station")
    receipts.station_status("station-1", b'{"state": "online"}')
    receipts.station_status("station-1", b"")
    assert told == ["alarm", "alarm", "station", "station"]


async def test_no_station_online_is_told_once_the_statuses_had_time_to_arrive(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An alert active and no station online: `technical`, but only once the stations'
    retained statuses had SETTLE_S to arrive after the daemon subscribed. The sink's timer
    tells the annunciator then; its own look (a minute here) does not find it."""
    monkeypatch.setattr(annunciator, "LOOK_S", 60.0)
    section, out = annunciator_script(tmp_path)
    alerts = '"spo2.very_low" = { for_s = 0 }\n'
    mqtt = (
        f'host = "{mosquitto.host}"\nport = {mosquitto.port}\nprefix = "{mqtt_prefix}"\n'
        "receipt_timeout_s = 600"  # no `delivery.unheard` in this test
    )
    daemon = Daemon(
        loads_config(two_chairs(tmp_path, "settle", alerts=alerts, mqtt=mqtt) + section)
    )
    async with running(daemon):
        await eventually(lambda: daemon.receipts.subscribed_at is not None, 10, "subscribed")
        subscribed = daemon.receipts.subscribed_at
        assert subscribed is not None
        daemon.chairs["chair-a"].submit(reading("chair-a", Kind.SPO2, {"spo2_pct": 80.0}))
        await eventually(lambda: bool(daemon.chairs["chair-a"].active), 5, "the alert")
        assert daemon.receipts.any_online(time.monotonic()) is None  # still settling
        assert "technical" not in patterns(out)
        await eventually(lambda: patterns(out)[-1:] == ["technical"], 5, "no station online")
        assert time.monotonic() - subscribed >= SETTLE_S
