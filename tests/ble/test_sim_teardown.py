"""A simulated peripheral's teardown ends when its central left without disconnecting.

The central here is a bare bumble device that connects and then leaves the air: its
controller is taken off the link and its host never disconnects, as a driver whose
connect was cut short did before drivers/ble_link.py hung those up (2fdcad9). The
peripheral's disconnect then never completed, and `__aexit__` / `drop_link()` waited
until pytest's timeout. Now they close the peripheral's side themselves and say so.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest
from bumble.core import UUID
from bumble.device import Peer

from monitord.models import Kind
from monitord.simulators.base import SimEvent
from monitord.simulators.ble import SimCuff, SimOximeter, VirtualBleLink
from monitord.simulators.ble import devices as ble_devices
from monitord.simulators.ble.devices import _Peripheral

from .helpers import wait_until

# Far above the few seconds a teardown may now take, far below pytest's timeout (300 s).
HUNG_S = 10.0


async def vanishing_central(vlink: VirtualBleLink, sim: _Peripheral) -> Peer:
    """Connect a central to `sim`; the caller takes it off the air with `vlink.remove_device`."""
    central = vlink.new_device("vanishing-central")
    await central.power_on()
    connection = await central.connect(sim.address, timeout=5.0)
    await wait_until(lambda: sim.connection is not None, 5.0, "the peripheral connected")
    return Peer(connection)


def one_sided_closes(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == ble_devices.__name__ and r.levelno == logging.WARNING
    ]


async def test_exit_with_a_central_gone_from_the_air_ends_and_warns(
    vlink: VirtualBleLink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=ble_devices.__name__)
    async with asyncio.timeout(HUNG_S):  # before: hung here, in the disconnect
        async with SimOximeter("GoneOx", vlink) as ox:
            peer = await vanishing_central(vlink, ox)
            vlink.remove_device(peer.connection.device)
    assert ox.connection is None  # its side was closed: the host let go of it
    central = peer.connection.self_address.to_string(with_type_qualifier=False)
    assert one_sided_closes(caplog) == [
        f"SimOximeter 'GoneOx': connection from central {central} (handle 0x0001) closed "
        "on the peripheral's side only: it left the air without disconnecting"
    ]


async def test_drop_link_with_a_central_gone_ends_and_a_pending_indication_returns(
    vlink: VirtualBleLink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=ble_devices.__name__)
    ev = SimEvent(Kind.BP, {"sys_mmHg": 120.0, "dia_mmHg": 80.0, "pulse_bpm": 70.0})
    # before: drop_link hung (and the send 30 s more), then the exit did: a timeout
    # cancels once, so the exit has its own, after the inner one
    async with asyncio.timeout(2 * HUNG_S), SimCuff("GoneCuff", vlink) as cuff:
        async with asyncio.timeout(HUNG_S):
            peer = await vanishing_central(vlink, cuff)
            await peer.discover_all()  # type: ignore[no-untyped-call]
            [bpm] = peer.get_characteristics_by_uuid(UUID.from_16_bits(0x2A35))
            await peer.subscribe(bpm, lambda _value: None, prefer_notify=False)
            await wait_until(lambda: cuff.is_subscribed(cuff.bpm), 5.0, "indications on")
            vlink.remove_device(peer.connection.device)
            sending = asyncio.create_task(cuff.send(ev, datetime.now(UTC)))
            pending = cuff.device.gatt_server.pending_confirmations
            await wait_until(lambda: any(pending.values()), 5.0, "the indication sent")
            await cuff.drop_link()
            await sending
        assert cuff.connection is None
        assert cuff.indications_confirmed == 0  # nobody confirmed it: it is not counted
        # The peripheral is free again: back in the room, a new central connects to it.
        await cuff.restore_link()
        await vanishing_central(vlink, cuff)
    [warning] = one_sided_closes(caplog)
    assert warning.startswith("SimCuff 'GoneCuff': connection from central "), warning
    assert warning.endswith("it left the air without disconnecting"), warning


async def test_both_sides_hanging_up_at_once_is_one_disconnect_without_an_error(
    vlink: VirtualBleLink, caplog: pytest.LogCaptureFixture
) -> None:
    """`monitord demo` on Python 3.12/3.13 ended every run with "ERROR bumble.controller:
    Cannot find a connection for CE:00:00:00:00:06": at the stop the daemon's central (its
    device task's disconnect) and the simulated peripheral (its exit) hung up the same
    connection in the same turn of the loop; each controller sent a terminate, dropped the
    connection, then got the other's terminate for a connection it no longer had (3.11's
    task order happened to keep them apart). The second now waits for the first's."""
    caplog.set_level(logging.WARNING)
    ox = SimOximeter("BothOx", vlink)
    await ox.__aenter__()
    central = vlink.new_device("central")
    await central.power_on()
    connection = await central.connect(ox.address, timeout=5.0)
    await wait_until(lambda: ox.connection is not None, 5.0, "the peripheral connected")
    assert ox.connection is not None
    async with asyncio.timeout(HUNG_S):
        ends = await asyncio.gather(
            vlink.hang_up(ox.device, ox.connection), vlink.hang_up(central, connection)
        )
        await ox.__aexit__(None, None, None)
    assert list(ends) == [None, None]  # each side's connection ended, neither closed alone
    assert ox.connection is None
    assert [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING
    ] == []  # before: ERROR bumble.controller: Cannot find a connection for C...
