"""Shared parts of the station tests: the shipped broker ACL on a real mosquitto (TLS,
a password per chair and per station), configs for `monitord station` and for chair
daemons with simulated devices, the station as a real subprocess; and, for tests of what
the page shows, chair messages shaped as docs/mqtt.md says (`alert`, `vitals`,
`session`, `ChairPublisher`) and a logged-in page on a plain broker (`station_page`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp
import aiomqtt
from aiohttp import web

from monitord.config import load_config
from monitord.models import iso
from monitord.station.auth import hash_pin
from monitord.station.server import Station
from tests.kit import eventually
from tests.servers import Mosquitto, free_port
from tests.station.cdp import Browser, Page, browser

SITE = "clinic-north"  # the site of config/mosquitto/monitord.acl
PREFIX = "monitord"
STATION = "station-1"
USERS = {
    **{f"chair-{i}": f"pw-chair-{i}" for i in range(1, 5)},
    STATION: "pw-station-secret-7f3a",
    "station-2": "pw-station-2",  # the tests' observer (a second station's account)
}
NURSES = {"alice": "4821", "bob": "9174"}
TZ = "America/New_York"


def write_nurses(path: Path) -> Path:
    # Few iterations: the scheme and the check are the real ones, the test stays fast.
    path.write_text(
        "# nurses of the test clinic\n"
        + "".join(f"{n}:{hash_pin(p, iterations=1000)}\n" for n, p in NURSES.items())
    )
    path.chmod(0o600)
    return path


def mqtt_section(broker: Mosquitto, user: str | None, tmp: Path, prefix: str = PREFIX) -> str:
    lines = [
        "[mqtt]",
        f'host = "{broker.host}"',
        f"port = {broker.port}",
        f'prefix = "{prefix}"',
        "keepalive_s = 5",
        "timeout_s = 3.0",
    ]
    if user is not None and user.startswith("chair-"):
        pw = tmp / f"{user}.pass"
        pw.write_text(USERS[user])
        pw.chmod(0o600)
        lines += [f'username = "{user}"', f'password_file = "{pw}"']
    if broker.tls is not None:
        lines += ["[mqtt.tls]", f'ca_file = "{broker.tls.ca_file}"']
    return "\n".join(lines) + "\n"


def station_config(
    tmp: Path,
    broker: Mosquitto,
    *,
    port: int | None = None,
    extra: str = "",
    acl: bool = True,
    prefix: str = PREFIX,
    host: str = "127.0.0.1",
) -> Path:
    """`host`: the address the station listens on (an IPv6 one is written in brackets)."""
    listen = f"[{host}]" if ":" in host else host
    nurses = write_nurses(tmp / "nurses")
    pw = tmp / "station-mqtt.pass"
    pw.write_text(USERS[STATION])
    pw.chmod(0o600)
    creds = f'mqtt_username = "{STATION}"\nmqtt_password_file = "{pw}"\n' if acl else ""
    cfg = tmp / "station.toml"
    cfg.write_text(
        f"""
[site]
id = "{SITE}"
timezone = "{TZ}"
{mqtt_section(broker, None, tmp, prefix)}
[station]
id = "{STATION}"
listen = "{listen}:{port or free_port(host)}"
nurses_file = "{nurses}"
session_ttl_s = 3600
{creds}
{extra}
"""
    )
    return cfg


def chair_config(tmp: Path, broker: Mosquitto, chair: str, scenario: list[dict[str, Any]]) -> Path:
    """One chair daemon (one Pi per chair) with a simulated IntelliVue playing `scenario`
    at real time, publishing as its own broker account."""
    d = tmp / chair
    d.mkdir(exist_ok=True)
    (d / "s.jsonl").write_text("".join(json.dumps(e) + "\n" for e in scenario))
    cfg = d / "monitord.toml"
    cfg.write_text(
        f"""
[site]
id = "{SITE}"
timezone = "{TZ}"
{mqtt_section(broker, chair, d)}
[influx]
enabled = false
[storage]
path = "{d / "outbox.sqlite"}"
[[chairs]]
id = "{chair}"
  [[chairs.devices]]
  id = "monitor"
  driver = "intellivue"
  poll_interval_s = 0.1
  simulate = "{d / "s.jsonl"}"
"""
    )
    return cfg


class Proc:
    """A `monitord` subprocess with its output in a log file."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.args, self.log = args, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        with open(self.log, "ab") as f:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "monitord", *self.args],
                stdout=f,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@contextlib.asynccontextmanager
