"""Issue 16, "`monitord doctor` proves the round trip: connect as the chair with the
chair's credentials" and "Several chairs on one Pi: ... per-chair MQTT credentials": with
several chairs each login is proven, not the first chair's alone. A Pi whose second chair
kept the first one's login (a copied [[chairs]] block) has every publish of that chair
refused: doctor fails on that chair's round trip (exit 1) and passes the first's.

Found by mutation: proving only the first chair's round trip passed every test (they
configure one chair, or run the daemon for two). Real mosquitto 2.0 with the shipped ACL.
"""

from __future__ import annotations

from pathlib import Path

from tests.acl_kit import SITE, AclMosquitto, acl_config
from tests.heard.heard_kit import password_file
from tests.heard.test_doctor_round_trip import doctor


async def test_doctor_proves_each_chairs_login_not_only_the_first(
    tmp_path: Path, broker: AclMosquitto
) -> None:
    login = password_file(tmp_path, "chair-1")
    chairs = "".join(
        f'[[chairs]]\nid = "{c}"\nmqtt_username = "chair-1"\nmqtt_password_file = "{login}"\n'
        for c in ("chair-1", "chair-2")
    )
    cfg = acl_config(tmp_path, broker, alerts="", chairs=chairs)
    rc, lines, text = doctor(cfg)
    print(text)
    assert rc == 1, text
    assert lines["mqtt round trip chair-1"].startswith("ok "), text
    trip = lines.get("mqtt round trip chair-2", "")
    assert trip.startswith("FAIL "), text
    assert f"broker refused publish on monitord/{SITE}/chair-2/" in trip, trip
    assert "for user chair-1: not authorized (0x87)" in trip, trip
