"""A connection's first partial frame is counted as `noise` without a WARNING; noise later
on the same connection still warns once (drivers/reject.py `expected`).

An oximeter streams without a pause to sync on, so the port often opens mid-frame: a
healthy Nonin or Contec link logged one `noise` WARNING at every connect (and a Masimo
one for its first cut line), which teaches the operator to ignore the warning that
matters. Here the real transport reads a real pty whose first bytes are the tail of a
frame (a packet, a line), through a real chair's device context: the first reject is
`noise` at DEBUG, and bytes out of place after the link came up are warned of once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from monitord.chair import DeviceCtx, DeviceStatus
from monitord.drivers import contec_cms50, nonin2
from monitord.drivers.base import Reject, RejectReason
from monitord.drivers.registry import DRIVERS
from monitord.drivers.serial_link import PortBackoff, run_serial_device
from monitord.hub import Hub
from monitord.simulators._serial_base import SerialSim
from monitord.simulators.chair import PortOpened
from monitord.simulators.serial_sims import make_sim_device
from tests.kit import device_config, eventually, make_chair

NONIN = nonin2.packet_frames(72, 97)
CONTEC = contec_cms50.make_packet(97, 72)
# tests/serial/test_masimo_captures.py CAPTURES[0] (github.com/yahnatan/pulseox, a Rad-8)
RAD8 = (
    b"02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=097 PI=03.60% SPCO=--.-% "
    b"SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800\r\n"
)

# case: (driver, the first bytes read: a cut frame then whole ones; bytes out of place
# later, the first reject's reason)
CASES = {
    "nonin-2": ("nonin-2", NONIN[2:] + NONIN * 4, b"\x55\x22\x33" + NONIN * 2, "noise"),
    "contec-cms50": (
        "contec-cms50",
        CONTEC[2:] + CONTEC * 8,
        b"\x55\x22\x33" + CONTEC * 8,
        "noise",
    ),
    # after the first line, a line's tail is what it looks like (wrong_mode), and warned
    "masimo-ascii": ("masimo-ascii", RAD8[-8:] + RAD8, RAD8[-8:] + RAD8, "noise"),
    # the open cut before SPO2= (most places it cuts a line): the tail holds fields but
    # lacks SPO2=, bad_format; on the first line the open's doing, at DEBUG
    "masimo-ascii-fields": ("masimo-ascii", RAD8[-40:] + RAD8, RAD8[-40:] + RAD8, "bad_format"),
}


# Serial drivers whose port never opens mid-frame: the driver speaks first.
SPEAKS_FIRST = {"intellivue": "polled: nothing comes before the driver's association request"}


def test_every_streaming_serial_driver_has_a_case() -> None:
    """A streaming serial driver added to the registry and left out of CASES would warn of
    noise at every connect and nothing here would say so."""
    serial = {d.name for d in DRIVERS.values() if d.transport == "serial"}
    assert {c[0] for c in CASES.values()} | set(SPEAKS_FIRST) == serial, (
        f"add a case for the driver to CASES, or say in SPEAKS_FIRST why its port never "
        f"opens mid-frame; serial drivers: {sorted(serial)}"
    )


@pytest.mark.parametrize("case", list(CASES))
async def test_first_cut_frame_is_noise_at_debug_later_noise_warns(
    case: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="monitord")
    driver, first, later, reason = CASES[case]
    chair = make_chair(tmp_path, Hub())
    chair.devices["ox"] = st = DeviceStatus("ox", driver)
    ctx = DeviceCtx(chair, "ox")
    async with make_sim_device(driver, repeat=False) as sim:
        assert isinstance(sim, SerialSim)
        opened = PortOpened()
        # a pty carries no parity bit: every simulated device runs 8N1 (simulators/chair.py)
        dev = device_config(id="ox", driver=driver, port=sim.port, parity="N")
        fast = PortBackoff(base_s=0.05, cap_s=0.2)
        task = asyncio.create_task(
            run_serial_device(dev, DRIVERS[driver], ctx, backoff=fast, tap=opened)
        )
        try:
            await asyncio.wait_for(opened.event.wait(), 10)
            sim.write(first)
            await eventually(lambda: not chair.queue.empty(), 10, "a reading")
            sim.write(later)
            await eventually(lambda: sum(st.rejects.values()) == 2, 10, "the later reject")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    logged = [
        (r.levelno, r.getMessage()) for r in caplog.records if "rejected data" in r.getMessage()
    ]
    assert [level for level, _ in logged] == [logging.DEBUG, logging.WARNING], logged
    assert st.rejects[reason] >= 1, st.rejects


def _noise(items: list[object]) -> list[tuple[RejectReason, bool]]:
    return [(x.reason, x.expected) for x in items if isinstance(x, Reject)]


@pytest.mark.parametrize(
    ("reader", "cut", "whole"),
    [
        (nonin2.FrameReader, NONIN[1:5], NONIN[:5]),
        (contec_cms50.PacketReader, CONTEC[1:], CONTEC),
    ],
)
def test_only_a_first_run_shorter_than_a_frame_is_expected(
    reader: Callable[[], nonin2.FrameReader | contec_cms50.PacketReader], cut: bytes, whole: bytes
) -> None:
    """The rest of one frame before the first: expected. As long as a frame, or after
    the first frame: noise on the line, warned of (a wrong baud rate's garbage too)."""
    got = _noise(list(reader().feed(cut + whole + b"\x22\x33" + whole)))
    assert got == [(RejectReason.NOISE, True), (RejectReason.NOISE, False)]
    assert _noise(list(reader().feed(b"\x22" * len(whole) + whole))) == [
        (RejectReason.NOISE, False)
    ]
