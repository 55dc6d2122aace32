from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from monitord.simulators.ble import VirtualBleLink


@pytest.fixture
async def vlink() -> AsyncIterator[VirtualBleLink]:
    """A fresh in-process BLE air per test."""
    yield VirtualBleLink()
