"""Ingest ceiling: readings/s through the daemon into InfluxDB, against the server's raw
ceiling measured in the same run.

Daemon path (in-process `Daemon`, MQTT off, InfluxDB on): a feeder that mimics the
devices of 16 chairs hands pre-built `Reading`s (HR and SpO2, distinct timestamps per
series) to `ChairRuntime.submit`, as a decoder's `ctx.emit` does, respecting the chair
queue; the chair tasks run them through the engine and the SQLite outbox (durable, one
commit per batch), and the InfluxSink drains the outbox. The figure is readings / seconds
from the first submit until the sink has had every row confirmed by the server; the
server's row count is checked afterwards.

Raw ceiling: the same number of points as pre-built line protocol, posted with aiohttp in
batches of 10,000 (one request at a time, like the sink), to the same server.

A smaller real-pty variant (Masimo lines written as fast as 16 ptys take them) shows the
serial + decode path on top (influxd only).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import Servers, poll_until
from monitord.config import loads_config
from monitord.daemon import Daemon
from monitord.models import Kind, Reading
from monitord.sinks.influx import InfluxSink
from tests.servers import json_int

CHAIRS = 16
RAW_BATCH = 10_000


def _influx_section(api: str, servers: Servers, db: str) -> str:
    if api == "v1":
        return f'api = "v1"\nurl = "{servers.influxd.url}"\ndatabase = "{db}"\n'
    return f'api = "v2"\nurl = "{servers.vm.url}"\nbucket = "{db}"\norg = "bench"\n'


def _config(workdir: Path, servers: Servers, api: str, db: str, site: str, devices: str) -> str:
    chairs = "".join(
        f'\n[[chairs]]\nid = "chair-{c + 1:02d}"\n' + devices.format(c=c) for c in range(CHAIRS)
    )
    return (
        f'log_level = "WARNING"\n[site]\nid = "{site}"\n[mqtt]\nenabled = false\n'
        f"[influx]\n{_influx_section(api, servers, db)}"
        f'[storage]\npath = "{workdir / f"ingest-{site}.sqlite"}"\n{chairs}'
    )


def _readings(n: int, base_t: float) -> list[list[Reading]]:
    """n readings spread over the chairs: HR and SpO2 alternating, 10 ms apart per series."""
    per_chair: list[list[Reading]] = [[] for _ in range(CHAIRS)]
    hr = {"hr_bpm": 72.0}
    ox = {"spo2_pct": 97.0, "pulse_bpm": 72.0}
    for i in range(n):
        c = i % CHAIRS
        k = i // CHAIRS
        at = datetime.fromtimestamp(base_t + (k // 2) * 0.01, UTC)
        if k % 2 == 0:
            r = Reading(f"chair-{c + 1:02d}", "hr", Kind.HR, hr, at, at)
        else:
            r = Reading(f"chair-{c + 1:02d}", "ox", Kind.SPO2, ox, at, at, contact=True)
        per_chair[c].append(r)
    return per_chair


async def _count_rows(servers: Servers, api: str, db: str, site: str) -> int:
    if api == "v1":
        total = 0
        for f in ("hr_bpm", "spo2_pct"):
            rows = await asyncio.to_thread(
                servers.influxd.rows, f"SELECT count({f}) FROM vitals WHERE site='{site}'", db
            )
            total += json_int(rows[0]["count"]) if rows else 0
        return total
    await asyncio.to_thread(servers.vm.flush)
    total = 0
    async with aiohttp.ClientSession() as s:
        for m in ("vitals_hr_bpm", "vitals_spo2_pct"):
            q = f'sum(count_over_time({m}{{site="{site}"}}[3h]))'
            async with s.get(
                f"{servers.vm.url}/api/v1/query", params={"query": q, "time": str(time.time())}
            ) as r:
                res = json.loads(await r.read())["data"]["result"]
                total += int(float(res[0]["value"][1])) if res else 0
    return total


async def _wait_count(servers: Servers, api: str, db: str, site: str, n: int) -> int:
    got = 0
    for _ in range(100):
        got = await _count_rows(servers, api, db, site)
        if got >= n:
            break
        await asyncio.sleep(0.3)
    return got


async def daemon_ingest(servers: Servers, workdir: Path, api: str, n: int) -> dict[str, Any]:
    site = f"ingest{api}"
    db = f"bench_{site}"
    if api == "v1":
        servers.influxd.create_database(db)
    cfg = loads_config(_config(workdir, servers, api, db, site, ""))
    per_chair = _readings(n, time.time() - 3600)
    daemon = Daemon(cfg)
    task = asyncio.create_task(daemon.run())
    await poll_until(lambda: daemon.supervisor is not None and daemon.sinks)
    await asyncio.sleep(0.2)
    influx = daemon.sinks[0]
    assert isinstance(influx, InfluxSink)
    chairs = list(daemon.chairs.values())
    burst = 500
    t0 = time.perf_counter()
    idx = [0] * CHAIRS
    remaining = n
    while remaining:
        for c, rt in enumerate(chairs):
            rs = per_chair[c]
            if idx[c] >= len(rs) or rt.queue.qsize() > 9000:
                continue
            part = rs[idx[c] : idx[c] + burst]
            for r in part:
                rt.submit(r)
            idx[c] += len(part)
            remaining -= len(part)
        await asyncio.sleep(0)
    t_fed = time.perf_counter()
    await poll_until(lambda: influx.stats.points >= n)
    t1 = time.perf_counter()
    daemon.stop_event.set()
    await asyncio.wait_for(task, 30)
    in_server = await _wait_count(servers, api, db, site, n)
    overflow = sum(c.overflow for c in chairs)
    return {
        "api": api,
        "server": "influxd 1.6" if api == "v1" else "victoria-metrics",
        "readings": n,
        "seconds": round(t1 - t0, 3),
        "rps": round(n / (t1 - t0)),
        "fed_rps": round(n / (t_fed - t0)),
        "in_server": in_server,
        "dropped_queue_full": overflow,
    }


def _raw_lines(n: int, site: str, base_ns: int) -> list[bytes]:
    batches: list[bytes] = []
    lines: list[str] = []
    for i in range(n):
        c = i % CHAIRS
        k = i // CHAIRS
        ts = base_ns + (k // 2) * 10_000_000
        if k % 2 == 0:
            lines.append(
                f"vitals,chair=chair-{c + 1:02d},device=hr,site={site} hr_bpm=72,valid=true {ts}"
            )
        else:
            lines.append(
                f"vitals,chair=chair-{c + 1:02d},device=ox,site={site} "
                f"pulse_bpm=72,spo2_pct=97,valid=true {ts}"
            )
        if len(lines) == RAW_BATCH:
            batches.append(("\n".join(lines) + "\n").encode())
            lines = []
    if lines:
        batches.append(("\n".join(lines) + "\n").encode())
    return batches


async def raw_ceiling(servers: Servers, api: str, n: int) -> dict[str, Any]:
    site = f"raw{api}"
    db = f"bench_{site}"
    if api == "v1":
        servers.influxd.create_database(db)
        url = f"{servers.influxd.url}/write?" + urllib.parse.urlencode(
            {"db": db, "precision": "ns"}
        )
    else:
        url = f"{servers.vm.url}/api/v2/write?" + urllib.parse.urlencode(
            {"bucket": db, "org": "bench", "precision": "ns"}
        )
    batches = _raw_lines(n, site, int((time.time() - 3600) * 1e9))
    async with aiohttp.ClientSession() as s:
        t0 = time.perf_counter()
        for body in batches:
            async with s.post(url, data=body) as r:
                if r.status >= 300:
                    raise RuntimeError(f"raw write {r.status}: {(await r.read())[:200]!r}")
        t1 = time.perf_counter()
    in_server = await _wait_count(servers, api, db, site, n)
    return {
        "api": api,
        "readings": n,
        "seconds": round(t1 - t0, 3),
        "rps": round(n / (t1 - t0)),
        "in_server": in_server,
    }


async def pty_ingest(servers: Servers, workdir: Path, lines_per_chair: int) -> dict[str, Any]:
    """16 Masimo ptys written as fast as the daemon reads them (blocking writes in threads,
    so the pty's own flow control paces the writer, as a UART at full speed would)."""
    from monitord.simulators.pty import PtyPort

    site = "ingestpty"
    db = f"bench_{site}"
    servers.influxd.create_database(db)
    ports: list[PtyPort] = []
    for _ in range(CHAIRS):
        p = PtyPort()
        await p.open()
        assert p._master is not None  # open
        asyncio.get_running_loop().remove_reader(p._master)
        ports.append(p)
    devices = '  [[chairs.devices]]\n  id = "ox"\n  driver = "masimo-ascii"\n  port = "{port}"\n'
    chairs = "".join(
        f'\n[[chairs]]\nid = "chair-{c + 1:02d}"\n' + devices.format(port=ports[c].port)
        for c in range(CHAIRS)
    )
    text = (
        f'log_level = "WARNING"\n[site]\nid = "{site}"\n[mqtt]\nenabled = false\n'
        f"[influx]\n{_influx_section('v1', servers, db)}"
        f'[storage]\npath = "{workdir / "ingest-pty.sqlite"}"\n{chairs}'
    )
    daemon = Daemon(loads_config(text))
    task = asyncio.create_task(daemon.run())
    await poll_until(lambda: daemon.supervisor is not None and daemon.sinks)
    influx = daemon.sinks[0]
    assert isinstance(influx, InfluxSink)
    # wait for every link to open (the first line makes it "up")
    await asyncio.sleep(0.5)
    base = datetime.now(UTC).timestamp() - 2 * lines_per_chair
    payloads = []
    for _c in range(CHAIRS):
        buf = bytearray()
        for k in range(lines_per_chair):
            at = datetime.fromtimestamp(base + k, UTC)
            buf += (
                f"{at:%m/%d/%y %H:%M:%S} SN=0000000001 SPO2={95 + k % 4:03d}% BPM=072 "
                "PI=03.60% SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000000\r\n"
            ).encode()
        payloads.append(bytes(buf))

    def write_all(fd: int, data: bytes) -> None:
        os.set_blocking(fd, True)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view[:4096]) :]

    n = CHAIRS * lines_per_chair
    before = influx.stats.points
    t0 = time.perf_counter()
    threads = [
        threading.Thread(target=write_all, args=(p._master, payloads[i]), daemon=True)
        for i, p in enumerate(ports)
    ]
    for th in threads:
        th.start()
    await poll_until(lambda: influx.stats.points - before >= n, limit_s=120)
    t1 = time.perf_counter()
    got = influx.stats.points - before
    rejects = sum(
        sum(d.rejects.values()) for c in daemon.chairs.values() for d in c.devices.values()
    )
    daemon.stop_event.set()
    await asyncio.wait_for(task, 30)
    for th in threads:
        th.join(5)
    for p in ports:
        if p._master is not None:
            os.set_blocking(p._master, False)
        await p.close()
    return {
        "readings": n,
        "delivered": got,
        "rejects": rejects,
        "seconds": round(t1 - t0, 3),
        "rps": round(got / (t1 - t0)),
    }


async def run(servers: Servers, workdir: Path, quick: bool) -> dict[str, Any]:
    n = 50_000 if quick else 400_000
    out: dict[str, Any] = {}
    for api in ("v1", "v2"):
        raw = await raw_ceiling(servers, api, n)
        d = await daemon_ingest(servers, workdir, api, n)
        out[api] = {"daemon": d, "raw": raw, "ratio": round(d["rps"] / raw["rps"], 3)}
    out["pty"] = await pty_ingest(servers, workdir, 300 if quick else 3000)
    return out


if __name__ == "__main__":
    import argparse

    from bench.common import Workdir

    ap = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer readings (a smoke run)")
    args = ap.parse_args()

    async def _main() -> None:
        with Workdir("ingest-") as wd:
            servers = Servers(wd)
            servers.start()
            try:
                res = await run(servers, wd, args.quick)
            finally:
                servers.stop()
        print(json.dumps(res, indent=2))

    asyncio.run(_main())
