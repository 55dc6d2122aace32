"""The phone forwarder's credential (`[station.forwarder] token_file`, design.md §8:
secrets from files or the environment, never inline). Before, the forwarder had no
credential setting: an ntfy server with access control got its token in the URL
(`?auth=...`), a JSON webhook its `?token=`/`?key=`, held in clear in the config.

Now the token is read from `token_file` (or MONITORD_STATION_FORWARDER_TOKEN) and sent as
`Authorization: Bearer <token>`; a URL whose query carries a credential-looking parameter
is still taken but warned, once, naming the parameter and never its value. Against the
real `monitord station`, a real broker and a real aiohttp webhook on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from monitord.config_station import ForwarderConfig
from monitord.station.forwarder import Forwarder
from tests.kit import eventually
from tests.servers import Mosquitto
from tests.station.station_kit import (
    SITE,
    mqtt_login,
    station_config,
    station_process,
    webhook_server,
)
from tests.station.test_station_config import monitord, station_only
from tests.station.test_station_forwarder import event

TOKEN = "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"
# What check-config and the station's start say of a URL carrying `?auth=...`.
WARNING = (
    "station.forwarder.url: warning: its query parameter 'auth' looks like a credential, "
    "held in clear in the config: put the token in a file named by "
    "station.forwarder.token_file (sent as Authorization: Bearer; ntfy: ?auth= -> "
    "token_file) and remove it from the URL"
)
Posts = list[tuple[dict[str, str], str, bytes]]  # (headers, query string, body) of each POST


@contextlib.asynccontextmanager
async def webhook() -> AsyncIterator[tuple[str, Posts]]:
    """(base URL, [(headers, query string, body)] of each POST)."""
    got: Posts = []

    async def hook(request: web.Request) -> web.Response:
        got.append((dict(request.headers), request.query_string, await request.read()))
        return web.Response(text="ok")

    async with webhook_server(hook) as base:
        yield base, got


async def forwarded_by_the_station(
    tmp_path: Path, mosquitto: Mosquitto, prefix: str, query: str, settings: str
) -> tuple[Posts, str, Path]:
    """The real `monitord station` forwarding to a webhook at `/hook?{query}`, with
    `settings` added to its `[station.forwarder]`: (the webhook's POSTs, the station's
    log, its config) once chair-1's unacknowledged crisis has been forwarded."""
    async with webhook() as (base, got):
        extra = f'[station.forwarder]\nurl = "{base}/hook?{query}"\nafter_s = 0.5\n{settings}'
        cfg = station_config(tmp_path, mosquitto, acl=False, prefix=prefix, extra=extra)
        async with (
            station_process(cfg, tmp_path / "station.log") as (station, _),
            mqtt_login(mosquitto) as chair,
        ):
            await eventually(lambda: "station MQTT: connected" in station.output(), 20, "up")
            t = f"{prefix}/{SITE}/chair-1/alerts/events"
            await chair.publish(t, json.dumps(event("chair-1", "raised", 1)), 1)
            await eventually(lambda: len(got) >= 1, 20, "forwarded")
    return got, station.output(), cfg


