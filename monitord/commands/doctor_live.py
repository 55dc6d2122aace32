"""`monitord doctor` on a Pi whose daemon runs: its MQTT lines from the daemon's own state.

Under the shipped broker config (`use_username_as_clientid`) a login as a chair's user
takes over that chair's live connection. Doctor logged in as each chair three times (the
login, the round trip, the stations read): the daemon lost its connection each time, its
Last Will marked the chair offline at the station, and two doctor runs in a row were the
five reasonless closes that read as two Pis with one chair file (`TAKEN OVER`, the tile
*TWO MONITORS REPORT AS THIS CHAIR*, sinks/mqtt_takeover.py). While a daemon holds this
config's store (its lock, as `monitord status` tells), doctor does not log in as its
chairs: the daemon's connection, as the daemon last wrote it, is the answer.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from monitord.commands.checks import Check, fail, ok, skip
from monitord.commands.status import collect, running
from monitord.config import Config, StorageConfig
from monitord.outbox import Outbox, OutboxError

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
        ob = Outbox(path, StorageConfig(path=path), readonly=True)
        try:
            st = collect(ob)
        finally:
            ob.close()
    except (OutboxError, OSError, sqlite3.Error):
        return {}  # held but unreadable (not root): said as such, no login either
    daemon = st.get("daemon")
    return daemon if isinstance(daemon, dict) else {}


def live_mqtt_checks(cfg: Config) -> list[Check] | None:
    """The mqtt, round-trip and stations lines of a running daemon; None when none runs."""
    daemon = _daemon_state(cfg)
    if daemon is None:
        return None
    m = cfg.mqtt
    where = f"{'mqtts' if m.tls else 'mqtt'}://{m.host}:{m.port}"
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
