"""Shared parts of the daemon-level acceptance tests (issue 6).

Everything goes through the whole daemon: a Masimo simulator on a pseudo-terminal (the
test feeds it line by line, so it decides how many readings exist and when) -> the real
serial transport and decoder -> the chair task and alert engine -> the SQLite outbox ->
the InfluxDB and MQTT sinks -> real servers from tests/conftest.py.

The chair is a *real* (non-simulated) chair whose `port` is a symlink the simulator keeps
pointed at its pty (as udev's /dev/serial/by-id links do), so a daemon subprocess started
twice on the same config finds the same device.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from monitord.config import load_config
from monitord.daemon import Daemon
from monitord.models import Kind
from monitord.simulators.base import SimDevice, SimEvent
from monitord.simulators.pty import PtyPort
from monitord.simulators.serial_sims import make_sim_device
from monitord.store.codec import expand_reading, reading_dict
from tests.kit import eventually
from tests.servers import Influxd, Mosquitto, VictoriaMetrics

SITE = "site-e2e"
CHAIR = "chair-1"
DEVICE = "ox"


# -- configuration ---------------------------------------------------------------------
def influx_v1(influxd: Influxd, db: str) -> str:
    return f"""
[influx]
url = "{influxd.url}"
api = "v1"
database = "{db}"
batch_size = 200
flush_interval_s = 0.2
timeout_s = 2.0
"""


def influx_v2(vm: VictoriaMetrics) -> str:
    return f"""
[influx]
url = "{vm.url}"
api = "v2"
org = "clinic"
bucket = "monitord"
batch_size = 200
flush_interval_s = 0.2
timeout_s = 2.0
"""


def mqtt_section(broker: Mosquitto, prefix: str, alarm_after_s: float = 2.0) -> str:
    return f"""
[mqtt]
host = "{broker.host}"
port = {broker.port}
prefix = "{prefix}"
keepalive_s = 5
timeout_s = 2.0
delivery_alarm_after_s = {alarm_after_s}
"""


NO_MQTT = "\n[mqtt]\nenabled = false\n"
NO_INFLUX = "\n[influx]\nenabled = false\n"

# spo2.very_low (SpO2 < 85) confirmed after 1 s and cleared after 1 s of SpO2 >= 88, not
# latching, so a test can raise and clear it in a few seconds of fed lines.
FAST_SPO2_ALERT = """
[alerts."spo2.very_low"]
for_s = 1
clear_for_s = 1
latching = false
[alerts."spo2.low"]
for_s = 1
clear_for_s = 1
latching = false
"""


def write_config(
    tmp: Path, *, site: str = SITE, influx: str = NO_INFLUX, mqtt: str = NO_MQTT, extra: str = ""
) -> Path:
    """A one-chair config with one Masimo oximeter on `tmp/ox.tty`; returns its path."""
    cfg = tmp / "monitord.toml"
    cfg.write_text(
        f"""
log_level = "INFO"
[site]
id = "{site}"
{influx}
{mqtt}
[storage]
path = "{tmp / "outbox.sqlite"}"
{extra}
[[chairs]]
id = "{CHAIR}"
  [[chairs.devices]]
  id = "{DEVICE}"
  driver = "masimo-ascii"
  port = "{port_path(tmp)}"
"""
    )
    return cfg


class CommandedChair(NamedTuple):
    """chair-1 driven by session commands on a broker: its topic base, its daemon's config
    (no InfluxDB; commits every 0.5 s, for tests that read what the store holds), the
    store's path and the store."""

    topic: str
    cfg: Path
    db: Path
    store: Store


def commanded_chair(tmp: Path, broker: Mosquitto, prefix: str) -> CommandedChair:
    cfg = write_config(
        tmp, mqtt=mqtt_section(broker, prefix), influx=NO_INFLUX, extra="commit_interval_s = 0.5\n"
    )
    db = tmp / "outbox.sqlite"
    return CommandedChair(f"{prefix}/{SITE}/{CHAIR}", cfg, db, Store(db))


def port_path(tmp: Path) -> Path:
    return tmp / "ox.tty"


# -- the device ------------------------------------------------------------------------
def whole_second(t: float | None = None) -> datetime:
    return datetime.fromtimestamp(int(time.time() if t is None else t), tz=UTC)


