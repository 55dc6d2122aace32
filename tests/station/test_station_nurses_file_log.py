"""The nurses file the station cannot read (deleted, or a line the admin broke by hand):
every login attempt logged "station: cannot read the nurses file ...: ..." at ERROR,
again at each nurse's try and each retry of hers, and said nothing of the fix. The house
rule: said once at ERROR with the fix (`monitord station --add-nurse`, the file's
format), the repeats at DEBUG, and one INFO line once a login reads it again. The real
station in this process, its real login API.
"""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest

from tests.servers import Mosquitto
from tests.station.station_kit import NURSES, station_config, station_in_process


async def login(http: aiohttp.ClientSession, url: str, name: str, pin: str) -> int:
    r = await http.post(
        f"{url}/api/login", json={"name": name, "pin": pin}, headers={"Origin": url}
    )
    return r.status


@pytest.mark.parametrize("fault", ["deleted", "broken line"])
async def test_an_unreadable_nurses_file_is_said_once_with_the_fix(
    tmp_path: Path,
    mosquitto: Mosquitto,
    mqtt_prefix: str,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)
    nurses = tmp_path / "nurses"
    good = nurses.read_text()
    caplog.set_level(logging.DEBUG, logger="monitord.station")
    async with station_in_process(cfg) as (_station, url), aiohttp.ClientSession() as http:
        if fault == "deleted":
            nurses.unlink()
        else:
            nurses.write_text(good + "bob pbkdf2 no colon\n")
        for _ in range(3):
            assert await login(http, url, "alice", NURSES["alice"]) == 500
        nurses.write_text(good)
        assert await login(http, url, "alice", NURSES["alice"]) == 200
    told = [r for r in caplog.records if "nurses file" in r.getMessage()]
    loud = [r for r in told if r.levelno >= logging.WARNING]
    assert len(loud) == 1, [r.getMessage() for r in loud]
    line = loud[0].getMessage()
    assert loud[0].levelno == logging.ERROR and str(nurses) in line, line
    assert "--add-nurse" in line and "\n" not in line, line
    assert sum(r.levelno == logging.DEBUG for r in told) == 2, [r.getMessage() for r in told]
    assert any(r.levelno == logging.INFO and "recovered" in r.getMessage() for r in told)
