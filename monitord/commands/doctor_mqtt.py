"""`monitord doctor`'s MQTT round trip (issue 16): does what a chair publishes reach a
station?

For each chair, with the credentials the daemon would use for it ([[chairs]]
mqtt_username / mqtt_password_file, else [mqtt]'s), over MQTT v5 so a refusal is seen
(PUBACK reason code, monitord/mqttv5.py): publish a test message on each topic the chair
needs (`alerts/events`, `alerts/active`, `vitals/bp`, `status`), not retained, marked
`"doctor": true` so stations and daemons ignore it. With station credentials
(`--station-user` / `--station-password-file`, or `[station] mqtt_username` /
`mqtt_password_file`), a station connection subscribed first must read every one back.
Then: is any station online (retained `{prefix}/{site}/stations/+`)?

A refusal fails with the fix in words (the ACL); so does a message the station never saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import ssl
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiomqtt

from monitord.commands.checks import Check, SecretProblem, fail, ok, secret, skip, tls_context
from monitord.config import ChairConfig, Config
from monitord.config_station import STATION_PASSWORD_ENV
from monitord.models import iso
from monitord.mqttv5 import PublishRefused, V5Client, reason_words
from monitord.receipts import MAX_DEPTH as STATUS_DEPTH
from monitord.sinks.commands import load_bounded

TOPICS = ("alerts/events", "alerts/active", "vitals/bp", "status")
STATION_WAIT_S = 1.0  # retained station statuses come right after the SUBACK


@dataclass(frozen=True)
class StationLogin:
    username: str
    password_file: Path | None
    # The variable the station reads before its file ([station]'s login only).
    env: str | None = None


def station_login(cfg: Config, user: str | None, password_file: str | None) -> StationLogin | None:
    """The station's credentials: the command line's, else `[station]`'s when the config
    has that table (its `mqtt_username` / `mqtt_password_file`), else None."""
    if user:
        return StationLogin(user, Path(password_file) if password_file else None)
    table = getattr(cfg, "station", None)
    name = getattr(table, "mqtt_username", None)
    if isinstance(name, str) and name:
        pw = getattr(table, "mqtt_password_file", None)
        pw_file = Path(pw) if pw is not None else None
        return StationLogin(name, pw_file, STATION_PASSWORD_ENV)
    return None


def _client(cfg: Config, user: str | None, password: str | None, limit_s: float) -> V5Client:
    return V5Client(
        cfg.mqtt.host,
        cfg.mqtt.port,
        username=user,
        password=password,
        identifier=f"monitord-doctor-{user or 'anonymous'}-{os.getpid()}-{uuid.uuid4().hex[:6]}",
        tls_context=tls_context(cfg.mqtt),
        timeout=limit_s,
    )


def _acl_fix(cfg: Config, chair: str, user: str) -> str:
    base = f"{cfg.mqtt.prefix}/{cfg.site.id}/{chair}"
    return (
        f"the broker's ACL must let user {user} write {base}/#: with the shipped ACL "
        f"(config/mosquitto/monitord.acl) a chair logs in as its chair id, so set "
        f'[[chairs]] mqtt_username = "{chair}" and its mqtt_password_file '
        "(docs/delivery.md), or give the user those topics in the ACL; then reload the "
        "broker (systemctl reload mosquitto)"
    )


async def round_trip(
    cfg: Config,
    chair: ChairConfig,
    creds: Path | None,
    station: StationLogin | None,
    limit_s: float,
) -> Check:
    name = f"mqtt round trip {chair.id}"
    user, pw_file, env = chair.mqtt_login(cfg.mqtt)
    base = f"{cfg.mqtt.prefix}/{cfg.site.id}/{chair.id}"
    try:
        # Each password as its reader takes it: the environment first (read_secret).
        password = secret(pw_file, creds, "password file", env)
        station_pw = (
            secret(station.password_file, creds, "station password file", station.env)
            if station
            else None
        )
    except SecretProblem as e:
        return fail(name, "cannot log in", str(e))
    nonce = uuid.uuid4().hex
    body = json.dumps({"doctor": True, "nonce": nonce, "time": iso(time.time())}).encode()
    try:
        async with contextlib.AsyncExitStack() as stack:
            reader: V5Client | None = None
            if station is not None:
                reader = await stack.enter_async_context(
                    _client(cfg, station.username, station_pw, limit_s)
                )
                await reader.subscribe([(f"{base}/{t}", 1) for t in TOPICS])
            writer = await stack.enter_async_context(_client(cfg, user, password, limit_s))
            for t in TOPICS:
                try:
                    await writer.publish_acked(f"{base}/{t}", body, 1, False)
                except PublishRefused as e:
                    who = user or "(anonymous)"
                    return fail(
                        name,
                        f"broker refused publish on {e.topic} for user {who}: "
                        f"{reason_words(e.code)}",
                        _acl_fix(cfg, chair.id, who),
                    )
            if reader is None:
                return Check(
                    "ok",
                    name,
                    f"broker accepted {len(TOPICS)} test publishes as {user or 'anonymous'}",
                    "not read back: give --station-user and --station-password-file "
                    "(or [station] mqtt_username) to prove a station receives them",
                )
            missing = set(TOPICS)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(limit_s):
                    async for m in reader.messages:
                        rest = str(m.topic).removeprefix(base + "/")
                        if isinstance(m.payload, bytes) and nonce.encode() in m.payload:
                            missing.discard(rest)
                        if not missing:
                            break
            if missing:
                assert station is not None
                return fail(
                    name,
                    f"the broker accepted the test messages, but station user "
                    f"{station.username} did not receive {', '.join(sorted(missing))} "
                    f"within {limit_s:g} s",
                    f"the ACL must let user {station.username} read "
                    f"{cfg.mqtt.prefix}/{cfg.site.id}/# (docs/delivery.md)",
                )
    except (aiomqtt.MqttError, OSError, ssl.SSLError, TimeoutError) as e:
        # Why the login failed is the `mqtt` line's job; here, that there was no trip.
        return fail(name, f"no round trip: {e or type(e).__name__}", "see the mqtt line")
    assert station is not None
    return ok(
        name,
        f"{len(TOPICS)} test messages published as {user or 'anonymous'} and read back as "
        f"station {station.username}",
    )


async def stations_online(
    cfg: Config, creds: Path | None, station: StationLogin | None, limit_s: float
) -> Check:
    """Whether any station's retained status says `online` (read with the first chair's
    login: chairs may read `{prefix}/{site}/stations/#`)."""
    topic = f"{cfg.mqtt.prefix}/{cfg.site.id}/stations/+"
    if cfg.chairs:
        user, pw_file, env = cfg.chairs[0].mqtt_login(cfg.mqtt)
    elif station is not None:  # a station's config: read as the station (it may)
        user, pw_file, env = station.username, station.password_file, station.env
    else:
        return skip("stations", "no [[chairs]] and no station login to read them with")
    try:
        password = secret(pw_file, creds, "password file", env)
    except SecretProblem as e:
        return fail("stations", "cannot log in", str(e))
    seen: dict[str, str] = {}
    try:
        async with _client(cfg, user, password, limit_s) as c:
            await c.subscribe(topic, qos=1)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STATION_WAIT_S):
                    async for m in c.messages:
                        with contextlib.suppress(ValueError, TypeError, AttributeError):
                            # Bounded: a retained status nested thousands deep made
                            # json.loads raise RecursionError, a traceback out of doctor.
                            doc = load_bounded(bytes(m.payload), STATUS_DEPTH)
                            if not doc.get("doctor"):
                                seen[str(m.topic).rsplit("/", 1)[-1]] = str(doc.get("state"))
    except (aiomqtt.MqttError, OSError, ssl.SSLError, TimeoutError) as e:
        return fail("stations", f"cannot read {topic}: {e}", "see the mqtt line")
    online = sorted(s for s, state in seen.items() if state == "online")
    if online:
        return ok("stations", f"online: {', '.join(online)}")
    detail = "no station online" + (
        f" ({', '.join(f'{s} {v}' for s, v in sorted(seen.items()))})" if seen else ""
    )
    if station is None:
        return skip("stations", detail + "; none expected (no station credentials given)")
    return fail(
        "stations",
        detail + ": an alert raised now would be seen by nobody at the station",
        "start the nurses' station (it publishes its retained status on "
        f"{cfg.mqtt.prefix}/{cfg.site.id}/stations/<id>)",
    )