class Oximeter:
    """A Masimo oximeter on a pty behind `tmp/ox.tty`, fed by the test.

    Each `send()` writes one line stamped with the given device time; the daemon uses
    that time when it is within 5 min of its receive time (it is, here)."""

    def __init__(self, tmp: Path) -> None:
        self.sim: SimDevice = make_sim_device("masimo-ascii", symlink=port_path(tmp), repeat=False)
        self.sent = 0

    async def __aenter__(self) -> Oximeter:
        await self.sim.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.sim.__aexit__(*exc)

    async def send(self, spo2: float, at: datetime, pulse: float = 70.0) -> None:
        await self.sim.send(SimEvent(Kind.SPO2, {"spo2_pct": spo2, "pulse_bpm": pulse}), at)
        self.sent += 1

    async def unread_under(self, most: int = 8192) -> None:
        """Wait until the daemon has read all but `most` bytes of what was sent: a test
        writing far faster than a Rad-8 (9600 baud) paces itself on it, as the pty drops
        what a full queue cannot take (a real UART would) and a count of lines sent then
        holds lines the daemon never saw (test_store_budget under load: 18 of 3214)."""
        port = getattr(self.sim, "port_obj", None)
        if not isinstance(port, PtyPort):
            return
        for _ in range(6000):  # 30 s: a daemon that stops reading fails the test's count
            if port.unread() <= most:
                return
            await asyncio.sleep(0.005)

    async def stream(self, t0: datetime, stop: asyncio.Event, period_s: float = 0.2) -> int:
        """SpO2 97 lines every `period_s` of wall time, one second of device time apart,
        from `t0` until `stop`; returns how many were sent."""
        i = 0
        while not stop.is_set():
            await self.send(97.0, t0 + timedelta(seconds=i))
            i += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), period_s)
        return i


class LiveFeed:
    """Feeds the oximeter one line per wall-clock second, stamped with that second, at
    SpO2 `self.spo2` (change it to move the patient); a real monitor's 1-Hz output.

    With `period_s` (under 1 s), one line every `period_s` instead, the device clock one
    second on per line from the start (its stamps stay distinct: a repeated stamp is a
    stuck clock's repeat), for tests that count readings, not time: the device clock then
    runs ahead of the wall clock, 1/period_s - 1 seconds per second."""

    def __init__(self, ox: Oximeter, spo2: float = 97.0, period_s: float | None = None) -> None:
        self.ox, self.spo2, self.period_s = ox, spo2, period_s
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        if self.period_s is not None:
            t0 = whole_second()
            for i in itertools.count():
                await self.ox.send(self.spo2, t0 + timedelta(seconds=i))
                await asyncio.sleep(self.period_s)
        last = -1
        while True:
            s = int(time.time())
            if s != last:
                await self.ox.send(self.spo2, whole_second(s))
                last = s
            await asyncio.sleep(0.05)

    async def __aenter__(self) -> LiveFeed:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


# -- the daemon, in process and as a subprocess ----------------------------------------
@contextlib.asynccontextmanager
async def daemon_in_process(
    cfg_path: Path, console: list[str] | None = None
) -> AsyncIterator[Daemon]:
    daemon = Daemon(load_config(cfg_path), console=console.append if console is not None else None)
    task = asyncio.create_task(daemon.run(), name="daemon")
    try:
        await eventually(lambda: daemon.supervisor is not None or task.done(), 20, "daemon up")
        if task.done():
            task.result()
        yield daemon
    finally:
        daemon.stop_event.set()
        await asyncio.wait_for(task, 15)


