"""`monitord doctor` on a Pi whose daemon runs: its MQTT lines from the daemon's own state.

Under the shipped broker config (`use_username_as_clientid`) a login as a chair's user
takes over that chair's live connection. Doctor logged in as each chair three times (the
login, the round trip, the stations read): the daemon lost its connection each time, its
Last Will marked the chair offline at the station, and two doctor runs in a row were the
five reasonless closes that read as two Pis with one chair file (`TAKEN OVER`, the tile
*TWO MONITORS REPORT AS THIS CHAIR*, sinks/mqtt_takeover.py). While a daemon holds this
config's store (its lock, as `monitord status` tells), doctor does not log in as its
chairs: the daemon's connection, as the daemon last wrote it, is the answer. The same on
the station machine: `doctor -c station.toml` logged in as the station's user while the
station ran, took its connection (the wallboard reconnected, the chairs saw no station for
a moment) and then failed its own `stations` line when the station took it back
("Disconnected during message iteration -> fix: see the mqtt line", that line `ok`).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import ssl
from pathlib import Path
from typing import Any

from monitord.commands.checks import Check, fail, ok, skip
from monitord.commands.status import read, running
from monitord.config import Config
from monitord.netaddr import hostport
from monitord.outbox import OutboxError
from monitord.storeguard import LIVE_HEARTBEAT_S
from monitord.storeopen import lock_holder, lock_path

# A running daemon rewrites its state row at least once a heartbeat (monitord/storeguard.py):
# a row older than three of them is not the daemon's present state but a hung daemon's last.
STALE_AFTER_S = 3 * LIVE_HEARTBEAT_S

NOT_AGAIN = (
    "not logged in again as its chairs: the broker would hand it the daemon's connection "
    "(docs/delivery.md); stop the daemon (systemctl stop monitord) for doctor's own login"
)


async def done(c: Check) -> Check:
    """A line already known, where doctor awaits its checks."""
    return c


def _daemon_state(cfg: Config) -> dict[str, Any] | None:
    """The running daemon's state row, or None when no daemon holds the store."""
    path = cfg.storage.path
    if not cfg.chairs or not cfg.mqtt.enabled or not running(path):
        return None
    try:
        st = read(path)
    except (OutboxError, OSError, sqlite3.Error):
        return {}  # held but unreadable (not root): said as such, no login either
    daemon = st.get("daemon")
    if not isinstance(daemon, dict):
        return {}
    return {**daemon, "_age_s": st.get("daemon_state_age_s"), "_holder": _holder(path)}


def _holder(store: Path) -> int | None:
    """The pid holding `<store>.lock`, as the kernel says (monitord/storeopen.py): the pid
    written in the file is the previous daemon's when the holder's card refused the write."""
    try:
        fd = os.open(lock_path(store), os.O_RDONLY)
    except OSError:
        return None
    try:
        return lock_holder(fd)
    finally:
        os.close(fd)


def _not_live(daemon: dict[str, Any], where: str) -> list[Check] | None:
    """The state row is not the running daemon's present state: said, not read as `ok`.
    A daemon stopped uncleanly leaves its row (its pid, `connected`) to the next one,
    which holds the lock before it writes its own; a hung daemon keeps the lock and
    stops writing. Either way the row's `connected` and stations were not checked now."""
    pid, holder, age = daemon.get("pid"), daemon.get("_holder"), daemon.get("_age_s")
    if holder and pid and holder != pid:
        why = (
            f"the daemon holding the store (pid {holder}) has not written its state yet; "
            f"the last state is pid {pid}'s, which no longer holds it"
        )
        line = Check("warn", "mqtt", f"{where}: {why}", f"run monitord doctor again; {NOT_AGAIN}")
    elif isinstance(age, (int, float)) and age > STALE_AFTER_S:
        why = f"the running daemon (pid {holder or pid}) has not written its state for {age:.0f} s"
        line = fail(
            "mqtt",
            f"{where}: {why} (hung?): its broker connection is not known",
            "journalctl -u monitord; systemctl restart monitord",
        )
    else:
        return None
    return [
        line,
        skip("mqtt round trip", f"{why}; {NOT_AGAIN}"),
        skip("stations", f"{why}: its stations are not known"),
    ]


