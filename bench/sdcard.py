"""SD-card write volume and CPU per chair of a real `monitord run` at 1x.

Each daemon is a real `monitord run` child with simulated chairs (IntelliVue + Masimo on
ptys, at 1x, i.e. real time): HR and SpO2 at 1 Hz and NIBP every 10 min; MQTT and
InfluxDB v1 on the real servers. Two daemons
run side by side over the same window: one with 1 chair (a Pi per chair, the daemon's
fixed costs all on that chair) and one with 4 chairs.

Written bytes are the kernel's `write_bytes` of the daemon (/proc/PID/io: every byte the
process sent towards the block device, the SQLite WAL, its checkpoints into the main file
and the log included), read once when the window opens and once when it closes, and
scaled to a chair-hour. Real time, not accelerated: a faster scenario would put more
readings into each commit and each 1-s status write, and so understate the bytes per
chair-hour. The WAL's size and the main file's changes (in WAL mode the main file is
written only by a checkpoint) are sampled every second to show the checkpoint behaviour.
CPU % is utime + stime over the same window, per chair. `wal_pages` maps the frames of
the WAL's current generation to the tables their pages belong to (bench/walpages.py).

`--annunciator`: both daemons with `[annunciator] command = ["/bin/true"]`, as a chair
with a local buzzer or tone runs (docs/delivery.md), so target 4 is measured for it too.

Where the simulated monitors run (`--sims`): `bench` (the default) holds them in this
process, as the alert bench does (a Masimo line and the IntelliVue's HR each second, its
NIBP every 10 min), so the daemon's CPU is its own, as on a Pi reading real monitors.
`daemon` plays the scenario inside the daemon (`simulate =`, with a session open), as this
bench did before 2026-12-01: its CPU figure then includes the simulators' work.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import DaemonProc, ProcSampler, RemoteServers, Servers
from bench.footprint import scenario
from bench.walpages import summary as wal_summary

NIBP_EVERY_S = 600
CHAIR_COUNTS = (1, 4)


def io_bytes(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        k, v = line.split(":", 1)
        out[k] = int(v)
    return out


def config(
    workdir: Path,
    servers: Servers | RemoteServers,
    chairs: int,
    scen: Path,
    ports: list[tuple[str, str]] | None,
    annunciator: bool = False,
) -> tuple[Path, Path]:
    """`ports`: each chair's (IntelliVue, Masimo) pty, held by this process; None: the
    daemon simulates them from `scen`. `annunciator`: with a local annunciator configured
    (a command that does nothing), as a chair with a buzzer runs (docs/delivery.md)."""
    site = f"sd{chairs}"
    db = f"bench_{site}"
    servers.influxd.create_database(db)
    store = workdir / f"{site}.sqlite"
    text = (
        f'log_level = "WARNING"\n[site]\nid = "{site}"\n'
        f'[mqtt]\nhost = "{servers.mqtt.host}"\nport = {servers.mqtt.port}\n'
        f'[influx]\napi = "v1"\nurl = "{servers.influxd.url}"\ndatabase = "{db}"\n'
        f'[storage]\npath = "{store}"\n'
        + ('[annunciator]\ncommand = ["/bin/true"]\n' if annunciator else "")
    )
    for c in range(chairs):
        text += f'\n[[chairs]]\nid = "chair-{c + 1:02d}"\n'
        for k, (dev, drv) in enumerate((("mon", "intellivue"), ("ox", "masimo-ascii"))):
            where = f'simulate = "{scen}"' if ports is None else f'port = "{ports[c][k]}"'
            text += f'  [[chairs.devices]]\n  id = "{dev}"\n  driver = "{drv}"\n  {where}\n'
    p = workdir / f"{site}.toml"
    p.write_text(text)
    return p, store


class Watch:
    """Per-second samples of one daemon's store files."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.wal = Path(f"{store}-wal")
        self.wal_max = 0
        self.main_writes = 0
        self._main_sig: tuple[int, int] | None = None

    def sample(self) -> None:
        try:
            self.wal_max = max(self.wal_max, self.wal.stat().st_size)
            st = self.store.stat()
        except OSError:
            return
        sig = (st.st_mtime_ns, st.st_size)
        if self._main_sig is not None and sig != self._main_sig:
            self.main_writes += 1
        self._main_sig = sig


