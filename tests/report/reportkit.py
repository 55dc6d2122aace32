"""Helpers of the report regression tests: a scenario played through the real engine into
a real outbox (storeplay.py), then the record built as `monitord report` builds it."""

from __future__ import annotations

from pathlib import Path

from monitord.config import StorageConfig
from monitord.engine.rules import RuleSet
from monitord.outbox import Outbox
from monitord.report import SessionRecord, record_for, session_spans
from monitord.report.text import form_lines

from .storeplay import play_into_store


def play_record(tmp_path: Path, text: str, rules: RuleSet | None = None) -> SessionRecord:
    tmp_path.mkdir(parents=True, exist_ok=True)
    scen = tmp_path / "s.jsonl"
    scen.write_text(text)
    db = tmp_path / "o.sqlite"
    play_into_store(scen, db, rules=rules)
    with Outbox(db, StorageConfig(path=db), readonly=True) as ob:
        (span,) = session_spans(ob)
        return record_for(ob, span, rules=rules)


def form(rec: SessionRecord) -> dict[str, str]:
    return {f.key: f.value for f in form_lines(rec)}
