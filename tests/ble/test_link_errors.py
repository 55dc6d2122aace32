"""Error classes (drivers/ble_errors.py) and backoff of drivers/ble_link.py (no I/O)."""

from __future__ import annotations

import random

import pytest
from bleak.exc import BleakDeviceNotFoundError, BleakError

from monitord.drivers.ble_errors import AdapterBusy, DeviceGone, Transient, classify
from monitord.drivers.ble_link import LinkTiming, backoff_delay


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (BleakDeviceNotFoundError("AA:BB:CC:DD:EE:FF"), DeviceGone),
        (BleakError("org.bluez.Error.InProgress"), AdapterBusy),
        (BleakError("Operation already in progress"), AdapterBusy),
        (OSError("Resource busy"), AdapterBusy),
        (BleakError("Not connected"), Transient),
        (TimeoutError(), Transient),
        (EOFError(), Transient),
    ],
)
def test_classify(exc: BaseException, cls: type) -> None:
    err = classify(exc)
    assert type(err) is cls
    assert err.advice and err.advice in str(err)  # operator advice rides on the message


def test_backoff_is_capped_exponential_with_jitter() -> None:
    rng = random.Random(7)
    timing = LinkTiming()
    err = Transient("x")
    delays = [backoff_delay(err, n, timing, rng) for n in range(12)]
    for n, d in enumerate(delays):
        step = min(err.backoff_cap_s, err.backoff_base_s * 2**n)
        assert step * 0.5 <= d <= step
    assert max(delays) <= err.backoff_cap_s
    assert len({round(d, 6) for d in delays[6:]}) > 1  # jitter: capped steps differ
    assert backoff_delay(err, 3, LinkTiming(backoff_scale=0.01), rng) <= 0.04
