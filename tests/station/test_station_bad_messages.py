"""A malformed message on a topic the station reads is refused at the edge (messages.py):
the station keeps serving every page, the chair keeps its last good state, the next good
message is applied, and the log says once per topic what was wrong.

Before the screening, one message could break the station: `[` x 200,000 raised
RecursionError out of `json.loads`; an alert with a list as `alert_id` and `ack: true`
raised TypeError (unhashable); alerts with a string `raised_t` beside a number made
`sorted_alerts` raise, and retained, that broke `model.snapshot()`, so every page's
`/api/events` failed until the message changed. NaN and 1e999 passed `json.loads` and made
the hello JSON the pages cannot parse; wrong types (a number as priority, a string as
`ack`) and huge strings went onto the tiles. And a topic refused once was never warned
about again, good messages in between or not.

Each case, against a real mosquitto and the real station in process: a good message A
(retained), the bad one (retained) twice, a good B, the bad one again; a sentinel chair's
retained status after each step says the station has read it (one publisher: the broker
keeps its order). One station serves the whole table (a station per case spent a second
on each stop, ~23 s); each case has a chair of its own, so no case sees another's
state, and the station's clean stop with no ERROR logged is checked once, at the end.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from monitord.station.server import Station
from tests.kit import eventually
from tests.servers import Mosquitto, unique_name
from tests.station.station_kit import (
    NURSES,
    SITE,
    mqtt_login,
    station_config,
    station_in_process,
)

T = "2026-11-30T10:00:00.000Z"


def alert(aid: str, **kw: Any) -> dict[str, Any]:
    return {
        "alert_id": aid, "rule": "bp.crisis", "priority": "high", "kind": "physiological",
        "state": "active", "ack": False, "raised_t": 1.8e9, "level": 0,
        "message": "BP 212/124 >= 200/120 (1 reading)", "value": {"sys_mmHg": 212}, **kw,
    }  # fmt: skip


def active(*alerts: Any, **kw: Any) -> dict[str, Any]:
    return {"time": T, "alerts": list(alerts), "session": {"phase": "dosing"}, **kw}


def event(chair: str, aid: str, **kw: Any) -> dict[str, Any]:
    return {
        "time": T, "chair": chair, "rule": "bp.crisis", "event": "raised", "priority": "high",
        "kind": "physiological", "alert_id": aid, "phase": "dosing", "value": {},
        "message": "BP 212/124", **kw,
    }  # fmt: skip


def reading(chair: str, hr: float, **kw: Any) -> dict[str, Any]:
    return {"chair": chair, "device": "monitor", "kind": "hr", "hr_bpm": hr,
            "measured_at": T, "valid": True, "quality": [], **kw}  # fmt: skip


def deep(levels: int) -> dict[str, Any]:
    v: Any = 1
    for _ in range(levels):
        v = {"x": v}
    return v  # type: ignore[no-any-return]


@dataclass
class Case:
    rest: str  # the topic after {prefix}/{site}/ (a chair's, or stations/{id})
    good_a: dict[str, Any]
    bad: bytes
    good_b: dict[str, Any]


def j(body: Any) -> bytes:
    return json.dumps(body).encode()


A, B = alert("a-1"), alert("a-2", priority="medium")
SET_A, SET_B = active(A), active(A, B)
HUGE, LONG = "x" * 100_000, "x" * 5000  # over the message size limit; over a field's


def table(chair: str) -> dict[str, Case]:
    """The cases, on `chair`'s topics."""
    ACTIVE = f"{chair}/alerts/active"
    r, ev = partial(reading, chair), partial(event, chair)
    return {
        # The three the audit found.
        "deeply nested (200,000 levels)": Case(ACTIVE, SET_A, b"[" * 200_000, SET_B),
        "list as alert_id, acknowledged": Case(
            ACTIVE, SET_A, j(active({**A, "alert_id": ["x"], "ack": True})), SET_B
        ),
        "string raised_t beside a number": Case(
            ACTIVE, SET_A, j(active(A, alert("a-3", raised_t="1800000000"))), SET_B
        ),
        # Found since.
        "deeply nested, under the size limit": Case(ACTIVE, SET_A, b"[" * 5000, SET_B),
        "nested deeper than the limit": Case(
            ACTIVE, SET_A, j(active(alert("a-3", value=deep(10)))), SET_B
        ),
        "number as priority": Case(ACTIVE, SET_A, j(active(alert("a-3", priority=5))), SET_B),
        "number as state": Case(ACTIVE, SET_A, j(active(alert("a-3", state=3))), SET_B),
        "string as ack": Case(ACTIVE, SET_A, j(active(alert("a-3", ack="yes"))), SET_B),
        "NaN as raised_t": Case(
            ACTIVE, SET_A, j(active(alert("a-3", raised_t=float("nan")))), SET_B
        ),
        "string as session": Case(ACTIVE, SET_A, j(active(A, session="dosing")), SET_B),
        "number in the alert list": Case(ACTIVE, SET_A, j(active(A, 42)), SET_B),
        "huge message string": Case(ACTIVE, SET_A, j(active(alert("a-3", message=HUGE))), SET_B),
        "long message string": Case(ACTIVE, SET_A, j(active(alert("a-3", message=LONG))), SET_B),
        "top level not an object": Case(ACTIVE, SET_A, b"[1, 2]", SET_B),
        "not UTF-8": Case(ACTIVE, SET_A, b'{"alerts": ["\xff"]}', SET_B),
        "1e999 as a reading": Case(
            f"{chair}/vitals/hr", r(70), b'{"kind": "hr", "hr_bpm": 1e999, "valid": true}',
            r(71),
        ),
        "Infinity as a reading": Case(
            f"{chair}/vitals/hr", r(70), b'{"kind": "hr", "hr_bpm": Infinity}', r(71)
        ),
        "string as a reading": Case(f"{chair}/vitals/hr", r(70), j(r("72")), r(71)),  # type: ignore[arg-type]
        "number as measured_at": Case(
            f"{chair}/vitals/hr", r(70), j(r(72, measured_at=5)), r(71)
        ),
        "list as an event's priority": Case(
            f"{chair}/alerts/events", ev("a-1"), j(ev("a-9", priority=["high"])), ev("a-2")
        ),
        "number as a status time": Case(
            f"{chair}/status", {"state": "offline", "time": T},
            j({"state": "online", "time": 1.8e9}), {"state": "online", "time": T},
        ),
        "object as a refusal's error": Case(
            f"{chair}/cmd/errors", {"time": T, "topic": "x", "error": "refused A"},
            j({"time": T, "topic": "x", "error": {"why": 1}}),
            {"time": T, "topic": "x", "error": "refused B"},
        ),
        "list as a station's version": Case(
            "stations/station-9", {"state": "online", "time": T, "version": "1"},
            j({"state": "offline", "time": T, "version": ["1"]}),
            {"state": "offline", "time": T, "version": "1"},
        ),
    }  # fmt: skip


