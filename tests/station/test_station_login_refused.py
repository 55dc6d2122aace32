"""A station whose broker login is refused says so with the fix, naming the station's own
login settings. Before, it logged the bare error ("[code:135] Not authorized; retrying
in ..."), with nothing saying the login was refused nor where its password comes from
(`[station] mqtt_password_file`, or MONITORD_STATION_MQTT_PASSWORD in its place).
The real station in this process, the shipped ACL broker (TLS, accounts).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.acl_kit import AclMosquitto
from tests.kit import eventually
from tests.station.station_kit import station_config, station_in_process


@pytest.mark.parametrize("source", ["file", "environment"])
async def test_a_refused_station_login_names_the_stations_login_settings(
    tmp_path: Path,
    acl_broker: AclMosquitto,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
) -> None:
    cfg = station_config(tmp_path, acl_broker)
    monkeypatch.delenv("MONITORD_STATION_MQTT_PASSWORD", raising=False)
    if source == "file":
        (tmp_path / "station-mqtt.pass").write_text("wrong\n")
        fix = "check station.mqtt_username and station.mqtt_password_file"
    else:  # the file holds the right one; the variable takes its place
        monkeypatch.setenv("MONITORD_STATION_MQTT_PASSWORD", "wrong")
        fix = "check station.mqtt_username and the password in MONITORD_STATION_MQTT_PASSWORD"
    caplog.set_level(logging.DEBUG, logger="monitord.station")
    async with station_in_process(cfg):

        def said() -> list[str]:
            return [r.getMessage() for r in caplog.records if "refused the login" in r.getMessage()]

        await eventually(lambda: bool(said()), 20, "the refused login in the log")
    line = said()[0]
    assert fix in line and "\n" not in line, line
