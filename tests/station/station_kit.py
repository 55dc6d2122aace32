"""Shared parts of the station tests: the shipped broker ACL on a real mosquitto (TLS,
a password per chair and per station), configs for `monitord station` and for chair
daemons with simulated devices, and the station as a real subprocess."""

from __future__ import annotations

import contextlib
import json
import signal
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt

from monitord.station.auth import hash_pin
from tests.kit import eventually
from tests.servers import Mosquitto, free_port

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
) -> Path:
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
listen = "127.0.0.1:{port or free_port()}"
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
async def station_process(cfg: Path, log: Path) -> AsyncIterator[tuple[Proc, str]]:
    p = Proc(["station", "-c", str(cfg)], log).start()
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
        yield c


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
