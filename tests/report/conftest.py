"""Fixtures: the scenario cases in cases/ played into real outboxes (module-scoped: each
store is built once per test module and only read afterwards)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitord.config import StorageConfig
from monitord.outbox import Outbox
from monitord.report import SessionRecord, record_for, session_spans

from .storeplay import play_into_store

CASES = Path(__file__).resolve().parent / "cases"


def _record(db: Path, session_id: str) -> SessionRecord:
    with Outbox(db, StorageConfig(path=db), readonly=True) as ob:
        (span,) = [s for s in session_spans(ob) if s.session_id == session_id]
        return record_for(ob, span)


@pytest.fixture(scope="module")
def complete_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("complete") / "outbox.sqlite"
    play_into_store(CASES / "complete_session.jsonl", db)
    return db


@pytest.fixture(scope="module")
def complete(complete_db: Path) -> SessionRecord:
    return _record(complete_db, "s-complete")


@pytest.fixture(scope="module")
def open_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("open") / "outbox.sqlite"
    play_into_store(CASES / "missed_check_not_ended.jsonl", db)
    return db


@pytest.fixture(scope="module")
def open_session(open_db: Path) -> SessionRecord:
    return _record(open_db, "s-open")