NAMES = list(table("chair-0"))


def _no_constant(name: str) -> Any:
    raise AssertionError(f"the hello carries {name}: no JSON a page can parse")


async def hello(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    """The hello of a new event stream, as strict JSON (a browser's `JSON.parse`)."""
    async with http.get(f"{url}/api/events") as resp:
        assert resp.status == 200
        kind = None
        async for raw in resp.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "hello":
                body: dict[str, Any] = json.loads(line[6:], parse_constant=_no_constant)
                return body
    raise AssertionError("the stream ended without a hello")


def piece(snap: dict[str, Any], rest: str) -> Any:
    """What the station shows of `rest`'s chair (or station) in a hello."""
    if rest.startswith("stations/"):
        return snap["stations"].get(rest.split("/")[1])
    chair = rest.split("/")[0]
    view = next((c for c in snap["chairs"] if c["id"] == chair), None)
    # Since when the chair was last heard moves with the clock, not with what it showed.
    return view and {k: v for k, v in view.items() if k != "heard_ago_s"}


class Errors(logging.Handler):
    """Every record at ERROR or above (a bug's traceback), from any logger."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(
    mosquitto_server: Mosquitto, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Station, str, str]]:
    """The station, its URL and its topic prefix, for the whole table. Its stop must be
    clean (station_in_process) and nothing may log an ERROR while it serves or stops."""
    mosquitto_server.ensure_running()
    prefix = f"test/{unique_name('p')}"
    cfg = station_config(tmp_path_factory.mktemp("station"), mosquitto_server, acl=False,
                         prefix=prefix)  # fmt: skip
    errors = Errors()
    logging.getLogger().addHandler(errors)
    try:
        async with station_in_process(cfg) as (station, url):
            yield station, url, prefix
    finally:
        logging.getLogger().removeHandler(errors)
    assert errors.records == [], [r.getMessage() for r in errors.records]


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("name", NAMES)
async def test_a_bad_message_is_refused_and_the_station_goes_on(
    name: str,
    served: tuple[Station, str, str],
    mosquitto: Mosquitto,
    caplog: pytest.LogCaptureFixture,
) -> None:
    station, url, prefix = served
    chair_id = f"chair-{NAMES.index(name) + 1}"  # a chair of its own: no case sees another's
    case = table(chair_id)[name]
    topic = f"{prefix}/{SITE}/{case.rest}"
    sentinel_topic = f"{prefix}/{SITE}/zz-{chair_id}/status"
    step = 0

    def warnings() -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if r.levelno == logging.WARNING and topic in r.getMessage()
        ]

    async with (
        mqtt_login(mosquitto) as chair,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
    ):

        async def send(payload: bytes) -> None:
            nonlocal step
            step += 1
            mark = f"2026-11-30T11:00:{step:02d}Z"
            await chair.publish(topic, payload, 1, retain=True)
            # The sentinel after it: once it is read, so is the message before it.
            sentinel = {"state": "online", "time": mark}
            await chair.publish(sentinel_topic, j(sentinel), 1, retain=True)
            zz = f"zz-{chair_id}"
            await eventually(
                lambda: zz in station.model.chairs and station.model.chairs[zz].status_time == mark,
                10,
                f"step {step} read",
            )

        r = await http.post(
            f"{url}/api/login", json={"name": "alice", "pin": NURSES["alice"]},
            headers={"Origin": url},
        )  # fmt: skip
        assert r.status == 200
        with caplog.at_level(logging.INFO, "monitord.station"):
            await send(j(case.good_a))
            shown_a = piece(await hello(http, url), case.rest)
            assert shown_a is not None
            assert warnings() == []

            await send(case.bad)
            assert len(warnings()) == 1, [r.getMessage() for r in caplog.records]
            assert piece(await hello(http, url), case.rest) == shown_a  # the last good state

            await send(case.bad)  # a repeat (a retained one at every reconnect): DEBUG
            assert len(warnings()) == 1
            await send(j(case.good_b))
            shown_b = piece(await hello(http, url), case.rest)
            assert shown_b != shown_a  # the next good message is applied

            await send(case.bad)  # refused again after a good one: warned again
            assert len(warnings()) == 2
            assert piece(await hello(http, url), case.rest) == shown_b
            assert station.bridge.connected
        bugs = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert bugs == [], [r.getMessage() for r in bugs]
