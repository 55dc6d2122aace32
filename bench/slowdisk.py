"""Slow-storage mode: an LD_PRELOAD shim (bench/slowdisk.c, built here with gcc) that makes
every fsync/fdatasync of a child process take N ms longer (`add`, the default), or N ms in
all (`total`: the host disk's own sync time is not added on top), to model a Raspberry
Pi's SD card. `check()` proves the delay is real for SQLite: it times commits of a
WAL database with `synchronous=FULL` (what the outbox does) in a child Python with and
without the shim, and reads how many syncs the shim intercepted.

`python -m bench.slowdisk [MS]` builds the shim and prints that check.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).with_name("slowdisk.c")
ENV_MS = "MONITORD_BENCH_FSYNC_MS"
ENV_MODE = "MONITORD_BENCH_FSYNC_MODE"
ENV_GATE = "MONITORD_BENCH_FSYNC_GATE"
ENV_FILE = "MONITORD_BENCH_FSYNC_FILE"


def build(dest_dir: Path) -> Path:
    """Compile the shim into dest_dir (a bench work dir, never the repo) and return it."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise RuntimeError("slow-storage mode needs gcc: apt-get install gcc")
    dest_dir.mkdir(parents=True, exist_ok=True)
    so = dest_dir / "slowdisk.so"
    subprocess.run(
        [gcc, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(so), str(SOURCE), "-ldl"],
        check=True,
        capture_output=True,
    )
    return so


def env(
    so: Path,
    ms: float,
    total: bool = False,
    gate: Path | None = None,
    only: Path | None = None,
) -> dict[str, str]:
    """Environment additions that load the shim: each sync `ms` longer, or (`total`) `ms`
    in all; with `gate`, only while that file exists (a sync delayed then returns as soon
    as it is removed): a disk that hangs after the daemon started, and comes back; with
    `only`, the syncs of that file alone (a store's main file: its checkpoints' syncs)."""
    out = {"LD_PRELOAD": str(so), ENV_MS: f"{ms:g}", ENV_MODE: "total" if total else "add"}
    if gate is not None:
        out[ENV_GATE] = str(gate)
    if only is not None:
        out[ENV_FILE] = str(only.resolve())
    return out


# Runs in a child: commits like the outbox (WAL, synchronous=FULL, one row per commit).
_PROBE = textwrap.dedent(
    """
    import ctypes, json, sqlite3, sys, time
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("CREATE TABLE IF NOT EXISTS t (x BLOB)")
    times = []
    for i in range(int(sys.argv[2])):
        t0 = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t VALUES (?)", (b"x" * 200,))
        db.execute("COMMIT")
        times.append(time.perf_counter() - t0)
    try:
        lib = ctypes.CDLL(None)
        lib.slowdisk_calls.restype = lib.slowdisk_slept_ns.restype = ctypes.c_long
        n, slept = lib.slowdisk_calls(), lib.slowdisk_slept_ns() / 1e6
    except AttributeError:
        n = slept = None  # the shim is not loaded
    times.sort()
    print(json.dumps({"median_commit_ms": 1000 * times[len(times) // 2], "syncs": n,
                      "slept_ms": slept}))
    """
)


def commit_probe(workdir: Path, extra_env: dict[str, str], commits: int = 20) -> dict[str, Any]:
    import os

    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / f"probe-{len(list(workdir.glob('probe-*.sqlite')))}.sqlite"
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(db), str(commits)],
        env={**os.environ, **extra_env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    res: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    res["median_commit_ms"] = round(res["median_commit_ms"], 3)
    return res


def check(so: Path, workdir: Path, ms: float) -> dict[str, Any]:
    """Median SQLite commit time without and with the shim, and the syncs it delayed."""
    plain = commit_probe(workdir, {})
    slow = commit_probe(workdir, env(so, ms))
    return {
        "fsync_delay_ms": ms,
        "commit_ms_plain": plain["median_commit_ms"],
        "commit_ms_shim": slow["median_commit_ms"],
        "shim_syncs_per_20_commits": slow["syncs"],
    }


if __name__ == "__main__":
    import tempfile

    ms = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    with tempfile.TemporaryDirectory(dir=Path(__file__).resolve().parent.parent) as d:
        print(json.dumps(check(build(Path(d)), Path(d), ms), indent=1))