def live_mqtt_checks(cfg: Config) -> list[Check] | None:
    """The mqtt, round-trip and stations lines of a running daemon; None when none runs."""
    daemon = _daemon_state(cfg)
    if daemon is None:
        return None
    m = cfg.mqtt
    where = f"{'mqtts' if m.tls else 'mqtt'}://{hostport(m.host, m.port)}"
    stale = _not_live(daemon, where)
    if stale is not None:
        return stale
    pid = daemon.get("pid")
    who = f"the running daemon{f' (pid {pid})' if pid else ''}"
    conns = daemon.get("connections")
    c = conns.get("mqtt") if isinstance(conns, dict) else None
    c = c if isinstance(c, dict) else {}
    state, since, err = c.get("state"), c.get("since"), c.get("last_error")
    taken = c.get("taken_over")
    users = ", ".join(sorted({str(ch.mqtt_login(m)[0]) for ch in cfg.chairs}))
    if isinstance(taken, dict) and taken:
        part, t = next(iter(taken.items()))
        advice = t.get("advice") if isinstance(t, dict) else None
        line = fail("mqtt", f"{where}: {who}: {part} TAKEN OVER", str(advice or ""))
    elif state == "connected":
        line = ok("mqtt", f"{where}: {who} is connected as {users} since {since}", NOT_AGAIN)
    elif state == "down":
        line = fail(
            "mqtt",
            f"{where}: {who} is DOWN since {since}: {err or 'no error recorded'}",
            "fix what the error names, then systemctl restart monitord",
        )
    else:
        line = Check("warn", "mqtt", f"{where}: {who}: {state or 'no state yet'}", NOT_AGAIN)
    out = [line, skip("mqtt round trip", f"{who} holds the chairs' logins; {NOT_AGAIN}")]
    online = daemon.get("stations_online")
    if not isinstance(online, list):
        out.append(skip("stations", f"{who} has not said yet"))
    elif online:
        out.append(ok("stations", f"online: {', '.join(map(str, online))} (as {who} sees them)"))
    else:
        out.append(
            fail(
                "stations",
                f"no station online (as {who} sees them): an alert raised now would be seen "
                "by nobody at the station",
                "start the nurses' station (systemctl status monitord-station on its machine)",
            )
        )
    return out


# What the station's own page says it is (monitord/station/static/index.html): something
# else answering on its listen address is not a station whose connection a login would take.
STATION_TITLE = b"<title>monitord station</title>"


def _answer(host: str, port: int, tls: bool) -> bytes | None:
    """The page on the station's listen address here; None when nothing listens there,
    b"" when what listens gives no page (not HTTP, or not TLS as the config says)."""
    target = "127.0.0.1" if host in ("", "0.0.0.0") else host
    try:
        sock = socket.create_connection((target, port), timeout=1.0)
    except OSError:
        return None
    try:
        if tls:  # identifying the program only: its certificate is not what is checked
            ctx = ssl.create_default_context()
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
            sock = ctx.wrap_socket(sock, server_hostname=target)
        sock.sendall(f"GET / HTTP/1.0\r\nHost: {hostport(target, port)}\r\n\r\n".encode())
        body = b""
        while len(body) < 65536 and (chunk := sock.recv(4096)):
            body += chunk
        return body
    except TimeoutError:
        # Accepted but no page in time: a hung station (its watchdog restarts it) as well
        # as another program; its connection is not taken either (the skip, as before).
        return STATION_TITLE
    except OSError:
        return b""
    finally:
        sock.close()


def _station_here(cfg: Config) -> bool | None:
    """True: the station serves on its listen address here; False: another program holds
    that address; None: nothing listens there (or no station login to protect)."""
    st = cfg.station
    if cfg.chairs or st is None or not cfg.mqtt.enabled or not st.mqtt_username:
        return None
    # `::` is every IPv4 and IPv6 address (station/server.py): the station needs the port
    # on both, so another program on either half is one it cannot start beside, and a
    # machine whose IPv6 is off serves the station on 127.0.0.1 alone.
    targets = ["127.0.0.1", "::1"] if st.host == "::" else [st.host]
    pages = [_answer(t, st.port, st.tls_cert_file is not None) for t in targets]
    found = [STATION_TITLE in page for page in pages if page is not None]
    return None if not found else all(found)


def station_listen(cfg: Config) -> list[Check]:
    """A `FAIL` when another program answers on the station's listen address: the station
    cannot listen there (and doctor's login as its user is made, not skipped)."""
    if _station_here(cfg) is not False:
        return []
    assert cfg.station is not None
    where = cfg.station.listen
    return [
        fail(
            "station listen",
            f"{where} is answered here by another program, not the monitord station: "
            "the station cannot listen there",
            f"ss -ltnp 'sport = :{cfg.station.port}' names it; stop it or change [station] listen",
        )
    ]


def live_station_checks(cfg: Config) -> list[Check] | None:
    """A station config whose station serves on this machine: no login as its user (the
    mqtt, round-trip and stations lines say why); None when it does not serve here."""
    st = cfg.station
    if st is None or not _station_here(cfg):
        return None
    who = f"a station serves on {st.listen} here (monitord-station)"
    why = (
        f"not logged in as {st.mqtt_username}: the broker would hand it that station's "
        "connection (docs/delivery.md); its own broker state: systemctl status "
        "monitord-station (its status line) or the wallboard; stop it for doctor's login"
    )
    return [
        skip("mqtt", f"{who}; {why}"),
        skip("mqtt round trip", "no [[chairs]] in this config (a station's)"),
        skip("stations", f"{who}: see the mqtt line"),
    ]
