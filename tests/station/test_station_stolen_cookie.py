"""docs/station.md "Security", a nurse's login as a hostile host of the LAN would try it,
against the real `monitord station` over TLS: the session cookie is Secure, HttpOnly and
SameSite=Strict; a copy of it taken before *Log out* is worth nothing after it (the
login is ended in the station, not only the cookie deleted in the browser: the live
stream, `/api/me` and a command carrying its CSRF token all answer 401); and a cookie
planted before the login (fixation) is never adopted: the login answers with a token of
its own, the planted one stays unknown."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import aiohttp

from tests.servers import Mosquitto, TlsMaterial
from tests.station.station_kit import NURSES, station_config, station_process

COOKIE = "monitord_station"
PLANTED = "planted-by-another-host-0123456789abcdef"


async def test_a_cookie_is_worth_nothing_after_log_out_and_is_never_planted(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, tls_material: TlsMaterial
) -> None:
    m = tls_material
    tls = f'tls_cert_file = "{m.server_cert}"\ntls_key_file = "{m.server_key}"'
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix, extra=tls)
    ctx = ssl.create_default_context(cafile=str(m.ca_file))
    async with station_process(cfg, tmp_path / "station.log") as (_, url):
        assert url.startswith("https://"), url
        conn = aiohttp.TCPConnector(ssl=ctx)
        async with aiohttp.ClientSession(connector=conn) as http:
            same = {"Origin": url}
            login = {"name": "alice", "pin": NURSES["alice"]}
            # The login a planted cookie goes with is given a token of the station's own.
            planted = {**same, "Cookie": f"{COOKIE}={PLANTED}"}
            async with http.post(url + "/api/login", json=login, headers=planted) as r:
                assert r.status == 200
                csrf = (await r.json())["csrf"]
                morsel = r.cookies[COOKIE]
            token = morsel.value
            assert token != PLANTED and len(token) >= 32
            assert morsel["secure"] and morsel["httponly"] and morsel["samesite"] == "Strict"
            assert morsel["path"] == "/" and morsel["max-age"] == "3600"
            stolen = {"Cookie": f"{COOKIE}={token}"}
            async with http.get(url + "/api/me", headers={"Cookie": f"{COOKIE}={PLANTED}"}) as r:
                assert r.status == 401
            async with http.get(url + "/api/me", headers=stolen) as r:
                assert r.status == 200 and (await r.json())["nurse"] == "alice"
            # The thief's live stream, open before the nurse logs out.
            stream = await http.get(url + "/api/events", headers=stolen)
            assert stream.status == 200
            bye = {**same, **stolen, "X-CSRF-Token": csrf}
            async with http.post(url + "/api/logout", json={}, headers=bye) as r:
                assert r.status == 200
            async with asyncio.timeout(15):  # within a heartbeat or two (2 s)
                while not (line := await stream.content.readline()).startswith(b"event: logout"):
                    assert line, "the stream ended without its logout event"
            stream.close()
            async with http.get(url + "/api/me", headers=stolen) as r:
                assert r.status == 401
            async with http.get(url + "/api/events", headers=stolen) as r:
                assert r.status == 401
            ack = {"chair": "chair-1", "alert_id": "chair-1:bp.crisis:1"}
            async with http.post(url + "/api/ack", json=ack, headers=bye) as r:
                assert r.status == 401
