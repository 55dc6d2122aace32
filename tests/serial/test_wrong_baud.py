"""A monitor whose baud rate was changed in its menu: what the port then delivers, and
what the operator is told (a real pty, the real transport and protocols).

The bytes are the monitor's own output as a UART at the driver's rate receives it when
the monitor sends at another rate: its 8N1 bit stream sampled from each falling edge at
the middle of the receiver's bit times, a byte whose stop bit reads 0 (a framing error)
delivered as NUL (termios(3): IGNPAR and PARMRK unset, as pyserial leaves them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from serial_testkit import RecordingContext

from monitord.drivers.registry import DRIVERS
from monitord.drivers.serial_link import LinkError, PortBackoff, run_serial_device
from monitord.models import Kind
from monitord.simulators._serial_base import SerialSim
from monitord.simulators.base import SimEvent
from monitord.simulators.masimo import MasimoSim, line
from monitord.simulators.nonin import NoninSim, packet
from tests.kit import device_config


def at_other_baud(data: bytes, sent_baud: int, read_baud: int) -> bytes:
    """What a UART reading at `read_baud` delivers of `data` sent at `sent_baud` (both 8N1)."""
    bits: list[int] = []
    for byte in data:
        bits += [0, *((byte >> i) & 1 for i in range(8)), 1]  # start, LSB first, stop
    bits += [1] * 20  # idle

    def level(t: float) -> int:
        i = int(t * sent_baud)
        return bits[i] if i < len(bits) else 1

    step, bit = 1 / (16 * sent_baud), 1 / read_baud
    end, t, out = len(bits) / sent_baud, 0.0, bytearray()
    while t < end:
        if level(t) == 1 or level(t - step) == 0:  # not a falling edge
            t += step
            continue
        if level(t + bit / 2) == 1:  # a glitch, not a start bit
            t += step
            continue
        value = sum(level(t + (k + 1.5) * bit) << k for k in range(8))
        out.append(value if level(t + 9.5 * bit) == 1 else 0)  # framing error: NUL
        t += 9.5 * bit  # the next start is looked for from the stop bit's middle
    return bytes(out)


def _masimo(sim: SerialSim) -> bytes:
    ev = SimEvent(Kind.SPO2, {"spo2_pct": 96, "pulse_bpm": 74}, contact=True)
    return line(ev, datetime.now(UTC).replace(microsecond=0))


def _nonin(sim: SerialSim) -> bytes:
    ev = SimEvent(Kind.SPO2, {"spo2_pct": 96, "pulse_bpm": 74}, contact=True)
    return packet(ev)


@pytest.mark.parametrize(
    ("driver", "sim_cls", "output", "sent_baud"),
    [
        ("masimo-ascii", MasimoSim, _masimo, 19200),
        ("masimo-ascii", MasimoSim, _masimo, 4800),
        ("nonin-2", NoninSim, _nonin, 19200),
    ],
)
async def test_a_monitor_at_another_baud_rate_is_told_the_rate_it_is_read_at(
    driver: str,
    sim_cls: type[SerialSim],
    output: Callable[[SerialSim], bytes],
    sent_baud: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Before: one WARNING "bytes arrive but no data decodes: check baudrate/parity/stopbits
    # match the device's output settings", naming no rate: the engineer at the monitor's
    # menu had to look up the config and the driver's defaults to know what to set.
    caplog.set_level(logging.DEBUG)
    ctx = RecordingContext(device="ox")
    make = output
    fast = PortBackoff(base_s=0.05, cap_s=0.3)
    async with sim_cls(repeat=False) as sim:
        dev = device_config(id="ox", driver=driver, port=sim.port, silence_s=0.5)
        task = asyncio.create_task(run_serial_device(dev, DRIVERS[driver], ctx, backoff=fast))
        try:
            # the monitor's own output, at its new rate, for three lost sessions
            for _ in range(400):
                sim.write(at_other_baud(make(sim), sent_baud, 9600))
                downs = [r for r in caplog.records if LinkError.GARBLED.value in r.getMessage()]
                if len(downs) >= 3:
                    break
                await asyncio.sleep(0.05)
            assert not ctx.readings and not any(up for up, _ in ctx.links), ctx.links
            assert ctx.links and "no data decoded" in ctx.links[0][1], ctx.links
            # the menu set back: the next whole output brings the link up with its reading
            for _ in range(100):
                sim.write(make(sim))
                if ctx.readings:
                    break
                await asyncio.sleep(0.1)
            await ctx.until(lambda: ctx.link_up and bool(ctx.of(Kind.SPO2)), "up, reading")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    told = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name == "monitord.drivers.serial_link"
    ]
    # one line for the outage, with the rate to set on the monitor
    assert len(told) == 1, told
    assert LinkError.GARBLED.value in told[0] and "read at 9600 8N1" in told[0], told
    assert {r.values["spo2_pct"] for r in ctx.of(Kind.SPO2)} == {96}
