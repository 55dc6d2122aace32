"""Issue 16 ("`monitord doctor` proves the round trip": publish on each topic the chair
needs "... read it back with the station credentials when configured, and fail with the
ACL advice when refused"), acceptance 3 ("proving a real round trip").

The broker accepting the chair's test publishes proves the chair may write; only the
station's login reading them back proves a station hears them. A station login that the
broker lets in but whose ACL does not let it read the chair's topics must fail doctor
(exit 1, naming what was not received and the read line the ACL lacks): a doctor that
took the accepted publishes for the round trip said `ok` to a chain that delivers to
nobody. Found by mutation (dropping the read-back check left every test passing).
"""

from __future__ import annotations

from pathlib import Path

from tests.acl_kit import SITE, AclMosquitto
from tests.heard.heard_kit import password_file, write_config
from tests.heard.test_doctor_round_trip import doctor, publish_online


async def test_doctor_fails_when_the_station_login_cannot_read_the_chairs_topics(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    await publish_online(broker)  # a station online: the round trip alone fails the run
    cfg = write_config(tmp_path, broker, username="chair-2", per_chair=True, devices=False)
    # chair-1 logs in (its password is right) but the shipped ACL lets it read only its
    # own command/receipt topics and the stations' statuses: not chair-2's messages.
    reader = ["--station-user", "chair-1", "--station-password-file"]
    rc, lines, text = doctor(cfg, *reader, str(password_file(tmp_path, "chair-1")))
    print(text)
    assert rc == 1 and lines["stations"].startswith("ok "), text
    trip = lines["mqtt round trip chair-2"]
    assert trip.startswith("FAIL "), trip
    assert "the broker accepted the test messages, but station user chair-1 did not " in trip
    for topic in ("alerts/active", "alerts/events", "status", "vitals/bp"):
        assert topic in trip, trip
    assert f"-> fix: the ACL must let user chair-1 read monitord/{SITE}/#" in trip, trip
