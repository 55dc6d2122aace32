"""Telegraf-style case folders: tests/engine/cases/<what-it-proves>/scenario.jsonl is replayed
through `monitord replay` (the real CLI entry point) and compared with expected.jsonl,
written by hand from clinical-rules.md (not from engine output).

Compared per event: t, chair, rule, event, priority, kind, phase, level. alert_id is
compared for consistency: expected.jsonl names each episode with a label ("A", "B", ...)
and the engine's ids must map one-to-one onto the labels; `pending` carries null.
An optional config.toml in the folder is passed as `--config`. An optional
expected_stderr.txt lists, one per line, `LINE EVENT` of each session command replay must
report as refused (`PATH:LINE: EVENT refused: reason` on stderr, exit code still 0).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitord.cli import main as cli_main
from monitord.engine.rules import RULE_IDS

from .conftest import CASES, jsonl

FIELDS = ("t", "chair", "rule", "event", "priority", "kind", "phase", "level")
CASE_DIRS = sorted(p for p in CASES.iterdir() if (p / "scenario.jsonl").exists())


def _replay(case: Path, capsys: pytest.CaptureFixture[str]) -> tuple[list[dict[str, Any]], str]:
    argv = ["replay", str(case / "scenario.jsonl")]
    if (case / "config.toml").exists():
        argv += ["--config", str(case / "config.toml")]
    rc = cli_main(argv)
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    return [json.loads(line) for line in captured.out.splitlines()], captured.err


def _norm(d: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(
        float(d["t"]) if k == "t" else d.get(k, "chair-1" if k == "chair" else None) for k in FIELDS
    )


@pytest.mark.parametrize("case", CASE_DIRS, ids=[p.name for p in CASE_DIRS])
def test_case(case: Path, capsys: pytest.CaptureFixture[str]) -> None:
    got, err = _replay(case, capsys)
    want = jsonl(case / "expected.jsonl")
    refused = case / "expected_stderr.txt"
    err_text = refused.read_text().split("\n") if refused.exists() else []
    want_err = [w.split() for w in err_text if w.strip()]
    err_lines = err.splitlines()
    assert len(err_lines) == len(want_err), err
    for line, (n, event) in zip(err_lines, want_err, strict=True):
        prefix = f"{case / 'scenario.jsonl'}:{n}: {event} refused: "
        assert line.startswith(prefix) and len(line) > len(prefix), (line, prefix)
    assert [_norm(g) for g in got] == [_norm(w) for w in want], "\n".join(
        json.dumps({k: g.get(k) for k in (*FIELDS, "alert_id")}) for g in got
    )
    # alert_id consistency: labels <-> ids one-to-one; pending has none.
    label_of: dict[str, str] = {}
    id_of: dict[str, str] = {}
    for g, w in zip(got, want, strict=True):
        if w["alert_id"] is None:
            assert g["alert_id"] is None
            continue
        assert g["alert_id"] is not None
        assert label_of.setdefault(g["alert_id"], w["alert_id"]) == w["alert_id"]
        assert id_of.setdefault(w["alert_id"], g["alert_id"]) == g["alert_id"]
        assert g["message"], "every event has a nurse-readable message"


def test_cases_cover_every_rule() -> None:
    assert len(CASE_DIRS) >= 25
    seen = {w["rule"] for case in CASE_DIRS for w in jsonl(case / "expected.jsonl")}
    assert seen == set(RULE_IDS)