async def station_process(
    cfg: Path, log: Path, kind: type[Proc] = Proc
) -> AsyncIterator[tuple[Proc, str]]:
    """`monitord station` started as `kind` starts it, yielded once it serves (with its
    URL); stopped at the end if still running."""
    p = kind(["station", "-c", str(cfg)], log).start()
    proc = p.proc
    assert proc is not None  # started
    try:
        await eventually(
            lambda: "station: http" in p.output() or proc.poll() is not None,
            30,
            "station serving",
        )
        assert p.proc is not None and p.proc.poll() is None, p.output()
        url = next(ln for ln in p.output().splitlines() if ln.startswith("station: "))[9:]
        yield p, url.rstrip("/")
    finally:
        p.stop()


@contextlib.asynccontextmanager
async def station_in_process(cfg: Path, **kw: Any) -> AsyncIterator[tuple[Station, str]]:
    """The real station served in this process, for tests that reach into it (a handler's
    task, its maps, its clock) or set what `monitord station` does not (`kw`: Station's
    keyword arguments); stopped at the end, which must end cleanly."""
    st = Station(load_config(cfg), **kw)
    stop = asyncio.Event()
    urls: list[str] = []
    served = asyncio.create_task(st.serve(stop, ready=urls.append))
    try:
        await eventually(lambda: bool(urls) or served.done(), 10, "station serving")
        if served.done():
            served.result()
        yield st, urls[0].rstrip("/")
    finally:
        stop.set()
        await asyncio.wait_for(served, 15)


@contextlib.asynccontextmanager
async def broker_and_station(
    tmp: Path, broker: Mosquitto, prefix: str
) -> AsyncIterator[tuple[aiomqtt.Client, Station, str]]:
    """A client logged in to `broker` (to publish as the chairs) and the station in this
    process on it (no ACL): the client, the station and its URL."""
    cfg = station_config(tmp, broker, acl=False, prefix=prefix)
    async with mqtt_login(broker) as c, station_in_process(cfg) as (st, url):
        yield c, st, url


@contextlib.asynccontextmanager
async def webhook_server(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    path: str = "/hook",
    host: str = "127.0.0.1",
) -> AsyncIterator[str]:
    """`handler` answering POSTs to `path` on `host` (any free port) for the block, as the
    forwarder's webhook: its base URL (an IPv6 host in brackets)."""
    app = web.Application()
    app.router.add_post(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, 0).start()
    name = f"[{host}]" if ":" in host else host
    try:
        yield f"http://{name}:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def faults(records: list[logging.LogRecord]) -> list[str]:
    """The records that read as a fault of the station: ERROR and above, or a traceback."""
    return [
        f"{r.name} {r.levelname} {r.getMessage()} {r.exc_info[1]!r}"
        if r.exc_info
        else f"{r.name} {r.levelname} {r.getMessage()}"
        for r in records
        if r.levelno >= logging.ERROR or r.exc_info is not None
    ]


@contextlib.asynccontextmanager
async def daemon_process(cfg: Path, log: Path) -> AsyncIterator[Proc]:
    p = Proc(["run", "--config", str(cfg)], log).start()
    try:
        yield p
    finally:
        p.stop()


@contextlib.asynccontextmanager
async def mqtt_login(broker: Mosquitto, user: str | None = None) -> AsyncIterator[aiomqtt.Client]:
    ctx = ssl.create_default_context(cafile=str(broker.tls.ca_file)) if broker.tls else None
    async with aiomqtt.Client(
        broker.host,
        broker.port,
        username=user,
        password=USERS.get(user or ""),
        protocol=aiomqtt.ProtocolVersion.V5,
        tls_context=ctx,
        timeout=10,
    ) as c:
        try:
            yield c
        finally:
            # A broker stopped under the client (test_station_stale_alarms) leaves the
            # disconnect's reason unread: read it here, or the collector logs it at ERROR
            # in whichever test runs next (mqttv5.V5Client does the same).
            gone = c._disconnected
            if gone.done() and not gone.cancelled():
                gone.exception()


def topic(chair: str, rest: str) -> str:
    return f"{PREFIX}/{SITE}/{chair}/{rest}"


async def login_page(page: Any, url: str, nurse: str = "alice") -> None:
    await page.goto(url + "/")
    await page.until("!document.getElementById('login-view').hidden", 20, "login form")
    await page.type_into("#login-name", nurse)
    await page.type_into("#login-pin", NURSES[nurse])
    await page.tap("#login-go")
    await page.until("!document.getElementById('board').hidden", 20, "logged in")


@contextlib.asynccontextmanager
async def show_logs(*procs: Proc) -> AsyncIterator[None]:
    """On a failure, print the processes' logs (pytest shows them with the failure)."""
    try:
        yield
    except BaseException:
        for p in procs:
            print(f"--- {p.args[0]} log ---\n{p.output()[-4000:]}")
        raise


