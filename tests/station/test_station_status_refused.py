"""A second nurses' room's station whose admin gave it its own broker account
(`mqtt_username = "station-2"`, its ACL block copied) but kept the copied `[station] id =
"station-1"`: the shipped ACL lets `station-2` write only `stations/station-2`, so the
broker refuses the station's `online` (and its Last Will). The chairs then count no
station online: `monitord status` says NONE, their annunciators sound while an alert is
active, though this station serves its pages and its receipts and ACKs go through.

Before: the station published its status without looking at the broker's answer, and
logged nothing (the broker's log alone said `Denied PUBLISH`). Now it says at ERROR what
was refused, what that does to the chairs and the fix (monitord/station/bridge.py).

Real station process, the shipped ACL on the real mosquitto of tests/station/conftest.py.
"""

from __future__ import annotations

from pathlib import Path

from tests.acl_kit import AclMosquitto
from tests.kit import eventually
from tests.station.station_kit import STATION, USERS, station_config, station_process

REFUSED = "ERROR monitord.station.mqtt: station MQTT status: the broker refused the station's"


async def test_station_whose_id_its_account_may_not_write_says_so(
    acl_broker: AclMosquitto, tmp_path: Path
) -> None:
    cfg = station_config(tmp_path, acl_broker)
    text = cfg.read_text()
    assert f'mqtt_username = "{STATION}"' in text
    cfg.write_text(text.replace(f'mqtt_username = "{STATION}"', 'mqtt_username = "station-2"'))
    (tmp_path / "station-mqtt.pass").write_text(USERS["station-2"])
    async with station_process(cfg, tmp_path / "station.log") as (st, _):
        await eventually(lambda: REFUSED in st.output(), 20, "the refused status said")
        line = next(ln for ln in st.output().splitlines() if REFUSED in ln)
        assert "monitord/clinic-north/stations/station-1 for user station-2" in line, line
        assert "not authorized" in line.lower(), line
        assert "the chairs count no station online" in line, line
        assert "make [station] id the id in station-2's lines of the broker ACL" in line, line
        assert "Denied PUBLISH from station-2" in acl_broker.broker_log()


async def test_station_on_its_own_account_says_nothing_of_it(
    acl_broker: AclMosquitto, tmp_path: Path
) -> None:
    async with station_process(station_config(tmp_path, acl_broker), tmp_path / "s.log") as (
        st,
        _,
    ):
        await eventually(lambda: "station MQTT: connected" in st.output(), 20, "connected")
    assert "refused the station's status" not in st.output()


async def test_station_of_a_mistyped_site_says_so(acl_broker: AclMosquitto, tmp_path: Path) -> None:
    """`[site] id` mistyped in the station's config: the ACL names the real site, so the
    broker refuses the status (and sends the station none of the chairs' messages: its
    board stays empty). The ERROR names the topic, so the site in it."""
    cfg = station_config(tmp_path, acl_broker)
    text = cfg.read_text()
    assert 'id = "clinic-north"' in text
    cfg.write_text(text.replace('id = "clinic-north"', 'id = "clinic-nrth"'))
    async with station_process(cfg, tmp_path / "station.log") as (st, _):
        await eventually(lambda: REFUSED in st.output(), 20, "the refused status said")
        line = next(ln for ln in st.output().splitlines() if REFUSED in ln)
        assert f"monitord/clinic-nrth/stations/{STATION} for user {STATION}" in line, line
        assert "and [site] id the site they name" in line, line


async def test_a_second_room_whose_copy_kept_the_account_is_told_its_own_account(
    acl_broker: AclMosquitto, tmp_path: Path
) -> None:
    """A second room's station.toml with its id changed to station-2 and station-1's
    account kept: the status on stations/station-2 is refused. The advice was only "make
    [station] id the id in station-1's lines of the broker ACL": followed, it made this
    station the first one's twin on one account, whose connections take each other over
    (tests/station/test_station_takeover.py). It now names its own account too."""
    cfg = station_config(tmp_path, acl_broker)
    text = cfg.read_text()
    assert f'id = "{STATION}"\nlisten' in text
    cfg.write_text(text.replace(f'id = "{STATION}"\nlisten', 'id = "station-2"\nlisten'))
    async with station_process(cfg, tmp_path / "station.log") as (st, _):
        await eventually(lambda: REFUSED in st.output(), 20, "the refused status said")
        line = next(ln for ln in st.output().splitlines() if REFUSED in ln)
        assert f"stations/station-2 for user {STATION}" in line, line
        assert f"if another station already logs in as {STATION}" in line, line
        assert 'its own account (mqtt_username = "station-2"' in line, line
