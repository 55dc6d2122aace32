"""Fleet bench: 32 `monitord run` processes on one broker, one database, one station.

Every chair is its own `monitord run` child (one chair per daemon, as one Pi per chair),
real time. The bench plays each chair's devices: a Masimo oximeter on a pty whose master
the bench holds (SpO2 lines at 1 Hz) and an IntelliVue on a pty answered by
`IntelliVueSim` (HR at 1 Hz, NIBP every minute), as bench/alert_latency.py does, so the
moment a device byte is written is known. One mosquitto (the production settings that
matter here: persistence, `set_tcp_nodelay true`, no per-message logging), one influxd
(v1 API, every daemon writing), and a bare station (bench/station.py, a child process: it
reads the whole site and answers each alert event with a receipt per the contract).

A probe writes one SpO2 80 % line to a chair (t0) and waits for the station's receipt of
`raised` on `{chair}/alerts/receipts` at a subscriber here (t1); a 97 % line then clears
it (receipt of `cleared`). `[alerts]` sets `spo2.very_low` to `for_s = 0` so the rule
raises on that reading. The figure is device byte -> receipt back at the broker's
subscriber; the station's own `shown_at` gives device byte -> shown (same clock, one
machine). Floor: bare QoS 1 publish -> receive on the same broker, interleaved.

Nothing lost: after the probes the streams stop, the outboxes drain, and the counts in
InfluxDB (SpO2 rows per chair = Masimo lines written since a baseline taken once every
link is up; `spo2.very_low` alert rows per chair = 2 x probes) and at the station (events
per chair, receipts sent = received here) are checked. The oximeters' `silence_s` outlasts
the baseline pause (`oximeter_silence_s`), so no link drops while the streams stop;
`link_drops` counts any from the baseline to the probes' end.
RSS is summed over the 32 daemons; CPU of the daemons, mosquitto, influxd, the station and
this bench process (it plays 64 devices) over the probe window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import aiomqtt

from bench.alert_latency import Sent, _stream, masimo_line
from bench.common import DaemonProc, ProcSampler, Servers, child_env, summary_ms
from monitord.config import StorageConfig
from monitord.simulators.intellivue import IntelliVueSim
from monitord.simulators.pty import PtyPort
from tests.servers import Mosquitto, json_int

SITE = "fleet"
PREFIX = "monitord"
NIBP_EVERY_S = 60.0


def baseline_pause_max_s(commit_s: float) -> float:
    """The longest the streams stop for the baseline (`_settled_counts`: 0.5 s, then up
    to four reads a sink flush plus a group commit apart): 24.5 s with the 5-s default."""
    return 0.5 + 4 * (1.0 + commit_s)


def oximeter_silence_s(commit_s: float) -> float:
    """The fleet's Masimo `silence_s`: longer than the baseline pause, with the driver's
    own 5 s to spare for a loaded machine. With the default 5 s every oximeter link went
    silent, was dropped and reopened with growing backoff during the pause (6.5-24.5 s),
    so the first probes could meet a link still reconnecting. Only the link watch reads
    it: readings, alerts and the latency path are the same."""
    return baseline_pause_max_s(commit_s) + 5.0


class FleetMosquitto(Mosquitto):
    """The test broker with production logging (no `log_type all`: one line per message
    would be most of the broker's CPU) and Nagle off towards subscribers: a station also
    receiving QoS 0 vitals otherwise gets an alert up to one delayed ACK (~40 ms) late."""

    def _write_config(self) -> None:
        super()._write_config()
        lines = [ln for ln in self.conf.read_text().splitlines() if ln != "log_type all"]
        lines += ["log_type error", "log_type warning", "log_type notice"]
        if os.environ.get("BENCH_BROKER_NAGLE") != "1":  # =1: mosquitto's default, to compare
            lines.append("set_tcp_nodelay true")
        self.conf.write_text("\n".join(lines) + "\n")


def daemon_config(
    workdir: Path,
    mqtt: Mosquitto,
    servers: Servers,
    chair: str,
    ox: str,
    mon: str,
    commit_s: float = StorageConfig().commit_interval_s,
) -> Path:
    p = workdir / f"fleet-{chair}.toml"
    p.write_text(
        f"""log_level = "WARNING"
[site]
id = "{SITE}"
[mqtt]
host = "{mqtt.host}"
port = {mqtt.port}
[influx]
api = "v1"
url = "{servers.influxd.url}"
database = "bench_fleet"
[storage]
path = "{workdir / f"fleet-{chair}.sqlite"}"
commit_interval_s = {commit_s}
[alerts]
"spo2.very_low" = {{ for_s = 0, clear_for_s = 0, latching = false }}
[[chairs]]
id = "{chair}"
  [[chairs.devices]]
  id = "ox"
  driver = "masimo-ascii"
  port = "{ox}"
  silence_s = {oximeter_silence_s(commit_s)}
  [[chairs.devices]]
  id = "mon"
  driver = "intellivue"
  port = "{mon}"
"""
    )
    return p


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class Receipts:
    """Receipts (and floor probes) arriving at the bench's subscriber."""

    def __init__(self) -> None:
        self.waiting: dict[tuple[str, str], asyncio.Future[tuple[float, dict[str, Any]]]] = {}
        self.count: Counter[str] = Counter()

    def expect(self, key: tuple[str, str]) -> asyncio.Future[tuple[float, dict[str, Any]]]:
        fut: asyncio.Future[tuple[float, dict[str, Any]]] = (
            asyncio.get_running_loop().create_future()
        )
        self.waiting[key] = fut
        return fut

    async def run(self, client: aiomqtt.Client) -> None:
        async for msg in client.messages:
            t1 = time.perf_counter()
            topic = str(msg.topic)
            payload = msg.payload if isinstance(msg.payload, bytes) else b""
            if topic == "bench/floor":
                key, body = ("floor", payload[:16].decode()), {}
            else:
                body = json.loads(payload)
                chair = topic.split("/")[2]
                key = (chair, str(body.get("event")))
                self.count[chair] += 1
            fut = self.waiting.pop(key, None)
            if fut is not None and not fut.done():
                fut.set_result((t1, body))


async def _wait_online(mqtt: Mosquitto, chairs: list[str], wait_s: float = 120.0) -> None:
    seen: set[str] = set()
    async with aiomqtt.Client(mqtt.host, mqtt.port) as c:
        await c.subscribe(f"{PREFIX}/{SITE}/+/status", qos=1)

        async def collect() -> None:
            async for msg in c.messages:
                payload = msg.payload if isinstance(msg.payload, bytes) else b"{}"
                if json.loads(payload).get("state") == "online":
                    seen.add(str(msg.topic).split("/")[2])
                if seen >= set(chairs):
                    return

        await asyncio.wait_for(collect(), wait_s)


async def _settled_counts(servers: Servers, commit_s: float) -> dict[str, int]:
    """SpO2 rows per chair once two reads agree that are further apart than the sinks'
    flush (1 s) plus the store's group commit (`storage.commit_interval_s`: readings wait
    that long to be committed, and only then go to InfluxDB)."""
    gap = 1.0 + commit_s  # baseline_pause_max_s (the oximeters' silence_s) follows these
    await asyncio.sleep(0.5 + gap)
    last = (await asyncio.to_thread(_influx_counts, servers))[0]
    for _ in range(3):
        await asyncio.sleep(gap)
        now = (await asyncio.to_thread(_influx_counts, servers))[0]
        if now == last:
            return now
        last = now
    return last


def _influx_counts(servers: Servers) -> tuple[dict[str, int], dict[str, int]]:
    spo2: dict[str, int] = {}
    alerts: dict[str, int] = {}
    for row in servers.influxd.rows(
        "SELECT count(spo2_pct) FROM vitals WHERE device = 'ox' GROUP BY chair", "bench_fleet"
    ):
        spo2[str(row["chair"])] = json_int(row["count"])
    for row in servers.influxd.rows(
        "SELECT count(alert_id) FROM alerts WHERE rule = 'spo2.very_low' GROUP BY chair",
        "bench_fleet",
    ):
        alerts[str(row["chair"])] = json_int(row["count"])
    return spo2, alerts


def link_drops(log: Path, start: int = 0) -> int:
    """Serial links a daemon's log says it lost after byte `start`: one WARNING per loss
    (a run of failures while down is DEBUG after the first; serial_link.py `went_down`)."""
    try:
        with open(log, "rb") as f:
            f.seek(start)
            text = f.read().decode(errors="replace")
    except OSError:
        return 0
    return sum(
        1
        for ln in text.splitlines()
        if "monitord.drivers.serial_link:" in ln and "retrying with backoff" in ln
    )


class CpuWatch:
    """CPU seconds of a set of processes between start() and stop()."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.pids = pids
        self.t0 = 0.0
        self.c0: dict[str, float] = {}

    def _cpu(self) -> dict[str, float]:
        return {k: sum(ProcSampler(p).cpu_s() for p in ps) for k, ps in self.pids.items()}

    def start(self) -> None:
        self.c0, self.t0 = self._cpu(), time.monotonic()

    def stop(self) -> dict[str, float]:
        c1, dt = self._cpu(), time.monotonic() - self.t0
        return {k: round(100 * (c1[k] - self.c0[k]) / dt, 2) for k in c1}


def start_station(mqtt: Mosquitto, workdir: Path, out: Path) -> subprocess.Popen[bytes]:
    with open(workdir / "station.log", "wb") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.station",
                mqtt.host,
                str(mqtt.port),
                SITE,
                "station-1",
                str(out),
                PREFIX,
            ],
            env=child_env(),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


async def run(
    servers: Servers,
    workdir: Path,
    chairs_n: int = 32,
    probes: int = 300,
    warmup_s: float = 10.0,
    commit_s: float = StorageConfig().commit_interval_s,
    warm_s: float = 5.0,
) -> dict[str, Any]:
    """`commit_s` (the daemons' group commit: the baseline waits for two of them) and
    `warm_s` (the stream before the probes) shorter than the defaults only where the bench
    itself is checked: the figures are the default's."""
    chairs = [f"chair-{i + 1:02d}" for i in range(chairs_n)]
    servers.influxd.create_database("bench_fleet")
    mqtt = FleetMosquitto(workdir / "fleet-mosquitto")
    mqtt.start()
    oxs: dict[str, PtyPort] = {}
    mons: dict[str, IntelliVueSim] = {}
    daemons: dict[str, DaemonProc] = {}
    station_out = workdir / "station.json"
    station = start_station(mqtt, workdir, station_out)
    stop = asyncio.Event()
    sent = Sent()
    per_chair_lines: Counter[str] = Counter()
    expect_alerts: Counter[str] = Counter()  # raised + cleared per chair
    streamer: asyncio.Task[None] | None = None
    lat: list[float] = []
    shown: list[float] = []
    clear_lat: list[float] = []
    floor: list[float] = []
    rss: list[float] = []
    res: dict[str, Any] = {"chairs": chairs_n}
    try:
        for chair in chairs:
            ox = PtyPort()
            await ox.open()
            oxs[chair] = ox
            mon = IntelliVueSim(repeat=False)
            await mon.__aenter__()
            mons[chair] = mon
        # Count Masimo lines per chair: wrap each pty's write.
        for chair, ox in oxs.items():
            orig = ox.write

            def counted(data: bytes, _c: str = chair, _w: Any = orig) -> None:
                per_chair_lines[_c] += 1
                _w(data)

            ox.write = counted  # type: ignore[method-assign]  # counts, then the real write
        for chair in chairs:
            cfg = daemon_config(
                workdir, mqtt, servers, chair, oxs[chair].port, mons[chair].port, commit_s
            )
            daemons[chair] = DaemonProc(cfg, workdir)
            await asyncio.sleep(0.2)  # a fleet does not boot in the same 10 ms
        for d in daemons.values():
            await asyncio.to_thread(d.wait_ready, 120.0)
        await _wait_online(mqtt, chairs)
        # Warm-up stream: a serial link silent for its silence_s reconnects with backoff,
        # and lines arriving while it is closed never reach the daemon, as on a real port.
        # The daemons started one by one, so on a slow boot the first ones were silent that
        # long: stream until every link is up again, then pause (shorter than the
        # oximeters' silence_s, see oximeter_silence_s), take InfluxDB's counts as the
        # baseline and count lines from there. `link_drops` counts the drops from there to
        # the probes' end (a drop at boot is what the warm-up is for).
        streamer = asyncio.create_task(_stream(oxs, mons, stop, sent, NIBP_EVERY_S))
        await asyncio.sleep(warmup_s)
        log_marks = {c: d.log_path.stat().st_size for c, d in daemons.items()}
        stop.set()
        streamer.cancel()
        base_spo2 = await _settled_counts(servers, commit_s)
        per_chair_lines.clear()
        stop = asyncio.Event()
        # The probed chair's oximeter gets the probe's lines only (bench/alert_latency.py).
        probing: set[str] = set()
        streamer = asyncio.create_task(_stream(oxs, mons, stop, sent, NIBP_EVERY_S, probing))
        await asyncio.sleep(warm_s)  # first batches out, pages warm
        assert mqtt.pid is not None and servers.influxd.pid is not None
        cpu = CpuWatch(
            {
                "daemons": [d.pid for d in daemons.values()],
                "mosquitto": [mqtt.pid],
                "influxd": [servers.influxd.pid],
                "station": [station.pid],
                "bench": [os.getpid()],
            }
        )
        cpu.start()
        load0 = os.getloadavg()
        t_window = time.monotonic()
        async with aiomqtt.Client(mqtt.host, mqtt.port, identifier="fleet-bench") as sub:
            await sub.subscribe(f"{PREFIX}/{SITE}/+/alerts/receipts", qos=1)
            await sub.subscribe("bench/floor", qos=1)
            r = Receipts()
            rx = asyncio.create_task(r.run(sub))
            rng = random.Random(32)
            pad = b"x" * 380
            warmup = chairs_n
            for i in range(warmup + probes):
                chair = chairs[i % chairs_n]
                await asyncio.sleep(rng.uniform(0.2, 0.5))
                tag = f"{i:016d}"
                fut = r.expect(("floor", tag))
                t0 = time.perf_counter()
                await sub.publish("bench/floor", tag.encode() + pad, qos=1)
                t1, _ = await asyncio.wait_for(fut, 30)
                probing.add(chair)
                fut = r.expect((chair, "raised"))
                w0, t0a = time.time(), time.perf_counter()
                oxs[chair].write(masimo_line(80))
                t1a, body = await asyncio.wait_for(fut, 30)
                fut = r.expect((chair, "cleared"))
                t0c = time.perf_counter()
                oxs[chair].write(masimo_line(97))
                t1c, _ = await asyncio.wait_for(fut, 30)
                probing.discard(chair)
                expect_alerts[chair] += 2
                if i >= warmup:
                    floor.append(t1 - t0)
                    lat.append(t1a - t0a)
                    shown.append(_epoch(str(body["shown_at"])) - w0)
                    clear_lat.append(t1c - t0c)
                if i % 10 == 0:
                    rss.append(sum(ProcSampler(d.pid).rss_mb() for d in daemons.values()))
            res["cpu_pct"] = cpu.stop()
            res["link_drops"] = sum(
                link_drops(d.log_path, log_marks[c]) for c, d in daemons.items()
            )
            res["window_s"] = round(time.monotonic() - t_window, 1)
            res["load_during"] = [round(x, 2) for x in os.getloadavg()]
            res["load_before"] = [round(x, 2) for x in load0]
            stop.set()
            await asyncio.sleep(2.0)
            streamer.cancel()
            # Nothing lost: wait until InfluxDB has every SpO2 line and alert event.
            deadline = time.monotonic() + 120
            lines = {c: base_spo2.get(c, 0) + per_chair_lines[c] for c in chairs}
            spo2, alerts = await asyncio.to_thread(_influx_counts, servers)
            while time.monotonic() < deadline and (spo2 != lines or alerts != dict(expect_alerts)):
                await asyncio.sleep(0.5)
                spo2, alerts = await asyncio.to_thread(_influx_counts, servers)
            rx.cancel()
            res["receipts_at_bench"] = sum(r.count.values())
        res["influx_spo2_rows"] = sum(spo2.values()) - sum(base_spo2.values())
        res["masimo_lines_written"] = sum(per_chair_lines.values())
        res["influx_spo2_match"] = spo2 == lines
        res["influx_alert_rows"] = sum(alerts.values())
        res["alert_events_expected"] = sum(expect_alerts.values())
        res["influx_alerts_match"] = alerts == dict(expect_alerts)
    finally:
        stop.set()
        if streamer is not None:
            streamer.cancel()
        rcs = await asyncio.gather(*(asyncio.to_thread(d.stop) for d in daemons.values()))
        station.send_signal(signal.SIGTERM)
        try:
            station.wait(15)
        except subprocess.TimeoutExpired:
            station.kill()
        for ox in oxs.values():
            await ox.close()
        for mon in mons.values():
            await mon.__aexit__(None, None, None)
        mqtt.stop()
    st: dict[str, int] = json.loads(station_out.read_text()) if station_out.exists() else {}
    st_events = {
        c: sum(v for k, v in st.items() if k.startswith(f"event|{c}|spo2.very_low:"))
        for c in chairs
    }
    res.update(
        {
            "probes": len(lat),
            "receipt": summary_ms(lat),
            "shown": summary_ms(shown),
            "clear_receipt": summary_ms(clear_lat),
            "floor": summary_ms(floor),
            "rss_total_mb_max": round(max(rss), 1) if rss else None,
            "rss_per_daemon_mb": round(max(rss) / chairs_n, 1) if rss else None,
            "station_events": sum(st_events.values()),
            "station_events_match": st_events == dict(expect_alerts),
            "station_receipts_sent": st.get("receipts_sent", 0),
            "station_events_all_rules": dict(
                sum(
                    (Counter({k.split("|", 2)[2]: v}) for k, v in st.items() if k[:6] == "event|"),
                    Counter(),
                )
            ),
            "station_vitals": st.get("vitals", 0),
            "daemon_exit_codes": sorted(set(rcs)),
        }
    )
    res["nothing_lost"] = bool(
        res.get("influx_spo2_match")
        and res.get("influx_alerts_match")
        and res["station_events_match"]
        and res["station_receipts_sent"] == res.get("receipts_at_bench")
    )
    return res


if __name__ == "__main__":
    from bench.common import Workdir
    from tests.servers import Influxd, reap_all

    ap = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__)
    ap.add_argument("--chairs", type=int, default=32, help="daemons, one chair each")
    ap.add_argument("--probes", type=int, default=300, help="alarms raised in all")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    n, k = args.chairs, args.probes

    async def _main() -> dict[str, Any]:
        with Workdir("fleet-", keep=args.keep) as wd:
            servers = Servers.__new__(Servers)  # influxd only: the fleet has its own broker
            servers.workdir = wd
            servers.influxd = Influxd(wd / "influxd")
            servers.influxd.start()
            try:
                return await run(servers, wd, n, k)
            finally:
                servers.influxd.stop()
                reap_all()

    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    print(json.dumps(asyncio.run(_main()), indent=1))