class HeldMonitors:
    """Each chair's IntelliVue and Masimo on ptys held by this process, in a thread with its
    own event loop: the alert bench's streamer (a Masimo line and the IntelliVue's HR each
    second, chairs spread over the second), NIBP every NIBP_EVERY_S."""

    def __init__(self, chairs: int) -> None:
        self.chairs = chairs
        self.ports: list[tuple[str, str]] = []  # (IntelliVue, Masimo) per chair
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None  # the streamer's end, if it ended
        self._thread = threading.Thread(target=self._run, name="monitors", daemon=True)

    def __enter__(self) -> HeldMonitors:
        self._thread.start()
        if not self._ready.wait(30) or self.error is not None:
            raise RuntimeError(f"the simulated monitors did not start: {self.error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:  # told to __enter__, or checked after the window
            self.error = e
            self._ready.set()

    async def _main(self) -> None:
        from bench.alert_latency import Sent, _stream
        from monitord.simulators.intellivue import IntelliVueSim
        from monitord.simulators.pty import PtyPort

        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        async with contextlib.AsyncExitStack() as stack:
            oxs: dict[str, PtyPort] = {}
            mons: dict[str, IntelliVueSim] = {}
            for c in range(self.chairs):
                ox = PtyPort()
                await ox.open()
                stack.push_async_callback(ox.close)
                mon = await stack.enter_async_context(IntelliVueSim(repeat=False))
                oxs[str(c)], mons[str(c)] = ox, mon
                self.ports.append((mon.port, ox.port))
            self._ready.set()
            await _stream(oxs, mons, self._stop, Sent(), nibp_every_s=NIBP_EVERY_S)


def run(
    servers: Servers,
    workdir: Path,
    quick: bool,
    window_s: float | None = None,
    sims: str = "bench",
    annunciator: bool = False,
) -> dict[str, Any]:
    window = window_s or (20.0 if quick else 600.0)
    settle = 2.0 if quick else 30.0  # links up, first batches out, the page cache warm
    scen = workdir / "sdcard.jsonl"
    if sims == "daemon":
        scenario(scen, int(settle + window) + 120, bp_every=NIBP_EVERY_S)
    runs: dict[int, tuple[DaemonProc, Watch]] = {}
    out: dict[str, Any] = {
        "window_s": window,
        "nibp_every_s": NIBP_EVERY_S,
        "sims": sims,
        "annunciator": annunciator,
    }
    stack = contextlib.ExitStack()
    try:
        held = stack.enter_context(HeldMonitors(sum(CHAIR_COUNTS))) if sims == "bench" else None
        first = 0
        for n in CHAIR_COUNTS:
            ports = held.ports[first : first + n] if held is not None else None
            first += n
            cfg, store = config(workdir, servers, n, scen, ports, annunciator)
            runs[n] = (DaemonProc(cfg, workdir), Watch(store))
        for d, _ in runs.values():
            d.wait_ready()
        time.sleep(settle)
        start = {n: (io_bytes(d.pid), ProcSampler(d.pid).cpu_s()) for n, (d, _) in runs.items()}
        t0 = time.monotonic()
        while time.monotonic() - t0 < window:
            time.sleep(1.0)
            for _, w in runs.values():
                w.sample()
        elapsed = time.monotonic() - t0
        if held is not None and held.error is not None:  # the monitors went quiet
            raise RuntimeError(f"the simulated monitors stopped: {held.error!r}")
        for n, (d, w) in runs.items():
            io1, cpu1 = io_bytes(d.pid), ProcSampler(d.pid).cpu_s()
            io0, cpu0 = start[n]
            wb = io1["write_bytes"] - io0["write_bytes"]
            hours = elapsed / 3600 * n
            out[f"chairs{n}"] = {
                "chairs": n,
                "write_bytes": wb,
                "cancelled_write_bytes": io1["cancelled_write_bytes"]
                - io0["cancelled_write_bytes"],
                "syscw": io1["syscw"] - io0["syscw"],
                "mb_per_chair_hour": round(wb / 1e6 / hours, 2),
                "cpu_pct_per_chair": round(100 * (cpu1 - cpu0) / elapsed / n, 3),
                "wal_max_kb": round(w.wal_max / 1024),
                "checkpoints_seen": w.main_writes,
                "store_kb_end": round(w.store.stat().st_size / 1024),
                # The WAL's frames since its last reset (<= one checkpoint period), by
                # the table each page belongs to: where the bytes go.
                "wal_pages": wal_summary(w.store),
            }
        out["elapsed_s"] = round(elapsed, 1)
    finally:
        try:
            for d, _ in runs.values():
                rc = d.stop()
                if rc != 0:
                    raise RuntimeError(f"monitord exited {rc}; log {d.log_path}:\n{d.log_tail()}")
        finally:
            stack.close()  # the monitors after the daemons: no link drop in the window
    return out


if __name__ == "__main__":
    import argparse

    from bench.common import Workdir

    # argparse, not a look into sys.argv: `--help` or a mistyped option must not start an
    # 11-minute run.
    ap = argparse.ArgumentParser(prog="python -m bench.sdcard", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="a short window (a smoke run)")
    ap.add_argument("--window", type=float, default=None, help="measured window, s")
    ap.add_argument("--sims", choices=("bench", "daemon"), default="bench")
    ap.add_argument("--annunciator", action="store_true", help="configure an [annunciator]")
    args = ap.parse_args()
    with Workdir("sd-") as wd:
        servers = Servers(wd)
        servers.start()
        try:
            res = run(servers, wd, args.quick, args.window, args.sims, args.annunciator)
        finally:
            servers.stop()
    print(json.dumps(res, indent=2))