class DaemonProcess:
    """`monitord run --config PATH` as a child process (stderr kept in a log file)."""

    def __init__(self, cfg_path: Path, log: Path) -> None:
        self.cfg_path, self.log = cfg_path, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.cwd: Path | None = None  # the child's working directory (None: ours)

    def env(self) -> dict[str, str] | None:
        """The child's environment (None: ours); a subclass may change its clock."""
        return None

    def start(self) -> None:
        # PYTHONFAULTHANDLER: a daemon that does not stop in time is sent SIGABRT first and
        # writes every thread's stack into its log, so the failure says where it hung.
        env = {**(self.env() or os.environ), "PYTHONFAULTHANDLER": "1"}
        with open(self.log, "ab") as f:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "monitord", "run", "--config", str(self.cfg_path)],
                stdout=f,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.cwd,
            )

    def kill(self) -> None:
        """SIGKILL: no chance to flush, close or say goodbye."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                # The unit's TimeoutStopSec (20 s): a stop slower than that is a failure.
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGABRT)  # the stacks, into the log
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        return self.proc.returncode

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


# -- reading the store -----------------------------------------------------------------
class Store:
    """Read-only SQL over the daemon's outbox (WAL: safe while the daemon writes)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _q(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        if not self.path.exists():
            return []
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute(sql, args).fetchall()
        except sqlite3.OperationalError as e:
            # The daemon has not made its schema yet: nothing stored. Anything else (a
            # locked or broken file) is the test's failure, not an empty store.
            if "no such table" not in str(e):
                raise
            return []
        finally:
            db.close()

    def reading_stamps(self, pending_only: bool = False) -> list[int]:
        """t_ns of every committed reading (the InfluxDB timestamp it is written with)."""
        # Schema v4: a record waits for a sink while a (sink, record_id) row is pending.
        cond = (
            " AND id IN (SELECT record_id FROM pending WHERE sink = 'influx')"
            if pending_only
            else ""
        )
        return [t for (t,) in self._q(f"SELECT t_ns FROM records WHERE type='reading'{cond}")]

    def readings(self) -> int:
        return len(self.reading_stamps())

    def reading_rows(self) -> list[dict[str, Any]]:
        """Every committed reading in id order, as a dict of READING_FIELDS with absolute
        times (a v7 body is completed from its row's chair and t_ns, as the daemon reads it)."""
        rows = self._q("SELECT chair, t_ns, body FROM records WHERE type='reading' ORDER BY id")
        return [reading_dict(expand_reading(json.loads(b), c, t)) for c, t, b in rows]

    def backlog(self, sink: str = "influx") -> int:
        rows = self._q("SELECT count(*) FROM pending WHERE sink = ?", sink)
        return int(rows[0][0]) if rows else 0

    def alert_events(self) -> list[dict[str, Any]]:
        """Committed alert events in commit order (the order MQTT must deliver them)."""
        return [
            json.loads(b)
            for (b,) in self._q("SELECT body FROM records WHERE type='alert' ORDER BY id")
        ]

    def state(self, key: str) -> Any:
        rows = self._q("SELECT value FROM state WHERE key = ?", key)
        return json.loads(rows[0][0]) if rows else None


# -- MQTT observer ---------------------------------------------------------------------
async def mosquitto_pub(broker: Mosquitto, topic: str, payload: str) -> None:
    """Publish with the real `mosquitto_pub` client, QoS 1."""
    p = await asyncio.create_subprocess_exec(
        "mosquitto_pub", *broker.pub_args(), "-q", "1", "-t", topic, "-m", payload
    )
    async with asyncio.timeout(10):
        assert await p.wait() == 0


# -- waiting ---------------------------------------------------------------------------
async def in_thread(fn: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(fn)


# A group-commit interval for tests that count every line (the default 5 s is tested in
# tests/faults/test_group_commit_*.py); with it, `warm_up` settles well inside the serial
# link's silence timeout (5 s), past which the daemon would reopen the port and lose lines.
COUNTING_COMMIT_S = 0.5


async def warm_up(
    ox: Oximeter,
    store: Store,
    commit_s: float = COUNTING_COMMIT_S,
    first_at: datetime | None = None,
) -> tuple[int, int]:
    """Send lines until one is stored, then stop until the store stops growing: returns
    (lines sent, readings stored) from which on every line sent must be stored.

    Lines are stamped with the wall clock's second, or with `first_at` + 1 s per line
    (a time series database keeps one point per second: distinct stamps are all counted).
    Counting at the first stored row would miss lines the daemon had read but not yet
    group-committed: they are stored a moment later, one more than "expected"."""
    for i in range(100):
        await ox.send(97.0, whole_second() if first_at is None else first_at + timedelta(seconds=i))
        await asyncio.sleep(0.3)
        if store.readings():
            break
    else:
        raise AssertionError("the daemon never stored a reading from the pty")
    n, since = store.readings(), time.monotonic()
    while time.monotonic() - since < commit_s * 3 + 0.5:
        await asyncio.sleep(0.1)
        if (m := store.readings()) != n:
            n, since = m, time.monotonic()
    return ox.sent, n
