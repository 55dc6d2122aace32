"""`monitord status`: the broker's and the database's connection, chairs, devices, link
states, last readings, active alerts and the outbox backlog per sink, read from the local
store (the daemon keeps its live state there
with `Outbox.put_state`, see monitord/outbox.py). Read-only: safe while the daemon runs.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import json
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from monitord import certfiles
from monitord.cli import DEFAULT_CONFIG, EX_OK, as_root
from monitord.config import StorageConfig, load_config
from monitord.outbox import SINKS, Outbox, OutboxError
from monitord.pathfault import unreadable
from monitord.storeopen import lock_path
from monitord.techalarm import alarm_file, load_alarm_file


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", type=Path, help="outbox file (overrides the config's storage.path)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def read(path: Path) -> dict[str, Any]:
    """`collect` from a read-only look at the store at `path` (status, doctor_live)."""
    with Outbox(path, StorageConfig(path=path), readonly=True) as ob:
        return collect(ob)


def collect(ob: Outbox) -> dict[str, Any]:
    """Everything status shows, as plain JSON."""
    chairs: dict[str, Any] = {}
    for key, (value, updated_ns) in ob.state_items("chair/").items():
        chairs[key.removeprefix("chair/")] = {
            "state": value,
            "updated": _age(updated_ns),
        }
    for chair in ob.chairs_seen():
        chairs.setdefault(chair, {"state": {}, "updated": None})
    for chair, info in chairs.items():
        info["last_readings"] = {kind: r.to_json() for kind, r in ob.last_readings(chair).items()}
    daemon = ob.state_items("daemon").get("daemon")
    # A chair whose task is not running (restarting after a crash): what its own row
    # holds is its last state, not live; said at the chair (the daemon's `tasks`).
    tasks = (daemon[0].get("tasks") if daemon else None) or []
    # A chair id the daemon's config no longer has (the Pi moved to another chair, an id
    # edited): its row is the old id's last state, kept in the store, no longer live.
    running = daemon[0].get("chairs") if daemon else None
    if isinstance(running, list):
        for chair, info in chairs.items():
            if chair not in running:
                info["departed"] = True
    for t in tasks:
        name = str(t.get("name", "")) if isinstance(t, dict) else ""
        chair = name.removeprefix("chair:")
        if name.startswith("chair:") and chair in chairs and t.get("state") != "running":
            chairs[chair]["task"] = t
    return {
        "store": str(ob.path),
        "daemon": daemon[0] if daemon else None,
        # Each sink's connection as the daemon last wrote it (monitord/sinks/linkstate.py).
        "connections": daemon[0].get("connections") if daemon else None,
        # How long ago the daemon last wrote its state (its heartbeat while it runs).
        "daemon_state_age_s": _age(daemon[1]) if daemon else None,
        "chairs": chairs,
        "backlog": {s: ob.backlog(s) for s in SINKS},
        "oldest_pending_s": {
            s: (None if (ns := ob.oldest_pending_ns(s)) is None else _age(ns)) for s in SINKS
        },
        "counters": ob.counters(),
    }


def _age(ns: int) -> float:
    return round(time.time() - ns / 1e9, 1)


def _fmt_reading(r: dict[str, Any]) -> str:
    vals = ", ".join(
        f"{k}={v:g}"
        for k, v in r.items()
        if k.endswith(("_mmHg", "_bpm", "_pct")) and v is not None
    )
    flags = f" [{', '.join(r['quality'])}]" if r.get("quality") else ""
    valid = "" if r.get("valid", True) else " INVALID"
    return f"{vals or '-'} at {r['measured_at']}{valid}{flags}"


def technical(store: Path) -> dict[str, Any] | None:
    """The daemon's technical alarms (monitord/techalarm.py), from the side file it keeps
    beside the store: readable when the store itself is full, locked or unusable. A file
    that is there but cannot be read is `{"unreadable": why}`, never shown as no alarms."""
    try:
        doc = load_alarm_file(store)
    except (OSError, ValueError) as e:
        # The side file is beside the store: a fault on the store's way is on its way too.
        shut = unreadable(alarm_file(store))
        why = shut[0] if shut else str(getattr(e, "strerror", None) or e)
        return {"unreadable": f"cannot read {alarm_file(store)}: {why}"}
    if doc is None:
        return None
    pid = doc.get("pid")
    doc["daemon_running"] = isinstance(pid, int) and _alive(pid)
    return doc


def _as_root(args: argparse.Namespace) -> str:
    """This command again with sudo, with the options given."""
    opts: list[str] = []
    if args.config != DEFAULT_CONFIG:
        opts += ["-c", args.config]
    if args.db is not None:
        opts += ["--db", str(args.db)]
    if args.json:
        opts.append("--json")
    return as_root("status", opts)


def running(store: Path) -> bool:
    """Whether a daemon holds the store: it keeps a write lock on `<store>.lock` for its
    whole life (monitord/storeopen.py), which the kernel drops when it dies, so unlike a
    pid this cannot be fooled by a stale file or a reused pid. Probed with a read lock
    taken and dropped at once (a daemon starting in that instant exits 75 and systemd
    starts it again)."""
    try:
        fd = os.open(lock_path(store), os.O_RDONLY)
    except OSError:
        return False  # never started here (or no lock file could be made: see storeopen)
    try:
        fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)  # closing drops our probe lock
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def render_technical(tech: dict[str, Any] | None) -> list[str]:
    if not tech:
        return []
    if tech.get("unreadable"):
        return [f"TECHNICAL ALARMS NOT SHOWN: {tech['unreadable']}"]
    out = []
    note = "" if tech.get("daemon_running") else f" (daemon pid {tech.get('pid')} not running)"
    for key, cond in (tech.get("active") or {}).items():
        out.append(f"TECHNICAL ALARM {key} since {cond.get('since')}: {cond.get('text')}{note}")
    for key, cond in (tech.get("cleared") or {}).items():
        out.append(f"technical alarm {key} cleared at {cond.get('cleared')}: {cond.get('text')}")
    return out


def render_daemon(st: dict[str, Any]) -> list[str]:
    d = st.get("daemon") if isinstance(st.get("daemon"), dict) else {}
    assert isinstance(d, dict)
    age = st.get("daemon_state_age_s")
    seen = f"state written {age:.0f} s ago" if age is not None else "no state written yet"
    who = f"pid {d['pid']}" if d.get("pid") else "pid unknown"
    version = f", monitord {d['version']}" if d.get("version") else ""
    if st.get("running"):
        out = [f"daemon: running ({who}{version}, since {d.get('started', '?')}; {seen})"]
    else:
        last = f"last run {who}{version}; {seen}" if d else "it has not run on this store"
        out = [
            f"daemon: STOPPED ({last})",
            "  what follows is as the daemon last recorded it, not live",
        ]
    if d.get("summary"):
        out.append(f"  {d['summary']}")
    for t in d.get("tasks") or []:
        if isinstance(t, dict):
            err = f", last error: {t['last_error']}" if t.get("last_error") else ""
            out.append(
                f"  task {t.get('name')}: {t.get('state')}, {t.get('restarts', 0)} restart(s){err}"
            )
    return out


# The daemon's own keys, shown by `render_daemon` and `render_connections`; the rest of
# `daemon` is delivery state.
# The daemon's own keys, not delivery facts: `render_delivery` prints every other key of
# the row on its `delivery:` line. `chairs` and `prefix` (the running chairs and MQTT
# prefix, for the next start and for "departed") there read as delivery on a Pi with MQTT
# disabled, which has no delivery line at all; `reached_broker` is for the next start too.
_DAEMON_KEYS = {
    "pid",
    "started",
    "version",
    "site",
    "summary",
    "tasks",
    "connections",
    "chairs",
    "prefix",
    "reached_broker",
}


def render_connections(conns: Any) -> list[str]:
    """One line per sink: connected since, DOWN since with the last error, or disabled;
    and one per chair whose connection another client takes over."""
    if not isinstance(conns, dict):
        return []  # a daemon of an earlier version, or none has run
    out = []
    for name, c in conns.items():
        c = c if isinstance(c, dict) else {}
        head = f"connection {name}" + (f" ({c['where']})" if c.get("where") else "")
        state, since, err = c.get("state"), c.get("since"), c.get("last_error")
        if state == "disabled":
            out.append(f"{head}: disabled in the config")
        elif state == "down":
            out.append(f"{head}: DOWN since {since}: {err or 'no error recorded'}")
        elif state == "connected":
            last = f" (last error at {c.get('last_error_since')}: {err})" if err else ""
            out.append(f"{head}: connected since {since}{last}")
        elif state == "untried":
            out.append(f"{head}: nothing sent yet (since {since})")
        else:
            out.append(f"{head}: {state} since {since}, no answer yet")
        # Said apart from the state: taken over, the link is mostly `connected`.
        taken = c.get("taken_over")
        for part, t in (taken if isinstance(taken, dict) else {}).items():
            t = t if isinstance(t, dict) else {}
            out.append(f"{head}: {part} TAKEN OVER since {t.get('since')}: {t.get('advice')}")
    return out


def render_delivery(d: Any) -> list[str]:
    """Stations online, receipts waiting, refused publishes, the annunciator
    (docs/delivery.md), as the daemon last wrote them."""
    if not isinstance(d, dict):
        return []
    out: list[str] = []
    online = d.get("stations_online")
    if isinstance(online, list):
        out.append(
            f"stations: {', '.join(online)} online"
            if online
            else "stations: NONE online: alerts may not be seen at the nurses' station"
        )
    own = {"annunciator_gpio": "GPIO NOT driven", "annunciator_command": "command NOT run"}
    rest = {k: v for k, v in d.items() if k not in _DAEMON_KEYS and k not in own}
    rest.pop("stations_online", None)
    if rest:
        out.append("delivery: " + ", ".join(f"{k}={_fmt_value(v)}" for k, v in rest.items()))
    for key, what in own.items():
        # `annunciator=high` alone read as the buzzer sounding, its line never opened.
        if isinstance(why := d.get(key), str):
            p = d.get("annunciator")
            out.append(f"annunciator {what} (annunciator={p} shows on nothing there): {why}")
    return out


def _fmt_value(v: Any) -> str:
    if isinstance(v, dict | list) and not v:
        return "none"  # not `stations_known=` with nothing after it
    if isinstance(v, dict):
        return ", ".join(f"{k} {_fmt_value(x)}" for k, x in v.items())
    if isinstance(v, list):
        return ", ".join(_fmt_value(x) for x in v)
    return str(v)


def render(st: dict[str, Any]) -> str:
    out = [f"store: {st['store']}"]
    out += render_daemon(st)
    out += render_connections(st.get("connections"))
    out += render_technical(st.get("technical"))
    out += st.get("certificates") or []
    out += render_delivery(st.get("daemon"))
    if not st["chairs"]:
        out.append("chairs: none recorded yet")
    for chair, info in st["chairs"].items():
        s = info["state"] if isinstance(info["state"], dict) else {}
        head = f"chair {chair}"
        for k in ("phase", "protocol", "session_id"):
            if s.get(k):
                head += f"  {k}={s[k]}"
        if info["updated"] is not None:
            head += f"  (state updated {info['updated']:.0f} s ago)"
        out.append(head)
        if info.get("departed"):
            out.append(
                "  NOT IN THE DAEMON'S CONFIG (chair id changed or removed): what follows is "
                "this id's last state, not live; its alarms are not evaluated on this Pi"
            )
        if isinstance(task := info.get("task"), dict):
            how = (
                "restarting after a crash" if task.get("state") == "backoff" else task.get("state")
            )
            err = f", last error: {task['last_error']}" if task.get("last_error") else ""
            out.append(
                f"  CHAIR TASK NOT RUNNING ({how}, {task.get('restarts', 0)} restart(s){err}): "
                "its alarms are not evaluated; what follows is its last state, not live"
            )
        devices = s.get("devices") or {}
        for dev, dv in devices.items():
            dv = dv if isinstance(dv, dict) else {"link": dv}
            extra = ", ".join(f"{k}={_fmt_value(v)}" for k, v in dv.items() if k != "link")
            out.append(
                f"  device {dev}: link {dv.get('link', '?')}" + (f" ({extra})" if extra else "")
            )
        for kind, r in info["last_readings"].items():
            out.append(f"  last {kind}: {_fmt_reading(r)}")
        if s.get("stored_records") or s.get("duplicate_bp_ignored"):
            out.append(
                f"  device memory: {s.get('stored_records', 0)} stored record(s) kept as "
                f"history, {s.get('duplicate_bp_ignored', 0)} BP repeat(s) ignored"
            )
        active = s.get("active_alerts") or []
        if not active:
            out.append("  active alerts: none")
        for a in active:
            if isinstance(a, dict):
                desc = " ".join(
                    str(a[k]) for k in ("priority", "rule", "state") if a.get(k) is not None
                )
                ack = " (acknowledged)" if a.get("ack") else ""
                out.append(f"  ALERT {desc}{ack} id={a.get('alert_id')}")
            else:
                out.append(f"  ALERT {a}")
    for sink, n in st["backlog"].items():
        age = st["oldest_pending_s"][sink]
        out.append(f"outbox {sink}: {n} pending" + (f", oldest {age:.0f} s" if age else ""))
    if st["counters"]:
        shown = {k: v for k, v in st["counters"].items() if k != "bytes" and v}
        if shown:
            out.append("counters: " + ", ".join(f"{k}={v}" for k, v in sorted(shown.items())))
    return "\n".join(out)


def main(args: argparse.Namespace) -> int:
    path: Path | None = args.db
    certs: list[str] = []
    if path is None:
        cfg = load_config(args.config)  # ConfigError: see monitord.cli
        path = cfg.storage.path
        # The daemon's certificate files near their expiry (its journal says it daily).
        if cfg.mqtt.enabled:
            certs = certfiles.near(certfiles.mqtt_files(cfg.mqtt.tls), dt.datetime.now(dt.UTC))
    tech = technical(path)
    try:
        st = read(path)
    except (OutboxError, OSError, sqlite3.Error) as e:
        for line in render_technical(tech) + certs:
            print(line)
        # A non-root admin on an installed Pi: the store's folder is the service user's.
        msg: object = e
        if shut := unreadable(path):
            why, root_helps = shut
            # Root gets no further through a path fault: then the path is what to fix.
            fix = (
                f"run it as root: {_as_root(args)}"
                if root_helps
                else f"check {'--db' if args.db else 'storage.path'}"
            )
            msg = f"cannot read {path}: {why}: {fix}"
        print(f"monitord status: {msg}", file=sys.stderr)
        return 1
    st["technical"] = tech
    st["certificates"] = certs
    st["running"] = running(path)
    print(json.dumps(st, indent=2) if args.json else render(st))
    return EX_OK
