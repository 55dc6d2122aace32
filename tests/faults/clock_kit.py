"""Shared parts of the time-and-link fault tests (issue 12 defects 1, 3, 4, 11).

Real daemons: `monitord run` subprocesses (tests/e2e/e2e_kit.py `DaemonProcess`) reading
Masimo oximeters on real pseudo-terminals, their outbox read with plain SQL (`Store`).

`FakeWall` gives a daemon process a wall clock the test can step: Debian's libfaketime
(package `faketime`) preloaded with `FAKETIME_TIMESTAMP_FILE`, re-read on every call
(`FAKETIME_NO_CACHE`), holding a relative offset ("+3600") that the test rewrites. With
`FAKETIME_DONT_FAKE_MONOTONIC` it steps CLOCK_REALTIME only, as NTP or a Pi without RTC
does; `check()` proves that on this machine before a test relies on it.

The daemon has threads (its store's SQLite thread: libfaketime also fakes the times of
every fstat), so the library is the thread-safe build, libfaketimeMT: in the plain one two
threads re-reading the file at once race on its unlocked statics (0.9.10: the file name
is blanked while one thread rewrites it, the other finds no file and takes offset "+0"),
and a call returns the real time. A daemon 3 h behind then saw the wall clock 3 h ahead
for one call and its chair clock, idle, followed that "step" (or started on it) and never
went back: readings stored before the test's own step were on real time, under load.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.e2e_kit import DaemonProcess, Store

CHAIR = "chair-1"


def libfaketime() -> str:
    # MT: the daemon is multi-threaded (see the module docstring).
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
    if not found:
        pytest.fail("libfaketime missing: apt-get install faketime", pytrace=False)
    return found[0]


class FakeWall:
    """A steppable CLOCK_REALTIME for child processes; CLOCK_MONOTONIC stays real."""

    def __init__(self, tmp: Path) -> None:
        self.file = tmp / "faketime.txt"
        self.offset_s = 0
        self.set(0)

    def set(self, offset_s: int) -> None:
        """Step the children's wall clock to real time + `offset_s` (atomic rewrite)."""
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(f"{offset_s:+d}\n")
        os.replace(tmp, self.file)
        self.offset_s = offset_s

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "LD_PRELOAD": libfaketime(),
            "FAKETIME_TIMESTAMP_FILE": str(self.file),
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        }

    def check(self) -> None:
        """A child under this clock sees the wall clock at the current offset and the
        monotonic clock unshifted (else the tests below would prove nothing)."""
        probe = (
            "import json, time; print(json.dumps([time.time(), time.monotonic(), "
            "time.clock_gettime(time.CLOCK_BOOTTIME)]))"
        )
        import time

        r0, m0 = time.time(), time.monotonic()
        out = subprocess.run(
            [sys.executable, "-c", probe],
            env=self.env(),
            capture_output=True,
            text=True,
            check=True,
        )
        wall, mono, _ = json.loads(out.stdout)
        r1, m1 = time.time(), time.monotonic()
        assert r0 + self.offset_s - 1 <= wall <= r1 + self.offset_s + 1, (wall, r0, self.offset_s)
        assert m0 - 1 <= mono <= m1 + 1, (mono, m0, m1)


class FakeWallDaemon(DaemonProcess):
    """`monitord run` under a `FakeWall`."""

    def __init__(self, cfg_path: Path, log: Path, wall: FakeWall) -> None:
        super().__init__(cfg_path, log)
        self.wall = wall

    def env(self) -> dict[str, str] | None:
        return self.wall.env()


def daemon_behind(tmp: Path, cfg: Path, behind_s: int) -> tuple[FakeWall, FakeWallDaemon]:
    """A daemon on `cfg`, not started, whose wall clock starts `behind_s` behind the real
    time (a Pi booted without its RTC, NTP not answered yet), and the clock the test steps."""
    wall = FakeWall(tmp)
    wall.set(-behind_s)
    wall.check()
    return wall, FakeWallDaemon(cfg, tmp / "daemon.log", wall)


def write_config(tmp: Path, devices: dict[str, str], extra: str = "") -> Path:
    """A one-chair config, no MQTT/InfluxDB, Masimo oximeters `{id: port}`."""
    devs = "".join(
        f'[[chairs.devices]]\nid = "{d}"\ndriver = "masimo-ascii"\nport = "{p}"\n'
        for d, p in devices.items()
    )
    cfg = tmp / "monitord.toml"
    cfg.write_text(
        f'log_level = "INFO"\n[site]\nid = "site-faults"\n'
        "[mqtt]\nenabled = false\n[influx]\nenabled = false\n"
        f'[storage]\npath = "{tmp / "outbox.sqlite"}"\n{extra}\n'
        f'[[chairs]]\nid = "{CHAIR}"\n{devs}'
    )
    return cfg


def events(store: Store, rule: str, event: str | None = None) -> list[dict[str, Any]]:
    return [
        e
        for e in store.alert_events()
        if e["rule"] == rule and (event is None or e["event"] == event)
    ]


def started(store: Store) -> float:
    """The daemon's start (its wall clock at startup, from the `daemon` state)."""
    from datetime import datetime

    st = store.state("daemon")
    assert st is not None, "daemon state not written yet"
    return datetime.fromisoformat(st["started"].replace("Z", "+00:00")).timestamp()
