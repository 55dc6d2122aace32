"""Hanging up a BLE connection (drivers/ble_link.py's module docstring, "Every connect that
does not come up ... is hung up"): shielded from a stop, bounded, said once per outage."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from bleak import BleakClient

from monitord.aio import within
from monitord.drivers.base import DeviceContext

log = logging.getLogger("monitord.drivers.ble_link")


class _Timing(Protocol):
    @property
    def disconnect_timeout_s(self) -> float: ...


class Session(Protocol):
    """What a hang-up needs of the link's per-device session (ble_link._Session)."""

    ctx: DeviceContext
    hang_up_warned: bool

    @property
    def timing(self) -> _Timing: ...


# Hang-ups still running after their caller was stopped (the loop keeps weak references).
_hanging_up: set[asyncio.Future[None]] = set()


async def hang_up(
    s: Session, client: BleakClient, connecting: asyncio.Future[None] | None = None
) -> None:
    """Disconnect `client`, shielded (a stop while it runs does not abandon it) and
    bounded by `disconnect_timeout_s` (a stack that never answers does not hold the link).
    `connecting`: a connect cut short, whose own clean-up (bleak's, the backend's) is let
    finish first so the disconnect does not race it."""
    job = asyncio.ensure_future(_disconnect(s, client, connecting))
    _hanging_up.add(job)
    job.add_done_callback(_hanging_up.discard)
    try:
        await asyncio.shield(job)
    except asyncio.CancelledError:
        # A second stop (the daemon's task group ending) is passed on once the bounded
        # hang-up is done: left in the background, asyncio.run cancelled it as it closed
        # the loop and the link stayed up (the device not advertising for the next start).
        await asyncio.wait({job})
        raise


async def _disconnect(
    s: Session, client: BleakClient, connecting: asyncio.Future[None] | None
) -> None:
    limit = s.timing.disconnect_timeout_s
    if connecting is not None:
        await asyncio.wait({connecting}, timeout=limit)
        if connecting.done() and not connecting.cancelled():
            connecting.exception()  # retrieved: the caller already has its own error
    try:
        await within(client.disconnect(), limit)
    except TimeoutError:
        # The device may still be connected to this hub (and not advertising): said once
        # per outage, as the link's own errors are.
        log_at = logging.DEBUG if s.hang_up_warned else logging.WARNING
        s.hang_up_warned = True
        log.log(
            log_at,
            "%s/%s: disconnect from %s not done in %g s; it may stay connected to this hub",
            s.ctx.chair,
            s.ctx.device,
            client.address,
            limit,
        )
    except Exception as e:  # mostly: already disconnected
        log.debug("%s/%s: disconnect: %s: %s", s.ctx.chair, s.ctx.device, type(e).__name__, e)
