"""docs/station.md "Security": every answer of the real `monitord station` carries the
same protective headers, whatever answered it: a handler, the guard's own refusals (401
without a login, 403 cross-site or without the CSRF token, 429 of the login limit), the
router's 404, the static files and the event stream. A refusal is where a careless host
or a hostile page lands first; before, those came without them (no `Cache-Control`, no
`X-Frame-Options`, no `nosniff`), and no answer had a `Referrer-Policy`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.servers import Mosquitto
from tests.station.station_kit import NURSES, station_config, station_process

EXPECTED = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
CSP = "default-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'"


def missing(what: str, r: aiohttp.ClientResponse) -> list[str]:
    out = [
        f"{what}: {k} is {r.headers.get(k)!r}" for k, v in EXPECTED.items() if r.headers.get(k) != v
    ]
    if r.headers.get("Content-Security-Policy") != CSP:
        out.append(f"{what}: CSP is {r.headers.get('Content-Security-Policy')!r}")
    return out


async def test_every_answer_carries_the_security_headers(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)
    bad: list[str] = []
    seen: list[int] = []
    async with station_process(cfg, tmp_path / "station.log") as (_, url):
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            same = {"Origin": url}

            async def check(what: str, method: str, path: str, **kw: object) -> int:
                async with http.request(method, url + path, **kw) as r:  # type: ignore[arg-type]
                    seen.append(r.status)
                    bad.extend(missing(f"{what} ({r.status})", r))
                    return r.status

            await check("page", "GET", "/")
            await check("script", "GET", "/static/station.js")
            await check("no such file", "GET", "/static/nope.js")
            await check("no such path", "GET", "/nope")
            await check("no such method", "PUT", "/api/login")
            await check("logged out", "GET", "/api/me")
            await check("logged out stream", "GET", "/api/events")
            await check("logged out ack", "POST", "/api/ack", json={}, headers=same)
            # A login from a sandboxed frame or a file (`Origin: null`), or with no Origin
            # at all, is refused like a cross-site one (before its PIN is counted).
            null = {"Origin": "null"}
            assert (
                await check("null-origin login", "POST", "/api/login", json={}, headers=null) == 403
            )
            assert await check("no-origin login", "POST", "/api/login", json={}) == 403
            login = {"name": "alice", "pin": NURSES["alice"]}
            async with http.post(url + "/api/login", json=login, headers=same) as r:
                assert r.status == 200
                bad.extend(missing("login", r))
                csrf = (await r.json())["csrf"]
            await check("me", "GET", "/api/me")
            await check("no CSRF token", "POST", "/api/ack", json={}, headers=same)
            evil = {"Origin": "http://evil.example", "X-CSRF-Token": csrf}
            await check("cross-site ack", "POST", "/api/ack", json={}, headers=evil)
            await check(
                "bad ack", "POST", "/api/ack", json={}, headers={**same, "X-CSRF-Token": csrf}
            )
            async with http.get(url + "/api/events") as r:
                assert r.status == 200
                bad.extend(missing("stream", r))
                async with asyncio.timeout(10):
                    await r.content.readline()
            for i in range(6):
                wrong = {"name": "alice", "pin": f"{i:04d}"}
                await check(f"wrong PIN {i}", "POST", "/api/login", json=wrong, headers=same)
    assert {401, 403, 404, 405, 429, 400, 200} <= set(seen), seen
    assert not bad, "\n".join(bad)
