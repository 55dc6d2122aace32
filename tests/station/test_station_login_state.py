"""What the station keeps per login and per failed login must not grow for its uptime
(months on the clinic's machine): an expired session (a tab closed without logging out)
and an address whose failures are older than the rate limit's window are dropped. And an
unknown nurse name costs the same PIN hash as a known one, so the answer's time does not
tell a guesser which names exist. Against the real station in this process (its clock
driven by the test) and mosquitto; the other clients are 127.0.0.2, .3, ..."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from monitord.station.auth import PRUNE_STEP, RateLimit
from tests.servers import Mosquitto
from tests.station.station_kit import NURSES, station_config, station_in_process


async def login(url: str, name: str, pin: str, source: str = "127.0.0.1") -> int:
    """A login from `source` (a loopback address of its own): the answer's status."""
    conn = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=conn) as http:
        body = {"name": name, "pin": pin}
        async with http.post(f"{url}/api/login", json=body, headers={"Origin": url}) as r:
            return r.status


async def test_expired_logins_and_old_failures_are_dropped(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)
    async with station_in_process(cfg) as (st, url):
        now = [time.time()]
        st.logins.clock = st.limit.clock = lambda: now[0]
        for _ in range(3):  # three tabs, never logged out
            assert await login(url, "alice", NURSES["alice"]) == 200
        for i in range(2, 7):  # five phones that mistyped their PIN once
            assert await login(url, "bob", "0000", f"127.0.0.{i}") == 401
        assert len(st.logins._by_token) == 3
        assert sorted(st.limit._fails) == [f"127.0.0.{i}" for i in range(2, 7)]

        now[0] += 12 * 3600  # a shift later: every login and failure above has expired
        assert await login(url, "bob", "0000", "127.0.0.9") == 401
        assert await login(url, "alice", NURSES["alice"]) == 200
        assert len(st.logins._by_token) == 1, "expired logins are kept"
        assert list(st.limit._fails) == ["127.0.0.9"], "old failures are kept"


def test_pruning_is_bounded_per_call_and_keeps_up() -> None:
    limit = RateLimit(attempts=5, window_s=60)
    for i in range(100):
        limit.attempt(f"10.0.0.{i}", now=0)
    limit.attempt("10.0.1.1", now=61)  # all 100 expired: a few are dropped per call
    assert len(limit._fails) == 100 - PRUNE_STEP + 1
    for n in range(10):
        limit.attempt(f"10.0.2.{n}", now=62)
    assert set(limit._fails) == {"10.0.1.1", *(f"10.0.2.{n}" for n in range(10))}


async def test_an_unknown_name_costs_the_same_hash_as_a_known_one(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = station_config(tmp_path, mosquitto, acl=False, prefix=mqtt_prefix)
    calls: list[int] = []
    real = hashlib.pbkdf2_hmac

    def counted(name: str, pin: bytes, salt: bytes, iterations: int, *a: Any) -> bytes:
        calls.append(iterations)
        return real(name, pin, salt, iterations, *a)

    monkeypatch.setattr(hashlib, "pbkdf2_hmac", counted)
    async with station_in_process(cfg) as (_, url):
        assert await login(url, "alice", "0000") == 401
        known = list(calls)
        calls.clear()
        assert await login(url, "mallory", "0000", "127.0.0.2") == 401
        unknown = list(calls)
    assert known == [1000]  # the test's nurses file: 1000 iterations (station_kit)
    assert unknown == known, "an unknown name answers without the PIN hash's work"
