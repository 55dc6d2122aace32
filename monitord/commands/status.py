"""`monitord status`: chairs, devices, link states, last readings, active alerts and the
outbox backlog per sink, read from the local store (the daemon keeps its live state there
with `Outbox.put_state`, see monitord/outbox.py). Read-only: safe while the daemon runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from monitord.cli import EX_OK
from monitord.config import StorageConfig, load_config
from monitord.outbox import SINKS, Outbox, OutboxError
from monitord.techalarm import read_alarm_file

DEFAULT_CONFIG = "/etc/monitord/monitord.toml"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=DEFAULT_CONFIG, help="config file (for storage.path)")
    p.add_argument("--db", type=Path, help="outbox file (overrides the config's storage.path)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


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
    daemon = ob.get_state("daemon")
    return {
        "store": str(ob.path),
        "daemon": daemon,
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
    beside the store: readable when the store itself is full, locked or unusable."""
    doc = read_alarm_file(store)
    if doc is None:
        return None
    pid = doc.get("pid")
    doc["daemon_running"] = isinstance(pid, int) and _alive(pid)
    return doc


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
    out = []
    note = "" if tech.get("daemon_running") else f" (daemon pid {tech.get('pid')} not running)"
    for key, cond in (tech.get("active") or {}).items():
        out.append(f"TECHNICAL ALARM {key} since {cond.get('since')}: {cond.get('text')}{note}")
    for key, cond in (tech.get("cleared") or {}).items():
        out.append(f"technical alarm {key} cleared at {cond.get('cleared')}: {cond.get('text')}")
    return out


def render(st: dict[str, Any]) -> str:
    out = [f"store: {st['store']}"]
    out += render_technical(st.get("technical"))
    d = st.get("daemon")
    if isinstance(d, dict):
        out.append("daemon: " + ", ".join(f"{k}={v}" for k, v in d.items()))
        if isinstance(d.get("stations_online"), list):
            online = d["stations_online"]
            out.append(
                f"stations: {', '.join(online)} online"
                if online
                else "stations: NONE online: alerts may not be seen at the nurses' station"
            )
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
        devices = s.get("devices") or {}
        for dev, dv in devices.items():
            dv = dv if isinstance(dv, dict) else {"link": dv}
            extra = ", ".join(f"{k}={v}" for k, v in dv.items() if k != "link")
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
    if path is None:
        path = load_config(args.config).storage.path  # ConfigError: see monitord.cli
    tech = technical(path)
    try:
        ob = Outbox(path, StorageConfig(path=path), readonly=True)
        try:
            st = collect(ob)
        finally:
            ob.close()
    except (OutboxError, OSError, sqlite3.Error) as e:
        for line in render_technical(tech):
            print(line)
        print(f"monitord status: {e}", file=sys.stderr)
        return 1
    st["technical"] = tech
    print(json.dumps(st, indent=2) if args.json else render(st))
    return EX_OK
