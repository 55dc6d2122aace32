"""A failed login's journal line named the name typed, as typed: a nurse who types her
PIN in the name field (the commonest slip at a login form) put her PIN in the station's
journal, which every admin reads and which is kept for months. Now a name that is a
nurse's in the nurses file is named; any other is not echoed, only its length. The real
station in process, its login API.
"""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest

from tests.servers import Mosquitto
from tests.station.station_kit import NURSES, station_config, station_in_process


async def test_a_failed_login_never_echoes_a_name_that_is_no_nurses(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)
    caplog.set_level(logging.INFO, logger="monitord.station")
    pin = NURSES["alice"]
    async with station_in_process(cfg) as (_station, url), aiohttp.ClientSession() as http:
        for name, typed in ((pin, pin), ("alice", "0000")):  # her PIN as the name; a wrong PIN
            r = await http.post(
                f"{url}/api/login", json={"name": name, "pin": typed}, headers={"Origin": url}
            )
            assert r.status == 401
    failed = [r.getMessage() for r in caplog.records if "failed login" in r.getMessage()]
    assert len(failed) == 2, failed
    assert pin not in " ".join(failed), failed
    assert "a name that is no nurse's (4 characters)" in failed[0], failed
    assert "'alice'" in failed[1] and "127.0.0.1" in failed[1], failed
