"""What every simulated device offers to the scenario player.

A scenario (design.md section 5) is played per chair: the player turns each `bp`, `hr` and
`spo2` event into a `SimEvent` and hands it to the simulated device whose `kinds` include it;
`device_lost` / `device_back` become `drop_link()` / `restore_link()`. The device encodes the
event in its real wire format (a serial line or frame on a pty, a BLE notification) so the
daemon's real transport and decoder path is exercised unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from monitord.models import Kind


@dataclass(frozen=True, slots=True)
class SimEvent:
    kind: Kind
    # scenario fields with units: sys_mmHg, dia_mmHg, map_mmHg, pulse_bpm, hr_bpm, spo2_pct
    values: dict[str, float | None] = field(default_factory=dict)
    error: bool = False  # a cuff error reading (bp)
    contact: bool | None = None  # hr contact / spo2 probe (False = off)


class SimDevice(Protocol):
    """A running simulated device. Use as `async with`: entering starts it."""

    kinds: tuple[Kind, ...]

    async def __aenter__(self) -> SimDevice: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def send(self, ev: SimEvent, at: datetime) -> None:
        """Emit one measurement stamped (where the wire format has a clock) with `at`."""
        ...

    async def drop_link(self) -> None:
        """Make the link go away as a real unplug/disconnect would."""
        ...

    async def restore_link(self) -> None: ...