# -- chair messages as a daemon publishes them (docs/mqtt.md), for tests of the page ------
def alert(
    chair: str, rule: str, prio: str, msg: str, *, kind: str = "physiological",
    ago_s: float = 10, **kw: Any,
) -> dict[str, Any]:  # fmt: skip
    """One alert of an `alerts/active` set, raised `ago_s` ago."""
    t = time.time() - ago_s
    return {
        "alert_id": f"{chair}:{rule}:{int(t * 1000)}",
        "rule": rule,
        "priority": prio,
        "kind": kind,
        "state": "active",
        "ack": False,
        "raised_t": t,
        "level": 0,
        "message": msg,
        "value": {},
        **kw,
    }


def vitals(
    chair: str, sys_: float, dia: float, hr: float, spo2: float, ago_s: float = 0
) -> dict[str, dict[str, Any]]:
    """Valid bp, hr and spo2 readings measured `ago_s` ago, by kind."""
    at = iso(time.time() - ago_s)
    base = {"chair": chair, "device": "monitor", "measured_at": at, "valid": True, "quality": []}
    return {
        "bp": {**base, "kind": "bp", "sys_mmHg": sys_, "dia_mmHg": dia, "map_mmHg": 110.4},
        "hr": {**base, "kind": "hr", "hr_bpm": hr},
        "spo2": {**base, "kind": "spo2", "spo2_pct": spo2},
    }


def session(phase: str, protocol: str, dose_ago_min: float | None) -> dict[str, Any]:
    """The `session` of an active set; the dose clocks only with `dose_ago_min`."""
    now = time.time()
    s: dict[str, Any] = {
        "phase": phase,
        "protocol": protocol,
        "session_id": "s",
        "started": iso(now - 3600),
        "dose_start": None,
        "dose_end": None,
        "observation_met": None,
        "bp_due": None,
        "bp_cycle_s": 600.0,
    }
    if dose_ago_min is not None:
        d = now - dose_ago_min * 60
        s.update(dose_start=iso(d), observation_met=iso(d + 7200), bp_due=iso(now + 240))
    return s


