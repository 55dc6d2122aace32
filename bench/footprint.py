"""Footprint of `monitord run`: RSS and CPU with 4 and 64 simulated devices, idle CPU, and
start-to-READY (spawn -> READY=1 on a NOTIFY_SOCKET we own, as systemd measures it).

Simulated devices are the daemon's own (`simulate = scenario.jsonl`): a pty simulator per
serial device (IntelliVue + Masimo per chair) driven by the scenario player at 1x speed,
HR and SpO2 at 1 Hz, NIBP every minute, with MQTT and InfluxDB v1 on the real servers.
Idle: one real (not simulated) Masimo on a pty that sends nothing, sinks on.
RSS and CPU ticks come from /proc/PID/status and /proc/PID/stat, sampled every 0.5 s.
"""

from __future__ import annotations

import json
import os
import time
import tty
from pathlib import Path
from typing import Any

from bench.common import DaemonProc, ProcSampler, Servers


def scenario(path: Path, seconds: int, bp_every: int = 60) -> None:
    lines = ['{"t": 0, "event": "session_start", "protocol": "esketamine"}']
    for t in range(1, seconds):
        lines.append(f'{{"t": {t}, "event": "hr", "hr": {70 + t % 5}}}')
        lines.append(f'{{"t": {t}, "event": "spo2", "spo2": {97 - t % 2}, "pulse": 72}}')
        if t % bp_every == 5:
            lines.append(f'{{"t": {t}, "event": "bp", "sys": 122, "dia": 78, "pulse": 72}}')
    lines.append(f'{{"t": {seconds}, "event": "end"}}')
    path.write_text("\n".join(lines) + "\n")


def _sinks(servers: Servers, db: str, site: str) -> str:
    return (
        f'log_level = "WARNING"\n[site]\nid = "{site}"\n'
        f'[mqtt]\nhost = "{servers.mqtt.host}"\nport = {servers.mqtt.port}\n'
        f'[influx]\napi = "v1"\nurl = "{servers.influxd.url}"\ndatabase = "{db}"\n'
    )


def sim_config(workdir: Path, servers: Servers, devices: int, scen: Path) -> Path:
    site = f"fp{devices}"
    db = f"bench_{site}"
    servers.influxd.create_database(db)
    chairs = ""
    for c in range(devices // 2):
        chairs += f'\n[[chairs]]\nid = "chair-{c + 1:02d}"\n'
        for dev, drv in (("mon", "intellivue"), ("ox", "masimo-ascii")):
            chairs += (
                f'  [[chairs.devices]]\n  id = "{dev}"\n  driver = "{drv}"\n  simulate = "{scen}"\n'
            )
    p = workdir / f"footprint-{devices}.toml"
    p.write_text(
        _sinks(servers, db, site)
        + f'[storage]\npath = "{workdir / f"fp-{devices}.sqlite"}"\n'
        + chairs
    )
    return p


def measure(cfg: Path, workdir: Path, window_s: float) -> dict[str, Any]:
    d = DaemonProc(cfg, workdir)
    try:
        ready = d.wait_ready()
        s = ProcSampler(d.pid)
        rss0 = s.rss_mb()
        time.sleep(min(2.0, window_s / 5))  # let links come up, first batches go out
        rss: list[float] = []
        c0, t0 = s.cpu_s(), time.monotonic()
        while time.monotonic() - t0 < window_s:
            time.sleep(0.5)
            rss.append(s.rss_mb())
        c1, t1 = s.cpu_s(), time.monotonic()
        hwm = s.hwm_mb()
    finally:
        rc = d.stop()
    if rc != 0:
        raise RuntimeError(f"monitord exited {rc}; log {d.log_path}:\n{d.log_tail()}")
    return {
        "ready_s": round(ready, 3),
        "rss_ready_mb": round(rss0, 1),
        "rss_mean_mb": round(sum(rss) / len(rss), 1),
        "rss_max_mb": round(max(rss), 1),
        "rss_hwm_mb": round(hwm, 1),
        "cpu_pct": round(100 * (c1 - c0) / (t1 - t0), 2),
        "window_s": round(t1 - t0, 1),
    }


def idle_config(workdir: Path, servers: Servers) -> tuple[Path, tuple[int, int]]:
    """One real Masimo on a pty that never speaks (we hold both ends open)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    db = "bench_idle"
    servers.influxd.create_database(db)
    p = workdir / "idle.toml"
    p.write_text(
        _sinks(servers, db, "idle")
        + f'[storage]\npath = "{workdir / "idle.sqlite"}"\n'
        + '\n[[chairs]]\nid = "chair-01"\n  [[chairs.devices]]\n  id = "ox"\n'
        + f'  driver = "masimo-ascii"\n  port = "{path}"\n  silence_s = 3600\n'
    )
    return p, (master, slave)


def run(servers: Servers, workdir: Path, quick: bool) -> dict[str, Any]:
    window = 5.0 if quick else 60.0
    scen = workdir / "footprint.jsonl"
    # Just longer than the window: the scenario player keeps the parsed scenario in memory
    # (~1 KB per event per chair), which would otherwise swamp the daemon's own footprint.
    scenario(scen, int(window) + 240)
    out: dict[str, Any] = {}
    for n in (4, 64):
        out[f"dev{n}"] = measure(sim_config(workdir, servers, n, scen), workdir, window)
    cfg, fds = idle_config(workdir, servers)
    try:
        out["idle"] = measure(cfg, workdir, window)
    finally:
        for fd in fds:
            os.close(fd)
    # start-to-READY again, a few times (the first spawn warms the page cache)
    readies = [out[k]["ready_s"] for k in ("dev4", "dev64", "idle")]
    for _ in range(0 if quick else 5):
        d = DaemonProc(sim_config(workdir, servers, 4, scen), workdir)
        try:
            readies.append(round(d.wait_ready(), 3))
        finally:
            d.stop()
    out["ready_s_all"] = readies
    out["ready_s_median"] = sorted(readies)[len(readies) // 2]
    return out


if __name__ == "__main__":
    import argparse

    from bench.common import Workdir

    ap = argparse.ArgumentParser(prog="python -m bench.footprint", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="shorter windows (a smoke run)")
    args = ap.parse_args()
    with Workdir("fp-") as wd:
        servers = Servers(wd)
        servers.start()
        try:
            res = run(servers, wd, args.quick)
        finally:
            servers.stop()
    print(json.dumps(res, indent=2))
