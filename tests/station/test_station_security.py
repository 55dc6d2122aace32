"""Issue 17, acceptance 5, against the real `monitord station` (HTTP, no browser needed):
no command without a logged-in nurse (401), a cross-site POST is refused even with the
nurse's cookie (403), the CSRF token is required, the PIN file is never served, and the
station's MQTT credentials never reach a browser. Also: the login rate limit, and
`monitord station --add-nurse` writing a line the station accepts."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import aiohttp

from monitord.station.auth import hash_pin
from tests.acl_kit import AclMosquitto
from tests.station.station_kit import (
    NURSES,
    USERS,
    station_config,
    station_process,
)

HASH_MARK = "pbkdf2_sha256$"


async def login(
    http: aiohttp.ClientSession, url: str, name: str, pin: str
) -> aiohttp.ClientResponse:
    return await http.post(
        f"{url}/api/login", json={"name": name, "pin": pin}, headers={"Origin": url}
    )


async def test_commands_need_a_nurse_same_origin_and_csrf(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    cfg = station_config(tmp_path, acl_broker)
    ack = {"chair": "chair-1", "alert_id": "chair-1:bp.crisis:1"}
    async with station_process(cfg, tmp_path / "station.log") as (_, url):
        async with aiohttp.ClientSession() as anon:
            for path in ("/api/ack", "/api/session", "/api/receipt"):
                r = await anon.post(url + path, json=ack, headers={"Origin": url})
                assert r.status == 401, (path, r.status)
            assert (await anon.get(url + "/api/events")).status == 401
            assert (await anon.get(url + "/api/me")).status == 401
            r = await login(anon, url, "alice", "0000")
            assert r.status == 401
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            r = await login(http, url, "alice", NURSES["alice"])
            assert r.status == 200
            csrf = (await r.json())["csrf"]
            cookie = r.cookies["monitord_station"]
            assert cookie["httponly"] and cookie["samesite"] == "Strict"
            good = {"Origin": url, "X-CSRF-Token": csrf}
            # A cross-site page posting with the nurse's cookie (as a browser without
            # SameSite would): refused by the Origin check, as is a POST with no Origin.
            for bad in (
                {"Origin": "http://evil.example", "X-CSRF-Token": csrf},
                {"X-CSRF-Token": csrf},
                {"Origin": url},  # no CSRF token
                {"Origin": url, "X-CSRF-Token": "forged"},
            ):
                r = await http.post(url + "/api/ack", json=ack, headers=bad)
                assert r.status == 403, (bad, r.status)
            # A cross-site login is refused too (login CSRF).
            r = await http.post(
                url + "/api/login",
                json={"name": "alice", "pin": "4821"},
                headers={"Origin": "http://evil.example"},
            )
            assert r.status == 403
            # With all three the station takes it (chair-1 is unknown here: 400, not 401/403).
            r = await http.post(url + "/api/ack", json=ack, headers=good)
            assert r.status == 400
            # A malformed body is a 400 with its reason too, not a 500 (a list is unhashable).
            for path, body in (
                ("/api/ack", {"chair": ["chair-1"], "alert_id": "x"}),
                ("/api/session", {"chair": {"id": 1}, "action": "start"}),
                ("/api/receipt", {"chair": ["chair-1"], "event": "raised"}),
            ):
                r = await http.post(url + path, json=body, headers=good)
                assert r.status == 400, (path, body, r.status)
            r = await http.post(url + "/api/logout", json={}, headers=good)
            assert r.status == 200
            r = await http.post(url + "/api/ack", json=ack, headers=good)
            assert r.status == 401


async def test_pin_file_and_mqtt_credentials_never_served(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    cfg = station_config(tmp_path, acl_broker)
    secret = USERS["station-1"]
    async with station_process(cfg, tmp_path / "station.log") as (_, url):
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            r = await login(http, url, "bob", NURSES["bob"])
            assert r.status == 200
            seen: list[str] = [await r.text()]
            for path in (
                "/",
                "/static/station.js",
                "/static/station.css",
                "/static/index.html",
                "/api/me",
                "/static/../nurses",
                "/static/%2e%2e/nurses",
                "/nurses",
                "/static/nurses",
                "/station.toml",
                "/static/../station.toml",
                "/static/../station-mqtt.pass",
                f"/static/{tmp_path}/nurses",
                "/static/",
                "/static/..%2fnurses",
            ):
                r = await http.get(url + path, allow_redirects=False)
                body = await r.text(errors="replace")
                seen.append(body)
                if "nurses" in path or ".toml" in path or ".pass" in path or path == "/static/":
                    assert r.status in (403, 404), (path, r.status)
            # The live stream's first message: the whole state a browser gets.
            async with http.get(url + "/api/events") as r:
                assert r.status == 200
                async with asyncio.timeout(10):
                    while True:
                        chunk = await r.content.readline()
                        seen.append(chunk.decode())
                        if chunk.startswith(b"data:"):
                            break
        everything = "\n".join(seen)
        assert "event: hello" in everything and '"station": "station-1"' in everything
        assert HASH_MARK not in everything
        assert secret not in everything
        assert "station-mqtt.pass" not in everything and "mqtt_username" not in everything


async def test_login_rate_limit_and_add_nurse(tmp_path: Path, acl_broker: AclMosquitto) -> None:
    cfg = station_config(tmp_path, acl_broker)
    r = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "monitord", "station", "-c", str(cfg), "--add-nurse", "carol"],
        input="73519\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    line = (tmp_path / "nurses").read_text().splitlines()[-1]
    assert line.startswith("carol:pbkdf2_sha256$") and "73519" not in line
    async with station_process(cfg, tmp_path / "station.log") as (_, url):
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            assert (await login(http, url, "carol", "73519")).status == 200
            codes = [(await login(http, url, "carol", f"{i:04d}")).status for i in range(6)]
            assert codes[:5] == [401] * 5 and codes[5] == 429, codes
            # Blocked now even with the right PIN (for a minute).
            assert (await login(http, url, "carol", "73519")).status == 429


async def test_parallel_guesses_cannot_pass_the_rate_limit(
    tmp_path: Path, acl_broker: AclMosquitto
) -> None:
    """docs/station.md: failed logins are limited to 5 a minute per client address. Sent
    all at once, the guesses must not all pass the check while the first PINs are still
    being hashed (the real 200,000 iterations here: about 0.1 s each)."""
    cfg = station_config(tmp_path, acl_broker)
    with (tmp_path / "nurses").open("a") as f:
        f.write(f"dave:{hash_pin('3141')}\n")
    async with station_process(cfg, tmp_path / "station.log") as (_, url):
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            rs = await asyncio.gather(*(login(http, url, "dave", f"{i:04d}") for i in range(12)))
            codes = sorted(r.status for r in rs)
            assert codes == [401] * 5 + [429] * 7, codes
