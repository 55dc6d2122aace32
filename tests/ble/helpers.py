"""Helpers for tests/ble: the shared recording DeviceContext and wait (tests/kit.py)."""

from tests.kit import RecordingContext
from tests.kit import eventually as wait_until

__all__ = ["RecordingContext", "wait_until"]
