"""What the alarm waited behind: the alert bench's worst probes against the daemon's
event-loop handles (`python -m bench.alert_latency --quick --loop-trace`).

The daemon child runs with bench/looptrace/sitecustomize.py, which times its loop's
handles on the bench's clock (`time.perf_counter`, CLOCK_MONOTONIC, shared by both
processes); the bench keeps each probe's t0 and latency. This joins the two: for the
worst probes, every kept handle that ran between the probe's byte and its receipt, and
over the whole probe phase, the loop time taken by each owner (task or callback). How
issue 20's `inf` branch found the InfluxDB writer taking 17 % of the loop (results.md).
"""

from __future__ import annotations

import glob
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

Probe = tuple[float, float, str]  # (t0 s, latency s, chair)


def env(workdir: Path, min_ms: float = 0.3) -> dict[str, str]:
    """The daemon child's environment for a trace written under `workdir`."""
    import os

    here = str(Path(__file__).resolve().parent / "looptrace")
    path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p)
    return {
        "PYTHONPATH": path,
        "MONITORD_LOOPTRACE": str(workdir / "looptrace"),
        "MONITORD_LOOPTRACE_MIN_MS": f"{min_ms:g}",
    }


def report(workdir: Path, probes: list[Probe], worst: int = 5) -> dict[str, Any]:
    files = glob.glob(str(workdir / "looptrace.*.json"))
    if not files or not probes:
        return {"error": "no trace written (did the daemon exit cleanly?)"}
    handles: list[tuple[float, float, str]] = json.loads(Path(files[0]).read_text())
    t_first = min(p[0] for p in probes)
    t_last = max(p[0] + p[1] for p in probes)
    owners: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for t, d, who in handles:
        if t_first <= t <= t_last:
            key = re.sub(r"0x[0-9a-f]+|Task-\d+|chair-\d+", "*", who)
            o = owners[key]
            o[0] += 1
            o[1] += d
            o[2] = max(o[2], d)
    span = t_last - t_first
    top = sorted(owners.items(), key=lambda kv: -kv[1][1])[:10]
    out: dict[str, Any] = {
        "probe_phase_s": round(span, 2),
        "loop_busy_by_owner": [
            {
                "owner": k,
                "handles": int(n),
                "ms": round(s * 1e3, 1),
                "share_pct": round(100 * s / span, 2),
                "max_ms": round(m * 1e3, 2),
            }
            for k, (n, s, m) in top
        ],
        "worst_probes": [],
    }
    for t0, lat, chair in sorted(probes, key=lambda p: -p[1])[:worst]:
        during = [
            (round((t - t0) * 1e3, 2), round(d * 1e3, 2), who[:90])
            for t, d, who in handles
            if t + d >= t0 and t <= t0 + lat
        ]
        out["worst_probes"].append(
            {"chair": chair, "latency_ms": round(lat * 1e3, 2), "handles_ms": during}
        )
    return out
