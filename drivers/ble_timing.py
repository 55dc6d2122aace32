"""A BLE link's real-time knobs and its backoff between attempts (drivers/ble_link.py;
each error class's base and cap are in drivers/ble_errors.py)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from monitord.backoff import capped_delay
from monitord.drivers.ble_errors import BleLinkError


@dataclass(frozen=True, slots=True)
class LinkTiming:
    """Real-time knobs. Tests shrink them; production keeps the defaults."""

    scan_timeout_s: float = 20.0
    connect_timeout_s: float = 20.0
    backoff_scale: float = 1.0  # multiplies every class's base and cap
    silence_check_s: float = 1.0  # longest real-time gap between silence checks
    disconnect_timeout_s: float = 5.0  # each step of a hang-up (bleak-retry-connector's)
    name_window_s: float = 3.0  # a scan by name goes on this long for a second advertiser


def backoff_delay(err: BleLinkError, attempt: int, timing: LinkTiming, rng: random.Random) -> float:
    """Capped exponential backoff with jitter (50-100 % of the capped step)."""
    k = timing.backoff_scale
    return capped_delay(attempt, err.backoff_base_s * k, err.backoff_cap_s * k, rng)


__all__ = ["LinkTiming", "backoff_delay"]
