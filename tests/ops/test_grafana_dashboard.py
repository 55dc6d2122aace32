"""config/grafana/monitord-dashboard.json against real influxd 1.6 (issue 7, acceptance 5;
issue 19, acceptance 5: the wallboard).

A known data set (two chairs, six minutes of BP/HR/SpO2 with an HR spike, alert events, a
cleared alert, session actions, a reading "now") goes through the daemon's own write path:
Outbox -> InfluxSink (api v1). Then every InfluxQL query of the dashboard (template
variables, panel targets, annotations) runs with Grafana's macros expanded as Grafana
would, and returns exactly the expected series; the table's transformation and the stats'
value mappings are applied as Grafana applies them. The JSON passes a schema of Grafana's
dashboard model (tests/ops/grafana-dashboard.schema.json) and the layout rules of a
wallboard (one repeated row per chair, full-width graphs, no overlaps).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema

from monitord.config import InfluxConfig, StorageConfig
from monitord.models import AlertEvent, Kind, Reading, SessionEvent
from monitord.outbox import Outbox
from monitord.sinks.influx import InfluxSink
from tests.servers import Influxd

REPO = Path(__file__).resolve().parents[2]
DASH = REPO / "config" / "grafana" / "monitord-dashboard.json"
PROV = REPO / "config" / "grafana" / "provisioning.yaml"
SCHEMA = Path(__file__).with_name("grafana-dashboard.schema.json")
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
            if chair == "chair-2" and m == 3:  # a 10-s spike: mean() would halve it
                spike = at + timedelta(seconds=30)
                rs.append(Reading(chair, "ecg", Kind.HR, {"hr_bpm": 140.0}, spike, spike))
            rs.append(Reading(chair, "ox", Kind.SPO2, {"spo2_pct": 97.0 - m}, at, at))
            if chair == "chair-1" and m == 4:  # a dip inside the minute: mean() hid it
                dip = at + timedelta(seconds=30)
                rs.append(Reading(chair, "ox", Kind.SPO2, {"spo2_pct": 91.0}, dip, dip))
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
    # chair-1 is online: a reading now (the Online stat looks at the last 2 minutes)
    now = datetime.fromtimestamp(int(time.time()), tz=UTC)
    rs.append(Reading("chair-1", "ox", Kind.SPO2, {"spo2_pct": 98.0}, now, now))
    # chair-2 last sent 10 minutes ago: offline (a wider window showed a chair whose
    # monitor went quiet as online for as long as the window).
    quiet = now - timedelta(minutes=10)
    rs.append(Reading("chair-2", "ox", Kind.SPO2, {"spo2_pct": 98.0}, quiet, quiet))
    outbox.add_readings(rs, {"chair-1": "s-1", "chair-2": "s-2"})
    t = T0.timestamp()
    outbox.add_alert_events(
        [
            # raised and cleared: not active, but an annotation
            AlertEvent(
                t + 100,
                "chair-1",
                "hr.high",
                "raised",
                "medium",
                "physiological",
                "a-0",
                "dosing",
                {"hr_bpm": 125.0},
                "HR 125 bpm",
            ),
            AlertEvent(
                t + 170,
                "chair-1",
                "hr.high",
                "cleared",
                "medium",
                "physiological",
                "a-0",
                "dosing",
                {},
                "HR back",
            ),
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
            # not acknowledged: escalated, an annotation too (the alarm got louder)
            AlertEvent(
                t + 300,
                "chair-1",
                "spo2.low",
                "escalated",
                "high",
                "physiological",
                "a-2",
                "dosing",
                {"spo2_pct": 92.0},
                "SpO2 92 %, not acknowledged",
                level=1,
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


def panel(d: dict[str, Any], title: str) -> dict[str, Any]:
    titled: list[dict[str, Any]] = [p for p in d["panels"] if p["title"] == title]
    [p] = titled
    return p


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

    # One chair selected: only its series. HR is the highest and lowest per interval, so
    # the 140 bpm spike at minute 3 shows whole (mean() drew 107.5).
    hr = series(influxd, expand(by_title(d, "Heart rate"), "chair-2"), influx_db)
    assert [s["tags"] for s in hr] == [{"chair": "chair-2"}]
    assert hr[0]["columns"] == ["time", "hr_max", "hr_min", "pulse_max"]
    assert hr[0]["values"] == [
        [_ms(m), 140.0 if m == 3 else 72.0 + m, 72.0 + m, 70.0 + m] for m in range(6)
    ]

    # SpO2 is the lowest per interval (the panel's title): the 91 % dip at minute 4 shows
    # whole, as the HR spike does.
    spo2 = series(influxd, expand(by_title(d, "SpO2"), "chair-1"), influx_db)
    assert spo2[0]["values"] == [[_ms(m), 91.0 if m == 4 else 97.0 - m] for m in range(6)]

    # Active alerts (every chair): each chair's and rule's last event, cleared ones left out
    # by the table's transformation: the acknowledged bp.severe is still active.
    table = panel(d, "Active alerts (every chair)")
    got = series(influxd, expand(table["targets"][0]["query"]), influx_db)
    assert [s["tags"] for s in got] == [
        {"chair": "chair-1", "priority": "high", "rule": "spo2.low"},
        {"chair": "chair-1", "priority": "medium", "rule": "hr.high"},
        {"chair": "chair-2", "priority": "medium", "rule": "bp.severe"},
    ]
    shown = [
        (s["tags"]["chair"], s["tags"]["rule"], s["values"][0][1])
        for s in got
        if not excluded_by(table["transformations"], s["values"][0][1])
    ]
    assert shown == [
        ("chair-1", "spo2.low", "escalated"),
        ("chair-2", "bp.severe", "acknowledged"),
    ]
    # Inside the chair row ($chair is one chair there): the same query, that chair's alerts.
    mine = panel(d, "Active alerts")["targets"][0]["query"]
    assert [s["tags"]["rule"] for s in series(influxd, expand(mine, "chair-2"), influx_db)] == [
        "bp.severe"
    ]

    # Online: chair-1 stored a reading in the last 2 minutes, chair-2 did not.
    online = panel(d, "Online")
    on = series(influxd, expand(online["targets"][0]["query"]), influx_db)
    assert [(s["tags"]["chair"], mapped(online, s["values"][0][1])) for s in on] == [
        ("chair-1", "online")
    ]
    assert mapped(online, None) == "offline"  # what chair-2's stat shows (no data)

    # Session phase: the last session action, shown as the phase it started.
    phase = panel(d, "Session phase")
    ph = series(influxd, expand(phase["targets"][0]["query"]), influx_db)
    assert [(s["tags"]["chair"], mapped(phase, s["values"][0][1])) for s in ph] == [
        ("chair-1", "dosing"),
        ("chair-2", "baseline"),
    ]

    # Annotations: raised/escalated alerts (not the ack), and session actions. The
    # escalation is one (issue 19, "dashboards that show alarms"): a query without it
    # showed a crisis nobody acknowledged as raised once, then quiet.
    [alerts] = [a for a in d["annotations"]["list"] if a["name"] == "Alerts"]
    rows = series(influxd, expand(alerts["query"]), influx_db)[0]
    assert rows["columns"] == ["time", "message", "rule", "priority", "event"]
    assert rows["values"] == [
        [_ms_s(100), "HR 125 bpm", "hr.high", "medium", "raised"],
        [_ms_s(150), "Systolic 162 mmHg", "bp.severe", "medium", "raised"],
        [_ms_s(240), "SpO2 93 %", "spo2.low", "high", "raised"],
        [_ms_s(300), "SpO2 92 %, not acknowledged", "spo2.low", "high", "escalated"],
    ]
    [sess] = [a for a in d["annotations"]["list"] if a["name"] == "Session phases"]
    srows = series(influxd, expand(sess["query"], "chair-1"), influx_db)[0]["values"]
    assert srows == [
        [_ms_s(-60), "start", "s-1", "esketamine"],
        [_ms_s(30), "dose_start", "s-1", "esketamine"],
    ]


def excluded_by(transformations: list[dict[str, Any]], event: str) -> bool:
    """Grafana's filterByValue (exclude, equal) on the `event` column."""
    for t in transformations:
        if t["id"] == "filterByValue" and t["options"]["type"] == "exclude":
            for f in t["options"]["filters"]:
                if f["fieldName"] == "event" and f["config"]["id"] == "equal":
                    if f["config"]["options"]["value"] == event:
                        return True
    return False


