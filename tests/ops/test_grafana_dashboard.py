"""config/grafana/monitord-dashboard.json against real influxd 1.6 (issue 7, acceptance 5).

A known data set (two chairs, six minutes of BP/HR/SpO2, alert events, session actions)
goes through the daemon's own write path: Outbox -> InfluxSink (api v1). Then every
InfluxQL query of the dashboard (template variables, panel targets, annotations) runs
with Grafana's macros expanded as Grafana would, and returns exactly the expected series.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from servers import Influxd

from monitord.config import InfluxConfig, StorageConfig
from monitord.models import AlertEvent, Kind, Reading, SessionEvent
from monitord.outbox import Outbox
from monitord.sinks.influx import InfluxSink

REPO = Path(__file__).resolve().parents[2]
DASH = REPO / "config" / "grafana" / "monitord-dashboard.json"
PROV = REPO / "config" / "grafana" / "provisioning.yaml"
SITE = "clinic-north"
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
NS = 10**9
MIN = 60 * NS


def t0_ns(minutes: int) -> int:
    return int((T0 + timedelta(minutes=minutes)).timestamp()) * NS


def known_data(outbox: Outbox) -> None:
    rs: list[Reading] = []
    for chair, base in (("chair-1", 0), ("chair-2", 40)):
        for m in range(6):
            at = T0 + timedelta(minutes=m)
            rs.append(
                Reading(
                    chair,
                    "cuff",
                    Kind.BP,
                    {
                        "sys_mmHg": 120.0 + base + m,
                        "dia_mmHg": 80.0 + m,
                        "map_mmHg": 93.0 + m,
                        "pulse_bpm": 70.0 + m,
                    },
                    at,
                    at,
                )
            )
            rs.append(Reading(chair, "ecg", Kind.HR, {"hr_bpm": 72.0 + m}, at, at))
            rs.append(Reading(chair, "ox", Kind.SPO2, {"spo2_pct": 97.0 - m}, at, at))
        # An invalid reading (cuff error) stays out of the panels.
        bad = T0 + timedelta(minutes=2, seconds=30)
        rs.append(
            Reading(
                chair, "cuff", Kind.BP, {"sys_mmHg": 300.0, "dia_mmHg": 20.0}, bad, bad, valid=False
            )
        )
        # A record the cuff pushed from its memory (tag stored=true) stays out too.
        old = T0 + timedelta(minutes=3, seconds=40)
        rs.append(
            Reading(
                chair,
                "cuff",
                Kind.BP,
                {"sys_mmHg": 190.0, "dia_mmHg": 115.0, "pulse_bpm": 150.0},
                old,
                old,
                stored=True,
            )
        )
    outbox.add_readings(rs, {"chair-1": "s-1", "chair-2": "s-2"})
    t = T0.timestamp()
    outbox.add_alert_events(
        [
            AlertEvent(
                t + 150,
                "chair-2",
                "bp.severe",
                "raised",
                "medium",
                "physiological",
                "a-1",
                "dosing",
                {"sys_mmHg": 162.0},
                "Systolic 162 mmHg",
            ),
            AlertEvent(
                t + 200,
                "chair-2",
                "bp.severe",
                "acknowledged",
                "medium",
                "physiological",
                "a-1",
                "dosing",
                {},
                "acknowledged",
                by="nurse",
            ),
            AlertEvent(
                t + 240,
                "chair-1",
                "spo2.low",
                "raised",
                "high",
                "physiological",
                "a-2",
                "dosing",
                {"spo2_pct": 93.0},
                "SpO2 93 %",
            ),
        ]
    )
    outbox.add_session_events(
        [
            SessionEvent(t - 60, "chair-1", "start", "esketamine", "s-1"),
            SessionEvent(t + 30, "chair-1", "dose_start", "esketamine", "s-1"),
            SessionEvent(t - 60, "chair-2", "start", "iv-ketamine", "s-2"),
        ]
    )
    outbox.commit()


async def write_through_sink(influxd: Influxd, db: str, tmp: Path) -> None:
    ob = Outbox(tmp / "outbox.sqlite", StorageConfig(path=tmp / "outbox.sqlite"))
    known_data(ob)
    sink = InfluxSink(InfluxConfig(url=influxd.url, api="v1", database=db), SITE, ob)
    task = asyncio.create_task(sink.run())
    try:
        async with asyncio.timeout(30):
            await sink.wait_idle()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        ob.close()


def expand(q: str, chairs: str = ".*") -> str:
    """Grafana's macros: $timeFilter (the dashboard range), $__interval, $site, $chair
    (a multi-value variable becomes a regex alternation)."""
    q = q.replace("$timeFilter", f"time >= {t0_ns(-5)} AND time <= {t0_ns(10)}")
    q = q.replace("$__interval", "1m")
    q = q.replace("/^$site$/", f"/^{SITE}$/")
    return q.replace("/^$chair$/", f"/^{chairs}$/")


def series(influxd: Influxd, q: str, db: str) -> list[dict[str, Any]]:
    res = influxd.query(q, db)
    results = res["results"]
    assert isinstance(results, list)
    assert "error" not in results[0], (q, results[0])
    out: list[dict[str, Any]] = results[0].get("series", [])
    return out


def all_queries(d: dict[str, Any]) -> list[str]:
    qs = [v["query"] for v in d["templating"]["list"]]
    qs += [a["query"] for a in d["annotations"]["list"] if "query" in a]
    for p in d["panels"]:
        qs += [t["query"] for t in p.get("targets", [])]
    return qs


def by_title(d: dict[str, Any], prefix: str) -> str:
    [p] = [p for p in d["panels"] if p["title"].startswith(prefix)]
    [t] = p["targets"]
    assert t["rawQuery"] is True
    return str(t["query"])


async def test_dashboard_queries_return_expected_series(
    influxd: Influxd, influx_db: str, tmp_path: Path
) -> None:
    await write_through_sink(influxd, influx_db, tmp_path)
    d = json.loads(DASH.read_text())

    # Every query parses and runs.
    for q in all_queries(d):
        series(influxd, expand(q), influx_db)

    [site_var, chair_var] = d["templating"]["list"]
    assert series(influxd, site_var["query"], influx_db)[0]["values"] == [["site", SITE]]
    chairs = series(influxd, expand(chair_var["query"]), influx_db)[0]["values"]
    assert chairs == [["chair", "chair-1"], ["chair", "chair-2"]]

    # BP per chair, one point per minute, the invalid 300/20 reading and the stored record
    # (190/115, pulse 150: it would move the HR panel's pulse too) left out.
    bp = series(influxd, expand(by_title(d, "Blood pressure"), "chair-1|chair-2"), influx_db)
    assert [s["tags"] for s in bp] == [{"chair": "chair-1"}, {"chair": "chair-2"}]
    assert bp[0]["columns"] == ["time", "sys", "dia", "map"]
    assert bp[0]["values"] == [[_ms(m), 120.0 + m, 80.0 + m, 93.0 + m] for m in range(6)]
    assert [v[1] for v in bp[1]["values"]] == [160.0 + m for m in range(6)]

    # One chair selected: only its series.
    hr = series(influxd, expand(by_title(d, "Heart rate"), "chair-2"), influx_db)
    assert [s["tags"] for s in hr] == [{"chair": "chair-2"}]
    assert hr[0]["values"] == [[_ms(m), 72.0 + m, 70.0 + m] for m in range(6)]

    spo2 = series(influxd, expand(by_title(d, "SpO2"), "chair-1"), influx_db)
    assert spo2[0]["values"] == [[_ms(m), 97.0 - m] for m in range(6)]

    # Annotations: raised/escalated alerts (not the ack), and session actions.
    [alerts] = [a for a in d["annotations"]["list"] if a["name"] == "Alerts"]
    rows = series(influxd, expand(alerts["query"]), influx_db)[0]
    assert rows["columns"] == ["time", "message", "rule", "priority", "event"]
    assert rows["values"] == [
        [_ms_s(150), "Systolic 162 mmHg", "bp.severe", "medium", "raised"],
        [_ms_s(240), "SpO2 93 %", "spo2.low", "high", "raised"],
    ]
    [sess] = [a for a in d["annotations"]["list"] if a["name"] == "Sessions"]
    srows = series(influxd, expand(sess["query"], "chair-1"), influx_db)[0]["values"]
    assert srows == [
        [_ms_s(-60), "start", "s-1", "esketamine"],
        [_ms_s(30), "dose_start", "s-1", "esketamine"],
    ]


def _ms(minute: int) -> int:
    return t0_ns(minute)


def _ms_s(seconds: int) -> int:
    return int(T0.timestamp() + seconds) * NS


def test_provisioning_points_at_the_dashboard_datasource() -> None:
    """(No YAML parser in the dependencies: the few keys that matter are matched.)"""
    prov = PROV.read_text()
    uid = re.search(r"^    uid: (\S+)$", prov, re.M)
    assert uid and re.search(r"^    type: influxdb$", prov, re.M)
    assert re.search(r"^      dbName: \S+$", prov, re.M)
    d = json.loads(DASH.read_text())
    uids = {p["datasource"]["uid"] for p in d["panels"] if p["type"] != "row"} | {
        a["datasource"]["uid"] for a in d["annotations"]["list"] if "query" in a
    }
    assert uids == {uid.group(1)}
    path = re.search(r"^      path: (/\S+)$", prov, re.M)
    assert path and path.group(1).endswith("/monitord")
