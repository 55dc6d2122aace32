"""Issue 18 acceptance 2: central reports. The complete case scenario is played into a
real outbox, drained into a real influxd (1.6, api v1) by the daemon's own InfluxDB sink,
and `monitord report --from influx` builds the same record from the `vitals`, `alerts`
and `sessions` measurements as `monitord report` does from the local store: the same
REMS form fields, alarm audit, gaps and readings."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from monitord.config import InfluxConfig, StorageConfig
from monitord.outbox import Outbox
from monitord.report import influxload, record_for, session_spans
from monitord.report.influxload import InfluxReader
from monitord.report.text import audit_row, form_lines, gap_lines
from monitord.sinks.influx import InfluxSink
from tests.servers import Influxd

from .conftest import CASES
from .storeplay import play_into_store

SITE = "clinic-east"
TZ = "America/New_York"
FIELDS: dict[str, dict[str, Any]] = {
    "start": {"by": "nurse-a"},
    "dose_start": {"by": "nurse-a", "dose_mg": 56.0, "lot": "LOT-7"},
    "end": {"by": "nurse-b"},
}


async def _drain(db: Path, influxd: Influxd, database: str) -> None:
    ob = Outbox(db, StorageConfig(path=db))
    sink = InfluxSink(InfluxConfig(url=influxd.url, api="v1", database=database), SITE, ob)
    task = asyncio.create_task(sink.run())
    try:
        async with asyncio.timeout(60):
            await sink.wait_idle()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        ob.close()


def _report(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitord", "report", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("page", [5000, 97])
async def test_same_record_from_store_and_influx(
    influxd: Influxd, influx_db: str, tmp_path: Path, page: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 97 rows a query: the reader pages through every measurement (points at a page's
    # last instant come again and are kept once).
    monkeypatch.setattr(influxload, "PAGE", page)
    db = tmp_path / "outbox.sqlite"
    play_into_store(CASES / "complete_session.jsonl", db, session_fields=FIELDS)
    await _drain(db, influxd, influx_db)

    with Outbox(db, StorageConfig(path=db), readonly=True) as ob:
        (span,) = session_spans(ob)
        local = record_for(ob, span, TZ)
    reader = InfluxReader(InfluxConfig(url=influxd.url, api="v1", database=influx_db), SITE)
    (ispan,) = reader.spans()
    central = reader.record(ispan, TZ)

    assert [(f.key, f.value) for f in form_lines(central)] == [
        (f.key, f.value) for f in form_lines(local)
    ]
    form = {f.key: f.value for f in form_lines(central)}
    assert form["dose"] == "56 mg, lot LOT-7, given by nurse-a"
    assert form["post_dose_40min"].startswith("168/100 mmHg (MAP 123) at 05:51:00")
    assert [audit_row(central, e) for e in central.episodes] == [
        audit_row(local, e) for e in local.episodes
    ]
    # The acknowledgement's nurse travels through InfluxDB (the `by` field).
    assert any(e.ack_by == "nurse-7" for e in central.episodes)
    assert gap_lines(central) == gap_lines(local)  # device loss span needs `value.after_s`
    assert [(v.kind, v.device, dict(v.values), v.valid, v.reason) for v in central.vitals] == [
        (v.kind, v.device, dict(v.values), v.valid, v.reason) for v in local.vitals
    ]
    assert [(a.rule, a.event, a.level, a.by, a.message) for a in central.alerts] == [
        (a.rule, a.event, a.level, a.by, a.message) for a in local.alerts
    ]


async def test_report_cli_from_influx(influxd: Influxd, influx_db: str, tmp_path: Path) -> None:
    db = tmp_path / "outbox.sqlite"
    play_into_store(CASES / "complete_session.jsonl", db, session_fields=FIELDS)
    await _drain(db, influxd, influx_db)
    cfg = tmp_path / "central.toml"
    # The central machine's config: [site] and [influx] are read (a config needs a chair
    # to be valid; any Pi's config of the site does); its store is not.
    cfg.write_text(
        f'[site]\nid = "{SITE}"\ntimezone = "{TZ}"\n'
        f'[influx]\nurl = "{influxd.url}"\napi = "v1"\ndatabase = "{influx_db}"\n'
        f'[storage]\npath = "{tmp_path / "none.sqlite"}"\n[[chairs]]\nid = "chair-9"\n'
    )
    r = _report("--from", "influx", "--list", "-c", cfg)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["chair-1\t2024-05-06 05:00 EDT\tesketamine\ts-complete\tmet"]
    r = _report(
        "--from",
        "influx",
        "-c",
        cfg,
        "--chair",
        "chair-1",
        "--date",
        "2024-05-06",
        "--out",
        tmp_path / "central",
    )
    assert r.returncode == 0, r.stderr
    names = [Path(p).name for p in r.stdout.split()]
    assert names == ["s-complete.pdf", "s-complete.html", "s-complete.csv", "s-complete-events.csv"]
    r = _report("--db", db, "-c", cfg, "--session", "s-complete", "--out", tmp_path / "local")
    assert r.returncode == 0, r.stderr

    def form(d: Path) -> dict[str, str]:
        rows = csv.DictReader((d / "s-complete-events.csv").open())
        return {r["name"]: r["detail"] for r in rows if r["source"] == "form"}

    assert form(tmp_path / "central") == form(tmp_path / "local")
    vit = [(tmp_path / d / "s-complete.csv").read_text() for d in ("central", "local")]
    assert vit[0] == vit[1]


def test_influx_unreachable_is_one_line(tmp_path: Path) -> None:
    from tests.servers import free_port

    cfg = tmp_path / "central.toml"
    cfg.write_text(
        f'[site]\nid = "{SITE}"\n[influx]\nurl = "http://127.0.0.1:{free_port()}"\n'
        'api = "v1"\ndatabase = "monitord"\ntimeout_s = 5\n[[chairs]]\nid = "chair-1"\n'
    )
    r = _report("--from", "influx", "--list", "-c", cfg)
    assert r.returncode == 69
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("monitord report: cannot query http://127.0.0.1:")
