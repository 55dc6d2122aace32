"""The numbers docs/alerts.md (below its generated tables), docs/scaling.md, docs/commands.md
and README.md state are the code's.

The clinical lead reads the alert semantics in docs/alerts.md's prose, not in the rule
table: "Observation time is met at dose_start + 120 min", "every valid SpO2 of the last 5
min >= 94", "a gap of more than 10 s". tests/engine/test_docs.py holds that each point is
stated, as a fixed phrase, and regenerates the tables from the rule table: a changed
default changed the table and left the prose beside it saying the old number, with every
test passing. The same for the local alarms' figures (written by hand in
monitord/engine/local_alarms.py), the sizing page's settings and the commands' bounds.
Each row is a sentence of a page (whitespace folded) and the constant or default it
states; a change to either fails here. (The behaviour behind them: the case folders in
tests/engine/cases/, tests/test_chair_engine_time.py, tests/faults/test_device_missing.py,
tests/test_device_lost_advice.py, tests/engine/test_ack_answers.py.)
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from monitord.engine import RuleSet, validate_overrides

REPO = Path(__file__).parents[1]


def _text(path: str) -> str:
    return re.sub(r"\s+", " ", (REPO / path).read_text(encoding="utf-8"))


def _g(x: float) -> str:
    return f"{x:g}"


def _min(seconds: float) -> str:
    return _g(seconds / 60)


def _alerts_rows() -> list[tuple[str, str]]:
    from monitord.config import MqttConfig
    from monitord.engine.book import CLEARED_KEPT
    from monitord.engine.rules import (
        BASELINE_MAX_READINGS,
        BASELINE_MIN_READINGS,
        BP_DIA_RANGE,
        BP_MIN_PULSE_PRESSURE,
        BP_SYS_RANGE,
        ESCALATE_S,
        HR_RANGE,
        MAX_SAMPLE_GAP_S,
        SPO2_RANGE,
    )
    from monitord.engine.state import TIME_RES
    from monitord.engine.technical import LOST_ADVICE, LOST_ADVICE_UNKNOWN
    from monitord.history import BURST_GAP_S
    from monitord.supervisor import HEALTHY_AFTER_S, RELAPSE_WINDOW_S
    from monitord.taskalarm import CRASH_ALARM_AFTER

    rs = RuleSet.default()
    dis, nd, cm = rs["session.discharge_ready"], rs["bp.not_declining"], rs["tech.device_lost"]
    check = rs["session.check_missed"]
    mqtt = MqttConfig.model_fields
    deliver = mqtt["delivery_alarm_after_s"].default
    heard = mqtt["receipt_timeout_s"].default
    assert RELAPSE_WINDOW_S == 3600, "the local alarms' table says 'an hour'"
    assert TIME_RES == 1e-6, "the page says 1 microsecond"
    factor = _g(dis.p("baseline_factor"))
    base_terms = (
        f"(sys >= base.sys + {_g(nd.p('sys_rise_ge'))}, sys >= {_g(nd.p('sys_ge'))}, "
        f"dia >= {_g(nd.p('dia_ge'))})"
    )
    return [
        # "Local technical alarms" (generated from monitord/engine/local_alarms.py's text)
        ("docs/alerts.md", f"`mqtt.delivery_alarm_after_s` ({_g(deliver)} s)"),
        ("docs/alerts.md", f"`mqtt.receipt_timeout_s` ({_g(heard)} s)"),
        (
            "docs/alerts.md",
            f"crashed {CRASH_ALARM_AFTER} times in a row, no run in between lasting "
            f"{_g(HEALTHY_AFTER_S)} s, or {CRASH_ALARM_AFTER} times within an hour each "
            f"after a run of {_g(HEALTHY_AFTER_S)} s or more",
        ),
        (
            "docs/alerts.md",
            f"the task has run {_g(HEALTHY_AFTER_S)} s since its last restart without "
            f"crashing (a slow loop: fewer than {CRASH_ALARM_AFTER} such crashes left in "
            "the last hour)",
        ),
        # "Sessions, phases, baseline"
        (
            "docs/alerts.md",
            f"the mean of the last (up to {BASELINE_MAX_READINGS}) valid BP readings taken "
            f"in `baseline`, at least {BASELINE_MIN_READINGS}, fixed at `dose_start`",
        ),
        (
            "docs/alerts.md",
            f"`bp.not_declining` keeps its absolute terms (sys >= {_g(nd.p('sys_ge'))} or "
            f"dia >= {_g(nd.p('dia_ge'))}), `session.discharge_ready` uses "
            f"{_g(dis.p('sys_le'))}/{_g(dis.p('dia_le'))}",
        ),
        # "Valid readings"
        (
            "docs/alerts.md",
            f"{_g(BP_SYS_RANGE[0])} <= sys <= {_g(BP_SYS_RANGE[1])}, {_g(BP_DIA_RANGE[0])} "
            f"<= dia <= {_g(BP_DIA_RANGE[1])}, sys > dia, sys - dia >= "
            f"{_g(BP_MIN_PULSE_PRESSURE)}",
        ),
        (
            "docs/alerts.md",
            f"HR is valid in {_g(HR_RANGE[0])}..{_g(HR_RANGE[1])} bpm, SpO2 in "
            f"{_g(SPO2_RANGE[0])}..{_g(SPO2_RANGE[1])} %",
        ),
        # "Confirmation, clearing, latching, inhibition" and "Time, timers and escalation"
        ("docs/alerts.md", f"more than {_g(MAX_SAMPLE_GAP_S)} s apart restart both the raise"),
        ("docs/alerts.md", f"a gap of more than {_g(MAX_SAMPLE_GAP_S)} s between HR/SpO2"),
        (
            "docs/alerts.md",
            f"every {_g(ESCALATE_S['high'] or 0)} s (high) or {_g(ESCALATE_S['medium'] or 0)} "
            "s (medium); low and info never escalate",
        ),
        (
            "docs/alerts.md",
            f"the closed window [dose_start + {_min(check.p('window_start_s'))} min, "
            f"dose_start + {_min(check.p('window_end_s'))} min], once",
        ),
        (
            "docs/alerts.md",
            f'a serial monitor "{LOST_ADVICE["serial"].removeprefix("check the monitor ")}"',
        ),
        (
            "docs/alerts.md",
            f'a BLE device "{LOST_ADVICE["ble"].removeprefix("check the device ")}"',
        ),
        ("docs/alerts.md", f'says "{LOST_ADVICE_UNKNOWN}"'),
        # "Discharge readiness"
        (
            "docs/alerts.md",
            f"Observation time is met at dose_start + {_min(dis.p('esketamine_observe_s'))} min "
            f"(`esketamine`) or dose_end + {_min(dis.p('iv_ketamine_observe_s'))} min "
            "(`iv-ketamine`)",
        ),
        (
            "docs/alerts.md",
            f"each with sys <= max({_g(dis.p('sys_le'))}, {factor} x base.sys) and dia <= "
            f"max({_g(dis.p('dia_le'))}, {factor} x base.dia), and neither meeting the "
            f"`bp.not_declining` terms {base_terms}",
        ),
        (
            "docs/alerts.md",
            f"every valid SpO2 of the last {_min(dis.p('spo2_window_s'))} min >= "
            f"{_g(dis.p('spo2_ge'))}",
        ),
        (
            "docs/alerts.md",
            f"when a low SpO2 sample leaves the {_min(dis.p('spo2_window_s'))}-min window",
        ),
        # "Alert events", "Stored records and delivery of alarms"
        ("docs/alerts.md", f"one of the chair's last {CLEARED_KEPT} alerts to clear"),
        ("docs/alerts.md", f"({_g(BURST_GAP_S)} s without a further new record"),
        ("docs/alerts.md", f"in the last ~{_g(BURST_GAP_S)} s of the `session.check_missed`"),
        ("docs/alerts.md", f"unreachable for {_g(deliver)} s while any alert is active"),
        ("docs/alerts.md", f"raises `tech.device_lost` {_g(cm.p('after_s'))} s after start"),
    ]


def _scaling_rows() -> list[tuple[str, str]]:
    from bench.alert_latency import DISK_WINDOW_S, OVER_FLOOR_MS, SLOW_ALLOWANCE_MS
    from monitord.config import InfluxConfig, StorageConfig
    from monitord.store.base import PAGE_SIZE
    from monitord.store.blocks import BLOCK_IDS
    from monitord.store.checkpoint import CHECKPOINT_EVERY_S, WAL_RESET_BYTES
    from monitord.store.schema import SCHEMA_VERSION
    from monitord.storeguard import SYNC_EVERY_S

    storage = StorageConfig.model_fields
    commit = _g(storage["commit_interval_s"].default)
    flush = _g(InfluxConfig.model_fields["flush_interval_s"].default)
    return [
        (
            "docs/scaling.md",
            f"Pruned after `storage.retention_days` ({_g(storage['retention_days'].default)}) "
            "once delivered",
        ),
        ("docs/scaling.md", f"capped by `storage.max_mb` ({_g(storage['max_mb'].default)})"),
        ("docs/scaling.md", f"reach {_g(storage['max_mb'].default)} MB in ~14 days"),
        ("docs/scaling.md", f"`storage.commit_interval_s` ({commit} s; alerts at once)"),
        ("docs/scaling.md", f"the readings of the last 10 s instead of {commit}"),
        ("docs/scaling.md", f"after the monitor took them instead of {commit}"),
        (
            "docs/scaling.md",
            f"every {_g(CHECKPOINT_EVERY_S)} s (sooner past {WAL_RESET_BYTES >> 20} MiB of WAL",
        ),
        ("docs/scaling.md", f"new stores use {PAGE_SIZE >> 10} KiB pages"),
        # existing stores "move to schema vN at start": the newest schema, or the page
        # tells the admin of an upgrade that is not the one a start makes
        ("docs/scaling.md", f"they move to schema v{SCHEMA_VERSION} at start"),
        ("docs/scaling.md", f"the time range of each block of {BLOCK_IDS} record ids"),
        ("docs/scaling.md", f"it fsyncs its WAL at least every {_g(SYNC_EVERY_S)} s"),
        ("docs/scaling.md", f"at the default `influx.flush_interval_s = {flush}`"),
        ("docs/scaling.md", f"the {_g(OVER_FLOOR_MS)}-ms limit"),
        ("docs/scaling.md", f"target 2 (limit {_g(20 + SLOW_ALLOWANCE_MS)} ms)"),
        ("docs/scaling.md", f"every 20 ms, for {_g(DISK_WINDOW_S)} s after the probes"),
    ]


def _commands_rows() -> list[tuple[str, str]]:
    from monitord.cli import MAX_CAPTURE_SECONDS, MAX_SECONDS
    from monitord.config_devices import MAX_SIMULATE_SPEED

    assert MAX_CAPTURE_SECONDS == 7 * 86400, "docs/commands.md says 'a week'"
    return [
        ("docs/commands.md", f"64 `--speed` not > 0 or over {MAX_SIMULATE_SPEED}, or a `-c`"),
        ("docs/commands.md", f"64 `--timeout` not > 0 or over {MAX_SECONDS}"),
        (
            "docs/commands.md",
            f"`--seconds` not > 0 or over {MAX_SECONDS} (`scan`) or {MAX_CAPTURE_SECONDS}, a "
            "week (`capture`)",
        ),
    ]


ROWS = [*_alerts_rows(), *_scaling_rows(), *_commands_rows()]


@pytest.mark.parametrize(("doc", "sentence"), ROWS, ids=[s for _, s in ROWS])
def test_the_pages_state_the_codes_number(doc: str, sentence: str) -> None:
    assert sentence in _text(doc), f"{doc} does not say: {sentence}"


def _conf(path: str, key: str) -> str:
    m = re.search(rf"^{re.escape(key)}[ =](\S+)\s*$", (REPO / path).read_text(), re.M)
    assert m, f"{path} sets no {key}"
    return m.group(1)


def test_the_broker_settings_scaling_md_states_are_shipped() -> None:
    # The admin sizing a clinic copies these from docs/scaling.md.
    conf, text = "config/mosquitto/monitord.conf", _text("docs/scaling.md")
    assert _conf(conf, "set_tcp_nodelay") == "true" and "- `set_tcp_nodelay true`:" in text
    assert _conf(conf, "persistence") == "true"
    assert _conf(conf, "autosave_interval") == "1"
    assert "`persistence true` and `autosave_interval 1` are already set" in text
    queued = _conf(conf, "max_queued_messages")
    assert f"`max_queued_messages {queued}` bounds a station's backlog" in text
    assert not re.search(r"^log_type all", (REPO / conf).read_text(), re.M)


def test_the_readme_states_the_demo_and_test_command() -> None:
    import inspect

    from monitord.commands import demo

    text = _text("README.md")
    defaults = tomllib.loads((REPO / "monitord/defaults/demo.toml").read_text())
    speeds = {d["simulate_speed"] for c in defaults["chairs"] for d in c["devices"]}
    assert len(speeds) == 1, speeds
    assert f"(virtual clock at {_g(speeds.pop())}x)" in text
    store = re.search(r'default="([^"]+demo-outbox[^"]*)"', inspect.getsource(demo))
    assert store and f"a local store (`{store.group(1)}`)" in text
    assert f"kept locally (`{store.group(1)}`)" in _text("docs/commands.md")
    setup = (REPO / "scripts/setup.sh").read_text()
    workers = re.search(r"set -- -n (\d+) ", setup)
    words = {"2": "two", "3": "three", "4": "four", "5": "five", "6": "six"}
    assert workers and workers.group(1) in words, workers
    assert f"the whole suite on {words[workers.group(1)]} pytest-xdist workers" in text


def test_the_override_example_is_a_valid_override_of_the_stated_defaults() -> None:
    """docs/alerts.md "Overrides": a clinic copies the block; its comments name the
    defaults it replaces."""
    page = (REPO / "docs/alerts.md").read_text()
    (block,) = re.findall(r"^```toml\n(.*?)^```$", page, re.S | re.M)
    alerts = tomllib.loads(block)["alerts"]
    assert validate_overrides(alerts) == []
    rs, new = RuleSet.default(), RuleSet.from_overrides(alerts)
    severe, spo2 = rs["bp.severe"], rs["spo2.low"]
    assert f"instead of {_g(severe.p('sys_ge'))}\n" in block
    assert f"{_g(new['bp.severe'].p('sys_ge'))} mmHg systolic" in block
    assert f"instead of {_g(spo2.p('for_s'))} s\n" in block
    assert f"{_g(new['spo2.low'].p('for_s'))} s confirmation" in block


def _raised_alarm_keys() -> set[str]:
    """Every technical alarm key the daemon raises (TechAlarms.raise_): the literal ones
    and the named constants of the modules that raise them."""
    from monitord import delivery, storestall, taskalarm

    keys = {delivery.KEY, delivery.REFUSED_KEY, delivery.UNHEARD_KEY, storestall.KEY}
    keys.add(taskalarm.PREFIX + "<task>")
    for f in (REPO / "monitord").rglob("*.py"):
        keys |= set(re.findall(r'alarms\.raise_\(\s*"([\w.]+)"', f.read_text("utf-8")))
    return keys


def test_every_technical_alarm_the_daemon_raises_is_listed() -> None:
    """`monitord status` prints `TECHNICAL ALARM <key>`: the admin looks the key up in
    docs/operations.md's list, the clinical lead in docs/alerts.md's local alarms (which
    sends the store's own to operations.md). `store.held_dropped` was in neither."""
    from monitord.storeguard import HELD_READINGS_MAX

    keys = _raised_alarm_keys()
    assert {"store.unwritable", "store.held_dropped", "delivery"} <= keys, keys
    alerts, ops = _text("docs/alerts.md"), _text("docs/operations.md")
    listed = alerts.split("<!-- BEGIN local -->")[1].split("<!-- END local -->")[0]
    for key in sorted(keys):
        # a bullet of its own, or one shared (`- `delivery.refused`, `delivery.unheard`:`)
        named = (f"- `{key}`", f", `{key}`:")
        assert any(n in ops for n in named), f"docs/operations.md: {key}"
        if not key.startswith("store."):
            assert f"| `{key}` |" in listed, f"docs/alerts.md local alarms: {key}"
    assert "The store's own technical alarms (`store.*`" in alerts
    assert f"more than {HELD_READINGS_MAX:,} readings were held in memory" in ops


def test_the_decode_profiles_commands_md_lists_are_the_parsers() -> None:
    # docs/commands.md says what each `--profile` takes; a profile added to the registry
    # (or one renamed) left the list short with every test passing.
    from monitord.drivers.registry import PROFILES

    text = _text("docs/commands.md")
    listed = text.split("`decode` profiles:")[1].split("Output field names")[0]
    assert set(re.findall(r"`([a-z0-9-]+)`", listed)) == set(PROFILES)


def test_every_path_the_readme_names_exists() -> None:
    # README "Layout" and "Documentation": the newcomer's map of the repository. Every
    # backticked repository path (a folder, or a file with an extension) names one there.
    text = (REPO / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:[\w.-]+/)+(?:[\w.-]+\.\w+)?)`", text))
    named |= set(re.findall(r"`([\w-]+\.(?:py|md|toml|sh|png))`", text))
    assert {"monitord/", "docs/alerts.md", "bench/results.md", "tools/"} <= named, named
    # Made at run time, not shipped: the virtualenv, the fleet's drop-in folder, the demo's
    # store.
    made = {".venv/", "conf.d/", "var/demo-outbox.sqlite"}
    under = ["monitord/", "drivers/", "simulators/", "packaging/", "tools/", "config/"]
    under += ["scripts/", "bench/"]
    missing = []
    for path in sorted(named - made):
        here = REPO / path
        if not here.exists() and not any((REPO / d / path).exists() for d in under):
            missing.append(path)
    assert missing == [], missing


def test_the_readme_names_every_command() -> None:
    # README "Commands" is where a newcomer learns what the program can do.
    from monitord.cli import COMMANDS

    section = (REPO / "README.md").read_text(encoding="utf-8").split("## Commands")[1]
    section = section.split("\n## ")[0]
    named = {m.split()[0] for m in re.findall(r"`(?:monitord )?([a-z-]+[^`]*)`", section)}
    assert set(COMMANDS) - named == set(), sorted(set(COMMANDS) - named)