def mapped(p: dict[str, Any], value: Any) -> str:
    """A stat's text for `value` through its value mappings (Grafana compares the text
    of the value; no value at all is the `null` special match, else noValue)."""
    defaults = p["fieldConfig"]["defaults"]
    for m in defaults["mappings"]:
        if m["type"] == "value" and value is not None:
            key = str(value).lower() if isinstance(value, bool) else str(value)
            if key in m["options"]:
                return str(m["options"][key]["text"])
        if m["type"] == "special" and value is None and m["options"]["match"] == "null":
            return str(m["options"]["result"]["text"])
    return str(defaults.get("noValue", value))


def test_dashboard_passes_the_schema_and_is_a_wallboard() -> None:
    d = json.loads(DASH.read_text())
    jsonschema.validate(d, json.loads(SCHEMA.read_text()))
    panels = d["panels"]
    rows = [p for p in panels if p["type"] == "row"]
    # One row per chair, repeated; nothing inside it repeats again (row + panel repeat
    # together is a combination Grafana mis-lays-out).
    assert [r.get("repeat") for r in rows] == ["chair"] and not rows[0]["collapsed"]
    assert not [p["title"] for p in panels if p["type"] != "row" and p.get("repeat")]
    # Graphs full width; no two panels overlap on the 24-column grid.
    graphs = [p for p in panels if p["type"] == "timeseries"]
    assert len(graphs) == 3 and all(p["gridPos"]["w"] == 24 for p in graphs)
    cells: set[tuple[int, int]] = set()
    for p in panels:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & mine, f"{p['title']} overlaps"
        cells |= mine
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    # The schema check can fail: a half-width value Grafana would refuse.
    bad = json.loads(DASH.read_text())
    bad["panels"][0]["gridPos"]["w"] = 25
    try:
        jsonschema.validate(bad, json.loads(SCHEMA.read_text()))
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("the schema accepted a 25-column panel")


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
