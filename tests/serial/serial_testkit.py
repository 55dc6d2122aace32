"""Test kit for tests/serial: a small real DeviceContext that records what a transport and
protocol report. (No __init__.py here: a package named `serial` would shadow pyserial.)"""

from __future__ import annotations

import pytest

from tests.kit import RecordingContext


@pytest.fixture
def ctx() -> RecordingContext:
    return RecordingContext()
