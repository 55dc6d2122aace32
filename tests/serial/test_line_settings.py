"""The serial line settings shared/protocols.md states, as the drivers open the port with
them when a device's config leaves them out (drivers/serial_link.py): a Masimo's ASCII 1
output is 9600 8N1, an IntelliVue's MIB/RS232 Data Export 115200 8N1. (The Contec's 19200
8O1 is pinned in tests/serial/test_contec_cms50.py.)"""

from __future__ import annotations

import pytest

from monitord.drivers.registry import DRIVERS


@pytest.mark.parametrize(
    ("driver", "line"),
    [("masimo-ascii", (9600, 8, "N", 1)), ("intellivue", (115200, 8, "N", 1))],
)
def test_line_settings_as_protocols_md_states(driver: str, line: tuple[int, int, str, int]) -> None:
    d = DRIVERS[driver].serial
    assert d is not None
    assert (d.baudrate, d.bytesize, d.parity, d.stopbits) == line
