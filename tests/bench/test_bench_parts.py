"""The bench's own parts, checked against real processes:

- the slow-storage shim really delays SQLite's syncs (the figures of bench/results.md's
  slow-disk run mean nothing otherwise);
- the bare station of the fleet bench answers alert events with receipts per the contract
  (the fleet's nothing-lost count relies on it) and ignores `"doctor": true`;
- a two-daemon fleet runs end to end with its counts and no serial link dropped from its
  baseline to its probes' end (~15 s: real daemons, real time);
- the fleet's oximeters outlast the bench's baseline pause at any group commit (a Masimo
  link silent for its `silence_s` is dropped and reopened with backoff);
- the alert bench runs against a broker and an InfluxDB it did not start (`--broker`,
  `--influx`: a Pi measuring against the station PC's servers) several times with one
  verdict (`--runs`: judged by the median run);
- the daemon's CPU per alarm counts every thread's time, the store writer's included (half
  an alarm's work runs there);
- the SD-card bench's monitors, held outside the daemon, send a Masimo line per second on
  each chair's pty (its readings-per-second is what the bytes per chair-hour are for).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiomqtt
import pytest

from bench import alert_latency, fleet, prunewait, sdcard, slowdisk
from bench.common import Servers, child_env, cpu_ns, remote_servers
from monitord.config import StorageConfig, loads_config
from monitord.drivers.registry import DRIVERS
from tests.servers import Influxd, Mosquitto

REPO = Path(__file__).resolve().parents[2]


def test_shim_intercepts_and_delays_sqlite_commits(tmp_path: Path) -> None:
    so = slowdisk.build(tmp_path / "shim")
    plain = slowdisk.commit_probe(tmp_path, {}, commits=5)
    slow = slowdisk.commit_probe(tmp_path, slowdisk.env(so, 40), commits=5)
    assert plain["syncs"] is None  # no shim, no counter
    # Every commit of a WAL database with synchronous=FULL syncs at least once, and each
    # sync sleeps 40 ms after the real one: a lower bound, not a timing race.
    assert slow["syncs"] >= 5
    assert slow["median_commit_ms"] >= 40.0


def test_shim_total_mode_sleeps_only_what_is_left_of_the_delay(tmp_path: Path) -> None:
    """`add` sleeps the whole delay after each real sync; `total` sleeps the delay less
    the real sync's own time, so a sync takes the delay in all: counted by the shim, not
    timed, except for the lower bound every commit must reach."""
    so = slowdisk.build(tmp_path / "shim")
    add = slowdisk.commit_probe(tmp_path, slowdisk.env(so, 40), commits=5)
    total = slowdisk.commit_probe(tmp_path, slowdisk.env(so, 40, total=True), commits=5)
    assert add["syncs"] >= 5 and total["syncs"] >= 5
    assert add["slept_ms"] == pytest.approx(40.0 * add["syncs"])
    assert total["slept_ms"] < 40.0 * total["syncs"]
    assert total["median_commit_ms"] >= 40.0


def test_the_alert_benchs_disk_floor_times_a_real_fdatasync(tmp_path: Path) -> None:
    """`DiskFloor.probe` (the alert bench's disk floor) under the shim that makes each
    sync sleep 30 ms: at least 30 ms a probe, so the probe does sync and times it."""
    so = slowdisk.build(tmp_path / "shim")
    code = (
        "import sys; from pathlib import Path; from bench.alert_latency import DiskFloor; "
        "d = DiskFloor(Path(sys.argv[1])); print(min(d.probe() for _ in range(3)))"
    )
    env = {**child_env(), **slowdisk.env(so, 30)}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "floor.bin")],
                         cwd=REPO, env=env, capture_output=True, text=True, check=True)  # fmt: skip
    assert float(out.stdout) >= 0.030
    assert (tmp_path / "floor.bin").stat().st_size == alert_latency.DiskFloor.SIZE


def test_prunewait_measures_alarms_behind_a_prune_on_the_slow_disk() -> None:
    res = prunewait.run(rows=3000, rounds=2, fsync_ms=30)
    assert res["fsync_ms"] == 30 and res["rows"] >= 3000 + 2 * 2 * 720
    assert len(res["plain_ms"]) == len(res["behind_prune_ms"]) == 2
    # Each alarm's commit fsyncs at least once, 30 ms longer in the child: a lower bound
    # that shows the measurement ran under the shim (no timing race).
    assert min(res["plain_ms"] + res["behind_prune_ms"]) >= 30.0


def _start_station(mqtt: Mosquitto, site: str, prefix: str, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.station",
            mqtt.host,
            str(mqtt.port),
            site,
            "station-7",
            str(out),
            prefix,
        ],
        env=child_env(),
    )


async def test_station_receipts_per_contract(mosquitto: Mosquitto, tmp_path: Path) -> None:
    site, prefix = "benchsite", "benchtest"
    out = tmp_path / "station.json"
    station = _start_station(mosquitto, site, prefix, out)
    base = f"{prefix}/{site}"
    try:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as c:
            await c.subscribe(f"{base}/stations/station-7", qos=1)
            await c.subscribe(f"{base}/+/alerts/receipts", qos=1)

            async def next_msg() -> aiomqtt.Message:
                async for m in c.messages:
                    return m
                raise AssertionError("no message")

            st = await asyncio.wait_for(next_msg(), 30)
            assert json.loads(st.payload)["state"] == "online"
            events = [
                {"rule": "spo2.very_low", "event": "raised", "priority": "high", "alert_id": "a1"},
                {"rule": "x", "event": "raised", "priority": "high", "doctor": True},
                {"rule": "tech.bp_invalid", "event": "raised", "priority": "low", "alert_id": "a2"},
            ]
            for ev in events:
                await c.publish(f"{base}/chair-3/alerts/events", json.dumps(ev), qos=1)
            got = [await asyncio.wait_for(next_msg(), 10) for _ in range(2)]
    finally:
        station.send_signal(signal.SIGTERM)
        assert station.wait(15) == 0
    bodies = [json.loads(m.payload) for m in got]
    assert [str(m.topic) for m in got] == [f"{base}/chair-3/alerts/receipts"] * 2
    assert [(b["alert_id"], b["event"], b["sounded"]) for b in bodies] == [
        ("a1", "raised", True),
        ("a2", "raised", False),  # low priority never sounds
    ]
    assert all(b["station"] == "station-7" and b["shown_at"].endswith("Z") for b in bodies)
    counts = json.loads(out.read_text())
    assert counts["receipts_sent"] == 2 and counts["doctor_or_other"] == 1


async def test_mini_fleet_counts_everything(influxd: Influxd, tmp_path: Path) -> None:
    """Two real `monitord run` daemons, the broker, influxd and the bench station: every
    probe gets its receipt and the nothing-lost counts hold (the fleet bench's checks)."""
    servers = Servers.__new__(Servers)  # the fleet starts its own broker; influxd shared
    servers.workdir, servers.influxd = tmp_path, influxd
    influxd.drop_database("bench_fleet")  # counts start at zero
    # Group commits at 0.5 s (not 5 s): the baseline settles in 3.5 s, not 12.5 s; the
    # probes start 1 s into the stream, not 5 s (the fleet's figures are not checked here).
    res = await fleet.run(
        servers, tmp_path, chairs_n=2, probes=4, warmup_s=3.0, commit_s=0.5, warm_s=1.0
    )
    assert res["probes"] == 4 and res["receipt"]["n"] == 4
    assert res["nothing_lost"], res
    assert res["daemon_exit_codes"] == [0]
    assert res["link_drops"] == 0, res  # the daemons' logs are fleet-chair-*.log here


@pytest.mark.parametrize("commit_s", [0.5, StorageConfig().commit_interval_s])
def test_fleet_oximeters_outlast_the_baseline_pause(tmp_path: Path, commit_s: float) -> None:
    """The fleet's daemon config, as `monitord run` reads it: the oximeter's silence
    (its own, else the driver's 5 s) is longer than the streams stop for the baseline.
    Before, with the default group commit the pause (6.5-24.5 s) outlasted the 5 s and
    every oximeter link dropped in it (the mini fleet with its short knobs pauses ~2 s)."""
    servers = Servers.__new__(Servers)
    servers.influxd = Influxd(tmp_path / "influxd")  # not started: its address only
    cfg = fleet.daemon_config(
        tmp_path,
        Mosquitto(tmp_path / "mqtt"),
        servers,
        "chair-01",
        "/dev/null",
        "/dev/null",
        commit_s,
    )
    (dev,) = (d for c in loads_config(cfg.read_text()).chairs for d in c.devices if d.id == "ox")
    driver = DRIVERS[dev.driver].serial
    assert driver is not None
    silence = dev.silence_s or driver.silence_s
    assert silence > fleet.baseline_pause_max_s(commit_s), silence


def test_loop_trace_catches_a_blocking_handle_and_joins_it_to_a_probe(tmp_path: Path) -> None:
    """bench/looptrace: a child whose loop blocks 20 ms in one task is traced (owner and
    duration, on the bench's clock), and `report` puts that handle in the probe it
    overlapped and charges it to its owner."""
    from bench import looptrace

    prog = tmp_path / "monitord_child.py"  # the trace is written for monitord processes
    prog.write_text(
        "import asyncio, time, json, sys\n"
        "async def hog():\n"
        "    t = time.perf_counter(); time.sleep(0.02); return t\n"
        "async def main():\n"
        "    t = await asyncio.create_task(hog(), name='hog')\n"
        "    print(json.dumps(t))\n"
        "asyncio.run(main())\n"
    )
    env = child_env(**looptrace.env(tmp_path, min_ms=5))
    out = subprocess.run([sys.executable, str(prog)], env=env, capture_output=True, check=True)
    t_hog = json.loads(out.stdout)
    probe = (t_hog - 0.001, 0.030, "chair-01")
    quiet = (t_hog + 1.0, 0.001, "chair-02")
    rep = looptrace.report(tmp_path, [probe, quiet], worst=2)
    owners = {o["owner"]: o for o in rep["loop_busy_by_owner"]}
    assert "task hog hog" in owners and owners["task hog hog"]["max_ms"] >= 20
    worst = rep["worst_probes"][0]
    assert worst["chair"] == "chair-01"
    assert any(who == "task hog hog" and d >= 20 for _, d, who in worst["handles_ms"])
    assert rep["worst_probes"][1]["handles_ms"] == []


@pytest.mark.parametrize(
    ("given", "says"),
    [
        (("127.0.0.1:1883", None), "go together"),
        ((None, "http://127.0.0.1:8086"), "go together"),
        (("127.0.0.1", "http://x:8086"), "expected HOST:PORT"),
        (("fd00::10", "http://x:8086"), "in brackets"),  # was host 'fd00:', port 10
        (("127.0.0.1:1883", "x:8086"), "expected an http(s):// URL"),
    ],
)
def test_remote_server_options_say_what_is_wrong(
    given: tuple[str | None, str | None], says: str
) -> None:
    with pytest.raises(SystemExit, match=re.escape(says)):
        remote_servers(*given)
    assert remote_servers(None, None) is None
    remote = remote_servers("[fd00::10]:1883", "http://[fd00::20]:8086")
    assert remote is not None and (remote.mqtt.host, remote.mqtt.port) == ("fd00::10", 1883)


async def test_alert_bench_runs_several_times_against_servers_it_did_not_start(
    mosquitto: Mosquitto, influxd: Influxd
) -> None:
    """`python -m bench.alert_latency --runs 2 --probes 4`: two full runs, each with its own
    daemon and store, and one verdict over them. With `--broker HOST:PORT --influx URL`:
    the bench's daemon, its probes and its floor all use the given servers, and the
    bench's database is created on the given InfluxDB. (One test for both: a run takes
    ~9 s of fixed phases, its CPU and disk windows cut to 2 s by `--window-s`, and a
    separate in-process run proved nothing this one does not.)"""
    influxd.drop_database("bench_alerts")
    broker = f"{mosquitto.host}:{mosquitto.port}"
    cmd = [sys.executable, "-m", "bench.alert_latency", "--quick", "--runs", "2", "--probes",
           "4", "--broker", broker, "--influx", influxd.url, "--window-s", "2"]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        cwd=REPO,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 180)
    assert proc.returncode == 0, err.decode()[-2000:]
    res = json.loads(out)
    runs = res["runs"]
    assert [r["probes"] for r in runs] == [4, 4]
    assert len({r["daemon_pid_log"] for r in runs}) == 2  # a daemon of its own each run
    for r in runs:
        assert r["servers"] == f"remote: broker {broker}, influx {influxd.url}"
        assert r["alert"]["n"] == 4 and r["floor"]["n"] == 4
        # The disk floor: a probe every 20 ms for 2 s (`--window-s`) after the alarms,
        # while the chairs stream.
        assert r["disk"]["n"] >= 10 and r["disk"]["p50_ms"] > 0
        # 16 chairs streaming cost the daemon some CPU; the per-alarm share is reported
        # (too few probes here for its value to mean anything).
        assert r["daemon_cpu_streaming_pct"] > 0
        assert isinstance(r["daemon_cpu_per_alarm_ms"], float)
    names = json.dumps(influxd.query("SHOW DATABASES"))
    assert '"bench_alerts"' in names
    v = res["verdict"]
    assert v["runs"] == 2 and v["limit_ms"] == alert_latency.OVER_FLOOR_MS
    assert v["overhead_p99_ms_runs"] == [r["overhead_p99_ms"] for r in runs]
    assert v["disk_p99_ms_runs"] == [r["disk"]["p99_ms"] for r in runs]


@pytest.mark.parametrize(
    ("over", "fsync_ms", "median", "under", "met"),
    [
        ([1.9, 2.5, 2.1], 0.0, 2.1, 1, False),  # target 1: 2 ms over the floor
        ([1.9, 1.7, 2.4], 0.0, 1.9, 2, True),
        ([24.0, 26.0, 24.5], 20.0, 24.5, 2, True),  # target 2: the 20-ms fsync + 5 ms
        ([25.5, 26.0, 24.5, 23.0], 20.0, 25.0, 2, True),  # an even count: the middle two
    ],
)
def test_verdict_is_the_median_run_against_the_targets_limit(
    over: list[float], fsync_ms: float, median: float, under: int, met: bool
) -> None:
    v = alert_latency.verdict([{"overhead_p99_ms": x} for x in over], fsync_ms)
    assert v["overhead_p99_ms_median"] == median
    assert v["under_limit_runs"] == under and v["met_by_median"] is met
    assert v["limit_ms"] == (fsync_ms + 5.0 if fsync_ms else 2.0)


SPIN = """
import sys, threading, time
go = threading.Event()
def spin() -> None:
    go.wait()
    t = time.thread_time()
    while time.thread_time() - t < 0.3:
        pass
    print("spun", flush=True)
    threading.Event().wait()  # alive: a live thread's time is what is counted
threading.Thread(target=spin, daemon=True).start()
print("ready", flush=True)
sys.stdin.readline()
go.set()
time.sleep(60)
"""


def test_cpu_ns_counts_a_second_thread_of_the_process() -> None:
    proc = subprocess.Popen([sys.executable, "-c", SPIN], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline() == "ready\n"
        before = cpu_ns(proc.pid)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == "spun\n"
        spent = cpu_ns(proc.pid) - before
        assert 0.29e9 <= spent < 2e9, spent  # the spinning thread's 0.3 s, not the main's
    finally:
        proc.kill()
        proc.wait()


def test_sdcard_config_can_carry_an_annunciator(
    mosquitto: Mosquitto, influxd: Influxd, tmp_path: Path
) -> None:
    """`bench.sdcard --annunciator`: the daemons' config has a local annunciator (a chair
    with a buzzer); without the flag it has none."""
    servers = remote_servers(f"{mosquitto.host}:{mosquitto.port}", influxd.url)
    assert servers is not None
    ports = [("/dev/null", "/dev/null")]
    with_it, _ = sdcard.config(tmp_path, servers, 1, tmp_path / "s.jsonl", ports, True)
    cfg = loads_config(with_it.read_text())
    assert cfg.annunciator.command == ["/bin/true"]
    (tmp_path / "plain").mkdir()
    plain, _ = sdcard.config(tmp_path / "plain", servers, 1, tmp_path / "s.jsonl", ports)
    assert loads_config(plain.read_text()).annunciator.command is None


def test_sdcard_monitors_stream_a_line_a_second_on_each_chairs_pty() -> None:
    with sdcard.HeldMonitors(2) as held:
        assert len(held.ports) == 2
        fds = [os.open(ox, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK) for _, ox in held.ports]
        try:
            got = [b"", b""]
            deadline = time.monotonic() + 3.5
            while time.monotonic() < deadline:
                time.sleep(0.1)
                for i, fd in enumerate(fds):
                    with contextlib.suppress(BlockingIOError):
                        got[i] += os.read(fd, 4096)
        finally:
            for fd in fds:
                os.close(fd)
    for data in got:  # 3.5 s of a line a second: three or four lines
        lines = [x for x in data.split(b"\r\n") if x]
        assert 3 <= len(lines) <= 4, data
        assert all(b"SPO2=" in x for x in lines), data


async def test_the_alert_benchs_streamer_leaves_a_probed_chairs_oximeter_alone() -> None:
    """A chair in `quiet` (a probe in flight) gets no Masimo line from the streamer: its
    97 % line used to clear the probe's alert before the probe's own line did, in ~2.5 %
    of probes (bench/results.md, 2026-12-02). Its HR keeps coming; the other chair's
    oximeter gets its line a second."""
    from bench.alert_latency import Sent, _stream
    from monitord.simulators.intellivue import IntelliVueSim
    from monitord.simulators.pty import PtyPort

    async with contextlib.AsyncExitStack() as stack:
        oxs: dict[str, PtyPort] = {}
        mons: dict[str, IntelliVueSim] = {}
        for c in ("probed", "other"):
            oxs[c] = PtyPort()
            await oxs[c].open()
            stack.push_async_callback(oxs[c].close)
            mons[c] = await stack.enter_async_context(IntelliVueSim(repeat=False))
        fds = {c: os.open(ox.port, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
               for c, ox in oxs.items()}  # fmt: skip
        stop, sent = asyncio.Event(), Sent()
        task = asyncio.create_task(_stream(oxs, mons, stop, sent, quiet={"probed"}))
        got = {c: b"" for c in oxs}
        try:
            for _ in range(25):  # 2.5 s: two or three seconds of the streamer
                await asyncio.sleep(0.1)
                for c, fd in fds.items():
                    with contextlib.suppress(BlockingIOError):
                        got[c] += os.read(fd, 4096)
        finally:
            stop.set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            for fd in fds.values():
                os.close(fd)
    assert got["probed"] == b""
    lines = [x for x in got["other"].split(b"\r\n") if x]
    assert 2 <= len(lines) <= 3 and all(b"SPO2=" in x for x in lines), got["other"]
