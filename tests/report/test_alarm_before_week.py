"""An alarm raised more than the report's week of look-back before a session
(report/load.py CARRY_LOOKBACK_S) and active all along belongs to the session as one
raised a minute before it (docs/report.md "Alarm audit": one line per alert episode
active at any time in the session). Played by the real engine into a real store.

Before, the report read only that week's alert events: a low alarm (never escalated:
clinical-rules.md "low never escalates"), here an SpO2 probe left off on an idle chair
for 8 days, had no event there, and was in no line of the record: not in the audit, not
among the gaps, not in the alarms active at administration, while the chair sounded it
the whole session. A medium one, escalated all along, was known only by its escalations
of that week: "raised before the data read", its count that week's."""

from __future__ import annotations

import json
from pathlib import Path

from monitord.config import InfluxConfig, StorageConfig
from monitord.outbox import Outbox
from monitord.report import record_for, session_spans
from monitord.report.influxload import InfluxReader
from monitord.report.lists import audit_row, gap_lines
from tests.servers import Influxd

from .reportkit import form, play_record
from .storeplay import play_into_store
from .test_from_influx import SITE, _drain

DAY = 86400


def _scenario(days: int, before: list[dict[str, object]]) -> str:
    """`before` (times from 0 s), then a 2-h esketamine session `days` later."""
    s = days * DAY
    ev = [*before, {"t": s, "event": "session_start", "protocol": "esketamine"}]
    ev += [{"t": s + 60, "event": "bp", "sys": 120, "dia": 80}]
    ev += [{"t": s + 300, "event": "dose_start"}, {"t": s + 600, "event": "dose_end"}]
    ev += [{"t": s + t, "event": "bp", "sys": 120, "dia": 80} for t in range(900, 7800, 600)]
    ev += [{"t": s + 7800, "event": "session_end"}, {"t": s + 7900, "event": "end"}]
    return "".join(json.dumps(e) + "\n" for e in ev)


PROBE_OFF = [{"t": t, "event": "spo2", "spo2": 97, "probe_off": True} for t in range(0, 40, 5)]


def test_a_low_alarm_raised_8_days_before_the_session_is_in_its_record(tmp_path: Path) -> None:
    rec = play_record(tmp_path, _scenario(8, PROBE_OFF))
    (off,) = [e for e in rec.episodes if e.rule == "tech.sensor_off"]
    assert off.before_session and off.raise_known and off.active_at_end
    assert off.raised_t == rec.started_t - 8 * DAY + 15  # "probe off for 15 s"
    assert "(before session)" in audit_row(rec, off)[0]
    assert audit_row(rec, off)[0].startswith("05-06 09:00:15"), audit_row(rec, off)
    assert "tech.sensor_off" in form(rec)["acceptable_pre"]
    assert "tech.sensor_off" in form(rec)["acceptable_end"]
    (line,) = [x for x in gap_lines(rec) if "sensor_off" in x]
    assert "still open at session end" in line and "since before the session start" in line


def test_a_medium_alarm_raised_8_days_before_keeps_its_raise_and_every_escalation(
    tmp_path: Path,
) -> None:
    lost = [{"t": 0, "event": "device_lost", "device": "hr"}]
    rec = play_record(tmp_path, _scenario(8, lost))
    (e,) = [e for e in rec.episodes if e.rule == "tech.device_lost"]
    assert e.before_session and e.raise_known and e.active_at_end
    assert e.raised_t == rec.started_t - 8 * DAY + 30  # "a device link down for 30 s"
    # Re-notified every 300 s (medium) from its raise to the session end.
    assert rec.ended_t is not None
    assert e.escalations == int((rec.ended_t - e.raised_t) // 300), e.escalations


async def test_from_influx_too(influxd: Influxd, influx_db: str, tmp_path: Path) -> None:
    """`--from influx` reads its alerts with the same look-back (influxload.py): the same
    audit and gaps as the store's record, both alarms raised 8 days before included."""
    scen, db = tmp_path / "s.jsonl", tmp_path / "o.sqlite"
    lost = [{"t": 0, "event": "device_lost", "device": "hr"}]
    scen.write_text(_scenario(8, [*lost, *PROBE_OFF]))
    play_into_store(scen, db)
    await _drain(db, influxd, influx_db)
    with Outbox(db, StorageConfig(path=db), readonly=True) as ob:
        (span,) = session_spans(ob)
        local = record_for(ob, span)
    reader = InfluxReader(InfluxConfig(url=influxd.url, api="v1", database=influx_db), SITE)
    (ispan,) = reader.spans()
    central = reader.record(ispan)
    rules = {e.rule: e for e in central.episodes}
    assert rules["tech.sensor_off"].before_session and rules["tech.sensor_off"].raise_known
    assert rules["tech.device_lost"].raise_known
    assert [audit_row(central, e) for e in central.episodes] == [
        audit_row(local, e) for e in local.episodes
    ]
    assert gap_lines(central) == gap_lines(local)
