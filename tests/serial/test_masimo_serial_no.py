"""A Masimo's SN= read on noise: a byte error inside the serial number of one line (ASCII 1
carries no checksum, and the driver takes the line's reading: the SN= field is not one it
judges) must not be said as "the monitor on this port is now SN=..., was SN=...". Said on
noise, every noisy cable would give two such WARNINGs (the garbled number, then the real
one back), and staff learn to ignore the line that tells them two chairs' adapters were
swapped.

The errors are put into the real lines of tests/serial/test_masimo_captures.py, as
tests/serial/test_masimo_byte_errors.py does (no public capture shows a line with a byte
error); the protocol is the driver's own `MasimoProtocol.run`, fed a connection's bytes.
The swap itself (another monitor's SN= on every line) is still said once:
tests/serial/test_usb_replug.py, and below on a real pty.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from serial_testkit import RecordingContext
from test_masimo_byte_errors import _errors, _primed, _read
from test_masimo_captures import CAPTURES

from monitord.drivers.base import LinkLost, Measurement
from monitord.drivers.masimo_ascii import MasimoProtocol
from monitord.drivers.registry import DRIVERS
from monitord.drivers.serial_link import PortBackoff, run_serial_device
from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.masimo import MasimoSim, line
from tests.kit import device_config

SAID = "is now SN="
WITH_SN = [(s, t) for s, t, _ in CAPTURES if "SN=0" in t or "SN=2" in t]


class _Bytes:
    """One connection's bytes, as the transport hands them to a protocol (a ByteLink)."""

    def __init__(self, data: bytes) -> None:
        self._chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)]
        self.heard_n = 0

    async def read(self) -> bytes:
        if not self._chunks:
            raise LinkLost("end of the test's bytes")
        return self._chunks.pop(0)

    async def write(self, data: bytes) -> None:
        raise AssertionError("the Masimo driver never writes")

    def heard(self) -> None:
        self.heard_n += 1


def _sn_garbled(text: str) -> list[bytes]:
    """Every single-byte error of `text` inside its SN= number that the driver still takes
    as a reading (the ones that matter: a refused line says nothing of the monitor)."""
    sound = text.encode("ascii")
    start = sound.index(b"SN=") + 3
    end = sound.index(b" ", start)
    primed = _primed([sound])
    out: list[bytes] = []
    for _how, bad in _errors(sound):
        # the same line but for its SN= field (the error lies inside the number)
        if bad[:start] != sound[:start] or bad[-(len(sound) - end) :] != sound[end:]:
            continue
        got = _read(primed, bad)
        if len(got) == 1 and isinstance(got[0], Measurement):
            out.append(bad)
    return out


@pytest.mark.parametrize(("source", "text"), WITH_SN, ids=[f"line{i}" for i in range(len(WITH_SN))])
async def test_a_byte_error_in_the_serial_number_is_not_another_monitor(
    source: str, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Before: each of these lines said "now SN=<the garbled number>, was SN=<the monitor's>"
    # at WARNING, and the next sound line "now SN=<the monitor's>, was SN=<garbled>".
    caplog.set_level(logging.DEBUG, logger="monitord.drivers.masimo_ascii")
    sound = text.encode("ascii")
    garbled = _sn_garbled(text)
    assert len(garbled) > 50, (source, len(garbled))  # the driver takes them: they matter
    # one connection: the monitor's sound lines, each noisy line between two runs of them
    stream = b"".join(sound + b"\r\n" for _ in range(3))
    for bad in garbled:
        stream += bad + b"\r\n" + b"".join(sound + b"\r\n" for _ in range(3))
    link = _Bytes(stream)
    ctx = RecordingContext(device="ox")
    with pytest.raises(LinkLost):
        await MasimoProtocol().run(link, ctx)
    assert len(ctx.readings) == 3 + 4 * len(garbled)  # every line taken, as before
    said = [r.getMessage() for r in caplog.records if SAID in r.getMessage()]
    assert not said, (source, len(said), said[:2])


def _ev(spo2: int) -> SimEvent:
    return SimEvent(Kind.SPO2, {"spo2_pct": spo2, "pulse_bpm": 70}, contact=True)


async def test_one_noisy_line_on_a_real_port_is_not_said_a_swap_that_follows_is(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A Rad-8 on a real pty behind a by-id symlink: a digit of its serial number hit by
    # noise on one line (the line read, its SpO2 taken), then, later, the adapter
    # swapped with another chair's (the other monitor's number on every line).
    caplog.set_level(logging.DEBUG)
    by_id = tmp_path / "usb-FTDI_FT232R_USB_UART_A9XK1C2B-if00-port0"
    ctx = RecordingContext(device="ox")
    fast = PortBackoff(base_s=0.05, cap_s=0.3, missing_cap_s=0.1)
    ours, noisy, theirs = 56661, 56761, 77012

    def out(sn: int, spo2: int) -> bytes:
        return line(_ev(spo2), datetime.now(UTC).replace(microsecond=0), serial_no=sn)

    async def until_read(sim: MasimoSim, sn: int, spo2: int, n: int) -> None:
        for _ in range(100):
            sim.write(out(sn, spo2))
            await asyncio.sleep(0.05)
            if sum(r.values["spo2_pct"] == spo2 for r in ctx.readings) >= n:
                return
        raise AssertionError(f"no {n} readings of {spo2}: {ctx.links}")

    dev = device_config(id="ox", driver="masimo-ascii", port=str(by_id), silence_s=2.0)
    task = asyncio.create_task(run_serial_device(dev, DRIVERS[dev.driver], ctx, backoff=fast))
    try:
        async with MasimoSim(repeat=False, symlink=by_id) as sim:
            await until_read(sim, ours, 97, 4)
            await until_read(sim, noisy, 95, 1)  # the noisy line: its reading taken
            await until_read(sim, ours, 96, 4)
            noise_said = [r.getMessage() for r in caplog.records if SAID in r.getMessage()]
        await ctx.until(lambda: not ctx.link_up, "unplugged")
        async with MasimoSim(repeat=False, symlink=by_id) as other:  # the swapped adapter
            await until_read(other, theirs, 88, 4)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert not noise_said, noise_said
    said = [r for r in caplog.records if SAID in r.getMessage()]
    assert [r.levelname for r in said] == ["WARNING"], [r.getMessage() for r in said]
    assert f"now SN={theirs:010d}, was SN={ours:010d}" in said[0].getMessage()
