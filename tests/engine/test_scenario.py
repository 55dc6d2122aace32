"""Scenario parsing (design.md section 5) and `monitord replay` exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from monitord.cli import main as cli_main
from monitord.engine import Ack, Link, Sample, SessionCmd
from monitord.models import Kind
from monitord.scenario import (
    Bp,
    ScenarioError,
    load_scenario,
    parse_scenario,
    to_engine_input,
)

BAD = [
    ('{"t": 1, "event": "bp", "sys": 120}', 1, "bp: bp needs sys and dia"),
    ('{"t": 1, "event": "teleport"}', 1, "unknown event 'teleport'"),
    ('{"t": 1}', 1, "missing 'event'"),
    ('{"t": "1", "event": "dose_start"}', 1, "dose_start: t: "),
    ('{"t": 1, "event": "hr", "hr": 80, "colour": "red"}', 1, "hr: colour: unknown field"),
    ('{"t": 1, "event": "device_lost", "device": "ecg"}', 1, "device_lost: device: "),
    ('{"t": 1, "event": "session_start", "protocol": "ibogaine"}', 1, "protocol"),
    ('{"t": 1, "event": "hr", "hr": 80', 1, "not JSON"),
    ("[1, 2]", 1, "must be a JSON object"),
    ('{"t": -1, "event": "end"}', 1, "t: "),
    ('{"t": 1, "event": "hr", "hr": 80, "chair": "bad chair!"}', 1, "chair"),
    # docs/scenarios.md: starting with a letter or digit, up to 64 characters.
    ('{"t": 1, "event": "hr", "hr": 80, "chair": "-a"}', 1, "hr: chair: "),
    ('{"t": 1, "event": "end", "chair": "%s"}' % ("c" * 65), 1, "end: chair: "),
    # JSON (RFC 8259) has no NaN or Infinity, though Python's json reads them.
    ('{"t": 1, "event": "spo2", "spo2": NaN}', 1, "not JSON: NaN is not a JSON number"),
    ('{"t": 1, "event": "hr", "hr": Infinity}', 1, "not JSON: Infinity is not"),
    ('{"t": 1, "event": "bp", "sys": -Infinity, "dia": 80}', 1, "not JSON: -Infinity"),
    ('{"t": NaN, "event": "end"}', 1, "not JSON: NaN"),
    # Found probing the parser beside its atheris run, 2026-12-05: json.loads' own
    # ValueError for a number of over 4,300 digits was no ScenarioError (a traceback).
    ('{"t": %s, "event": "end"}' % ("1" * 4301), 1, "not JSON: a number of more than 4300"),
    ('{"t": 1, "event": "hr", "hr": -%s}' % ("9" * 5000), 1, "not JSON: a number of more"),
    # Valid JSON, but a float overflows to infinity: no reading is infinite.
    ('{"t": 1, "event": "hr", "hr": 1e999}', 1, "hr: hr: Input should be a finite number"),
    # A nurse's name as `cmd/ack` takes it (64): a longer one went into the `acknowledged`
    # event, which a station refuses whole past 128 characters.
    ('{"t": 1, "event": "ack", "rule": "bp.crisis", "by": "%s"}' % ("x" * 65), 1, "ack: by: "),
    ('{"t": 1, "event": "ack", "rule": "bp.crisis", "by": ""}', 1, "ack: by: "),
    # A rule that is not one of clinical-rules.md's: a typo's ack acknowledged nothing, in
    # silence, like an ack with nothing to acknowledge (design.md section 5: `rule`).
    (
        '{"t": 1, "event": "ack", "rule": "bp.sever"}',
        1,
        "ack: rule: unknown rule 'bp.sever' (did you mean bp.severe?)",
    ),
    ('{"t": 1, "event": "ack", "rule": "delivery"}', 1, "ack: rule: unknown rule 'delivery' ("),
    # A field given twice: JSON parsers keep the last, so a 120 the author also wrote was
    # read as 250 in silence (a bp.crisis raised, or one hidden the other way round).
    ('{"t": 1, "event": "bp", "sys": 120, "dia": 80, "sys": 250}', 1, "bp: sys: given twice"),
    ('{"t": 1, "event": "bp", "sys": 120, "dia": 80, "sys" : 120}', 1, "bp: sys: given twice"),
    ('{"t": 1, "t": 0, "event": "end"}', 1, "end: t: given twice"),
    ('{"event": "hr", "t": 1, "hr": 80, "event": "spo2"}', 1, "event: given twice"),
    (
        '{"t": 1, "event": "ack", "rule": "bp.crisis", "by": "a\\":", "by": "b"}',
        1,
        "ack: by: given twice",
    ),
]


@pytest.mark.parametrize(("line", "line_no", "reason"), BAD)
def test_bad_line_names_line_and_reason(line: str, line_no: int, reason: str) -> None:
    with pytest.raises(ScenarioError) as ei:
        parse_scenario(["# a comment", "", line], source="s.jsonl")
    msg = str(ei.value)
    assert msg.startswith(f"s.jsonl:{line_no + 2}: ")
    assert reason in msg
    assert "\n" not in msg


TWICE = [(line, reason) for line, _, reason in BAD if "given twice" in reason]


@pytest.mark.parametrize(("line", "reason"), TWICE)
def test_a_field_given_twice_is_refused_in_a_file(line: str, reason: str, tmp_path: Path) -> None:
    # Files are read as bytes through pydantic's own JSON parser (the fast path), which
    # keeps the last of two values as json.loads does.
    p = tmp_path / "twice.jsonl"
    p.write_text('{"t": 0, "event": "session_start"}\n' + line + "\n")
    with pytest.raises(ScenarioError) as ei:
        load_scenario(p)
    assert str(ei.value).startswith(f"{p}:2: ") and reason in str(ei.value), str(ei.value)


def test_time_must_not_go_backwards() -> None:
    with pytest.raises(ScenarioError, match=r"^x:2: t 5 goes back in time"):
        parse_scenario(['{"t": 10, "event": "end"}', '{"t": 5, "event": "end"}'], "x")


def test_events_map_to_engine_inputs() -> None:
    lines = [
        '{"t": 0, "event": "session_start", "protocol": "iv-ketamine", "chair": "c7"}',
        '{"t": 1, "event": "bp", "sys": 120, "dia": 80, "map": 93, "pulse": 70}',
        '{"t": 2, "event": "bp", "error": true}',
        '{"t": 3, "event": "hr", "hr": 72, "contact": false}',
        '{"t": 4, "event": "spo2", "spo2": 97, "pulse": 71, "probe_off": true}',
        '{"t": 5, "event": "device_lost", "device": "spo2"}',
        '{"t": 6, "event": "ack", "rule": "bp.severe"}',
        '{"t": 7, "event": "end"}',
    ]
    evs = parse_scenario(lines)
    assert [e.line for e in evs] == list(range(1, 9))
    # One chair named (on session_start): every line plays on it (design.md section 5).
    assert isinstance(evs[1], Bp) and evs[1].chair == "c7"
    got = [to_engine_input(e, t0=1000.0) for e in evs]
    assert got[0] == SessionCmd(1000.0, "c7", "start", protocol="iv-ketamine")
    assert got[1] == Sample(
        1001.0,
        "c7",
        "bp",
        Kind.BP,
        {"sys_mmHg": 120, "dia_mmHg": 80, "map_mmHg": 93, "pulse_bpm": 70},
        True,
    )
    assert isinstance(got[2], Sample) and got[2].valid is False
    assert isinstance(got[3], Sample) and got[3].contact is False
    assert isinstance(got[4], Sample) and got[4].contact is False
    assert got[4].values == {"spo2_pct": 97, "pulse_bpm": 71}
    assert got[5] == Link(1005.0, "c7", "spo2", up=False)
    assert got[6] == Ack(1006.0, "c7", rule="bp.severe")
    assert got[7] is None


def test_replay_exit_65_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text(
        '{"t": 0, "event": "session_start", "protocol": "esketamine"}\n'
        '{"t": 1, "event": "bp", "sys": "high", "dia": 80}\n'
    )
    r = subprocess.run(
        [sys.executable, "-m", "monitord", "replay", str(p)], capture_output=True, text=True
    )
    assert r.returncode == 65
    assert r.stdout == ""
    (line,) = r.stderr.splitlines()
    # As docs/scenarios.md "Errors" prints it (and `monitord simulate: PATH:LINE: reason`).
    assert line.startswith(f"monitord replay: {p}:2: bp: sys: "), line


def test_replay_missing_file_is_65(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["replay", str(tmp_path / "nope.jsonl")]) == 65
    # One line naming the file, no line number (it was "nope.jsonl:0: cannot read ...").
    assert capsys.readouterr().err == (
        f"monitord replay: {tmp_path / 'nope.jsonl'}: cannot read: No such file or directory\n"
    )


def test_replay_bad_config_is_78(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[site]\nid = "replay-test"\n[alerts."bp.severe"]\nconfirm = 0\n'
        '[[chairs]]\nid = "chair-1"\n'
    )
    sc = tmp_path / "s.jsonl"
    sc.write_text('{"t": 0, "event": "end"}\n')
    assert cli_main(["replay", str(sc), "--config", str(cfg)]) == 78
    assert "alerts.bp.severe.confirm: must be an integer >= 1" in capsys.readouterr().err


def test_replay_uses_chair_protocol_from_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """session_start without protocol takes the chair's configured one: iv-ketamine has no
    check_missed, so only tech.bp_overdue fires."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[site]\nid = "replay-test"\n[[chairs]]\nid = "chair-1"\nprotocol = "iv-ketamine"\n'
    )
    sc = tmp_path / "s.jsonl"
    sc.write_text(
        '{"t": 0, "event": "session_start"}\n'
        '{"t": 10, "event": "bp", "sys": 120, "dia": 80}\n'
        '{"t": 20, "event": "bp", "sys": 120, "dia": 80}\n'
        '{"t": 30, "event": "dose_start"}\n{"t": 4000, "event": "end"}\n'
    )
    assert cli_main(["replay", str(sc), "--config", str(cfg)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [json.loads(x)["rule"] for x in out] == ["tech.bp_overdue"]
    assert cli_main(["replay", str(sc)]) == 0  # default esketamine: check_missed too
    got = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    # overdue at 30 + 780; check_missed at 30 + 3000, escalating at +300, +600, +900
    assert [(e["t"], e["rule"], e["event"]) for e in got] == [
        (810.0, "tech.bp_overdue", "raised"),
        (3030.0, "session.check_missed", "raised"),
        (3330.0, "session.check_missed", "escalated"),
        (3630.0, "session.check_missed", "escalated"),
        (3930.0, "session.check_missed", "escalated"),
    ]


def test_load_scenario_reads_case_files() -> None:
    here = Path(__file__).parent / "cases" / "hr_high_for_300s" / "scenario.jsonl"
    assert len(load_scenario(here)) > 80


# Bad input read from a file by the real CLI (issue 14): exit 65, one line
# `PATH:LINE: reason`, never a traceback. Each entry: file bytes, line, reason part.
# Deep enough for json's RecursionError on every Python we run: 1000 levels was one on 3.11,
# but 3.12+ decode 1000 (and 5000 on 3.13) as a list (a C recursion limit apart from
# sys.getrecursionlimit()), so that line became "must be a JSON object" instead.
NESTED = b"[" * 100_000 + b"]" * 100_000
BAD_FILES = [
    pytest.param(
        b'{"t": 0, "event": "end"}\n' + NESTED + b"\n", 2, "not JSON", id="nested-brackets"
    ),
    pytest.param(
        b'{"t": 0, "event": "hr", "hr": ' + NESTED + b"}\n", 1, "", id="nested-in-a-field"
    ),
    pytest.param(
        # A form feed is not a line break: the bad line is line 3, not 4.
        b'# page one\x0cpage two\n{"t": 0, "event": "end"}\n{"t": 1, "event": "nope"}\n',
        3,
        "unknown event 'nope'",
        id="form-feed-keeps-line-numbers",
    ),
    pytest.param(
        # Two chairs named: every line must name its chair (design.md section 5).
        b'{"t": 0, "event": "session_start", "chair": "c1"}\n'
        b'{"t": 1, "event": "bp", "sys": 120, "dia": 80}\n'
        b'{"t": 2, "event": "session_start", "chair": "c2"}\n',
        2,
        "no chair, but the scenario names several",
        id="several-chairs-line-without-chair",
    ),
    pytest.param(
        # pydantic's JSON parser (the fast path) reads NaN too: the player crashed on it.
        b'{"t": 0, "event": "session_start"}\n{"t": 1, "event": "spo2", "spo2": NaN}\n',
        2,
        "not JSON: NaN is not a JSON number",
        id="nan",
    ),
    pytest.param(
        b'{"t": 0, "event": "hr", "hr": -Infinity, "contact": true}\n',
        1,
        "not JSON: -Infinity is not a JSON number",
        id="minus-infinity",
    ),
    pytest.param(
        b'{"t": 0, "event": "spo2", "spo2": 97, "pulse": 1e400}\n',
        1,
        "spo2: pulse: Input should be a finite number",
        id="overflow-to-infinity",
    ),
    pytest.param(
        # An ack of no rule: exit 65 before anything is played (it acknowledged nothing).
        b'{"t": 0, "event": "bp", "sys": 210, "dia": 80}\n'
        b'{"t": 10, "event": "ack", "rule": "bp.crisiss"}\n{"t": 130, "event": "end"}\n',
        2,
        "ack: rule: unknown rule 'bp.crisiss' (did you mean bp.crisis?)",
        id="ack-unknown-rule",
    ),
    pytest.param(
        b'{"t": 0, "event": "end"}\n{"t": 1, "event": "end", "by": "\xff"}\n',
        2,
        "not UTF-8",
        id="not-utf8",
    ),
]


def _replay_file(tmp_path: Path, data: bytes) -> subprocess.CompletedProcess[str]:
    p = tmp_path / "s.jsonl"
    p.write_bytes(data)
    return subprocess.run(
        [sys.executable, "-m", "monitord", "replay", str(p)], capture_output=True, text=True
    )


@pytest.mark.parametrize(("data", "line_no", "reason"), BAD_FILES)
def test_replay_bad_file_exit_65_with_line(
    tmp_path: Path, data: bytes, line_no: int, reason: str
) -> None:
    r = _replay_file(tmp_path, data)
    assert r.returncode == 65, r.stderr
    assert r.stdout == ""
    (line,) = r.stderr.splitlines()
    assert "Traceback" not in r.stderr
    assert f"{tmp_path / 's.jsonl'}:{line_no}: {reason}" in line


def test_raw_u2028_inside_a_json_string_is_valid(tmp_path: Path) -> None:
    """Lines end at \\n only: a raw U+2028 (a line separator to str.splitlines) inside a
    JSON string is valid JSON, and line numbers after it stay right."""
    data = (
        '{"t": 0, "event": "bp", "sys": 185, "dia": 100}\n'
        '{"t": 10, "event": "bp", "sys": 185, "dia": 100}\n'
        '{"t": 20, "event": "ack", "rule": "bp.severe", "by": "nurse\u2028two"}\n'
        '{"t": 30, "event": "end"}\n'
    ).encode()
    r = _replay_file(tmp_path, data)
    assert r.returncode == 0, r.stderr
    got = [json.loads(x) for x in r.stdout.splitlines()]
    assert [(e["t"], e["event"]) for e in got] == [
        (0.0, "pending"),
        (10.0, "raised"),
        (20.0, "acknowledged"),
    ]
    assert got[2]["by"] == "nurse\u2028two"
    bad = data.replace(b'{"t": 30, "event": "end"}', b'{"t": 30, "event": "end", "x": 1}')
    r = _replay_file(tmp_path, bad)
    assert r.returncode == 65 and f"{tmp_path / 's.jsonl'}:4: end: x: unknown field" in r.stderr


def test_one_named_chair_plays_every_line(tmp_path: Path) -> None:
    r = _replay_file(
        tmp_path,
        b'{"t": 0, "event": "bp", "sys": 185, "dia": 100}\n'
        b'{"t": 10, "event": "bp", "sys": 185, "dia": 100, "chair": "bed-4"}\n'
        b'{"t": 20, "event": "end"}\n',
    )
    assert r.returncode == 0, r.stderr
    assert [json.loads(x)["chair"] for x in r.stdout.splitlines()] == ["bed-4", "bed-4"]


def test_replay_reads_a_pipe(tmp_path: Path) -> None:
    """Two passes over a pipe: the first spools it to disk, the second replays that."""
    case = Path(__file__).parent / "cases" / "hr_high_for_300s" / "scenario.jsonl"
    r = subprocess.run(
        [sys.executable, "-m", "monitord", "replay", "/dev/stdin"],
        input=case.read_text(),
        capture_output=True,
        text=True,
    )
    want = subprocess.run(
        [sys.executable, "-m", "monitord", "replay", str(case)], capture_output=True, text=True
    )
    assert r.returncode == 0 and want.returncode == 0, r.stderr
    assert r.stdout == want.stdout and r.stdout.count("\n") >= 2
