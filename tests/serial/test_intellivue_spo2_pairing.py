"""IntelliVue: the pulse of a SpO2 reading comes from the same SpO2 channel, although every
SpO2 channel reports its pulse under one physio id (NOM_PLETH_PULS_RATE 0x4822); and a
real monitor is never polled faster than every 500 ms.

Spec only: no public capture of a poll result with two SpO2 channels was found. The poll
results are built with the codec's encoder from the Guide's structures; the label values
(NLS_NOM_PULS_OXIM_PULS_RATE 0x00024822, NLS_SPO2_NAMES_PULS_OXIM_PULS_RATE_RIGHT
0x80155402 ...) are the Guide's, as the public OpenICE and VSCapture constant tables list
them.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import pytest
from serial_testkit import RecordingContext

from monitord.config import ConfigError, loads_config
from monitord.drivers import intellivue_frames as F
from monitord.drivers.intellivue import decode_frame
from monitord.drivers.intellivue_poll import IntelliVueOptions
from monitord.drivers.registry import DRIVERS
from monitord.drivers.serial_link import PortBackoff, run_serial_device
from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.intellivue import IntelliVueSim
from tests.kit import device_config

AT = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)
BPM, PCT = F.NOM_DIM_BEAT_PER_MIN, F.NOM_DIM_PERCENT
MAIN = F.NLS_NOM_PULS_OXIM_PULS_RATE
RIGHT = F.NLS_SPO2_NAMES_PULS_OXIM_PULS_RATE_RIGHT
LEFT = F.NLS_SPO2_NAMES_PULS_OXIM_PULS_RATE_LEFT


def spo2(value: float, label: int | None = F.NLS_NOM_PULS_OXIM_SAT_O2) -> F.Observation:
    return F.Observation(1, (F.ObservedValue(F.NOM_PULS_OXIM_SAT_O2, 0, PCT, value),), AT, label)


def spo2_right(value: float) -> F.Observation:
    v = F.ObservedValue(F.NOM_PULS_OXIM_SAT_O2_ART_RIGHT, 0, PCT, value)
    return F.Observation(2, (v,), AT, F.NLS_NOM_PULS_OXIM_SAT_O2_ART_RIGHT)


def pulse(value: float, label: int | None, handle: int = 3) -> F.Observation:
    v = F.ObservedValue(F.NOM_PLETH_PULS_RATE, 0, BPM, value)
    return F.Observation(handle, (v,), AT, label)


CASES = [
    ("main channel alone", [spo2(97), pulse(71, MAIN)], 71, []),
    (
        "second channel's pulse after ours",
        [spo2(97), pulse(71, MAIN), spo2_right(91), pulse(130, RIGHT, 4)],
        71,
        [],
    ),
    (
        "second channel's pulse before ours",
        [spo2_right(91), pulse(130, RIGHT, 4), spo2(97), pulse(71, MAIN)],
        71,
        [],
    ),
    (
        "three channels",
        [pulse(55, LEFT, 5), spo2(97), pulse(130, RIGHT, 4), pulse(71, MAIN)],
        71,
        [],
    ),
    ("only another channel's pulse", [spo2(97), pulse(130, RIGHT, 4)], None, []),
    ("unlabelled lone pulse", [spo2(97, None), pulse(71, None)], 71, []),
    (
        "unlabelled pulses of two channels",
        [spo2(97, None), pulse(71, None), pulse(130, None, 4)],
        None,
        ["pulse_bpm_ambiguous"],
    ),
    (
        "labelled ours beats unlabelled",
        [spo2(97), pulse(130, None, 4), pulse(71, MAIN)],
        71,
        [],
    ),
]


@pytest.mark.parametrize(
    ("what", "observations", "expected_pulse", "flags"), CASES, ids=[c[0] for c in CASES]
)
def test_spo2_pulse_of_the_same_channel(
    what: str, observations: list[F.Observation], expected_pulse: float | None, flags: list[str]
) -> None:
    out = decode_frame(F.frame(F.poll_result(1, 1, 1, AT, observations)))
    assert isinstance(out, list) and len(out) == 1, out
    rec = out[0]
    assert rec["kind"] == "spo2" and rec["spo2_pct"] == 97
    assert rec["pulse_bpm"] == expected_pulse and rec["status"] == flags
    assert rec["valid"] is True  # the SpO2 itself is sound either way


def test_labels_round_trip_in_the_codec() -> None:
    msg = F.decode_message(F.poll_result(1, 1, 1, AT, [spo2(97), pulse(71, RIGHT)]))
    assert isinstance(msg, F.Message)
    assert [o.label for o in msg.observations] == [F.NLS_NOM_PULS_OXIM_SAT_O2, RIGHT]


async def test_two_spo2_channels_over_a_pty(ctx: RecordingContext) -> None:
    """The simulated monitor reports a second SpO2 channel ("SpO2 r", pulse 130) after the
    main one (97 %, pulse 71): the reading carries the main channel's pulse."""
    sim = IntelliVueSim()
    sim.spo2_right = (91.0, 130.0)
    async with sim:
        dev = device_config(id="mon", driver="intellivue", port=sim.port, poll_interval_s=0.5)
        task = asyncio.create_task(
            run_serial_device(dev, DRIVERS["intellivue"], ctx, backoff=PortBackoff(0.05, 0.3))
        )
        try:
            await sim.send(SimEvent(Kind.SPO2, {"spo2_pct": 97, "pulse_bpm": 71}), AT)
            await ctx.until(lambda: bool(ctx.of(Kind.SPO2)), "SpO2 reading")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    r = ctx.of(Kind.SPO2)[0]
    assert dict(r.values) == {"spo2_pct": 97, "pulse_bpm": 71} and r.valid


@pytest.mark.parametrize("poll", [0.1, 0.499])
def test_real_monitor_poll_interval_below_500ms_refused(poll: float) -> None:
    text = (
        '[site]\nid = "s"\n'
        '[[chairs]]\nid = "chair-1"\n[[chairs.devices]]\nid = "mon"\ndriver = "intellivue"\n'
        f'port = "/dev/ttyUSB0"\npoll_interval_s = {poll}\n'
    )
    with pytest.raises(ConfigError) as e:
        loads_config(text, source="c.toml")
    assert e.value.lines == [
        f"c.toml: chairs[0].devices[0].poll_interval_s: {poll:g} s is faster than an "
        "IntelliVue accepts: at least 0.5 s"
    ]


def test_poll_interval_at_500ms_and_simulated_fast_polls_accepted() -> None:
    base = (
        '[site]\nid = "s"\n'
        '[[chairs]]\nid = "chair-1"\n[[chairs.devices]]\nid = "mon"\ndriver = "intellivue"\n'
    )
    cfg = loads_config(base + 'port = "/dev/ttyUSB0"\npoll_interval_s = 0.5\n')
    assert cfg.chairs[0].devices[0].settings_as(IntelliVueOptions).poll_interval_s == 0.5
    # a simulated monitor runs on a virtual clock (config/demo.toml polls every 2 ms)
    cfg = loads_config(base + 'simulate = "s.jsonl"\npoll_interval_s = 0.002\n')
    assert cfg.chairs[0].devices[0].settings_as(IntelliVueOptions).poll_interval_s == 0.002
