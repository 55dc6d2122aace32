"""Shared bench plumbing: the real servers (reused from tests/servers.py), statistics,
the machine description, and a `monitord run` subprocess helper.

These machines are noisy, so every figure is a percentile or a ratio measured against the
physical floor/ceiling of the same server in the same run, never a bare single time.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `tests` is a package of the repo, not installed
    sys.path.insert(0, str(REPO))

from monitord.netaddr import split_listen  # noqa: E402
from tests.servers import Influxd, Mosquitto, VictoriaMetrics, reap_all  # noqa: E402


def pct(xs: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(xs)
    k = max(0, min(len(s) - 1, round(p / 100 * len(s) + 0.5) - 1))
    return s[k]


def summary_ms(xs_s: list[float]) -> dict[str, float]:
    ms = [x * 1000 for x in xs_s]
    return {
        "n": len(ms),
        "p50_ms": round(pct(ms, 50), 3),
        "p90_ms": round(pct(ms, 90), 3),
        "p99_ms": round(pct(ms, 99), 3),
        "max_ms": round(max(ms), 3),
    }


def machine() -> dict[str, Any]:
    model = platform.processor() or "?"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    mem_mb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_mb = int(line.split()[1]) // 1024
    except OSError:
        pass
    versions: dict[str, str] = {}
    for name, cmd in (
        ("mosquitto", ["/usr/sbin/mosquitto", "-h"]),
        ("influxd", ["influxd", "version"]),
        ("victoria-metrics", ["victoria-metrics", "-version"]),
    ):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=5)
            text = (r.stdout + r.stderr).strip().splitlines()
            versions[name] = text[0] if text else "?"
        except (OSError, subprocess.TimeoutExpired):
            versions[name] = "?"
    return {
        "cpu": model,
        "cores": os.cpu_count() or 0,
        "mem_mb": mem_mb,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "servers": versions,
    }


@dataclass
class Servers:
    """One Mosquitto, one influxd 1.6 and one VictoriaMetrics for the whole bench run."""

    workdir: Path
    mqtt: Mosquitto = field(init=False)
    influxd: Influxd = field(init=False)
    vm: VictoriaMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.mqtt = Mosquitto(self.workdir / "mosquitto")
        self.influxd = Influxd(self.workdir / "influxd")
        self.vm = VictoriaMetrics(self.workdir / "vm")

    def start(self) -> None:
        for s in (self.mqtt, self.influxd, self.vm):
            s.start()

    def stop(self) -> None:
        for s in (self.mqtt, self.influxd, self.vm):
            s.stop()
        reap_all()


@dataclass(frozen=True)
class RemoteBroker:
    host: str
    port: int


@dataclass(frozen=True)
class RemoteInflux:
    url: str

    def create_database(self, name: str) -> None:
        """CREATE DATABASE on an InfluxDB 1.x (a no-op when it exists)."""
        import urllib.parse
        import urllib.request

        data = urllib.parse.urlencode({"q": f'CREATE DATABASE "{name}"'}).encode()
        with urllib.request.urlopen(f"{self.url.rstrip('/')}/query", data=data, timeout=10) as r:
            r.read()


@dataclass(frozen=True)
class RemoteServers:
    """A broker and an InfluxDB 1.x already running elsewhere (`--broker`, `--influx`): the
    alert bench on a Raspberry Pi against the station PC's servers, as a clinic deploys
    them, instead of all of it sharing the bench machine's cores. Not started or stopped
    here. The broker must take anonymous clients on topics `monitord/bench/#` and
    `bench/floor` (a test Mosquitto, not the clinic's ACL-protected one)."""

    mqtt: RemoteBroker
    influxd: RemoteInflux

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def remote_servers(broker: str | None, influx: str | None) -> RemoteServers | None:
    """A bench's `--broker HOST:PORT` and `--influx URL` (both or neither); None when
    neither is given (the bench starts its own servers)."""
    if broker is None and influx is None:
        return None
    if broker is None or influx is None:
        raise SystemExit("--broker HOST:PORT and --influx URL go together")
    try:  # an IPv6 broker in brackets: `fd00::10` alone was host 'fd00:', port 10
        host, port = split_listen(broker)
    except ValueError as e:
        raise SystemExit(f"--broker: expected HOST:PORT, got {broker!r} ({e})") from None
    if not influx.startswith(("http://", "https://")):
        raise SystemExit(f"--influx: expected an http(s):// URL, got {influx!r}")
    return RemoteServers(RemoteBroker(host, port), RemoteInflux(influx))


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


class Workdir:
    """A temp dir on the real disk (not tmpfs: the outbox fsyncs, as on the Pi's SD card)."""

    def __init__(self, prefix: str, keep: bool = False) -> None:
        base = REPO / "var"
        base.mkdir(exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
        self.keep = keep  # leave logs and stores for a post-mortem

    def __enter__(self) -> Path:
        # A bench stopped by SIGTERM (kill, pkill, a CI timeout) must stop its children
        # too: by default Python dies at once, finally blocks and atexit unrun, and its
        # `monitord run` kept retrying its 16 ptys' paths, /dev/pts/N, opening whatever
        # pty got that number next (another run's, a test's) exclusively. As SystemExit
        # the run unwinds: its daemon stopped, its servers reaped, this dir removed.
        self._term: Any = None
        if threading.current_thread() is threading.main_thread():
            self._term = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        return self.path

    def __exit__(self, *exc: object) -> None:
        if self._term is not None:
            signal.signal(signal.SIGTERM, self._term)
        if self.keep:
            print(f"kept {self.path}", file=sys.stderr)
        else:
            shutil.rmtree(self.path, ignore_errors=True)


def cpu_ns(pid: int) -> int:
    """CPU time of every live thread of `pid`, in ns (/proc/PID/task/*/schedstat: time
    on a CPU; /proc/PID/stat counts in 10-ms ticks, too coarse for one alarm's share)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that just ended
    return total


def monitord_cmd(config: Path) -> list[str]:
    return [sys.executable, "-m", "monitord", "run", "--config", str(config)]


def child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    env.pop("WATCHDOG_USEC", None)
    env.pop("WATCHDOG_PID", None)
    env["PYTHONFAULTHANDLER"] = "1"
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


class DaemonProc:
    """`monitord run --config` as a child process, with a NOTIFY_SOCKET we own so that
    start-to-READY is measured the way systemd sees it (Type=notify)."""

    def __init__(
        self, config: Path, workdir: Path, extra_env: dict[str, str] | None = None
    ) -> None:
        import socket
        import time

        self.sock_path = str(workdir / f"notify-{os.getpid()}-{id(self)}.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.sock_path)
        self.log_path = workdir / f"{config.stem}.log"
        self._log = open(self.log_path, "wb")
        self.t_spawn = time.monotonic()
        self.proc = subprocess.Popen(
            monitord_cmd(config),
            env=child_env(NOTIFY_SOCKET=self.sock_path, **(extra_env or {})),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.ready_s: float | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = 30.0) -> float:
        """Seconds from spawn to the READY=1 datagram."""
        import time

        deadline = self.t_spawn + timeout
        self.sock.settimeout(0.2)
        while time.monotonic() < deadline:
            try:
                msg = self.sock.recv(65536).decode(errors="replace")
            except TimeoutError:
                if self.proc.poll() is not None:
                    break
                continue
            if "READY=1" in msg.split("\n"):
                self.ready_s = time.monotonic() - self.t_spawn
                return self.ready_s
        raise RuntimeError(f"monitord never became READY; log {self.log_path}:\n{self.log_tail()}")

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                # A stop that hangs is a daemon bug: SIGABRT makes faulthandler
                # (PYTHONFAULTHANDLER, child_env) write every thread's stack to the log.
                self.proc.send_signal(signal.SIGABRT)
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        self.sock.close()
        self._log.close()
        with_suppress_unlink(self.sock_path)
        return self.proc.returncode


def with_suppress_unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class ProcSampler:
    """RSS and CPU of one process from /proc (no psutil): VmRSS and utime+stime ticks."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.hz = os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def hwm_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu_s(self) -> float:
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / self.hz  # utime, stime


async def poll_until(pred: Any, interval_s: float = 0.01, limit_s: float = 300.0) -> bool:
    """Poll a cheap in-process condition (a counter the daemon keeps) without adding a
    hook to the daemon just for the bench."""
    import asyncio
    import time

    deadline = time.monotonic() + limit_s
    while not pred():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(interval_s)
    return True