@contextlib.asynccontextmanager
async def forwarder_running(cfg: ForwarderConfig) -> AsyncIterator[asyncio.Task[None]]:
    """The station's forwarder in this process, one unacknowledged alert (c:r:1) due at
    once; its task, cancelled at the end."""
    fwd = Forwarder(cfg, "site-a")
    fwd.on_event({"alert_id": "c:r:1", "event": "raised", "priority": "high", "chair": "c"})
    task = asyncio.create_task(fwd.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.parametrize("mode", ["json", "ntfy"])
async def test_the_token_file_is_sent_as_a_bearer_header_never_in_the_url_or_log(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str, mode: str
) -> None:
    token = tmp_path / "forwarder-token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    settings = f'mode = "{mode}"\ntoken_file = "{token}"\n'
    got, log, _ = await forwarded_by_the_station(
        tmp_path, mosquitto, mqtt_prefix, "topic=north", settings
    )
    headers, query, body = got[0]
    assert headers["Authorization"] == f"Bearer {TOKEN}", headers
    assert query == "topic=north"  # the token never in the URL
    assert b"chair-1" in body
    assert "forwarded unacknowledged chair-1:bp.crisis:1" in log, log
    assert TOKEN not in log and "looks like a credential" not in log, log


async def test_a_token_in_the_url_still_forwards_and_is_warned_once_without_its_value(
    tmp_path: Path, mosquitto: Mosquitto, mqtt_prefix: str
) -> None:
    """A station that ran yesterday with `?auth=` starts and forwards as before (refusing
    it would stop the nurses' phones), warned once at start; the token never logged."""
    got, log, cfg = await forwarded_by_the_station(
        tmp_path, mosquitto, mqtt_prefix, f"auth={TOKEN}", 'mode = "ntfy"\n'
    )
    assert got[0][1] == f"auth={TOKEN}"  # as configured: the admin's server still takes it
    assert "Authorization" not in got[0][0]
    warned = [ln for ln in log.splitlines() if "looks like a credential" in ln]
    assert len(warned) == 1 and warned[0].endswith(f"{cfg}: {WARNING}"), log
    assert TOKEN not in log, log


@pytest.mark.parametrize("param", ["auth", "Token", "access_token", "KEY", "apikey", "secret"])
def test_check_config_warns_of_a_credential_in_the_forwarder_url(
    tmp_path: Path, param: str
) -> None:
    (tmp_path / "nurses").write_text("")
    cfg = station_only(
        tmp_path,
        'id = "station-1"\nnurses_file = "nurses"\n[station.forwarder]\n'
        f'url = "https://ntfy.clinic.lan/north?x=1&{param}={TOKEN}"\n',
    )
    r = monitord("check-config", str(cfg))
    assert r.returncode == 0 and r.stdout == "ok\n", r
    lines = [ln for ln in r.stderr.splitlines() if "station.forwarder.url" in ln]
    assert lines == [f"{cfg}: {WARNING.replace(repr('auth'), repr(param))}"], r.stderr
    assert TOKEN not in r.stderr


def test_check_config_takes_a_url_without_credential_and_checks_the_token_file(
    tmp_path: Path,
) -> None:
    """A query without a credential is not warned (`?topic=`, `?monkey=`: no false
    alarm); the token file is judged as the other secrets: open to others, or missing."""
    (tmp_path / "nurses").write_text("")
    token = tmp_path / "forwarder-token"
    token.write_text(TOKEN)
    token.chmod(0o644)
    cfg = station_only(
        tmp_path,
        'id = "station-1"\nnurses_file = "nurses"\n[station.forwarder]\n'
        f'url = "https://ntfy.clinic.lan/north?topic=a&monkey=b"\ntoken_file = "{token}"\n',
    )
    r = monitord("check-config", str(cfg))
    assert r.returncode == 0, r
    assert "looks like a credential" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if "station.forwarder.token_file" in ln]
    assert len(lines) == 1 and f"{token} is " in lines[0] and "chmod" in lines[0], r.stderr
    assert TOKEN not in r.stderr
    token.unlink()
    r = monitord("check-config", str(cfg))
    assert r.returncode == 78, r
    assert f"{cfg}: station.forwarder.token_file: " in r.stderr, r.stderr
    # The environment variable takes the file's place, as the station's broker password's.
    r = monitord("check-config", str(cfg), env={"MONITORD_STATION_FORWARDER_TOKEN": TOKEN})
    assert r.returncode == 0, r


async def test_the_environment_token_is_sent_and_an_unreadable_file_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """MONITORD_STATION_FORWARDER_TOKEN replaces token_file; a token file gone at a POST
    (check-config saw it at start) is a failed POST naming the file, retried, its content
    never logged (a file not UTF-8 text would print the bytes read)."""
    caplog.set_level(logging.DEBUG, logger="monitord.station.forwarder")
    bad = tmp_path / "forwarder-token"
    bad.write_bytes(b"\xff" + TOKEN.encode())
    async with webhook() as (base, got):
        cfg = ForwarderConfig(url=f"{base}/hook", after_s=0.05, token_file=bad)
        for env in (TOKEN, None):
            if env is None:
                monkeypatch.delenv("MONITORD_STATION_FORWARDER_TOKEN")
            else:
                monkeypatch.setenv("MONITORD_STATION_FORWARDER_TOKEN", env)
            async with forwarder_running(cfg):
                if env is not None:
                    await eventually(lambda: len(got) >= 1, 20, "posted")
                else:
                    await eventually(lambda: "not posted" in caplog.text, 20, "failure said")
    assert len(got) == 1 and got[0][0]["Authorization"] == f"Bearer {TOKEN}"
    warned = [r.getMessage() for r in caplog.records if "not posted" in r.getMessage()]
    assert len(warned) == 1 and f"{bad} is not UTF-8 text" in warned[0], warned
    assert "c:r:1" in warned[0]
    every = " ".join(r.getMessage() for r in caplog.records)
    assert TOKEN not in every, every


async def test_a_token_of_two_lines_is_a_failed_post_not_the_end_of_the_station(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A header cannot carry a line break: aiohttp raised ValueError ("header injection"),
    which ended the forwarder's task and with it the station. Now a failed POST naming
    the file, retried (a fixed file is used at the next try); check-config refuses it."""
    token = tmp_path / "forwarder-token"
    token.write_text(f"{TOKEN}\nsecond-line\n")
    token.chmod(0o600)
    async with webhook() as (base, got):
        cfg = ForwarderConfig(url=f"{base}/hook", after_s=0.05, token_file=token)
        async with forwarder_running(cfg) as task:
            await eventually(lambda: "not posted" in caplog.text, 20, "failure said")
            assert not task.done()  # the forwarder (and the station) still runs
    assert got == []
    warned = [r.getMessage() for r in caplog.records if "not posted" in r.getMessage()]
    assert len(warned) == 1 and f"{token}: the token holds a line break" in warned[0], warned
    assert TOKEN not in caplog.text
    (tmp_path / "nurses").write_text("")
    station = station_only(
        tmp_path,
        'id = "station-1"\nnurses_file = "nurses"\n[station.forwarder]\n'
        f'url = "https://ntfy.clinic.lan/north"\ntoken_file = "{token}"\n',
    )
    r = monitord("check-config", str(station))
    assert r.returncode == 78, r
    assert f"{station}: station.forwarder.token_file: {token} holds a line break" in r.stderr
    assert TOKEN not in r.stderr