class ChairPublisher:
    """Publishes a chair's topics with the daemon's QoS and retain flags."""

    def __init__(self, client: aiomqtt.Client, prefix: str) -> None:
        self.client, self.prefix = client, prefix

    def topic(self, chair: str, rest: str) -> str:
        return f"{self.prefix}/{SITE}/{chair}/{rest}"

    async def status(self, chair: str, state: str, t: float | None = None) -> None:
        body = {"state": state, "time": iso(t or time.time()), "version": "0.1.0"}
        await self.client.publish(self.topic(chair, "status"), json.dumps(body), 1, True)

    async def vitals(self, chair: str, readings: dict[str, dict[str, Any]]) -> None:
        for kind, r in readings.items():
            await self.client.publish(self.topic(chair, f"vitals/{kind}"), json.dumps(r), 0, True)

    async def active(
        self, chair: str, alerts: list[dict[str, Any]], sess: dict[str, Any] | None = None,
        t: float | None = None,
    ) -> None:  # fmt: skip
        """The retained active set; `t` its time, when the set last changed (default now)."""
        body = {
            "time": iso(t or time.time()),
            "alerts": alerts,
            "session": sess or {"phase": "idle"},
        }
        await self.client.publish(self.topic(chair, "alerts/active"), json.dumps(body), 1, True)

    async def event(self, chair: str, a: dict[str, Any], event: str, **kw: Any) -> None:
        body = {
            "time": iso(time.time()), "chair": chair, "rule": a["rule"], "event": event,
            "priority": a["priority"], "kind": a["kind"], "alert_id": a["alert_id"],
            "phase": "dosing", "value": a.get("value"), "message": a["message"], **kw,
        }  # fmt: skip
        await self.client.publish(self.topic(chair, "alerts/events"), json.dumps(body), 1, False)

    async def chair(
        self, chair: str, alerts: list[dict[str, Any]], *, online: bool = True,
        sess: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        """A whole chair: status, readings of 30 s ago, its active set."""
        await self.status(chair, "online" if online else "offline")
        await self.vitals(chair, vitals(chair, 124, 78, 72, 98, ago_s=30))
        await self.active(chair, alerts, sess)

    @contextlib.asynccontextmanager
    async def receipts(self) -> AsyncIterator[dict[tuple[str, str, int | None], list[bool]]]:
        """Every chair's receipts as the daemon would hear them: (alert_id, event, level)
        -> the `sounded` of each receipt, in order, while the block runs."""
        got: dict[tuple[str, str, int | None], list[bool]] = {}
        pattern = self.topic("+", "alerts/receipts")
        await self.client.subscribe(pattern, qos=1)

        async def read() -> None:
            async for msg in self.client.messages:
                if msg.topic.matches(pattern):
                    assert isinstance(msg.payload, bytes)
                    r = json.loads(msg.payload)
                    got.setdefault((r["alert_id"], r["event"], r["level"]), []).append(r["sounded"])

        reader = asyncio.create_task(read())
        try:
            yield got
        finally:
            reader.cancel()


class Unlogged(NamedTuple):
    """What `station_and_browser` yields: a client on the broker (to publish as the chairs),
    a publisher on it, the station's process and URL, and a browser with no page yet."""

    client: aiomqtt.Client
    pub: ChairPublisher
    proc: Proc
    url: str
    browser: Browser


@contextlib.asynccontextmanager
async def station_and_browser(
    tmp: Path,
    broker: Mosquitto,
    prefix: str,
    *,
    cfg: Path | None = None,
    size: tuple[int, int] = (1400, 900),
) -> AsyncIterator[Unlogged]:
    """The real station (`monitord station`, its log shown on a failure) on a plain broker,
    a client logged in to the broker and a browser, before any page or login: for the tests
    that open the page themselves (a script put in first, a login of their own). `cfg`: a
    station config the test wrote or changed (default: `station_config`'s, no ACL)."""
    cfg = cfg or station_config(tmp, broker, acl=False, prefix=prefix)
    async with (
        mqtt_login(broker) as c,
        station_process(cfg, tmp / "station.log") as (proc, url),
        show_logs(proc),
        browser(size=size) as b,
    ):
        yield Unlogged(c, ChairPublisher(c, prefix), proc, url, b)


@contextlib.asynccontextmanager
async def station_page(
    tmp: Path,
    broker: Mosquitto,
    prefix: str,
    *,
    size: tuple[int, int] = (1400, 900),
    host: str = "127.0.0.1",
) -> AsyncIterator[tuple[Page, ChairPublisher]]:
    """The real station on a plain broker and a page logged in as alice (audio armed: the
    browser allows autoplay), with a publisher for the chairs' messages. `host`: the
    station's listen address (the page is opened there)."""
    cfg = station_config(tmp, broker, acl=False, prefix=prefix, host=host)
    async with station_and_browser(tmp, broker, prefix, cfg=cfg, size=size) as s:
        page = await s.browser.new_page()
        await login_page(page, s.url, "alice")
        await page.until("window.__monitordAudio.armed", 10, "audio armed")
        yield page, s.pub
        await page.close()


def tile(chair: str) -> str:
    """A JS expression: the chair's tile."""
    return f"document.querySelector('.tile[data-chair=\"{chair}\"]')"


async def api_login(http: aiohttp.ClientSession, url: str) -> str:
    """alice logged in over the API, as her page does; her session cookie's value."""
    r = await http.post(f"{url}/api/login", json={"name": "alice", "pin": NURSES["alice"]},
                        headers={"Origin": url})  # fmt: skip
    assert r.status == 200
    return r.cookies["monitord_station"].value


def unread_stream(url: str, token: str) -> socket.socket:
    """A wallboard that opens its event stream (session `token`) with a 4 KiB receive
    buffer and never reads it: what the station sends backs up within a few updates."""
    host, port = url.removeprefix("http://").split(":")
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((host, int(port)))
    s.sendall(
        f"GET /api/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Cookie: monitord_station={token}\r\n\r\n".encode()
    )
    return s


class Wallboard(NamedTuple):
    """`unread_wallboard`'s: a publisher on the broker (its client: `pub.client`), the
    station's process and URL, alice's logged-in HTTP session, her stream never read."""

    pub: ChairPublisher
    proc: Proc
    url: str
    http: aiohttp.ClientSession
    stream: socket.socket


@contextlib.asynccontextmanager
async def unread_wallboard(
    tmp: Path, broker: Mosquitto, prefix: str, *, extra: str = ""
) -> AsyncIterator[Wallboard]:
    """`monitord station` (`extra`: [station] lines) once on a plain broker, alice logged in
    over the API, and her wallboard's event stream opened and never read (`unread_stream`)."""
    cfg = station_config(tmp, broker, acl=False, prefix=prefix, extra=extra)
    async with (
        mqtt_login(broker) as c,
        station_process(cfg, tmp / "station.log") as (proc, url),
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
    ):
        await eventually(lambda: "station MQTT: connected" in proc.output(), 20, "up")
        stream = unread_stream(url, await api_login(http, url))
        try:
            yield Wallboard(ChairPublisher(c, prefix), proc, url, http, stream)
        finally:
            stream.close()
